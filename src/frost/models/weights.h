// Loading pretrained weights into Frost models, and exporting trained models under the names
// of the framework the weights came from (torchvision, Hugging Face transformers).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace frost::models {

class ClassifierImpl;

/// How file keys map onto module names.
struct LoadOptions {
  /// (file prefix, module prefix) pairs tried in order on every file key; the first whose file
  /// prefix matches is applied: e.g. {"bert.", ""} loads a BertForSequenceClassification
  /// checkpoint into a bare encoder; {"", "backbone."} loads a torchvision file into a Classifier.
  std::vector<std::pair<std::string, std::string>> prefix_map;
  /// Module names (after mapping) that may be missing from the file; a trailing '*' matches
  /// any suffix (e.g. "head.*").
  std::vector<std::string> allow_missing;
  /// File keys (before mapping) that may be left unused, same pattern syntax (e.g. "cls.*",
  /// the pretraining head; "embeddings.position_ids").
  std::vector<std::string> allow_unexpected;
};

/// What a load did.
struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> missing;     ///< module names not in the file (allowed ones only)
  std::vector<std::string> unexpected;  ///< file keys not used (allowed ones only)
};

/// Loads a .safetensors file (or a Frost model.pt) into `module`'s parameters and buffers,
/// converting dtypes. Collects every missing key, unexpected key and shape mismatch and throws
/// one frost::Error listing them all by name (with shapes) unless the options allow them.
LoadReport load_weights(torch::nn::Module& module, const std::string& path, const LoadOptions& options);

/// Exports `model` as `dir`/model.safetensors + `dir`/model.json, with the source framework's
/// names so that the file loads there: format "torchvision" (backbone.X -> X, head -> fc) or
/// "huggingface-bert" (backbone.X -> bert.X, head -> classifier; model.json is a
/// BertForSequenceClassification config.json). Written atomically. Throws frost::Error.
void export_model(ClassifierImpl& model, const std::string& dir, const std::string& format);

}  // namespace frost::models
