#include "frost/train/model_setup.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/strings.h"
#include "frost/data/dataset_info.h"
#include "frost/models/bert.h"
#include "frost/models/weights.h"
#include "frost/train/augment.h"

namespace frost::train {
namespace {

std::vector<int64_t> parse_sizes(const std::string& s) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(s)) out.push_back(std::stoll(item));
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

/// Note [Backbone sidecar]: launch/export_backbone.py writes X.json beside X.pt with the
/// module's feature_dim and the preprocessing its weights expect (frost_data: data.image_size,
/// data.normalize = custom, data.mean, data.std, data.eval_crop_pct). frost-train reads it when
/// it is there: a feature_dim other than the module's is an error (the files do not belong
/// together), and rank 0 logs the data.* values it recommends, with a warning for each one the
/// run sets otherwise. It changes no option: the data.* keys stay the user's to set.
void check_torchscript_sidecar(const Config& cfg, int64_t feature_dim, int rank) {
  const std::filesystem::path sidecar =
      std::filesystem::path(cfg.model.torchscript).replace_extension(".json");
  if (!std::filesystem::is_regular_file(sidecar)) return;
  nlohmann::json side;
  {
    std::ifstream in(sidecar);
    std::stringstream text;
    text << in.rdbuf();
    side = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  }
  FROST_CHECK(
      side.is_object() && side.contains("feature_dim") && side["feature_dim"].is_number_integer(),
      "model.torchscript: the sidecar '", sidecar.string(),
      "' is not an export_backbone.py sidecar (a JSON object with an integer "
      "feature_dim); remove or rewrite it");
  const int64_t side_dim = side["feature_dim"].get<int64_t>();
  FROST_CHECK(side_dim == feature_dim, "model.torchscript: '", cfg.model.torchscript,
              "' has feature_dim ", feature_dim, " but its sidecar '", sidecar.string(), "' says ",
              side_dim, ": the two files are from different exports");
  if (rank != 0 || !side.contains("frost_data") || !side["frost_data"].is_object()) return;
  const nlohmann::json& rec = side["frost_data"];
  std::vector<std::string> parts;
  std::vector<std::string> differ;
  const auto compare = [&](const std::string& key, const std::string& want,
                           const std::string& have) {
    parts.push_back(key + " = " + want);
    if (want != have) differ.push_back(key + " = " + have + " (recommended " + want + ")");
  };
  const auto text_of = [](const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  if (rec.contains("data.image_size") && rec["data.image_size"].is_number_integer()) {
    compare("data.image_size", text_of(rec["data.image_size"]),
            std::to_string(cfg.data.image_size));
  }
  if (rec.contains("data.normalize") && rec["data.normalize"].is_string()) {
    compare("data.normalize", text_of(rec["data.normalize"]), to_string(cfg.data.normalize));
  }
  for (const auto& [key, have] :
       {std::pair<std::string, std::string>{"data.mean", cfg.data.norm_mean},
        {"data.std", cfg.data.norm_std}}) {
    if (!rec.contains(key) || !rec[key].is_string()) continue;
    // Compared as numbers: "0.5,0.5,0.5" and "0.50, 0.5, .5" are the same values.
    const std::string want = text_of(rec[key]);
    bool same = false;
    try {
      same = parse_number_list(key, want) == parse_number_list(key, have);
    } catch (const Error&) {
      same = false;
    }
    parts.push_back(key + " = " + want);
    if (!same)
      differ.push_back(key + " = " + (have.empty() ? "(unset)" : have) + " (recommended " + want +
                       ")");
  }
  spdlog::info("model.torchscript: sidecar {} ({}): feature_dim {}, recommends {}",
               sidecar.string(), side.value("spec", std::string("?")), side_dim, join(parts, ", "));
  if (!differ.empty()) {
    spdlog::warn(
        "model.torchscript: the run's preprocessing differs from what the backbone's "
        "sidecar {} recommends: {}",
        sidecar.string(), join(differ, "; "));
  }
}

}  // namespace

models::BackboneSpec backbone_spec(const Config& cfg, const data::DatasetInfo& info) {
  models::BackboneSpec spec;
  spec.arch = to_string(cfg.model.backbone);
  spec.width = cfg.model.width;
  spec.small_input = cfg.model.small_input;
  if (cfg.model.backbone == BackboneKind::kMlp) {
    FROST_CHECK(info.input_kind != data::InputKind::kTokens,
                "model.backbone = mlp needs float features or images, but ", cfg.data.train,
                " holds token ids (use model.backbone = bert)");
    // data.image_size: the images the loader hands out (Note [Image augmentation]).
    int64_t in_features = 1;
    for (int64_t d : model_input_shape(cfg.data, info.sample_shape)) in_features *= d;
    spec.in_features = in_features;
    spec.hidden = parse_sizes(cfg.model.mlp_hidden);
  } else if (cfg.model.backbone == BackboneKind::kBert) {
    FROST_CHECK(cfg.model.weights.empty() || std::filesystem::is_regular_file(cfg.model.weights),
                "model.weights: '", cfg.model.weights,
                "' is not a file (run launch/fetch_assets.sh for the shipped MiniLM model)");
    FROST_CHECK(info.input_kind == data::InputKind::kTokens,
                "model.backbone = bert needs token inputs, but ", cfg.data.train, " holds ",
                data::input_kind_name(info.input_kind),
                " inputs (make text datasets with frost-prep text)");
    spec.config_path =
        !cfg.model.hf_config.empty()
            ? cfg.model.hf_config
            : std::filesystem::path(cfg.model.weights).replace_filename("config.json").string();
    spec.pooling = to_string(cfg.model.pooling);
  } else if (cfg.model.backbone == BackboneKind::kTorchScript) {
    spec.torchscript_path = cfg.model.torchscript;
    spec.feature_dim = cfg.model.feature_dim;
  } else {
    FROST_CHECK(info.input_kind == data::InputKind::kImage && info.sample_shape.size() == 3,
                "model.backbone = ", to_string(cfg.model.backbone),
                " needs image inputs [N, C, H, W], but ", cfg.data.train, " holds ",
                data::input_kind_name(info.input_kind), " inputs");
    spec.in_channels = info.sample_shape[0];
  }
  return spec;
}

models::Classifier build_model(const Config& cfg, const data::DatasetInfo& info,
                               int64_t num_classes, int rank) {
  // Seeded the same on every rank (rank 0's copy is broadcast by the Trainer anyway).
  torch::manual_seed(cfg.train.seed);
  models::Classifier model(models::make_backbone(backbone_spec(cfg, info)), num_classes);
  if (cfg.model.backbone == BackboneKind::kTorchScript) {
    check_torchscript_sidecar(cfg, model->backbone->feature_dim(), rank);
  }
  if (!cfg.model.weights.empty()) {
    models::LoadOptions load;
    load.prefix_map.emplace_back(cfg.model.weights_prefix, "");
    load.allow_unexpected = split_list(cfg.model.weights_ignore);
    load.allow_missing = models::bert_optional_weights(*model->backbone);  // RoBERTa's pooler
    load.state_dict_key = cfg.model.weights_key;
    const auto report = models::load_weights(*model->backbone, cfg.model.weights, load);
    if (rank == 0 && !report.missing.empty()) {
      spdlog::info("model.weights: {} has no {} ({} tensors; a RoBERTa checkpoint without "
                   "the pooler): initialised afresh, as transformers does",
                   cfg.model.weights, report.missing.front(), report.missing.size());
    }
    if (rank == 0) {
      spdlog::info(
          "model.weights: {} backbone tensors loaded from {}{}", report.loaded, cfg.model.weights,
          report.unexpected.empty() ? ""
                                    : fmt::format(" ({} unused keys matched model.weights_ignore)",
                                                  report.unexpected.size()));
    }
  }
  if (!cfg.model.init.empty()) {
    const bool head_loaded = with_error_context("model.init", [&] {
      return models::load_init_weights(*model, cfg.model.init, cfg.model.init_head);
    });
    if (rank == 0) {
      spdlog::info("model.init: backbone loaded from {}{}", cfg.model.init,
                   head_loaded           ? " (head too)"
                   : cfg.model.init_head ? "; head is new (class count differs)"
                                         : "; head is new (model.init_head = false)");
    }
  }
  return model;
}

void use_channels_last(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters(/*recurse=*/true)) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (auto& b : model.buffers(/*recurse=*/true)) {
    if (b.dim() == 4) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

}  // namespace frost::train
