// A restricted reader of the pickle inside torch.save zip archives (their data.pkl): the
// dicts, lists, tuples, numbers, strings and tensors of a checkpoint, nothing else. Free of
// LibTorch (so that it can be fuzzed alone); pickle_file.h turns its tensors into at::Tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace frost::models {

/// One value of an unpickled data.pkl. Containers refer to other nodes by index into
/// PickleDocument::nodes (a pickle may share a value between containers, or even hold a cycle,
/// so nodes are not owned by their containers).
struct PickleNode {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kTuple,
    kList,
    kDict,     ///< dict or collections.OrderedDict: `items` = key0, value0, key1, value1, ...
    kTensor,   ///< torch._utils._rebuild_tensor_v2 (or an nn.Parameter's data)
    kStorage,  ///< a storage (persistent id) not yet made into a tensor
    kGlobal,   ///< a Python object named by GLOBAL (an allowed one) not yet called
  };
  Kind kind = Kind::kNone;
  int64_t int_value = 0;  ///< kBool (0/1), kInt
  double float_value = 0;
  std::string text;           ///< kString; kGlobal: "module.name"
  std::vector<size_t> items;  ///< kTuple, kList: elements; kDict: keys and values alternating
  bool ordered_dict = false;  ///< kDict made by collections.OrderedDict (may take a BUILD)
  /// kTensor and kStorage: the storage's record (data/<key> in the archive), its element type
  /// (the storage class without "Storage": "Float", "BFloat16", ...) and element count.
  std::string storage_key, dtype;
  int64_t storage_numel = 0;
  /// kTensor: the view of the storage, in elements (PyTorch's as_strided). Checked: sizes and
  /// strides non-negative, same length, and every element inside the storage.
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes, strides;
};

/// The values of one data.pkl; `root` is what the pickle returns (its last value at STOP).
struct PickleDocument {
  std::vector<PickleNode> nodes;
  size_t root = 0;
};

/// "a dict", "an int", "None", ... for messages.
const char* pickle_kind_name(PickleNode::Kind kind);

/// Parses the pickle bytes [data, data + size) of a torch.save archive (protocol 2, as
/// torch.save and LibTorch's pickler write; protocols 3-5 opcodes are also read).
///
/// Like torch.load(weights_only=True), only these Python objects are accepted:
/// collections.OrderedDict (a plain dict here; its BUILD, the `_metadata` attribute of a
/// state_dict(), is dropped), torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter
/// (and _rebuild_parameter_with_state: an nn.Parameter becomes its tensor) and torch's storage
/// classes (torch.FloatStorage, ...). Throws frost::Error naming `file` and the byte offset for
/// anything else: an unknown opcode or global, a truncated or inconsistent stream (stack
/// underflow, a memo index never stored, SETITEMS on a non-dict, ...), a tensor view outside
/// its storage. Never reads outside the input; memory is bounded by a small multiple of `size`.
PickleDocument parse_torch_pickle(const uint8_t* data, size_t size, const std::string& file);

}  // namespace frost::models
