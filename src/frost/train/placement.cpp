#include "frost/train/placement.h"

#include <torch/cuda.h>
#include <torch/nn/module.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#if FROST_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "frost/comm/communicator.h"
#include "frost/core/cpus.h"
#include "frost/core/device.h"
#include "frost/core/error.h"

namespace frost::train {
namespace {

// A GPU's identity across processes: its PCI address where this build has CUDA support; else
// the process's CUDA_VISIBLE_DEVICES with the index (distinct per rank when a launcher gives
// each rank its own device).
std::string device_id(const DevicePlacement& p) {
  if (!p.cuda) return "";
#if FROST_WITH_CUDA
  const cudaDeviceProp* prop = at::cuda::getDeviceProperties(p.index);
  char bus[32];
  std::snprintf(bus, sizeof(bus), "%04x:%02x:%02x.0", prop->pciDomainID, prop->pciBusID,
                prop->pciDeviceID);
  return bus;
#else
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return std::string(visible ? visible : "all") + "/" + std::to_string(p.index);
#endif
}

std::string describe(const DevicePlacement& p) {
  if (!p.cuda) return "cpu";
#if FROST_WITH_CUDA
  const cudaDeviceProp* prop = at::cuda::getDeviceProperties(p.index);
  char text[160];
  std::snprintf(text, sizeof(text), "%s (%s, %.1f GiB)", p.str().c_str(), prop->name,
                static_cast<double>(prop->totalGlobalMem) / (1 << 30));
  return text;
#else
  return p.str();
#endif
}

}  // namespace

RankDevice place_this_rank(const Config& cfg, comm::Communicator& comm) {
  const std::vector<std::string> hosts = comm.all_hosts();
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const int visible_devices = static_cast<int>(torch::cuda::device_count());
  std::string error;
  std::exception_ptr mine;
  DevicePlacement placement;
  try {
    placement =
        place_rank(cfg.train.device, comm.local_rank(), comm.local_world_size(), visible_devices,
                   cfg.dist.shared_gpu, comm.host(), visible ? visible : "");
  } catch (const Error& e) {
    error = e.what();
    mine = std::current_exception();
  }
  // Every rank learns every rank's id (or failure) in one all_gather, so that a failure on one
  // rank fails all of them instead of leaving the others waiting. A failing rank reports its
  // own error (its own rank in the line); the others name the first failing rank.
  const std::vector<std::string> ids =
      comm.all_gather_strings(error.empty() ? device_id(placement) : "!" + error, 1023);
  if (mine) std::rethrow_exception(mine);
  std::vector<std::string> device_ids;
  for (size_t r = 0; r < ids.size(); ++r) {
    FROST_CHECK(ids[r].empty() || ids[r][0] != '!', "rank ", r, " (host ", hosts[r],
                ") could not choose its device (train.device = ", to_string(cfg.train.device),
                "): ", ids[r].substr(1, 300));
    device_ids.push_back(ids[r]);
  }
  // One kind of device everywhere: gradients of CUDA and CPU replicas cannot share a backend.
  for (size_t r = 1; r < device_ids.size(); ++r) {
    FROST_CHECK(device_ids[r].empty() == device_ids[0].empty(), "rank 0 (host ", hosts[0],
                ") computes on ", device_ids[0].empty() ? "the CPU" : "a CUDA device", " but rank ",
                r, " (host ", hosts[r], ") on ", device_ids[r].empty() ? "the CPU" : "a CUDA device",
                " (train.device = ", to_string(cfg.train.device),
                "): give every rank a GPU, or set train.device = cpu");
  }
  // What each rank saw, for the message when two of them would share a GPU.
  const std::vector<std::string> views =
      comm.all_gather_strings(placement_view(comm.local_rank(), comm.local_world_size(),
                                             visible_devices, visible ? visible : ""),
                              1023);
  check_distinct_devices(device_ids, hosts, views, cfg.dist.shared_gpu);
  RankDevice out;
  out.device = placement.cuda ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(placement.index))
                              : c10::Device(c10::kCPU);
  out.description = describe(placement);
  return out;
}

ThreadChoice threads_for_this_rank(const Config& cfg, comm::Communicator& comm) {
  // Collective whatever train.threads is, so that ranks started with different values (refused
  // later by the cross-rank config check) still run the same collectives here.
  const char* slurm_env = std::getenv("SLURM_CPUS_PER_TASK");
  const std::string slurm = cfg.train.threads > 0 || slurm_env == nullptr ? "" : slurm_env;
  std::string error;
  try {
    choose_threads(cfg.train.threads, slurm, 1, 1);  // the inputs' checks, before the collective
  } catch (const Error& e) {
    error = e.what();
  }
  const std::vector<int> mine = affinity_cpus();
  // A list beyond the gather's bytes (thousands of scattered CPUs) or an unknown affinity is
  // sent as "*": it counts as overlapping every set on its host.
  constexpr int64_t kMaxBytes = 1023;
  std::string sent = mine.empty() ? "*" : cpu_list(mine);
  if (static_cast<int64_t>(sent.size()) > kMaxBytes) sent = "*";
  const std::vector<std::string> hosts = comm.all_hosts();
  const std::vector<std::string> sets =
      comm.all_gather_strings(error.empty() ? sent : "!" + error, kMaxBytes);
  for (size_t r = 0; r < sets.size(); ++r) {
    FROST_CHECK(sets[r].empty() || sets[r][0] != '!', "rank ", r, " (host ", hosts[r],
                "): ", sets[r].substr(1, 300));
  }
  const std::string& me = hosts[static_cast<size_t>(comm.rank())];
  int sharing = 0;  // ranks on this host whose sets overlap this rank's, this rank included
  std::vector<std::vector<int>> host_sets;  // the known sets on this host (this rank's among them)
  for (size_t r = 0; r < sets.size(); ++r) {
    if (hosts[r] != me) continue;
    if (sets[r] == "*" || sent == "*") {
      ++sharing;
    } else {
      host_sets.push_back(parse_cpu_list(sets[r]));
    }
  }
  if (!host_sets.empty()) sharing += ranks_sharing_cpus(mine, host_sets);
  const int affinity = mine.empty() ? usable_cpus() : static_cast<int>(mine.size());
  return choose_threads(cfg.train.threads, slurm, affinity, sharing);
}

std::string gradient_backend(const Config& cfg, const RankDevice& device) {
  const bool cuda = device.device.is_cuda();
  switch (cfg.dist.backend) {
    case CommBackend::kAuto: return cuda ? "nccl" : "mpi";
    case CommBackend::kNccl:
      FROST_CHECK(cuda, "dist.backend = nccl needs CUDA tensors, but the ranks compute on the CPU "
                  "(train.device = ", to_string(cfg.train.device),
                  "): set dist.backend = mpi or auto, or run on GPUs");
      return "nccl";
    case CommBackend::kMpi:
      return "mpi";  // CPU tensors, or CUDA tensors staged through host memory
  }
  return "mpi";
}

c10::Device device_of(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return c10::Device(c10::kCPU);
}

}  // namespace frost::train
