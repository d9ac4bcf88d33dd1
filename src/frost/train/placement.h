// Where a rank computes: the device of Note [Device per rank] (frost/core/device.h) as a
// torch::Device, checked across the ranks, with a description for the banner.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "frost/core/cpus.h"
#include "frost/train/config.h"

namespace torch::nn {
class Module;
}
namespace frost::comm {
class Communicator;
}

namespace frost::train {

struct RankDevice {
  c10::Device device{c10::kCPU};
  /// For the banner: "cpu", or "cuda:0 (NVIDIA H200, 139.8 GiB)" (name and memory where this
  /// build has CUDA support, else "cuda:0").
  std::string description;
};

/// This rank's device from train.device and dist.shared_gpu, the rank's local rank and the CUDA
/// devices the process sees (torch::cuda::device_count(), which honours CUDA_VISIBLE_DEVICES).
/// Collective over `comm` (all_hosts and two all_gathers: device ids and what each rank sees,
/// placement_view), called in the same order on every rank, before any NCCL call. Throws frost::Error on every rank when any rank's choice fails
/// (place_rank's messages, or two ranks on one GPU: check_distinct_devices), naming that rank.
RankDevice place_this_rank(const Config& cfg, comm::Communicator& comm);

/// This rank's intra-op thread count by Note [Threads per rank] (frost/core/cpus.h):
/// train.threads when > 0; else the CPUs this process may use (affinity_cpus()) divided among
/// the ranks of its host whose CPU sets overlap it, capped by SLURM_CPUS_PER_TASK when set.
/// Collective over `comm` (all_hosts and one all_gather of CPU lists, also when train.threads >
/// 0), called in the same order on every rank. Throws frost::Error on every rank when one rank's
/// SLURM_CPUS_PER_TASK is not a whole number >= 1, naming that rank and host.
ThreadChoice threads_for_this_rank(const Config& cfg, comm::Communicator& comm);

/// The backend name (make_communicator) that all-reduces the gradients and broadcasts the
/// initial state of replicas on `device`: dist.backend, where auto is "nccl" for CUDA and "mpi"
/// for the CPU. mpi also serves CUDA devices, staging the tensors through pinned host memory
/// (Note [CUDA tensors on MPI] in comm/mpi/mpi_communicator.cpp: for clusters without NCCL, and
/// as a second opinion). Throws frost::Error for nccl on the CPU.
std::string gradient_backend(const Config& cfg, const RankDevice& device);

/// The device of `module`'s first parameter (else first buffer), or the CPU when it has
/// neither. Frost keeps a model on one device, so this is where its inputs must be.
c10::Device device_of(const torch::nn::Module& module);

}  // namespace frost::train
