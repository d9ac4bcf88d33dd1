#include "frost/train/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/models/models.h"
#include "frost/train/feature_cache.h"
#include "frost/train/loader.h"
#include "frost/train/placement.h"
#include "frost/train/precision.h"
#include "frost/train/step.h"

namespace frost::train {

ClassReport classification_report(const std::vector<int64_t>& confusion, int64_t num_classes) {
  FROST_CHECK(num_classes >= 0 &&
                  static_cast<int64_t>(confusion.size()) == num_classes * num_classes,
              "a confusion matrix of ", num_classes, " classes has ", num_classes * num_classes,
              " counts, got ", confusion.size());
  const auto n = static_cast<size_t>(num_classes);
  ClassReport r;
  r.num_classes = num_classes;
  r.support.assign(n, 0);
  r.predicted.assign(n, 0);
  int64_t correct = 0, total = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const int64_t m = confusion[i * n + j];
      FROST_CHECK(m >= 0, "confusion matrix count [", i, "][", j, "] is negative: ", m);
      r.support[i] += m;
      r.predicted[j] += m;
      total += m;
      if (i == j) correct += m;
    }
  }
  // Note [Classification report]: scikit-learn's zero_division=0.
  auto ratio = [](int64_t num, int64_t den) {
    return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0;
  };
  double f1_sum = 0.0;
  int64_t occurring = 0;
  for (size_t c = 0; c < n; ++c) {
    const int64_t tp = confusion[c * n + c];
    r.precision.push_back(ratio(tp, r.predicted[c]));
    r.recall.push_back(ratio(tp, r.support[c]));
    r.f1.push_back(ratio(2 * tp, r.support[c] + r.predicted[c]));
    if (r.support[c] > 0 || r.predicted[c] > 0) {
      f1_sum += r.f1.back();
      ++occurring;
    }
  }
  r.macro_f1 = occurring > 0 ? f1_sum / static_cast<double>(occurring) : 0.0;
  r.micro_f1 = ratio(2 * correct, 2 * total);
  return r;
}

Evaluator::Evaluator(const data::H5Dataset& test_set, const Config& cfg, comm::Communicator& comm,
                     std::string source)
    : test_set_(test_set),
      cfg_(cfg),
      comm_(comm),
      source_(source.empty() ? "data.test " + cfg.data.test : std::move(source)) {}

EvalResult Evaluator::evaluate(models::ClassifierImpl& model, const LogitsSink& sink) {
  model.eval();
  torch::NoGradGuard no_grad;
  const data::EvalSampler range(test_set_.size(), comm_.world_size(), comm_.rank(),
                                cfg_.data.eval_batch_size);
  const bool cached = cfg_.train.feature_cache != FeatureCacheMode::kOff;
  if (cached && !features_.defined()) {
    // On the model's device (a GPU: the head is scored there without copies).
    const auto on = torch::TensorOptions().device(device_of(model));
    features_ = torch::empty({range.size(), model.backbone->feature_dim()}, on);
    labels_ = torch::empty({range.size()}, on.dtype(torch::kLong));
    BatchLoader loader(test_set_, range.batches(), static_cast<int>(cfg_.data.prefetch),
                       device_of(model));
    extract_features(*model.backbone, loader, source_, features_, labels_, cfg_.train.precision);
  }
  const c10::Device device = device_of(model);
  const int64_t classes = model.head->weight.size(0);
  // Sums on the device, read once at the end (Note [One synchronisation per logged step]).
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(device);
  torch::Tensor loss_sum = torch::zeros({1}, f64);
  // Note [Classification report]: counts of (true, predicted) pairs, int64.
  torch::Tensor confusion =
      torch::zeros({classes * classes}, torch::TensorOptions().dtype(torch::kLong).device(device));
  int64_t row = range.begin();
  auto score = [&](const torch::Tensor& logits, const torch::Tensor& labels) {
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .to(torch::kDouble);
    confusion += torch::bincount(labels * classes + logits.argmax(1), {}, classes * classes);
    if (sink) sink(row, logits);
    row += labels.size(0);
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
      check_finite_inputs(batch, source_);
      const Batch on = loader.to_device(batch);
      torch::Tensor logits;
      {
        const AutocastScope autocast(cfg_.train.precision, device.type());
        logits = model.forward(on.inputs, on.attention_mask, on.token_type_ids);
      }
      score(logits.to(torch::kFloat), on.labels);
    }
  }
  FROST_ASSERT(row == range.end(), "scored rows up to ", row, " of the range [", range.begin(),
               ", ", range.end(), ")");
  // The totals: exact int64 counts, and the loss sum (float64; its value depends on the order
  // of the sums, so it agrees with one rank within rounding only).
  const torch::Tensor counts = confusion.cpu().contiguous();
  const torch::Tensor loss = loss_sum.cpu().contiguous();
  comm_.all_reduce(counts, comm::ReduceOp::kSum);
  comm_.all_reduce(loss, comm::ReduceOp::kSum);
  EvalResult r;
  r.confusion.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  r.report = classification_report(r.confusion, classes);
  for (int64_t c = 0; c < classes; ++c) {
    r.samples += r.report.support[static_cast<size_t>(c)];
    r.correct += r.confusion[static_cast<size_t>(c * classes + c)];
  }
  if (r.samples == 0) r.confusion.clear();
  r.accuracy = r.samples > 0 ? static_cast<double>(r.correct) / static_cast<double>(r.samples) : 0.0;
  r.loss = r.samples > 0 ? loss.item<double>() / static_cast<double>(r.samples) : 0.0;
  return r;
}

}  // namespace frost::train
