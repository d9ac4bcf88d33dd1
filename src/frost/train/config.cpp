#include "frost/train/config.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include "frost/core/cli.h"
#include "frost/core/error.h"
#include "frost/core/strings.h"

namespace po = boost::program_options;

namespace frost::train {

namespace {

// model.channels_last = auto on the CPU: off, as channels_last was not faster for ResNet
// training there (measurements in Note [channels_last] in model_setup.h).
constexpr bool kChannelsLastOnCpu = false;

std::string format_value(const std::string& v) { return v; }
std::string format_value(bool v) { return v ? "true" : "false"; }
// The shortest decimal form that reads back to exactly `v` (0.0005, not 0.00050000000000000001).
// std::strtod, not std::stod: stod throws std::out_of_range for a subnormal value (1e-310)
// although it reads back exactly (test Config.SubnormalNumbersWriteAndReadBack).
std::string format_value(double v) {
  for (int precision = 6; precision <= 17; ++precision) {
    std::ostringstream os;
    os << std::setprecision(precision) << v;
    if (std::strtod(os.str().c_str(), nullptr) == v || precision == 17) return os.str();
  }
  return "";
}
template <typename T>
std::string format_value(T v) {
  return std::to_string(v);
}

// ---- choices (Note [Config choices] in config.h): every value with its config text, in the
// order the "is not one of" message lists them.
template <typename E>
struct Choices;
#define FROST_CHOICES(E, ...)                                          \
  template <>                                                          \
  struct Choices<E> {                                                  \
    static constexpr std::pair<E, const char*> kAll[] = {__VA_ARGS__}; \
  }
FROST_CHOICES(BackboneKind, {BackboneKind::kResNet18, "resnet18"},
              {BackboneKind::kResNet34, "resnet34"}, {BackboneKind::kResNet50, "resnet50"},
              {BackboneKind::kMlp, "mlp"}, {BackboneKind::kBert, "bert"},
              {BackboneKind::kTorchScript, "torchscript"});
FROST_CHOICES(Pooling, {Pooling::kCls, "cls"}, {Pooling::kMean, "mean"});
FROST_CHOICES(ExportFormat, {ExportFormat::kAuto, "auto"}, {ExportFormat::kNone, "none"},
              {ExportFormat::kTorchvision, "torchvision"},
              {ExportFormat::kHuggingFaceBert, "huggingface-bert"});
FROST_CHOICES(ChannelsLast, {ChannelsLast::kAuto, "auto"}, {ChannelsLast::kOn, "on"},
              {ChannelsLast::kOff, "off"});
FROST_CHOICES(StrategyKind, {StrategyKind::kFull, "full"}, {StrategyKind::kHead, "head"},
              {StrategyKind::kLpFt, "lp-ft"}, {StrategyKind::kPartial, "partial"});
FROST_CHOICES(LpFtOptimizerState, {LpFtOptimizerState::kReset, "reset"},
              {LpFtOptimizerState::kKeep, "keep"});
FROST_CHOICES(NonfiniteLoss, {NonfiniteLoss::kStop, "stop"}, {NonfiniteLoss::kSkip, "skip"});
FROST_CHOICES(FeatureCacheMode, {FeatureCacheMode::kOff, "off"},
              {FeatureCacheMode::kMemory, "memory"}, {FeatureCacheMode::kDisk, "disk"});
FROST_CHOICES(ShuffleMode, {ShuffleMode::kAuto, "auto"}, {ShuffleMode::kGlobal, "global"},
              {ShuffleMode::kBlock, "block"});
FROST_CHOICES(OptimizerKind, {OptimizerKind::kSgd, "sgd"}, {OptimizerKind::kAdamW, "adamw"});
FROST_CHOICES(LrSchedule, {LrSchedule::kCosine, "cosine"}, {LrSchedule::kConstant, "constant"});
FROST_CHOICES(NoDecay, {NoDecay::kNone, "none"}, {NoDecay::kBias, "bias"},
              {NoDecay::kNorm, "norm"}, {NoDecay::kBiasNorm, "bias,norm"});
FROST_CHOICES(LrScaling, {LrScaling::kNone, "none"}, {LrScaling::kLinear, "linear"},
              {LrScaling::kSqrt, "sqrt"});
FROST_CHOICES(DeviceKind, {DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"},
              {DeviceKind::kCuda, "cuda"});
FROST_CHOICES(Precision, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"},
              {Precision::kFp16, "fp16"});
FROST_CHOICES(CommDtype, {CommDtype::kFp32, "fp32"}, {CommDtype::kBf16, "bf16"});
FROST_CHOICES(CommBackend, {CommBackend::kAuto, "auto"}, {CommBackend::kNccl, "nccl"},
              {CommBackend::kMpi, "mpi"});
FROST_CHOICES(EvalMetric, {EvalMetric::kAccuracy, "eval_accuracy"},
              {EvalMetric::kMacroF1, "macro_f1"}, {EvalMetric::kLoss, "eval_loss"},
              {EvalMetric::kMicroF1, "micro_f1"}, {EvalMetric::kMae, "mae"},
              {EvalMetric::kRmse, "rmse"}, {EvalMetric::kR2, "r2"});
FROST_CHOICES(data::Task, {data::Task::kClassification, "classification"},
              {data::Task::kMultilabel, "multilabel"}, {data::Task::kRegression, "regression"});
FROST_CHOICES(ModelExport, {ModelExport::kLast, "last"}, {ModelExport::kBest, "best"});
FROST_CHOICES(AugmentKind, {AugmentKind::kNone, "none"}, {AugmentKind::kFlip, "flip"},
              {AugmentKind::kCrop, "crop"}, {AugmentKind::kCropFlip, "crop_flip"});
FROST_CHOICES(NormalizeKind, {NormalizeKind::kDataset, "dataset"},
              {NormalizeKind::kImageNet, "imagenet"}, {NormalizeKind::kCustom, "custom"});
#undef FROST_CHOICES

template <typename E>
const char* choice_text(E value) {
  for (const auto& [v, text] : Choices<E>::kAll) {
    if (v == value) return text;
  }
  return "?";  // unreachable: every enumerator is in its table
}

template <typename E>
E parse_choice(const std::string& key, const std::string& text) {
  std::string list;
  for (const auto& [v, t] : Choices<E>::kAll) {
    if (text == t) return v;
    list += list.empty() ? t : std::string(" | ") + t;
  }
  throw Error("config key " + key + " = '" + text + "' is not one of: " + list);
}

// One table binds every key to its field, its help text and its printer, so that parsing,
// --help and config.ini come from the same description.
struct OptionTable {
  po::options_description desc{
      "Options (INI: [section] key = value; command line: --section.key value)"};
  std::vector<std::pair<std::string, std::function<std::string()>>> printers;
  // A choice is parsed as its text (so Boost never judges it) and converted by convert_choices.
  std::deque<std::string> choice_texts;  // a deque: Boost keeps pointers to the elements
  std::vector<std::function<void()>> converters;

  template <typename T>
  void add(const char* key, T* field, const char* help) {
    desc.add_options()(key, po::value<T>(field)->default_value(*field, format_value(*field)), help);
    printers.emplace_back(key, [field] { return format_value(*field); });
  }

  template <typename E>
  void add_choice(const char* key, E* field, const char* help) {
    std::string& text = choice_texts.emplace_back(choice_text(*field));
    desc.add_options()(key, po::value<std::string>(&text)->default_value(text, text), help);
    printers.emplace_back(key, [field] { return std::string(choice_text(*field)); });
    converters.emplace_back([key, field, &text] { *field = parse_choice<E>(key, text); });
  }

  // Converts every parsed choice, in description order; throws frost::Error for the first
  // that is not one of its key's values.
  void convert_choices() {
    for (const auto& convert : converters) convert();
  }
};

void describe(OptionTable& t, Config& c) {
  // [model]
  t.add_choice("model.backbone", &c.model.backbone,
               "backbone: resnet18 | resnet34 | resnet50 | mlp | bert | torchscript");
  t.add("model.width", &c.model.width,
        "ResNet base width (torchvision: 64); stages use w, 2w, 4w, 8w");
  t.add("model.small_input", &c.model.small_input,
        "ResNet stem for small images: 3x3 stride-1 conv, no max-pool (28x28, 32x32 inputs)");
  t.add("model.mlp_hidden", &c.model.mlp_hidden, "MLP hidden sizes, comma separated");
  t.add("model.num_classes", &c.model.num_classes,
        "classes of the head; 0 = the training data's num_classes attribute");
  t.add("model.init", &c.model.init,
        "model.pt of an earlier run: its backbone is loaded (and its head when the class count "
        "matches; otherwise a fresh head is used)");
  t.add("model.init_head", &c.model.init_head,
        "also load model.init's head when its shape fits (false: always start from a new head)");
  t.add("model.weights", &c.model.weights,
        "pretrained backbone weights: a .safetensors file or a torch.save file (.pt, .pth, .bin: "
        "torchvision, Hugging Face pytorch_model.bin, a Frost model.pt) under the source "
        "framework's names; every backbone tensor must be present");
  t.add("model.weights_key", &c.model.weights_key,
        "torch.save files: where the state dict is, as '.'-separated dict keys (e.g. 'model' for "
        "{'model': state_dict, 'optimizer': ...}); empty = the file's top-level dict");
  t.add("model.weights_prefix", &c.model.weights_prefix,
        "prefix of the backbone keys in model.weights to strip, e.g. 'bert.' for a "
        "BertForSequenceClassification checkpoint ('roberta.', 'distilbert.' for theirs)");
  t.add("model.weights_ignore", &c.model.weights_ignore,
        "comma-separated key patterns (trailing '*' = any suffix) of model.weights that may be "
        "left unused (heads of the source task)");
  t.add("model.hf_config", &c.model.hf_config,
        "bert: the checkpoint's Hugging Face config.json, whose model_type picks bert, roberta, "
        "xlm-roberta or distilbert (empty = config.json next to model.weights)");
  t.add_choice(
      "model.pooling", &c.model.pooling,
      "bert: cls (BertPooler on [CLS], as BertForSequenceClassification; DistilBERT: the first "
      "token's hidden state) | mean (mean over tokens, "
      "as sentence-transformers)");
  t.add(
      "model.torchscript", &c.model.torchscript,
      "torchscript: a module saved with torch.jit.save mapping an input batch to [B, D] features");
  t.add("model.feature_dim", &c.model.feature_dim,
        "torchscript: D, the width of its features (0 = the module's feature_dim attribute)");
  t.add_choice(
      "model.export_format", &c.model.export_format,
      "also export model.safetensors + model.json under the source framework's names: auto "
      "(resnet -> torchvision, bert -> huggingface-bert (RoBERTa too; not DistilBERT), else "
      "none) | "
      "none | torchvision | "
      "huggingface-bert");
  t.add_choice("model.channels_last", &c.model.channels_last,
               "ResNet: parameters and input images in the channels_last (NHWC) memory layout, "
               "which cuDNN's tensor-core convolutions prefer: auto (on for CUDA devices, off on "
               "the CPU, where it was not faster) | on | off; on with another backbone is an error");
  // [data]
  t.add("data.train", &c.data.train, "training HDF5 file(s): path, glob or comma-separated list");
  t.add("data.test", &c.data.test, "evaluation HDF5 file(s); empty = no evaluation");
  t.add(
      "data.batch_size", &c.data.batch_size,
      "per-rank micro-batch; the global batch is batch_size x train.grad_accum_steps x world size");
  t.add("data.eval_batch_size", &c.data.eval_batch_size, "per-rank evaluation batch");
  t.add("data.prefetch", &c.data.prefetch, "batches the loader thread reads ahead");
  t.add("data.shuffle", &c.data.shuffle,
        "shuffle every epoch with a permutation seeded by (train.seed, epoch)");
  t.add("data.drop_last", &c.data.drop_last, "drop the last, short global batch of each epoch");
  t.add_choice("data.shuffle_mode", &c.data.shuffle_mode,
               "auto (block when the training set's compressed data does not fit "
               "data.chunk_cache_mb decoded, else global) | global (one permutation of all "
               "samples) | block (permuted chunks, each rank its own, shuffled in windows of "
               "data.shuffle_buffer rows: each chunk decoded once per epoch)");
  t.add("data.shuffle_buffer", &c.data.shuffle_buffer,
        "block shuffle: rows per shuffle window (rounded down to a multiple of the rows per "
        "step); 0 = as many as data.chunk_cache_mb holds decoded");
  t.add("data.chunk_cache_mb", &c.data.chunk_cache_mb,
        "MiB of decoded chunks of compressed data kept in memory per dataset and rank (>= 0)");
  t.add_choice("data.augment", &c.data.augment,
               "images, on the loader thread from a generator per (train.seed, epoch, sample): "
               "none (the stored pixels) | flip (training: horizontal flip, p = 0.5) | crop "
               "(training: random resized crop to data.image_size; evaluation: resize + centre "
               "crop) | crop_flip (both; torchvision's RandomResizedCrop + RandomHorizontalFlip)");
  t.add("data.image_size", &c.data.image_size,
        "images: side of the square images the model gets, in pixels (0 = the stored size); "
        "without crop, a size other than the stored one resizes the whole image (bilinear, "
        "antialiased)");
  t.add("data.crop_scale", &c.data.crop_scale,
        "crop: min,max fraction of the image area a training crop covers, in (0, 1] "
        "(torchvision's scale)");
  t.add("data.crop_ratio", &c.data.crop_ratio,
        "crop: min,max aspect ratio (width / height) of a training crop, > 0, sampled "
        "log-uniformly (torchvision's ratio)");
  t.add("data.eval_crop_pct", &c.data.eval_crop_pct,
        "crop: evaluation resizes the shorter side to round(image_size / eval_crop_pct), then "
        "crops the centre image_size square; in (0, 1] (timm's crop_pct; 0.875 = 224 of 256)");
  t.add_choice("data.normalize", &c.data.normalize,
               "images, (x / 255 - mean) / std per channel with: dataset (the file's mean/std "
               "attributes) | imagenet (0.485,0.456,0.406 / 0.229,0.224,0.225, what pretrained "
               "torchvision and timm weights expect; 3 channels) | custom (data.mean / data.std)");
  t.add("data.mean", &c.data.norm_mean,
        "normalize = custom: mean of x / 255 per channel, comma separated (e.g. 0.5,0.5,0.5)");
  t.add("data.std", &c.data.norm_std,
        "normalize = custom: standard deviation of x / 255 per channel, comma separated, > 0");
  // [train]
  t.add_choice("train.strategy", &c.train.strategy,
               "full (everything trains) | head (frozen backbone + linear head, a linear probe) "
               "| lp-ft (head for train.lp_epochs epochs, then full; Kumar et al. 2022) | partial "
               "(the head and the last train.unfreeze_last backbone blocks and/or the parameters "
               "train.trainable names; the rest frozen as in head)");
  t.add("train.epochs", &c.train.epochs, "epochs over the training set");
  t.add("train.lp_epochs", &c.train.lp_epochs,
        "lp-ft: epochs of the head phase (>= 1, < train.epochs); the later epochs train "
        "everything, with buckets and optimizer rebuilt at the switch");
  t.add_choice("train.lp_ft_optimizer_state", &c.train.lp_ft_optimizer_state,
               "lp-ft: the head's optimizer state (momentum, Adam moments) at the switch to full: "
               "reset (a fresh optimizer, as LP-FT's separate fine-tuning run) | keep (carried "
               "over; the backbone's starts empty)");
  t.add("train.unfreeze_last", &c.train.unfreeze_last,
        "partial: the last K backbone blocks train with the head (blocks: ResNet stem + residual "
        "blocks, BERT embeddings / layers / pooler when it trains, MLP Linear layers); 0 = none; K "
        "larger than the backbone's blocks is an error");
  t.add("train.trainable", &c.train.trainable,
        "partial: comma-separated glob patterns ('*', '?', '[...]') over the classifier's parameter names "
        "that also train, e.g. backbone.layer4.*,backbone.bn1.*; a pattern matching nothing is an "
        "error");
  t.add("train.unfreeze_every", &c.train.unfreeze_every,
        "partial: gradual unfreezing (ULMFiT): epoch e (0-based) trains the last "
        "min(blocks, unfreeze_last + floor(e / E)) blocks, one more every E epochs; 0 = off");
  t.add("train.seed", &c.train.seed, "seed of model init and data order (the same on every rank)");
  t.add("train.threads", &c.train.threads,
        "intra-op threads per rank; 0 = the CPUs this rank may use / ranks sharing them");
  t.add("train.max_steps", &c.train.max_steps,
        "stop after this many optimizer steps (0 = no limit)");
  t.add("train.grad_accum_steps", &c.train.grad_accum_steps,
        "gradient accumulation: micro-batches of data.batch_size per rank per optimizer step; "
        "gradients are all-reduced once per step, after the last micro-batch");
  t.add_choice(
      "train.nonfinite_loss", &c.train.nonfinite_loss,
      "on a NaN/Inf loss: stop (end the job naming step and rank) | skip (skip that step on every "
      "rank; costs one tiny all-reduce per step)");
  t.add("train.deterministic", &c.train.deterministic,
        "deterministic kernels on the GPU: LibTorch's deterministic algorithms (an op without "
        "one ends the run naming it), cuDNN without benchmark, CUBLAS_WORKSPACE_CONFIG=:4096:8 "
        "unless set; repeated GPU runs then give bitwise the same weights, at some speed");
  t.add_choice(
      "train.feature_cache", &c.train.feature_cache,
      "head strategy: off | memory | disk. The frozen backbone runs once per training sample "
      "before the first epoch (each rank a disjoint range) and every epoch trains the head from "
      "those features in the usual data order. memory: all-gathered into every rank's RAM "
      "(N x D x 4 bytes per rank); disk: written by rank 0 as HDF5 files under "
      "log.dir/feature_cache/ and read per batch like the training data");
  t.add_choice("train.device", &c.train.device,
               "auto (a CUDA device when the process sees one, else the CPU) | cpu | cuda. A rank "
               "uses cuda:<local rank> of the devices it sees (CUDA_VISIBLE_DEVICES honoured; one "
               "visible device is used by its rank whatever the local rank); two ranks on one GPU "
               "are refused unless dist.shared_gpu");
  t.add("train.early_stopping_patience", &c.train.early_stopping_patience,
        "stop after this many evaluations in a row without an improvement of eval.metric, on "
        "every rank alike (0 = off; needs data.test)");
  t.add_choice("train.task", &c.train.task,
               "classification (/labels, cross-entropy) | multilabel (/targets 0/1 [N, K], "
               "binary cross-entropy per label) | regression (/targets float [N, K], mean squared "
               "error); the data files' task attribute must name the same task");
  t.add_choice("train.precision", &c.train.precision,
               "compute dtype of the forward: fp32 | bf16 (autocast; CUDA and CPU) | fp16 "
               "(autocast with dynamic loss scaling; CUDA only). Weights, gradients, all-reduce "
               "and optimizer state stay float32");
  // [optim]
  t.add_choice("optim.name", &c.optim.name, "optimizer: sgd | adamw");
  t.add("optim.lr", &c.optim.lr, "peak learning rate");
  t.add("optim.momentum", &c.optim.momentum, "SGD momentum");
  t.add("optim.nesterov", &c.optim.nesterov, "SGD Nesterov momentum");
  t.add("optim.weight_decay", &c.optim.weight_decay,
        "weight decay (SGD: L2 in the gradient; AdamW: decoupled)");
  t.add("optim.beta1", &c.optim.beta1, "AdamW beta1");
  t.add("optim.beta2", &c.optim.beta2, "AdamW beta2");
  t.add("optim.eps", &c.optim.eps, "AdamW epsilon");
  t.add_choice("optim.schedule", &c.optim.schedule,
               "learning-rate schedule after warmup: cosine | constant");
  t.add("optim.warmup_frac", &c.optim.warmup_frac, "fraction of all steps in linear warmup from 0");
  t.add("optim.warmup_steps", &c.optim.warmup_steps,
        "warmup steps (overrides warmup_frac when > 0)");
  t.add("optim.min_lr", &c.optim.min_lr, "learning rate at the end of the cosine schedule");
  t.add("optim.grad_clip", &c.optim.grad_clip,
        "clip the global gradient L2 norm to this (0 = off)");
  t.add("optim.head_lr", &c.optim.head_lr,
        "the head's peak learning rate (0 = optim.lr); follows the same schedule, warmup and "
        "optim.lr_scaling");
  t.add("optim.layer_decay", &c.optim.layer_decay,
        "layer-wise learning-rate decay (1 = off): backbone block i of n (stem, numbered blocks, "
        "tail) learns at layer_decay^(n - i) times the rate, the head at 1x (BEiT, timm's "
        "param_groups_layer_decay)");
  t.add_choice("optim.no_decay", &c.optim.no_decay,
               "parameters without weight decay: bias,norm (biases and other 1-d parameters: "
               "normalisation weights; as timm and Hugging Face's Trainer) | bias | norm | none "
               "(weight decay on everything, Frost's behaviour before this key)");
  t.add("optim.label_smoothing", &c.optim.label_smoothing,
        "label smoothing of the training cross-entropy in [0, 1) (PyTorch's "
        "cross_entropy(label_smoothing=)); evaluation uses plain cross-entropy");
  t.add_choice("optim.lr_scaling", &c.optim.lr_scaling,
               "scale optim.lr, optim.head_lr and optim.min_lr for the global batch B: none | "
               "linear (x B / optim.lr_ref_batch; Goyal et al. 2017) | sqrt (x sqrt(B / "
               "optim.lr_ref_batch))");
  t.add("optim.lr_ref_batch", &c.optim.lr_ref_batch,
        "the global batch the learning rates are given for (optim.lr_scaling)");
  // [dist]
  t.add("dist.bucket_cap_mb", &c.dist.bucket_cap_mib,
        "gradient bucket cap in MiB (PyTorch DDP default: 25)");
  t.add("dist.timeout_s", &c.dist.timeout_s,
        "seconds a collective may wait before the whole job is ended with an error");
  t.add_choice("dist.backend", &c.dist.backend,
               "all-reduce backend of the gradients: auto (nccl on a CUDA device, mpi on the CPU) "
               "| nccl | mpi");
  t.add_choice("dist.comm_dtype", &c.dist.comm_dtype,
               "dtype of the gradient all-reduce: fp32 | bf16 (each bucket is rounded to bfloat16 "
               "for the all-reduce, half the bytes, and the sum copied back into its float32 "
               "bucket; after PyTorch DDP's bf16_compress_hook)");
  t.add("dist.shared_gpu", &c.dist.shared_gpu,
        "test only: let the ranks of a node share a GPU (NCCL over sockets with a distinct "
        "NCCL_HOSTID per rank; correct, not fast)");
  // [log]
  t.add("log.dir", &c.log.dir, "run directory: config.ini, metrics.jsonl, model.pt");
  t.add("log.level", &c.log.level, "log level: trace | debug | info | warn | error");
  t.add("log.every", &c.log.every, "progress line every this many steps (rank 0)");
  t.add(
      "checkpoint.every_steps", &c.checkpoint.every_steps,
      "write a checkpoint every this many optimizer steps (0 = off); rank 0 writes it atomically");
  t.add("checkpoint.every_epoch", &c.checkpoint.every_epoch,
        "write a checkpoint at the end of every epoch");
  t.add("checkpoint.keep", &c.checkpoint.keep,
        "checkpoints kept in log.dir/checkpoints (oldest removed)");
  t.add("checkpoint.keep_best", &c.checkpoint.keep_best,
        "keep the model of the best evaluation of eval.metric as log.dir/best/model.pt (rank 0, "
        "atomically; with best.json: metric, value, epoch, step); needs data.test");
  t.add_choice("checkpoint.export", &c.checkpoint.export_model,
               "the model saved as log.dir/model.pt at the end: last | best (the kept best; "
               "needs checkpoint.keep_best)");
  // [eval]
  t.add_choice("eval.metric", &c.eval.metric,
               "what 'best' means for checkpoint.keep_best and train.early_stopping_patience: "
               "eval_accuracy | macro_f1 | micro_f1 | r2 (higher is better) | eval_loss | mae | "
               "rmse (lower is better); classification and multilabel: eval_accuracy (multilabel: "
               "exact match), macro_f1, micro_f1, eval_loss; regression: eval_loss (MSE), mae, "
               "rmse, r2. Default: eval_accuracy, or eval_loss for train.task = regression");
  t.add("log.overwrite", &c.log.overwrite,
        "allow starting in a run directory that already holds a finished run (its outputs are "
        "replaced)");
  t.add("log.bucket_timeline", &c.log.bucket_timeline,
        "write a 'buckets' record per step to metrics.jsonl: each gradient bucket's bytes, "
        "launch time in backward and all-reduce time (rank 0)");
  t.add("log.csv", &c.log.csv,
        "also write the training steps, epochs and evaluations as log.dir/train.csv, epoch.csv "
        "and eval.csv (the scalars of metrics.jsonl; rank 0)");
}

std::string suggestion(const std::string& key) {
  const int64_t limit = std::max<int64_t>(3, static_cast<int64_t>(key.size()) / 3);
  std::string best;
  int64_t best_d = 1 << 30;
  for (const auto& k : option_keys()) {
    // The edit distance is at least the difference in length: a key of a few kB (a garbled
    // INI file) is not compared character by character with every option.
    if (std::abs(static_cast<int64_t>(key.size()) - static_cast<int64_t>(k.size())) > limit)
      continue;
    const int64_t d = edit_distance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  if (best.empty() || best_d > limit) return "";
  return " (did you mean '" + best + "'?)";
}

std::string strip_dashes(std::string s) {
  while (!s.empty() && s.front() == '-') s.erase(s.begin());
  return s;
}

// Bytes of user input a message quotes at most (a binary file's "line" can be kilobytes long).
constexpr size_t kQuotedBytes = 80;

// Boost's white space around lines, keys and values (trim_ws in its config_file.cpp).
std::string trim_ini(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

// Note [Config file lines]
// Boost.Program_options reads an INI file line by line, but its errors carry no line number and
// quote the file's bytes as they are (a binary file given as --config filled the terminal with
// them). So the file is read once into memory and scanned with Boost's own line grammar
// (common_config_file_iterator::get in Boost 1.74's config_file.cpp: text from '#' on is a
// comment, " \t\r\n" around a line is trimmed, "[section]" makes "section." the prefix of the
// keys after it, any other non-empty line must be "key = value"), noting the lines of every key
// and the first line Boost will reject. Boost then parses the same text and stays the judge of
// what is valid (and of which error comes first); the scan only supplies line numbers. Every
// piece of the file or the command line that a message quotes goes through printable().
struct IniLines {
  std::map<std::string, std::vector<int64_t>> key_lines;  // "section.key" -> lines, 1-based
  int64_t first_bad_line = 0;                             // 0: none
  std::string first_bad_text;  // that line without its comment and surrounding white space
};

IniLines scan_ini(const std::string& text) {
  IniLines lines;
  std::istringstream in(text);
  std::string line, prefix;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    const std::string s = trim_ini(line.substr(0, line.find('#')));
    if (s.empty()) continue;
    if (s.front() == '[' && s.back() == ']') {
      prefix = s.substr(1, s.size() - 2);
      if (prefix.empty() || prefix.back() != '.') prefix += '.';
    } else if (const size_t eq = s.find('='); eq != std::string::npos) {
      lines.key_lines[prefix + trim_ini(s.substr(0, eq))].push_back(number);
    } else if (lines.first_bad_line == 0) {
      lines.first_bad_line = number;
      lines.first_bad_text = s;
    }
  }
  return lines;
}

// "line 3" or "lines 3, 7": where the file sets `key`; "" when the scan did not see it.
std::string lines_of(const IniLines& lines, const std::string& key) {
  const auto it = lines.key_lines.find(key);
  if (it == lines.key_lines.end()) return "";
  std::string out = it->second.size() == 1 ? "line " : "lines ";
  for (size_t i = 0; i < it->second.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(it->second[i]);
  }
  return out;
}

// Stores the INI file `path` into `vm` as po::parse_config_file would. Errors name the file
// and the line (Note [Config file lines]).
void store_config_file(const std::string& path, const po::options_description& desc,
                       po::variables_map& vm) {
  // An ifstream opens a directory without complaint on Linux and reads nothing from it: the run
  // would go on with the defaults, as if the file were empty.
  std::error_code ec;
  FROST_CHECK(!std::filesystem::is_directory(path, ec), "config file '", printable(path),
              "' is a directory; give an INI file");
  std::ifstream file(path, std::ios::binary);
  FROST_CHECK(file.good(), "cannot open config file '", printable(path), "'");
  std::ostringstream bytes;
  bytes << file.rdbuf();
  const std::string text = bytes.str();
  const IniLines lines = scan_ini(text);
  with_error_context("config file '" + printable(path) + "'", [&] {
    std::istringstream in(text);
    try {
      po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
    } catch (const po::unknown_option& e) {
      const std::string key = strip_dashes(e.get_option_name());
      const std::string where = lines_of(lines, key);
      throw Error("unknown key '" + printable(key, kQuotedBytes) + "'" +
                  (where.empty() ? "" : " on " + where) + suggestion(key));
    } catch (po::invalid_config_file_syntax& e) {
      if (lines.first_bad_line == 0) throw Error(printable(cli::error_text(e)));
      throw Error(detail::str_cat("line ", lines.first_bad_line,
                                  " is not 'key = value', '[section]' or a '#' comment: '",
                                  printable(lines.first_bad_text, kQuotedBytes), "'"));
    } catch (po::error& e) {
      const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
      const std::string where =
          named ? lines_of(lines, strip_dashes(named->get_option_name())) : "";
      throw Error((where.empty() ? "" : where + ": ") + printable(cli::error_text(e)));
    }
  });
}

}  // namespace

const char* to_string(BackboneKind v) { return choice_text(v); }
const char* to_string(Pooling v) { return choice_text(v); }
const char* to_string(ExportFormat v) { return choice_text(v); }
const char* to_string(ChannelsLast v) { return choice_text(v); }
const char* to_string(StrategyKind v) { return choice_text(v); }
const char* to_string(LpFtOptimizerState v) { return choice_text(v); }
const char* to_string(NonfiniteLoss v) { return choice_text(v); }
const char* to_string(FeatureCacheMode v) { return choice_text(v); }
const char* to_string(ShuffleMode v) { return choice_text(v); }
const char* to_string(OptimizerKind v) { return choice_text(v); }
const char* to_string(LrSchedule v) { return choice_text(v); }
const char* to_string(NoDecay v) { return choice_text(v); }
const char* to_string(LrScaling v) { return choice_text(v); }
const char* to_string(CommBackend v) { return choice_text(v); }
const char* to_string(Precision v) { return choice_text(v); }
const char* to_string(CommDtype v) { return choice_text(v); }
const char* to_string(EvalMetric v) { return choice_text(v); }
const char* to_string(data::Task v) { return choice_text(v); }

bool higher_is_better(EvalMetric metric) {
  return metric != EvalMetric::kLoss && metric != EvalMetric::kMae && metric != EvalMetric::kRmse;
}

bool metric_fits_task(EvalMetric metric, data::Task task) {
  const bool regression_metric = metric == EvalMetric::kMae || metric == EvalMetric::kRmse ||
                                 metric == EvalMetric::kR2;
  if (metric == EvalMetric::kLoss) return true;
  return task == data::Task::kRegression ? regression_metric : !regression_metric;
}
const char* to_string(ModelExport v) { return choice_text(v); }
const char* to_string(AugmentKind v) { return choice_text(v); }
const char* to_string(NormalizeKind v) { return choice_text(v); }

bool is_resnet(BackboneKind v) {
  return v == BackboneKind::kResNet18 || v == BackboneKind::kResNet34 ||
         v == BackboneKind::kResNet50;
}

bool channels_last_enabled(const ModelConfig& model, bool cuda) {
  if (!is_resnet(model.backbone)) return false;
  switch (model.channels_last) {
    case ChannelsLast::kOn: return true;
    case ChannelsLast::kOff: return false;
    case ChannelsLast::kAuto: return cuda || kChannelsLastOnCpu;
  }
  return false;
}

int64_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<int64_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<double> parse_number_list(const std::string& key, const std::string& text) {
  std::vector<double> out;
  if (text.empty()) return out;
  for (size_t begin = 0;;) {
    const size_t comma = text.find(',', begin);
    const std::string v =
        trim_ini(text.substr(begin, comma == std::string::npos ? comma : comma - begin));
    char* end = nullptr;
    const double x = v.empty() ? 0.0 : std::strtod(v.c_str(), &end);
    FROST_CHECK(!v.empty() && *end == '\0' && std::isfinite(x), "config key ", key, " = '",
                printable(text, kQuotedBytes),
                "' must be finite numbers separated by commas, e.g. 0.5,0.5,0.5");
    out.push_back(x);
    if (comma == std::string::npos) return out;
    begin = comma + 1;
  }
}

std::vector<std::string> option_keys() {
  Config c;
  OptionTable t;
  describe(t, c);
  std::vector<std::string> keys;
  for (const auto& p : t.printers) keys.push_back(p.first);
  return keys;
}

std::string Config::to_ini() const {
  Config copy = *this;
  OptionTable t;
  describe(t, copy);
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  for (const auto& [key, print] : t.printers) {
    const auto dot = key.find('.');
    sections[key.substr(0, dot)].emplace_back(key.substr(dot + 1), print());
  }
  std::ostringstream os;
  for (const auto& [section, entries] : sections) {
    os << "[" << section << "]\n";
    for (const auto& [k, v] : entries) os << k << " = " << v << "\n";
    os << "\n";
  }
  return os.str();
}

void Config::validate() const {
  auto one_of = [](const std::string& key, const std::string& v,
                   std::initializer_list<const char*> ok) {
    std::string list;
    for (const char* o : ok) {
      if (v == o) return;
      list += list.empty() ? o : std::string(" | ") + o;
    }
    throw Error("config key " + key + " = '" + v + "' is not one of: " + list);
  };
  FROST_CHECK(!(train.precision == Precision::kFp16 && train.device == DeviceKind::kCpu),
              "config key train.precision = fp16 needs CUDA devices, but train.device = cpu; "
              "use bf16 or fp32 on the CPU");
  FROST_CHECK(
      train.feature_cache == FeatureCacheMode::kOff || train.strategy == StrategyKind::kHead,
      "train.feature_cache = ", to_string(train.feature_cache),
      " needs train.strategy = head (with a trainable backbone the features change every step; ",
      "lp-ft and partial train backbone parameters in some epochs), got train.strategy = ",
      to_string(train.strategy));
  // Note [Strategy phases] in strategy.h: the keys of lp-ft and partial.
  FROST_CHECK(train.lp_epochs >= 1, "config key train.lp_epochs must be >= 1, got ",
              train.lp_epochs);
  FROST_CHECK(train.strategy != StrategyKind::kLpFt || train.lp_epochs < train.epochs,
              "config key train.lp_epochs = ", train.lp_epochs, " must be < train.epochs = ",
              train.epochs, " with train.strategy = lp-ft (the full phase needs an epoch)");
  FROST_CHECK(train.unfreeze_last >= 0, "config key train.unfreeze_last must be >= 0, got ",
              train.unfreeze_last);
  FROST_CHECK(train.unfreeze_every >= 0, "config key train.unfreeze_every must be >= 0, got ",
              train.unfreeze_every);
  if (train.strategy != StrategyKind::kPartial) {
    FROST_CHECK(train.unfreeze_last == 0, "config key train.unfreeze_last = ",
                train.unfreeze_last, " needs train.strategy = partial, got ",
                to_string(train.strategy));
    FROST_CHECK(train.trainable.empty(), "config key train.trainable = '", train.trainable,
                "' needs train.strategy = partial, got ", to_string(train.strategy));
    FROST_CHECK(train.unfreeze_every == 0, "config key train.unfreeze_every = ",
                train.unfreeze_every, " needs train.strategy = partial, got ",
                to_string(train.strategy));
  } else {
    FROST_CHECK(train.unfreeze_last >= 1 || !train.trainable.empty(),
                "train.strategy = partial needs train.unfreeze_last >= 1 (the last K backbone "
                "blocks) or train.trainable (parameter name patterns)");
    FROST_CHECK(train.unfreeze_every == 0 || train.unfreeze_last >= 1,
                "config key train.unfreeze_every = ", train.unfreeze_every,
                " needs train.unfreeze_last >= 1 (the blocks that train from the first epoch)");
    FROST_CHECK(model.backbone != BackboneKind::kTorchScript,
                "train.strategy = partial with model.backbone = torchscript: the frozen blocks "
                "of a TorchScript module cannot be put in eval mode apart from the rest; use "
                "head, lp-ft or full");
  }
  FROST_CHECK(model.backbone != BackboneKind::kTorchScript || !model.torchscript.empty(),
              "model.backbone = torchscript needs model.torchscript (a torch.jit.save file)");
  FROST_CHECK(
      model.backbone != BackboneKind::kBert || !model.weights.empty() || !model.hf_config.empty(),
      "model.backbone = bert needs model.hf_config (config.json) or model.weights next to one");
  FROST_CHECK(model.channels_last != ChannelsLast::kOn || is_resnet(model.backbone),
              "config key model.channels_last = on needs a ResNet backbone (resnet18 | resnet34 | "
              "resnet50), but model.backbone = ", to_string(model.backbone),
              ": channels_last is a layout of convolution inputs; use auto or off");
  FROST_CHECK(model.weights_key.empty() || !model.weights.empty(),
              "model.weights_key = ", model.weights_key, " is set but model.weights is empty");
  FROST_CHECK(model.feature_dim >= 0, "config key model.feature_dim must be >= 0, got ",
              model.feature_dim);
  one_of("log.level", log.level, {"trace", "debug", "info", "warn", "error"});
  FROST_CHECK(!data.train.empty(),
              "config key data.train is empty: give the training HDF5 file(s) (--config FILE.ini "
              "or --data.train FILE.h5)");
  FROST_CHECK(train.seed >= 0, "config key train.seed must be >= 0, got ", train.seed);
  FROST_CHECK(model.width >= 1, "config key model.width must be >= 1, got ", model.width);
  FROST_CHECK(model.num_classes >= 0, "config key model.num_classes must be >= 0, got ",
              model.num_classes);
  FROST_CHECK(data.batch_size >= 1, "config key data.batch_size must be >= 1, got ",
              data.batch_size);
  FROST_CHECK(data.eval_batch_size >= 1, "config key data.eval_batch_size must be >= 1, got ",
              data.eval_batch_size);
  FROST_CHECK(data.prefetch >= 1, "config key data.prefetch must be >= 1, got ", data.prefetch);
  FROST_CHECK(data.shuffle_buffer >= 0, "config key data.shuffle_buffer must be >= 0 (0 = from ",
              "data.chunk_cache_mb), got ", data.shuffle_buffer);
  FROST_CHECK(data.chunk_cache_mb >= 0 && data.chunk_cache_mb <= (int64_t{1} << 30),
              "config key data.chunk_cache_mb must be in [0, 2^30], got ", data.chunk_cache_mb);
  FROST_CHECK(train.epochs >= 1, "config key train.epochs must be >= 1, got ", train.epochs);
  FROST_CHECK(train.threads >= 0, "config key train.threads must be >= 0, got ", train.threads);
  FROST_CHECK(train.max_steps >= 0, "config key train.max_steps must be >= 0, got ",
              train.max_steps);
  FROST_CHECK(train.grad_accum_steps >= 1, "config key train.grad_accum_steps must be >= 1, got ",
              train.grad_accum_steps);
  FROST_CHECK(optim.lr > 0 && std::isfinite(optim.lr),
              "config key optim.lr must be > 0 and finite, got ", optim.lr);
  FROST_CHECK(optim.momentum >= 0 && optim.momentum < 1,
              "config key optim.momentum must be in [0, 1), got ", optim.momentum);
  FROST_CHECK(optim.weight_decay >= 0, "config key optim.weight_decay must be >= 0, got ",
              optim.weight_decay);
  FROST_CHECK(optim.beta1 >= 0 && optim.beta1 < 1, "config key optim.beta1 must be in [0, 1), got ",
              optim.beta1);
  FROST_CHECK(optim.beta2 >= 0 && optim.beta2 < 1, "config key optim.beta2 must be in [0, 1), got ",
              optim.beta2);
  FROST_CHECK(optim.eps > 0, "config key optim.eps must be > 0, got ", optim.eps);
  FROST_CHECK(optim.warmup_frac >= 0 && optim.warmup_frac <= 1,
              "config key optim.warmup_frac must be in [0, 1], got ", optim.warmup_frac);
  FROST_CHECK(optim.warmup_steps >= 0, "config key optim.warmup_steps must be >= 0, got ",
              optim.warmup_steps);
  FROST_CHECK(optim.min_lr >= 0 && optim.min_lr <= optim.lr,
              "config key optim.min_lr must be in [0, optim.lr], got ", optim.min_lr);
  FROST_CHECK(optim.grad_clip >= 0, "config key optim.grad_clip must be >= 0, got ",
              optim.grad_clip);
  FROST_CHECK(optim.head_lr >= 0, "config key optim.head_lr must be >= 0 (0 = optim.lr), got ",
              optim.head_lr);
  FROST_CHECK(optim.layer_decay > 0 && optim.layer_decay <= 1,
              "config key optim.layer_decay must be in (0, 1] (1 = off), got ", optim.layer_decay);
  FROST_CHECK(optim.label_smoothing >= 0 && optim.label_smoothing < 1,
              "config key optim.label_smoothing must be in [0, 1), got ", optim.label_smoothing);
  FROST_CHECK(optim.lr_ref_batch >= 1, "config key optim.lr_ref_batch must be >= 1, got ",
              optim.lr_ref_batch);
  FROST_CHECK(dist.bucket_cap_mib > 0, "config key dist.bucket_cap_mb must be > 0, got ",
              dist.bucket_cap_mib);
  FROST_CHECK(dist.timeout_s >= 0.01 && dist.timeout_s <= 1e6,
              "config key dist.timeout_s must be in [0.01, 1e+06] seconds, got ", dist.timeout_s);
  for (const auto& [key, v] : std::initializer_list<std::pair<const char*, double>>{
           {"optim.lr", optim.lr},
           {"optim.momentum", optim.momentum},
           {"optim.weight_decay", optim.weight_decay},
           {"optim.beta1", optim.beta1},
           {"optim.beta2", optim.beta2},
           {"optim.eps", optim.eps},
           {"optim.warmup_frac", optim.warmup_frac},
           {"optim.min_lr", optim.min_lr},
           {"optim.grad_clip", optim.grad_clip},
           {"optim.head_lr", optim.head_lr},
           {"optim.layer_decay", optim.layer_decay},
           {"optim.label_smoothing", optim.label_smoothing},
           {"dist.bucket_cap_mb", dist.bucket_cap_mib},
           {"data.eval_crop_pct", data.eval_crop_pct},
           {"dist.timeout_s", dist.timeout_s}}) {
    FROST_CHECK(std::isfinite(v), "config key ", key, " must be a finite number, got ", v);
  }
  FROST_CHECK(checkpoint.every_steps >= 0, "config key checkpoint.every_steps must be >= 0, got ",
              checkpoint.every_steps);
  FROST_CHECK(checkpoint.keep >= 1, "config key checkpoint.keep must be >= 1, got ",
              checkpoint.keep);
  FROST_CHECK(log.every >= 1, "config key log.every must be >= 1, got ", log.every);
  FROST_CHECK(train.early_stopping_patience >= 0,
              "config key train.early_stopping_patience must be >= 0, got ",
              train.early_stopping_patience);
  FROST_CHECK(!checkpoint.keep_best || !data.test.empty(),
              "config key checkpoint.keep_best = true needs data.test: the best model is chosen "
              "by evaluating on it");
  FROST_CHECK(train.early_stopping_patience == 0 || !data.test.empty(),
              "config key train.early_stopping_patience = ", train.early_stopping_patience,
              " needs data.test: improvement is measured by evaluating on it");
  if (!metric_fits_task(eval.metric, train.task)) {
    throw Error(std::string("config key eval.metric = ") + to_string(eval.metric) +
                " is not a metric of train.task = " + to_string(train.task) + "; use one of: " +
                (train.task == data::Task::kRegression
                     ? "eval_loss | mae | rmse | r2"
                     : "eval_accuracy | macro_f1 | micro_f1 | eval_loss"));
  }
  FROST_CHECK(train.task == data::Task::kClassification || optim.label_smoothing == 0.0,
              "config key optim.label_smoothing = ", optim.label_smoothing,
              " smooths class labels; it needs train.task = classification, got ",
              to_string(train.task));
  FROST_CHECK(train.task == data::Task::kClassification ||
                  train.feature_cache == FeatureCacheMode::kOff,
              "config key train.feature_cache = ", to_string(train.feature_cache),
              " caches class labels; it needs train.task = classification, got ",
              to_string(train.task));
  FROST_CHECK(checkpoint.export_model != ModelExport::kBest || checkpoint.keep_best,
              "config key checkpoint.export = best needs checkpoint.keep_best = true");
  FROST_CHECK(!log.dir.empty(), "config key log.dir is empty: give a run directory");
  // Images (Note [Image augmentation] in augment.h); the channel counts are checked against the
  // data when it is opened (image_normalisation).
  FROST_CHECK(data.image_size >= 0, "config key data.image_size must be >= 0 (0 = the stored "
              "size), got ", data.image_size);
  for (const auto& [key, text] : {std::pair<const char*, const std::string*>{
                                      "data.crop_scale", &data.crop_scale},
                                  {"data.crop_ratio", &data.crop_ratio}}) {
    const std::vector<double> v = parse_number_list(key, *text);
    FROST_CHECK(v.size() == 2, "config key ", key, " = '", *text,
                "' must be two numbers min,max, got ", v.size());
    FROST_CHECK(v[0] <= v[1], "config key ", key, " = '", *text, "': min ", v[0],
                " is larger than max ", v[1]);
    if (key == std::string("data.crop_scale")) {
      FROST_CHECK(v[0] > 0 && v[1] <= 1, "config key data.crop_scale = '", *text,
                  "' must lie in (0, 1] (fractions of the image area)");
    } else {
      FROST_CHECK(v[0] > 0, "config key data.crop_ratio = '", *text,
                  "' must be > 0 (aspect ratios width / height)");
    }
  }
  FROST_CHECK(data.eval_crop_pct > 0 && data.eval_crop_pct <= 1,
              "config key data.eval_crop_pct must be in (0, 1], got ", data.eval_crop_pct);
  if (data.normalize == NormalizeKind::kCustom) {
    FROST_CHECK(!data.norm_mean.empty() && !data.norm_std.empty(),
                "data.normalize = custom needs data.mean and data.std (one value per channel, "
                "comma separated)");
    const std::vector<double> m = parse_number_list("data.mean", data.norm_mean);
    const std::vector<double> s = parse_number_list("data.std", data.norm_std);
    FROST_CHECK(m.size() == s.size(), "config key data.mean has ", m.size(),
                " values but data.std has ", s.size(), ": give one of each per channel");
    for (size_t c = 0; c < s.size(); ++c) {
      FROST_CHECK(s[c] > 0, "config key data.std = '", data.norm_std, "': channel ", c, " has std ",
                  s[c], "; every std must be > 0");
    }
  } else {
    FROST_CHECK(data.norm_mean.empty() && data.norm_std.empty(), "config key data.mean / data.std are ",
                "set but data.normalize = ", to_string(data.normalize),
                " ignores them; set data.normalize = custom");
  }
  FROST_CHECK(data.augment == AugmentKind::kNone || train.feature_cache == FeatureCacheMode::kOff,
              "data.augment = ", to_string(data.augment), " with train.feature_cache = ",
              to_string(train.feature_cache),
              ": the cache computes each sample's features once, but augmentation changes the "
              "inputs every epoch, so the features would no longer be fixed; set data.augment = "
              "none or train.feature_cache = off");
  if (model.backbone == BackboneKind::kMlp) {
    const auto& h = model.mlp_hidden;
    FROST_CHECK(
        h.empty() || (h.front() != ',' && h.back() != ',' && h.find(",,") == std::string::npos),
        "config key model.mlp_hidden = '", h, "' has an empty entry; write e.g. 256,256");
    std::stringstream ss(model.mlp_hidden);
    std::string item;
    while (std::getline(ss, item, ',')) {
      try {
        size_t used = 0;
        const long long v = std::stoll(item, &used);
        FROST_CHECK(v >= 1 && item.find_first_not_of(" ", used) == std::string::npos, "");
      } catch (const std::exception&) {
        throw Error("config key model.mlp_hidden = '" + model.mlp_hidden +
                    "' must be positive integers separated by commas, e.g. 256,256");
      }
    }
  }
}

ParseResult parse_args(int argc, const char* const* argv) {
  ParseResult result;
  Config& c = result.config;
  OptionTable t;
  describe(t, c);
  po::options_description generic("Frost");
  generic.add_options()("help,h", "print this help and exit")(
      "config,c", po::value<std::string>(&c.config_file),
      "INI file with [section] key = value lines")(
      "resume", po::value<std::string>(&c.resume),
      "continue from a checkpoint: auto (the latest in log.dir/checkpoints) or a checkpoint file; "
      "the config must be the one the checkpoint was written with");
  po::options_description all;
  all.add(generic).add(t.desc);

  po::variables_map vm;
  try {
    // The command line is stored first, so its values win over the file's.
    // No guessing: "--train.epoch" must be an error, not silently "--train.epochs".
    po::store(cli::parse_strict(argc, argv, all),
              vm);  // no positional: every argument is --key value
    if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), t.desc, vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    const std::string key = strip_dashes(e.get_option_name());
    throw Error("unknown option '--" + printable(key, kQuotedBytes) + "'" + suggestion(key) +
                "; see --help");
  } catch (const po::too_many_positional_options_error&) {
    std::string arg;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const bool is_value = i > 1 && std::string(argv[i - 1]).rfind("--", 0) == 0 &&
                            std::string(argv[i - 1]).find('=') == std::string::npos &&
                            std::string(argv[i - 1]) != "--help";
      if (a.rfind("-", 0) != 0 && !is_value) {
        arg = a;
        break;
      }
    }
    const std::string shown = printable(arg, kQuotedBytes);
    const bool ini = arg.size() > 4 && arg.substr(arg.size() - 4) == ".ini";
    throw Error("unexpected argument '" + shown + "': options are --section.key value pairs" +
                (ini ? " (did you mean --config " + shown + "?)" : "") + "; see --help");
  } catch (po::error& e) {
    throw Error("command line: " + printable(cli::error_text(e)) + "; see --help");
  }
  if (vm.count("help")) {
    result.help = true;
    std::ostringstream os;
    os << "usage: frost-train --config FILE [--section.key value ...]\n\n"
       << generic << "\n"
       << t.desc;
    result.help_text = os.str();
    return result;
  }
  t.convert_choices();
  // eval.metric's default is the task's own: eval_accuracy has no meaning for regression, so a
  // regression run that does not name a metric selects by eval_loss (MSE). A metric given
  // explicitly is checked against the task by validate().
  if (vm["eval.metric"].defaulted() && c.train.task == data::Task::kRegression)
    c.eval.metric = EvalMetric::kLoss;
  c.validate();
  return result;
}

}  // namespace frost::train
