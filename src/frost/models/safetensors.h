// safetensors: the Hugging Face weights format (https://github.com/huggingface/safetensors):
//   8 bytes: N, little-endian uint64 header length
//   N bytes: JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//            ..., "__metadata__": {"key": "value", ...}}   (offsets relative to the data area)
//   the data area: raw little-endian tensor bytes.
// The header is parsed and validated by parse_safetensors_header (safetensors_header.h, no
// LibTorch); this file adds the memory-mapped reader and the writer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "frost/models/safetensors_header.h"

namespace frost::models {

/// A validated, memory-mapped safetensors file (read-only). Thread-compatible.
class SafetensorsFile {
 public:
  /// Maps `path` and validates it with parse_safetensors_header: header length sane (<= 100 MB
  /// and inside the file), JSON well formed, every entry with a known dtype, offsets inside the
  /// data area, no overlaps, end - begin == numel * dtype size. Throws frost::Error naming the
  /// file and the entry.
  static SafetensorsFile open(const std::string& path);
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const;
  /// Tensor names in file order (sorted by offset).
  std::vector<std::string> keys() const;
  bool contains(const std::string& key) const;
  const SafetensorsEntry& entry(const std::string& key) const;
  const std::map<std::string, std::string>& metadata() const;
  /// Copies tensor `key` out of the mapping, converted to `dtype` (F16/BF16/F32/F64 convert to
  /// any floating dtype; integer dtypes keep their type when dtype is Undefined).
  /// Throws frost::Error for a missing key.
  at::Tensor get(const std::string& key, c10::ScalarType dtype = c10::ScalarType::Float) const;

 private:
  struct Impl;
  explicit SafetensorsFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Writes `tensors` (contiguous CPU tensors; F32/F16/BF16/F64/I64/I32/U8/BOOL) and `metadata`
/// to `path` atomically (temp file, fsync, rename). Throws frost::Error.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace frost::models
