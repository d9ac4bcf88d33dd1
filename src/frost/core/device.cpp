// The device rule of Note [Device per rank] (core/device.h).
#include "frost/core/device.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "frost/core/error.h"

namespace frost {

const char* to_string(DeviceKind v) {
  switch (v) {
    case DeviceKind::kAuto: return "auto";
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kCuda: return "cuda";
  }
  return "?";
}

std::string DevicePlacement::str() const {
  return cuda ? "cuda:" + std::to_string(index) : std::string("cpu");
}

DevicePlacement place_rank(DeviceKind requested, int local_rank, int local_world_size,
                           int visible_devices, bool shared_gpu, const std::string& host,
                           const std::string& cuda_visible_devices) {
  FROST_ASSERT(local_world_size >= 1 && local_rank >= 0 && local_rank < local_world_size,
               "local rank ", local_rank, " of ", local_world_size);
  const std::string visible_note =
      cuda_visible_devices.empty() ? std::string("CUDA_VISIBLE_DEVICES unset")
                                   : "CUDA_VISIBLE_DEVICES=" + cuda_visible_devices;
  if (requested == DeviceKind::kCpu || (requested == DeviceKind::kAuto && visible_devices <= 0)) {
    return DevicePlacement{};
  }
  FROST_CHECK(visible_devices > 0, "train.device = cuda, but host ", host,
              " has no CUDA device visible to this process (", visible_note,
              "; LibTorch reports 0 devices): run on a GPU node or set train.device = cpu");
  DevicePlacement p;
  p.cuda = true;
  if (visible_devices == 1) {
    // One device per process (Slurm --gpus-per-task=1, or a one-GPU node): every local rank
    // uses it; whether two ranks then share one GPU is checked across ranks afterwards
    // (check_distinct_devices), since counts alone cannot tell the two cases apart.
    p.index = 0;
    return p;
  }
  FROST_CHECK(shared_gpu || local_rank < visible_devices, "host ", host, " runs ",
              local_world_size, " ranks but this process sees ", visible_devices,
              " CUDA devices (", visible_note,
              "): start at most one rank per GPU (mpirun -np / --npernode, Slurm "
              "--ntasks-per-node), or set train.device = cpu");
  p.index = local_rank % visible_devices;
  return p;
}

std::string placement_view(int local_rank, int local_world_size, int visible_devices,
                           const std::string& cuda_visible_devices) {
  return detail::str_cat("local rank ", local_rank, " of ", local_world_size, ", ", visible_devices,
                         " visible CUDA device", visible_devices == 1 ? "" : "s", " (",
                         cuda_visible_devices.empty()
                             ? std::string("CUDA_VISIBLE_DEVICES unset")
                             : "CUDA_VISIBLE_DEVICES=" + cuda_visible_devices,
                         ")");
}

void check_distinct_devices(const std::vector<std::string>& device_ids,
                            const std::vector<std::string>& hosts,
                            const std::vector<std::string>& views, bool shared_gpu) {
  FROST_ASSERT(device_ids.size() == hosts.size() && views.size() == hosts.size(),
               "one device id, host and view per rank");
  if (shared_gpu) return;
  std::map<std::pair<std::string, std::string>, size_t> first;  // (host, device id) -> rank
  for (size_t r = 0; r < device_ids.size(); ++r) {
    if (device_ids[r].empty()) continue;
    const auto [it, inserted] = first.emplace(std::make_pair(hosts[r], device_ids[r]), r);
    const size_t q = it->second;
    FROST_CHECK(inserted, "ranks ", q, " and ", r, " on host ", hosts[r],
                " would both use the GPU ", device_ids[r], " (rank ", q, ": ", views[q], "; rank ",
                r, ": ", views[r],
                "), which NCCL refuses: start at most one rank per GPU (mpirun -np / --npernode, "
                "Slurm --ntasks-per-node), give each rank its own device (Slurm "
                "--gpus-per-task=1, or CUDA_VISIBLE_DEVICES listing a GPU per local rank), or "
                "set train.device = cpu");
  }
}

std::vector<std::pair<std::string, std::string>> shared_gpu_nccl_env(const std::string& host,
                                                                     int rank) {
  return {{"NCCL_HOSTID", host + "-frost-rank-" + std::to_string(rank)},
          {"NCCL_SOCKET_IFNAME", "lo"},
          {"NCCL_IB_DISABLE", "1"},
          {"NCCL_NET", "Socket"},
          {"NCCL_NVLS_ENABLE", "0"},
          {"NCCL_MNNVL_ENABLE", "0"}};
}

std::vector<std::string> set_env_defaults(
    const std::vector<std::pair<std::string, std::string>>& vars) {
  std::vector<std::string> set;
  for (const auto& [name, value] : vars) {
    if (std::getenv(name.c_str()) != nullptr) continue;
    FROST_CHECK(::setenv(name.c_str(), value.c_str(), 0) == 0, "cannot set ", name, ": ",
                std::strerror(errno));
    set.push_back(name);
  }
  return set;
}

}  // namespace frost
