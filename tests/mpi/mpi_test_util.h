// Shared helpers of the MPI tests: the world communicator, per-job temp dirs, small datasets.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "frost/comm/communicator.h"
#include "frost/comm/mpi/mpi_communicator.h"
#include "frost/data/h5_dataset.h"
#include "frost/distributed/state_sync.h"
#include "frost/train/config.h"
#include "frost/core/fs.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace frost::testing {

/// The world communicator, created once (MPI_Comm_dup is collective: same order on all ranks).
inline comm::Communicator& world() {
  static std::unique_ptr<comm::Communicator> w = [] {
    auto c = comm::make_communicator("mpi");
    c->set_timeout(std::chrono::seconds(120));
    return c;
  }();
  return *w;
}

/// A directory unique to this job and `name`, the same path on every rank, created empty.
inline std::string job_dir(const std::string& name) {
  auto pid = torch::tensor({static_cast<int64_t>(::getpid())}, torch::kLong);
  world().broadcast(pid, 0);
  const std::string dir = frost::testing::test_tmpdir() + "/mpi-" + name + "-w" +
                          std::to_string(world().world_size()) + "-" +
                          std::to_string(pid.item<int64_t>());
  if (world().rank() == 0) {
    frost::fs::remove_tree(dir);
    std::filesystem::create_directories(dir);
  }
  world().barrier();
  return dir;
}

/// Rank 0 runs `write`, which writes the file `path`; every rank waits for it. Returns `path`.
template <typename Write>
std::string write_on_rank0(const std::string& path, Write&& write) {
  if (world().rank() == 0) write();
  world().barrier();
  return path;
}

/// Rank 0 writes a float32 feature dataset [n, dim] with labels in [0, classes); others wait.
/// Inputs are seeded normal values shifted by the label so the task is learnable.
inline std::string write_features(const std::string& path, int64_t n, int64_t dim, int64_t classes,
                                  uint64_t seed = 7) {
  return write_on_rank0(path, [&] {
    torch::manual_seed(seed);
    auto labels = torch::randint(0, classes, {n}, torch::kLong);
    auto x = torch::randn({n, dim}) + labels.to(torch::kFloat).unsqueeze(1) * 0.5;
    data::write_dataset(path, feature_info(n, dim, classes), x.contiguous().data_ptr<float>(),
                        labels.data_ptr<int64_t>());
  });
}

/// Rank 0 writes a uint8 image dataset [n, 1, hw, hw] with labels in [0, classes).
inline std::string write_images(const std::string& path, int64_t n, int64_t hw, int64_t classes,
                                uint64_t seed = 11) {
  return write_on_rank0(path, [&] {
    torch::manual_seed(seed);
    auto labels = torch::randint(0, classes, {n}, torch::kLong);
    auto x = torch::randint(0, 256, {n, 1, hw, hw}, torch::kLong).to(torch::kByte);
    data::write_dataset(path, image_info(n, {1, hw, hw}, classes, {0.5}, {0.25}),
                        x.contiguous().data_ptr<uint8_t>(), labels.data_ptr<int64_t>());
  });
}

/// A small, fast config: MLP on features, SGD with momentum, no evaluation, quiet logging, on the
/// CPU (train.device = cpu, not auto: the CPU tests stay CPU tests on a machine with GPUs; GPU
/// tests set their device with Target::configure, device_target.h).
inline train::Config small_config(const std::string& train_path, const std::string& run_dir) {
  train::Config c;
  c.train.device = DeviceKind::kCpu;
  c.model.backbone = train::BackboneKind::kMlp;
  c.model.mlp_hidden = "32,16";
  c.data.train = train_path;
  c.data.batch_size = 4;
  c.data.prefetch = 2;
  c.train.strategy = train::StrategyKind::kFull;
  c.train.epochs = 1;
  c.train.seed = 3;
  c.train.threads = 1;
  c.optim.name = train::OptimizerKind::kSgd;
  c.optim.lr = 0.05;
  c.optim.momentum = 0.9;
  c.optim.weight_decay = 1e-3;
  c.optim.schedule = train::LrSchedule::kCosine;
  c.optim.warmup_steps = 2;
  c.dist.timeout_s = 60;
  c.log.dir = run_dir;
  c.log.level = "warn";
  c.log.every = 1000;
  c.log.overwrite = true;
  return c;
}

/// All-gathers a 64-bit value; returns every rank's value in rank order.
inline std::vector<int64_t> gather(int64_t v) {
  auto mine = torch::tensor({v}, torch::kLong);
  auto all = torch::empty({world().world_size()}, torch::kLong);
  world().all_gather(mine, all);
  return std::vector<int64_t>(all.data_ptr<int64_t>(), all.data_ptr<int64_t>() + all.numel());
}

/// True when every rank passed the same value.
/// Whether `text` holds `part` (error-message checks).
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline bool same_on_all_ranks(int64_t v) {
  for (int64_t x : gather(v)) {
    if (x != v) return false;
  }
  return true;
}

/// Digest of the module's parameters and buffers as int64 (for gather).
inline int64_t digest(torch::nn::Module& m) { return static_cast<int64_t>(distributed::state_digest(m)); }

}  // namespace frost::testing
