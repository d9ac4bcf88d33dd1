// safetensors reader (memory-mapped, strictly validated) and writer (atomic).
//
// Note [safetensors validation]
// The header is untrusted input: a truncated download, a file of another format or a
// hand-edited header must give an error that names the file and the entry, never a crash or a
// silent misread. The checks follow the reference implementation
// (huggingface/safetensors, safetensors/src/tensor.rs, `SafeTensors::read_metadata` and
// `Metadata::validate`):
//   * the first 8 bytes are N, the header length (little-endian u64); N <= 100 MB
//     (the reference's MAX_HEADER_SIZE) and 8 + N <= the file size;
//   * the header is a JSON object; "__metadata__" maps strings to strings; every other key is
//     a tensor {"dtype": str, "shape": [non-negative ints], "data_offsets": [begin, end]};
//   * dtype is one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL (the ones LibTorch 1.13 has);
//   * end - begin == numel * itemsize, and end <= the size of the data area;
//   * sorted by offset, the tensors tile the data area exactly: no overlap, no gap, no trailing
//     bytes (the reference rejects those too: "MetadataIncompleteBuffer").
// Tensor data is copied out of the mapping (memcpy into a fresh tensor), so the returned
// tensors do not depend on the mapping's lifetime nor on the data area's alignment (a header
// written by another tool need not be padded to 8 bytes).

#include "frost/models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "frost/core/error.h"
#include "frost/core/fs.h"

namespace frost::models {
namespace {

/// The reference implementation's limit on the header length (MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  int64_t itemsize;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8}, {"F32", c10::ScalarType::Float, 4},
    {"F16", c10::ScalarType::Half, 2},   {"BF16", c10::ScalarType::BFloat16, 2},
    {"I64", c10::ScalarType::Long, 8},   {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},  {"I8", c10::ScalarType::Char, 1},
    {"U8", c10::ScalarType::Byte, 1},    {"BOOL", c10::ScalarType::Bool, 1},
};
constexpr const char* kDtypeList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL";

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* find_dtype(c10::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return &d;
  }
  return nullptr;
}

bool host_is_little_endian() {
  const uint16_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::string offsets_str(int64_t begin, int64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

/// Stores `j` in `out` when it is an integer in [0, 2^63); false otherwise.
bool as_non_negative_int64(const nlohmann::json& j, int64_t& out) {
  if (j.is_number_unsigned()) {
    const auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  if (j.is_number_integer()) {
    const auto v = j.get<int64_t>();
    if (v < 0) return false;
    out = v;
    return true;
  }
  return false;
}

/// Parses one tensor entry of the header; `where` is "<path>: tensor '<name>'".
SafetensorsEntry parse_entry(const std::string& where, const nlohmann::json& j) {
  FROST_CHECK(j.is_object(), where, " is a JSON ", j.type_name(),
              ", expected an object {\"dtype\", \"shape\", \"data_offsets\"}");
  SafetensorsEntry e;
  const auto dtype = j.find("dtype");
  FROST_CHECK(dtype != j.end() && dtype->is_string(), where,
              ": \"dtype\" is missing or not a string");
  e.dtype = dtype->get<std::string>();
  FROST_CHECK(find_dtype(e.dtype) != nullptr, where, " has unknown dtype '", e.dtype,
              "'; supported: ", kDtypeList);

  const auto shape = j.find("shape");
  FROST_CHECK(shape != j.end() && shape->is_array(), where,
              ": \"shape\" is missing or not an array");
  for (const auto& dim : *shape) {
    int64_t d = 0;
    FROST_CHECK(as_non_negative_int64(dim, d), where, ": shape ", shape->dump(),
                " has an entry that is not a non-negative integer");
    e.shape.push_back(d);
  }

  const auto offsets = j.find("data_offsets");
  FROST_CHECK(offsets != j.end() && offsets->is_array() && offsets->size() == 2, where,
              ": \"data_offsets\" is missing or not an array [begin, end]");
  FROST_CHECK(
      as_non_negative_int64((*offsets)[0], e.begin) && as_non_negative_int64((*offsets)[1], e.end),
      where, ": data_offsets ", offsets->dump(), " are not non-negative integers");
  return e;
}

/// numel * itemsize of `e`, or -1 on overflow.
int64_t byte_size(const SafetensorsEntry& e) {
  int64_t bytes = find_dtype(e.dtype)->itemsize;
  for (int64_t d : e.shape) {
    if (__builtin_mul_overflow(bytes, d, &bytes)) return -1;
  }
  return bytes;
}

/// Writes all of [p, p + n) to fd; false on error (errno set).
bool write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

struct SafetensorsFile::Impl {
  std::string path;
  void* map = nullptr;
  size_t map_bytes = 0;
  const unsigned char* data = nullptr;  ///< start of the data area inside the mapping
  int64_t data_bytes = 0;
  std::map<std::string, SafetensorsEntry> entries;
  std::vector<std::string> order;  ///< sorted by offset
  std::map<std::string, std::string> metadata;

  ~Impl() {
    if (map != nullptr) ::munmap(map, map_bytes);
  }
};

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  FROST_CHECK(host_is_little_endian(), path,
              ": safetensors data is little-endian; big-endian hosts are not supported");
  auto impl = std::make_unique<Impl>();
  impl->path = path;

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FROST_CHECK(fd >= 0, "cannot open safetensors file '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw Error("cannot stat safetensors file '" + path + "': " + why);
  }
  const auto file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes < 8) {
    ::close(fd);
    throw Error(path + ": not a safetensors file: it has " + std::to_string(file_bytes) +
                " bytes, fewer than the 8-byte header length");
  }
  // A shared read-only mapping of the whole file. (If another process truncates the file while
  // it is mapped, reading the lost pages raises SIGBUS; Frost's own writers never truncate in
  // place: they rename a new file over the old one.)
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);
  FROST_CHECK(map != MAP_FAILED, "cannot mmap safetensors file '", path,
              "': ", std::strerror(mmap_errno));
  impl->map = map;
  impl->map_bytes = file_bytes;
  const auto* bytes = static_cast<const unsigned char*>(map);

  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes[i];
  FROST_CHECK(header_bytes <= kMaxHeaderBytes, path, ": header length ", header_bytes,
              " (first 8 bytes) is above the limit of ", kMaxHeaderBytes,
              " bytes: not a safetensors file?");
  FROST_CHECK(8 + header_bytes <= file_bytes, path, ": header length ", header_bytes,
              " (first 8 bytes) runs beyond the end of the file (", file_bytes,
              " bytes): truncated file, or not a safetensors file?");
  impl->data = bytes + 8 + header_bytes;
  impl->data_bytes = static_cast<int64_t>(file_bytes - 8 - header_bytes);

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_bytes);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": the safetensors header is not valid JSON (" + e.what() +
                "): corrupt file, or not a safetensors file?");
  }
  FROST_CHECK(header.is_object(), path, ": the safetensors header is a JSON ", header.type_name(),
              ", expected an object");

  std::vector<std::pair<std::string, SafetensorsEntry>> entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      FROST_CHECK(item.value().is_object(), path, ": \"__metadata__\" is a JSON ",
                  item.value().type_name(), ", expected an object of strings");
      for (const auto& m : item.value().items()) {
        FROST_CHECK(m.value().is_string(), path, ": \"__metadata__\" entry '", m.key(),
                    "' is a JSON ", m.value().type_name(), ", expected a string");
        impl->metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + item.key() + "'";
    SafetensorsEntry e = parse_entry(where, item.value());
    FROST_CHECK(e.end <= impl->data_bytes, where, " data_offsets ", offsets_str(e.begin, e.end),
                " end beyond the data area (", impl->data_bytes, " bytes): truncated file?");
    FROST_CHECK(e.begin <= e.end, where, " data_offsets ", offsets_str(e.begin, e.end),
                " begin after end");
    const int64_t expected = byte_size(e);
    FROST_CHECK(expected == e.end - e.begin, where, " (", e.dtype, " ", shape_str(e.shape),
                ") needs ", expected < 0 ? std::string("more than 2^63") : std::to_string(expected),
                " bytes but data_offsets ", offsets_str(e.begin, e.end), " span ", e.end - e.begin);
    entries.emplace_back(item.key(), std::move(e));
  }

  // Sorted by offset, the tensors must tile the data area (Note [safetensors validation]).
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.second.begin, a.second.end) <
           std::make_pair(b.second.begin, b.second.end);
  });
  int64_t covered = 0;
  const std::string* previous = nullptr;
  for (const auto& [name, e] : entries) {
    FROST_CHECK(e.begin >= covered, path, ": tensor '", name, "' data_offsets ",
                offsets_str(e.begin, e.end), " overlap tensor '", previous ? *previous : "",
                "' (which ends at ", covered, ")");
    FROST_CHECK(e.begin == covered, path, ": bytes [", covered, ", ", e.begin,
                ") of the data area belong to no tensor (before tensor '", name,
                "'): corrupt header?");
    covered = e.end;
    previous = &name;
  }
  FROST_CHECK(covered == impl->data_bytes, path, ": the data area has ", impl->data_bytes,
              " bytes but its tensors cover only ", covered, " (trailing bytes): corrupt file?");

  for (auto& [name, e] : entries) {
    impl->order.push_back(name);
    impl->entries.emplace(name, std::move(e));
  }
  return SafetensorsFile(std::move(impl));
}

const std::string& SafetensorsFile::path() const { return impl_->path; }

std::vector<std::string> SafetensorsFile::keys() const { return impl_->order; }

bool SafetensorsFile::contains(const std::string& key) const {
  return impl_->entries.count(key) != 0;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& key) const {
  const auto it = impl_->entries.find(key);
  FROST_CHECK(it != impl_->entries.end(), impl_->path, ": no tensor '", key, "' (the file has ",
              impl_->entries.size(), " tensors)");
  return it->second;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const {
  return impl_->metadata;
}

at::Tensor SafetensorsFile::get(const std::string& key, c10::ScalarType dtype) const {
  const SafetensorsEntry& e = entry(key);
  const DtypeInfo* info = find_dtype(e.dtype);
  FROST_ASSERT(info != nullptr, "dtype validated in open()");
  at::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(info->type));
  FROST_ASSERT(t.nbytes() == static_cast<size_t>(e.end - e.begin));
  if (t.nbytes() > 0) std::memcpy(t.data_ptr(), impl_->data + e.begin, t.nbytes());
  if (dtype == c10::ScalarType::Undefined || dtype == info->type) return t;
  const bool from_float = c10::isFloatingType(info->type);
  FROST_CHECK(!from_float || c10::isFloatingType(dtype), impl_->path, ": tensor '", key, "' is ",
              e.dtype, " and cannot be read as ", c10::toString(dtype),
              " without losing its fractional part");
  // F16 / BF16 -> F32 goes through LibTorch's conversion (round-trip exact, handles
  // subnormals, infinities and NaN).
  return t.to(dtype);
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  FROST_CHECK(host_is_little_endian(), path,
              ": safetensors data is little-endian; big-endian hosts are not supported");
  // Sorted by name, like the reference writer for tensors of one dtype; offsets follow.
  std::vector<std::pair<std::string, at::Tensor>> sorted;
  sorted.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    FROST_CHECK(!name.empty() && name != "__metadata__", "write_safetensors('", path,
                "'): invalid tensor name '", name, "'");
    FROST_CHECK(tensor.defined(), "write_safetensors('", path, "'): tensor '", name,
                "' is undefined");
    FROST_CHECK(
        find_dtype(tensor.scalar_type()) != nullptr, "write_safetensors('", path, "'): tensor '",
        name, "' has dtype ", tensor.scalar_type(),
        ", which safetensors (as Frost writes it) does not support; supported: ", kDtypeList);
    sorted.emplace_back(name, tensor.detach().to(torch::kCPU).contiguous());
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    FROST_CHECK(sorted[i].first != sorted[i - 1].first, "write_safetensors('", path,
                "'): tensor name '", sorted[i].first, "' appears twice");
  }

  // The reference writes "__metadata__" first; readers do not depend on the order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  int64_t offset = 0;
  for (const auto& [name, t] : sorted) {
    const int64_t bytes = static_cast<int64_t>(t.nbytes());
    header[name] = {{"dtype", find_dtype(t.scalar_type())->name},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error("write_safetensors('" + path + "'): cannot encode the header: " + e.what() +
                " (tensor names and metadata must be valid UTF-8)");
  }
  // Pad with spaces so that the data area starts 8-byte aligned (as the reference writer).
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i, n >>= 8) length[i] = static_cast<unsigned char>(n & 0xff);

  const std::string tmp = fs::temp_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FROST_CHECK(fd >= 0, "cannot create '", tmp, "' (for '", path, "'): ", std::strerror(errno));
  bool ok = write_all(fd, length, sizeof(length)) && write_all(fd, text.data(), text.size());
  for (size_t i = 0; ok && i < sorted.size(); ++i) {
    ok = write_all(fd, sorted[i].second.data_ptr(), sorted[i].second.nbytes());
  }
  if (!ok) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error("cannot write '" + tmp + "' (for '" + path + "'): " + why);
  }
  ::close(fd);
  fs::commit_temp_file(tmp, path);
}

}  // namespace frost::models
