// Configuration of a Frost run: one struct per INI section, filled by Boost.Program_options
// from an INI file (`--config FILE`, sections [model] [data] [train] [optim] [dist] [log]
// [checkpoint] [eval])
// and command-line overrides of the same keys (`--train.epochs 3`). The command line wins
// over the file; the file wins over the defaults. `--help` is generated from the same
// option description that parses, so the two cannot drift. docs/configuration.md lists
// every key.
//
// Note [Config choices]
// A key with a fixed set of values (train.strategy, model.backbone, ...) is an enum here,
// converted from its text once, in parse_args (config.cpp), so that the code that acts on it
// switches over an enum instead of comparing strings. The INI and command-line text, --help,
// config.ini and the message for a bad value ("config key train.strategy = 'lora' is not one
// of: full | head | lp-ft | partial") are those of the text: to_string() gives it back. No
// LibTorch here.
#pragma once

#include <cstdint>
#include <string>

#include "frost/core/device.h"
#include "frost/data/dataset_info.h"
#include <vector>

namespace frost::train {

// ---- choices (Note [Config choices]); each comment gives the config text of every value
/// model.backbone: resnet18 | resnet34 | resnet50 | mlp | bert | torchscript
enum class BackboneKind { kResNet18, kResNet34, kResNet50, kMlp, kBert, kTorchScript };
/// model.pooling: cls | mean
enum class Pooling { kCls, kMean };
/// model.export_format: auto | none | torchvision | huggingface-bert
enum class ExportFormat { kAuto, kNone, kTorchvision, kHuggingFaceBert };
/// model.channels_last: auto | on | off (Note [channels_last] in train/model_setup.h)
enum class ChannelsLast { kAuto, kOn, kOff };
/// train.strategy: full | head | lp-ft | partial (strategy.h)
enum class StrategyKind { kFull, kHead, kLpFt, kPartial };
/// train.lp_ft_optimizer_state: reset | keep (Note [LP-FT optimizer state] in train/strategy.h)
enum class LpFtOptimizerState { kReset, kKeep };
/// train.nonfinite_loss: stop | skip
enum class NonfiniteLoss { kStop, kSkip };
/// train.feature_cache: off | memory | disk
enum class FeatureCacheMode { kOff, kMemory, kDisk };
/// data.shuffle_mode: auto | global | block (Note [Block shuffle] in data/sampler.h)
enum class ShuffleMode { kAuto, kGlobal, kBlock };
/// optim.name: sgd | adamw
enum class OptimizerKind { kSgd, kAdamW };
/// optim.schedule: cosine | constant
enum class LrSchedule { kCosine, kConstant };
/// optim.no_decay: none | bias | norm | bias,norm (Note [Parameter groups] in
/// train/optimizer.h: which parameters get no weight decay)
enum class NoDecay { kNone, kBias, kNorm, kBiasNorm };
/// optim.lr_scaling: none | linear | sqrt (the learning rates scaled for the global batch)
enum class LrScaling { kNone, kLinear, kSqrt };
/// train.precision: fp32 | bf16 | fp16 (Note [Mixed precision] in train/precision.h)
enum class Precision { kFp32, kBf16, kFp16 };
/// dist.comm_dtype: fp32 | bf16 (the dtype gradient buckets are all-reduced in)
enum class CommDtype { kFp32, kBf16 };
/// dist.backend: auto (nccl for a CUDA device, mpi for the CPU) | nccl | mpi
enum class CommBackend { kAuto, kNccl, kMpi };
/// eval.metric: eval_accuracy | macro_f1 | eval_loss | micro_f1 | mae | rmse | r2 (Note [Model
/// selection] in checkpoint.h); which ones a task has: metric_fits_task.
enum class EvalMetric { kAccuracy, kMacroF1, kLoss, kMicroF1, kMae, kRmse, kR2 };
/// checkpoint.export: last | best (which model becomes log.dir/model.pt)
enum class ModelExport { kLast, kBest };
/// data.augment: none | flip | crop | crop_flip (images; Note [Image augmentation] in
/// train/augment.h)
enum class AugmentKind { kNone, kFlip, kCrop, kCropFlip };
/// data.normalize: dataset | imagenet | custom (images; the mean/std of the normalisation)
enum class NormalizeKind { kDataset, kImageNet, kCustom };
// train.device: DeviceKind in frost/core/device.h (auto | cpu | cuda).

/// The config text of a choice, as written in INI files and on the command line.
const char* to_string(BackboneKind v);
const char* to_string(Pooling v);
const char* to_string(ExportFormat v);
const char* to_string(ChannelsLast v);
const char* to_string(StrategyKind v);
const char* to_string(LpFtOptimizerState v);
const char* to_string(NonfiniteLoss v);
const char* to_string(FeatureCacheMode v);
const char* to_string(ShuffleMode v);
const char* to_string(OptimizerKind v);
const char* to_string(LrSchedule v);
const char* to_string(NoDecay v);
const char* to_string(LrScaling v);
const char* to_string(CommBackend v);
const char* to_string(Precision v);
const char* to_string(CommDtype v);
const char* to_string(EvalMetric v);
const char* to_string(ModelExport v);
const char* to_string(AugmentKind v);
const char* to_string(NormalizeKind v);
/// train.task: classification | multilabel | regression (data::task_name).
const char* to_string(data::Task v);

/// Whether a larger value of `metric` is better (eval_accuracy, macro_f1, micro_f1, r2) or a
/// smaller one (eval_loss, mae, rmse).
bool higher_is_better(EvalMetric metric);
/// Whether an evaluation of `task` reports `metric`: classification eval_accuracy, macro_f1,
/// micro_f1, eval_loss; multilabel the same four (eval_accuracy = exact-match accuracy);
/// regression eval_loss (MSE), mae, rmse, r2.
bool metric_fits_task(EvalMetric metric, data::Task task);

/// True for resnet18, resnet34 and resnet50.
bool is_resnet(BackboneKind v);

struct ModelConfig {
  BackboneKind backbone = BackboneKind::kResNet18;
  int64_t width = 64;                  ///< ResNet base width (torchvision: 64)
  bool small_input = false;            ///< ResNet 3x3 stem, no max-pool (28x28 inputs)
  std::string mlp_hidden = "256,256";  ///< MLP hidden sizes, comma separated
  int64_t num_classes = 0;             ///< 0: from the training data's num_classes attribute
  std::string init;                    ///< model.pt of an earlier run to start from ("" = random)
  bool init_head = true;               ///< also load model.init's head when its shape fits
  std::string weights;  ///< pretrained backbone weights (.safetensors, torch.save .pt/.pth/.bin)
  /// torch.save files: '.'-separated dict keys to the state dict ("" = the top level)
  std::string weights_key;
  std::string weights_prefix;  ///< prefix of the file's backbone keys to strip (e.g. "bert.")
  std::string weights_ignore =  // the heads of BERT/RoBERTa/DistilBERT task models, torchvision's fc
      "fc.*,classifier.*,cls.*,pooler.*,embeddings.position_ids,lm_head.*,pre_classifier.*,"
      "vocab_transform.*,vocab_layer_norm.*,vocab_projector.*";
  std::string hf_config;            ///< bert: config.json ("" = config.json next to model.weights)
  Pooling pooling = Pooling::kCls;  ///< bert: [CLS] pooler or mean over tokens
  std::string torchscript;          ///< torchscript: module saved with torch.jit.save
  int64_t feature_dim =
      0;  ///< torchscript: width of its output (0 = the module's feature_dim attribute)
  ExportFormat export_format = ExportFormat::kAuto;  ///< names of model.safetensors
  /// ResNet: parameters and input images in the channels_last layout (Note [channels_last] in
  /// train/model_setup.h); on with another backbone is refused by validate().
  ChannelsLast channels_last = ChannelsLast::kAuto;
};

struct DataConfig {
  std::string train;  ///< HDF5 file, glob, or comma-separated list of them
  std::string test;   ///< same, for evaluation ("" = no evaluation)
  /// Per-rank micro-batch; global batch = batch_size x train.grad_accum_steps x world size.
  int64_t batch_size = 64;
  int64_t eval_batch_size = 256;  ///< per-rank evaluation batch
  int64_t prefetch = 2;           ///< batches read ahead by the loader thread
  bool shuffle = true;            ///< per-epoch permutation seeded by (train.seed, epoch)
  bool drop_last = false;         ///< drop the last, short global batch of an epoch
  /// How an epoch is shuffled (Note [Block shuffle] in data/sampler.h): auto = block when the
  /// training set's compressed data does not fit chunk_cache_mb, else global.
  ShuffleMode shuffle_mode = ShuffleMode::kAuto;
  int64_t shuffle_buffer = 0;   ///< block shuffle: rows per shuffle window; 0 = from the budget
  int64_t chunk_cache_mb = 512; ///< MiB of decoded chunks of compressed data per dataset
  // Images (Note [Image augmentation] in train/augment.h).
  AugmentKind augment = AugmentKind::kNone;  ///< training-time augmentation of image inputs
  int64_t image_size = 0;  ///< side of the square images the model gets (0 = the stored size)
  std::string crop_scale = "0.08,1";  ///< crop: min,max fraction of the image area
  std::string crop_ratio = "0.75,1.3333333333333333";  ///< crop: min,max aspect ratio (w/h)
  double eval_crop_pct = 0.875;  ///< crop: evaluation centre crop = image_size / resized side
  NormalizeKind normalize = NormalizeKind::kDataset;  ///< mean/std of the normalisation
  std::string norm_mean;  ///< data.mean, normalize = custom: one value per channel, comma separated
  std::string norm_std;   ///< data.std, normalize = custom: one value per channel, comma separated
};

struct TrainConfig {
  StrategyKind strategy = StrategyKind::kFull;  ///< what trains per epoch (strategy.h)
  /// lp-ft: epochs of the head phase (1 <= lp_epochs < epochs); the rest train everything.
  int64_t lp_epochs = 1;
  /// lp-ft: the head's optimizer state at the switch to full (Note [LP-FT optimizer state]).
  LpFtOptimizerState lp_ft_optimizer_state = LpFtOptimizerState::kReset;
  /// partial: the last K backbone blocks (Note [Backbone blocks] in models/blocks.h) train with
  /// the head from the first epoch; 0 = none (then train.trainable must name some).
  int64_t unfreeze_last = 0;
  /// partial: comma-separated glob patterns over the classifier's parameter names
  /// ("backbone.layer4.*") that train with the head; each must match a parameter.
  std::string trainable;
  /// partial: gradual unfreezing; one more block from the top every E epochs (0 = off).
  int64_t unfreeze_every = 0;
  int64_t epochs = 1;
  int64_t seed = 0;       ///< model init and data order; identical on every rank (>= 0)
  int64_t threads = 0;    ///< intra-op threads per rank; 0 = Note [Threads per rank] (core/cpus.h)
  int64_t max_steps = 0;  ///< stop after this many optimizer steps in total (0 = no limit)
  int64_t grad_accum_steps =
      1;  ///< micro-batches per rank per optimizer step (gradient accumulation)
  NonfiniteLoss nonfinite_loss = NonfiniteLoss::kStop;  ///< or skip the step, on every rank alike
  FeatureCacheMode feature_cache = FeatureCacheMode::kOff;  ///< head only: backbone once per sample
  DeviceKind device = DeviceKind::kAuto;  ///< Note [Device per rank] in frost/core/device.h
  Precision precision = Precision::kFp32;  ///< compute dtype of the forward (autocast)
  /// LibTorch's deterministic algorithms (Note [Deterministic kernels] in trainer.cpp)
  bool deterministic = false;
  /// Stop after this many evaluations in a row without an improvement of eval.metric, on every
  /// rank alike (0 = off; needs data.test; Note [Model selection] in checkpoint.h).
  int64_t early_stopping_patience = 0;
  /// The loss, head and metrics (Note [Tasks] in step.h); the data files' task attribute must
  /// name the same task.
  data::Task task = data::Task::kClassification;
};

struct OptimConfig {
  OptimizerKind name = OptimizerKind::kSgd;
  double lr = 0.1;             ///< peak learning rate (for the global batch)
  double momentum = 0.9;       ///< SGD momentum
  bool nesterov = false;       ///< SGD Nesterov momentum
  double weight_decay = 5e-4;  ///< SGD: L2 added to the gradient; AdamW: decoupled decay
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< AdamW (Loshchilov & Hutter 2019)
  LrSchedule schedule = LrSchedule::kCosine;      ///< after linear warmup
  double warmup_frac = 0.0;  ///< fraction of all steps spent in linear warmup from 0
  int64_t warmup_steps = 0;  ///< warmup length in steps (used when > 0, else warmup_frac)
  double min_lr = 0.0;       ///< learning rate at the end of the cosine
  double grad_clip = 0.0;    ///< max global gradient L2 norm (0 = off)
  // Parameter groups (Note [Parameter groups] in train/optimizer.h).
  double head_lr = 0.0;      ///< the head's peak learning rate (0 = optim.lr)
  double layer_decay = 1.0;  ///< layer-wise learning-rate decay per block (1 = off), in (0, 1]
  NoDecay no_decay = NoDecay::kBiasNorm;  ///< parameters without weight decay
  double label_smoothing = 0.0;  ///< training loss: cross-entropy label smoothing in [0, 1)
  /// The learning rates (lr, head_lr, min_lr) scaled for the global batch (lr_schedule.h).
  LrScaling lr_scaling = LrScaling::kNone;
  int64_t lr_ref_batch = 256;  ///< the global batch optim.lr is given for (lr_scaling)
};

struct DistConfig {
  /// Gradient bucket cap in MiB (2^20 bytes; key dist.bucket_cap_mb, after PyTorch DDP's
  /// bucket_cap_mb, which also means MiB; default 25 as DDP's).
  double bucket_cap_mib = 25.0;
  double timeout_s = 300.0;  ///< a collective waiting longer ends the job
  CommBackend backend = CommBackend::kAuto;  ///< gradients' all-reduce backend
  CommDtype comm_dtype = CommDtype::kFp32;   ///< buckets all-reduced in this dtype
  /// Test only: ranks of a node may share a GPU (Note [Device per rank]); with NCCL, the
  /// Trainer sets a distinct NCCL_HOSTID per rank and the socket transport (Note [Ranks sharing
  /// a GPU under NCCL] in frost/core/device.h). Correctness, not speed.
  bool shared_gpu = false;
};

struct LogConfig {
  std::string dir = "runs/default";  ///< run directory (config.ini, metrics.jsonl, model.pt)
  std::string level = "info";        ///< trace | debug | info | warn | error
  int64_t every = 50;                ///< progress line every this many steps (rank 0)
  bool overwrite = false;            ///< allow a run directory that holds a finished run
  /// Write a "buckets" record per step (metrics.h): the gradient buckets' timeline (Note
  /// [Bucket timeline] in frost/distributed/grad_reducer.h). Off: nothing is recorded.
  bool bucket_timeline = false;
  /// Also write the train, epoch and eval records' scalars as log.dir/train.csv, epoch.csv,
  /// eval.csv (Note [CSV logs] in metrics.h).
  bool csv = false;
};

struct CheckpointConfig {
  int64_t every_steps = 0;   ///< write a checkpoint every this many optimizer steps (0 = off)
  bool every_epoch = false;  ///< write a checkpoint at the end of every epoch
  int64_t keep = 2;          ///< checkpoints kept in log.dir/checkpoints (oldest removed)
  /// Keep the model of the best evaluation of eval.metric as log.dir/best/model.pt (needs
  /// data.test; Note [Model selection] in checkpoint.h).
  bool keep_best = false;
  /// Which model is saved as log.dir/model.pt at the end: the last, or the best (needs
  /// keep_best).
  ModelExport export_model = ModelExport::kLast;
};

struct EvalConfig {
  /// What "best" means for checkpoint.keep_best and train.early_stopping_patience: higher is
  /// better for eval_accuracy, macro_f1, micro_f1 and r2, lower for eval_loss, mae and rmse;
  /// one of train.task's metrics (metric_fits_task).
  EvalMetric metric = EvalMetric::kAccuracy;
};

struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  OptimConfig optim;
  DistConfig dist;
  LogConfig log;
  CheckpointConfig checkpoint;
  EvalConfig eval;
  std::string config_file;  ///< the --config file, "" if none
  std::string
      resume;  ///< --resume: "" (start fresh) | auto (latest in log.dir) | a checkpoint path

  /// The merged configuration as an INI document (every key, sorted by section), used for
  /// run_dir/config.ini and for the cross-rank config hash.
  std::string to_ini() const;
  /// Checks values (ranges, combinations; choices are checked when parsed). Throws
  /// frost::Error naming the key.
  void validate() const;
};

/// Whether model.channels_last applies to a run whose ranks compute on CUDA devices (`cuda`) or
/// the CPU: never for a backbone other than ResNet; on / off as set; auto = on for CUDA, and on
/// the CPU the layout measured faster there (Note [channels_last] in train/model_setup.h).
bool channels_last_enabled(const ModelConfig& model, bool cuda);

/// Result of parsing a command line.
struct ParseResult {
  Config config;
  bool help = false;  ///< --help was given; `help_text` holds the text to print
  std::string help_text;
};

/// Parses `argv` (`--config FILE`, `--section.key value`, `--help`), converts the choices
/// (Note [Config choices]) and validates. Throws frost::Error for an unknown key (with the
/// closest valid key as a suggestion), a malformed value, a value that is not one of a key's
/// choices, or an unreadable config file, each naming the key and file. With --help nothing
/// is converted or validated: `config` then holds the defaults for every choice.
ParseResult parse_args(int argc, const char* const* argv);

/// Every option key ("train.epochs", ...), in description order.
std::vector<std::string> option_keys();

/// The numbers of a comma-separated list such as data.crop_scale ("0.08,1"). Throws
/// frost::Error naming `key` for an empty entry or a value that is not a finite number.
std::vector<double> parse_number_list(const std::string& key, const std::string& text);

/// Edit distance (Levenshtein) between two strings; used for "did you mean" suggestions.
int64_t edit_distance(const std::string& a, const std::string& b);

}  // namespace frost::train
