// Fuzz target: the input is an IDX file (plain or gzip-compressed; zlib detects which), read
// by read_idx through a path, as frost-prep reads MNIST-format files.
// Property of a successful read: the data holds exactly product(dims) bytes.
#include <cstddef>
#include <cstdint>

#include "frost/data/idx.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static frost::fuzz::MemFile file;
  const std::string& path = file.set(data, size);
  frost::data::IdxArray a;
  if (!frost::fuzz::succeeds_or_frost_error([&] { a = frost::data::read_idx(path); })) return 0;
  FUZZ_EXPECT(a.type_code == frost::data::kIdxTypeUint8);
  FUZZ_EXPECT(!a.dims.empty() && a.dims.size() <= static_cast<size_t>(frost::data::kIdxMaxDims));
  for (int64_t d : a.dims) FUZZ_EXPECT(d >= 0);
  FUZZ_EXPECT(a.numel() == static_cast<int64_t>(a.bytes.size()));
  return 0;
}
