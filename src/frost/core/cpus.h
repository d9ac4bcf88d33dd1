// The CPUs a process may use, and how many intra-op threads each rank runs on them
// (Note [Threads per rank]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost {

/// The ids of the CPUs this process may run on (sched_getaffinity(2) of the calling thread,
/// which a batch system's cgroup/cpuset, `taskset`, mpirun's --bind-to or srun's --cpu-bind
/// narrow), ascending. Empty when the kernel does not say (sched_getaffinity failed). Any thread.
std::vector<int> affinity_cpus();

/// The number of CPUs this process may run on: affinity_cpus().size(), or
/// std::thread::hardware_concurrency() when the affinity is unknown; at least 1. Any thread.
int usable_cpus();

/// A CPU set in the kernel's cpulist notation (cpuset(7)): {0,1,2,3,8,10,11} -> "0-3,8,10-11";
/// {} -> "". `cpus` must be ascending and without repeats.
std::string cpu_list(const std::vector<int>& cpus);

/// The inverse of cpu_list: "0-3,8" -> {0,1,2,3,8}; "" -> {}. Throws frost::Error naming the
/// text on anything else (a range whose end is below its start, a negative or non-numeric id).
std::vector<int> parse_cpu_list(const std::string& text);

/// How many of the ranks on one host run on CPUs that overlap `mine`, this rank included (so at
/// least 1): `host_sets` are the CPU sets (ascending) of every rank on this host, this rank's
/// among them. Ranks bound to disjoint core groups share nothing (1 each); ranks that all see
/// the node's or the job's whole set share it (the number of local ranks).
int ranks_sharing_cpus(const std::vector<int>& mine,
                       const std::vector<std::vector<int>>& host_sets);

/// The intra-op thread count of one rank and where it came from, for the start-up log.
struct ThreadChoice {
  int threads = 1;     ///< >= 1
  std::string source;  ///< e.g. "train.threads", "CPU affinity: 16 CPUs shared by 2 local ranks"
};

/// Note [Threads per rank]: the rule, first match wins:
///   1. configured > 0 (train.threads): that many, whatever the CPUs;
///   2. share = max(1, affinity / sharing_ranks): the CPUs this rank may use (`affinity`,
///      usable_cpus()) divided among the ranks of its node that may use them too
///      (`sharing_ranks`, ranks_sharing_cpus());
///   3. SLURM_CPUS_PER_TASK (`slurm_cpus_per_task`, "" when unset) caps the share: on a node
///      that Slurm does not confine with cgroups/cpusets, the affinity is the whole node
///      while the job was given cpus-per-task CPUs per rank. It never raises the share: more
///      threads than CPUs to run them only queue (a rank that mpirun bound to one core).
/// Throws frost::Error when slurm_cpus_per_task is set but not a whole number >= 1 (naming the
/// variable and its value), or configured < 0. `affinity` and `sharing_ranks` are clamped to >= 1.
ThreadChoice choose_threads(int64_t configured, const std::string& slurm_cpus_per_task,
                            int affinity, int sharing_ranks);

}  // namespace frost
