#include "frost/train/device_stats.h"

#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <optional>
#include <utility>
#include <vector>

#include "frost/core/error.h"

namespace frost::train {

struct DeviceTimer::Impl {
  c10::Device device;
  c10::impl::VirtualGuardImpl guard;
  // Completed intervals, and the start of the open one. EventFlag::BACKEND_DEFAULT: timing
  // enabled (Note [Step timing on a GPU]); an event is created at its first record.
  std::vector<std::pair<c10::Event, c10::Event>> done;
  std::optional<c10::Event> open;

  explicit Impl(const c10::Device& d) : device(d), guard(d.type()) {}
  c10::Event event() const { return c10::Event(device.type(), c10::EventFlag::BACKEND_DEFAULT); }
};

DeviceTimer::DeviceTimer(const c10::Device& device) {
  FROST_ASSERT(device.is_cuda(), "DeviceTimer on ", device, ": timing events are for CUDA devices");
  impl_ = std::make_unique<Impl>(device);
}

DeviceTimer::~DeviceTimer() = default;

void DeviceTimer::start() { start(impl_->guard.getStream(impl_->device)); }
void DeviceTimer::stop() { stop(impl_->guard.getStream(impl_->device)); }

void DeviceTimer::start(const c10::Stream& stream) {
  FROST_ASSERT(!impl_->open, "DeviceTimer::start twice without stop");
  impl_->open.emplace(impl_->event());
  impl_->open->record(stream);
}

void DeviceTimer::stop(const c10::Stream& stream) {
  FROST_ASSERT(impl_->open.has_value(), "DeviceTimer::stop without start");
  c10::Event end = impl_->event();
  end.record(stream);
  impl_->done.emplace_back(std::move(*impl_->open), std::move(end));
  impl_->open.reset();
}

int64_t DeviceTimer::intervals() const { return static_cast<int64_t>(impl_->done.size()); }

double DeviceTimer::elapsed_s() const {
  double ms = 0.0;
  for (const auto& [begin, end] : impl_->done) {
    // Completed in the Trainer's order (Note [Step timing on a GPU]); the wait is a safety net.
    if (!end.query()) end.synchronize();
    ms += begin.elapsedTime(end);
  }
  return ms / 1e3;
}

namespace {
c10::DeviceAllocator& cuda_allocator(const c10::Device& device) {
  FROST_ASSERT(device.is_cuda(), "GPU memory statistics asked for ", device);
  return *c10::getDeviceAllocator(c10::DeviceType::CUDA);
}
constexpr auto kAggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
// "cuda" without an index means the current device, as for tensors.
c10::DeviceIndex index_of(const c10::Device& device) {
  return device.has_index() ? device.index()
                            : c10::impl::VirtualGuardImpl(device.type()).getDevice().index();
}
}  // namespace

void reset_peak_memory(const c10::Device& device) {
  cuda_allocator(device).resetPeakStats(index_of(device));
}

DeviceMemoryPeak peak_memory(const c10::Device& device) {
  const auto stats = cuda_allocator(device).getDeviceStats(index_of(device));
  constexpr double kMiB = 1024.0 * 1024.0;
  DeviceMemoryPeak peak;
  peak.allocated_mib = static_cast<double>(stats.allocated_bytes[kAggregate].peak) / kMiB;
  peak.reserved_mib = static_cast<double>(stats.reserved_bytes[kAggregate].peak) / kMiB;
  return peak;
}

}  // namespace frost::train
