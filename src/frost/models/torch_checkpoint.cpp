// State dicts of torch.save archives (load_torch_state_dict in pickle_file.h): the zip and its
// records through LibTorch's PyTorchStreamReader, data.pkl through Frost's restricted unpickler
// (Note [Frost's torch.save unpickler] in torch_pickle.cpp), tensors over shared storages.

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "frost/core/error.h"
#include "frost/models/pickle_file.h"
#include "frost/models/torch_pickle.h"

namespace frost::models {
namespace {

using Kind = PickleNode::Kind;

c10::ScalarType scalar_type_of(const std::string& dtype) {
  static const std::map<std::string, c10::ScalarType> kTypes = {
      {"Double", c10::kDouble},     {"Float", c10::kFloat}, {"Half", c10::kHalf},
      {"BFloat16", c10::kBFloat16}, {"Long", c10::kLong},   {"Int", c10::kInt},
      {"Short", c10::kShort},       {"Char", c10::kChar},   {"Byte", c10::kByte},
      {"Bool", c10::kBool}};
  // torch_pickle.cpp accepts exactly these storage classes.
  return kTypes.at(dtype);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')).substr(0, 300); }

/// A node's string entries, for messages: "'a', 'b', ... (N more)".
std::string list_keys(const PickleDocument& doc, const PickleNode& dict) {
  std::string out;
  size_t listed = 0, total = 0;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PickleNode& k = doc.nodes[dict.items[i]];
    if (k.kind != Kind::kString) continue;
    ++total;
    if (listed < 20) out += std::string(listed++ ? ", " : "") + "'" + k.text + "'";
  }
  if (total > listed) out += ", ... (" + std::to_string(total - listed) + " more)";
  return total == 0 ? "none" : out;
}

/// The value of string key `name` in `dict` (the last one, as Python's dict), or nullptr.
const PickleNode* lookup(const PickleDocument& doc, const PickleNode& dict,
                         const std::string& name) {
  const PickleNode* found = nullptr;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PickleNode& k = doc.nodes[dict.items[i]];
    if (k.kind == Kind::kString && k.text == name) found = &doc.nodes[dict.items[i + 1]];
  }
  return found;
}

bool is_state_dict(const PickleDocument& doc, const PickleNode& n) {
  if (n.kind != Kind::kDict || n.items.empty()) return false;
  for (size_t i = 0; i + 1 < n.items.size(); i += 2) {
    if (doc.nodes[n.items[i]].kind != Kind::kString ||
        doc.nodes[n.items[i + 1]].kind != Kind::kTensor) {
      return false;
    }
  }
  return true;
}

/// Where the state dicts nested in `dict` are ("'model', 'ema'"), one level down; "" if none.
std::string nested_state_dicts(const PickleDocument& doc, const PickleNode& dict) {
  std::string out;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PickleNode& k = doc.nodes[dict.items[i]];
    if (k.kind == Kind::kString && is_state_dict(doc, doc.nodes[dict.items[i + 1]])) {
      out += std::string(out.empty() ? "" : ", ") + "'" + k.text + "'";
    }
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> load_torch_state_dict(const std::string& path,
                                                                      const std::string& key) {
  {
    std::ifstream in(path, std::ios::binary);
    FROST_CHECK(in.good(), "'", path, "': cannot open the file");
    char magic[4] = {};
    in.read(magic, 4);
    const std::streamsize n = in.gcount();
    // Note [Legacy torch.save files]: before PyTorch 1.6 (and with
    // _use_new_zipfile_serialization=False) torch.save wrote a bare pickle stream (magic number,
    // protocol, sys_info, the object, then the storages' bytes), which starts with PROTO (0x80).
    // Its storages are interleaved with pickles; torch.load converts it in one line.
    FROST_CHECK(!(n >= 1 && static_cast<unsigned char>(magic[0]) == 0x80), "'", path,
                "' is a legacy torch.save file (not a zip archive; written before PyTorch 1.6 or "
                "with _use_new_zipfile_serialization=False), which Frost does not read. Convert "
                "it: python -c \"import torch; torch.save(torch.load('",
                path, "'), 'converted.pth')\"");
    FROST_CHECK(n == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0, "'", path,
                "' is not a torch.save file (a zip archive starting with PK); expected a "
                ".pt/.pth/.bin written by torch.save");
  }

  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  std::string pickle;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    FROST_CHECK(reader->hasRecord("data.pkl"), "'", path,
                "' is a zip archive without data.pkl: not a torch.save file (a TorchScript "
                "module? use model.backbone = torchscript)");
    if (reader->hasRecord("byteorder")) {
      auto [bytes, n] = reader->getRecord("byteorder");
      const std::string order(static_cast<const char*>(bytes.get()), n);
      FROST_CHECK(order == "little", "'", path, "' was written on a '", order,
                  "'-endian machine; Frost reads little-endian archives");
    }
    auto [bytes, n] = reader->getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(bytes.get()), n);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("'" + path + "' is not a readable torch.save archive (damaged or truncated?): " +
                first_line(torch_error_message(e)));
  }

  const PickleDocument doc =
      parse_torch_pickle(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), path);

  // Find the state dict.
  const PickleNode* node = &doc.nodes[doc.root];
  std::string where;  // the part of `key` walked so far
  for (size_t start = 0; !key.empty() && start <= key.size();) {
    const size_t dot = std::min(key.find('.', start), key.size());
    const std::string part = key.substr(start, dot - start);
    FROST_CHECK(node->kind == Kind::kDict, "'", path,
                "': ", where.empty() ? std::string("the file") : "'" + where + "'", " holds ",
                pickle_kind_name(node->kind), ", not a dict with the key '", part,
                "' (model.weights_key = ", key, ")");
    const PickleNode* next = lookup(doc, *node, part);
    FROST_CHECK(next != nullptr, "'", path,
                "': ", where.empty() ? std::string("the file") : "'" + where + "'", " has no key '",
                part, "' (model.weights_key = ", key, "); its keys: ", list_keys(doc, *node));
    where += (where.empty() ? "" : ".") + part;
    node = next;
    start = dot + 1;
  }
  const std::string what = key.empty() ? std::string("the file") : "'" + key + "'";
  FROST_CHECK(node->kind == Kind::kDict, "'", path, "': ", what, " holds ",
              pickle_kind_name(node->kind), ", expected a {name: tensor} state dict");
  if (!is_state_dict(doc, *node)) {
    const std::string nested = nested_state_dicts(doc, *node);
    std::string bad = "it is empty";
    for (size_t i = 0; i + 1 < node->items.size(); i += 2) {
      const PickleNode& k = doc.nodes[node->items[i]];
      const PickleNode& v = doc.nodes[node->items[i + 1]];
      if (k.kind != Kind::kString) {
        bad = std::string("it has ") + pickle_kind_name(k.kind) + " as a key";
        break;
      }
      if (v.kind != Kind::kTensor) {
        bad = "its entry '" + k.text + "' is " + pickle_kind_name(v.kind);
        break;
      }
    }
    std::string prefix = key.empty() ? "" : key + ".";
    std::string hint;
    if (!nested.empty()) {
      hint = "; state dicts are under " + nested + " (set model.weights_key = " + prefix +
             nested.substr(1, nested.find('\'', 1) - 1) + ")";
    }
    throw Error("'" + path + "': " + what + " is not a {name: tensor} state dict: " + bad + hint);
  }

  // Tensors over one storage per record (Note [Frost's torch.save unpickler]: the parser has
  // checked every view against the storage's declared element count; here the record must hold
  // that many elements).
  std::map<std::string, at::Storage> storages;
  std::map<std::string, std::pair<std::string, int64_t>> declared;  // key -> (dtype, numel)
  std::vector<std::pair<std::string, at::Tensor>> out;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i + 1 < node->items.size(); i += 2) {
    const std::string& name = doc.nodes[node->items[i]].text;
    const PickleNode& t = doc.nodes[node->items[i + 1]];
    const c10::ScalarType dtype = scalar_type_of(t.dtype);
    const auto [decl, fresh] =
        declared.emplace(t.storage_key, std::make_pair(t.dtype, t.storage_numel));
    FROST_CHECK(decl->second == std::make_pair(t.dtype, t.storage_numel), "'", path, "': storage '",
                t.storage_key, "' is declared both as ", decl->second.second, " ",
                decl->second.first, " and as ", t.storage_numel, " ", t.dtype, " elements");
    if (fresh) {
      const int64_t itemsize = static_cast<int64_t>(c10::elementSize(dtype));
      int64_t nbytes = 0;
      FROST_CHECK(!__builtin_mul_overflow(t.storage_numel, itemsize, &nbytes), "'", path,
                  "': storage '", t.storage_key, "' is too large");
      at::DataPtr data;
      if (nbytes > 0) {
        const std::string record = "data/" + t.storage_key;
        size_t size = 0;
        try {
          FROST_CHECK(reader->hasRecord(record), "'", path, "' has no record '", record,
                      "' for tensor '", name, "' (damaged archive?)");
          std::tie(data, size) = reader->getRecord(record);
        } catch (const Error&) {
          throw;
        } catch (const std::exception& e) {
          throw Error("'" + path + "': cannot read record '" + record +
                      "' (damaged archive?): " + first_line(torch_error_message(e)));
        }
        FROST_CHECK(static_cast<uint64_t>(size) >= static_cast<uint64_t>(nbytes), "'", path,
                    "': record '", record, "' has ", size, " bytes but its storage needs ", nbytes,
                    " (", t.storage_numel, " ", t.dtype, " elements)");
      }
      storages.emplace(t.storage_key,
                       at::Storage(at::Storage::use_byte_size_t(), nbytes, std::move(data),
                                   /*allocator=*/nullptr, /*resizable=*/false));
    }
    at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(dtype))
                            .set_(storages.at(t.storage_key), t.storage_offset, t.sizes, t.strides);
    const auto [it, inserted] = index.emplace(name, out.size());
    if (inserted) {
      out.emplace_back(name, std::move(tensor));
    } else {
      out[it->second].second = std::move(tensor);  // a key stored twice: the last one, as Python
    }
  }
  return out;
}

}  // namespace frost::models
