// Fuzz target: the input is a whole safetensors file (length prefix, JSON header, data area),
// given to parse_safetensors_header, the validation SafetensorsFile::open runs on every file.
// A successful parse must describe the file exactly: tensors tiling the data area, sizes that
// match dtype and shape (Note [safetensors validation]).
#include <cstddef>
#include <cstdint>

#include "frost/models/safetensors_header.h"
#include "fuzz_util.h"

using frost::models::SafetensorsHeader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SafetensorsHeader h;
  const bool ok = frost::fuzz::succeeds_or_frost_error([&] {
    h = frost::models::parse_safetensors_header(data, size, "fuzz.safetensors");
  });
  if (!ok) return 0;
  FUZZ_EXPECT(h.data_offset == 8 + h.header_bytes);
  FUZZ_EXPECT(h.data_offset + static_cast<uint64_t>(h.data_bytes) == size);
  int64_t covered = 0;
  for (const auto& [name, e] : h.entries) {
    FUZZ_EXPECT(name != "__metadata__");
    FUZZ_EXPECT(e.begin == covered && e.end >= e.begin && e.end <= h.data_bytes);
    int64_t bytes = frost::models::safetensors_dtype_size(e.dtype);
    FUZZ_EXPECT(bytes > 0);
    for (int64_t d : e.shape) {
      FUZZ_EXPECT(d >= 0);
      FUZZ_EXPECT(!__builtin_mul_overflow(bytes, d, &bytes));
    }
    FUZZ_EXPECT(bytes == e.end - e.begin);
    covered = e.end;
  }
  FUZZ_EXPECT(covered == h.data_bytes);
  return 0;
}
