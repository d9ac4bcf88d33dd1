// write_synthetic (synthetic.h): generate -> write_dataset -> raw copies.
#include "frost/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/h5_dataset.h"

namespace frost::data {
namespace {

// The BERT uncased vocabulary's special ids, as frost-prep text writes them; ids below 999 are
// [unused*] and punctuation there, so random ids start at 999.
constexpr int32_t kCls = 101, kSep = 102, kFirstWordId = 999;

// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, output a bijective mix of it.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by the multiply-shift method (Lemire 2019, without the rejection step:
  // the bias, below n / 2^64, does not matter for benchmark data).
  int64_t below(int64_t n) {
    return static_cast<int64_t>((static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
};

std::string json_int_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string json_double_list(const std::vector<double>& v) {
  std::ostringstream s;
  s.precision(17);
  s << "[";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << "]";
  return s.str();
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

}  // namespace

void validate_synthetic(const SyntheticOptions& o) {
  FROST_CHECK(!o.out_path.empty(), "synthetic: the output path is empty");
  FROST_CHECK(o.kind == InputKind::kImage || o.kind == InputKind::kTokens,
              "synthetic: --kind must be image or tokens");
  FROST_CHECK(o.rows >= 1, "synthetic: --rows must be >= 1, got ", o.rows);
  FROST_CHECK(o.num_classes >= 1, "synthetic: --num-classes must be >= 1, got ", o.num_classes);
  FROST_CHECK(o.chunk_rows >= 1, "synthetic: --chunk-rows must be >= 1, got ", o.chunk_rows);
  FROST_CHECK(!o.raw || o.task == Task::kClassification,
              "synthetic: --raw writes /labels only; it needs --task classification");
  if (o.kind == InputKind::kImage) {
    FROST_CHECK(o.image_shape.size() == 3, "synthetic: --shape must be C,H,W for images, got ",
                o.image_shape.size(), " value(s)");
    for (int64_t d : o.image_shape)
      FROST_CHECK(d >= 1 && d <= 65536, "synthetic: every --shape value must be in [1, 65536], got ",
                  json_int_list(o.image_shape));
  } else {
    FROST_CHECK(o.seq_len >= 2 && o.seq_len <= 65536,
                "synthetic: --seq-len must be in [2, 65536] ([CLS] and [SEP] at least), got ",
                o.seq_len);
    FROST_CHECK(o.min_len == 0 || (o.min_len >= 2 && o.min_len <= o.seq_len),
                "synthetic: --min-len must be 0 (L / 4) or in [2, --seq-len = ", o.seq_len,
                "], got ", o.min_len);
    FROST_CHECK(o.vocab_size > kFirstWordId + 1 && o.vocab_size <= (int64_t{1} << 31) - 1,
                "synthetic: --vocab-size must be in [", kFirstWordId + 2, ", 2^31), got ",
                o.vocab_size);
  }
  const int64_t per_row = o.kind == InputKind::kImage
                              ? o.image_shape[0] * o.image_shape[1] * o.image_shape[2]
                              : o.seq_len * 5;
  FROST_CHECK(per_row <= (int64_t{1} << 40) / o.rows,
              "synthetic: --rows x row size is over 1 TiB; generate fewer rows");
}

SyntheticSummary write_synthetic(const SyntheticOptions& o) {
  validate_synthetic(o);
  SplitMix64 rng{o.seed};
  const int64_t n = o.rows;
  DatasetInfo info;
  info.num_samples = n;
  info.input_kind = o.kind;
  info.num_classes = o.num_classes;
  WriteOptions wopt;
  wopt.chunk_rows = o.chunk_rows;
  wopt.int64_attributes["synthetic_seed"] = {static_cast<int64_t>(o.seed)};

  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::vector<float> targets;
  info.task = task_name(o.task);
  if (o.task == Task::kClassification) {
    for (auto& y : labels) y = rng.below(o.num_classes);
  } else {
    info.num_targets = o.num_classes;
    targets.resize(static_cast<size_t>(n * o.num_classes));
    for (auto& t : targets) {
      t = o.task == Task::kMultilabel
              ? static_cast<float>(rng.below(2))
              : static_cast<float>(static_cast<double>(rng.next() >> 11) * 0x1.0p-52 - 1.0);
    }
    wopt.targets = targets.data();
  }

  SyntheticSummary s;
  s.path = o.out_path;
  s.num_samples = n;
  std::vector<uint8_t> images;
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  const void* inputs = nullptr;
  if (o.kind == InputKind::kImage) {
    info.sample_shape = o.image_shape;
    const int64_t c = o.image_shape[0];
    info.mean.assign(static_cast<size_t>(c), 0.5);
    info.std.assign(static_cast<size_t>(c), std::sqrt((256.0 * 256.0 - 1.0) / 12.0) / 255.0);
    images.resize(static_cast<size_t>(n * info.sample_numel()));
    size_t i = 0;
    for (; i + 8 <= images.size(); i += 8) {
      const uint64_t r = rng.next();  // low byte first: the same bytes on every host
      for (int k = 0; k < 8; ++k) images[i + k] = static_cast<uint8_t>(r >> (8 * k));
    }
    for (; i < images.size(); ++i) images[i] = static_cast<uint8_t>(rng.next());
    inputs = images.data();
    s.bytes = static_cast<int64_t>(images.size());
  } else {
    const int64_t l = o.seq_len;
    const int64_t min_len = o.min_len ? o.min_len : std::max<int64_t>(2, l / 4);
    info.sample_shape = {l};
    info.has_attention_mask = true;
    ids.assign(static_cast<size_t>(n * l), 0);
    mask.assign(static_cast<size_t>(n * l), 0);
    int64_t total = 0;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t len = min_len + rng.below(l - min_len + 1);
      int32_t* row = ids.data() + r * l;
      row[0] = kCls;
      for (int64_t j = 1; j + 1 < len; ++j)
        row[j] = static_cast<int32_t>(kFirstWordId + rng.below(o.vocab_size - kFirstWordId));
      row[len - 1] = kSep;
      std::memset(mask.data() + r * l, 1, static_cast<size_t>(len));
      total += len;
    }
    wopt.attention_mask = mask.data();
    inputs = ids.data();
    s.bytes = static_cast<int64_t>(ids.size() * sizeof(int32_t) + mask.size());
    s.mean_tokens = (total + n / 2) / n;
  }
  s.sample_shape = info.sample_shape;
  // A raw copy left by an earlier run into the same path would describe other data: it goes
  // first (the manifest before the arrays), so that no reader pairs it with the new file.
  for (const char* suffix : {".raw.json", ".inputs.bin", ".labels.bin", ".attention_mask.bin"}) {
    std::error_code ec;
    std::filesystem::remove(o.out_path + suffix, ec);
    FROST_CHECK(!ec, "synthetic: cannot remove the stale raw copy ", o.out_path, suffix, ": ",
                ec.message());
  }
  write_dataset(o.out_path, info, inputs,
                o.task == Task::kClassification ? labels.data() : nullptr, wopt);
  if (!o.raw) return s;

  FROST_CHECK(little_endian(), "synthetic: --raw writes little-endian files; this host is not");
  const std::string stem = base_name(o.out_path);
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), info.sample_shape.begin(), info.sample_shape.end());
  const char* in_dtype = o.kind == InputKind::kImage ? "uint8" : "int32";
  const size_t in_bytes = o.kind == InputKind::kImage ? images.size() : ids.size() * sizeof(int32_t);
  fs::write_file_atomic(o.out_path + ".inputs.bin", inputs, in_bytes);
  fs::write_file_atomic(o.out_path + ".labels.bin", labels.data(), labels.size() * sizeof(int64_t));
  std::ostringstream j;
  j << "{\"format\": \"frost-raw-1\", \"num_samples\": " << n
    << ", \"num_classes\": " << o.num_classes << ", \"input_kind\": \""
    << input_kind_name(o.kind) << "\"";
  if (o.kind == InputKind::kImage)
    j << ", \"mean\": " << json_double_list(info.mean) << ", \"std\": " << json_double_list(info.std);
  j << ", \"arrays\": {\"inputs\": {\"file\": \"" << stem << ".inputs.bin\", \"dtype\": \""
    << in_dtype << "\", \"shape\": " << json_int_list(shape) << "}, \"labels\": {\"file\": \""
    << stem << ".labels.bin\", \"dtype\": \"int64\", \"shape\": [" << n << "]}";
  if (o.kind == InputKind::kTokens) {
    fs::write_file_atomic(o.out_path + ".attention_mask.bin", mask.data(), mask.size());
    j << ", \"attention_mask\": {\"file\": \"" << stem << ".attention_mask.bin\", \"dtype\": "
      << "\"uint8\", \"shape\": " << json_int_list(shape) << "}";
  }
  j << "}}\n";
  s.raw_manifest = o.out_path + ".raw.json";
  fs::write_file_atomic(s.raw_manifest, j.str());
  return s;
}

}  // namespace frost::data
