// The model a run's config describes (model.*): the backbone model.backbone names, checked
// against the training data's inputs, with a linear head, then the pretrained backbone weights
// (model.weights) and an earlier run's model (model.init).
#pragma once

#include <cstdint>

#include "frost/models/models.h"
#include "frost/train/config.h"

namespace frost::data {
struct DatasetInfo;
}

namespace frost::train {

/// model.* as a backbone spec for data described by `info` (data.train's). Throws frost::Error
/// when the backbone does not fit the inputs (e.g. "model.backbone = resnet18 needs image
/// inputs [N, C, H, W], but FILE holds features inputs") or model.weights is not a file.
models::BackboneSpec backbone_spec(const Config& cfg, const data::DatasetInfo& info);

/// Builds the classifier (backbone_spec + a head of `num_classes`) after seeding LibTorch's
/// RNG with train.seed, so that every rank builds the same model, then loads model.weights
/// into the backbone and model.init (errors get the context "model.init"). Rank `rank` == 0
/// logs what was loaded. Throws frost::Error naming the key and the file.
models::Classifier build_model(const Config& cfg, const data::DatasetInfo& info,
                               int64_t num_classes, int rank);

}  // namespace frost::train
