#include "frost/core/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

#include "frost/core/error.h"

namespace frost {

// Note [Threads per rank]
// LibTorch's intra-op pool (at::set_num_threads) defaults to one thread per core of the machine
// in every process, so N ranks on one node would run N x cores threads. Frost gives each rank
// the CPUs it may actually run on (sched_getaffinity: what cgroups, cpusets, taskset, mpirun's
// binding or srun's --cpu-bind left it), divided among the ranks of the node that may run on
// the same CPUs. Which ranks share is learnt by comparing the sets (ranks_sharing_cpus), not
// assumed: ranks bound to their own core groups (frost-mpirun, srun --cpu-bind=cores) each keep
// their whole group; ranks that all see the node's or the job's set divide it (mpirun
// --bind-to none, a Slurm job step without binding); ranks bound to a socket each (OpenMPI's
// default beyond two ranks) divide their socket. SLURM_CPUS_PER_TASK only caps the result: on a
// node that Slurm does not confine, the affinity is every CPU of the node, shared with other
// jobs. std::thread::hardware_concurrency() counts the machine's CPUs, not the process's, and
// is used only where the kernel does not report an affinity. train.threads > 0 overrides all
// of this. docs/launch.md#threads-per-rank is the user's side of this note.

std::vector<int> affinity_cpus() {
  std::vector<int> cpus;
  // Sized for machines beyond CPU_SETSIZE (1024): grow until the kernel's mask fits (EINVAL).
  for (int n = CPU_SETSIZE; n <= (1 << 20); n *= 2) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (set == nullptr) return {};
    const size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, set);
    if (sched_getaffinity(0, bytes, set) == 0) {
      for (int c = 0; c < n; ++c)
        if (CPU_ISSET_S(c, bytes, set)) cpus.push_back(c);
      CPU_FREE(set);
      return cpus;
    }
    const int err = errno;
    CPU_FREE(set);
    if (err != EINVAL) return {};
  }
  return {};
}

int usable_cpus() {
  const std::vector<int> cpus = affinity_cpus();
  if (!cpus.empty()) return static_cast<int>(cpus.size());
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  if (text.empty()) return cpus;
  auto number = [&](const std::string& s) {
    FROST_CHECK(!s.empty() && s.size() <= 9 &&
                    std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; }),
                "CPU list '", text, "': '", s, "' is not a CPU id");
    return std::atoi(s.c_str());
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const size_t dash = item.find('-');
    const int lo = number(item.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : number(item.substr(dash + 1));
    FROST_CHECK(hi >= lo, "CPU list '", text, "': range '", item, "' ends below its start");
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

int ranks_sharing_cpus(const std::vector<int>& mine,
                       const std::vector<std::vector<int>>& host_sets) {
  int sharing = 0;
  for (const auto& other : host_sets) {
    // Both ascending: a merge walk finds a common CPU.
    auto a = mine.begin();
    auto b = other.begin();
    while (a != mine.end() && b != other.end() && *a != *b) (*a < *b) ? ++a : ++b;
    if (a != mine.end() && b != other.end()) ++sharing;
  }
  return std::max(1, sharing);
}

ThreadChoice choose_threads(int64_t configured, const std::string& slurm_cpus_per_task,
                            int affinity, int sharing_ranks) {
  FROST_CHECK(configured >= 0, "train.threads must be >= 0, got ", configured);
  if (configured > 0) return {static_cast<int>(configured), "train.threads"};
  affinity = std::max(1, affinity);
  sharing_ranks = std::max(1, sharing_ranks);
  const int share = std::max(1, affinity / sharing_ranks);
  const std::string cpus = detail::str_cat("CPU affinity: ", affinity,
                                           affinity == 1 ? " CPU" : " CPUs");
  const std::string affinity_source =
      sharing_ranks == 1 ? cpus + " for this rank alone"
                         : detail::str_cat(cpus, " shared by ", sharing_ranks, " local ranks");
  if (slurm_cpus_per_task.empty()) return {share, affinity_source};
  const std::string& s = slurm_cpus_per_task;
  const bool digits =
      s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int slurm = digits ? std::atoi(s.c_str()) : 0;
  FROST_CHECK(slurm >= 1, "SLURM_CPUS_PER_TASK='", s,
              "' is not a whole number >= 1 (set by srun/sbatch --cpus-per-task); unset it or "
              "pass --train.threads N");
  if (slurm <= share) {
    return {slurm, detail::str_cat("SLURM_CPUS_PER_TASK=", slurm, " (", affinity_source, ")")};
  }
  return {share, detail::str_cat(affinity_source, ", below SLURM_CPUS_PER_TASK=", slurm)};
}

}  // namespace frost
