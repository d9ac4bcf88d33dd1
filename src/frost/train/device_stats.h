// What a run measures on a CUDA device: the time of a step's parts from timing events, and the
// peak memory of LibTorch's caching allocator. Nothing here is used, and nothing touches CUDA,
// when the ranks compute on the CPU.
//
// Note [Step timing on a GPU]
// On a GPU the host only queues a step's work (Note [One synchronisation per logged step] in
// step.h): host clocks around forward or backward measure how long queueing took, not how long
// the device worked. So on a CUDA device train_step records timing events on the device's
// current (compute) stream around each micro-batch's forward + loss, each backward, the
// reducer's finalize (the compute stream waiting for the gradients' all-reduce: the comm wait)
// and clipping + the optimizer step, and TrainBatches records two on its copy stream around each
// batch's host-to-device copy (Note [Copy stream] in feature_cache.h). An event's time is known
// once the stream has passed it; nothing waits for that: PendingSteps::read (metrics.h) turns
// the events into milliseconds after its one copy of the losses, which runs after all work
// queued so far on the compute stream, and the compute stream waited for each handed-out
// batch's copy before using it. The host never waits for an event that has not completed; the
// timings are of the device (the GPU's own clock, about 0.5 us resolution), as
// torch.cuda.Event(enable_timing=True).elapsed_time gives them in PyTorch. A phase's time is
// the time its stream spent from the first event to the second: on the compute stream that is
// the phase's kernels plus any gap in which the stream had nothing queued (the host behind), so
// a host-bound step shows that in its phases rather than as idle time.
//
// LibTorch's device-generic c10::Event with EventFlag::BACKEND_DEFAULT is, on CUDA, a CUDA event
// with timing enabled (cudaEventDefault; the default flag disables timing); the allocator's
// statistics come through c10::getDeviceAllocator(kCUDA), which is LibTorch's CUDA caching
// allocator (c10::cuda::CUDACachingAllocator). So this file needs no CUDA headers and compiles
// against a CPU-only LibTorch as well.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/Stream.h>

#include <cstdint>
#include <memory>

namespace frost::train {

/// The summed duration of intervals on the streams of one CUDA device, each marked by two
/// timing events (Note [Step timing on a GPU]). Training thread only.
class DeviceTimer {
 public:
  /// `device` must be a CUDA device (FROST_ASSERT); CPU runs never make a DeviceTimer.
  explicit DeviceTimer(const c10::Device& device);
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;

  /// Records the start of an interval on the device's current stream (or on `stream`, a stream
  /// of the device). Queues an event; never waits.
  void start();
  void start(const c10::Stream& stream);
  /// Records the end of the interval started last, on the same kind of stream as start.
  void stop();
  void stop(const c10::Stream& stream);

  /// Number of completed intervals (start + stop pairs).
  int64_t intervals() const;
  /// Seconds summed over the completed intervals (an interval started and not stopped is left
  /// out). Call when the streams have passed every recorded event (PendingSteps::read); an
  /// event that has not completed is waited for (host synchronisation: the Trainer's order never
  /// needs it).
  double elapsed_s() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The device timings of one step on a CUDA device (train_step fills them; h2d is TrainBatches'
/// copy of the step's batch).
struct StepEvents {
  explicit StepEvents(const c10::Device& device)
      : forward(device), backward(device), comm_wait(device), optimizer(device) {}
  DeviceTimer forward;    ///< forward + loss of every micro-batch
  DeviceTimer backward;   ///< backward of every micro-batch
  DeviceTimer comm_wait;  ///< GradReducer::finalize: the compute stream waiting for the all-reduces
  DeviceTimer optimizer;  ///< clipping (fp16: unscaling) and the optimizer step
};

/// Peak memory of LibTorch's CUDA caching allocator on one device since the last reset.
struct DeviceMemoryPeak {
  double allocated_mib = 0.0;  ///< allocated_bytes (aggregate pool), peak, in MiB (2^20 bytes)
  double reserved_mib = 0.0;   ///< reserved_bytes (cached segments), peak, in MiB
};

/// Resets the allocator's peak statistics of `device` (CUDA; resetPeakStats). No host sync.
void reset_peak_memory(const c10::Device& device);
/// The allocator's peaks on `device` (CUDA; getDeviceStats(index).allocated_bytes[aggregate]
/// and reserved_bytes[aggregate]) since the last reset_peak_memory. No host sync.
DeviceMemoryPeak peak_memory(const c10::Device& device);

}  // namespace frost::train
