#include "frost/train/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "frost/comm/communicator.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/models/models.h"
#include "frost/train/feature_cache.h"
#include "frost/train/loader.h"
#include "frost/train/placement.h"
#include "frost/train/precision.h"
#include "frost/train/step.h"

namespace frost::train {

Evaluator::Evaluator(const data::H5Dataset& test_set, const Config& cfg, comm::Communicator& comm)
    : test_set_(test_set), cfg_(cfg), comm_(comm) {}

EvalResult Evaluator::evaluate(models::ClassifierImpl& model) {
  model.eval();
  torch::NoGradGuard no_grad;
  const data::EvalSampler range(test_set_.size(), comm_.world_size(), comm_.rank(),
                                cfg_.data.eval_batch_size);
  const std::string source = "data.test " + cfg_.data.test;
  const bool cached = cfg_.train.feature_cache != FeatureCacheMode::kOff;
  if (cached && !features_.defined()) {
    // On the model's device (a GPU: the head is scored there without copies).
    const auto on = torch::TensorOptions().device(device_of(model));
    features_ = torch::empty({range.size(), model.backbone->feature_dim()}, on);
    labels_ = torch::empty({range.size()}, on.dtype(torch::kLong));
    BatchLoader loader(test_set_, range.batches(), static_cast<int>(cfg_.data.prefetch),
                       device_of(model));
    extract_features(*model.backbone, loader, source, features_, labels_, cfg_.train.precision);
  }
  const c10::Device device = device_of(model);
  // Sums on the device, read once at the end (Note [One synchronisation per logged step]).
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(device);
  torch::Tensor correct = torch::zeros({}, f64), loss_sum = torch::zeros({}, f64);
  double count = 0;
  auto score = [&](const torch::Tensor& logits, const torch::Tensor& labels) {
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .to(torch::kDouble);
    correct += logits.argmax(1).eq(labels).sum().to(torch::kDouble);
    count += static_cast<double>(labels.size(0));
  };
  if (cached) {
    for (int64_t b = 0; b < range.size(); b += cfg_.data.eval_batch_size) {
      const int64_t e = std::min(range.size(), b + cfg_.data.eval_batch_size);
      torch::Tensor logits;
      {
        const AutocastScope autocast(cfg_.train.precision, device.type());
        logits = model.head->forward(features_.slice(0, b, e));
      }
      score(logits.to(torch::kFloat), labels_.slice(0, b, e));
    }
  } else {
    BatchLoader loader(test_set_, range.batches(), static_cast<int>(cfg_.data.prefetch),
                       device);
    Batch batch;
    while (loader.next(batch)) {
      check_finite_inputs(batch, source);
      const Batch on = loader.to_device(batch);
      torch::Tensor logits;
      {
        const AutocastScope autocast(cfg_.train.precision, device.type());
        logits = model.forward(on.inputs, on.attention_mask);
      }
      score(logits.to(torch::kFloat), on.labels);
    }
  }
  auto totals = torch::stack({correct, loss_sum, torch::full({}, count, f64)}).cpu();
  comm_.all_reduce(totals, comm::ReduceOp::kSum);
  EvalResult r;
  r.correct = static_cast<int64_t>(totals[0].item<double>());
  r.samples = static_cast<int64_t>(totals[2].item<double>());
  r.accuracy = r.samples > 0 ? totals[0].item<double>() / totals[2].item<double>() : 0.0;
  r.loss = r.samples > 0 ? totals[1].item<double>() / totals[2].item<double>() : 0.0;
  return r;
}

}  // namespace frost::train
