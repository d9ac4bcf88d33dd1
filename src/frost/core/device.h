// Which device a rank computes on: the rule, without LibTorch or CUDA (the caller asks the CUDA
// runtime how many devices it sees and passes the count in).
//
// Note [Device per rank]
// One rank drives one GPU, and the ranks of a node share its GPUs by local rank: rank r with
// local rank l (its index among the ranks on its host, MPI_COMM_TYPE_SHARED) uses cuda:l, the
// l-th device *visible to the process*. CUDA_VISIBLE_DEVICES is honoured because the CUDA runtime
// applies it before counting (CUDA C Programming Guide, "CUDA Environment Variables"): with
// CUDA_VISIBLE_DEVICES=2,3 the ranks of the node see and use devices 0 and 1 (physical 2 and 3).
// Slurm's `--gpus-per-task=1` sets a per-rank CUDA_VISIBLE_DEVICES of one device; then every rank
// sees one device, and local rank l would ask for cuda:l > 0: a rank that sees exactly one device
// uses it whatever its local rank (the same rule as torchrun with one visible device).
// More local ranks than visible devices is an error naming the host and the counts: two NCCL
// ranks on one GPU are refused by NCCL ("Duplicate GPU detected") and would time-slice the GPU
// anyway. The test-only shared-GPU mode (dist.shared_gpu) lets them share it round-robin.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace frost {

/// train.device: auto (CUDA when the process sees a CUDA device, else CPU) | cpu | cuda.
enum class DeviceKind { kAuto, kCpu, kCuda };

/// The config text of `v`: "auto", "cpu" or "cuda".
const char* to_string(DeviceKind v);

/// What one rank computes on.
struct DevicePlacement {
  bool cuda = false;  ///< false: the CPU
  int index = -1;     ///< CUDA device index as the process sees it (>= 0 when cuda), else -1

  /// "cpu" or "cuda:<index>", as torch::Device spells it.
  std::string str() const;
};

/// Where this rank computes (Note [Device per rank]).
///   requested          train.device
///   local_rank         this rank's index among the ranks on its host, in [0, local_world_size)
///   local_world_size   ranks on this host (>= 1)
///   visible_devices    CUDA devices this process sees (torch::cuda::device_count(); 0 when
///                      LibTorch has no CUDA or the machine has no GPU)
///   shared_gpu         dist.shared_gpu (tests): local ranks share the devices round-robin
///   host               this host's name, for messages
///   cuda_visible_devices  the variable's value for messages ("" when unset)
/// A process that sees one device uses it whatever its local rank; whether ranks then share a
/// GPU is decided across ranks by check_distinct_devices.
/// Throws frost::Error when `requested` is cuda and no device is visible, or when a local rank
/// has no device of its own (names the host, the counts and CUDA_VISIBLE_DEVICES).
DevicePlacement place_rank(DeviceKind requested, int local_rank, int local_world_size,
                           int visible_devices, bool shared_gpu, const std::string& host,
                           const std::string& cuda_visible_devices);

/// What place_rank saw on one rank, for messages: "local rank 1 of 2, 1 visible CUDA device
/// (CUDA_VISIBLE_DEVICES unset)"; `cuda_visible_devices` as for place_rank ("" when unset).
std::string placement_view(int local_rank, int local_world_size, int visible_devices,
                           const std::string& cuda_visible_devices);

/// Refuses two ranks on one GPU (Note [Device per rank]), before any NCCL call: NCCL would fail
/// later, deep in its initialisation ("Duplicate GPU detected"). `device_ids[r]`: rank r's GPU
/// as a stable identifier (PCI bus id, e.g. "0000:1b:00.0"), "" for a CPU rank; `hosts[r]` its
/// host (all_hosts order); `views[r]` its placement_view. Collect each with one all_gather; the
/// three lists have one entry per rank. Does nothing when `shared_gpu`.
/// Throws frost::Error naming the two ranks, the host, the bus id and both ranks' views (local
/// rank, visible devices, CUDA_VISIBLE_DEVICES), e.g. "ranks 0 and 1 on host node7 would both
/// use the GPU 0000:1b:00.0 (rank 0: local rank 0 of 2, 1 visible CUDA device
/// (CUDA_VISIBLE_DEVICES unset); rank 1: local rank 1 of 2, ...), which NCCL refuses: ...".
void check_distinct_devices(const std::vector<std::string>& device_ids,
                            const std::vector<std::string>& hosts,
                            const std::vector<std::string>& views, bool shared_gpu);

/// Note [Ranks sharing a GPU under NCCL]
/// NCCL refuses two ranks on one GPU ("Duplicate GPU detected", init.cc) by comparing a host hash
/// and the bus id; the host hash is computed from NCCL_HOSTID instead of host name and boot id
/// when that variable is set (misc/utils.cc, read once before NCCL's first call). With a distinct
/// NCCL_HOSTID per rank, NCCL takes the ranks for one-GPU nodes and connects them over its socket
/// transport (P2P and shared memory refuse different hosts), which needs a socket interface on
/// this host: the loopback. dist.shared_gpu (tests only) sets these before the NCCL communicator
/// is made; correct, not fast (the ranks time-slice the GPU).
/// The variables for `rank` on `host`, in the order to set them:
///   NCCL_HOSTID=<host>-frost-rank-<rank>, NCCL_SOCKET_IFNAME=lo, NCCL_IB_DISABLE=1,
///   NCCL_NET=Socket, NCCL_NVLS_ENABLE=0, NCCL_MNNVL_ENABLE=0.
std::vector<std::pair<std::string, std::string>> shared_gpu_nccl_env(const std::string& host,
                                                                     int rank);

/// Sets each variable of `vars` in this process's environment unless it is already set (a
/// user's or launcher's choice wins). Returns the names it set. Not thread-safe (setenv): call
/// before starting threads that read the environment.
std::vector<std::string> set_env_defaults(
    const std::vector<std::pair<std::string, std::string>>& vars);

}  // namespace frost
