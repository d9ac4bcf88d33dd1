#include "frost/train/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/models/models.h"
#include "frost/train/augment.h"
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

ClassReport multilabel_report(const std::vector<int64_t>& tp, const std::vector<int64_t>& predicted,
                              const std::vector<int64_t>& support) {
  FROST_CHECK(tp.size() == predicted.size() && tp.size() == support.size(),
              "multilabel counts of different sizes: ", tp.size(), ", ", predicted.size(), ", ",
              support.size());
  ClassReport r;
  r.num_classes = static_cast<int64_t>(tp.size());
  r.support = support;
  r.predicted = predicted;
  auto ratio = [](int64_t num, int64_t den) {
    return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0;
  };
  int64_t tp_sum = 0, both_sum = 0;
  double f1_sum = 0.0;
  for (size_t k = 0; k < tp.size(); ++k) {
    FROST_CHECK(tp[k] >= 0 && tp[k] <= predicted[k] && tp[k] <= support[k], "label ", k,
                ": true positives ", tp[k], " do not fit predicted ", predicted[k],
                " and support ", support[k]);
    r.precision.push_back(ratio(tp[k], predicted[k]));
    r.recall.push_back(ratio(tp[k], support[k]));
    r.f1.push_back(ratio(2 * tp[k], support[k] + predicted[k]));
    f1_sum += r.f1.back();
    tp_sum += tp[k];
    both_sum += support[k] + predicted[k];
  }
  // Note [Task metrics]: the mean over all K labels (scikit-learn's multilabel macro average).
  r.macro_f1 = tp.empty() ? 0.0 : f1_sum / static_cast<double>(tp.size());
  r.micro_f1 = ratio(2 * tp_sum, both_sum);
  return r;
}

void regression_metrics(EvalResult& r, int64_t n, const std::vector<double>& sse,
                        const std::vector<double>& sae, const std::vector<double>& sum_y,
                        const std::vector<double>& sum_y2) {
  const size_t k = sse.size();
  FROST_CHECK(sae.size() == k && sum_y.size() == k && sum_y2.size() == k && k >= 1,
              "regression sums of different sizes");
  r.target_mae.assign(k, 0.0);
  r.target_rmse.assign(k, 0.0);
  r.target_r2.assign(k, 0.0);
  r.mae = r.rmse = r.r2 = r.loss = 0.0;
  if (n <= 0) return;
  const auto dn = static_cast<double>(n);
  double sse_all = 0.0;
  for (size_t j = 0; j < k; ++j) {
    r.target_mae[j] = sae[j] / dn;
    r.target_rmse[j] = std::sqrt(sse[j] / dn);
    const double sst = sum_y2[j] - sum_y[j] * sum_y[j] / dn;
    // scikit-learn's r2_score (force_finite): a constant target scores 1 when predicted exactly.
    r.target_r2[j] = sst > 0 ? 1.0 - sse[j] / sst : (sse[j] == 0 ? 1.0 : 0.0);
    r.mae += r.target_mae[j];
    r.rmse += r.target_rmse[j];
    r.r2 += r.target_r2[j];
    sse_all += sse[j];
  }
  r.mae /= static_cast<double>(k);
  r.rmse /= static_cast<double>(k);
  r.r2 /= static_cast<double>(k);
  r.loss = sse_all / (dn * static_cast<double>(k));
}

double eval_metric_value(EvalMetric metric, const EvalResult& eval) {
  switch (metric) {
    case EvalMetric::kAccuracy: return eval.accuracy;
    case EvalMetric::kMacroF1: return eval.report.macro_f1;
    case EvalMetric::kMicroF1: return eval.report.micro_f1;
    case EvalMetric::kLoss: return eval.loss;
    case EvalMetric::kMae: return eval.mae;
    case EvalMetric::kRmse: return eval.rmse;
    case EvalMetric::kR2: return eval.r2;
  }
  return std::nan("");
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
                       device_of(model), image_options(cfg_, test_set_.info(), false));
    extract_features(*model.backbone, loader, source_, features_, labels_, cfg_.train.precision);
  }
  const c10::Device device = device_of(model);
  if (cfg_.train.task != data::Task::kClassification) return evaluate_targets(model, range, sink);
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
    BatchLoader loader(test_set_, range.batches(), static_cast<int>(cfg_.data.prefetch), device,
                       image_options(cfg_, test_set_.info(), /*training=*/false));
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

// Note [Task metrics]: multilabel and regression (no feature cache: config.cpp refuses it).
EvalResult Evaluator::evaluate_targets(models::ClassifierImpl& model, const data::EvalSampler& range,
                                       const LogitsSink& sink) {
  const c10::Device device = device_of(model);
  const int64_t k = model.head->weight.size(0);
  const bool multilabel = cfg_.train.task == data::Task::kMultilabel;
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(device);
  const auto i64 = torch::TensorOptions().dtype(torch::kLong).device(device);
  // Sums on the device, read once at the end (Note [One synchronisation per logged step]).
  // multilabel counts: [tp (K), predicted (K), support (K), exact matches (1)]; float64 sums:
  // multilabel [loss]; regression [sse (K), sae (K), sum y (K), sum y^2 (K)].
  torch::Tensor counts = torch::zeros({multilabel ? 3 * k + 1 : 1}, i64);
  torch::Tensor sums = torch::zeros({multilabel ? 1 : 4 * k}, f64);
  int64_t row = range.begin();
  BatchLoader loader(test_set_, range.batches(), static_cast<int>(cfg_.data.prefetch), device);
  Batch batch;
  while (loader.next(batch)) {
    check_finite_inputs(batch, source_);
    const Batch on = loader.to_device(batch);
    torch::Tensor out;
    {
      const AutocastScope autocast(cfg_.train.precision, device.type());
      out = model.forward(on.inputs, on.attention_mask);
    }
    out = out.to(torch::kFloat);
    const torch::Tensor& y = on.targets;
    FROST_CHECK(out.sizes() == y.sizes(), source_, ": the model has ", k, " outputs but the data ",
                y.size(1), " targets");
    if (multilabel) {
      sums += torch::nn::functional::binary_cross_entropy_with_logits(
                  out, y,
                  torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(
                      torch::kSum))
                  .to(torch::kDouble);
      const torch::Tensor pred = out.ge(0);
      const torch::Tensor truth = y.gt(0.5);
      counts.narrow(0, 0, k).add_(pred.logical_and(truth).sum(0));
      counts.narrow(0, k, k).add_(pred.sum(0));
      counts.narrow(0, 2 * k, k).add_(truth.sum(0));
      counts.narrow(0, 3 * k, 1).add_(pred.eq(truth).all(1).sum().reshape({1}));
    } else {
      const torch::Tensor e = (out.to(torch::kDouble) - y.to(torch::kDouble));
      const torch::Tensor yd = y.to(torch::kDouble);
      sums += torch::cat({e.square().sum(0), e.abs().sum(0), yd.sum(0), yd.square().sum(0)});
    }
    if (sink) sink(row, out);
    row += out.size(0);
  }
  FROST_ASSERT(row == range.end(), "scored rows up to ", row, " of the range [", range.begin(),
               ", ", range.end(), ")");
  const torch::Tensor c = counts.cpu().contiguous();
  const torch::Tensor s = sums.cpu().contiguous();
  comm_.all_reduce(c, comm::ReduceOp::kSum);
  comm_.all_reduce(s, comm::ReduceOp::kSum);
  EvalResult r;
  r.task = cfg_.train.task;
  r.samples = test_set_.size();
  const int64_t* ci = c.data_ptr<int64_t>();
  const double* si = s.data_ptr<double>();
  if (multilabel) {
    const auto at = [&](int64_t b) {
      return std::vector<int64_t>(ci + b * k, ci + (b + 1) * k);
    };
    r.report = multilabel_report(at(0), at(1), at(2));
    r.correct = ci[3 * k];
    r.accuracy = r.samples > 0 ? static_cast<double>(r.correct) / static_cast<double>(r.samples)
                               : 0.0;
    r.loss = r.samples > 0 ? si[0] / static_cast<double>(r.samples * k) : 0.0;
  } else {
    const auto at = [&](int64_t b) { return std::vector<double>(si + b * k, si + (b + 1) * k); };
    regression_metrics(r, r.samples, at(0), at(1), at(2), at(3));
  }
  return r;
}

}  // namespace frost::train
