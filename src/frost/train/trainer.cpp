#include "frost/train/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "frost/comm/communicator.h"
#include "frost/core/blas_threads.h"
#include "frost/core/error.h"
#include "frost/core/fault_injection.h"
#include "frost/core/fs.h"
#include "frost/core/strings.h"
#include "frost/data/h5_dataset.h"
#include "frost/train/loader.h"
#include "frost/data/sampler.h"
#include "frost/distributed/grad_reducer.h"
#include "frost/distributed/state_sync.h"
#include "frost/models/bert.h"
#include "frost/models/pickle_file.h"
#include "frost/models/weights.h"

namespace frost::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<int64_t> parse_sizes(const std::string& s) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(s)) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------- schedule
double lr_at(const OptimConfig& optim, int64_t step, int64_t total_steps) {
  const int64_t warmup = optim.warmup_steps > 0
                             ? optim.warmup_steps
                             : static_cast<int64_t>(std::llround(optim.warmup_frac * total_steps));
  if (step < warmup) return optim.lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (optim.schedule == "constant") return optim.lr;
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1.0 + std::cos(M_PI * progress));
}

// ---------------------------------------------------------------------------- weights I/O
void save_state_dict(torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& p : module.named_parameters(true)) dict.insert(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) dict.insert(b.key(), b.value().detach());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  fs::write_file_atomic(path, bytes.data(), bytes.size());
}

namespace {
// Float inputs must be finite: a NaN would silently poison the loss or the evaluation.
void check_finite_inputs(const Batch& batch, const std::string& source, int rank) {
  if (!batch.inputs.is_floating_point()) return;
  auto bad = torch::isfinite(batch.inputs).reshape({batch.inputs.size(0), -1}).all(1).logical_not();
  if (!bad.any().item<bool>()) return;
  const int64_t row = bad.nonzero()[0][0].item<int64_t>();
  throw Error(detail::str_cat("[rank ", rank, "] ", source, ": sample ", batch.indices.at(row),
                              " has a non-finite input (NaN or Inf); clean the data"));
}

// Rows [begin, begin + rows) of a step's batch as one micro-batch. Token inputs are cut to the
// micro-batch's own width, as the loader cuts whole batches (Note [Dynamic padding]).
Batch micro_batch(const Batch& batch, int64_t begin, int64_t rows) {
  Batch mb;
  mb.inputs = batch.inputs.narrow(0, begin, rows);
  mb.labels = batch.labels.narrow(0, begin, rows);
  mb.indices.assign(batch.indices.begin() + begin, batch.indices.begin() + begin + rows);
  if (batch.attention_mask.defined()) {
    mb.attention_mask = batch.attention_mask.narrow(0, begin, rows);
    auto used = mb.attention_mask.ne(0).any(0).nonzero();
    const int64_t width = used.numel() == 0 ? 1 : used.max().item<int64_t>() + 1;
    mb.inputs = mb.inputs.narrow(1, 0, width);
    mb.attention_mask = mb.attention_mask.narrow(1, 0, width);
  }
  return mb;
}

c10::Dict<std::string, torch::Tensor> read_state_dict(const std::string& path) {
  FROST_CHECK(std::filesystem::is_regular_file(path), "model.init: '", path,
              "' is not a file (give the model.pt of an earlier run)");
  FROST_CHECK(std::ifstream(path, std::ios::binary).good(), "model.init: cannot open '", path, "'");
  c10::IValue v;
  try {
    v = models::load_pickle_file(path);
  } catch (const std::exception& e) {
    throw Error("model.init: '" + path + "' is not a Frost model.pt (torch pickle of a {name: tensor} "
                "dict): " + std::string(e.what()).substr(0, 300));
  }
  FROST_CHECK(v.isGenericDict(), "model.init: '", path, "' holds a ", v.tagKind(),
              ", expected a {name: tensor} dict");
  c10::Dict<std::string, torch::Tensor> out;
  for (const auto& entry : v.toGenericDict()) {
    FROST_CHECK(entry.key().isString() && entry.value().isTensor(), "model.init: '", path,
                "' has a non-tensor entry");
    out.insert(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}
}  // namespace

bool load_init_weights(models::ClassifierImpl& model, const std::string& path, bool load_head) {
  const auto dict = read_state_dict(path);
  torch::NoGradGuard no_grad;
  auto load_into = [&](const std::string& key, torch::Tensor& target) {
    FROST_CHECK(dict.contains(key), "model.init: '", path, "' has no '", key,
                "' (is it a model of the same model.backbone / model.width?)");
    const auto& src = dict.at(key);
    FROST_CHECK(src.sizes() == target.sizes(), "model.init: '", path, "': '", key, "' has shape ",
                src.sizes(), " but the model expects ", target.sizes());
    target.copy_(src);
  };
  int64_t expected = 0;
  for (auto& p : model.backbone->named_parameters(true)) {
    load_into("backbone." + p.key(), p.value());
    ++expected;
  }
  for (auto& b : model.backbone->named_buffers(true)) {
    load_into("backbone." + b.key(), b.value());
    ++expected;
  }
  int64_t present = 0;
  for (const auto& entry : dict) {
    if (entry.key().rfind("backbone.", 0) == 0) ++present;
  }
  FROST_CHECK(present == expected, "model.init: '", path, "' has ", present,
              " backbone tensors but the model has ", expected, " (different architecture?)");
  const bool head_fits = load_head && dict.contains("head.weight") && dict.contains("head.bias") &&
                         dict.at("head.weight").sizes() == model.head->weight.sizes();
  if (head_fits) {
    model.head->weight.copy_(dict.at("head.weight"));
    model.head->bias.copy_(dict.at("head.bias"));
  }
  return head_fits;
}

// ---------------------------------------------------------------------------- trainer
struct Trainer::Impl {
  Config cfg;
  comm::Communicator& comm;
  int rank = 0, world = 1;
  bool head_only = false;
  fault::Plan faults;
  std::optional<data::H5Dataset> train_set, test_set;
  std::unique_ptr<data::TrainSampler> sampler;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<torch::Tensor> trainable;
  int64_t total_steps = 0;
  std::ofstream metrics;
  // train.feature_cache = memory: backbone features [N, D] and labels [N] of every training
  // sample, identical on every rank (Note [Feature cache]).
  torch::Tensor cached_features, cached_labels;
  // ... and of this rank's evaluation range of data.test: [range, D], [range] (memory and disk).
  torch::Tensor cached_test_features, cached_test_labels;
  // train.feature_cache = disk: the same features as a Frost features dataset (shard files
  // under log.dir/feature_cache/, rows in training-set order), read per batch.
  std::optional<data::H5Dataset> feature_set;

  Impl(const Config& c, comm::Communicator& cm) : cfg(c), comm(cm) {}

  void write_metrics(const nlohmann::json& j) {
    if (!metrics.is_open()) return;
    metrics << j.dump() << "\n";
    metrics.flush();
  }
};

Trainer::Trainer(const Config& config, comm::Communicator& comm)
    : impl_(std::make_unique<Impl>(config, comm)) {
  Impl& s = *impl_;
  const Config& cfg = s.cfg;
  s.rank = comm.rank();
  s.world = comm.world_size();
  s.head_only = cfg.train.strategy == "head";
  s.faults = fault::plan_from_env();
  comm.set_timeout(std::chrono::milliseconds(static_cast<int64_t>(cfg.dist.timeout_s * 1000)));

  // ---- a finished run is never overwritten silently (checked before any expensive set-up;
  // rank 0 looks, as only it writes there, and every rank gets the verdict)
  {
    const std::string model_path = cfg.log.dir + "/model.pt";
    auto finished = torch::tensor({s.rank == 0 && !cfg.log.overwrite && fs::exists(model_path) ? 1 : 0}, torch::kInt);
    comm.broadcast(finished, 0);
    FROST_CHECK(finished.item<int>() == 0, "log.dir '", cfg.log.dir, "' already holds a finished run (",
                model_path, "); choose another log.dir or pass --log.overwrite true to replace it");
  }

  // ---- threads: cores / ranks on this node, unless configured
  const int64_t cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  const int64_t threads =
      cfg.train.threads > 0 ? cfg.train.threads : std::max<int64_t>(1, cores / comm.local_world_size());
  at::set_num_threads(static_cast<int>(threads));
  const std::string blas = set_blas_threads(static_cast<int>(threads));

  // ---- data (each rank opens the files; reads happen per batch, only this rank's rows)
  fault::maybe_fault(s.faults, s.rank, "open");
  const char* data_key = "data.train";
  try {
    s.train_set.emplace(data::H5Dataset::open(split_list(cfg.data.train)));
    data_key = "data.test";
    if (!cfg.data.test.empty()) s.test_set.emplace(data::H5Dataset::open(split_list(cfg.data.test)));
  } catch (const Error& e) {
    throw Error(detail::str_cat("[rank ", s.rank, "] ", data_key, ": ", e.what()));
  }
  const data::DatasetInfo& info = s.train_set->info();
  if (s.test_set) {
    const auto& ti = s.test_set->info();
    FROST_CHECK(ti.sample_shape == info.sample_shape && ti.input_kind == info.input_kind &&
                    ti.num_classes == info.num_classes,
                "[rank ", s.rank, "] data.test (", cfg.data.test, ") does not match data.train (",
                cfg.data.train, "): inputs, shapes and num_classes must agree");
  }
  const int64_t num_classes = cfg.model.num_classes > 0 ? cfg.model.num_classes : info.num_classes;
  FROST_CHECK(num_classes >= info.num_classes, "model.num_classes = ", num_classes,
              " is smaller than the data's num_classes attribute ", info.num_classes);
  // The sampler deals out whole optimizer steps: batch_size x grad_accum_steps rows per rank,
  // split into micro-batches in the step loop.
  const int64_t rows_per_step = cfg.data.batch_size * cfg.train.grad_accum_steps;
  try {
    s.sampler = std::make_unique<data::TrainSampler>(info.num_samples, s.world, s.rank, rows_per_step,
                                                     cfg.train.seed, cfg.data.shuffle, cfg.data.drop_last);
  } catch (const Error& e) {  // name the rank and the file, as the data checks do
    throw Error(detail::str_cat("[rank ", s.rank, "] data.train ", cfg.data.train, ": ", e.what()));
  }
  FROST_CHECK(s.sampler->steps_per_epoch() >= 1, "[rank ", s.rank, "] data.train has ",
              info.num_samples, " samples: too few for world size ", s.world, " x data.batch_size ",
              cfg.data.batch_size, " x train.grad_accum_steps ", cfg.train.grad_accum_steps,
              (cfg.data.drop_last ? " with data.drop_last" : ""));
  s.total_steps = cfg.train.epochs * s.sampler->steps_per_epoch();
  if (cfg.train.max_steps > 0) s.total_steps = std::min(s.total_steps, cfg.train.max_steps);

  // ---- model (seeded the same on every rank; rank 0's copy is broadcast below anyway)
  torch::manual_seed(cfg.train.seed);
  models::BackboneSpec spec;
  spec.arch = cfg.model.backbone;
  spec.width = cfg.model.width;
  spec.small_input = cfg.model.small_input;
  if (cfg.model.backbone == "mlp") {
    FROST_CHECK(info.input_kind != data::InputKind::kTokens, "model.backbone = mlp needs float features or "
                "images, but ", cfg.data.train, " holds token ids (use model.backbone = bert)");
    spec.in_features = info.sample_numel();
    spec.hidden = parse_sizes(cfg.model.mlp_hidden);
  } else if (cfg.model.backbone == "bert") {
    FROST_CHECK(cfg.model.weights.empty() || std::filesystem::is_regular_file(cfg.model.weights),
                "model.weights: '", cfg.model.weights, "' is not a file (run launch/fetch_assets.sh for the "
                "shipped MiniLM model)");
    FROST_CHECK(info.input_kind == data::InputKind::kTokens, "model.backbone = bert needs token inputs, but ",
                cfg.data.train, " holds ", data::input_kind_name(info.input_kind),
                " inputs (make text datasets with frost-prep text)");
    spec.config_path = !cfg.model.hf_config.empty()
                           ? cfg.model.hf_config
                           : std::filesystem::path(cfg.model.weights).replace_filename("config.json").string();
    spec.pooling = cfg.model.pooling;
  } else if (cfg.model.backbone == "torchscript") {
    spec.torchscript_path = cfg.model.torchscript;
    spec.feature_dim = cfg.model.feature_dim;
  } else {
    FROST_CHECK(info.input_kind == data::InputKind::kImage && info.sample_shape.size() == 3,
                "model.backbone = ", cfg.model.backbone, " needs image inputs [N, C, H, W], but ",
                cfg.data.train, " holds ", data::input_kind_name(info.input_kind), " inputs");
    spec.in_channels = info.sample_shape[0];
  }
  model_ = models::Classifier(models::make_backbone(spec), num_classes);
  if (!cfg.model.weights.empty()) {
    models::LoadOptions load;
    load.prefix_map.emplace_back(cfg.model.weights_prefix, "");
    load.allow_unexpected = split_list(cfg.model.weights_ignore);
    const auto report = models::load_weights(*model_->backbone, cfg.model.weights, load);
    if (s.rank == 0) {
      spdlog::info("model.weights: {} backbone tensors loaded from {}{}", report.loaded, cfg.model.weights,
                   report.unexpected.empty() ? "" : fmt::format(" ({} unused keys matched model.weights_ignore)",
                                                                report.unexpected.size()));
    }
  }
  if (!cfg.model.init.empty()) {
    const bool head_loaded = load_init_weights(*model_, cfg.model.init, cfg.model.init_head);
    if (s.rank == 0) {
      spdlog::info("model.init: backbone loaded from {}{}", cfg.model.init,
                   head_loaded        ? " (head too)"
                   : cfg.model.init_head ? "; head is new (class count differs)"
                                         : "; head is new (model.init_head = false)");
    }
  }

  // ---- strategy: what trains (before buckets and optimizer are built: invariant 1)
  if (s.head_only) {
    for (auto& p : model_->backbone->parameters()) p.set_requires_grad(false);
  }
  for (auto& p : model_->parameters()) {
    if (p.requires_grad()) s.trainable.push_back(p);
  }
  // BatchNorm in train mode cannot normalise one sample (its batch variance is undefined), and
  // the last, short batch of an epoch can hold one sample per rank.
  if (!s.head_only) {
    int64_t smallest = cfg.data.batch_size;  // the smallest micro-batch of an epoch
    for (const auto& b : s.sampler->epoch_batches(0)) {
      const int64_t rest = static_cast<int64_t>(b.size()) % cfg.data.batch_size;
      if (rest > 0) smallest = std::min(smallest, rest);
    }
    bool has_batchnorm = false;
    for (const auto& b : model_->named_buffers(true)) {
      if (b.key().find("running_var") != std::string::npos) has_batchnorm = true;
    }
    FROST_CHECK(!(has_batchnorm && smallest < 2), "[rank ", s.rank, "] the model has BatchNorm, which needs "
                "at least 2 samples per rank in training, but ", (smallest == cfg.data.batch_size
                ? std::string("data.batch_size is 1") : detail::str_cat("the last batch of an epoch has ",
                smallest, " sample per rank")), ": set data.drop_last = true or change data.batch_size",
                (cfg.train.grad_accum_steps > 1 ? " or train.grad_accum_steps" : ""));
  }

  // ---- replicas: same config and model everywhere, then rank 0's values everywhere
  std::ostringstream fingerprint;
  fingerprint << cfg.to_ini() << "samples " << info.num_samples << " classes " << info.num_classes
              << "\n" << distributed::module_signature(*model_);
  distributed::check_same_across_ranks(fingerprint.str(), "config, data and model", comm);
  distributed::broadcast_state(*model_, comm, 0);

  // ---- gradient buckets and optimizer over the trainable parameters only
  reducer_ = std::make_unique<distributed::GradReducer>(
      *model_, comm, static_cast<int64_t>(cfg.dist.bucket_cap_mb * 1024 * 1024));
  if (cfg.optim.name == "sgd") {
    s.optimizer = std::make_unique<torch::optim::SGD>(
        s.trainable, torch::optim::SGDOptions(cfg.optim.lr)
                         .momentum(cfg.optim.momentum)
                         .nesterov(cfg.optim.nesterov)
                         .weight_decay(cfg.optim.weight_decay));
  } else {
    s.optimizer = std::make_unique<torch::optim::AdamW>(
        s.trainable, torch::optim::AdamWOptions(cfg.optim.lr)
                         .betas({cfg.optim.beta1, cfg.optim.beta2})
                         .eps(cfg.optim.eps)
                         .weight_decay(cfg.optim.weight_decay));
  }

  if (s.rank == 0) {
    int64_t n_trainable = 0, n_total = 0;
    for (auto& p : model_->parameters()) {
      n_total += p.numel();
      if (p.requires_grad()) n_trainable += p.numel();
    }
    spdlog::info("strategy {}: {} backbone, {} of {} parameters trainable, {} bucket(s), {} threads/rank{}",
                 cfg.train.strategy, cfg.model.backbone, n_trainable, n_total,
                 reducer_->num_buckets(), threads, blas.empty() ? "" : " (" + blas + " pool too)");
    spdlog::info("data: {} train samples ({} dropped per epoch to keep ranks equal), {} steps/epoch, "
                 "global batch {} = {} ranks x {} micro-batch x {} accumulation steps",
                 info.num_samples, s.sampler->dropped_per_epoch(), s.sampler->steps_per_epoch(),
                 rows_per_step * s.world, s.world, cfg.data.batch_size, cfg.train.grad_accum_steps);
  }
}

Trainer::~Trainer() = default;

torch::optim::Optimizer& Trainer::optimizer() { return *impl_->optimizer; }

int64_t Trainer::steps_per_epoch() const { return impl_->sampler->steps_per_epoch(); }

EvalResult Trainer::evaluate() {
  Impl& s = *impl_;
  EvalResult r;
  if (!s.test_set) return r;
  model_->eval();
  torch::NoGradGuard no_grad;
  data::EvalSampler sampler(s.test_set->size(), s.world, s.rank, s.cfg.data.eval_batch_size);
  // With the feature cache, the frozen backbone's features of this rank's range are computed at
  // the first evaluation and reused (Note [Feature cache]); later evaluations score the head only.
  const bool cached = s.cfg.train.feature_cache != "off" && s.head_only;
  if (cached && !s.cached_test_features.defined()) {
    s.cached_test_features = torch::empty({sampler.size(), model_->backbone->feature_dim()});
    s.cached_test_labels = torch::empty({sampler.size()}, torch::kLong);
    BatchLoader loader(*s.test_set, sampler.batches(), static_cast<int>(s.cfg.data.prefetch));
    Batch batch;
    int64_t row = 0;
    while (loader.next(batch)) {
      check_finite_inputs(batch, "data.test " + s.cfg.data.test, s.rank);
      const int64_t b = batch.labels.size(0);
      s.cached_test_features.narrow(0, row, b).copy_(model_->backbone->forward(batch.inputs, batch.attention_mask));
      s.cached_test_labels.narrow(0, row, b).copy_(batch.labels);
      row += b;
    }
  }
  std::unique_ptr<BatchLoader> loader;
  std::vector<std::vector<int64_t>> cached_batches;
  if (cached) {
    for (int64_t b = 0; b < sampler.size(); b += s.cfg.data.eval_batch_size) {
      cached_batches.push_back({b, std::min(sampler.size(), b + s.cfg.data.eval_batch_size)});
    }
  } else {
    loader = std::make_unique<BatchLoader>(*s.test_set, sampler.batches(), static_cast<int>(s.cfg.data.prefetch));
  }
  double correct = 0, loss_sum = 0, count = 0;
  Batch batch;
  size_t next_cached = 0;
  auto next_batch = [&]() {
    if (!cached) return loader->next(batch);
    if (next_cached == cached_batches.size()) return false;
    const auto& range = cached_batches[next_cached++];
    batch.labels = s.cached_test_labels.slice(0, range[0], range[1]);
    return true;
  };
  while (next_batch()) {
    torch::Tensor logits;
    if (cached) {
      const auto& range = cached_batches[next_cached - 1];
      logits = model_->head->forward(s.cached_test_features.slice(0, range[0], range[1]));
    } else {
      check_finite_inputs(batch, "data.test " + s.cfg.data.test, s.rank);
      logits = model_->forward(batch.inputs, batch.attention_mask);
    }
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch.labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(batch.labels).sum().item<double>();
    count += static_cast<double>(batch.labels.size(0));
  }
  // One all-reduce of the sums at the end: uneven ranges need no per-batch collectives.
  auto totals = torch::tensor({correct, loss_sum, count}, torch::kDouble);
  s.comm.all_reduce(totals, comm::ReduceOp::kSum);
  r.correct = static_cast<int64_t>(totals[0].item<double>());
  r.samples = static_cast<int64_t>(totals[2].item<double>());
  r.accuracy = r.samples > 0 ? totals[0].item<double>() / totals[2].item<double>() : 0.0;
  r.loss = r.samples > 0 ? totals[1].item<double>() / totals[2].item<double>() : 0.0;
  return r;
}

// Note [Checkpoints]
// A checkpoint is what it takes to continue bit for bit: every parameter and buffer, the
// optimizer state (LibTorch's own archive, stored as bytes), the CPU RNG state (dropout), the
// global step (which fixes the LR schedule position), the epoch and the step within it (which,
// with the seeded sampler, fix the data order), the world size and the effective config.
// All ranks hold the same state (invariant 3), so global rank 0 alone writes it, atomically
// (temp file, fsync, rename; then the `latest` pointer the same way: invariant 7), and every
// rank reads the same file on resume. A checkpoint written by a different world size is
// refused (the global batch and the data order would change), as is a different config.
namespace {
std::string checkpoint_dir(const Config& cfg) { return cfg.log.dir + "/checkpoints"; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  FROST_CHECK(in.good(), "cannot read '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Lines of `a` not in `b`, for naming what differs between two configs.
std::string config_diff(const std::string& saved, const std::string& now) {
  auto lines = [](const std::string& t) {
    std::vector<std::string> out;
    std::stringstream ss(t);
    std::string l, section;
    while (std::getline(ss, l)) {
      if (!l.empty() && l[0] == '[') section = l.substr(1, l.size() - 2);
      else if (!l.empty()) out.push_back(section + "." + l);
    }
    return out;
  };
  // Keys that do not change what is computed may differ between the two runs.
  auto relevant = [](const std::vector<std::string>& in) {
    std::vector<std::string> out;
    for (const auto& l : in) {
      if (l.rfind("log.", 0) == 0 || l.rfind("checkpoint.", 0) == 0 || l.rfind("dist.timeout_s", 0) == 0 ||
          l.rfind("data.prefetch", 0) == 0 || l.rfind("train.threads", 0) == 0) {
        continue;
      }
      out.push_back(l);
    }
    return out;
  };
  const auto a = relevant(lines(saved)), b = relevant(lines(now));
  std::string diff;
  for (const auto& l : a) {
    if (std::find(b.begin(), b.end(), l) == b.end()) diff += (diff.empty() ? "" : "; ") + std::string("checkpoint has ") + l;
  }
  for (const auto& l : b) {
    if (std::find(a.begin(), a.end(), l) == a.end()) diff += (diff.empty() ? "" : "; ") + std::string("now ") + l;
  }
  return diff;
}
}  // namespace

// Note [Feature cache]
// With a frozen backbone and a deterministic input pipeline (Frost has no random augmentation),
// a sample's features are the same in every epoch, so the backbone need run only once per
// sample. Each rank extracts the features of a disjoint contiguous range of the training set
// (the evaluation ranges: every sample exactly once), then one all-gather gives every rank all
// N x D features. Training then follows the usual sampler, so the data order, the batches and
// the results are those of the uncached run (up to float rounding from computing each feature
// in a different batch); the cost is one backbone forward per sample in total instead of one
// per sample per epoch, and N x D x 4 bytes of memory per rank.
//
// train.feature_cache = disk keeps the same features in files instead of RAM, for sets whose
// N x D x 4 bytes do not fit: extraction goes in rounds; in round k every rank extracts the
// k-th chunk of its range (chunk_rows rows, a multiple of data.eval_batch_size), the chunks are
// broadcast from their ranks one after another, and rank 0 (the only writer, invariant 7)
// writes each as a shard file log.dir/feature_cache/part-RRRRR-KKKKK.h5 (write_dataset: atomic).
// Every rank then opens the shards, in rank-then-round order, which is training-set row order,
// as one features dataset and trains from it with the usual sampler and BatchLoader, reading
// only its own batches. Memory per rank: one chunk. The features are computed exactly as in
// memory mode, so the two modes give bitwise the same training. The directory is rebuilt at
// the start of every run and removed at the end of a successful one.
static void build_feature_cache(models::ClassifierImpl& model, const data::H5Dataset& set, const Config& cfg,
                         comm::Communicator& comm, torch::Tensor& features, torch::Tensor& labels) {
  const int world = comm.world_size(), rank = comm.rank();
  const int64_t n = set.size(), d = model.backbone->feature_dim();
  model.backbone->eval();
  torch::NoGradGuard no_grad;
  data::EvalSampler sampler(n, world, rank, cfg.data.eval_batch_size);
  int64_t max_rows = 0;
  for (int r = 0; r < world; ++r) max_rows = std::max(max_rows, data::EvalSampler(n, world, r, 1).size());
  auto mine = torch::zeros({max_rows, d});
  auto my_labels = torch::zeros({max_rows}, torch::kLong);
  BatchLoader loader(set, sampler.batches(), static_cast<int>(cfg.data.prefetch));
  Batch batch;
  int64_t row = 0;
  while (loader.next(batch)) {
    check_finite_inputs(batch, "data.train " + cfg.data.train, rank);
    const int64_t b = batch.labels.size(0);
    mine.narrow(0, row, b).copy_(model.backbone->forward(batch.inputs, batch.attention_mask));
    my_labels.narrow(0, row, b).copy_(batch.labels);
    row += b;
  }
  auto all = torch::empty({world * max_rows, d});
  auto all_labels = torch::empty({world * max_rows}, torch::kLong);
  comm.all_gather(mine.reshape({-1}), all.view({-1}));
  comm.all_gather(my_labels, all_labels);
  features = torch::empty({n, d});
  labels = torch::empty({n}, torch::kLong);
  for (int r = 0; r < world; ++r) {
    data::EvalSampler range(n, world, r, 1);
    features.narrow(0, range.begin(), range.size()).copy_(all.narrow(0, r * max_rows, range.size()));
    labels.narrow(0, range.begin(), range.size()).copy_(all_labels.narrow(0, r * max_rows, range.size()));
  }
}

// train.feature_cache = disk (Note [Feature cache]): extracts the backbone features of every
// training sample into shard files under `dir` (written by rank 0) and returns their paths in
// row order. Collective.
static std::vector<std::string> build_feature_cache_on_disk(models::ClassifierImpl& model, const data::H5Dataset& set,
                                                            const Config& cfg, comm::Communicator& comm,
                                                            const std::string& dir) {
  const int world = comm.world_size(), rank = comm.rank();
  const int64_t n = set.size(), d = model.backbone->feature_dim();
  model.backbone->eval();
  torch::NoGradGuard no_grad;
  // About 64 MiB of float32 features per chunk (FROST_FEATURE_CACHE_CHUNK_ROWS overrides the
  // row count), in whole evaluation batches.
  const int64_t eb = cfg.data.eval_batch_size;
  int64_t target_rows = (64LL << 20) / (4 * d);
  if (const char* env = std::getenv("FROST_FEATURE_CACHE_CHUNK_ROWS")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    FROST_CHECK(end != env && *end == '\0' && v >= 1, "FROST_FEATURE_CACHE_CHUNK_ROWS must be a positive "
                "integer, got '", env, "'");
    target_rows = v;
  }
  const int64_t chunk_rows = std::max<int64_t>(1, target_rows / eb) * eb;
  std::vector<data::EvalSampler> ranges;
  int64_t rounds = 0;
  for (int r = 0; r < world; ++r) {
    ranges.emplace_back(n, world, r, eb);
    rounds = std::max(rounds, (ranges.back().size() + chunk_rows - 1) / chunk_rows);
  }
  if (rank == 0) {
    std::filesystem::remove_all(dir);
    fs::create_directories(dir);
  }
  comm.barrier();
  BatchLoader loader(set, ranges[rank].batches(), static_cast<int>(cfg.data.prefetch));
  data::DatasetInfo info;
  info.sample_shape = {d};
  info.input_kind = data::InputKind::kFeatures;
  info.num_classes = set.info().num_classes;
  info.task = set.info().task;
  std::vector<std::string> parts(static_cast<size_t>(world * rounds));
  Batch batch;
  for (int64_t k = 0; k < rounds; ++k) {
    torch::Tensor mine, my_labels;
    const int64_t my_rows = std::clamp<int64_t>(ranges[rank].size() - k * chunk_rows, 0, chunk_rows);
    mine = torch::empty({my_rows, d});
    my_labels = torch::empty({my_rows}, torch::kLong);
    for (int64_t row = 0; row < my_rows;) {
      FROST_ASSERT(loader.next(batch), "feature cache: loader ended early in round ", k);
      check_finite_inputs(batch, "data.train " + cfg.data.train, rank);
      const int64_t b = batch.labels.size(0);
      mine.narrow(0, row, b).copy_(model.backbone->forward(batch.inputs, batch.attention_mask));
      my_labels.narrow(0, row, b).copy_(batch.labels);
      row += b;
    }
    for (int r = 0; r < world; ++r) {
      const int64_t rows = std::clamp<int64_t>(ranges[r].size() - k * chunk_rows, 0, chunk_rows);
      if (rows == 0) continue;
      auto features = r == rank ? mine : torch::empty({rows, d});
      auto labels = r == rank ? my_labels : torch::empty({rows}, torch::kLong);
      comm.broadcast(features, r);
      comm.broadcast(labels, r);
      char name[64];
      std::snprintf(name, sizeof name, "/part-%05d-%05lld.h5", r, static_cast<long long>(k));
      parts[static_cast<size_t>(r * rounds + k)] = dir + name;
      if (rank == 0) {
        info.num_samples = rows;
        data::write_dataset(dir + name, info, features.contiguous().data_ptr<float>(),
                            labels.contiguous().data_ptr<int64_t>());
      }
    }
  }
  comm.barrier();  // rank 0 has written every part
  std::vector<std::string> ordered;
  for (auto& p : parts) {
    if (!p.empty()) ordered.push_back(p);
  }
  return ordered;
}

void Trainer::save_checkpoint(int64_t epoch, int64_t step_in_epoch) {
  Impl& s = *impl_;
  if (s.rank != 0) return;  // invariant 7: one writer
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& p : model_->named_parameters(true)) state.insert(p.key(), p.value().detach());
  for (const auto& b : model_->named_buffers(true)) state.insert(b.key(), b.value().detach());
  d.insert("model", state);
  torch::serialize::OutputArchive archive;
  s.optimizer->save(archive);
  std::ostringstream optim_bytes;
  archive.save_to(optim_bytes);
  const std::string ob = optim_bytes.str();
  d.insert("optimizer", torch::from_blob(const_cast<char*>(ob.data()), {static_cast<int64_t>(ob.size())},
                                         torch::kUInt8).clone());
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    d.insert("rng", gen.get_state());
  }
  d.insert("global_step", global_step_);
  d.insert("epoch", epoch);
  d.insert("step_in_epoch", step_in_epoch);
  d.insert("world_size", static_cast<int64_t>(s.world));
  d.insert("config", s.cfg.to_ini());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(d));
  const std::string dir = checkpoint_dir(s.cfg);
  fs::create_directories(dir);
  char name[64];
  std::snprintf(name, sizeof(name), "step-%09lld.pt", static_cast<long long>(global_step_));
  const std::string fault_site = "checkpoint:" + std::to_string(global_step_);
  if (s.faults.targets(s.rank, fault_site) && s.faults.action == fault::Action::kKill) {
    // Fault injection: die half-way through writing the checkpoint's temporary file.
    std::ofstream part(fs::temp_path_for(dir + "/" + name), std::ios::binary);
    part.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    part.flush();
    fault::maybe_fault(s.faults, s.rank, fault_site);
  }
  fs::write_file_atomic(dir + "/" + name, bytes.data(), bytes.size());
  fs::write_file_atomic(dir + "/latest", std::string(name) + "\n");
  // Keep the newest checkpoint.keep files; names sort by step.
  std::vector<std::string> all;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("step-", 0) == 0 && f.size() > 3 && f.substr(f.size() - 3) == ".pt") all.push_back(f);
    // A temporary file of an earlier, killed writer (rank 0 is the only writer).
    if (f.find(".tmp.") != std::string::npos) std::filesystem::remove(e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + s.cfg.checkpoint.keep < all.size(); ++i) std::filesystem::remove(dir + "/" + all[i]);
  spdlog::info("checkpoint {}/{} (step {})", dir, name, global_step_);
}

bool Trainer::load_checkpoint(int64_t& epoch, int64_t& step_in_epoch) {
  Impl& s = *impl_;
  const Config& cfg = s.cfg;
  std::string path = cfg.resume;
  if (cfg.resume == "auto") {
    const std::string latest = checkpoint_dir(cfg) + "/latest";
    if (!fs::exists(latest)) {
      if (s.rank == 0) spdlog::info("--resume auto: no checkpoint in {}; starting fresh", checkpoint_dir(cfg));
      return false;
    }
    std::string name = read_text(latest);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    path = checkpoint_dir(cfg) + "/" + name;
  }
  FROST_CHECK(std::filesystem::is_regular_file(path), "[rank ", s.rank, "] --resume: checkpoint '", path,
              "' is not a file");
  c10::IValue v;
  try {
    v = models::load_pickle_file(path);
  } catch (const std::exception& e) {
    throw Error(detail::str_cat("[rank ", s.rank, "] --resume: '", path, "' is not a Frost checkpoint (",
                                std::string(e.what()).substr(0, 200), ")"));
  }
  FROST_CHECK(v.isGenericDict(), "[rank ", s.rank, "] --resume: '", path, "' is not a Frost checkpoint");
  auto d = v.toGenericDict();
  for (const char* k : {"model", "optimizer", "rng", "global_step", "epoch", "step_in_epoch", "world_size", "config"}) {
    FROST_CHECK(d.contains(k), "[rank ", s.rank, "] --resume: '", path, "' has no '", k, "' entry");
  }
  const int64_t saved_world = d.at("world_size").toInt();
  FROST_CHECK(saved_world == s.world, "--resume: '", path, "' was written by ", saved_world,
              " ranks; resuming on ", s.world, " would change the global batch and the data order. "
              "Resume with ", saved_world, " ranks (or start a new run from its model with model.init)");
  const std::string diff = config_diff(d.at("config").toStringRef(), cfg.to_ini());
  FROST_CHECK(diff.empty(), "--resume: '", path, "' was written with another config: ", diff);
  torch::NoGradGuard no_grad;
  auto state = d.at("model").toGenericDict();
  auto load = [&](const std::string& name, torch::Tensor t) {
    FROST_CHECK(state.contains(name), "--resume: '", path, "' has no tensor '", name, "'");
    t.copy_(state.at(name).toTensor());
  };
  for (const auto& p : model_->named_parameters(true)) load(p.key(), p.value());
  for (const auto& b : model_->named_buffers(true)) load(b.key(), b.value());
  auto ob = d.at("optimizer").toTensor().contiguous();
  std::istringstream optim_bytes(std::string(static_cast<const char*>(ob.data_ptr()), ob.numel()));
  torch::serialize::InputArchive archive;
  archive.load_from(optim_bytes);
  s.optimizer->load(archive);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(d.at("rng").toTensor());
  }
  global_step_ = d.at("global_step").toInt();
  epoch = d.at("epoch").toInt();
  step_in_epoch = d.at("step_in_epoch").toInt();
  if (s.rank == 0) {
    spdlog::info("resumed from {}: step {}, epoch {}, step {} of that epoch", path, global_step_, epoch + 1,
                 step_in_epoch);
  }
  return true;
}

std::vector<EpochSummary> Trainer::run() {
  Impl& s = *impl_;
  const Config& cfg = s.cfg;
  const bool rank0 = s.rank == 0;
  const std::string model_path = cfg.log.dir + "/model.pt";
  int64_t start_epoch = 0, skip_steps = 0;
  const bool resumed = !cfg.resume.empty() && load_checkpoint(start_epoch, skip_steps);

  // ---- run directory (global rank 0 writes shared files: invariant 7)
  if (rank0) {
    // Checked again here: another job may have finished in the same log.dir meanwhile.
    FROST_CHECK(cfg.log.overwrite || !fs::exists(model_path), "log.dir '", cfg.log.dir,
                "' already holds a finished run (", model_path,
                "); choose another log.dir or pass --log.overwrite true to replace it");
    fs::create_directories(cfg.log.dir);
    fs::write_file_atomic(cfg.log.dir + "/config.ini", cfg.to_ini());
    s.metrics.open(cfg.log.dir + "/metrics.jsonl", resumed ? std::ios::app : std::ios::trunc);
    FROST_CHECK(s.metrics.good(), "cannot write ", cfg.log.dir, "/metrics.jsonl");
  }

  const bool cached = cfg.train.feature_cache == "memory";
  const bool disk_cached = cfg.train.feature_cache == "disk";
  const std::string cache_dir = cfg.log.dir + "/feature_cache";
  if (cached) {
    const auto t0 = Clock::now();
    build_feature_cache(*model_, *s.train_set, cfg, s.comm, s.cached_features, s.cached_labels);
    if (rank0) {
      const double extraction_s = seconds_since(t0);
      spdlog::info("feature cache: {} x {} backbone features ({:.1f} MB per rank) in {:.1f} s",
                   s.cached_features.size(0), s.cached_features.size(1),
                   s.cached_features.numel() * 4 / 1e6, extraction_s);
      s.write_metrics({{"kind", "feature_cache"}, {"mode", "memory"}, {"rows", s.train_set->size()},
                       {"dim", model_->backbone->feature_dim()}, {"extraction_s", extraction_s}});
    }
  } else if (disk_cached) {
    const auto t0 = Clock::now();
    const auto parts = build_feature_cache_on_disk(*model_, *s.train_set, cfg, s.comm, cache_dir);
    try {
      s.feature_set.emplace(data::H5Dataset::open(parts));
    } catch (const Error& e) {
      throw Error(detail::str_cat("[rank ", s.rank, "] feature cache: ", e.what()));
    }
    if (rank0) {
      const double extraction_s = seconds_since(t0);
      spdlog::info("feature cache: {} x {} backbone features in {} file(s) under {} ({:.1f} MB) in {:.1f} s",
                   s.feature_set->size(), model_->backbone->feature_dim(), parts.size(), cache_dir,
                   s.feature_set->size() * model_->backbone->feature_dim() * 4 / 1e6, extraction_s);
      s.write_metrics({{"kind", "feature_cache"}, {"mode", "disk"}, {"rows", s.feature_set->size()},
                       {"dim", model_->backbone->feature_dim()}, {"extraction_s", extraction_s}});
    }
  }

  std::vector<EpochSummary> summaries;
  for (int64_t epoch = start_epoch; epoch < cfg.train.epochs && global_step_ < s.total_steps; ++epoch) {
    // Modes: full trains everything; head keeps the backbone in eval mode (invariant 6).
    model_->train();
    if (s.head_only) model_->backbone->eval();

    auto batches = s.sampler->epoch_batches(epoch);
    const int64_t first_step = epoch == start_epoch ? skip_steps : 0;  // resume inside an epoch
    batches.erase(batches.begin(), batches.begin() + std::min<int64_t>(first_step, batches.size()));
    const int64_t steps_left = s.total_steps - global_step_;
    if (static_cast<int64_t>(batches.size()) > steps_left) batches.resize(steps_left);
    const int64_t epoch_steps = static_cast<int64_t>(batches.size());
    std::unique_ptr<BatchLoader> loader;
    if (!cached) {
      loader = std::make_unique<BatchLoader>(disk_cached ? *s.feature_set : *s.train_set, batches,
                                                   static_cast<int>(cfg.data.prefetch));
    }

    EpochSummary sum;
    sum.epoch = epoch + 1;
    double loss_sum = 0, sample_count = 0;
    int64_t comm_bytes_total = 0;
    const auto epoch_t0 = Clock::now();
    Batch batch;
    for (int64_t i = 0; i < epoch_steps; ++i) {
      const auto t0 = Clock::now();
      if (cached) {
        batch.indices = batches[i];
        auto idx = torch::tensor(batch.indices, torch::kLong);
        batch.inputs = s.cached_features.index_select(0, idx);
        batch.labels = s.cached_labels.index_select(0, idx);
        batch.attention_mask = torch::Tensor();
      } else {
        FROST_ASSERT(loader->next(batch), "loader ended early at step ", i, " of ", epoch_steps);
        check_finite_inputs(batch, "data.train " + cfg.data.train, s.rank);
      }
      fault::maybe_fault(s.faults, s.rank, "step:" + std::to_string(global_step_ + 1));
      const double data_s = seconds_since(t0);

      const double lr = lr_at(cfg.optim, global_step_, s.total_steps);
      for (auto& group : s.optimizer->param_groups()) group.options().set_lr(lr);
      // No optimizer->zero_grad(): the reducer resets the trainable parameters' .grad() in
      // prepare_step() (Note [Gradients in bucket memory] in grad_reducer.cpp).
      // Gradient accumulation (Note [Micro-batches] in grad_reducer.h): the step's rows are
      // split into micro-batches of data.batch_size; each loss is weighted by its share of the
      // step's rows, so the summed gradient is that of the rank's mean loss.
      const int64_t step_rows = batch.labels.size(0);
      const int64_t micro_rows = cfg.data.batch_size;
      const int64_t micro_batches = (step_rows + micro_rows - 1) / micro_rows;
      reducer_->prepare_step(micro_batches);
      double loss_value = 0, forward_s = 0, backward_s = 0;
      bool local_nonfinite = false, skip_step = false;
      for (int64_t j = 0; j < micro_batches; ++j) {
        if (j > 0) reducer_->next_micro_batch();
        const int64_t begin = j * micro_rows, rows = std::min(micro_rows, step_rows - begin);
        const Batch mb = micro_batches == 1 ? batch : micro_batch(batch, begin, rows);
        const auto t_forward = Clock::now();
        torch::Tensor logits;
        if (cached || disk_cached) {
          logits = model_->head->forward(mb.inputs);  // inputs are the cached features
        } else if (s.head_only) {
          torch::Tensor features;
          {
            torch::NoGradGuard no_grad;  // the frozen backbone keeps no activations
            features = model_->backbone->forward(mb.inputs, mb.attention_mask);
          }
          logits = model_->head->forward(features);
        } else {
          logits = model_->forward(mb.inputs, mb.attention_mask);
        }
        auto loss = torch::nn::functional::cross_entropy(logits, mb.labels);
        const double share = static_cast<double>(rows) / static_cast<double>(step_rows);
        const double micro_loss = loss.item<double>();
        loss_value += micro_batches == 1 ? micro_loss : micro_loss * share;
        if (!std::isfinite(micro_loss)) {
          FROST_CHECK(cfg.train.nonfinite_loss == "skip", "[rank ", s.rank, "] loss is ", micro_loss,
                      " at step ", global_step_ + 1, " (epoch ", epoch + 1,
                      "): lower optim.lr or check the data for NaN/Inf (or set train.nonfinite_loss = skip)");
          local_nonfinite = true;
        }
        if (cfg.train.nonfinite_loss == "skip" && j + 1 == micro_batches) {
          // Every rank must take the same decision (invariant 2), before the last backward
          // launches any bucket: one tiny all-reduce of the count of ranks with a non-finite loss.
          auto bad = torch::tensor({local_nonfinite ? 1 : 0}, torch::kInt);
          s.comm.all_reduce(bad, comm::ReduceOp::kSum);
          if (bad.item<int>() > 0) {
            reducer_->cancel_step();
            ++global_step_;
            ++skipped_steps_;
            if (rank0) {
              spdlog::warn("step {} (epoch {}): non-finite loss on {} rank(s); the step is skipped on every rank "
                           "(train.nonfinite_loss = skip)", global_step_, epoch + 1, bad.item<int>());
              s.write_metrics({{"kind", "train"}, {"strategy", cfg.train.strategy}, {"epoch", epoch + 1},
                               {"step", global_step_}, {"skipped", true}, {"loss", nullptr}, {"lr", lr},
                               {"samples", 0}, {"comm_bytes", 0}});
            }
            skip_step = true;
            break;
          }
        }
        forward_s += seconds_since(t_forward);
        if (local_nonfinite) continue;  // skip mode: this rank's step is skipped below anyway
        const auto t_backward = Clock::now();
        (micro_batches == 1 ? loss : loss * share).backward();
        backward_s += seconds_since(t_backward);
      }
      if (skip_step) continue;
      reducer_->finalize();
      const auto t_optimizer = Clock::now();
      if (cfg.optim.grad_clip > 0) torch::nn::utils::clip_grad_norm_(s.trainable, cfg.optim.grad_clip);
      s.optimizer->step();
      const double optimizer_s = seconds_since(t_optimizer);
      ++global_step_;

      if (cfg.checkpoint.every_steps > 0 && global_step_ % cfg.checkpoint.every_steps == 0) {
        const bool epoch_done = first_step + i + 1 == s.sampler->steps_per_epoch();
        save_checkpoint(epoch_done ? epoch + 1 : epoch, epoch_done ? 0 : first_step + i + 1);
      }
      const auto rs = reducer_->last_step();
      const double step_s = seconds_since(t0);
      const double n = static_cast<double>(batch.labels.size(0));
      loss_sum += loss_value * n;
      sample_count += n;
      comm_bytes_total += rs.all_reduce_bytes;
      if (rank0) {
        const double sps = static_cast<double>(s.world) * n / step_s;
        s.write_metrics({{"kind", "train"}, {"strategy", cfg.train.strategy}, {"epoch", epoch + 1},
                         {"step", global_step_}, {"loss", loss_value}, {"lr", lr},
                         {"samples", static_cast<int64_t>(n) * s.world},
                         {"samples_per_s", sps}, {"comm_bytes", rs.all_reduce_bytes},
                         {"collectives", rs.collectives}, {"step_ms", step_s * 1e3},
                         {"data_wait_ms", data_s * 1e3}, {"forward_ms", forward_s * 1e3},
                         {"backward_ms", backward_s * 1e3}, {"comm_wait_ms", rs.wait_s * 1e3},
                         {"allreduce_ms", rs.all_reduce_s * 1e3},
                         {"optimizer_ms", optimizer_s * 1e3}});
        if ((i + 1) % cfg.log.every == 0 || i + 1 == epoch_steps) {
          spdlog::info("epoch {} | step {}/{} | loss {:.4f} | lr {:.5f} | {:.0f} samples/s | comm {:.3f} MB | {:.1f} ms",
                       epoch + 1, i + 1, epoch_steps, loss_value, lr, sps, rs.all_reduce_bytes / 1e6,
                       step_s * 1e3);
        }
      }
    }
    sum.wall_s = seconds_since(epoch_t0);
    sum.steps = epoch_steps;
    // Epoch training loss over all ranks' samples (one small all-reduce, same on every rank).
    auto totals = torch::tensor({loss_sum, sample_count}, torch::kDouble);
    s.comm.all_reduce(totals, comm::ReduceOp::kSum);
    sum.train_loss = totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
    sum.samples_per_s = totals[1].item<double>() / sum.wall_s;
    sum.comm_mb_per_step = epoch_steps > 0 ? comm_bytes_total / 1e6 / epoch_steps : 0.0;

    // One model everywhere: rank 0's BatchNorm statistics (see distributed::broadcast_buffers).
    if (!s.head_only) distributed::broadcast_buffers(*model_, s.comm, 0);
    sum.eval = evaluate();
    if (rank0) {
      s.write_metrics({{"kind", "epoch"}, {"strategy", cfg.train.strategy}, {"epoch", epoch + 1},
                       {"step", global_step_}, {"steps", epoch_steps}, {"train_loss", sum.train_loss},
                       {"wall_s", sum.wall_s}, {"samples_per_s", sum.samples_per_s}});
      if (sum.eval.samples > 0) {
        s.write_metrics({{"kind", "eval"}, {"strategy", cfg.train.strategy}, {"epoch", epoch + 1},
                         {"step", global_step_}, {"eval_accuracy", sum.eval.accuracy},
                         {"eval_loss", sum.eval.loss}, {"eval_samples", sum.eval.samples}});
      }
      spdlog::info("epoch {} done: train loss {:.4f} | test accuracy {} | {:.0f} samples/s | {:.4f} MB/step | {:.1f} s",
                   epoch + 1, sum.train_loss,
                   sum.eval.samples > 0 ? fmt::format("{:.4f} ({} samples)", sum.eval.accuracy, sum.eval.samples)
                                        : std::string("n/a (no data.test)"),
                   sum.samples_per_s, sum.comm_mb_per_step, sum.wall_s);
    }
    summaries.push_back(sum);
    const bool epoch_complete = first_step + epoch_steps == s.sampler->steps_per_epoch();
    const bool just_saved = cfg.checkpoint.every_steps > 0 && global_step_ % cfg.checkpoint.every_steps == 0;
    if (cfg.checkpoint.every_epoch && epoch_complete && !just_saved) save_checkpoint(epoch + 1, 0);
  }

  if (rank0) {
    save_state_dict(*model_, model_path);
    spdlog::info("saved {}", model_path);
    std::string format = cfg.model.export_format;
    if (format == "auto") {
      format = cfg.model.backbone.rfind("resnet", 0) == 0 ? "torchvision"
               : cfg.model.backbone == "bert"              ? "huggingface-bert"
                                                           : "none";
    }
    if (format == "huggingface-bert" && cfg.model.pooling == "mean") {
      spdlog::warn("model.pooling = mean: the exported BertForSequenceClassification classifies from "
                   "the pooler ([CLS]); to reproduce Frost's logits in transformers, mean-pool "
                   "BertModel's last_hidden_state over the attention mask and apply classifier.*");
    }
    if (format != "none") {
      models::export_model(*model_, cfg.log.dir, format);
      spdlog::info("exported {}/model.safetensors + model.json ({} names)", cfg.log.dir, format);
    }
  }
  s.comm.barrier();  // nobody reports success before the model is on disk
  if (disk_cached) {
    s.feature_set.reset();  // close the files before they go
    s.comm.barrier();
    if (rank0) std::filesystem::remove_all(cache_dir);
  }
  return summaries;
}

}  // namespace frost::train
