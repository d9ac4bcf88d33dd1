// Unit tests of the gradient backend choice (gradient_backend in frost/train/placement.h).
#include <gtest/gtest.h>

#include <string>

#include "frost/core/error.h"
#include "frost/train/placement.h"

namespace frost::train {
namespace {

RankDevice on(c10::Device device) {
  RankDevice d;
  d.device = device;
  return d;
}

Config with_backend(CommBackend backend, DeviceKind device) {
  Config cfg;
  cfg.dist.backend = backend;
  cfg.train.device = device;
  return cfg;
}

const c10::Device kCpu(c10::kCPU);
const c10::Device kCuda1(c10::kCUDA, 1);

TEST(GradientBackend, AutoIsNcclOnCudaAndMpiOnTheCpu) {
  EXPECT_EQ(gradient_backend(with_backend(CommBackend::kAuto, DeviceKind::kAuto), on(kCuda1)),
            "nccl");
  EXPECT_EQ(gradient_backend(with_backend(CommBackend::kAuto, DeviceKind::kAuto), on(kCpu)),
            "mpi");
}

// dist.backend = mpi serves CUDA devices too: the MPI backend stages CUDA tensors through pinned
// host memory (Note [CUDA tensors on MPI] in comm/mpi/mpi_communicator.cpp).
TEST(GradientBackend, MpiTakesCpuAndCudaDevices) {
  EXPECT_EQ(gradient_backend(with_backend(CommBackend::kMpi, DeviceKind::kCpu), on(kCpu)), "mpi");
  EXPECT_EQ(gradient_backend(with_backend(CommBackend::kMpi, DeviceKind::kCuda), on(kCuda1)),
            "mpi");
}

TEST(GradientBackend, NcclOnTheCpuIsRefused) {
  EXPECT_EQ(gradient_backend(with_backend(CommBackend::kNccl, DeviceKind::kCuda), on(kCuda1)),
            "nccl");
  try {
    gradient_backend(with_backend(CommBackend::kNccl, DeviceKind::kCpu), on(kCpu));
    ADD_FAILURE() << "dist.backend = nccl was accepted on the CPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dist.backend = nccl needs CUDA tensors"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace frost::train
