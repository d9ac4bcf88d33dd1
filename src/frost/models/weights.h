// Weight I/O of Frost models: a model's own state (model.pt: save_state_dict, and
// load_init_weights for model.init), pretrained weights under the names of the framework they
// came from (load_weights: safetensors or torch pickles), and export under those names
// (torchvision, Hugging Face transformers).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace frost::models {

class ClassifierImpl;

/// Saves `module`'s parameters and buffers (the names and order of state_dict_items in
/// models.h, detached) as a flat {name: tensor} dict in the torch.save / torch::pickle_save
/// format: a Frost model.pt, which torch.load reads in Python. Written atomically
/// (fs::write_file_atomic). Throws frost::Error when the file cannot be written.
void save_state_dict(const torch::nn::Module& module, const std::string& path);

/// Loads the model.pt at `path` (as written by save_state_dict) into `model`: every backbone
/// tensor must be in the file with the same shape, and the file must have no other backbone
/// tensor (errors name the key and the file); the head is loaded when `load_head` and its
/// shape fits, and otherwise left as it is (returns false then). Throws frost::Error for a
/// missing file or one that is not such a dict (LibTorch's message without its backtrace);
/// the caller adds its config key as context (Note [Error context]: "model.init: ...").
bool load_init_weights(ClassifierImpl& model, const std::string& path, bool load_head = true);

/// How file keys map onto module names.
struct LoadOptions {
  /// (file prefix, module prefix) pairs tried in order on every file key; the first whose file
  /// prefix matches is applied: e.g. {"bert.", ""} loads a BertForSequenceClassification
  /// checkpoint into a bare encoder; {"", "backbone."} loads a torchvision file into a Classifier.
  std::vector<std::pair<std::string, std::string>> prefix_map;
  /// Module names (after mapping) that may be missing from the file; a trailing '*' matches
  /// any suffix (e.g. "head.*"). Such a name may also have another shape in the file: it is
  /// then left as initialised, listed in LoadReport::missing, and its file key in `unexpected`.
  std::vector<std::string> allow_missing;
  /// File keys that may be left unused, same pattern syntax (e.g. "cls.*", the pretraining
  /// head; "embeddings.position_ids"). A pattern matches the key before or after mapping, so
  /// "pooler.*" also allows "bert.pooler.dense.weight" under the map {"bert.", ""}.
  std::vector<std::string> allow_unexpected;
  /// Torch pickles only: where the state dict is in the file, a '.'-separated path of dict keys
  /// ("model" for torch.save({"model": model.state_dict(), ...})); "" for the top level
  /// (load_torch_state_dict in pickle_file.h). Must be "" for a safetensors file.
  std::string state_dict_key;
};

/// What a load did.
struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> missing;     ///< module names not in the file (allowed ones only)
  std::vector<std::string> unexpected;  ///< file keys not used (allowed ones only)
};

/// Loads a .safetensors file or a torch.save file (.pt/.pth/.bin: a torchvision .pth, a Hugging
/// Face pytorch_model.bin, a Frost model.pt; read by load_torch_state_dict, the state dict under
/// options.state_dict_key) into `module`'s parameters and buffers (the names of
/// state_dict_items), converting floating dtypes (F16/BF16 -> the module's dtype). Collects
/// every missing key, unexpected key and shape mismatch and throws one frost::Error listing
/// them all by name (with shapes) unless the options allow them; nothing is copied then.
/// Also throws frost::Error for an unreadable or malformed file.
LoadReport load_weights(torch::nn::Module& module, const std::string& path,
                        const LoadOptions& options);

/// True when `name` matches `pattern`: equal, or, for a pattern ending in '*', starting with the
/// pattern's text before the '*' ("head.*" matches "head.weight"; "*" matches everything).
bool weights_pattern_matches(const std::string& pattern, const std::string& name);

/// The export format that fits `model`'s backbone: "huggingface-bert" for a BERT or RoBERTa
/// backbone, "torchvision" for a ResNet (resnet18/34/50 layout), else (DistilBERT too) "none".
std::string default_export_format(ClassifierImpl& model);

/// Exports `model` as `dir`/model.safetensors + `dir`/model.json, with the source framework's
/// names so that the file loads there: format "torchvision" (backbone.X -> X, head -> fc) or
/// "huggingface-bert" (backbone.X -> bert.X, head -> classifier; model.json is a
/// BertForSequenceClassification config.json, also written as config.json so that
/// from_pretrained(dir) works; the position_ids / token_type_ids buffers are left out; RoBERTa:
/// a RobertaForSequenceClassification, backbone.pooler.dense -> classifier.dense, head ->
/// classifier.out_proj, other backbone.X -> roberta.X; Note [Encoder variants] in bert.cpp).
/// model.safetensors carries the metadata {"format": "pt"} (transformers requires it).
/// torchvision's model.json: {"format", "arch", "num_classes", "width", "in_channels",
/// "small_input"}. Each file is written atomically. Creates `dir`. Throws frost::Error for an
/// unknown format or a backbone the format does not fit (see docs/weights.md).
void export_model(ClassifierImpl& model, const std::string& dir, const std::string& format);

}  // namespace frost::models
