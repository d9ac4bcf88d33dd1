#include "frost/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

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

}  // namespace frost::train
