// The model a run's config describes (model.*): the backbone model.backbone names, checked
// against the training data's inputs, with a linear head, then the pretrained backbone weights
// (model.weights) and an earlier run's model (model.init).
//
// Note [channels_last]
// A 4-D tensor [N, C, H, W] is stored either contiguous (NCHW: W fastest) or channels_last (NHWC:
// C fastest), with the same shape and values. cuDNN's convolutions on tensor cores work in NHWC;
// given NCHW they transpose before and after. PyTorch's tutorial "(beta) Channels Last Memory
// Format in PyTorch" (pytorch.org/tutorials/intermediate/memory_format_tutorial.html) therefore
// recommends converting both the model (model.to(memory_format=torch.channels_last)) and its
// input images for convolutional networks on GPUs, and operators keep the layout of their
// inputs. With model.channels_last on (channels_last_enabled in config.h), use_channels_last
// converts every 4-D parameter and buffer of a ResNet (the convolution weights) after the
// replicas have been made equal, and the ResNet backbone converts its input images when its stem
// weight is channels_last (models.cpp), so training, evaluation and feature extraction all run
// NHWC. Only the layout changes: values, shapes and names are the same, and model.pt,
// checkpoints and model.safetensors store contiguous tensors (save_state_dict, save_checkpoint),
// so a file does not depend on the setting. Gradients arrive in the reducer's flat buckets in
// NCHW order (a copy per convolution weight in the gradient hook) and the optimizer updates the
// NHWC weights from them.
// auto: on for CUDA. On the CPU (oneDNN convolutions) it was not faster, measured with
// frost-train, 1 rank, 1 thread, full strategy, SGD, random uint8 images, as the CPU seconds of
// the process per step ((7-step run - 2-step run) / 5; wall time was useless on the 2 shared
// cores of the measuring machine), four repetitions each, off | on, milliseconds:
//   resnet18, model.small_input, model.width 32, 1x28x28, micro-batch 32:
//     off 310 462 354 238 (median 332) | on 402 348 428 282 (median 375): on ~13 % slower
//   resnet50, width 64, 3x64x64, micro-batch 8:
//     off 542 604 534 474 (median 538) | on 534 614 408 492 (median 513): within the noise
// so auto is off on the CPU (kChannelsLastOnCpu in config.cpp); on stays available there.
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

/// Converts every 4-D parameter and buffer of `model` to the channels_last layout in place
/// (Note [channels_last]): the same tensors (set_data), so call it before the gradient reducer
/// and the optimizer are built. Other tensors are left as they are.
void use_channels_last(torch::nn::Module& model);

}  // namespace frost::train
