// Loading pretrained weights by name, and exporting under the source framework's names.
//
// Note [Loading weights all or nothing]
// load_weights first matches every file key against the module's state_dict names (after the
// prefix map), collecting every missing name, unexpected key, shape and dtype mismatch; only
// when nothing is wrong does it copy. A user who loads the wrong checkpoint sees the whole
// picture in one message (instead of fixing one key per run), and a failed load leaves the
// module as it was.

#include "frost/models/weights.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/models/bert.h"
#include "frost/models/models.h"
#include "frost/models/pickle_file.h"
#include "frost/models/safetensors.h"

namespace frost::models {
namespace {

/// At most this many names per category in a load error (the counts are always complete).
constexpr size_t kMaxListedNames = 40;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(c10::IntArrayRef shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::string join_capped(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxListedNames; ++i)
    out += (i ? ", " : "") + names[i];
  if (names.size() > kMaxListedNames) {
    out += ", ... (" + std::to_string(names.size() - kMaxListedNames) + " more)";
  }
  return out;
}

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext;
}

/// The tensors of a weights file: a safetensors file (memory-mapped, read tensor by tensor) or
/// the state dict of a torch.save file (read whole).
class WeightsSource {
 public:
  WeightsSource(const std::string& path, const std::string& state_dict_key) : path_(path) {
    const std::string ext = lower_extension(path);
    if (ext == ".safetensors") {
      FROST_CHECK(state_dict_key.empty(), "weights '", path,
                  "': model.weights_key = ", state_dict_key,
                  " applies to torch.save files (.pt, .pth, .bin); a safetensors file is flat");
      file_ = std::make_unique<SafetensorsFile>(SafetensorsFile::open(path));
      for (const auto& key : file_->keys()) {
        const auto& e = file_->entry(key);
        keys_.push_back(key);
        shapes_[key] = e.shape;
        floating_[key] = e.dtype[0] == 'F' || e.dtype == "BF16";
      }
    } else if (ext == ".pt" || ext == ".pth" || ext == ".bin") {
      for (auto& [key, t] : load_torch_state_dict(path, state_dict_key)) {
        keys_.push_back(key);
        shapes_[key] = t.sizes().vec();
        floating_[key] = t.is_floating_point();
        pickled_[key] = std::move(t);
      }
    } else {
      throw Error("weights '" + path + "': unknown file type '" + ext +
                  "'; expected a .safetensors file or a torch.save file (.pt, .pth, .bin)");
    }
  }

  const std::vector<std::string>& keys() const { return keys_; }
  const std::vector<int64_t>& shape(const std::string& key) const { return shapes_.at(key); }
  bool is_floating(const std::string& key) const { return floating_.at(key); }

  at::Tensor get(const std::string& key, c10::ScalarType dtype) const {
    if (file_) return file_->get(key, dtype);
    return pickled_.at(key).to(dtype);
  }

 private:
  std::string path_;
  std::unique_ptr<SafetensorsFile> file_;
  std::map<std::string, at::Tensor> pickled_;
  std::vector<std::string> keys_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::map<std::string, bool> floating_;
};

std::string apply_prefix_map(const std::string& key, const LoadOptions& options) {
  for (const auto& [file_prefix, module_prefix] : options.prefix_map) {
    if (key.compare(0, file_prefix.size(), file_prefix) == 0) {
      return module_prefix + key.substr(file_prefix.size());
    }
  }
  return key;
}

/// Splits `name` into (prefix, suffix) at the start of its longest dotted suffix shared with
/// `other`: "bert.encoder.x" vs "encoder.x" -> "bert.". Returns false when they share fewer
/// than two trailing components (every parameter ends in "weight" or "bias").
bool common_dotted_suffix(const std::string& a, const std::string& b, std::string& prefix_a,
                          std::string& prefix_b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[a.size() - 1 - n] == b[b.size() - 1 - n]) ++n;
  // Shrink to a component boundary in both names.
  while (n > 0) {
    const size_t ia = a.size() - n, ib = b.size() - n;
    const bool boundary_a = ia == 0 || a[ia - 1] == '.';
    const bool boundary_b = ib == 0 || b[ib - 1] == '.';
    if (boundary_a && boundary_b) break;
    --n;
  }
  if (n == 0 || a.find('.', a.size() - n) == std::string::npos) return false;
  prefix_a = a.substr(0, a.size() - n);
  prefix_b = b.substr(0, b.size() - n);
  return prefix_a != prefix_b;
}

/// A hint when unexpected file keys and missing module names differ only by a prefix.
std::string prefix_hint(const std::vector<std::string>& unexpected,
                        const std::vector<std::string>& missing) {
  constexpr size_t kMaxPairs = 300;  // bounded work for huge mismatches
  std::map<std::pair<std::string, std::string>, int> votes;
  for (size_t i = 0; i < unexpected.size() && i < kMaxPairs; ++i) {
    for (size_t j = 0; j < missing.size() && j < kMaxPairs; ++j) {
      std::string pu, pm;
      if (common_dotted_suffix(unexpected[i], missing[j], pu, pm)) ++votes[{pu, pm}];
    }
  }
  if (votes.empty()) return "";
  const auto best = std::max_element(
      votes.begin(), votes.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return "; hint: file keys '" + best->first.first + "*' look like the model's '" +
         best->first.second + "*' (prefix map '" + best->first.first + "' -> '" +
         best->first.second + "')";
}

}  // namespace

c10::IValue load_pickle_file(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  // The first seven parameters are the same in LibTorch 1.13 and 2.x; "data" is the archive
  // name torch.save and pickle_save use (torch::pickle_load passes the same).
  return torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                           /*type_resolver=*/{}, /*obj_loader=*/{}, /*device=*/{},
                                           reader);
}

// Note [Plain pickles]
// torch::pickle_save tags every dict and list with its TorchScript type
// (torch.jit._pickle.restore_type_tag), a global that Python's torch.load refuses under
// weights_only=True, its default since PyTorch 2.6. The same archive without the tags (the
// Pickler's tag_aggregates = false) is what torch.save writes for a dict of tensors, strings and
// ints: torch.load reads it with the default, and LibTorch's readers (load_pickle_file,
// torch::pickle_load) read it as a generic dict.
std::vector<char> save_pickle_bytes(const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler(
      [&](const char* bytes, size_t n) { pickle.insert(pickle.end(), bytes, bytes + n); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) {
    const auto* b = static_cast<const char*>(bytes);
    archive.insert(archive.end(), b, b + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  return archive;
}

std::string torch_error_message(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

// ---------------------------------------------------------------------------- model.pt
void save_state_dict(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  // On the CPU whatever the model's device: a model.pt loads on any machine. Contiguous, so that
  // the file does not depend on the layout the model trained in (model.channels_last).
  for (const auto& [name, tensor] : state_dict_items(module)) {
    dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  }
  const std::vector<char> bytes = save_pickle_bytes(c10::IValue(dict));  // Note [Plain pickles]
  fs::write_file_atomic(path, bytes.data(), bytes.size());
}

namespace {
// The {name: tensor} dict of a model.pt. Messages name the file; the caller adds its role.
c10::Dict<std::string, torch::Tensor> read_state_dict(const std::string& path) {
  FROST_CHECK(std::filesystem::is_regular_file(path), "'", path,
              "' is not a file (give the model.pt of an earlier run)");
  FROST_CHECK(std::ifstream(path, std::ios::binary).good(), "cannot open '", path, "'");
  c10::IValue v;
  try {
    v = load_pickle_file(path);
  } catch (const std::exception& e) {
    const std::string what = torch_error_message(e);
    throw Error("'" + path + "' is not a Frost model.pt (torch pickle of a {name: tensor} dict): " +
                what.substr(0, what.find('\n')).substr(0, 300));
  }
  FROST_CHECK(v.isGenericDict(), "'", path, "' holds a ", v.tagKind(),
              ", expected a {name: tensor} dict");
  c10::Dict<std::string, torch::Tensor> out;
  for (const auto& entry : v.toGenericDict()) {
    FROST_CHECK(entry.key().isString() && entry.value().isTensor(), "'", path,
                "' has a non-tensor entry");
    out.insert(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}
}  // namespace

bool load_init_weights(ClassifierImpl& model, const std::string& path, bool load_head) {
  const auto dict = read_state_dict(path);
  torch::NoGradGuard no_grad;
  const auto backbone = state_dict_items(*model.backbone);
  for (const auto& [name, target] : backbone) {
    const std::string key = "backbone." + name;
    FROST_CHECK(dict.contains(key), "'", path, "' has no '", key,
                "' (is it a model of the same model.backbone / model.width?)");
    const auto& src = dict.at(key);
    FROST_CHECK(src.sizes() == target.sizes(), "'", path, "': '", key, "' has shape ", src.sizes(),
                " but the model expects ", target.sizes());
    target.copy_(src);
  }
  int64_t present = 0;
  for (const auto& entry : dict) {
    if (entry.key().rfind("backbone.", 0) == 0) ++present;
  }
  const auto expected = static_cast<int64_t>(backbone.size());
  FROST_CHECK(present == expected, "'", path, "' has ", present,
              " backbone tensors but the model has ", expected, " (different architecture?)");
  const bool head_fits = load_head && dict.contains("head.weight") && dict.contains("head.bias") &&
                         dict.at("head.weight").sizes() == model.head->weight.sizes();
  if (head_fits) {
    model.head->weight.copy_(dict.at("head.weight"));
    model.head->bias.copy_(dict.at("head.bias"));
  }
  return head_fits;
}

// ---------------------------------------------------------------------------- pretrained weights
bool weights_pattern_matches(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') {
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return pattern == name;
}

namespace {
bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return weights_pattern_matches(p, name); });
}
}  // namespace

LoadReport load_weights(torch::nn::Module& module, const std::string& path,
                        const LoadOptions& options) {
  const WeightsSource source(path, options.state_dict_key);

  std::map<std::string, torch::Tensor> targets;
  std::vector<std::string> target_order;
  for (auto& [name, tensor] : state_dict_items(module)) {
    if (targets.emplace(name, tensor).second) target_order.push_back(name);
  }

  // A file prefix that no key has is a typo (e.g. model.weights_prefix = bert. on a bare
  // BertModel file), not "nothing to strip": say so rather than load under the wrong names.
  for (const auto& [file_prefix, module_prefix] : options.prefix_map) {
    if (file_prefix.empty()) continue;
    bool used = false;
    for (const std::string& key : source.keys()) used = used || key.rfind(file_prefix, 0) == 0;
    const auto keys = source.keys();
    FROST_CHECK(used, "weights '", path, "': no key starts with the prefix '", file_prefix,
                "' (model.weights_prefix); the file's keys look like '",
                keys.empty() ? "" : keys.front(), "'");
  }

  LoadReport report;
  std::vector<std::string> missing, unexpected, mismatched, dtype_mismatched, duplicates;
  std::vector<std::pair<std::string, std::string>> plan;  // (file key, module name)
  std::map<std::string, std::string> source_of;           // module name -> file key
  std::set<std::string> skipped;  // allowed-missing names whose file shape differs

  for (const std::string& key : source.keys()) {
    const std::string name = apply_prefix_map(key, options);
    const auto target = targets.find(name);
    if (target == targets.end()) {
      if (matches_any(options.allow_unexpected, key) ||
          matches_any(options.allow_unexpected, name)) {
        report.unexpected.push_back(key);
      } else {
        unexpected.push_back(key);
      }
      continue;
    }
    const auto [it, inserted] = source_of.emplace(name, key);
    if (!inserted) {
      duplicates.push_back("'" + it->second + "' and '" + key + "' both map to '" + name + "'");
      continue;
    }
    const torch::Tensor& t = target->second;
    const auto& file_shape = source.shape(key);
    if (t.sizes() != c10::IntArrayRef(file_shape)) {
      if (matches_any(options.allow_missing, name)) {
        // Allowed to be missing, so allowed to be left as initialised (e.g. a head of another
        // class count); the file key is then unused.
        skipped.insert(name);
        report.unexpected.push_back(key);
        continue;
      }
      mismatched.push_back(key + (key == name ? "" : " (-> " + name + ")") + " file " +
                           shape_str(file_shape) + " vs model " + shape_str(t.sizes()));
      continue;
    }
    if (source.is_floating(key) != t.is_floating_point()) {
      dtype_mismatched.push_back(key + (key == name ? "" : " (-> " + name + ")") + " file " +
                                 (source.is_floating(key) ? "floating-point" : "integer") +
                                 " vs model " + c10::toString(t.scalar_type()));
      continue;
    }
    plan.emplace_back(key, name);
  }
  for (const std::string& name : target_order) {
    if (source_of.count(name) != 0 && skipped.count(name) == 0) continue;
    if (matches_any(options.allow_missing, name)) {
      report.missing.push_back(name);
    } else {
      missing.push_back(name);
    }
  }

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty() || !dtype_mismatched.empty() ||
      !duplicates.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) {
      parts.push_back("missing (" + std::to_string(missing.size()) + "): " + join_capped(missing));
    }
    if (!unexpected.empty()) {
      parts.push_back("unexpected (" + std::to_string(unexpected.size()) +
                      "): " + join_capped(unexpected));
    }
    if (!mismatched.empty()) {
      parts.push_back("shape mismatch (" + std::to_string(mismatched.size()) +
                      "): " + join_capped(mismatched));
    }
    if (!dtype_mismatched.empty()) {
      parts.push_back("dtype mismatch (" + std::to_string(dtype_mismatched.size()) +
                      "): " + join_capped(dtype_mismatched));
    }
    if (!duplicates.empty()) parts.push_back("duplicate: " + join_capped(duplicates));
    std::string msg = "weights '" + path + "' do not fit the model: ";
    for (size_t i = 0; i < parts.size(); ++i) msg += (i ? "; " : "") + parts[i];
    msg += prefix_hint(unexpected, missing);
    msg += " (set model.weights_prefix / model.weights_ignore, or check model.backbone)";
    throw Error(msg);
  }

  // Note [Loading weights all or nothing]: every check passed; now copy.
  torch::NoGradGuard no_grad;
  for (const auto& [key, name] : plan) {
    torch::Tensor& target = targets.at(name);
    target.copy_(source.get(key, target.scalar_type()));
    ++report.loaded;
  }
  return report;
}

namespace {

/// The torchvision arch of a Frost ResNet backbone, from its state_dict names
/// (see models.cpp, Note [torchvision compatibility]); "" when it is not one.
struct ResNetLayout {
  std::string arch;
  int64_t width = 0, in_channels = 0;
  bool small_input = false;
};

ResNetLayout resnet_layout(const std::vector<std::pair<std::string, torch::Tensor>>& backbone) {
  ResNetLayout layout;
  std::vector<int64_t> blocks(4, 0);
  bool bottleneck = false, has_stem = false;
  for (const auto& [name, t] : backbone) {
    if (name == "conv1.weight" && t.dim() == 4) {
      has_stem = true;
      layout.width = t.size(0);
      layout.in_channels = t.size(1);
      layout.small_input = t.size(2) == 3;
      continue;
    }
    if (name.rfind("layer", 0) != 0 || name.size() < 8 || name[6] != '.') continue;
    const int stage = name[5] - '1';
    if (stage < 0 || stage > 3) continue;
    const size_t dot = name.find('.', 7);
    if (dot == std::string::npos) continue;
    try {
      blocks[stage] = std::max<int64_t>(blocks[stage], std::stoll(name.substr(7, dot - 7)) + 1);
    } catch (const std::exception&) {
      continue;
    }
    if (name.compare(dot, 7, ".conv3.") == 0) bottleneck = true;
  }
  if (!has_stem) return layout;
  const std::vector<int64_t> r18 = {2, 2, 2, 2}, r34 = {3, 4, 6, 3};
  if (!bottleneck && blocks == r18) layout.arch = "resnet18";
  if (!bottleneck && blocks == r34) layout.arch = "resnet34";
  if (bottleneck && blocks == r34) layout.arch = "resnet50";
  return layout;
}

std::vector<std::pair<std::string, torch::Tensor>> strip_prefix(
    const std::vector<std::pair<std::string, torch::Tensor>>& items, const std::string& prefix) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, t] : items) {
    if (name.compare(0, prefix.size(), prefix) == 0)
      out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

}  // namespace

std::string default_export_format(ClassifierImpl& model) {
  const BertConfig* bert = bert_config_of(*model.backbone);
  if (bert != nullptr) {  // Note [Encoder variants]: RoBERTa and DistilBERT are not exported
    return bert->is_distilbert() ? "none" : "huggingface-bert";
  }
  if (!resnet_layout(state_dict_items(*model.backbone)).arch.empty()) return "torchvision";
  return "none";
}

void export_model(ClassifierImpl& model, const std::string& dir, const std::string& format) {
  FROST_CHECK(format == "torchvision" || format == "huggingface-bert", "model.export_format = '",
              format, "' is not an export format; valid: torchvision, huggingface-bert");
  const auto items = state_dict_items(model);
  const auto backbone = strip_prefix(items, "backbone.");
  const int64_t num_classes = model.head->weight.size(0);

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::string model_json;
  if (format == "torchvision") {
    // torchvision's ResNet: backbone.X -> X, head -> fc; every BatchNorm buffer (including
    // num_batches_tracked) is in torchvision's state_dict, so everything is exported.
    const ResNetLayout layout = resnet_layout(backbone);
    FROST_CHECK(
        !layout.arch.empty(),
        "model.export_format = torchvision needs a ResNet backbone "
        "(resnet18, resnet34, resnet50 with torchvision's names); this backbone's first key is '",
        backbone.empty() ? std::string("(none)") : backbone.front().first,
        "'. Use model.export_format = none (model.pt is always written)");
    for (const auto& [name, t] : backbone) tensors.emplace_back(name, t);
    tensors.emplace_back("fc.weight", model.head->weight);
    tensors.emplace_back("fc.bias", model.head->bias);
    nlohmann::ordered_json j;
    j["format"] = "torchvision";
    j["arch"] = layout.arch;
    j["num_classes"] = num_classes;
    // Beyond torchvision's constructor arguments: how Frost's ResNet differs from the stock one
    // (stock: width 64, in_channels 3, small_input false).
    j["width"] = layout.width;
    j["in_channels"] = layout.in_channels;
    j["small_input"] = layout.small_input;
    model_json = j.dump(2) + "\n";
  } else {
    const BertConfig* config = bert_config_of(*model.backbone);
    FROST_CHECK(config != nullptr,
                "model.export_format = huggingface-bert needs a BERT backbone "
                "(model.backbone = bert); this backbone's first key is '",
                backbone.empty() ? std::string("(none)") : backbone.front().first,
                "'. Use model.export_format = none or torchvision");
    FROST_CHECK(!config->is_distilbert(),
                "model.export_format = huggingface-bert writes a BertForSequenceClassification "
                "or RobertaForSequenceClassification, but this backbone is of model_type \"",
                config->model_type, "\" (config.json), whose Hugging Face classification head "
                "(pre_classifier, ReLU, classifier) differs from Frost's; use "
                "model.export_format = none (model.pt is always written)");
    const bool roberta = config->is_roberta();  // Note [Encoder variants]
    // BertForSequenceClassification: backbone.X -> bert.X, head -> classifier. The index
    // buffers position_ids / token_type_ids are not persistent in transformers >= 4.31 (and
    // ignored when missing by older versions), so they are left out.
    std::set<const void*> buffers;
    for (const auto& b : model.backbone->buffers()) buffers.insert(b.unsafeGetTensorImpl());
    for (const auto& [name, t] : backbone) {
      const bool index_buffer =
          buffers.count(t.unsafeGetTensorImpl()) != 0 &&
          (ends_with(name, "position_ids") || ends_with(name, "token_type_ids"));
      if (index_buffer) continue;
      if (roberta && name.rfind("pooler.dense.", 0) == 0) {
        tensors.emplace_back("classifier.dense." + name.substr(13), t);
      } else {
        tensors.emplace_back((roberta ? "roberta." : "bert.") + name, t);
      }
    }
    const std::string head = roberta ? "classifier.out_proj." : "classifier.";
    tensors.emplace_back(head + "weight", model.head->weight);
    tensors.emplace_back(head + "bias", model.head->bias);
    model_json = config->to_json(num_classes);
  }

  fs::create_directories(dir);
  // metadata format = pt: transformers refuses safetensors files without it.
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  fs::write_file_atomic(dir + "/model.json", model_json);
  if (format == "huggingface-bert") {
    // from_pretrained(dir) reads config.json; model.json is the same text under Frost's name.
    fs::write_file_atomic(dir + "/config.json", model_json);
  }
}

}  // namespace frost::models
