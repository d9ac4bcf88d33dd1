#include "frost/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "frost/core/error.h"

namespace frost::train {

double lr_at(const OptimConfig& optim, int64_t step, int64_t total_steps) {
  const int64_t warmup = optim.warmup_steps > 0
                             ? optim.warmup_steps
                             : static_cast<int64_t>(std::llround(optim.warmup_frac * total_steps));
  if (step < warmup) return optim.lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (optim.schedule == LrSchedule::kConstant) return optim.lr;
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1.0 + std::cos(M_PI * progress));
}

double lr_batch_factor(const OptimConfig& optim, int64_t global_batch) {
  FROST_CHECK(global_batch >= 1, "optim.lr_scaling: the global batch must be >= 1, got ",
              global_batch);
  const double ratio = static_cast<double>(global_batch) / static_cast<double>(optim.lr_ref_batch);
  switch (optim.lr_scaling) {
    case LrScaling::kNone: return 1.0;
    case LrScaling::kLinear: return ratio;
    case LrScaling::kSqrt: return std::sqrt(ratio);
  }
  return 1.0;  // unreachable: every LrScaling is handled above
}

OptimConfig scaled_for_batch(const OptimConfig& optim, int64_t global_batch) {
  const double f = lr_batch_factor(optim, global_batch);
  OptimConfig out = optim;
  out.lr = optim.lr * f;
  out.head_lr = optim.head_lr * f;
  out.min_lr = optim.min_lr * f;
  out.lr_scaling = LrScaling::kNone;
  return out;
}

std::string lr_scaling_summary(const OptimConfig& optim, int64_t global_batch) {
  std::ostringstream os;
  if (optim.lr_scaling == LrScaling::kNone) {
    os << "optim.lr " << optim.lr << " (optim.lr_scaling = none; global batch " << global_batch
       << ")";
    return os.str();
  }
  const double f = lr_batch_factor(optim, global_batch);
  os << "optim.lr " << optim.lr << " scaled " << to_string(optim.lr_scaling) << " x " << f
     << " for global batch " << global_batch << " / " << optim.lr_ref_batch << " -> "
     << optim.lr * f;
  if (optim.head_lr > 0) os << "; optim.head_lr " << optim.head_lr << " -> " << optim.head_lr * f;
  if (optim.min_lr > 0) os << "; optim.min_lr " << optim.min_lr << " -> " << optim.min_lr * f;
  return os.str();
}

}  // namespace frost::train
