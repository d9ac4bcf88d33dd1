// IDX reader: round trips (gzip and plain) from bytes written here, and every malformed-file
// error (bad magic, unsupported type, truncated header/data, trailing bytes, corrupt gzip).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "test_util.h"
#include "frost/data/idx.h"

namespace {

using frost::testing::make_temp_dir;
using frost::testing::error_of;

using frost::data::IdxArray;
using frost::data::read_idx;

// The bytes of an IDX file: magic 00 00 type ndims, big-endian uint32 dims, data.
std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    out.push_back(static_cast<uint8_t>(d >> 24));
    out.push_back(static_cast<uint8_t>(d >> 16));
    out.push_back(static_cast<uint8_t>(d >> 8));
    out.push_back(static_cast<uint8_t>(d));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

void write_plain(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::vector<uint8_t> read_plain(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(Idx, RoundTripPlain) {
  const std::string dir = make_temp_dir();
  const std::vector<uint8_t> data = iota_bytes(3 * 2 * 4);
  write_plain(dir + "/a.idx", idx_bytes(0x08, {3, 2, 4}, data));
  const IdxArray a = read_idx(dir + "/a.idx");
  EXPECT_EQ(a.type_code, 0x08);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(a.numel(), 24);
  EXPECT_EQ(a.bytes, data);
}

TEST(Idx, RoundTripGzip) {
  const std::string dir = make_temp_dir();
  const std::vector<uint8_t> data = iota_bytes(5 * 28 * 28);
  write_gz(dir + "/images.gz", idx_bytes(0x08, {5, 28, 28}, data));
  const IdxArray a = read_idx(dir + "/images.gz");
  EXPECT_EQ(a.dims, (std::vector<int64_t>{5, 28, 28}));
  EXPECT_EQ(a.bytes, data);
}

TEST(Idx, RoundTripLabelsOneDimension) {
  const std::string dir = make_temp_dir();
  const std::vector<uint8_t> labels{9, 0, 3, 3, 1, 7, 2};
  write_gz(dir + "/labels.gz", idx_bytes(0x08, {7}, labels));
  const IdxArray a = read_idx(dir + "/labels.gz");
  EXPECT_EQ(a.dims, (std::vector<int64_t>{7}));
  EXPECT_EQ(a.bytes, labels);
}

TEST(Idx, LargeDimensionsAreBigEndian) {
  const std::string dir = make_temp_dir();
  // 0x00010203 rows of 0 bytes each is fine to describe; use 2 x 0x0101 = 514 bytes instead.
  const std::vector<uint8_t> data = iota_bytes(2 * 257);
  write_plain(dir + "/a.idx", idx_bytes(0x08, {2, 257}, data));
  EXPECT_EQ(read_idx(dir + "/a.idx").dims, (std::vector<int64_t>{2, 257}));
}

TEST(Idx, BadMagicThrowsNamingFile) {
  const std::string dir = make_temp_dir();
  std::vector<uint8_t> bytes = idx_bytes(0x08, {4}, iota_bytes(4));
  bytes[0] = 0x1f;
  write_gz(dir + "/bad.gz", bytes);
  const std::string msg = error_of([&] { read_idx(dir + "/bad.gz"); });
  EXPECT_CONTAINS(msg, dir + "/bad.gz");
  EXPECT_CONTAINS(msg, "bad IDX magic");
}

TEST(Idx, ZeroOrTooManyDimensionsIsBadMagic) {
  const std::string dir = make_temp_dir();
  write_plain(dir + "/zero.idx", {0, 0, 0x08, 0});
  EXPECT_CONTAINS(error_of([&] { read_idx(dir + "/zero.idx"); }), "bad IDX magic");
  write_plain(dir + "/five.idx", idx_bytes(0x08, {1, 1, 1, 1, 1}, {7}));
  EXPECT_CONTAINS(error_of([&] { read_idx(dir + "/five.idx"); }), "bad IDX magic");
}

TEST(Idx, UnsupportedElementTypeThrows) {
  const std::string dir = make_temp_dir();
  write_plain(dir + "/f.idx", idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  const std::string msg = error_of([&] { read_idx(dir + "/f.idx"); });
  EXPECT_CONTAINS(msg, "float32");
  EXPECT_CONTAINS(msg, "only 0x08 (unsigned byte)");
}

TEST(Idx, TruncatedDataThrows) {
  const std::string dir = make_temp_dir();
  std::vector<uint8_t> bytes = idx_bytes(0x08, {2, 3, 4}, iota_bytes(24));
  bytes.resize(bytes.size() - 4);
  write_gz(dir + "/short.gz", bytes);
  write_plain(dir + "/short.idx", bytes);
  for (const std::string name : {"/short.gz", "/short.idx"}) {
    const std::string msg = error_of([&] { read_idx(dir + name); });
    EXPECT_CONTAINS(msg, dir + name);
    EXPECT_CONTAINS(msg, "truncated: expected 24 bytes of data, found 20");
  }
}

TEST(Idx, TruncatedHeaderThrows) {
  const std::string dir = make_temp_dir();
  write_plain(dir + "/h.idx", {0, 0, 0x08, 3, 0, 0, 0, 5});
  EXPECT_CONTAINS(error_of([&] { read_idx(dir + "/h.idx"); }), "truncated IDX header");
  write_plain(dir + "/tiny.idx", {0, 0});
  EXPECT_CONTAINS(error_of([&] { read_idx(dir + "/tiny.idx"); }), "not an IDX file");
  write_plain(dir + "/empty.idx", {});
  EXPECT_CONTAINS(error_of([&] { read_idx(dir + "/empty.idx"); }), "not an IDX file");
}

TEST(Idx, TrailingBytesThrow) {
  const std::string dir = make_temp_dir();
  std::vector<uint8_t> bytes = idx_bytes(0x08, {4}, iota_bytes(4));
  bytes.push_back(1);
  bytes.push_back(2);
  write_gz(dir + "/long.gz", bytes);
  const std::string msg = error_of([&] { read_idx(dir + "/long.gz"); });
  EXPECT_CONTAINS(msg, dir + "/long.gz");
  EXPECT_CONTAINS(msg, "2 unexpected trailing bytes");
}

TEST(Idx, TruncatedGzipStreamThrowsNamingFile) {
  const std::string dir = make_temp_dir();
  write_gz(dir + "/full.gz", idx_bytes(0x08, {50, 28, 28}, iota_bytes(50 * 28 * 28)));
  std::vector<uint8_t> gz = read_plain(dir + "/full.gz");
  ASSERT_GT(gz.size(), 40u);
  gz.resize(gz.size() / 2);
  write_plain(dir + "/cut.gz", gz);
  const std::string msg = error_of([&] { read_idx(dir + "/cut.gz"); });
  EXPECT_CONTAINS(msg, dir + "/cut.gz");
  EXPECT_CONTAINS(msg, "gzip stream is corrupt or truncated");
}

TEST(Idx, CorruptGzipStreamThrowsNamingFile) {
  const std::string dir = make_temp_dir();
  write_gz(dir + "/full.gz", idx_bytes(0x08, {50, 28, 28}, iota_bytes(50 * 28 * 28)));
  std::vector<uint8_t> gz = read_plain(dir + "/full.gz");
  // Damage the CRC-32 in the gzip trailer: the data inflates but fails the integrity check.
  gz[gz.size() - 8] ^= 0xFF;
  write_plain(dir + "/crc.gz", gz);
  const std::string msg = error_of([&] { read_idx(dir + "/crc.gz"); });
  EXPECT_CONTAINS(msg, dir + "/crc.gz");
  EXPECT_CONTAINS(msg, "gzip stream is corrupt");
}

TEST(Idx, MissingFileThrowsNamingIt) {
  const std::string dir = make_temp_dir();
  const std::string msg = error_of([&] { read_idx(dir + "/nope.gz"); });
  EXPECT_CONTAINS(msg, dir + "/nope.gz");
  EXPECT_CONTAINS(msg, "No such file");
}

}  // namespace
