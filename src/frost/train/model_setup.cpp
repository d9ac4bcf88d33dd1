#include "frost/train/model_setup.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
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
