// Fault injection for the failure tests (docs/reliability.md), driven by the environment:
//
//   FROST_FAULT_INJECT = "rank=R,at=SITE,action=ACTION"
//     rank    an integer >= 0, or * for every rank
//     at      open (where the data files are opened) | step:N (before optimizer step N,
//             1-based) | checkpoint:N (while the checkpoint of step N is written)
//     action  throw (default): a frost::Error "injected fault at SITE", as an unreadable data
//             file would raise | hang: sleep forever, so that the peers' collective timeout
//             is exercised | kill: SIGKILL, as a node failure (at checkpoint:N after half of
//             the checkpoint's temporary file is written)
//
// Without FROST_FAULT_INJECT nothing happens. No LibTorch.
#pragma once

#include <string>

namespace frost::fault {

/// Every rank: kAllRanks.
inline constexpr int kAllRanks = -2;

enum class Action { kThrow, kHang, kKill };

struct Plan {
  int rank = -1;  ///< the rank that faults, kAllRanks, or -1 (no fault planned)
  std::string at;  ///< the site: "open", "step:N" or "checkpoint:N"; "" = none
  Action action = Action::kThrow;

  /// True when this plan faults `rank` at `site`.
  bool targets(int rank, const std::string& site) const;
};

/// The plan in FROST_FAULT_INJECT (an empty plan when unset). Throws frost::Error naming the
/// malformed part: unknown key, site or action, a rank or N that is not an integer >= 0.
Plan plan_from_env();

/// Acts on `plan` when it targets `rank` at `site`: throws frost::Error (rank recorded),
/// hangs forever, or kills this process. Returns normally otherwise.
void maybe_fault(const Plan& plan, int rank, const std::string& site);

}  // namespace frost::fault
