#include "frost/train/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "frost/core/error.h"

namespace frost::train {

c10::ScalarType compute_dtype(Precision p) {
  switch (p) {
    case Precision::kBf16: return at::kBFloat16;
    case Precision::kFp16: return at::kHalf;
    case Precision::kFp32: return at::kFloat;
  }
  return at::kFloat;
}

AutocastScope::AutocastScope(Precision precision, c10::DeviceType device) : device_(device) {
  if (precision == Precision::kFp32) return;
  FROST_CHECK(precision != Precision::kFp16 || device == c10::DeviceType::CUDA,
              "train.precision = fp16 needs a CUDA device (the ranks compute on ",
              c10::DeviceTypeName(device, /*lower_case=*/true),
              "); use train.precision = bf16 or fp32 there");
  was_enabled_ = at::autocast::is_autocast_enabled(device);
  was_dtype_ = at::autocast::get_autocast_dtype(device);
  at::autocast::set_autocast_enabled(device, true);
  at::autocast::set_autocast_dtype(device, compute_dtype(precision));
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, was_enabled_);
  at::autocast::set_autocast_dtype(device_, was_dtype_);
}

LossScaler::LossScaler(Options options) : options_(options), scale_(options.init_scale) {
  FROST_ASSERT(options.init_scale > 0 && options.growth_factor > 1 &&
                   options.backoff_factor > 0 && options.backoff_factor < 1 &&
                   options.growth_interval >= 1,
               "loss scaler options");
}

bool LossScaler::unscale_and_update(const std::vector<at::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  const double inv = 1.0 / scale_;
  at::Tensor all_finite;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    g.mul_(inv);
    const at::Tensor finite = torch::isfinite(g).all();
    all_finite = all_finite.defined() ? all_finite.logical_and(finite) : finite;
  }
  const bool ok = !all_finite.defined() || all_finite.item<bool>();
  if (ok) {
    if (++good_steps_ >= options_.growth_interval) {
      scale_ *= options_.growth_factor;
      good_steps_ = 0;
    }
  } else {
    scale_ *= options_.backoff_factor;
    good_steps_ = 0;
    ++overflows_;
  }
  return ok;
}

}  // namespace frost::train
