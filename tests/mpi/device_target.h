// Where an MPI test body of training or gradient reduction runs: the CPU with the MPI backend,
// or this rank's CUDA device with NCCL (Note [Training tests on CPU and GPU]).
//
// Note [Training tests on CPU and GPU]
// ------------------------------------
// The trainer and reducer test bodies (test_trainer.cpp, reducer_cases.h) take a Target or a
// gradient communicator instead of assuming the CPU. The CPU tests pass cpu_target() (train.device
// = cpu, dist.backend = mpi) and world(). The GPU tests (suites Gpu*, run by ctest gpu.mpi.world1/2:
// Note [MPI test schedule] in mpi_schedule.h) pass the rank's CUDA device and an NCCL
// communicator, in the test-only shared-GPU mode (dist.shared_gpu = true; Note [Ranks sharing a
// GPU under NCCL] in frost/core/device.h), so that 2 ranks run on a node with one GPU. A GPU test
// starts with FROST_GPU_TARGET_OR_SKIP, which
//   * skips it on every rank, with the reason, unless the build has the NCCL backend and every
//     rank sees a CUDA device (decided together over MPI: all ranks skip, or none);
//   * sets this rank's shared-GPU NCCL variables (unless given) before the test makes a
//     communicator, as the Trainer does for dist.shared_gpu: NCCL reads NCCL_HOSTID once per
//     process, so it must be in place before NCCL's first call. They are process-wide: the NCCL
//     communicators made after the first GPU test of a run (GpuNccl.* in test_nccl.cpp, whose
//     suite registers after test_gpu_training.cpp's) use the socket transport too;
//   * turns TF32 off in cuBLAS and cuDNN for the test's duration (Fp32MathGuard): LibTorch's
//     default lets cuDNN convolutions round their inputs to TF32 (10-bit mantissa), which would
//     need tolerances near 1e-3. With it off, GPU float32 differs from the CPU only in the order
//     of its sums.
// Tolerances on the GPU. Two different computations of one result (N ranks against 1 rank with
// the global batch) agree within a stated float32 tolerance on either device: cuBLAS picks its
// kernels (and so its summation order) per shape, NCCL's ring adds the ranks' pre-divided
// gradients in its own order. A repeat of the same computation (a resumed run against an
// uninterrupted one) is bitwise on the CPU, but only within a tolerance on the GPU: some backward
// kernels (cuDNN weight gradients, index_add) accumulate with atomics in an order that can change
// from run to run, and neither cuBLAS nor NCCL promise run-to-run identical bits in every
// configuration. What stays bitwise on the GPU, and is checked bitwise:
//   * frozen parameters and BatchNorm buffers of a frozen backbone: no kernel writes them;
//   * replicas across ranks: every rank applies the same optimizer arithmetic (the same kernels on
//     the same GPU model) to the same all-reduced gradient bits, and BatchNorm buffers are
//     broadcast from rank 0.
// Results are compared on the host (.cpu() or digest), which waits for the device: a CUDA
// tensor's memory is not readable from the host, and a comparison across two GPUs would fail.
#pragma once

#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "frost/comm/communicator.h"
#include "frost/core/device.h"
#include "frost/distributed/state_sync.h"
#include "frost/train/config.h"
#include "mpi_test_util.h"

namespace frost::testing {

/// Where a test body trains: the CPU (default) or a CUDA device.
struct Target {
  torch::Device device{torch::kCPU};  ///< the CPU, or this rank's CUDA device (gpu_target)

  bool cuda() const { return device.is_cuda(); }
  /// "" on the CPU, "-cuda" on CUDA: a suffix for job_dir names (the CPU names are unchanged).
  std::string suffix() const { return cuda() ? "-cuda" : ""; }
  /// train.device, dist.backend and dist.shared_gpu of `cfg` for this target: cpu + mpi, or
  /// cuda + nccl + shared_gpu (the Trainer then places the rank as gpu_target did).
  void configure(train::Config& cfg) const {
    cfg.train.device = cuda() ? DeviceKind::kCuda : DeviceKind::kCpu;
    cfg.dist.backend = cuda() ? train::CommBackend::kNccl : train::CommBackend::kMpi;
    cfg.dist.shared_gpu = cuda();
  }
};

/// The CPU with the MPI backend: what the CPU tests run on.
inline Target cpu_target() { return Target{}; }

/// Largest |a - b| over two equally long lists of tensors, compared on the host.
inline double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, (a[i].detach().cpu() - b[i].detach().cpu()).abs().max().item<double>());
  }
  return m;
}

/// TF32 off in cuBLAS and cuDNN for the guard's lifetime (Note [Training tests on CPU and GPU]);
/// the previous settings come back at its end. Process-wide (autograd's device threads run the
/// backward kernels, so a thread-local switch would not reach them). Harmless without CUDA.
class Fp32MathGuard {
 public:
  Fp32MathGuard()
      : cublas_(at::globalContext().allowTF32CuBLAS()),
        cudnn_(at::globalContext().allowTF32CuDNN()) {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  ~Fp32MathGuard() {
    at::globalContext().setAllowTF32CuBLAS(cublas_);
    at::globalContext().setAllowTF32CuDNN(cudnn_);
  }
  Fp32MathGuard(const Fp32MathGuard&) = delete;
  Fp32MathGuard& operator=(const Fp32MathGuard&) = delete;

 private:
  bool cublas_, cudnn_;
};

/// Whether every rank can train on CUDA with NCCL. On true, `target` is this rank's device (the
/// rule of Note [Device per rank] with shared_gpu, as the Trainer places it) and this rank's
/// shared-GPU NCCL variables are set unless given; on false, `why` holds the reason. Collective
/// over world(): every rank returns the same.
inline bool gpu_target(Target* target, std::string* why) {
#if FROST_WITH_CUDA
  const int devices = static_cast<int>(torch::cuda::device_count());
  auto fewest = torch::tensor({devices}, torch::kInt);
  world().all_reduce(fewest, comm::ReduceOp::kMin);
  if (fewest.item<int>() == 0) {
    *why = "needs a CUDA device on every rank; rank " + std::to_string(world().rank()) +
           " (host " + world().host() + ") sees " + std::to_string(devices) + " CUDA device(s)" +
           (devices > 0 ? ", another rank none" : "");
    return false;
  }
  set_env_defaults(shared_gpu_nccl_env(world().host(), world().rank()));
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const DevicePlacement p = place_rank(DeviceKind::kCuda, world().local_rank(),
                                       world().local_world_size(), devices, /*shared_gpu=*/true,
                                       world().host(), visible ? visible : "");
  target->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(p.index));
  return true;
#else
  (void)target;
  *why = "this build has no NCCL backend (configured with FROST_WITH_CUDA=OFF)";
  return false;
#endif
}

/// A communicator of the gradient backend of `target` over `scope`: MPI on the CPU, NCCL on the
/// target's CUDA device (shared-GPU mode: gpu_target set its variables). Collective over `scope`.
inline std::unique_ptr<comm::Communicator> gradient_comm(const Target& target,
                                                         comm::Scope scope = comm::Scope::kWorld) {
  auto c = comm::make_communicator(target.cuda() ? "nccl" : "mpi", scope,
                                   target.cuda() ? target.device.index() : -1);
  c->set_timeout(std::chrono::seconds(120));
  return c;
}

}  // namespace frost::testing

/// The first statement of a GPU test (Note [Training tests on CPU and GPU]): declares the Target
/// `var` of this rank's CUDA device, or skips the test on every rank with the reason; and keeps
/// TF32 off until the test ends.
#define FROST_GPU_TARGET_OR_SKIP(var)                                        \
  ::frost::testing::Target var;                                              \
  {                                                                          \
    std::string frost_gpu_why_;                                              \
    if (!::frost::testing::gpu_target(&var, &frost_gpu_why_))                \
      GTEST_SKIP() << "GPU test (CUDA + NCCL): " << frost_gpu_why_;          \
  }                                                                          \
  const ::frost::testing::Fp32MathGuard frost_fp32_math_guard_
