// Fault injection for the failure tests (docs/reliability.md), driven by the environment:
//
//   FROST_FAULT_INJECT = "rank=R,at=SITE,action=ACTION"
//     rank    an integer >= 0, or * for every rank
//     at      open (where the data files are opened) | step:N (before optimizer step N,
//             1-based) | checkpoint:N (while the checkpoint of step N is written) | finalize
//             (after the program's work, just before MPI_Finalize)
//     action  throw (default): a frost::Error "injected fault at SITE", as an unreadable data
//             file would raise | hang: sleep forever, so that the peers' collective timeout
//             is exercised | kill: SIGKILL, as a node failure (at checkpoint:N after half of
//             the checkpoint's temporary file is written) | hold: Note [Holding a rank] |
//             oom: Note [Injected out-of-memory] (step:N only)
//   FROST_FAULT_HOLD_DIR = a directory (action=hold only; required with it)
//
// Without FROST_FAULT_INJECT nothing happens. No LibTorch.
//
// Note [Injected out-of-memory]
// action=oom makes the rank run out of memory on its device at step:N, through the same path
// as a real one: the caller of maybe_fault (the Trainer's step loop) passes an `out_of_memory`
// action that allocates more device memory than any device has (LibTorch's caching allocator
// then throws its own out-of-memory error, c10::OutOfMemoryError, naming the size), and the
// error travels as a real one would. This header has no LibTorch, hence the callback.
//
// Note [Holding a rank]
// A test that acts on a running job (cuts a network link, kills a node) must act at a known
// point of the run, never after a sleep: on an idle machine a whole run can finish within the
// sleep, on a loaded one it may not have started. action=hold makes that point explicit: the
// rank writes the marker file FROST_FAULT_HOLD_DIR/held.R (R = its rank; the content is the
// site) and then waits, polling every 10 ms, until the file FROST_FAULT_HOLD_DIR/release
// exists; then it goes on as if nothing had happened. With rank=* the test waits for every
// rank's marker, acts, and creates `release`. At step:N a held rank has no collective in flight
// (the previous step's all-reduces are complete), so what the test does between the markers
// and the release meets the ranks at step N's first collective. A hold has no time limit: the
// test that holds must release (or kill) the ranks.
#pragma once

#include <functional>
#include <string>

namespace frost::fault {

/// Every rank: kAllRanks.
inline constexpr int kAllRanks = -2;

enum class Action { kThrow, kHang, kKill, kHold, kOom };

struct Plan {
  int rank = -1;   ///< the rank that faults, kAllRanks, or -1 (no fault planned)
  std::string at;  ///< the site: "open", "step:N", "checkpoint:N" or "finalize"; "" = none
  Action action = Action::kThrow;
  std::string hold_dir;  ///< action kHold: the directory of the marker and release files

  /// True when this plan faults `rank` at `site`.
  bool targets(int rank, const std::string& site) const;
};

/// Parses a FROST_FAULT_INJECT value; `hold_dir` is FROST_FAULT_HOLD_DIR (nullptr when unset).
/// Throws frost::Error naming the malformed part: unknown key, site or action, a rank or N that
/// is not an integer >= 0, action=hold without a hold directory, action=oom at a site other
/// than step:N.
Plan parse_plan(const std::string& spec, const char* hold_dir);

/// The plan in FROST_FAULT_INJECT and FROST_FAULT_HOLD_DIR (an empty plan when the first is
/// unset). Throws as parse_plan.
Plan plan_from_env();

/// Acts on `plan` when it targets `rank` at `site`: throws frost::Error (rank recorded),
/// hangs forever, kills this process, holds until released (Note [Holding a rank]; throws
/// frost::Error when the marker file cannot be written), or calls `out_of_memory` (action=oom,
/// Note [Injected out-of-memory]; what it throws passes through; a site that gives none is a
/// bug: frost::InternalError). Returns normally otherwise.
void maybe_fault(const Plan& plan, int rank, const std::string& site,
                 const std::function<void()>& out_of_memory = nullptr);

}  // namespace frost::fault
