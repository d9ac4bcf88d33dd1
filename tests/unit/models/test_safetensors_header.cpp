// parse_safetensors_header (torch-free) on bytes in memory: what it returns for a valid file,
// and the inputs the fuzz target tests/fuzz/fuzz_safetensors_header.cpp found or was written
// against. The file-level behaviour (SafetensorsFile::open, every malformed-file message) is
// tested in tests/unit/test_weights.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/models/safetensors_header.h"
#include "test_util.h"

namespace {

using frost::models::parse_safetensors_header;
using frost::models::SafetensorsHeader;
using frost::testing::error_of;

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i, n >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(n & 0xff);
  return s;
}

// A file: the length prefix, `header`, then `data_bytes` bytes of data.
std::string file_of(const std::string& header, size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\x01');
}

SafetensorsHeader parse(const std::string& file) {
  return parse_safetensors_header(reinterpret_cast<const unsigned char*>(file.data()),
                                  file.size(), "x.safetensors");
}

TEST(SafetensorsHeader, ValidHeaderGivesEntriesInOffsetOrderAndMetadata) {
  const std::string header =
      R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]},)"
      R"("__metadata__":{"format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}})";
  const SafetensorsHeader h = parse(file_of(header, 10));
  EXPECT_EQ(h.header_bytes, header.size());
  EXPECT_EQ(h.data_offset, 8 + header.size());
  EXPECT_EQ(h.data_bytes, 10);
  ASSERT_EQ(h.entries.size(), 2u);
  EXPECT_EQ(h.entries[0].first, "a");
  EXPECT_EQ(h.entries[0].second.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(h.entries[1].first, "b");
  EXPECT_EQ(h.entries[1].second.begin, 8);
  EXPECT_EQ(h.metadata.at("format"), "pt");
}

TEST(SafetensorsHeader, ReadsNoByteBeyondTheHeader) {
  // Only the first 8 + N bytes need to be in memory: here the data area is not.
  const std::string header = R"({"w":{"dtype":"I64","shape":[1000],"data_offsets":[0,8000]}})";
  const std::string prefix = le64(header.size()) + header;
  const SafetensorsHeader h = parse_safetensors_header(
      reinterpret_cast<const unsigned char*>(prefix.data()), prefix.size() + 8000, "big");
  EXPECT_EQ(h.data_bytes, 8000);
  EXPECT_EQ(frost::models::safetensors_dtype_size("BF16"), 2);
  EXPECT_EQ(frost::models::safetensors_dtype_size("F8_E4M3"), 0);
}

// Found while writing the fuzz target (by reading the parser, then confirmed with this input): a
// shape nested 200000 arrays deep overflowed the stack while the error message was built
// (nlohmann::json::dump recurses once per level), so a corrupt or hostile header crashed
// frost-train instead of failing with a message. The reference reader (serde_json) refuses
// more than 128 levels; so does Frost now, before any recursion over the parsed value.
TEST(SafetensorsHeader, DeeplyNestedJsonIsAnErrorNotACrash) {
  const size_t depth = 200000;
  const std::string deep_shape = R"({"w":{"dtype":"F32","shape":)" + std::string(depth, '[') +
                                 std::string(depth, ']') + R"(,"data_offsets":[0,4]}})";
  std::string e = error_of([&] { parse(file_of(deep_shape, 4)); });
  EXPECT_CONTAINS(e, "x.safetensors: the safetensors header nests JSON arrays and objects more "
                     "than 128 levels deep");
  // Anywhere in the header, not only in a shape: metadata, an unknown field, the root.
  const std::string deep_meta = R"({"__metadata__":{"k":)" + std::string(depth, '[') +
                                std::string(depth, ']') + "}}";
  EXPECT_CONTAINS(error_of([&] { parse(file_of(deep_meta, 0)); }), "more than 128 levels deep");
  const std::string deep_root = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_CONTAINS(error_of([&] { parse(file_of(deep_root, 0)); }), "more than 128 levels deep");
  // 128 levels are fine as JSON (and then rejected for what they are).
  const std::string ok_depth = R"({"w":{"dtype":"F32","shape":)" + std::string(126, '[') +
                               std::string(126, ']') + R"(,"data_offsets":[0,4]}})";
  EXPECT_CONTAINS(error_of([&] { parse(file_of(ok_depth, 4)); }),
                  "has an entry that is not a non-negative integer");
}

TEST(SafetensorsHeader, LongValuesAreCutShortInMessages) {
  // A shape of 100000 entries with one bad one: the message quotes the start of the shape, not
  // all of it.
  std::string shape = "[";
  for (int i = 0; i < 100000; ++i) shape += "1,";
  shape += "-1]";
  const std::string e = error_of([&] {
    parse(file_of(R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,4]}})", 4));
  });
  EXPECT_CONTAINS(e, "x.safetensors: tensor 'w': shape [1,1,1,");
  EXPECT_CONTAINS(e, " characters)");
  EXPECT_LT(e.size(), 400u);
}

}  // namespace
