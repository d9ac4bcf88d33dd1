// The backend-agnostic part of every communicator: statistics, the blocking forms and the
// factory that picks a backend by name.
#include "frost/comm/communicator.h"

#include <torch/torch.h>

#include <cstring>
#include <mutex>

#include "frost/comm/mpi/mpi_communicator.h"
#if FROST_WITH_CUDA
#include "frost/comm/nccl/nccl_communicator.h"
#endif
#include "frost/core/error.h"
#include "frost/core/strings.h"

namespace frost::comm {

struct Communicator::StatsBox {
  std::mutex mu;
  CommStats stats;
};

Communicator::Communicator() : stats_(std::make_shared<StatsBox>()) {}

void Communicator::all_reduce(const at::Tensor& t, ReduceOp op) { all_reduce_async(t, op)->wait(); }
void Communicator::broadcast(const at::Tensor& t, int root) { broadcast_async(t, root)->wait(); }
void Communicator::all_gather(const at::Tensor& in, const at::Tensor& out) {
  all_gather_async(in, out)->wait();
}
void Communicator::barrier() { barrier_async()->wait(); }

std::vector<std::string> Communicator::all_hosts() { return all_gather_strings(host(), 63); }

std::vector<std::string> Communicator::all_gather_strings(const std::string& mine,
                                                          int64_t max_bytes) {
  const int64_t slot = max_bytes + 1;  // a fixed-size, NUL-terminated slot per rank
  auto local = torch::zeros({slot}, torch::kByte);
  const std::string cut = mine.substr(0, static_cast<size_t>(max_bytes));
  std::memcpy(local.data_ptr(), cut.data(), cut.size());
  // Gathered on the communicator's device; .cpu() copies on the current stream, which wait()
  // ordered after the all_gather.
  auto all = torch::zeros({world_size() * slot}, torch::kByte).to(device());
  all_gather(local.to(device()), all);
  all = all.cpu();
  std::vector<std::string> out;
  for (int r = 0; r < world_size(); ++r) {
    out.emplace_back(reinterpret_cast<const char*>(all.data_ptr<uint8_t>() + r * slot));
  }
  return out;
}

CommStats Communicator::stats() const {
  std::lock_guard<std::mutex> g(stats_->mu);
  return stats_->stats;
}
void Communicator::reset_stats() {
  std::lock_guard<std::mutex> g(stats_->mu);
  stats_->stats = CommStats{};
}
void Communicator::add_wait_time(double s) {
  std::lock_guard<std::mutex> g(stats_->mu);
  stats_->stats.wait_s += s;
}
void Communicator::count_collective(int64_t all_reduce_bytes) {
  std::lock_guard<std::mutex> g(stats_->mu);
  stats_->stats.collectives += 1;
  stats_->stats.all_reduce_bytes += all_reduce_bytes;
}

std::vector<std::string> communicator_backends() {
#if FROST_WITH_CUDA
  return {"mpi", "nccl"};
#else
  return {"mpi"};
#endif
}

std::unique_ptr<Communicator> make_communicator(std::string_view backend, Scope scope,
                                                int device_index) {
  std::string built;
  for (const std::string& name : communicator_backends())
    built += (built.empty() ? "" : ", ") + name;
  if (backend == "mpi") return make_mpi_communicator(scope == Scope::kWorld);
#if FROST_WITH_CUDA
  if (backend == "nccl") return make_nccl_communicator(scope == Scope::kWorld, device_index);
#endif
  FROST_CHECK(backend != "nccl",
              "the communicator backend 'nccl' is not in this build (it needs a LibTorch built "
              "with CUDA, NCCL, and a build configured with -DFROST_WITH_CUDA=ON); backends "
              "built: ",
              built);
  throw Error(detail::str_cat("unknown communicator backend '", printable(backend, 80),
                              "': backends built: ", built));
}

}  // namespace frost::comm
