// The Trainer, top-down: set-up (Impl::set_up: data, model, strategy, replicas, buckets,
// optimizer) -> Impl::run (resume, run directory, feature cache, epochs of train_step with
// logging and checkpoints, evaluation) -> save. The parts live in the files included below.
#include "frost/train/trainer.h"

// LibTorch: tensors, optimizers, thread pools; spdlog for rank 0's lines
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>

// Frost: communication, errors, files, fault injection
#include "frost/comm/communicator.h"
#include "frost/core/blas_threads.h"
#include "frost/core/device.h"
#include "frost/core/error.h"
#include "frost/core/fault_injection.h"
#include "frost/core/fs.h"
#include "frost/core/preemption.h"
#include "frost/core/strings.h"
// data: HDF5 files and the shard samplers
#include "frost/data/class_names.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/data/token_file.h"
// replicas: gradient buckets, broadcast from rank 0, cross-rank checks
#include "frost/distributed/grad_reducer.h"
#include "frost/distributed/state_sync.h"
// model.pt and the export under the source framework's names
#include "frost/models/bert.h"
#include "frost/models/weights.h"
// the Trainer's parts, in the order a run uses them
#include "frost/train/augment.h"        // data.augment, data.normalize
#include "frost/train/checkpoint.h"     // --resume, checkpoint.*
#include "frost/train/device_stats.h"   // GPU: step timing events, allocator peaks
#include "frost/train/evaluation.h"     // exact evaluation
#include "frost/train/feature_cache.h"  // train.feature_cache, the epoch's batches
#include "frost/train/loader.h"         // batches from HDF5 files
#include "frost/train/lr_schedule.h"    // lr_at, scaled_for_batch
#include "frost/train/metrics.h"        // metrics.jsonl, progress lines
#include "frost/train/model_setup.h"    // model.*: backbone, head, weights
#include "frost/train/optimizer.h"      // optim.*
#include "frost/train/placement.h"      // train.device, dist.backend
#include "frost/train/precision.h"      // train.precision
#include "frost/train/step.h"           // train_step
#include "frost/train/strategy.h"       // what trains, modes, forward

namespace frost::train {

namespace {

// Note [Padding id of a run] in data/token_file.h: a token file made by another model's
// tokenizer is refused when its recorded pad_id is not the encoder's pad_token_id.
void check_padding_id(const models::BertConfig& bert, const data::H5Dataset& set,
                      const char* key) {
  for (const std::string& path : set.paths()) {
    const data::TokenizerRecord record =
        with_error_context(key, [&] { return data::read_tokenizer_record(path); });
    if (record.pad_id < 0 || record.pad_id == bert.pad_token_id) continue;
    throw Error(std::string(key) + " " + path + " was tokenized with pad id " +
                std::to_string(record.pad_id) +
                (record.tokenizer.empty() ? "" : " (" + record.tokenizer + ")") + ", but the " +
                bert.model_type + " encoder's config.json has pad_token_id = " +
                std::to_string(bert.pad_token_id) +
                ": the ids come from another model's tokenizer; run frost-prep text with this "
                "model's own vocabulary (vocab.txt for BERT/DistilBERT, vocab.json + merges.txt "
                "for RoBERTa)");
  }
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Note [Deterministic kernels]
// On the CPU, Frost's kernels give the same bits on every run with the same threads. On a GPU
// some do not: kernels that add into one address from many threads with atomics (the backward of
// embeddings, index_select/index_add and scatter_add; cuDNN's convolution weight gradient with
// some algorithms; cuBLAS splitting a reduction over workspaces) add in a different order each
// run, and cuDNN's benchmark mode may pick a different algorithm per run. So by default two GPU
// runs agree within float rounding, not bitwise (a resumed run too); replicas still agree
// bitwise with each other, as every rank applies the same all-reduced gradients. With
// train.deterministic = true, LibTorch's deterministic algorithms are required (an op without a
// deterministic implementation throws, naming itself), cuDNN runs deterministic algorithms
// without benchmark, and CUBLAS_WORKSPACE_CONFIG=:4096:8 is set unless given (cuBLAS reads it
// when its handle is made, which happens at the first matrix product, after this). See
// PyTorch's "Reproducibility" notes (torch.use_deterministic_algorithms).
void use_deterministic_kernels(bool on) {
  if (on) set_env_defaults({{"CUBLAS_WORKSPACE_CONFIG", ":4096:8"}});
  at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(on);
  if (on) at::globalContext().setBenchmarkCuDNN(false);
}

// BatchNorm in train mode cannot normalise one sample (its batch variance is undefined), and
// the last, short batch of an epoch can hold one sample per rank.
void check_batchnorm_batches(models::ClassifierImpl& model, const data::TrainSampler& sampler,
                             const Config& cfg) {
  int64_t smallest = cfg.data.batch_size;  // the smallest micro-batch of an epoch
  for (const auto& b : sampler.epoch_batches(0)) {
    const int64_t rest = static_cast<int64_t>(b.size()) % cfg.data.batch_size;
    if (rest > 0) smallest = std::min(smallest, rest);
  }
  bool has_batchnorm = false;
  for (const auto& b : model.named_buffers(true)) {
    if (b.key().find("running_var") != std::string::npos) has_batchnorm = true;
  }
  FROST_CHECK(!(has_batchnorm && smallest < 2),
              "the model has BatchNorm, which needs at least 2 samples per rank in training, but ",
              (smallest == cfg.data.batch_size ? std::string("data.batch_size is 1")
                                               : detail::str_cat("the last batch of an epoch has ",
                                                                 smallest, " sample per rank")),
              ": set data.drop_last = true or change data.batch_size",
              (cfg.train.grad_accum_steps > 1 ? " or train.grad_accum_steps" : ""));
}

// Note [LibTorch errors in a step]
// LibTorch reports what fails inside its calls as c10::Error: an allocation that fails as
// c10::OutOfMemoryError on CUDA ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a
// total capacity of ..."), as a plain c10::Error on the CPU ("DefaultCPUAllocator: can't
// allocate memory: you tried to allocate N bytes ..."), a bad shape or dtype likewise. Such a
// message names the size but neither the step nor, on the CPU, the device. The step loop turns
// it into a frost::Error (message without LibTorch's C++ backtrace) with the step and this
// rank's device as context (the Trainer adds the rank), and the app runner ends the whole job
// with it (Note [Failing the whole job] in src/apps/app_runner.h):
//     frost-train: error: [rank 1] step 3 (epoch 1) on cuda:0 (NVIDIA H200, 139.8 GiB): CUDA out
//     of memory. Tried to allocate 1048576.00 GiB. GPU 0 has a total capacity of ...
// The peers, queued in the step's all-reduce, end with the job (MPI_Abort), not after
// dist.timeout_s. A frost::Error passes unchanged (it says what it is about already). Tests:
// e2e.faults (case oom, CPU), e2e.gpu_faults (case oom, G7).
template <typename F>
StepStats with_step_context(const StepReport& r, const RankDevice& device, F&& step) {
  try {
    return step();
  } catch (const c10::Error& e) {
    Error error(e.what_without_backtrace());
    error.add_context(
        detail::str_cat("step ", r.step, " (epoch ", r.epoch, ") on ", device.description));
    throw error;
  }
}

// FROST_FAULT_INJECT action=oom (Note [Injected out-of-memory] in core/fault_injection.h): 1 PiB,
// more than any device holds (and than a process can address), through LibTorch's allocator.
void allocate_beyond_any_device(const c10::Device& device) {
  (void)torch::empty({int64_t{1} << 50}, torch::dtype(torch::kByte).device(device));
}

}  // namespace

struct Trainer::Impl {
  Config cfg;
  comm::Communicator& comm;  // host-side collectives: agreement, metrics, evaluation totals
  int rank = 0, world = 1;
  RankDevice device;  // where the model computes (Note [Device per rank])
  // Replica state and gradients: `comm` itself when gradient_backend names its backend (MPI,
  // with CPU or, staged, CUDA tensors), else a communicator of that backend (NCCL).
  std::unique_ptr<comm::Communicator> owned_device_comm;
  comm::Communicator* device_comm = nullptr;
  fault::Plan faults;
  std::optional<data::H5Dataset> train_set, test_set;
  std::unique_ptr<data::TrainSampler> sampler;
  models::Classifier model{nullptr};
  std::unique_ptr<Strategy> strategy;
  std::unique_ptr<distributed::GradReducer> reducer;  // after `model`: its hooks go first
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t trainable_epoch = 0;  // the epoch whose trainable set `reducer` and `optimizer` hold
  OptimConfig optim;  // cfg.optim with its learning rates scaled for the global batch
  std::unique_ptr<LossScaler> scaler;  // train.precision = fp16
  int64_t num_classes = 0;  // of the head
  int64_t total_steps = 0, global_step = 0, skipped_steps = 0;
  MetricsLog metrics;                           // open on rank 0 only
  std::unique_ptr<FeatureCache> feature_cache;  // train.feature_cache = memory | disk
  std::unique_ptr<Evaluator> evaluator;         // with data.test
  std::vector<std::string> class_names;         // of data.test (eval_report.json)
  std::vector<std::string> train_class_names;   // of data.train (classes.json)
  ModelSelection selection;                     // Note [Model selection] in checkpoint.h
  std::vector<double> image_mean, image_std;    // images: the normalisation in use
  std::optional<CheckpointFile> checkpoint;     // --resume: read in set_up, applied in run
  int64_t checkpointed_step = -1;  // global step of the last checkpoint this run wrote
  bool preempted = false;          // Note [Preemption]: stopped with a checkpoint

  Impl(const Config& c, comm::Communicator& cm)
      : cfg(c), comm(cm), rank(cm.rank()), world(cm.world_size()) {}

  void set_up();
  std::vector<EpochSummary> run();
  EvalResult evaluate() { return evaluator ? evaluator->evaluate(*model) : EvalResult{}; }
  void open_data();
  void open_run_dir(bool resumed);
  void build_feature_cache();
  std::vector<std::vector<int64_t>> steps_of(int64_t epoch, int64_t first_step) const;
  StepReport step_report(int64_t epoch, int64_t i, int64_t epoch_steps) const;
  RunPosition position_after(int64_t epoch, int64_t steps_done) const;
  bool select_model(EpochSummary& sum);
  void write_checkpoint(const RunPosition& position);
  bool preemption_agreed();
  void stop_for_preemption(const RunPosition& position);
  void save_model();
  void rebuild_trainable(int64_t epoch, bool keep_state);
  int64_t trainable_numel() const;
  int64_t bytes_per_step() const;
};

Trainer::Trainer(const Config& config, comm::Communicator& comm)
    : impl_(std::make_unique<Impl>(config, comm)) {
  with_rank(impl_->rank, [&] { impl_->set_up(); });
}

Trainer::~Trainer() = default;

std::vector<EpochSummary> Trainer::run() {
  return with_rank(impl_->rank, [&] { return impl_->run(); });
}

EvalResult Trainer::evaluate() {
  return with_rank(impl_->rank, [&] { return impl_->evaluate(); });
}

models::Classifier& Trainer::model() { return impl_->model; }
distributed::GradReducer& Trainer::reducer() { return *impl_->reducer; }
torch::optim::Optimizer& Trainer::optimizer() { return *impl_->optimizer; }
int64_t Trainer::global_step() const { return impl_->global_step; }
int64_t Trainer::skipped_steps() const { return impl_->skipped_steps; }
int64_t Trainer::steps_per_epoch() const { return impl_->sampler->steps_per_epoch(); }
bool Trainer::preempted() const { return impl_->preempted; }

// ---------------------------------------------------------------------------- set-up
void Trainer::Impl::set_up() {
  faults = fault::plan_from_env();
  comm.set_timeout(std::chrono::milliseconds(static_cast<int64_t>(cfg.dist.timeout_s * 1000)));

  // ---- a finished run is never overwritten silently (checked before any expensive set-up;
  // rank 0 looks, as only it writes there, and every rank gets the verdict)
  {
    const std::string model_path = cfg.log.dir + "/model.pt";
    auto finished = torch::tensor(
        {rank == 0 && !cfg.log.overwrite && fs::exists(model_path) ? 1 : 0}, torch::kInt);
    comm.broadcast(finished, 0);
    FROST_CHECK(finished.item<int>() == 0, "log.dir '", cfg.log.dir,
                "' already holds a finished run (", model_path,
                "); choose another log.dir or pass --log.overwrite true to replace it");
  }

  // ---- --resume: the checkpoint's global batch decides this run's micro-batch and accumulation
  // (Note [Resuming on another world size] in checkpoint.h), so it is read before the set-up
  // uses them; run() applies it.
  if (!cfg.resume.empty()) {
    checkpoint = read_checkpoint(cfg, rank);
    if (checkpoint) cfg = config_for_resume(cfg, *checkpoint, rank, world);
  }

  // ---- threads: Note [Threads per rank] (frost/core/cpus.h); collective on every rank
  const ThreadChoice thread_choice = threads_for_this_rank(cfg, comm);
  const int64_t threads = thread_choice.threads;
  if (rank == 0) spdlog::info("threads: {} per rank, from {}", threads, thread_choice.source);
  at::set_num_threads(static_cast<int>(threads));
  const std::string blas = set_blas_threads(static_cast<int>(threads));

  // ---- device and the communicator of replica state and gradients
  use_deterministic_kernels(cfg.train.deterministic);
  device = place_this_rank(cfg, comm);
  {  // the banner's rank -> host -> device table (Note [Device per rank]); collective
    const std::vector<std::string> hosts = comm.all_hosts();
    const std::vector<std::string> devices = comm.all_gather_strings(device.description);
    for (int r = 0; r < world && rank == 0; ++r) {
      spdlog::info("  rank {} -> host {} -> device {}", r, hosts[static_cast<size_t>(r)],
                   devices[static_cast<size_t>(r)]);
    }
  }
  const std::string backend = gradient_backend(cfg, device);
  if (cfg.dist.shared_gpu && !device.device.is_cuda() && rank == 0) {
    spdlog::warn("dist.shared_gpu has no effect: the ranks compute on the CPU");
  }
  if (backend == comm.backend()) {
    device_comm = &comm;
  } else {
    if (cfg.dist.shared_gpu && backend == "nccl") {
      // Before NCCL's first call in this process (Note [Ranks sharing a GPU under NCCL]).
      std::string set;
      for (const auto& name : set_env_defaults(shared_gpu_nccl_env(comm.host(), rank))) {
        set += " " + name;
      }
      if (rank == 0) {
        spdlog::warn("dist.shared_gpu: ranks may share a GPU (tests only; NCCL over sockets; "
                     "set:{})",
                     set.empty() ? " nothing, all given" : set);
      }
    }
    // Over the ranks of `comm`: all of them, or this process alone (a 1-rank reference).
    owned_device_comm = comm::make_communicator(
        backend, comm.world_size() == 1 ? comm::Scope::kSelf : comm::Scope::kWorld,
        device.device.index());
    owned_device_comm->set_timeout(comm.timeout());
    device_comm = owned_device_comm.get();
  }

  open_data();
  model = build_model(cfg, train_set->info(), num_classes, rank);
  if (const models::BertConfig* bert = models::bert_config_of(*model->backbone)) {
    check_padding_id(*bert, *train_set, "data.train");
    if (test_set) check_padding_id(*bert, *test_set, "data.test");
  }
  model->to(device.device);

  // ---- strategy: what trains (before buckets and optimizer are built: invariant 1)
  strategy = make_strategy(cfg.train, *model);
  strategy->set_trainable(*model, 0);
  for (int64_t e = 0; e < cfg.train.epochs; ++e) {  // BatchNorm in train mode in some epoch
    if (strategy->backbone_frozen(e)) continue;
    check_batchnorm_batches(*model, *sampler, cfg);
    break;
  }

  // ---- replicas: same config and model everywhere, then rank 0's values everywhere
  const data::DatasetInfo& info = train_set->info();
  std::ostringstream fingerprint;
  fingerprint << cfg.to_ini() << "samples " << info.num_samples << " classes " << info.num_classes
              << "\n"
              << distributed::module_signature(*model);
  distributed::check_same_across_ranks(fingerprint.str(), "config, data and model", comm);
  distributed::broadcast_state(*model, *device_comm, 0);
  // Note [channels_last] in model_setup.h: the layout only; before buckets and optimizer state.
  const bool channels_last = channels_last_enabled(cfg.model, device.device.is_cuda());
  if (channels_last) use_channels_last(*model);

  // ---- gradient buckets and optimizer over the trainable parameters only
  // Note [Parameter groups] in optimizer.h; optim.lr_scaling (lr_schedule.h).
  const int64_t global_batch = cfg.data.batch_size * cfg.train.grad_accum_steps * world;
  optim = scaled_for_batch(cfg.optim, global_batch);
  rebuild_trainable(0, /*keep_state=*/false);
  if (cfg.train.precision == Precision::kFp16) {
    FROST_CHECK(device.device.is_cuda(), "train.precision = fp16 needs a CUDA device, but the "
                "ranks compute on the CPU (train.device = ", to_string(cfg.train.device),
                "); use train.precision = bf16 or fp32");
    scaler = std::make_unique<LossScaler>();
  }

  if (rank == 0) {
    int64_t n_trainable = 0, n_total = 0;
    for (auto& p : model->parameters()) {
      n_total += p.numel();
      if (p.requires_grad()) n_trainable += p.numel();
    }
    spdlog::info(
        "strategy {}: {} backbone{}, {} of {} parameters trainable, {} bucket(s), {} threads/rank{}",
        strategy->phase(0), to_string(cfg.model.backbone), channels_last ? " (channels_last)" : "",
        n_trainable, n_total,
        reducer->num_buckets(), threads, blas.empty() ? "" : " (" + blas + " pool too)");
    spdlog::info(
        "data: {} train samples ({} dropped per epoch to keep ranks equal), {} steps/epoch, "
        "global batch {} = {} ranks x {} micro-batch x {} accumulation steps",
        info.num_samples, sampler->dropped_per_epoch(), sampler->steps_per_epoch(),
        cfg.data.batch_size * cfg.train.grad_accum_steps * world, world, cfg.data.batch_size,
        cfg.train.grad_accum_steps);
    spdlog::info("{}", lr_scaling_summary(cfg.optim, global_batch));
    const std::vector<std::string> groups = describe_param_groups(optim, *model);
    spdlog::info("optimizer {}: {}", to_string(optim.name), groups.front());
    for (size_t i = 1; i < groups.size(); ++i) spdlog::debug("optimizer {}", groups[i]);
  }
}

// Data: each rank opens the files; reads happen per batch, only this rank's rows.
void Trainer::Impl::open_data() {
  fault::maybe_fault(faults, rank, "open");
  // data.chunk_cache_mb; a training set too large for it is decoded block by block and
  // released by the loader unless the global permutation is asked for (Note [Block shuffle]).
  data::OpenOptions open_options;
  open_options.chunk_cache_bytes = cfg.data.chunk_cache_mb << 20;
  data::OpenOptions train_options = open_options;
  train_options.release_over_budget = cfg.data.shuffle_mode != ShuffleMode::kGlobal;
  train_set.emplace(with_error_context("data.train", [&] {
    return data::H5Dataset::open(split_list(cfg.data.train), train_options);
  }));
  if (!cfg.data.test.empty()) {
    test_set.emplace(with_error_context("data.test", [&] {
      return data::H5Dataset::open(split_list(cfg.data.test), open_options);
    }));
    evaluator = std::make_unique<Evaluator>(*test_set, cfg, comm);
    class_names = with_error_context("data.test", [&] {  // eval_report.json
      return data::read_class_names(test_set->paths().front(), test_set->info().num_classes);
    });
  }
  const data::DatasetInfo& info = train_set->info();
  // Note [Class names of a run] in class_names.h: one index, one class, in both files.
  train_class_names = with_error_context("data.train", [&] {
    return data::read_class_names(train_set->paths().front(), info.num_classes);
  });
  if (test_set) {
    const std::string mismatch =
        data::class_name_mismatch(train_class_names, "data.train " + train_set->paths().front(),
                                  class_names, "data.test " + test_set->paths().front());
    FROST_CHECK(mismatch.empty(), "the data files name their classes differently: ", mismatch,
                "; a label index must mean one class in both (prepare both files together, "
                "e.g. one frost-prep call with its train/test split)");
  }
  // train.task against each file's task attribute (Note [Tasks] in step.h): a file of another
  // task must not train, or be scored, as this one.
  const auto check_task = [&](const data::H5Dataset& set, const char* key) {
    FROST_CHECK(set.info().task == to_string(cfg.train.task), key, " ", set.paths().front(),
                " has task = ", set.info().task, " but train.task = ", to_string(cfg.train.task),
                "; set train.task = ", set.info().task, " to train on it, or give a file of task ",
                to_string(cfg.train.task));
  };
  check_task(*train_set, "data.train");
  if (test_set) check_task(*test_set, "data.test");
  if (test_set) {
    const auto& ti = test_set->info();
    FROST_CHECK(ti.sample_shape == info.sample_shape && ti.input_kind == info.input_kind &&
                    ti.num_classes == info.num_classes,
                "data.test (", cfg.data.test, ") does not match data.train (", cfg.data.train,
                "): inputs, shapes and num_classes must agree");
  }
  // Images: data.augment / data.image_size / data.normalize against the data (errors name the
  // key), and the pipeline in the log (Note [Image augmentation] in augment.h).
  const ImageOptions images = with_error_context("data.train " + cfg.data.train, [&] {
    return image_options(cfg, info, /*training=*/true);
  });
  if (test_set) {
    with_error_context("data.test " + cfg.data.test,
                       [&] { return image_options(cfg, test_set->info(), false); });
  }
  if (info.input_kind == data::InputKind::kImage) {
    image_mean = images.mean.empty() ? info.mean : images.mean;
    image_std = images.std_dev.empty() ? info.std : images.std_dev;
    if (rank == 0) spdlog::info("data: {}", describe_images(cfg, info, image_mean, image_std));
  }
  num_classes = cfg.model.num_classes > 0 ? cfg.model.num_classes : info.num_classes;
  FROST_CHECK(num_classes >= info.num_classes, "model.num_classes = ", num_classes,
              " is smaller than the data's num_classes attribute ", info.num_classes);
  FROST_CHECK(cfg.train.task == data::Task::kClassification || num_classes == info.num_classes,
              "model.num_classes = ", num_classes, " but train.task = ",
              to_string(cfg.train.task), " needs one output per target: the data has K = ",
              info.num_targets, " (leave model.num_classes = 0)");
  // The sampler deals out whole optimizer steps: batch_size x grad_accum_steps rows per rank,
  // split into micro-batches by train_step.
  const int64_t rows_per_step = cfg.data.batch_size * cfg.train.grad_accum_steps;
  // Note [Block shuffle] in data/sampler.h: which shuffle, and why (logged by rank 0).
  const bool fits = train_set->fits_decode_budget();
  const bool block = cfg.data.shuffle && (cfg.data.shuffle_mode == ShuffleMode::kBlock ||
                                          (cfg.data.shuffle_mode == ShuffleMode::kAuto && !fits));
  const int64_t budget = cfg.data.chunk_cache_mb << 20;
  const std::string why =
      cfg.data.shuffle_mode != ShuffleMode::kAuto
          ? fmt::format("data.shuffle_mode = {}", to_string(cfg.data.shuffle_mode))
      : fits ? fmt::format("auto: the training set's compressed data, if any, fits "
                           "data.chunk_cache_mb = {} decoded",
                           cfg.data.chunk_cache_mb)
             : fmt::format("auto: the training set's compressed data decodes to more than "
                           "data.chunk_cache_mb = {}",
                           cfg.data.chunk_cache_mb);
  std::string shuffle_line;
  data::BlockLayout layout;
  if (block) {
    layout.block_ends = train_set->block_ends();
    int64_t max_rows = 0;
    for (size_t b = 0; b < layout.block_ends.size(); ++b)
      max_rows = std::max(max_rows,
                          layout.block_ends[b] - (b == 0 ? 0 : layout.block_ends[b - 1]));
    const int64_t row_bytes = train_set->decoded_row_bytes() > 0
                                  ? train_set->decoded_row_bytes()
                                  : info.sample_numel() * info.element_bytes();
    layout.window = cfg.data.shuffle_buffer > 0
                        ? cfg.data.shuffle_buffer
                        : data::block_shuffle_window(budget, row_bytes, max_rows);
    const int64_t window = std::max<int64_t>(layout.window / rows_per_step, 1) * rows_per_step;
    shuffle_line = fmt::format(
        "data: block shuffle ({}): {} blocks of up to {} rows in a new order every epoch, each "
        "rank its own, shuffled in windows of {} rows (~{} MiB decoded at most per rank){}",
        why, layout.block_ends.size(), max_rows, window,
        ((window + 2 * max_rows) * row_bytes) >> 20,
        (window + 2 * max_rows) * row_bytes > budget
            ? "; more than data.chunk_cache_mb, which cannot hold a window of one step's rows "
              "and its blocks, or a larger data.shuffle_buffer"
            : "");
  } else if (cfg.data.shuffle) {
    shuffle_line = fmt::format("data: global shuffle ({}){}", why,
                               fits ? ""
                                    : "; the compressed data does not fit decoded, so shuffled "
                                      "reads decode chunks again and again: consider "
                                      "data.shuffle_mode = block or a larger data.chunk_cache_mb");
  } else {
    shuffle_line = "data: no shuffle (data.shuffle = false), file order";
  }
  if (rank == 0) {
    if (!block && cfg.data.shuffle && !fits)
      spdlog::warn("{}", shuffle_line);
    else
      spdlog::info("{}", shuffle_line);
  }
  sampler = with_error_context("data.train " + cfg.data.train, [&] {  // as the data checks do
    if (block)
      return std::make_unique<data::TrainSampler>(info.num_samples, world, rank, rows_per_step,
                                                  cfg.train.seed, cfg.data.drop_last,
                                                  std::move(layout));
    return std::make_unique<data::TrainSampler>(info.num_samples, world, rank, rows_per_step,
                                                cfg.train.seed, cfg.data.shuffle,
                                                cfg.data.drop_last);
  });
  FROST_CHECK(sampler->steps_per_epoch() >= 1, "data.train has ", info.num_samples,
              " samples: too few for world size ", world, " x data.batch_size ",
              cfg.data.batch_size, " x train.grad_accum_steps ", cfg.train.grad_accum_steps,
              (cfg.data.drop_last ? " with data.drop_last" : ""));
  total_steps = cfg.train.epochs * sampler->steps_per_epoch();
  if (cfg.train.max_steps > 0) total_steps = std::min(total_steps, cfg.train.max_steps);
}

// ---------------------------------------------------------------------------- run
std::vector<EpochSummary> Trainer::Impl::run() {
  const bool rank0 = rank == 0;
  // --resume: the model, optimizer and RNG state, and the position to go on from
  std::optional<RunPosition> resumed;
  if (checkpoint) {
    // The optimizer state belongs to the trainable set of the epoch of the checkpoint's last
    // step (Note [Strategy phases]): build that set before the state is loaded.
    resumed = load_checkpoint(
        cfg, rank, world, *model, *checkpoint,
        [&](const RunPosition& p) -> torch::optim::Optimizer& {
          const int64_t state_epoch =
              p.step_in_epoch > 0 ? p.epoch : std::max<int64_t>(p.epoch - 1, 0);
          if (strategy->trainable_differs(trainable_epoch, state_epoch)) {
            rebuild_trainable(state_epoch, /*keep_state=*/false);
          }
          trainable_epoch = state_epoch;
          return *optimizer;
        });
    if (rank0 && checkpoint->world_size() != world) {  // Note [Another world size] in sampler.h
      const data::WorldSizeChange change = data::describe_world_size_change(
          *sampler, static_cast<int>(checkpoint->world_size()), resumed->epoch,
          resumed->step_in_epoch);
      if (change.same_order)
        spdlog::info("{}", change.text);
      else
        spdlog::warn("{}", change.text);
    }
    checkpoint.reset();  // its tensors are in the model and the optimizer now
  }
  const RunPosition start = resumed.value_or(RunPosition{});
  if (resumed) global_step = start.global_step;
  selection = start.selection;
  selection.metric = cfg.eval.metric;
  if (resumed && selection.has_best && rank == 0 &&
      cfg.checkpoint.export_model == ModelExport::kBest) {
    // The checkpoint's best epoch came before checkpoint.keep_best was on: no model of it was
    // kept, and the export at the end would fail after the whole run. Say so now.
    const std::string kept = best_dir(cfg) + "/model.pt";
    FROST_CHECK(fs::exists(kept), "--resume: checkpoint.export = best, but the checkpoint's best ",
                to_string(selection.metric), " (epoch ", selection.best_epoch, ") has no kept model ",
                kept, " (checkpoint.keep_best was off when it was evaluated); resume with "
                "checkpoint.export = last, or start a new run with checkpoint.keep_best = true");
  }
  open_run_dir(resumed.has_value());
  build_feature_cache();

  std::vector<EpochSummary> summaries;
  // Progress lines with the run's percent and ETA (Note [Progress ETA] in metrics.h); rank 0.
  ProgressMeter progress(cfg.log.every, total_steps, sampler->steps_per_epoch(),
                         evaluator != nullptr);
  for (int64_t epoch = start.epoch; epoch < cfg.train.epochs && global_step < total_steps;
       ++epoch) {
    // Note [Strategy phases]: every rank rebuilds buckets and optimizer before the epoch's first
    // step when what trains changes; the feature cache exists only with a backbone frozen
    // throughout (config validation).
    if (epoch > trainable_epoch && strategy->trainable_differs(trainable_epoch, epoch)) {
      rebuild_trainable(epoch, cfg.train.strategy != StrategyKind::kLpFt ||
                                   cfg.train.lp_ft_optimizer_state == LpFtOptimizerState::kKeep);
    }
    trainable_epoch = std::max(trainable_epoch, epoch);
    FROST_ASSERT(!feature_cache || strategy->backbone_frozen(epoch),
                 "the feature cache is used in epoch ", epoch, " whose backbone trains");
    const std::string phase = strategy->phase(epoch);
    const StepContext step{*model,    *strategy, *reducer,    *optimizer,
                           comm,      StepOptions::from(cfg), scaler.get()};
    strategy->set_modes(*model, epoch);  // a frozen backbone stays in eval mode: invariant 6
    const int64_t first_step = epoch == start.epoch ? start.step_in_epoch : 0;  // resumed
    TrainBatches data(*train_set, feature_cache.get(), steps_of(epoch, first_step), cfg,
                      device.device, epoch);

    EpochMeter meter;
    // Note [One synchronisation per logged step] in step.h: on a GPU the losses are read once
    // per logged step, before a checkpoint and at the end of the epoch; on the CPU every step.
    const bool read_every_step = !device.device.is_cuda();
    PendingSteps pending(cfg.train.nonfinite_loss);
    Clock::time_point window_t0;
    auto read_losses = [&] {
      const size_t n = pending.size();
      const double window_s = seconds_since(window_t0);
      pending.read([&](StepReport& r) {
        if (r.stats.skipped) {
          if (rank0) {
            log_skipped_step(r);
            metrics.step(r);
          }
          return;
        }
        if (n > 1) r.step_s = window_s / static_cast<double>(n);  // host times measure queueing
        meter.add(r.stats);
        if (rank0) {
          metrics.step(r);
          if (cfg.log.bucket_timeline) metrics.buckets(r.step, r.stats.reduce);
          progress.step(r);
        }
      });
    };
    if (device.device.is_cuda()) reset_peak_memory(device.device);  // gpu_mem_peak_mib
    const auto epoch_t0 = Clock::now();
    for (int64_t i = 0; i < data.size(); ++i) {
      // Note [Preemption]: the boundary after this run's previous step; the one after an
      // epoch's last step comes after its evaluation, below.
      if (i > 0 && preemption_agreed()) {
        read_losses();  // a non-finite loss (stop) ends the run before its weights are saved
        stop_for_preemption(position_after(epoch, first_step + i));
        break;
      }
      const auto t0 = Clock::now();
      if (pending.empty()) window_t0 = t0;
      StepReport r = step_report(epoch, i, data.size());
      r.strategy = phase.c_str();
      const Batch batch = data.next(i);
      r.data_s = seconds_since(t0);
      r.h2d_timer = batch.copy_timer;  // GPU: h2d_ms, read with the loss
      r.lr = lr_at(optim, global_step, total_steps);
      r.stats = with_step_context(r, device, [&] {  // Note [LibTorch errors in a step]
        fault::maybe_fault(faults, rank, "step:" + std::to_string(r.step),
                           [&] { allocate_beyond_any_device(device.device); });
        return train_step(step, batch, r.lr);
      });
      ++global_step;
      if (r.stats.overflow && rank0) {
        spdlog::warn("step {} (epoch {}): fp16 gradients overflowed at loss scale {}; the update "
                     "is skipped on every rank and the scale is now {} (overflows so far: {})",
                     r.step, r.epoch, r.stats.loss_scale, scaler->scale(), scaler->overflows());
      }
      if (r.stats.skipped) {  // skip mode has read its losses already: report at once
        ++skipped_steps;
        pending.add(std::move(r));
        read_losses();
        continue;
      }
      // A step checkpoint on the epoch's last step is written after the epoch's evaluation,
      // below, so that it holds the evaluation's model selection (best, patience).
      const bool epoch_last_step = first_step + i + 1 == sampler->steps_per_epoch();
      const bool checkpoint_due = cfg.checkpoint.every_steps > 0 &&
                                  global_step % cfg.checkpoint.every_steps == 0 &&
                                  !epoch_last_step;
      r.step_s = seconds_since(t0);
      const bool logged = r.step_in_epoch % cfg.log.every == 0 || i + 1 == data.size();
      pending.add(std::move(r));
      // Before a checkpoint: a non-finite loss (nonfinite_loss = stop) must end the run before
      // its weights are saved.
      if (read_every_step || logged || checkpoint_due) read_losses();
      if (checkpoint_due) write_checkpoint(position_after(epoch, first_step + i + 1));
    }
    read_losses();  // nothing is left queued at the end of an epoch (the last step is logged)
    if (preempted) break;
    EpochSummary sum = meter.summary(epoch + 1, data.size(), seconds_since(epoch_t0), comm);
    sum.trainable_params = trainable_numel();
    if (device.device.is_cuda()) {  // the training steps' peak, before the evaluation's
      const DeviceMemoryPeak peak = peak_memory(device.device);
      sum.has_gpu_mem = true;
      sum.gpu_mem_peak_mib = peak.allocated_mib;
      sum.gpu_mem_reserved_peak_mib = peak.reserved_mib;
    }

    // One model everywhere: rank 0's BatchNorm statistics (see distributed::broadcast_buffers).
    if (!strategy->backbone_frozen(epoch)) distributed::broadcast_buffers(*model, comm, 0);
    const auto eval_t0 = Clock::now();
    sum.eval = evaluate();
    if (evaluator) progress.evaluated(seconds_since(eval_t0));
    const bool stop = evaluator && select_model(sum);
    if (rank0) {
      metrics.epoch(phase.c_str(), sum, global_step);
      log_epoch(sum);
      if (evaluator) {
        write_eval_report(cfg.log.dir + "/eval_report.json", sum.eval, sum.epoch, global_step,
                          class_names);
      }
    }
    summaries.push_back(sum);
    const bool epoch_complete = first_step + data.size() == sampler->steps_per_epoch();
    const bool step_checkpoint_due =
        cfg.checkpoint.every_steps > 0 && global_step % cfg.checkpoint.every_steps == 0;
    if (epoch_complete && (cfg.checkpoint.every_epoch || step_checkpoint_due)) {
      write_checkpoint(position_after(epoch, sampler->steps_per_epoch()));
    }
    // Note [Preemption]: the boundary after the epoch's last step, once its evaluation is done;
    // a run that has no step left ends normally instead.
    if (!stop && epoch + 1 < cfg.train.epochs && global_step < total_steps &&
        preemption_agreed()) {
      stop_for_preemption(position_after(epoch, sampler->steps_per_epoch()));
      break;
    }
    if (stop) {  // the same epoch on every rank (Note [Model selection])
      if (rank0) {
        spdlog::info("early stopping after epoch {}: {} evaluations without an improvement of {} "
                     "(train.early_stopping_patience = {}; best {:.6f} at epoch {})",
                     sum.epoch, selection.stale_evals, to_string(selection.metric),
                     cfg.train.early_stopping_patience, selection.best_value,
                     selection.best_epoch);
      }
      break;
    }
  }

  if (preempted) {  // a checkpoint, no model.pt (stop_for_preemption)
    if (feature_cache) feature_cache->remove_files();
    return summaries;
  }
  if (preemption_signal() != 0 && rank0) {
    spdlog::warn("preemption: {} arrived after the run's last step boundary; the run finishes "
                 "normally", preemption_signal_name(preemption_signal()));
  }
  save_model();
  comm.barrier();  // nobody reports success before the model is on disk
  if (feature_cache) feature_cache->remove_files();
  return summaries;
}

// Rank 0 writes the checkpoint of `position` (checkpoint.h; the others return at once).
void Trainer::Impl::write_checkpoint(const RunPosition& position) {
  save_checkpoint(cfg, rank, world, *model, *optimizer, position, faults);
  checkpointed_step = position.global_step;
}

// Note [Preemption]
// A preemption signal (SIGUSR1 or SIGTERM: Note [Preemption signals] in core/preemption.h) only
// sets a flag on the rank that got it. The ranks agree on it at every step boundary with one
// all-reduce (sum over ranks of "this rank has a request", a 4-byte int32 on the host
// communicator): when any rank has a request, every rank stops at that same boundary, so a rank
// that got the signal and one that did not (a signal sent to one process, or forwarded to the
// ranks at different moments) stop together, after the same step. Then rank 0 writes the
// checkpoint of that position (unless checkpoint.every_steps wrote it just before), every rank
// waits in a barrier until it is on disk (when one rank of an mpirun job exits with a non-zero
// status, mpirun ends the others: none may exit before the file is complete), no model.pt is
// written, and frost-train exits with kPreemptedExitStatus (75) on every rank. The checkpoint is
// the one --resume auto continues from, bit for bit (Note [Checkpoints] in checkpoint.h).
//  * Boundaries: after each step, and after an epoch's last step only once that epoch's
//    evaluation, model selection and regular checkpoint are done (a signal during the evaluation
//    lets it finish, and the checkpoint holds its result). A signal during set-up is acted on
//    after the first step. After the run's last step there is no boundary: the run finishes
//    normally (model.pt, exit status 0).
//  * Cost: the all-reduce is issued after the step's gradient all-reduces have completed, so on
//    the MPI backend it waits behind nothing; it costs one latency of a 4-byte all-reduce per
//    step (measured in docs/reliability.md), and on a GPU it blocks the host, not the device.
//    Piggybacking the flag on an existing collective was not taken: the gradient buckets are
//    float tensors on the device (NCCL) whose contents the host never reads, and the only
//    per-step host all-reduce, train.nonfinite_loss = skip's, exists only in that mode.
// Collective: called at the same boundaries on every rank.
bool Trainer::Impl::preemption_agreed() {
  auto requests = torch::tensor({preemption_signal() != 0 ? 1 : 0}, torch::kInt);
  comm.all_reduce(requests, comm::ReduceOp::kSum);
  const int ranks = requests.item<int>();
  if (ranks > 0 && rank == 0) {
    spdlog::warn("preemption: a stop was requested on {} of {} rank(s){}; every rank stops after "
                 "step {}",
                 ranks, world,
                 preemption_signal() != 0
                     ? fmt::format(" (rank 0: {})", preemption_signal_name(preemption_signal()))
                     : "",
                 global_step);
  }
  return ranks > 0;
}

// Note [Preemption]: the checkpoint of `position`, on disk before any rank goes on. Collective.
void Trainer::Impl::stop_for_preemption(const RunPosition& position) {
  if (checkpointed_step != position.global_step) write_checkpoint(position);
  comm.barrier();
  preempted = true;
  if (rank == 0) {
    spdlog::warn("preemption: stopped after step {} with the checkpoint {}/step-{:09d}.pt; "
                 "exit status {}; continue with --resume auto",
                 position.global_step, checkpoint_dir(cfg), position.global_step,
                 kPreemptedExitStatus);
  }
}

// Note [Strategy phases]: the one place the buckets and the optimizer are built, over what trains
// in `epoch`. The old reducer goes first (its gradient hooks are removed before the new ones are
// installed); keep_state carries the optimizer state of the parameters that trained before
// (Note [LP-FT optimizer state]). Same call on every rank, between two steps.
void Trainer::Impl::rebuild_trainable(int64_t epoch, bool keep_state) {
  const bool first = reducer == nullptr;
  const int64_t numel_before = first ? 0 : trainable_numel();
  const int64_t bytes_before = first ? 0 : bytes_per_step();
  const std::string phase_before = strategy->phase(trainable_epoch);
  std::unique_ptr<torch::optim::Optimizer> old = std::move(optimizer);
  reducer.reset();
  strategy->set_trainable(*model, epoch);
  const std::vector<torch::Tensor> trainable = trainable_parameters(*model);
  reducer = std::make_unique<distributed::GradReducer>(
      *model, *device_comm, static_cast<int64_t>(cfg.dist.bucket_cap_mib * 1024 * 1024),
      cfg.dist.comm_dtype == CommDtype::kBf16 ? torch::kBFloat16 : c10::ScalarType::Undefined);
  reducer->set_timeline(cfg.log.bucket_timeline);  // Note [Bucket timeline]
  optimizer = make_optimizer(optim, *model);  // Note [Parameter groups] in optimizer.h
  int64_t kept = 0;
  if (keep_state && old) {
    auto& from = old->state();
    auto& to = optimizer->state();
    for (const auto& p : trainable) {
      auto it = from.find(p.unsafeGetTensorImpl());
      if (it == from.end()) continue;
      to[p.unsafeGetTensorImpl()] = it->second->clone();
      ++kept;
    }
  }
  trainable_epoch = epoch;
  if (rank == 0 && !first) {
    spdlog::info(
        "epoch {}: {} -> {}: trainable parameters {} -> {}, all-reduced per step {} -> {} bytes "
        "({} bucket(s)); optimizer rebuilt, state {}",
        epoch + 1, phase_before, strategy->phase(epoch), numel_before, trainable_numel(),
        bytes_before, bytes_per_step(), reducer->num_buckets(),
        keep_state ? "kept for " + std::to_string(kept) + " parameter(s)" : "reset");
  }
}

// Elements of the trainable parameters (those in the buckets).
int64_t Trainer::Impl::trainable_numel() const { return reducer->total_numel(); }

// Payload bytes one rank all-reduces per step (ReduceStats::all_reduce_bytes; 0 on one rank).
int64_t Trainer::Impl::bytes_per_step() const {
  const int64_t element = cfg.dist.comm_dtype == CommDtype::kBf16 ? 2 : 4;
  return world == 1 ? 0 : reducer->total_numel() * element;
}

// The run directory: global rank 0 writes shared files (invariant 7).
void Trainer::Impl::open_run_dir(bool resumed) {
  if (rank != 0) return;
  const std::string model_path = cfg.log.dir + "/model.pt";
  // A fresh run's best model is its own (Note [Model selection]): none is left from another.
  if (!resumed) fs::remove_tree(best_dir(cfg));
  // Checked again here: another job may have finished in the same log.dir meanwhile.
  FROST_CHECK(cfg.log.overwrite || !fs::exists(model_path), "log.dir '", cfg.log.dir,
              "' already holds a finished run (", model_path,
              "); choose another log.dir or pass --log.overwrite true to replace it");
  fs::create_directories(cfg.log.dir);
  fs::write_file_atomic(cfg.log.dir + "/config.ini", cfg.to_ini());
  // Note [Normalisation record] in augment.h: what frost-predict normalises with.
  if (!image_mean.empty()) {
    const nlohmann::json record = {{"normalize", to_string(cfg.data.normalize)},
                                   {"mean", image_mean},
                                   {"std", image_std}};
    fs::write_file_atomic(cfg.log.dir + "/" + kNormalisationRecord, record.dump(1) + "\n");
  }
  // Note [Class names of a run] in class_names.h: what frost-predict names its classes with.
  const std::string names_path = cfg.log.dir + "/" + data::kRunClassNames;
  if (!train_class_names.empty()) {
    fs::write_file_atomic(names_path, nlohmann::json{{"classes", train_class_names}}.dump(1) + "\n");
  } else {
    fs::remove_tree(names_path);  // a replaced run's record would name other classes
  }
  metrics.open(cfg.log.dir + "/metrics.jsonl", resumed);
  metrics.open_csv(cfg.log.dir, resumed, cfg.log.csv, cfg.train.task, evaluator != nullptr);
}

// train.feature_cache = memory | disk: the frozen backbone runs once per training sample.
void Trainer::Impl::build_feature_cache() {
  if (cfg.train.feature_cache == FeatureCacheMode::kOff) return;
  feature_cache = std::make_unique<FeatureCache>(cfg.train.feature_cache, *model->backbone,
                                                 *train_set, cfg, comm);
  if (rank == 0) {
    metrics.feature_cache(to_string(cfg.train.feature_cache), feature_cache->rows(),
                          feature_cache->dim(), feature_cache->extraction_s());
  }
}

// The batches of `epoch` this run trains on: the sampler's, from step `first_step` on (a
// resumed epoch), and no more than the steps left to total_steps.
std::vector<std::vector<int64_t>> Trainer::Impl::steps_of(int64_t epoch, int64_t first_step) const {
  auto batches = sampler->epoch_batches(epoch);
  batches.erase(batches.begin(), batches.begin() + std::min<int64_t>(first_step, batches.size()));
  const int64_t steps_left = total_steps - global_step;
  if (static_cast<int64_t>(batches.size()) > steps_left) batches.resize(steps_left);
  return batches;
}

// The report of step `i` (0-based) of this run's `epoch_steps` steps in `epoch`, before it runs.
StepReport Trainer::Impl::step_report(int64_t epoch, int64_t i, int64_t epoch_steps) const {
  StepReport r;
  r.strategy = strategy->name();
  r.epoch = epoch + 1;
  r.step = global_step + 1;
  r.step_in_epoch = i + 1;
  r.epoch_steps = epoch_steps;
  r.world_size = world;
  return r;
}

// Where the run stands after `steps_done` steps of `epoch` (the next epoch once it is complete).
RunPosition Trainer::Impl::position_after(int64_t epoch, int64_t steps_done) const {
  RunPosition p;
  p.global_step = global_step;
  const bool epoch_done = steps_done == sampler->steps_per_epoch();
  p.epoch = epoch_done ? epoch + 1 : epoch;
  p.step_in_epoch = epoch_done ? 0 : steps_done;
  p.selection = selection;
  return p;
}

// Note [Model selection] in checkpoint.h: the evaluation in `sum` against the best so far, with
// rank 0's value of eval.metric on every rank; keeps the best model (checkpoint.keep_best).
// Fills sum's selection fields. Returns whether the run stops early (the same on every rank).
// Collective (one broadcast).
bool Trainer::Impl::select_model(EpochSummary& sum) {
  auto value = torch::tensor({eval_metric_value(cfg.eval.metric, sum.eval)}, torch::kDouble);
  comm.broadcast(value, 0);
  sum.improved = selection.update(value.item<double>(), sum.epoch, global_step);
  sum.tracked = true;
  sum.best_epoch = selection.best_epoch;
  sum.best_value = selection.best_value;
  if (sum.improved && cfg.checkpoint.keep_best) save_best_model(cfg, rank, *model, selection);
  return selection.exhausted(cfg.train.early_stopping_patience);
}

// Rank 0 writes model.pt, and model.safetensors + model.json under the source framework's names:
// the last model, or with checkpoint.export = best the kept best, which every rank's model then
// holds (rank 0 loads it and broadcasts it; Note [Model selection] in checkpoint.h).
void Trainer::Impl::save_model() {
  const bool best = cfg.checkpoint.export_model == ModelExport::kBest;
  if (best) {
    with_error_context("checkpoint.export = best", [&] {
      FROST_CHECK(selection.has_best, "no evaluation was made, so there is no best model");
      if (rank == 0) {
        const std::string path = best_dir(cfg) + "/model.pt";
        FROST_CHECK(fs::exists(path), "the best model ", path, " is missing");
        FROST_CHECK(models::load_init_weights(*model, path, /*load_head=*/true), path,
                    " has a head of another shape");
      }
    });
    distributed::broadcast_state(*model, *device_comm, 0);
  }
  if (rank != 0) return;
  const std::string model_path = cfg.log.dir + "/model.pt";
  models::save_state_dict(*model, model_path);
  if (selection.has_best) {
    spdlog::info("saved {}: the {} model (checkpoint.export = {}; best {} = {:.6f} at epoch {})",
                 model_path, best ? "best" : "last", to_string(cfg.checkpoint.export_model),
                 to_string(selection.metric), selection.best_value, selection.best_epoch);
  } else {
    spdlog::info("saved {}", model_path);
  }
  ExportFormat format = cfg.model.export_format;
  if (format == ExportFormat::kAuto) {
    // bert -> huggingface-bert, except DistilBERT (Note [Encoder variants]).
    format = is_resnet(cfg.model.backbone) ? ExportFormat::kTorchvision
             : cfg.model.backbone == BackboneKind::kBert &&
                     models::default_export_format(*model) == "huggingface-bert"
                 ? ExportFormat::kHuggingFaceBert
                 : ExportFormat::kNone;
  }
  if (format == ExportFormat::kHuggingFaceBert && cfg.model.pooling == Pooling::kMean) {
    spdlog::warn(
        "model.pooling = mean: the exported Bert/RobertaForSequenceClassification classifies "
        "from the first token ([CLS], <s>); to reproduce Frost's logits in transformers, "
        "mean-pool the encoder's last_hidden_state over the attention mask and apply the "
        "head (classifier.*, RoBERTa: classifier.out_proj.*)");
  }
  if (format != ExportFormat::kNone) {
    models::export_model(*model, cfg.log.dir, to_string(format));
    spdlog::info("exported {}/model.safetensors + model.json ({} names)", cfg.log.dir,
                 to_string(format));
  }
}

}  // namespace frost::train
