// Fuzz target: the input is a CSV file for `frost-prep text`, given to parse_csv (the parser
// of read_csv). Properties of a successful parse: every record has the header's number of
// fields and starts on a later line than the one before.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frost/data/csv.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  frost::data::CsvTable t;
  if (!frost::fuzz::succeeds_or_frost_error([&] { t = frost::data::parse_csv(text, "fuzz.csv"); }))
    return 0;
  FUZZ_EXPECT(!t.header.empty());
  FUZZ_EXPECT(t.rows.size() == t.row_lines.size());
  int64_t previous_line = 1;  // the header's line is at least 1
  size_t field_bytes = 0;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    FUZZ_EXPECT(t.rows[r].size() == t.header.size());
    FUZZ_EXPECT(t.row_lines[r] > previous_line);
    previous_line = t.row_lines[r];
    for (const auto& f : t.rows[r]) field_bytes += f.size();
  }
  FUZZ_EXPECT(field_bytes <= size);  // fields are bytes of the input, never more
  return 0;
}
