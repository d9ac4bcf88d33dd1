// Note [Frost's torch.save unpickler]
// torch.save(model.state_dict()) pickles a collections.OrderedDict and sets its `_metadata`
// attribute with BUILD. LibTorch's Unpickler (torch/csrc/jit/serialization/unpickler.cpp)
// reads OrderedDict only as a tensor's empty backward-hook dict: it replaces the call with None,
// so SETITEMS on the state dict fails ("Expected GenericDict but got None"), and its BUILD is
// REDUCE (it calls the object below the state). It also trusts its input (DICT with an odd
// number of stack items indexes past the stack; several checks are asserts). Rewriting the
// opcode stream into the dialect that Unpickler understands would need the same stack
// simulation as an unpickler (to find which REDUCE builds an OrderedDict, and to drop BUILD's
// state, for which that dialect has no POP), and would still hand malformed input to a reader
// that is not hardened. So Frost reads data.pkl itself, here: a small, iterative pickle
// machine over an arena of nodes, after Python's pickle.py (_Unpickler.load_*) and
// torch/_weights_only_unpickler.py (the allowed globals). Every read is bounds-checked, every
// pop is checked against the current MARK, the memo is a map (a large index costs nothing),
// and every error is a frost::Error naming the file and byte offset. Turning tensor nodes into
// tensors (reading data/<key> from the zip through LibTorch's PyTorchStreamReader) is
// pickle_file.cpp's part.

#include "frost/models/torch_pickle.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "frost/core/error.h"

namespace frost::models {

const char* pickle_kind_name(PickleNode::Kind kind) {
  switch (kind) {
    case PickleNode::Kind::kNone: return "None";
    case PickleNode::Kind::kBool: return "a bool";
    case PickleNode::Kind::kInt: return "an int";
    case PickleNode::Kind::kFloat: return "a float";
    case PickleNode::Kind::kString: return "a string";
    case PickleNode::Kind::kTuple: return "a tuple";
    case PickleNode::Kind::kList: return "a list";
    case PickleNode::Kind::kDict: return "a dict";
    case PickleNode::Kind::kTensor: return "a tensor";
    case PickleNode::Kind::kStorage: return "a storage";
    case PickleNode::Kind::kGlobal: return "a Python global";
  }
  return "?";
}

namespace {

using Kind = PickleNode::Kind;

/// torch's storage classes (torch/storage.py, _dtype_to_storage_type_map) that Frost loads.
bool known_storage_dtype(const std::string& dtype) {
  static const char* const kDtypes[] = {"Double", "Float", "Half", "BFloat16", "Long",
                                        "Int",    "Short", "Char", "Byte",     "Bool"};
  for (const char* d : kDtypes) {
    if (dtype == d) return true;
  }
  return false;
}

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, const std::string& file)
      : data_(data), size_(size), file_(file) {}

  PickleDocument run() {
    while (true) {
      op_pos_ = pos_;
      if (pos_ >= size_) fail("the pickle ends without STOP (truncated data.pkl?)");
      const uint8_t op = data_[pos_++];
      if (op == '.') break;  // STOP
      step(op);
    }
    if (!marks_.empty()) fail("STOP inside an unclosed MARK");
    if (stack_.size() != 1) {
      fail("STOP with " + std::to_string(stack_.size()) + " values on the stack (expected 1)");
    }
    doc_.root = stack_.back();
    return std::move(doc_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("'" + file_ + "': data.pkl byte " + std::to_string(op_pos_) + ": " + what);
  }

  // ---- input
  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) fail("the pickle ends inside an opcode's argument (truncated data.pkl?)");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string read_bytes(uint64_t n) {
    if (n > size_ - pos_) fail("a string of " + std::to_string(n) + " bytes runs past the end");
    const uint8_t* p = take(static_cast<size_t>(n));
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }
  std::string read_line() {  // GLOBAL's newline-terminated names
    if (pos_ >= size_) fail("GLOBAL name without its newline (truncated data.pkl?)");
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (nl == nullptr) fail("GLOBAL name without its newline (truncated data.pkl?)");
    const size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string s = read_bytes(n);
    ++pos_;
    return s;
  }

  // ---- nodes and stack
  size_t add(PickleNode node) {
    doc_.nodes.push_back(std::move(node));
    return doc_.nodes.size() - 1;
  }
  size_t add(Kind kind) {
    PickleNode n;
    n.kind = kind;
    return add(std::move(n));
  }
  PickleNode& node(size_t i) { return doc_.nodes[i]; }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  size_t pop() {
    if (stack_.size() <= floor())
      fail("stack underflow (an opcode needs a value that is not there)");
    const size_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  size_t top() {
    if (stack_.size() <= floor())
      fail("stack underflow (an opcode needs a value that is not there)");
    return stack_.back();
  }
  /// The values pushed since the last MARK, which is removed.
  std::vector<size_t> pop_mark() {
    if (marks_.empty()) fail("an opcode needs a MARK but there is none");
    const size_t start = marks_.back();
    marks_.pop_back();
    std::vector<size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(start), stack_.end());
    stack_.resize(start);
    return items;
  }
  size_t tuple(std::vector<size_t> items) {
    PickleNode n;
    n.kind = Kind::kTuple;
    n.items = std::move(items);
    return add(std::move(n));
  }
  size_t expect(size_t i, Kind kind, const char* what) {
    if (node(i).kind != kind) {
      fail(std::string(what) + " is " + pickle_kind_name(node(i).kind) + ", expected " +
           pickle_kind_name(kind));
    }
    return i;
  }
  int64_t int_of(size_t i, const char* what) {
    const PickleNode& n = node(i);
    if (n.kind != Kind::kInt && n.kind != Kind::kBool) {
      fail(std::string(what) + " is " + pickle_kind_name(n.kind) + ", expected an int");
    }
    return n.int_value;
  }
  std::vector<int64_t> ints_of(size_t i, const char* what) {
    expect(i, Kind::kTuple, what);
    std::vector<int64_t> out;
    for (size_t item : node(i).items) out.push_back(int_of(item, what));
    return out;
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo index " + std::to_string(index) + " was never stored");
    stack_.push_back(it->second);
  }
  size_t integer(int64_t v) {
    PickleNode n;
    n.kind = Kind::kInt;
    n.int_value = v;
    return add(std::move(n));
  }
  size_t long_bytes(uint64_t n) {  // LONG1 / LONG4: little-endian two's complement
    if (n > 8) fail("an integer of " + std::to_string(n) + " bytes does not fit 64 bits");
    if (n == 0) return integer(0);
    uint64_t v = read_le(static_cast<size_t>(n));
    if (n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return integer(static_cast<int64_t>(v));
  }
  size_t string(std::string s) {
    PickleNode n;
    n.kind = Kind::kString;
    n.text = std::move(s);
    return add(std::move(n));
  }
  void set_items(size_t dict, const std::vector<size_t>& kv) {
    if (node(dict).kind != Kind::kDict) {
      fail(std::string("SETITEM(S) on ") + pickle_kind_name(node(dict).kind) + ", expected a dict");
    }
    if (kv.size() % 2 != 0) fail("SETITEMS with a key and no value");
    auto& items = node(dict).items;
    items.insert(items.end(), kv.begin(), kv.end());
  }
  void append_items(size_t list, const std::vector<size_t>& values) {
    if (node(list).kind != Kind::kList) {
      fail(std::string("APPEND(S) on ") + pickle_kind_name(node(list).kind) + ", expected a list");
    }
    auto& items = node(list).items;
    items.insert(items.end(), values.begin(), values.end());
  }

  void global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    const bool storage =
        module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0;
    if (storage) {
      const std::string dtype = name.substr(0, name.size() - 7);
      if (!known_storage_dtype(dtype)) {
        fail("tensor storage type '" + full +
             "' is not supported (Double, Float, Half, BFloat16, Long, Int, Short, Char, Byte, "
             "Bool are)");
      }
    } else if (full != "collections.OrderedDict" && full != "torch._utils._rebuild_tensor_v2" &&
               full != "torch._utils._rebuild_parameter" &&
               full != "torch._utils._rebuild_parameter_with_state") {
      fail("the pickle uses the Python object '" + full +
           "', which Frost does not load (a checkpoint of tensors, dicts, lists, tuples, numbers "
           "and strings only, as torch.load(weights_only=True))");
    }
    PickleNode n;
    n.kind = Kind::kGlobal;
    n.text = full;
    stack_.push_back(add(std::move(n)));
  }

  void persistent_load(size_t pid) {
    expect(pid, Kind::kTuple, "BINPERSID's id");
    const auto items = node(pid).items;
    if (items.size() != 5 || node(items[0]).kind != Kind::kString ||
        node(items[0]).text != "storage") {
      fail("BINPERSID's id is not ('storage', type, key, location, numel)");
    }
    const PickleNode& type = node(items[1]);
    if (type.kind != Kind::kGlobal || type.text.rfind("torch.", 0) != 0 || type.text.size() < 13 ||
        type.text.compare(type.text.size() - 7, 7, "Storage") != 0) {
      fail("BINPERSID's storage type is not a torch storage class");
    }
    PickleNode n;
    n.kind = Kind::kStorage;
    n.dtype = type.text.substr(6, type.text.size() - 13);
    n.storage_key = node(expect(items[2], Kind::kString, "a storage key")).text;
    expect(items[3], Kind::kString, "a storage location");
    n.storage_numel = int_of(items[4], "a storage's element count");
    if (n.storage_numel < 0) fail("a storage has a negative element count");
    stack_.push_back(add(std::move(n)));
  }

  size_t rebuild_tensor(const std::vector<size_t>& args) {
    // torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    // backward_hooks, metadata=None)
    if (args.size() != 6 && args.size() != 7) {
      fail("_rebuild_tensor_v2 with " + std::to_string(args.size()) +
           " arguments (6 or 7 expected)");
    }
    const PickleNode& storage = node(expect(args[0], Kind::kStorage, "a tensor's storage"));
    PickleNode t;
    t.kind = Kind::kTensor;
    t.storage_key = storage.storage_key;
    t.dtype = storage.dtype;
    t.storage_numel = storage.storage_numel;
    t.storage_offset = int_of(args[1], "a tensor's storage offset");
    t.sizes = ints_of(args[2], "a tensor's size");
    t.strides = ints_of(args[3], "a tensor's stride");
    if (args.size() == 7 && node(args[6]).kind != Kind::kNone &&
        !(node(args[6]).kind == Kind::kDict && node(args[6]).items.empty())) {
      fail("a tensor with conjugate/negative bits (metadata) is not supported");
    }
    if (t.sizes.size() != t.strides.size()) fail("a tensor's size and stride differ in length");
    if (t.sizes.size() > 64) fail("a tensor with more than 64 dimensions");
    if (t.storage_offset < 0) fail("a tensor with a negative storage offset");
    // Every element must lie in the storage: offset + sum((size - 1) * stride) < numel.
    int64_t numel = 1, last = t.storage_offset;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
      if (t.sizes[d] < 0 || t.strides[d] < 0) fail("a tensor with a negative size or stride");
      if (__builtin_mul_overflow(numel, t.sizes[d], &numel)) fail("a tensor's size overflows");
    }
    if (numel > 0) {
      for (size_t d = 0; d < t.sizes.size(); ++d) {
        int64_t span = 0;
        if (__builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &span) ||
            __builtin_add_overflow(last, span, &last)) {
          fail("a tensor's extent overflows");
        }
      }
      if (last >= t.storage_numel) {
        fail("a tensor reaches element " + std::to_string(last) + " of storage '" + t.storage_key +
             "', which has " + std::to_string(t.storage_numel));
      }
    }
    return add(std::move(t));
  }

  void reduce() {
    const size_t args = pop();
    const size_t callable = pop();
    if (node(callable).kind != Kind::kGlobal) {
      fail(std::string("REDUCE calls ") + pickle_kind_name(node(callable).kind));
    }
    expect(args, Kind::kTuple, "REDUCE's arguments");
    const std::string name = node(callable).text;
    const std::vector<size_t> a = node(args).items;
    if (name == "collections.OrderedDict") {
      if (!a.empty())
        fail("collections.OrderedDict called with arguments (its items come by SETITEMS)");
      PickleNode d;
      d.kind = Kind::kDict;
      d.ordered_dict = true;
      stack_.push_back(add(std::move(d)));
    } else if (name == "torch._utils._rebuild_tensor_v2") {
      stack_.push_back(rebuild_tensor(a));
    } else if (name == "torch._utils._rebuild_parameter" ||
               name == "torch._utils._rebuild_parameter_with_state") {
      // (data, requires_grad, backward_hooks[, state]): the Parameter's tensor.
      if (a.size() != (name == "torch._utils._rebuild_parameter" ? 3u : 4u)) {
        fail(name + " with " + std::to_string(a.size()) + " arguments");
      }
      stack_.push_back(expect(a[0], Kind::kTensor, "an nn.Parameter's data"));
    } else {
      fail("'" + name + "' cannot be called (it is a storage type)");
    }
  }

  void build() {
    const size_t state = pop();
    const size_t obj = top();
    // OrderedDict's state is its instance __dict__ ({'_metadata': ...} for a state_dict()):
    // Python attributes Frost has no use for.
    if (!(node(obj).kind == Kind::kDict && node(obj).ordered_dict)) {
      fail(std::string("BUILD (setting Python object state) on ") +
           pickle_kind_name(node(obj).kind) + "; only an OrderedDict's is accepted");
    }
    (void)state;
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80:  // PROTO
        if (const uint64_t v = read_le(1); v < 2 || v > 5) {
          fail("pickle protocol " + std::to_string(v) + " (2 to 5 are read)");
        }
        break;
      case 0x95:  // FRAME (protocol 4): a length hint
        read_le(8);
        break;
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        pop();
        break;
      case '1':  // POP_MARK
        pop_mark();
        break;
      case '2':  // DUP
        stack_.push_back(top());
        break;
      case 'N':  // NONE
        stack_.push_back(add(Kind::kNone));
        break;
      case 0x88:    // NEWTRUE
      case 0x89: {  // NEWFALSE
        PickleNode n;
        n.kind = Kind::kBool;
        n.int_value = op == 0x88;
        stack_.push_back(add(std::move(n)));
      } break;
      case 'J':  // BININT: signed 32-bit
        stack_.push_back(integer(static_cast<int32_t>(static_cast<uint32_t>(read_le(4)))));
        break;
      case 'K':  // BININT1
        stack_.push_back(integer(static_cast<int64_t>(read_le(1))));
        break;
      case 'M':  // BININT2
        stack_.push_back(integer(static_cast<int64_t>(read_le(2))));
        break;
      case 0x8a:  // LONG1
        stack_.push_back(long_bytes(read_le(1)));
        break;
      case 0x8b:  // LONG4
        stack_.push_back(long_bytes(read_le(4)));
        break;
      case 'G': {  // BINFLOAT: big-endian double
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        PickleNode n;
        n.kind = Kind::kFloat;
        std::memcpy(&n.float_value, &bits, 8);
        stack_.push_back(add(std::move(n)));
      } break;
      case 'X':  // BINUNICODE
      case 'T':  // BINSTRING
        stack_.push_back(string(read_bytes(read_le(4))));
        break;
      case 0x8c:  // SHORT_BINUNICODE
      case 'U':   // SHORT_BINSTRING
        stack_.push_back(string(read_bytes(read_le(1))));
        break;
      case 0x8d:  // BINUNICODE8
        stack_.push_back(string(read_bytes(read_le(8))));
        break;
      case ')':  // EMPTY_TUPLE
        stack_.push_back(tuple({}));
        break;
      case 't':  // TUPLE
        stack_.push_back(tuple(pop_mark()));
        break;
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        const size_t n = op - 0x84u;
        std::vector<size_t> items(n);
        for (size_t i = n; i-- > 0;) items[i] = pop();
        stack_.push_back(tuple(std::move(items)));
      } break;
      case ']':  // EMPTY_LIST
        stack_.push_back(add(Kind::kList));
        break;
      case 'l': {  // LIST
        PickleNode n;
        n.kind = Kind::kList;
        n.items = pop_mark();
        stack_.push_back(add(std::move(n)));
      } break;
      case 'a': {  // APPEND
        const size_t v = pop();
        append_items(top(), {v});
      } break;
      case 'e': {  // APPENDS
        const auto values = pop_mark();
        append_items(top(), values);
      } break;
      case '}':  // EMPTY_DICT
        stack_.push_back(add(Kind::kDict));
        break;
      case 'd': {  // DICT
        const auto kv = pop_mark();
        const size_t d = add(Kind::kDict);
        set_items(d, kv);
        stack_.push_back(d);
      } break;
      case 's': {  // SETITEM
        const size_t v = pop();
        const size_t k = pop();
        set_items(top(), {k, v});
      } break;
      case 'u': {  // SETITEMS
        const auto kv = pop_mark();
        set_items(top(), kv);
      } break;
      case 'h':  // BINGET
        memo_get(read_le(1));
        break;
      case 'j':  // LONG_BINGET
        memo_get(read_le(4));
        break;
      case 'q':  // BINPUT
        memo_put(read_le(1));
        break;
      case 'r':  // LONG_BINPUT
        memo_put(read_le(4));
        break;
      case 0x94:  // MEMOIZE
        memo_put(memo_.size());
        break;
      case 'c': {  // GLOBAL
        const std::string module = read_line();
        const std::string name = read_line();
        global(module, name);
      } break;
      case 0x93: {  // STACK_GLOBAL
        const size_t name = pop();
        const size_t module = pop();
        global(node(expect(module, Kind::kString, "STACK_GLOBAL's module")).text,
               node(expect(name, Kind::kString, "STACK_GLOBAL's name")).text);
      } break;
      case 'Q':  // BINPERSID
        persistent_load(pop());
        break;
      case 'R':  // REDUCE
        reduce();
        break;
      case 'b':  // BUILD
        build();
        break;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("opcode ") + hex +
             " is not supported (torch.save writes pickle protocol 2; this is not such a "
             "data.pkl, or it holds Python objects Frost does not load)");
      }
    }
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0, op_pos_ = 0;
  const std::string& file_;
  PickleDocument doc_;
  std::vector<size_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, size_t> memo_;
};

}  // namespace

PickleDocument parse_torch_pickle(const uint8_t* data, size_t size, const std::string& file) {
  return Machine(data, size, file).run();
}

}  // namespace frost::models
