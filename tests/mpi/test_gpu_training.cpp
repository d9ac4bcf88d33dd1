// GPU tests of the gradient reducer and of replica set-up: the bodies of the CPU tests in
// test_comm_reducer.cpp (reducer_cases.h) on CUDA parameters, their gradients all-reduced by NCCL
// in the shared-GPU mode (Note [Training tests on CPU and GPU] in device_target.h): buckets on the
// parameters' device, launched in bucket order, gradients aliasing bucket memory, micro-batch
// accumulation, bf16 buckets, replicas bitwise equal across ranks. The Trainer's GPU tests are in
// test_trainer.cpp, next to their CPU twins. Suites Gpu*: ctest gpu.mpi.world1/2 run them (Note
// [MPI test schedule] in mpi_schedule.h); without a CUDA device they skip, with the reason.
#include "device_target.h"
#include "reducer_cases.h"

namespace frost::testing {
namespace {

// Declares `var`, an NCCL communicator over the world on this rank's CUDA device (collective), or
// skips the test on every rank with the reason; TF32 stays off until the test ends.
#define FROST_NCCL_GRADIENT_COMM_OR_SKIP(var) \
  FROST_GPU_TARGET_OR_SKIP(var##_target);     \
  const auto var = gradient_comm(var##_target)

TEST(GpuReplicaSetup, BroadcastMakesReplicasIdenticalAndStepsKeepThemSoAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_replicas_identical_after_setup_and_steps(*c);
}

TEST(GpuGradReducer, UnusedParameterGetsZeroGradientAndNoHangWorld2) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_unused_parameter_gets_zero_gradient(*c);
}

TEST(GpuGradReducer, ParameterUnusedAfterAUsedStepGetsZeroGradientAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_parameter_unused_after_a_used_step_gets_zero_gradient(*c);
}

TEST(GpuGradReducer, GradientIsTheGlobalMeanWorld1World2) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_gradient_is_the_global_mean(*c);
}

TEST(GpuGradReducer, AccumulatedMicroBatchesGiveTheGlobalMeanOnceWorld1World2) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_accumulated_micro_batches_give_the_global_mean_once(*c);
}

TEST(GpuGradReducer, ParameterUnusedInTheLastMicroBatchKeepsItsGradientAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_parameter_unused_in_the_last_micro_batch_keeps_its_gradient(*c);
}

TEST(GpuGradReducer, GradientsLiveInBucketMemoryOnTheParametersDeviceAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_gradients_live_in_bucket_memory(*c);
}

TEST(GpuGradReducer, Bf16CommHalvesTheBytesAndKeepsFloat32GradientsAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_bf16_comm_halves_the_bytes(*c);
}

TEST(GpuGradReducer, SmallBucketsLaunchInOrderAndAverageAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_small_buckets_launch_in_order_and_average(*c);
}

// The event-based timeline: launch events on the compute stream, resolved after the step.
TEST(GpuGradReducer, BucketTimelineFromEventsMatchesTheBucketsAnyWorld) {
  FROST_NCCL_GRADIENT_COMM_OR_SKIP(c);
  expect_bucket_timeline_matches_the_buckets(*c);
}

}  // namespace
}  // namespace frost::testing
