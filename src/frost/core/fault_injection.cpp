#include "frost/core/fault_injection.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <limits>
#include <thread>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/core/strings.h"

namespace frost::fault {

namespace {

// A whole decimal integer in [0, INT_MAX]; otherwise throws frost::Error "<what>, got '<s>'".
int parse_count(const std::string& s, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  FROST_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0 && v >= 0 &&
                  v <= std::numeric_limits<int>::max(),
              what, ", got '", s, "'");
  return static_cast<int>(v);
}

}  // namespace

bool Plan::targets(int r, const std::string& site) const {
  return (rank == r || rank == kAllRanks) && !at.empty() && at == site;
}

Plan parse_plan(const std::string& spec, const char* hold_dir) {
  Plan plan;
  for (const auto& kv : split_list(spec)) {
    const auto eq = kv.find('=');
    FROST_CHECK(eq != std::string::npos, "FROST_FAULT_INJECT: expected key=value, got '", kv, "'");
    const auto k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "rank") {
      plan.rank = v == "*"
                      ? kAllRanks
                      : parse_count(v, "FROST_FAULT_INJECT: rank must be an integer >= 0 or *");
    } else if (k == "at") {
      const bool counted = (v.rfind("step:", 0) == 0 || v.rfind("checkpoint:", 0) == 0);
      if (counted) {
        parse_count(v.substr(v.find(':') + 1), "FROST_FAULT_INJECT: the N of " +
                                                   v.substr(0, v.find(':') + 1) +
                                                   "N must be an integer >= 0");
      }
      FROST_CHECK(v == "open" || v == "finalize" || counted, "FROST_FAULT_INJECT: unknown site '",
                  v, "' (open, step:N, checkpoint:N, finalize)");
      plan.at = v;
    } else if (k == "action") {
      FROST_CHECK(v == "throw" || v == "hang" || v == "kill" || v == "hold" || v == "oom",
                  "FROST_FAULT_INJECT: unknown action '", v, "' (throw, hang, kill, hold, oom)");
      plan.action = v == "throw"  ? Action::kThrow
                    : v == "hang" ? Action::kHang
                    : v == "kill" ? Action::kKill
                    : v == "hold" ? Action::kHold
                                  : Action::kOom;
    } else {
      throw Error("FROST_FAULT_INJECT: unknown key '" + k + "' (rank, at, action)");
    }
  }
  if (plan.action == Action::kHold) {
    FROST_CHECK(hold_dir != nullptr && *hold_dir != '\0',
                "FROST_FAULT_INJECT: action=hold needs FROST_FAULT_HOLD_DIR, the directory for "
                "the held.RANK marker files and the release file");
    plan.hold_dir = hold_dir;
  }
  FROST_CHECK(plan.action != Action::kOom || plan.at.rfind("step:", 0) == 0,
              "FROST_FAULT_INJECT: action=oom needs at=step:N (the device is known there), got at=",
              plan.at.empty() ? std::string("nothing") : "'" + plan.at + "'");
  return plan;
}

Plan plan_from_env() {
  const char* env = std::getenv("FROST_FAULT_INJECT");
  if (env == nullptr) return Plan{};
  return parse_plan(env, std::getenv("FROST_FAULT_HOLD_DIR"));
}

void maybe_fault(const Plan& plan, int rank, const std::string& site,
                 const std::function<void()>& out_of_memory) {
  if (!plan.targets(rank, site)) return;
  switch (plan.action) {
    case Action::kOom:  // Note [Injected out-of-memory]
      FROST_ASSERT(out_of_memory != nullptr, "action=oom at ", site,
                   ", where the caller gives no out-of-memory action");
      spdlog::warn("fault injection: rank {} allocates more device memory than there is at {}",
                   rank, site);
      out_of_memory();
      throw InternalError("internal error (a bug in Frost): the out-of-memory action at " + site +
                          " returned instead of throwing");
    case Action::kKill:
      spdlog::warn("fault injection: rank {} kills itself (SIGKILL) at {}", rank, site);
      std::raise(SIGKILL);
      break;
    case Action::kHang:
      spdlog::warn("fault injection: rank {} hangs at {}", rank, site);
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    case Action::kHold: {  // Note [Holding a rank]
      const std::string marker = plan.hold_dir + "/held." + std::to_string(rank);
      const std::string release = plan.hold_dir + "/release";
      spdlog::warn("fault injection: rank {} holds at {} until {} exists", rank, site, release);
      try {
        fs::write_file_atomic(marker, site + "\n");
      } catch (Error& e) {
        e.set_rank(rank);
        FROST_RETHROW(e, "fault injection (FROST_FAULT_HOLD_DIR)");
      }
      while (!fs::exists(release)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      spdlog::warn("fault injection: rank {} released at {}", rank, site);
      return;
    }
    case Action::kThrow: break;
  }
  Error e("injected fault at " + site + " (FROST_FAULT_INJECT)");
  e.set_rank(rank);
  throw e;
}

}  // namespace frost::fault
