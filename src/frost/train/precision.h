// Mixed precision: autocast for the forward pass and dynamic loss scaling for fp16.
//
// Note [Mixed precision]
// train.precision = fp32 | bf16 | fp16. The parameters, their gradients (bucket memory) and the
// optimizer state stay float32 ("master weights"); only the forward runs in the compute dtype,
// through LibTorch's autocast (the dispatcher casts the inputs of matmul/conv-like ops to the
// compute dtype and keeps reductions, softmax and losses in float32: the autocast op lists of
// PyTorch's "Automatic Mixed Precision" documentation). The loss is computed from float32 logits
// outside autocast. bf16 has float32's exponent range and needs no loss scaling (Kalamkar et al.
// 2019, "A Study of BFLOAT16 for Deep Learning Training"); it runs on CUDA and on CPUs.
// fp16's 5-bit exponent makes small gradients underflow, so the loss is multiplied by a scale
// before backward and the gradients divided by it after the all-reduce (Micikevicius et al. 2018,
// "Mixed Precision Training"); the scale is dynamic as in PyTorch's GradScaler (defaults: start
// 2^16, halve on an overflow, double after 2000 steps without one). The overflow check runs on the
// all-reduced gradients, which are bitwise equal on every rank, so every rank takes the same
// decision without a collective (invariant 2); an overflowed step updates nothing and is counted.
// fp16 needs a CUDA device: CPU kernels for float16 are few and slow.
#pragma once

#include <c10/core/DeviceType.h>

#include <cstdint>
#include <vector>

#include "frost/train/config.h"

namespace at {
class Tensor;
}

namespace frost::train {

/// The compute dtype of `p` for autocast: at::kBFloat16, at::kHalf, or at::kFloat (fp32: off).
c10::ScalarType compute_dtype(Precision p);

/// Autocast on `device` in the compute dtype of `precision` for the scope's lifetime (nothing for
/// fp32); restores the previous autocast state of this thread on exit and clears autocast's
/// cast cache when the outermost scope ends. Thread-local: the forward runs on the thread that
/// holds the scope. Throws frost::Error for fp16 on a device other than CUDA.
class AutocastScope {
 public:
  AutocastScope(Precision precision, c10::DeviceType device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

/// Dynamic loss scaling (Note [Mixed precision]); defaults from PyTorch's GradScaler.
class LossScaler {
 public:
  struct Options {
    double init_scale = 65536.0;   ///< 2^16
    double growth_factor = 2.0;    ///< after growth_interval steps without an overflow
    double backoff_factor = 0.5;   ///< on an overflow
    int64_t growth_interval = 2000;
  };
  LossScaler() : LossScaler(Options{}) {}
  explicit LossScaler(Options options);

  /// The factor the loss is multiplied by before backward.
  double scale() const { return scale_; }
  /// Divides `grads` (float32 gradients of any device, in place) by scale() and returns true when
  /// every element is finite; then updates the scale (grow or back off). On false the caller
  /// skips the optimizer step. One host synchronisation (the finiteness result). `grads` must be
  /// the same, all-reduced values on every rank so that every rank decides alike.
  bool unscale_and_update(const std::vector<at::Tensor>& grads);
  /// Overflowed (skipped) steps so far.
  int64_t overflows() const { return overflows_; }

 private:
  Options options_;
  double scale_;
  int64_t good_steps_ = 0;
  int64_t overflows_ = 0;
};

}  // namespace frost::train
