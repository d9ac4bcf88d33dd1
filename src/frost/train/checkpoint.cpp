#include "frost/train/checkpoint.h"

#include <cmath>
#include <spdlog/spdlog.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/models/models.h"
#include "frost/models/pickle_file.h"
#include "frost/models/weights.h"
#include "frost/train/placement.h"

namespace frost::train {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  FROST_CHECK(in.good(), "cannot read '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The checkpoint file that cfg.resume names ("" when "auto" finds none).
std::string resume_path(const Config& cfg, int rank) {
  if (cfg.resume != "auto") return cfg.resume;
  const std::string latest = checkpoint_dir(cfg) + "/latest";
  if (!fs::exists(latest)) {
    if (rank == 0)
      spdlog::info("--resume auto: no checkpoint in {}; starting fresh", checkpoint_dir(cfg));
    return "";
  }
  std::string name = read_text(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return checkpoint_dir(cfg) + "/" + name;
}

// The value of `key` ("data.batch_size") in a config.ini text, or nullopt.
std::optional<std::string> ini_value(const std::string& ini, const std::string& key) {
  const size_t dot = key.find('.');
  const std::string section = "[" + key.substr(0, dot) + "]", name = key.substr(dot + 1) + " = ";
  std::stringstream ss(ini);
  std::string line;
  bool in_section = false;
  while (std::getline(ss, line)) {
    if (!line.empty() && line[0] == '[') {
      in_section = line == section;
    } else if (in_section && line.rfind(name, 0) == 0) {
      return line.substr(name.size());
    }
  }
  return std::nullopt;
}

// A count key of a checkpoint's config; `dflt` when absent (written by a Frost older than it).
int64_t saved_int(const std::string& ini, const std::string& key, int64_t dflt,
                  const std::string& path) {
  const std::optional<std::string> v = ini_value(ini, key);
  if (!v) return dflt;
  try {
    size_t used = 0;
    const int64_t n = std::stoll(*v, &used);
    if (used == v->size() && n >= 1) return n;
  } catch (const std::exception&) {
  }
  throw Error("'" + path + "' has " + key + " = '" + *v + "' in its config, not a count >= 1");
}

std::string describe_split(const BatchSplit& s, int64_t world) {
  return detail::str_cat(world, " rank", world == 1 ? "" : "s", " x data.batch_size ",
                         s.batch_size, " x train.grad_accum_steps ", s.grad_accum_steps);
}

}  // namespace

struct CheckpointFile::Contents {
  std::string path;
  c10::IValue dict;  // GenericDict
  int64_t world_size = 0;
  BatchSplit split;
  std::string config;
};

CheckpointFile::CheckpointFile(std::shared_ptr<const Contents> contents)
    : contents_(std::move(contents)) {}
const std::string& CheckpointFile::path() const { return contents_->path; }
int64_t CheckpointFile::world_size() const { return contents_->world_size; }
BatchSplit CheckpointFile::split() const { return contents_->split; }
const std::string& CheckpointFile::config_ini() const { return contents_->config; }

BatchSplit split_for_world_size(int64_t global_batch, int world_size, BatchSplit configured) {
  FROST_CHECK(global_batch >= 1 && world_size >= 1 && configured.batch_size >= 1 &&
                  configured.grad_accum_steps >= 1,
              "split_for_world_size: bad arguments (global batch ", global_batch, ", world size ",
              world_size, ", data.batch_size ", configured.batch_size,
              ", train.grad_accum_steps ", configured.grad_accum_steps, ")");
  if (configured.rows() * world_size == global_batch) return configured;
  if (global_batch % world_size != 0) {
    int64_t below = 0, above = 0;  // the nearest world sizes that divide the global batch
    for (int64_t w = world_size - 1; w >= 1 && below == 0; --w)
      if (global_batch % w == 0) below = w;
    for (int64_t w = world_size + 1; w <= global_batch && above == 0; ++w)
      if (global_batch % w == 0) above = w;
    throw Error(detail::str_cat(
        "the global batch ", global_batch, " cannot be shared equally by ", world_size,
        " ranks: resume on ", below, above > 0 ? detail::str_cat(" or ", above) : std::string(),
        " ranks (the nearest divisors of ", global_batch,
        "), or start a new run from the checkpoint's model with model.init to choose another "
        "global batch"));
  }
  const int64_t rows = global_batch / world_size;  // R, per rank and step
  int64_t micro = std::min(configured.batch_size, rows);
  while (rows % micro != 0) --micro;
  return BatchSplit{micro, rows / micro};
}

std::string checkpoint_dir(const Config& cfg) { return cfg.log.dir + "/checkpoints"; }
std::string best_dir(const Config& cfg) { return cfg.log.dir + "/best"; }

double metric_value(EvalMetric metric, double accuracy, double macro_f1, double loss) {
  switch (metric) {
    case EvalMetric::kAccuracy: return accuracy;
    case EvalMetric::kMacroF1: return macro_f1;
    case EvalMetric::kLoss: return loss;
    default: break;  // the other tasks' metrics: eval_metric_value (evaluation.h)
  }
  return std::nan("");
}

bool ModelSelection::improves(double value) const {
  if (!has_best) return true;
  return higher_is_better(metric) ? value > best_value : value < best_value;
}

bool ModelSelection::update(double value, int64_t epoch, int64_t step) {
  if (std::isnan(value) || !improves(value)) {  // a NaN metric is never the best
    ++stale_evals;
    return false;
  }
  has_best = true;
  best_value = value;
  best_epoch = epoch;
  best_step = step;
  stale_evals = 0;
  return true;
}

void save_best_model(const Config& cfg, int rank, models::ClassifierImpl& model,
                     const ModelSelection& selection) {
  if (rank != 0) return;  // invariant 7: one writer
  const std::string dir = best_dir(cfg);
  fs::create_directories(dir);
  models::save_state_dict(model, dir + "/model.pt");
  const nlohmann::json best = {{"metric", to_string(selection.metric)},
                               {"value", selection.best_value},
                               {"epoch", selection.best_epoch},
                               {"step", selection.best_step}};
  fs::write_file_atomic(dir + "/best.json", best.dump() + "\n");
  spdlog::info("best model so far: {} = {:.6f} at epoch {} (step {}) -> {}/model.pt",
               to_string(selection.metric), selection.best_value, selection.best_epoch,
               selection.best_step, dir);
}

void save_checkpoint(const Config& cfg, int rank, int world_size, models::ClassifierImpl& model,
                     torch::optim::Optimizer& optimizer, const RunPosition& position,
                     const fault::Plan& faults) {
  if (rank != 0) return;  // invariant 7: one writer
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& [name, tensor] : models::state_dict_items(model))
    // loads on any machine, whatever the layout (Note [channels_last] in model_setup.h)
    state.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  d.insert("model", state);
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream optim_bytes;
  archive.save_to(optim_bytes);
  const std::string ob = optim_bytes.str();
  d.insert("optimizer", torch::from_blob(const_cast<char*>(ob.data()),
                                         {static_cast<int64_t>(ob.size())}, torch::kUInt8)
                            .clone());
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    d.insert("rng", gen.get_state());
  }
  const c10::Device device = device_of(model);
  if (device.is_cuda()) {  // dropout on the GPU draws from the device's generator
    auto gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    d.insert("rng_cuda", gen.get_state());
  }
  d.insert("global_step", position.global_step);
  d.insert("epoch", position.epoch);
  d.insert("step_in_epoch", position.step_in_epoch);
  d.insert("world_size", static_cast<int64_t>(world_size));
  d.insert("config", cfg.to_ini());
  if (position.selection.has_best) {  // Note [Model selection]
    d.insert("best_metric", std::string(to_string(position.selection.metric)));
    d.insert("best_value", position.selection.best_value);
    d.insert("best_epoch", position.selection.best_epoch);
    d.insert("best_step", position.selection.best_step);
    d.insert("stale_evals", position.selection.stale_evals);
  }
  const std::vector<char> bytes = models::save_pickle_bytes(c10::IValue(d));
  const std::string dir = checkpoint_dir(cfg);
  fs::create_directories(dir);
  char name[64];
  std::snprintf(name, sizeof(name), "step-%09lld.pt", static_cast<long long>(position.global_step));
  const std::string fault_site = "checkpoint:" + std::to_string(position.global_step);
  if (faults.targets(rank, fault_site) && faults.action == fault::Action::kKill) {
    // Fault injection: die half-way through writing the checkpoint's temporary file.
    std::ofstream part(fs::temp_path_for(dir + "/" + name), std::ios::binary);
    part.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    part.flush();
    fault::maybe_fault(faults, rank, fault_site);
  }
  fs::write_file_atomic(dir + "/" + name, bytes.data(), bytes.size());
  fs::write_file_atomic(dir + "/latest", std::string(name) + "\n");
  // Keep the newest checkpoint.keep files; names sort by step.
  std::vector<std::string> all;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("step-", 0) == 0 && f.size() > 3 && f.substr(f.size() - 3) == ".pt")
      all.push_back(f);
    // A temporary file of an earlier, killed writer (rank 0 is the only writer).
    if (f.find(".tmp.") != std::string::npos) std::filesystem::remove(e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + cfg.checkpoint.keep < all.size(); ++i)
    std::filesystem::remove(dir + "/" + all[i]);
  spdlog::info("checkpoint {}/{} (step {})", dir, name, position.global_step);
}

std::optional<RunPosition> load_checkpoint(const Config& cfg, int rank, int world_size,
                                           models::ClassifierImpl& model,
                                           torch::optim::Optimizer& optimizer) {
  return load_checkpoint(cfg, rank, world_size, model,
                         [&](const RunPosition&) -> torch::optim::Optimizer& { return optimizer; });
}

std::optional<CheckpointFile> read_checkpoint(const Config& cfg, int rank) {
  return with_error_context("--resume", [&]() -> std::optional<CheckpointFile> {
    const std::string path = resume_path(cfg, rank);
    if (path.empty()) return std::nullopt;
    FROST_CHECK(std::filesystem::is_regular_file(path), "checkpoint '", path, "' is not a file");
    auto contents = std::make_shared<CheckpointFile::Contents>();
    contents->path = path;
    try {
      contents->dict = models::load_pickle_file(path);
    } catch (const std::exception& e) {
      throw Error("'" + path + "' is not a Frost checkpoint (" +
                  models::torch_error_message(e).substr(0, 200) + ")");
    }
    FROST_CHECK(contents->dict.isGenericDict(), "'", path, "' is not a Frost checkpoint");
    auto d = contents->dict.toGenericDict();
    for (const char* k : {"model", "optimizer", "rng", "global_step", "epoch", "step_in_epoch",
                          "world_size", "config"}) {
      FROST_CHECK(d.contains(k), "'", path, "' has no '", k, "' entry");
    }
    contents->world_size = d.at("world_size").toInt();
    FROST_CHECK(contents->world_size >= 1, "'", path, "' has world_size ", contents->world_size);
    contents->config = d.at("config").toStringRef();
    const Config defaults;
    contents->split.batch_size =
        saved_int(contents->config, "data.batch_size", defaults.data.batch_size, path);
    contents->split.grad_accum_steps = saved_int(contents->config, "train.grad_accum_steps",
                                                 defaults.train.grad_accum_steps, path);
    return CheckpointFile(std::move(contents));
  });
}

Config config_for_resume(const Config& cfg, const CheckpointFile& checkpoint, int rank,
                         int world_size) {
  return with_error_context("--resume", [&] {
    const BatchSplit configured{cfg.data.batch_size, cfg.train.grad_accum_steps};
    const BatchSplit split = with_error_context(
        detail::str_cat("'", checkpoint.path(), "' was written by ",
                        describe_split(checkpoint.split(), checkpoint.world_size())),
        [&] { return split_for_world_size(checkpoint.global_batch(), world_size, configured); });
    Config out = cfg;
    out.data.batch_size = split.batch_size;
    out.train.grad_accum_steps = split.grad_accum_steps;
    if (rank == 0 && !(split == configured)) {
      const std::string line = fmt::format(
          "--resume: the checkpoint's global batch {} ({}) is kept on {} rank(s): data.batch_size "
          "{} -> {}, train.grad_accum_steps {} -> {} (the configured values make {}; Note "
          "[Resuming on another world size])",
          checkpoint.global_batch(), describe_split(checkpoint.split(), checkpoint.world_size()),
          world_size, configured.batch_size, split.batch_size, configured.grad_accum_steps,
          split.grad_accum_steps, configured.rows() * world_size);
      // On the same world size only an edit of the config changes the split: say so louder.
      if (checkpoint.world_size() == world_size)
        spdlog::warn("{}", line);
      else
        spdlog::info("{}", line);
    }
    return out;
  });
}

std::optional<RunPosition> load_checkpoint(
    const Config& cfg, int rank, int world_size, models::ClassifierImpl& model,
    const std::function<torch::optim::Optimizer&(const RunPosition&)>& optimizer_for) {
  const std::optional<CheckpointFile> checkpoint = read_checkpoint(cfg, rank);
  if (!checkpoint) return std::nullopt;
  return load_checkpoint(cfg, rank, world_size, model, *checkpoint, optimizer_for);
}

RunPosition load_checkpoint(
    const Config& cfg, int rank, int world_size, models::ClassifierImpl& model,
    const CheckpointFile& checkpoint,
    const std::function<torch::optim::Optimizer&(const RunPosition&)>& optimizer_for) {
  return with_error_context("--resume", [&]() -> RunPosition {
    const std::string& path = checkpoint.path();
    auto d = checkpoint.contents().dict.toGenericDict();
    const int64_t saved_world = checkpoint.world_size();
    const BatchSplit saved = checkpoint.split(), now{cfg.data.batch_size, cfg.train.grad_accum_steps};
    FROST_CHECK(now.rows() * world_size == checkpoint.global_batch(), "'", path,
                "' was written with the global batch ", checkpoint.global_batch(), " (",
                describe_split(saved, saved_world), "); resuming with ",
                describe_split(now, world_size), " = ", now.rows() * world_size,
                " would change it (config_for_resume gives the split that keeps it)");
    // The split may differ (Note [Resuming on another world size]); everything else may not.
    Config same_split = cfg;
    same_split.data.batch_size = saved.batch_size;
    same_split.train.grad_accum_steps = saved.grad_accum_steps;
    const std::string diff = config_diff(checkpoint.config_ini(), same_split.to_ini(), Config{}.to_ini());
    FROST_CHECK(diff.empty(), "'", path, "' was written with another config: ", diff);
    torch::NoGradGuard no_grad;
    auto state = d.at("model").toGenericDict();
    for (const auto& [name, tensor] : models::state_dict_items(model)) {
      FROST_CHECK(state.contains(name), "'", path, "' has no tensor '", name, "'");
      tensor.copy_(state.at(name).toTensor());
    }
    RunPosition position;
    position.global_step = d.at("global_step").toInt();
    position.epoch = d.at("epoch").toInt();
    position.step_in_epoch = d.at("step_in_epoch").toInt();
    torch::optim::Optimizer& optimizer = optimizer_for(position);
    auto ob = d.at("optimizer").toTensor().contiguous();
    std::istringstream optim_bytes(
        std::string(static_cast<const char*>(ob.data_ptr()), ob.numel()));
    const c10::Device device = device_of(model);
    torch::serialize::InputArchive archive;
    archive.load_from(optim_bytes, device);  // optimizer state beside the parameters
    optimizer.load(archive);
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(d.at("rng").toTensor());
    }
    if (device.is_cuda() && d.contains("rng_cuda")) {
      auto gen = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(d.at("rng_cuda").toTensor());
    }
    position.selection.metric = cfg.eval.metric;
    if (d.contains("best_value")) {  // absent: no evaluation yet, or written before selection
      // eval.metric is part of the config check above: the best is of the same metric.
      FROST_CHECK(d.contains("best_metric") && d.at("best_metric").toStringRef() ==
                                                   to_string(cfg.eval.metric),
                  "'", path, "' holds a best value of another eval.metric");
      position.selection.has_best = true;
      position.selection.best_value = d.at("best_value").toDouble();
      position.selection.best_epoch = d.at("best_epoch").toInt();
      position.selection.best_step = d.at("best_step").toInt();
      position.selection.stale_evals = d.at("stale_evals").toInt();
    }
    if (rank == 0) {
      spdlog::info("resumed from {}: step {}, epoch {}, step {} of that epoch{}{}", path,
                   position.global_step, position.epoch + 1, position.step_in_epoch,
                   saved_world == world_size
                       ? std::string()
                       : fmt::format(" (written by {} rank(s), now {})", saved_world, world_size),
                   position.selection.has_best
                       ? fmt::format("; best {} = {:.6f} at epoch {}, {} stale evaluation(s)",
                                     to_string(position.selection.metric),
                                     position.selection.best_value, position.selection.best_epoch,
                                     position.selection.stale_evals)
                       : std::string());
    }
    return position;
  });
}

// Keys whose default is not what a run did before the key existed, with the value that is
// (config_diff): optim.no_decay's default bias,norm exempts biases and norm weights from weight
// decay, while every run before it decayed everything (Note [Parameter groups] in optimizer.h).
namespace {
const std::map<std::string, std::string> kBeforeKey = {{"optim.no_decay", "none"}};
}  // namespace

std::string config_diff(const std::string& saved, const std::string& now,
                        const std::string& defaults) {
  // "section.key = value" lines of a config.ini text.
  auto lines = [](const std::string& t) {
    std::vector<std::string> out;
    std::stringstream ss(t);
    std::string l, section;
    while (std::getline(ss, l)) {
      if (!l.empty() && l[0] == '[')
        section = l.substr(1, l.size() - 2);
      else if (!l.empty())
        out.push_back(section + "." + l);
    }
    return out;
  };
  auto key_of = [](const std::string& l) { return l.substr(0, l.find(" = ")); };
  // Keys that do not change what is computed may differ between the two runs.
  auto relevant = [](const std::vector<std::string>& in) {
    std::vector<std::string> out;
    for (const auto& l : in) {
      if (l.rfind("log.", 0) == 0 || l.rfind("checkpoint.", 0) == 0 ||
          l.rfind("dist.timeout_s", 0) == 0 || l.rfind("data.prefetch", 0) == 0 ||
          l.rfind("train.threads", 0) == 0) {
        continue;
      }
      out.push_back(l);
    }
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& l) {
    return std::find(v.begin(), v.end(), l) != v.end();
  };
  const auto a = relevant(lines(saved)), b = relevant(lines(now));
  const auto dflt = lines(defaults);
  std::vector<std::string> saved_keys;
  for (const auto& l : a) saved_keys.push_back(key_of(l));
  std::string diff;
  auto add = [&diff](const std::string& part) { diff += (diff.empty() ? "" : "; ") + part; };
  for (const auto& l : a) {
    if (!has(b, l)) add("checkpoint has " + l);
  }
  for (const auto& l : b) {
    if (has(a, l)) continue;
    const std::string key = key_of(l);
    if (defaults.empty() || has(saved_keys, key)) {
      add("now " + l);
      continue;
    }
    // A key newer than the checkpoint: it ran with the key's default, or with the value that
    // stands for the behaviour before the key when the key's default changed it.
    if (const auto before = kBeforeKey.find(key); before != kBeforeKey.end()) {
      if (l == key + " = " + before->second) continue;
      add("now " + l + " (the checkpoint predates this key and ran as " + key + " = " +
          before->second + "; set " + key + " = " + before->second + " to resume it)");
      continue;
    }
    std::string default_line;
    for (const auto& d : dflt) {
      if (key_of(d) == key) default_line = d;
    }
    if (default_line == l) continue;
    add("now " + l + " (the checkpoint predates this key, which it ran with at its default" +
        (default_line.empty() ? std::string() : " " + default_line.substr(key.size() + 3)) + ")");
  }
  return diff;
}

}  // namespace frost::train
