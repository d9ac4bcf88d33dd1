#include "frost/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "frost/core/error.h"

namespace frost::data {
namespace {

// Read buffers grow by at most this much at a time, so that a header that promises
// terabytes cannot make us allocate them before the data shows the file is short.
constexpr int64_t kReadStepBytes = int64_t{1} << 20;

const char* idx_type_name(uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return nullptr;
  }
}

std::string hex_byte(uint8_t b) {
  const char* digits = "0123456789abcdef";
  return {digits[b >> 4], digits[b & 15]};
}

// Owns a zlib gzFile. gzread reads gzip and plain files alike ("transparent" mode).
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    FROST_CHECK(file_ != nullptr, path,
                ": cannot open IDX file: ", errno != 0 ? std::strerror(errno) : "out of memory",
                "; check that the path is right and the file is readable");
  }
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to `n` bytes into `dst`; returns how many were read (fewer only at the end of
  // the data). Throws frost::Error when zlib reports a corrupt or cut-off gzip stream.
  int64_t read(uint8_t* dst, int64_t n) {
    int64_t total = 0;
    while (total < n) {
      const auto want = static_cast<unsigned>(std::min<int64_t>(n - total, kReadStepBytes));
      const int got = gzread(file_, dst + total, want);
      if (got < 0) throw_zlib_error();
      if (got == 0) {
        // End of data. zlib reports a gzip stream cut off mid-way only through gzerror.
        int errnum = Z_OK;
        gzerror(file_, &errnum);
        if (errnum != Z_OK) throw_zlib_error();
        break;
      }
      total += got;
    }
    return total;
  }

 private:
  [[noreturn]] void throw_zlib_error() {
    int errnum = Z_OK;
    const char* msg = gzerror(file_, &errnum);
    std::string what = (errnum == Z_ERRNO) ? std::strerror(errno) : (msg ? msg : "unknown error");
    if (what.rfind(path_ + ": ", 0) == 0) what.erase(0, path_.size() + 2);  // zlib adds the path
    throw Error(detail::str_cat(path_, ": the gzip stream is corrupt or truncated (zlib: ", what,
                                "); re-download or re-extract the file"));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path) {
  GzReader in(path);

  uint8_t magic[4] = {0, 0, 0, 0};
  const int64_t got_magic = in.read(magic, 4);
  FROST_CHECK(got_magic == 4, path, ": not an IDX file: it holds ", got_magic,
              " bytes, fewer than the 4-byte IDX magic");
  const uint8_t type_code = magic[2];
  const int ndims = magic[3];
  const char* type_name = idx_type_name(type_code);
  FROST_CHECK(
      magic[0] == 0 && magic[1] == 0 && type_name != nullptr && ndims >= 1 && ndims <= kIdxMaxDims,
      path, ": bad IDX magic: expected 00 00 <type> <ndims> with type 08 and ndims 1..",
      kIdxMaxDims, ", found bytes ", hex_byte(magic[0]), " ", hex_byte(magic[1]), " ",
      hex_byte(magic[2]), " ", hex_byte(magic[3]),
      "; is this an MNIST-format (IDX) file, and is it the right one?");
  FROST_CHECK(type_code == kIdxTypeUint8, path, ": IDX element type 0x", hex_byte(type_code), " (",
              type_name, ") is not supported; only 0x08 (unsigned byte) is");

  IdxArray out;
  out.type_code = type_code;
  uint8_t dim_bytes[4 * kIdxMaxDims];
  const int64_t header_dims_bytes = 4 * int64_t{ndims};
  const int64_t got_dims = in.read(dim_bytes, header_dims_bytes);
  FROST_CHECK(got_dims == header_dims_bytes, path, ": truncated IDX header: expected ",
              header_dims_bytes, " bytes of dimension sizes for ", ndims, " dimensions, found ",
              got_dims);
  int64_t numel = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* b = dim_bytes + 4 * i;
    const int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    out.dims.push_back(d);
    FROST_CHECK(d == 0 || numel <= std::numeric_limits<int64_t>::max() / d, path,
                ": IDX dimensions are too large: their product overflows int64");
    numel *= d;
  }

  // Element size is 1 byte (uint8 only), so bytes of data == numel.
  const int64_t expected_bytes = numel;
  int64_t have = 0;
  while (have < expected_bytes) {
    const int64_t step = std::min(expected_bytes - have, kReadStepBytes);
    out.bytes.resize(static_cast<size_t>(have + step));
    const int64_t got = in.read(out.bytes.data() + have, step);
    have += got;
    if (got < step) break;
  }
  out.bytes.resize(static_cast<size_t>(have));
  FROST_CHECK(
      have == expected_bytes, path, ": truncated: expected ", expected_bytes,
      " bytes of data, found ", have, " (header dims ",
      [&] {
        std::string s;
        for (size_t i = 0; i < out.dims.size(); ++i)
          s += (i ? "x" : "") + std::to_string(out.dims[i]);
        return s;
      }(),
      "); re-download or re-extract the file");

  // Anything after the data means the header does not describe this file.
  uint8_t extra[4096];
  int64_t trailing = 0;
  for (int64_t got = in.read(extra, sizeof extra); got > 0; got = in.read(extra, sizeof extra))
    trailing += got;
  FROST_CHECK(trailing == 0, path, ": ", trailing, " unexpected trailing bytes after the ",
              expected_bytes,
              " bytes of data the IDX header describes; the header or the file is wrong");
  return out;
}

}  // namespace frost::data
