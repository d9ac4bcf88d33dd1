// safetensors header parsing and validation (no LibTorch, although it sits in frost::models: the
// fuzz targets and frost::models share it).
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
//     bytes (the reference rejects those too: "MetadataIncompleteBuffer");
//   * JSON arrays and objects nest at most 128 levels (serde_json's recursion limit, which the
//     reference inherits; a valid header needs 3): Note [JSON nesting depth] in core/json.h.
// tests/fuzz/fuzz_safetensors_header.cpp feeds arbitrary bytes to parse_safetensors_header.

#include "frost/models/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "frost/core/error.h"
#include "frost/core/json.h"

namespace frost::models {

const char* const kSafetensorsDtypeList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL";

int64_t safetensors_dtype_size(const std::string& dtype) {
  static const std::pair<const char*, int64_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
  };
  for (const auto& [name, size] : kSizes) {
    if (dtype == name) return size;
  }
  return 0;
}

namespace {

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
  FROST_CHECK(safetensors_dtype_size(e.dtype) != 0, where, " has unknown dtype '", e.dtype,
              "'; supported: ", kSafetensorsDtypeList);

  const auto shape = j.find("shape");
  FROST_CHECK(shape != j.end() && shape->is_array(), where,
              ": \"shape\" is missing or not an array");
  for (const auto& dim : *shape) {
    int64_t d = 0;
    FROST_CHECK(as_non_negative_int64(dim, d), where, ": shape ", json_excerpt(*shape),
                " has an entry that is not a non-negative integer");
    e.shape.push_back(d);
  }

  const auto offsets = j.find("data_offsets");
  FROST_CHECK(offsets != j.end() && offsets->is_array() && offsets->size() == 2, where,
              ": \"data_offsets\" is missing or not an array [begin, end]");
  FROST_CHECK(
      as_non_negative_int64((*offsets)[0], e.begin) && as_non_negative_int64((*offsets)[1], e.end),
      where, ": data_offsets ", json_excerpt(*offsets), " are not non-negative integers");
  return e;
}

/// numel * itemsize of `e`, or -1 on overflow.
int64_t byte_size(const SafetensorsEntry& e) {
  int64_t bytes = safetensors_dtype_size(e.dtype);
  for (int64_t d : e.shape) {
    if (__builtin_mul_overflow(bytes, d, &bytes)) return -1;
  }
  return bytes;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const unsigned char* file, uint64_t file_bytes,
                                           const std::string& path) {
  FROST_CHECK(file_bytes >= 8, path, ": not a safetensors file: it has ", file_bytes,
              " bytes, fewer than the 8-byte header length");
  SafetensorsHeader out;
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | file[i];
  FROST_CHECK(header_bytes <= kSafetensorsMaxHeaderBytes, path, ": header length ", header_bytes,
              " (first 8 bytes) is above the limit of ", kSafetensorsMaxHeaderBytes,
              " bytes: not a safetensors file?");
  FROST_CHECK(8 + header_bytes <= file_bytes, path, ": header length ", header_bytes,
              " (first 8 bytes) runs beyond the end of the file (", file_bytes,
              " bytes): truncated file, or not a safetensors file?");
  out.header_bytes = header_bytes;
  out.data_offset = 8 + header_bytes;
  out.data_bytes = static_cast<int64_t>(file_bytes - 8 - header_bytes);

  nlohmann::json header;
  try {
    header =
        parse_json_bounded(file + 8, file + 8 + header_bytes, path + ": the safetensors header",
                           " (a valid header needs 3): corrupt file, or not a safetensors file?");
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": the safetensors header is not valid JSON (" + e.what() +
                "): corrupt file, or not a safetensors file?");
  }
  FROST_CHECK(header.is_object(), path, ": the safetensors header is a JSON ", header.type_name(),
              ", expected an object");

  auto& entries = out.entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      FROST_CHECK(item.value().is_object(), path, ": \"__metadata__\" is a JSON ",
                  item.value().type_name(), ", expected an object of strings");
      for (const auto& m : item.value().items()) {
        FROST_CHECK(m.value().is_string(), path, ": \"__metadata__\" entry '", m.key(),
                    "' is a JSON ", m.value().type_name(), ", expected a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + item.key() + "'";
    SafetensorsEntry e = parse_entry(where, item.value());
    FROST_CHECK(e.end <= out.data_bytes, where, " data_offsets ", offsets_str(e.begin, e.end),
                " end beyond the data area (", out.data_bytes, " bytes): truncated file?");
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
  FROST_CHECK(covered == out.data_bytes, path, ": the data area has ", out.data_bytes,
              " bytes but its tensors cover only ", covered, " (trailing bytes): corrupt file?");
  return out;
}

}  // namespace frost::models
