// Reader for the IDX format of MNIST / Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
//
//   byte 0-1  0x00 0x00          magic
//   byte 2    type code          0x08 unsigned byte (the only one Frost reads), 0x09 int8,
//                                0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
//   byte 3    ndims              1..4 here
//   then      ndims x uint32     dimension sizes, big-endian
//   then      the data           product(dims) elements, row-major
//
// Files may be gzip-compressed or plain; zlib's gzread reads both transparently.
// No LibTorch, no HDF5: this header is cheap to include.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::data {

/// IDX type code of unsigned bytes, the only element type read_idx accepts.
inline constexpr uint8_t kIdxTypeUint8 = 0x08;
/// Largest number of dimensions read_idx accepts.
inline constexpr int kIdxMaxDims = 4;

/// The contents of one IDX file.
struct IdxArray {
  uint8_t type_code = kIdxTypeUint8;  ///< element type (always kIdxTypeUint8 from read_idx)
  std::vector<int64_t> dims;   ///< shape, e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> bytes;  ///< row-major data, numel() elements of 1 byte

  /// Number of elements (product of dims; 1 for no dims).
  int64_t numel() const;
};

/// Reads the IDX file at `path` (gzip-compressed or plain).
///
/// Throws frost::Error, naming `path`, when the file cannot be opened; the gzip stream is
/// corrupt; the magic is wrong (first two bytes not zero, ndims outside 1..4); the element
/// type is not unsigned byte; the element count overflows int64; the data
/// is shorter than the header promises ("truncated: expected X bytes of data, found Y"); or
/// bytes follow the data.
IdxArray read_idx(const std::string& path);

}  // namespace frost::data
