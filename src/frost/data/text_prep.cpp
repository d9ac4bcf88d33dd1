#include "frost/data/text_prep.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <utility>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/dataset_info.h"
#include "frost/data/h5_dataset.h"
#include "frost/text/wordpiece.h"

namespace frost::data {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Uniform integer in [0, bound), unbiased: the same rejection method as TrainSampler
// (sampler.cpp), so the split is identical on every standard library.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  std::mt19937_64 rng(seq);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

std::string trim_spaces(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// An integer label: optional sign, decimal digits, fits int64.
bool parse_int_label(const std::string& s, int64_t* value) {
  const size_t digits_from = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (s.size() == digits_from ||
      s.find_first_not_of("0123456789", digits_from) != std::string::npos)
    return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || end != s.c_str() + s.size()) return false;
  *value = static_cast<int64_t>(v);
  return true;
}

// Index of the column named `name` (spaces around header names ignored).
size_t find_column(const CsvTable& t, const std::string& path, const std::string& name) {
  size_t found = t.header.size();
  for (size_t c = 0; c < t.header.size(); ++c) {
    if (trim_spaces(t.header[c]) != name) continue;
    FROST_CHECK(found == t.header.size(), path, ": line 1: the header has two '", name,
                "' columns (", found + 1, " and ", c + 1, ")");
    found = c;
  }
  if (found == t.header.size()) {
    std::string cols;
    for (size_t c = 0; c < t.header.size(); ++c) cols += (c ? ", '" : "'") + t.header[c] + "'";
    throw Error(detail::str_cat(path, ": line 1: the header has no '", name,
                                "' column; expected a header with columns 'label' and 'text' "
                                "(others are ignored), found ",
                                cols));
  }
  return found;
}

}  // namespace

// ---- prep_text -------------------------------------------------------------------------------

TextPrepSummary prep_text(const TextPrepOptions& options) {
  FROST_CHECK(!options.csv_path.empty(), "--csv must name the input CSV file");
  FROST_CHECK(!options.vocab_path.empty(), "--vocab must name the WordPiece vocab.txt");
  FROST_CHECK(!options.out_dir.empty(), "--out must name the output directory");
  FROST_CHECK(options.max_len >= 2 && options.max_len <= (1 << 20),
              "--max-len must be in [2, 1048576] (room for [CLS] and [SEP]), got ",
              options.max_len);
  FROST_CHECK(std::isfinite(options.test_frac) && options.test_frac > 0 && options.test_frac < 1,
              "--test-frac must be in (0, 1), got ", options.test_frac);
  FROST_CHECK(options.chunk_rows >= 1, "--chunk-rows must be >= 1, got ", options.chunk_rows);
  const std::string& path = options.csv_path;
  TextPrepSummary summary;
  summary.max_len = options.max_len;

  // 1. Read the CSV and the vocabulary; map the labels.
  Clock::time_point t0 = Clock::now();
  const text::WordPieceTokenizer tokenizer =
      text::WordPieceTokenizer::from_vocab_file(options.vocab_path, options.lower_case);
  summary.vocab_size = tokenizer.vocab_size();
  const CsvTable table = read_csv(path);
  const size_t label_col = find_column(table, path, "label");
  const size_t text_col = find_column(table, path, "text");
  const auto n = static_cast<int64_t>(table.rows.size());
  FROST_CHECK(n >= 2, path, ": holds ", n,
              " data row(s) after the header; need at least 2 "
              "(one for train.h5, one for test.h5)");

  // multilabel, regression: /targets from the label column; one "class" for the split below.
  const bool targets_task = options.task != Task::kClassification;
  TaskTargets targets;
  if (targets_task) {
    std::vector<std::string> cells;
    for (const auto& row : table.rows) cells.push_back(row[label_col]);
    targets = parse_task_targets(options.task, cells, table.row_lines, path);
    summary.label_values = targets.names;
  }
  bool all_int = !targets_task;
  std::vector<int64_t> int_values(static_cast<size_t>(n));
  for (int64_t r = 0; r < n && !targets_task; ++r) {
    const std::string& v = table.rows[static_cast<size_t>(r)][label_col];
    const int64_t line = table.row_lines[static_cast<size_t>(r)];
    FROST_CHECK(!v.empty(), path, ": line ", line, ": the label is empty");
    FROST_CHECK(text::is_valid_utf8(v), path, ": line ", line, ": the label is not valid UTF-8");
    if (all_int && !parse_int_label(v, &int_values[static_cast<size_t>(r)])) all_int = false;
  }
  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::vector<int64_t> class_ids;
  if (targets_task) {
    // labels stay 0: one stratum, so the split below is a plain seeded one.
  } else if (all_int) {
    std::map<int64_t, int64_t> index;
    for (int64_t v : int_values) index.emplace(v, 0);
    for (auto& [value, label] : index) {
      label = static_cast<int64_t>(class_ids.size());
      class_ids.push_back(value);
      summary.label_values.push_back(std::to_string(value));
    }
    for (int64_t r = 0; r < n; ++r)
      labels[static_cast<size_t>(r)] = index.at(int_values[static_cast<size_t>(r)]);
  } else {
    std::map<std::string, int64_t> index;
    for (const auto& row : table.rows) index.emplace(row[label_col], 0);
    for (auto& [value, label] : index) {
      label = static_cast<int64_t>(summary.label_values.size());
      summary.label_values.push_back(value);
    }
    for (int64_t r = 0; r < n; ++r)
      labels[static_cast<size_t>(r)] = index.at(table.rows[static_cast<size_t>(r)][label_col]);
  }
  summary.integer_labels = targets_task ? targets.integer_names : all_int;
  const auto k = targets_task ? int64_t{1} : static_cast<int64_t>(summary.label_values.size());
  FROST_CHECK(targets_task || k >= 2, path, ": every row has the label '", summary.label_values.at(0),
              "'; a classifier needs at least 2 classes (is 'label' the right column?)");
  summary.read_s = seconds_since(t0);

  // 2. Tokenize every row: [CLS] pieces [SEP], truncated, padded.
  t0 = Clock::now();
  const int64_t len = options.max_len;
  std::vector<int32_t> ids(static_cast<size_t>(n * len), tokenizer.pad_id());
  std::vector<uint8_t> mask(static_cast<size_t>(n * len), 0);
  summary.token_lengths.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<int32_t> pieces =
        tokenizer.piece_ids(table.rows[static_cast<size_t>(r)][text_col]);
    const auto full = static_cast<int64_t>(pieces.size()) + 2;
    summary.token_lengths[static_cast<size_t>(r)] = full;
    if (full > len) ++summary.num_truncated;
    const int64_t kept = std::min(full, len) - 2;
    int32_t* row = ids.data() + r * len;
    row[0] = tokenizer.cls_id();
    std::copy(pieces.begin(), pieces.begin() + kept, row + 1);
    row[kept + 1] = tokenizer.sep_id();
    std::fill(mask.begin() + r * len, mask.begin() + r * len + kept + 2, uint8_t{1});
  }
  summary.tokenize_s = seconds_since(t0);

  // 3. Stratified split in a seeded order.
  std::vector<int64_t> per_class(static_cast<size_t>(k), 0);
  for (int64_t y : labels) ++per_class[static_cast<size_t>(y)];
  std::vector<int64_t> test_quota(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c)
    test_quota[static_cast<size_t>(c)] =
        std::llround(static_cast<double>(per_class[static_cast<size_t>(c)]) * options.test_frac);
  std::vector<int64_t> train_rows, test_rows;
  summary.train_per_class.assign(static_cast<size_t>(k), 0);
  summary.test_per_class.assign(static_cast<size_t>(k), 0);
  for (int64_t r : permutation(n, options.seed)) {
    const auto y = static_cast<size_t>(labels[static_cast<size_t>(r)]);
    if (summary.test_per_class[y] < test_quota[y]) {
      test_rows.push_back(r);
      ++summary.test_per_class[y];
    } else {
      train_rows.push_back(r);
      ++summary.train_per_class[y];
    }
  }
  FROST_CHECK(!train_rows.empty() && !test_rows.empty(), path, ": --test-frac ", options.test_frac,
              " splits the ", n, " rows into ", train_rows.size(), " train and ", test_rows.size(),
              " test rows; both need at least one (each "
              "class contributes round(rows of the class * test-frac) test rows)");

  // 4. Write both files (each atomically; both or neither).
  t0 = Clock::now();
  fs::create_directories(options.out_dir);
  DatasetInfo info;
  info.input_kind = InputKind::kTokens;
  info.sample_shape = {len};
  info.num_classes = targets_task ? targets.k : k;
  info.num_targets = targets_task ? targets.k : 0;
  info.task = task_name(options.task);
  info.has_attention_mask = true;
  WriteOptions wopt;
  wopt.chunk_rows = options.chunk_rows;
  wopt.int64_attributes["max_len"] = {len};
  wopt.int64_attributes["vocab_size"] = {summary.vocab_size};
  if (all_int && !targets_task) wopt.int64_attributes["class_ids"] = class_ids;
  wopt.string_attributes["label_values"] = nlohmann::json(summary.label_values).dump();

  auto write_split = [&](const std::vector<int64_t>& rows, PrepSplit& split,
                         const std::string& name) {
    const auto m = static_cast<int64_t>(rows.size());
    std::vector<int32_t> split_ids(static_cast<size_t>(m * len));
    std::vector<uint8_t> split_mask(static_cast<size_t>(m * len));
    std::vector<int64_t> split_labels(static_cast<size_t>(m));
    const auto tk = static_cast<size_t>(targets.k);
    std::vector<float> split_targets(static_cast<size_t>(m) * tk);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t r = rows[static_cast<size_t>(i)];
      std::copy(targets.values.begin() + static_cast<std::ptrdiff_t>(r * targets.k),
                targets.values.begin() + static_cast<std::ptrdiff_t>((r + 1) * targets.k),
                split_targets.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(i) * tk));
      std::copy(ids.begin() + r * len, ids.begin() + (r + 1) * len, split_ids.begin() + i * len);
      std::copy(mask.begin() + r * len, mask.begin() + (r + 1) * len, split_mask.begin() + i * len);
      split_labels[static_cast<size_t>(i)] = labels[static_cast<size_t>(r)];
    }
    split = {options.out_dir + "/" + name, m};
    info.num_samples = m;
    wopt.attention_mask = split_mask.data();
    wopt.targets = targets_task ? split_targets.data() : nullptr;
    write_dataset(split.path, info, split_ids.data(),
                  targets_task ? nullptr : split_labels.data(), wopt);
  };
  write_split(train_rows, summary.train, "train.h5");
  try {
    write_split(test_rows, summary.test, "test.h5");
  } catch (...) {
    std::remove(summary.train.path.c_str());  // both files or neither
    throw;
  }
  summary.write_s = seconds_since(t0);
  return summary;
}

}  // namespace frost::data
