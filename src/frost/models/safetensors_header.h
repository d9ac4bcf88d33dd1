// The safetensors header parser: the part of reading a safetensors file that looks at untrusted
// bytes (length prefix and JSON header), without LibTorch, so that it can be fuzzed on its own
// (tests/fuzz/fuzz_safetensors_header.cpp) and tested in the torch-free unit tests.
// SafetensorsFile::open (safetensors.h) maps the file and calls parse_safetensors_header.
//
// File layout (https://github.com/huggingface/safetensors):
//   8 bytes: N, little-endian uint64 header length
//   N bytes: JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//            ..., "__metadata__": {"key": "value", ...}}   (offsets relative to the data area)
//   the data area: raw little-endian tensor bytes.
// The checks are listed in Note [safetensors validation] (safetensors_header.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace frost::models {

/// The reference implementation's limit on the header length N (MAX_HEADER_SIZE), in bytes.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// The dtypes Frost reads and writes, for messages: "F64, F32, F16, BF16, I64, I32, I16, I8, U8,
/// BOOL".
extern const char* const kSafetensorsDtypeList;

/// Bytes per element of safetensors dtype `dtype` ("F32" -> 4, "BOOL" -> 1), or 0 when `dtype`
/// is not one of kSafetensorsDtypeList.
int64_t safetensors_dtype_size(const std::string& dtype);

/// One tensor's entry in a safetensors header.
struct SafetensorsEntry {
  std::string dtype;  ///< "F32", "F16", "BF16", "F64", "I64", "I32", "U8", ...
  std::vector<int64_t> shape;
  int64_t begin = 0, end = 0;  ///< byte offsets into the data area
};

/// A validated safetensors header.
struct SafetensorsHeader {
  uint64_t header_bytes = 0;  ///< N, the JSON header's length in bytes
  uint64_t data_offset = 0;   ///< 8 + N: where the data area starts in the file, in bytes
  int64_t data_bytes = 0;     ///< file size - 8 - N: the data area's length, in bytes
  /// Tensors sorted by data offset (file order); their byte ranges tile [0, data_bytes).
  std::vector<std::pair<std::string, SafetensorsEntry>> entries;
  std::map<std::string, std::string> metadata;  ///< "__metadata__" (empty when absent)
};

/// Parses and validates the length prefix and JSON header of a safetensors file of
/// `file_bytes` bytes named `path` (used in messages only; nothing is opened).
///
/// `file` must point to the file's first min(file_bytes, 8 + N) bytes, where N is the
/// little-endian uint64 in its first 8 bytes (a mapping of the whole file will do); no byte
/// beyond those is read, so the data area need not be in memory, and `file` may be null when
/// file_bytes < 8. Tensor data is not looked at.
///
/// Throws frost::Error naming `path` (and the tensor) when: the file has fewer than 8 bytes;
/// N > kSafetensorsMaxHeaderBytes or 8 + N > file_bytes; the header is not a JSON object, or
/// nests arrays and objects more than kMaxJsonDepth (128) levels deep (core/json.h);
/// "__metadata__" is not an object of strings; an entry lacks a known dtype, a shape of
/// non-negative integers or data_offsets [begin, end] of non-negative integers; end is beyond
/// the data area, begin > end, or end - begin != numel * dtype size; the tensors, sorted by
/// offset, overlap, leave a gap, or leave trailing bytes in the data area.
SafetensorsHeader parse_safetensors_header(const unsigned char* file, uint64_t file_bytes,
                                           const std::string& path);

}  // namespace frost::models
