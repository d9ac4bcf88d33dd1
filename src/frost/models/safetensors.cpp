// safetensors reader (memory-mapped, strictly validated) and writer (atomic).
//
// The header is validated by parse_safetensors_header (Note [safetensors validation] in
// safetensors_header.cpp). Tensor data is copied out of the mapping (memcpy into a fresh
// tensor), so the returned tensors do not depend on the mapping's lifetime nor on the data
// area's alignment (a header written by another tool need not be padded to 8 bytes).

#include "frost/models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "frost/core/error.h"
#include "frost/core/fs.h"

namespace frost::models {
namespace {

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
};

// The dtypes of kSafetensorsDtypeList; their sizes come from safetensors_dtype_size.
constexpr DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double}, {"F32", c10::ScalarType::Float},
    {"F16", c10::ScalarType::Half},   {"BF16", c10::ScalarType::BFloat16},
    {"I64", c10::ScalarType::Long},   {"I32", c10::ScalarType::Int},
    {"I16", c10::ScalarType::Short},  {"I8", c10::ScalarType::Char},
    {"U8", c10::ScalarType::Byte},    {"BOOL", c10::ScalarType::Bool},
};

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
  // A shared read-only mapping of the whole file. (If another process truncates the file while
  // it is mapped, reading the lost pages raises SIGBUS; Frost's own writers never truncate in
  // place: they rename a new file over the old one.) A file shorter than the length field is
  // not mapped (mmap refuses empty files); parse_safetensors_header rejects it without reading.
  void* map = nullptr;
  int mmap_errno = 0;
  if (file_bytes >= 8) {
    map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
    mmap_errno = errno;
  }
  ::close(fd);
  FROST_CHECK(map != MAP_FAILED, "cannot mmap safetensors file '", path,
              "': ", std::strerror(mmap_errno));
  if (map != nullptr) {
    impl->map = map;
    impl->map_bytes = file_bytes;
  }
  const auto* bytes = static_cast<const unsigned char*>(map);

  SafetensorsHeader header = parse_safetensors_header(bytes, file_bytes, path);
  impl->data = bytes + header.data_offset;
  impl->data_bytes = header.data_bytes;
  impl->metadata = std::move(header.metadata);
  for (auto& [name, e] : header.entries) {
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
    FROST_CHECK(find_dtype(tensor.scalar_type()) != nullptr, "write_safetensors('", path,
                "'): tensor '", name, "' has dtype ", tensor.scalar_type(),
                ", which safetensors (as Frost writes it) does not support; supported: ",
                kSafetensorsDtypeList);
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
