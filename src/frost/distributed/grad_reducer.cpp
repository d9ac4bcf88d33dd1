#include "frost/distributed/grad_reducer.h"

#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"

namespace frost::distributed {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

// Records `event` on `device`'s current stream (Note [Bucket timeline]).
void record_on_current_stream(c10::Event& event, c10::Device device) {
  const c10::impl::VirtualGuardImpl guard(device.type());
  event.record(guard.getStream(device));
}
}  // namespace

// One device step's timeline (Note [Bucket timeline]): timing events recorded on the compute
// stream, read by resolve_timeline() once the host has waited for the device.
class DeviceTimeline {
 public:
  explicit DeviceTimeline(c10::Device d)
      : device(d),
        origin(d.type(), c10::EventFlag::BACKEND_DEFAULT),  // BACKEND_DEFAULT: timing enabled
        end(d.type(), c10::EventFlag::BACKEND_DEFAULT),
        reduced(d.type(), c10::EventFlag::PYTORCH_DEFAULT) {}

  std::unique_ptr<c10::Event> new_event() const {
    return std::make_unique<c10::Event>(device.type(), c10::EventFlag::BACKEND_DEFAULT);
  }

  c10::Device device;
  c10::Event origin, end;
  // Recorded at the end of finalize(), after the current stream was ordered behind every
  // all-reduce: once it is reached, every collective of the step has completed.
  c10::Event reduced;
  bool origin_recorded = false, end_recorded = false, reduced_recorded = false;
  std::vector<std::unique_ptr<c10::Event>> launches;  // per bucket, in launch order
  std::vector<int64_t> bytes;                         // per bucket
  std::vector<std::shared_ptr<comm::Work>> works;     // per bucket; null on one rank
};

void resolve_timeline(ReduceStats& stats) {
  if (!stats.device_timeline) return;
  std::shared_ptr<DeviceTimeline> d = std::move(stats.device_timeline);
  stats.device_timeline.reset();
  stats.buckets.clear();
  if (!d->origin_recorded || !d->end_recorded) return;  // no step was closed on it
  d->end.synchronize();
  if (d->reduced_recorded) d->reduced.synchronize();  // the all-reduces' durations are known
  // c10::Event::elapsedTime: milliseconds between two reached events (cudaEventElapsedTime).
  stats.timeline_backward_s = d->origin.elapsedTime(d->end) / 1e3;
  for (size_t i = 0; i < d->launches.size(); ++i) {
    d->launches[i]->synchronize();
    BucketTiming t;
    t.bucket = static_cast<int64_t>(i);
    t.bytes = d->bytes[i];
    // A launch by finalize() is recorded just after the end event: it counts at the end.
    t.ready_s = std::min(d->origin.elapsedTime(*d->launches[i]) / 1e3, stats.timeline_backward_s);
    const auto& work = d->works[i];
    t.allreduce_s = work && work->is_completed() ? work->duration_s() : kUnknown;
    stats.buckets.push_back(t);
  }
}

struct GradReducer::Impl {
  struct Slot {
    std::string name;
    torch::Tensor param;
    int64_t bucket = 0;
    int64_t offset = 0;  // elements into the bucket
    int64_t numel = 0;
    torch::Tensor grad_alias;  // the slot's bucket memory in the parameter's shape (see finalize)
    int64_t last_micro = -1;   // micro-batch of the slot's latest gradient this step (-1: none)
    bool filled = false;       // got its gradient of the last micro-batch
  };
  struct Bucket {
    torch::Tensor flat;          // [numel], the parameters' dtype
    torch::Tensor wire;          // [numel] in comm_dtype when it is not flat's; else undefined
    std::vector<int64_t> slots;  // indices into slots_
    int64_t pending = 0;         // slots not yet filled this step
    std::shared_ptr<comm::Work> work;
  };

  comm::Communicator& comm;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<std::pair<torch::Tensor, unsigned>> hooks;  // (param, hook id)
  double inv_world = 1.0;
  // inv_world as a 0-dim tensor (mul_out's operand; the float slot keeps its dtype).
  torch::Tensor inv_world_t;
  std::mutex mu;
  bool step_open = false;
  int64_t micro_batches = 1;  // backward passes in the open step
  int64_t micro = 0;          // the current one, in [0, micro_batches)
  int64_t next_launch = 0;    // buckets [0, next_launch) are launched
  ReduceStats last;
  // Note [Bucket timeline]. Guarded by `mu` like the rest.
  bool timeline_on = false;
  c10::Device timeline_device{c10::kCPU};  // the buckets' device; CPU: host clocks
  bool origin_set = false;                 // this step's origin is taken
  Clock::time_point origin_t;              // CPU: the origin
  std::vector<BucketTiming> timing;        // CPU: this step's launches
  std::shared_ptr<DeviceTimeline> device_timeline;  // device: this step's events

  explicit Impl(comm::Communicator& c) : comm(c) {}

  bool on_device() const { return timeline_device.type() != c10::kCPU; }

  // Takes the timeline's origin now (host clock, or an event on the current stream).
  void set_origin_locked() {
    origin_set = true;
    if (!on_device()) {
      origin_t = Clock::now();
      return;
    }
    record_on_current_stream(device_timeline->origin, timeline_device);
    device_timeline->origin_recorded = true;
  }

  // The launch of bucket `b` with `bytes` on the wire, into this step's timeline.
  void record_launch_locked(int64_t b, int64_t bytes) {
    if (!origin_set) set_origin_locked();
    if (!on_device()) {
      BucketTiming t;
      t.bucket = b;
      t.bytes = bytes;
      // A launch by finalize() counts at the end of backward, its start.
      t.ready_s = step_open ? seconds_since(origin_t) : last.timeline_backward_s;
      timing.push_back(t);
      return;
    }
    device_timeline->launches.push_back(device_timeline->new_event());
    record_on_current_stream(*device_timeline->launches.back(), timeline_device);
    device_timeline->bytes.push_back(bytes);
    device_timeline->works.emplace_back();
  }

  void launch_ready_locked() {
    while (next_launch < static_cast<int64_t>(buckets.size()) &&
           buckets[next_launch].pending == 0) {
      launch_locked(next_launch);
    }
  }

  void launch_locked(int64_t b) {
    FROST_ASSERT(b == next_launch, "bucket ", b, " launched out of order (next is ", next_launch,
                 ")");
    Bucket& bucket = buckets[b];
    ++next_launch;
    // A slot whose parameter got no gradient in this step still holds the last step's value
    // (buckets are not cleared in prepare_step: the first gradient overwrites its slot): it
    // contributes zeros.
    for (int64_t s : bucket.slots) {
      if (slots[s].last_micro < 0) bucket.flat.narrow(0, slots[s].offset, slots[s].numel).zero_();
    }
    const torch::Tensor& sent = bucket.wire.defined() ? bucket.wire : bucket.flat;
    if (timeline_on) record_launch_locked(b, sent.numel() * static_cast<int64_t>(sent.element_size()));
    if (comm.world_size() == 1) return;  // one rank: its gradient is the average; nothing to send
    torch::NoGradGuard no_grad;
    if (bucket.wire.defined()) bucket.wire.copy_(bucket.flat);  // rounds to comm_dtype
    bucket.work = comm.all_reduce_async(sent, comm::ReduceOp::kSum);
    if (timeline_on && on_device()) device_timeline->works.back() = bucket.work;
    last.collectives += 1;
    last.all_reduce_bytes += sent.numel() * static_cast<int64_t>(sent.element_size());
  }

  void on_grad(int64_t s, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> g(mu);
    if (!step_open) return;  // backward outside a step (e.g. a user's own probe): ignored
    Slot& slot = slots[s];
    FROST_CHECK(slot.last_micro != micro, "parameter '", slot.name,
                "' received a second gradient in one micro-batch: call GradReducer::prepare_step() "
                "before each step and next_micro_batch() between the backward passes of a step");
    // The first gradient of the last micro-batch is the timeline's default origin.
    if (timeline_on && !origin_set && micro + 1 == micro_batches) set_origin_locked();
    Bucket& bucket = buckets[slot.bucket];
    FROST_ASSERT(slot.bucket >= next_launch, "bucket ", slot.bucket, " already launched");
    torch::NoGradGuard no_grad;
    auto view = bucket.flat.narrow(0, slot.offset, slot.numel);
    if (slot.last_micro < 0) {  // first gradient of the step: one pass writes grad / world
      if (inv_world == 1.0) {
        view.copy_(grad.reshape({-1}));
      } else {
        at::mul_out(view, grad.reshape({-1}), inv_world_t);
      }
    } else {
      view.add_(grad.reshape({-1}), inv_world);  // Note [Micro-batches]
    }
    slot.last_micro = micro;
    if (micro + 1 < micro_batches) return;  // accumulate only; launch during the last micro-batch
    slot.filled = true;
    if (--bucket.pending == 0) launch_ready_locked();
  }
};

GradReducer::GradReducer(torch::nn::Module& model, comm::Communicator& comm,
                         int64_t bucket_cap_bytes, c10::ScalarType comm_dtype)
    : impl_(std::make_unique<Impl>(comm)) {
  FROST_CHECK(bucket_cap_bytes >= 1, "dist.bucket_cap_mb must be positive, got ", bucket_cap_bytes,
              " bytes");
  FROST_CHECK(comm_dtype == c10::ScalarType::Undefined || comm_dtype == torch::kFloat ||
                  comm_dtype == torch::kDouble || comm_dtype == torch::kBFloat16 ||
                  comm_dtype == torch::kHalf,
              "the gradient reducer all-reduces float32, float64, bfloat16 or float16, not ",
              comm_dtype);
  impl_->inv_world = 1.0 / comm.world_size();
  impl_->inv_world_t = torch::scalar_tensor(impl_->inv_world, torch::kDouble);
  auto named = model.named_parameters(/*recurse=*/true);
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  for (const auto& item : named) {
    if (item.value().requires_grad()) trainable.emplace_back(item.key(), item.value());
  }
  // Reverse registration order: the head and last layers get their gradients first.
  int64_t bucket_bytes = 0;
  c10::ScalarType bucket_dtype = c10::ScalarType::Undefined;
  std::vector<std::vector<int64_t>> bucket_slots;
  for (auto it = trainable.rbegin(); it != trainable.rend(); ++it) {
    const auto& p = it->second;
    FROST_CHECK(p.scalar_type() == torch::kFloat || p.scalar_type() == torch::kDouble,
                "parameter '", it->first, "' has dtype ", p.scalar_type(),
                "; the gradient reducer supports float32 and float64 parameters");
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const bool start_new = bucket_slots.empty() || p.scalar_type() != bucket_dtype ||
                           (bucket_bytes > 0 && bucket_bytes + bytes > bucket_cap_bytes);
    if (start_new) {
      bucket_slots.emplace_back();
      bucket_bytes = 0;
      bucket_dtype = p.scalar_type();
    }
    Impl::Slot slot;
    slot.name = it->first;
    slot.param = p;
    slot.bucket = static_cast<int64_t>(bucket_slots.size()) - 1;
    slot.numel = p.numel();
    bucket_slots.back().push_back(static_cast<int64_t>(impl_->slots.size()));
    impl_->slots.push_back(std::move(slot));
    bucket_bytes += bytes;
  }
  for (auto& members : bucket_slots) {
    Impl::Bucket bucket;
    int64_t numel = 0;
    for (int64_t s : members) {
      impl_->slots[s].offset = numel;
      numel += impl_->slots[s].numel;
    }
    bucket.flat =
        torch::zeros({numel}, impl_->slots[members.front()].param.options().requires_grad(false));
    if (comm_dtype != c10::ScalarType::Undefined && comm_dtype != bucket.flat.scalar_type()) {
      bucket.wire = torch::zeros({numel}, bucket.flat.options().dtype(comm_dtype));
    }
    // Note [Gradients in bucket memory]: after finalize() each parameter's .grad() is this
    // alias of its slot: the averaged gradient is not copied out of the bucket. The alias
    // shares the bucket's storage through set_() rather than being an autograd view, so that
    // Optimizer::zero_grad() (LibTorch 1.x: detach_() + zero_()) works on it.
    for (int64_t s : members) {
      auto& slot = impl_->slots[s];
      const auto sizes = slot.param.sizes();
      std::vector<int64_t> strides(sizes.size(), 1);  // contiguous, as the slot is filled
      for (int64_t d = static_cast<int64_t>(sizes.size()) - 2; d >= 0; --d)
        strides[d] = strides[d + 1] * sizes[d + 1];
      torch::NoGradGuard no_grad;
      slot.grad_alias = torch::empty({0}, bucket.flat.options());
      slot.grad_alias.set_(bucket.flat.storage(), slot.offset, sizes, strides);
    }
    bucket.slots = std::move(members);
    impl_->buckets.push_back(std::move(bucket));
  }
  Impl* impl = impl_.get();
  for (int64_t s = 0; s < static_cast<int64_t>(impl_->slots.size()); ++s) {
    auto& p = impl_->slots[s].param;
    unsigned id = p.register_hook([impl, s](const torch::Tensor& grad) { impl->on_grad(s, grad); });
    impl_->hooks.emplace_back(p, id);
  }
}

GradReducer::~GradReducer() {
  for (auto& [p, id] : impl_->hooks) {
    try {
      p.remove_hook(id);
    } catch (...) {
      // The parameter may already be gone; nothing to undo then.
    }
  }
}

void GradReducer::prepare_step(int64_t micro_batches) {
  FROST_CHECK(micro_batches >= 1, "GradReducer::prepare_step: micro_batches must be >= 1, got ",
              micro_batches);
  std::lock_guard<std::mutex> g(impl_->mu);
  FROST_ASSERT(!impl_->step_open, "prepare_step() called twice without finalize()");
  for (auto& b : impl_->buckets) {
    b.pending = static_cast<int64_t>(b.slots.size());
    b.work.reset();
  }
  for (auto& s : impl_->slots) {
    s.filled = false;
    s.last_micro = -1;
    // No .grad during backward: autograd then hands its fresh gradient to the parameter
    // without adding it to an old one (the hooks have already put it into the bucket).
    s.param.mutable_grad() = torch::Tensor();
  }
  impl_->micro_batches = micro_batches;
  impl_->micro = 0;
  impl_->next_launch = 0;
  impl_->last = ReduceStats{};
  impl_->origin_set = false;
  impl_->timing.clear();
  // A fresh event set per step: the last step's may still wait in a report to be resolved.
  impl_->device_timeline = impl_->timeline_on && impl_->on_device()
                               ? std::make_shared<DeviceTimeline>(impl_->timeline_device)
                               : nullptr;
  impl_->step_open = true;
}

void GradReducer::next_micro_batch() {
  std::lock_guard<std::mutex> g(impl_->mu);
  FROST_ASSERT(impl_->step_open, "next_micro_batch() without prepare_step()");
  FROST_ASSERT(impl_->micro + 1 < impl_->micro_batches, "next_micro_batch() beyond the ",
               impl_->micro_batches, " micro-batches given to prepare_step()");
  ++impl_->micro;
  for (auto& s : impl_->slots)
    s.param.mutable_grad() = torch::Tensor();  // no accumulation in .grad
}

void GradReducer::finalize() {
  const auto t0 = Clock::now();
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    FROST_ASSERT(impl_->step_open, "finalize() without prepare_step()");
    FROST_ASSERT(impl_->micro + 1 == impl_->micro_batches, "finalize() in micro-batch ",
                 impl_->micro, " of ", impl_->micro_batches,
                 " (call next_micro_batch() between backward passes)");
    impl_->step_open = false;
    if (impl_->timeline_on) {  // the end of backward (Note [Bucket timeline])
      if (!impl_->origin_set) impl_->set_origin_locked();
      if (impl_->on_device()) {
        record_on_current_stream(impl_->device_timeline->end, impl_->timeline_device);
        impl_->device_timeline->end_recorded = true;
      } else {
        impl_->last.timeline_backward_s = seconds_since(impl_->origin_t);
      }
    }
    // Buckets with slots that got no gradient carry zeros there (Note [Bucket order]).
    while (impl_->next_launch < static_cast<int64_t>(impl_->buckets.size())) {
      impl_->launch_locked(impl_->next_launch);
    }
  }
  const auto tw = Clock::now();
  for (auto& b : impl_->buckets) {
    if (!b.work) continue;
    b.work->wait();
    if (b.wire.defined()) {  // the all-reduced 16-bit sum back into the float32 bucket
      torch::NoGradGuard no_grad;
      b.flat.copy_(b.wire);
    }
  }
  impl_->last.wait_s = seconds_since(tw);
  for (auto& b : impl_->buckets) {
    if (b.work) impl_->last.all_reduce_s += b.work->duration_s();
  }
  if (impl_->timeline_on) {
    if (impl_->on_device()) {
      record_on_current_stream(impl_->device_timeline->reduced, impl_->timeline_device);
      impl_->device_timeline->reduced_recorded = true;
      impl_->last.device_timeline = std::move(impl_->device_timeline);  // resolve_timeline()
    } else {
      for (auto& t : impl_->timing) {
        const auto& work = impl_->buckets[t.bucket].work;
        if (work) t.allreduce_s = work->duration_s();
      }
      impl_->last.buckets = impl_->timing;
    }
  }
  for (auto& s : impl_->slots)
    s.param.mutable_grad() = s.grad_alias;  // Note [Gradients in bucket memory]
  impl_->last.finalize_s = seconds_since(t0);
}

void GradReducer::cancel_step() {
  std::lock_guard<std::mutex> g(impl_->mu);
  FROST_ASSERT(impl_->step_open, "cancel_step() without prepare_step()");
  FROST_ASSERT(impl_->next_launch == 0,
               "cancel_step() after buckets were launched (call it before backward)");
  impl_->step_open = false;
}

int64_t GradReducer::num_buckets() const { return static_cast<int64_t>(impl_->buckets.size()); }

std::vector<std::string> GradReducer::bucket_param_names(int64_t i) const {
  FROST_CHECK(i >= 0 && i < num_buckets(), "bucket index ", i, " outside [0, ", num_buckets(), ")");
  std::vector<std::string> names;
  for (int64_t s : impl_->buckets[i].slots) names.push_back(impl_->slots[s].name);
  return names;
}

int64_t GradReducer::bucket_numel(int64_t i) const {
  FROST_CHECK(i >= 0 && i < num_buckets(), "bucket index ", i, " outside [0, ", num_buckets(), ")");
  return impl_->buckets[i].flat.numel();
}

int64_t GradReducer::total_numel() const {
  int64_t n = 0;
  for (const auto& b : impl_->buckets) n += b.flat.numel();
  return n;
}

ReduceStats GradReducer::last_step() const { return impl_->last; }

void GradReducer::set_timeline(bool on) {
  std::lock_guard<std::mutex> g(impl_->mu);
  FROST_ASSERT(!impl_->step_open, "set_timeline() while a step is open");
  impl_->timeline_on = on;
  impl_->timeline_device =
      impl_->buckets.empty() ? c10::Device(c10::kCPU) : impl_->buckets.front().flat.device();
}

bool GradReducer::timeline() const { return impl_->timeline_on; }

void GradReducer::mark_backward_start() {
  std::lock_guard<std::mutex> g(impl_->mu);
  if (!impl_->timeline_on || !impl_->step_open) return;
  impl_->set_origin_locked();
}

}  // namespace frost::distributed
