#include "frost/data/text_prep.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <utility>

#include "frost/core/error.h"
#include "frost/text/read_file.h"
#include "frost/core/fs.h"
#include "frost/data/dataset_info.h"
#include "frost/data/h5_dataset.h"
#include "frost/text/bpe.h"
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

// Index of the column named `name` (spaces around header names ignored), or header.size()
// when there is none and `required` is false.
size_t find_column(const CsvTable& t, const std::string& path, const std::string& name,
                   const TextPrepOptions& o, bool required = true) {
  size_t found = t.header.size();
  for (size_t c = 0; c < t.header.size(); ++c) {
    if (trim_spaces(t.header[c]) != name) continue;
    FROST_CHECK(found == t.header.size(), path, ": line 1: the header has two '", name,
                "' columns (", found + 1, " and ", c + 1, ")");
    found = c;
  }
  if (found == t.header.size() && required) {
    std::string cols;
    for (size_t c = 0; c < t.header.size(); ++c) cols += (c ? ", '" : "'") + t.header[c] + "'";
    throw Error(detail::str_cat(path, ": line 1: the header has no '", name,
                                "' column; expected a header with columns '", o.label_field,
                                "' and '", o.text_field, "' (and '", o.pair_field,
                                "' for sentence pairs; others are ignored), found ", cols,
                                " (--label-field, --text-field and --pair-field name others)"));
  }
  return found;
}

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n\v\f") == std::string::npos;
}

// The records of a CSV table (label, text, pair as strings).
std::vector<TextRecord> csv_records(const std::string& path, const TextPrepOptions& o) {
  const CsvTable table = read_csv(path);
  const size_t label_col = find_column(table, path, o.label_field, o);
  const size_t text_col = find_column(table, path, o.text_field, o);
  const size_t pair_col = find_column(table, path, o.pair_field, o, /*required=*/false);
  const bool pairs = pair_col != table.header.size();
  std::vector<TextRecord> out(table.rows.size());
  for (size_t r = 0; r < table.rows.size(); ++r) {
    TextRecord& rec = out[r];
    rec.line = table.row_lines[r];
    rec.label = table.rows[r][label_col];
    rec.text = table.rows[r][text_col];
    FROST_CHECK(!blank(rec.text), path, ": line ", rec.line, ": the '", o.text_field,
                "' column is empty");
    if (pairs) {
      rec.pair = table.rows[r][pair_col];
      rec.has_pair = true;
      FROST_CHECK(!blank(rec.pair), path, ": line ", rec.line, ": the '", o.pair_field,
                  "' column is empty (a sentence pair needs both texts)");
    }
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A boolean of a tokenizer file, if the file exists beside the vocabulary and says.
std::optional<bool> tokenizer_file_flag(const std::string& path, bool config) {
  std::ifstream probe(path);
  if (!probe) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text::read_text_file(path, "tokenizer file"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::str_cat(path, ": is not valid JSON (", e.what(),
                                "); it sits beside the vocabulary and says whether the model "
                                "is cased (Note [Cased or uncased])"));
  }
  if (!j.is_object()) return std::nullopt;
  if (config) {
    const auto it = j.find("do_lower_case");
    if (it != j.end() && it->is_boolean()) return it->get<bool>();
    return std::nullopt;
  }
  const auto n = j.find("normalizer");
  if (n == j.end() || !n->is_object() || n->value("type", std::string()) != "BertNormalizer")
    return std::nullopt;
  const auto lc = n->find("lowercase");
  if (lc != n->end() && lc->is_boolean()) return lc->get<bool>();
  return std::nullopt;
}

}  // namespace

// ---- decide_lower_case, read_jsonl, longest_first -------------------------------------------

CaseDecision decide_lower_case(const std::string& vocab_path, std::optional<bool> requested,
                               const std::vector<std::string>& tokens) {
  const size_t slash = vocab_path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : vocab_path.substr(0, slash);
  auto word = [](bool b) { return b ? "true" : "false"; };
  CaseDecision d;
  for (const bool config : {true, false}) {
    const std::string file = dir + (config ? "/tokenizer_config.json" : "/tokenizer.json");
    const std::optional<bool> said = tokenizer_file_flag(file, config);
    if (!said) continue;
    const std::string what = config ? "do_lower_case" : "normalizer.lowercase";
    FROST_CHECK(!requested || *requested == *said, "--lower-case ", word(*requested),
                " contradicts ", what, " ", word(*said), " in ", file,
                ", the tokenizer the model was trained with; drop --lower-case, or fix ", file,
                " if it is wrong");
    d.lower_case = *said;
    d.source = what + " " + word(*said) + " in " + file;
    return d;
  }
  if (requested) {
    d.lower_case = *requested;
    d.source = std::string("--lower-case ") + word(*requested);
    return d;
  }
  int64_t words = 0, capitalised = 0;
  for (const std::string& t : tokens) {
    if (t.empty() || t.rfind("##", 0) == 0 || (t.front() == '[' && t.back() == ']')) continue;
    ++words;
    if (t.front() >= 'A' && t.front() <= 'Z') ++capitalised;
  }
  d.lower_case = !(words > 0 && capitalised * 100 >= words);
  d.source = detail::str_cat("inferred from the vocabulary: ", capitalised, " of ", words,
                             " whole-word tokens start with a capital (cased from 1 %); no "
                             "tokenizer_config.json or tokenizer.json beside it, no --lower-case");
  return d;
}

std::vector<TextRecord> read_jsonl(const std::string& path, const std::string& text_field,
                                   const std::string& label_field, const std::string& pair_field,
                                   Task task) {
  const std::string data = text::read_text_file(path, "JSONL file");
  std::vector<TextRecord> out;
  size_t pos = data.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  int64_t first_with_pair = 0, first_without_pair = 0;
  int64_t first_string_label = 0, first_integer_label = 0;  // classification: names vs integers
  for (int64_t line = 1; pos < data.size(); ++line) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string::npos) eol = data.size();
    const std::string text = data.substr(pos, eol - pos);
    pos = eol + 1;
    if (blank(text)) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      std::string why = e.what();
      const size_t colon = why.find("parse error");  // drop nlohmann's "[json.exception...] "
      if (colon != std::string::npos) why = why.substr(colon);
      throw Error(detail::str_cat(path, ": line ", line, ": not valid JSON (", why,
                                  "); JSONL holds one JSON object per line"));
    }
    FROST_CHECK(j.is_object(), path, ": line ", line, ": is a JSON ", j.type_name(),
                ", not an object; JSONL holds one object per line, e.g. {\"", label_field,
                "\": 1, \"", text_field, "\": \"...\"}");
    TextRecord rec;
    rec.line = line;
    const auto get_text = [&](const std::string& key, std::string& dst) {
      const auto it = j.find(key);
      FROST_CHECK(it != j.end(), path, ": line ", line, ": the object has no \"", key,
                  "\" key (--text-field, --label-field and --pair-field name others)");
      FROST_CHECK(it->is_string(), path, ": line ", line, ": \"", key, "\" is a JSON ",
                  it->type_name(), ", not a string");
      dst = it->get<std::string>();
      FROST_CHECK(!blank(dst), path, ": line ", line, ": \"", key, "\" is empty");
    };
    get_text(text_field, rec.text);
    const auto lab = j.find(label_field);
    FROST_CHECK(lab != j.end(), path, ": line ", line, ": the object has no \"", label_field,
                "\" key (--text-field, --label-field and --pair-field name others)");
    if (task == Task::kClassification && (lab->is_string() || lab->is_number_integer())) {
      // 1 and "1" are one class, but an integer among names ("pos", "neg") would be a class of
      // its own: a slip, refused naming both lines.
      int64_t ignored = 0;
      const bool is_name = lab->is_string() && !parse_int_label(lab->get<std::string>(), &ignored);
      const bool is_integer = lab->is_number_integer();
      if (is_name && first_string_label == 0) first_string_label = line;
      if (is_integer && first_integer_label == 0) first_integer_label = line;
      FROST_CHECK(!(is_name && first_integer_label != 0) && !(is_integer && first_string_label != 0),
                  path, ": line ", line, ": \"", label_field, "\" is ",
                  is_name ? "the name " : "the integer ", lab->dump(), " but line ",
                  is_name ? first_integer_label : first_string_label, "'s is ",
                  is_name ? "an integer" : "a name",
                  "; an integer label next to named classes would be a class of its own (write "
                  "every class label as a name, or every one as an integer)");
    }
    if (lab->is_string()) {
      rec.label = lab->get<std::string>();
    } else if (task == Task::kClassification) {
      FROST_CHECK(lab->is_number_integer(), path, ": line ", line, ": \"", label_field,
                  "\" is a JSON ", lab->is_number() ? "non-integer number" : lab->type_name(),
                  " (", lab->dump(), "); a class label is a string or an integer");
      rec.label = lab->dump();
    } else if (task == Task::kRegression && lab->is_number()) {
      rec.label = lab->dump();
    } else {
      // An array of label names (multilabel) or of numbers (regression), as the '|'-separated
      // text parse_task_targets reads.
      const bool ml = task == Task::kMultilabel;
      const char* want = ml ? "a string of '|'-separated label names or an array of strings and "
                              "integers"
                            : "a number, a string of '|'-separated numbers or an array of numbers";
      FROST_CHECK(lab->is_array(), path, ": line ", line, ": \"", label_field, "\" is a JSON ",
                  lab->type_name(), " (", lab->dump(), "); with --task ", task_name(task),
                  " it is ", want);
      std::string cell;
      for (size_t i = 0; i < lab->size(); ++i) {
        const nlohmann::json& e = (*lab)[i];
        std::string v;
        if (ml && e.is_string()) {
          v = e.get<std::string>();
          FROST_CHECK(v.find('|') == std::string::npos, path, ": line ", line, ": \"",
                      label_field, "\"[", i, "] = '", v, "' contains '|', which separates labels");
        } else {
          FROST_CHECK(ml ? e.is_number_integer() : e.is_number(), path, ": line ", line, ": \"",
                      label_field, "\"[", i, "] is a JSON ", e.type_name(), " (", e.dump(),
                      "); with --task ", task_name(task), " \"", label_field, "\" is ", want);
          v = e.dump();
        }
        cell += (i ? "|" : "") + v;
      }
      rec.label = cell;
    }
    if (j.contains(pair_field)) {
      get_text(pair_field, rec.pair);
      rec.has_pair = true;
      if (first_with_pair == 0) first_with_pair = line;
    } else if (first_without_pair == 0) {
      first_without_pair = line;
    }
    FROST_CHECK(first_with_pair == 0 || first_without_pair == 0, path, ": line ",
                std::max(first_with_pair, first_without_pair), ": ",
                first_with_pair > first_without_pair ? "has" : "lacks", " \"", pair_field,
                "\" but line ", std::min(first_with_pair, first_without_pair), " ",
                first_with_pair > first_without_pair ? "lacks" : "has",
                " it; either every record is a sentence pair or none is");
    out.push_back(std::move(rec));
  }
  FROST_CHECK(!out.empty(), path, ": holds no JSON object (only blank lines, or empty)");
  return out;
}

std::pair<int64_t, int64_t> longest_first(int64_t n1, int64_t n2, int64_t budget) {
  FROST_CHECK(n1 >= 0 && n2 >= 0 && budget >= 0, "longest_first: negative length");
  if (n1 + n2 <= budget) return {n1, n2};
  const bool swap = n1 > n2;
  int64_t s = std::min(n1, n2), l = std::max(n1, n2);  // shorter, longer (kept lengths)
  l = s > budget ? s : std::max(s, budget - s);
  if (s + l > budget) {
    s = budget / 2;
    l = s + budget % 2;
  }
  s = std::min(s, std::min(n1, n2));
  l = std::min(l, std::max(n1, n2));
  return swap ? std::make_pair(l, s) : std::make_pair(s, l);
}

TokenizerFiles find_tokenizer_files(const std::string& vocab_path,
                                    const std::string& merges_path) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  TokenizerFiles f;
  auto is_file = [](const std::string& p) {
    std::error_code e;
    return sfs::is_regular_file(p, e);
  };
  if (sfs::is_directory(vocab_path, ec)) {
    const std::string d = vocab_path + "/";
    if (is_file(d + "vocab.json") && (is_file(d + "merges.txt") || !merges_path.empty())) {
      f.bpe = true;
      f.vocab = d + "vocab.json";
      f.merges = merges_path.empty() ? d + "merges.txt" : merges_path;
      return f;
    }
    FROST_CHECK(!is_file(d + "vocab.json") || is_file(d + "vocab.txt") ||
                    is_file(d + "tokenizer.json"),
                vocab_path,
                ": has vocab.json but no merges.txt; a byte-level BPE (RoBERTa) needs both "
                "(--merges names a merges file elsewhere)");
    if (is_file(d + "vocab.txt")) {
      FROST_CHECK(merges_path.empty(), "--merges ", merges_path, " is for a byte-level BPE, but ",
                  vocab_path, " holds a WordPiece vocab.txt");
      f.vocab = d + "vocab.txt";
      return f;
    }
    FROST_CHECK(is_file(d + "tokenizer.json"), vocab_path,
                ": holds no tokenizer: looked for vocab.json + merges.txt (byte-level BPE: "
                "RoBERTa, GPT-2), vocab.txt (WordPiece: BERT, DistilBERT) and tokenizer.json");
    f.bpe = true;
    f.tokenizer_json = d + "tokenizer.json";
    FROST_CHECK(merges_path.empty(), "--merges ", merges_path, " is not used with ",
                f.tokenizer_json, ", which holds its merges");
    return f;
  }
  FROST_CHECK(sfs::exists(vocab_path, ec), "--vocab ", vocab_path, ": no such file or folder");
  if (ends_with(vocab_path, "tokenizer.json")) {  // also e.g. roberta-base-tokenizer.json
    FROST_CHECK(merges_path.empty(), "--merges ", merges_path, " is not used with ", vocab_path,
                ", which holds its merges");
    f.bpe = true;
    f.tokenizer_json = vocab_path;
    return f;
  }
  if (ends_with(vocab_path, ".json")) {
    f.bpe = true;
    f.vocab = vocab_path;
    const std::string beside = sfs::path(vocab_path).parent_path().empty()
                                   ? std::string("merges.txt")
                                   : (sfs::path(vocab_path).parent_path() / "merges.txt").string();
    f.merges = merges_path.empty() ? beside : merges_path;
    FROST_CHECK(!merges_path.empty() || is_file(beside), vocab_path,
                ": a byte-level BPE vocab.json needs its merges file: --merges names it (there "
                "is no ", beside, ")");
    return f;
  }
  FROST_CHECK(merges_path.empty(), "--merges ", merges_path, " is for a byte-level BPE vocab.json, but ",
              vocab_path, " is a WordPiece vocab.txt");
  f.vocab = vocab_path;
  return f;
}

std::vector<int32_t> layout_row(const RowLayout& layout, const std::vector<int32_t>& a,
                                const std::vector<int32_t>* b, int64_t max_len, int64_t* second) {
  const bool pairs = b != nullptr;
  const int64_t specials = layout.specials(pairs);
  FROST_CHECK(max_len >= specials, "max_len ", max_len, " leaves no room for the ", specials,
              " special tokens of a ", pairs ? "sentence pair" : "text");
  const auto na = static_cast<int64_t>(a.size());
  const auto nb = pairs ? static_cast<int64_t>(b->size()) : int64_t{0};
  const auto [ka, kb] = pairs ? longest_first(na, nb, max_len - specials)
                              : std::make_pair(std::min(na, max_len - specials), int64_t{0});
  std::vector<int32_t> row;
  row.reserve(static_cast<size_t>(ka + kb + specials));
  row.push_back(layout.cls);
  row.insert(row.end(), a.begin(), a.begin() + ka);
  row.push_back(layout.sep);
  if (pairs && layout.double_sep) row.push_back(layout.sep);
  if (second != nullptr) *second = static_cast<int64_t>(row.size());
  if (pairs) {
    row.insert(row.end(), b->begin(), b->begin() + kb);
    row.push_back(layout.sep);
  }
  return row;
}

// ---- prep_text -------------------------------------------------------------------------------

TextPrepSummary prep_text(const TextPrepOptions& options) {
  FROST_CHECK(!options.csv_path.empty(), "--input must name the input CSV or JSONL file");
  FROST_CHECK(!options.vocab_path.empty(),
              "--vocab must name the WordPiece vocab.txt, the byte-level BPE vocab.json (or "
              "tokenizer.json), or the model folder holding them");
  FROST_CHECK(!options.out_dir.empty(), "--out must name the output directory");
  FROST_CHECK(options.max_len >= 2 && options.max_len <= (1 << 20),
              "--max-len must be in [2, 1048576] (room for the two special tokens: [CLS] and [SEP], "
              "or <s> and </s>), got ",
              options.max_len);
  FROST_CHECK(std::isfinite(options.test_frac) && options.test_frac > 0 && options.test_frac < 1,
              "--test-frac must be in (0, 1), got ", options.test_frac);
  FROST_CHECK(options.chunk_rows >= 1, "--chunk-rows must be >= 1, got ", options.chunk_rows);
  FROST_CHECK(options.format == "auto" || options.format == "csv" || options.format == "jsonl",
              "--format '", options.format, "' is not one of: csv | jsonl | auto");
  for (const std::string* f : {&options.text_field, &options.label_field, &options.pair_field})
    FROST_CHECK(!f->empty(), "--text-field, --label-field and --pair-field must not be empty");
  FROST_CHECK(options.text_field != options.label_field &&
                  options.pair_field != options.label_field &&
                  options.pair_field != options.text_field,
              "--text-field '", options.text_field, "', --label-field '", options.label_field,
              "' and --pair-field '", options.pair_field, "' must name three different fields");
  const std::string& path = options.csv_path;
  TextPrepSummary summary;
  summary.max_len = options.max_len;

  // 1. Read the input and the vocabulary; decide the case; map the labels.
  Clock::time_point t0 = Clock::now();
  const TokenizerFiles files = find_tokenizer_files(options.vocab_path, options.merges_path);
  summary.tokenizer_files = files;
  summary.bpe = files.bpe;
  std::optional<text::WordPieceTokenizer> wordpiece;
  std::optional<text::ByteLevelBpeTokenizer> bpe;
  std::function<std::vector<int32_t>(const std::string&)> piece_ids;
  RowLayout layout;
  auto word = [](bool b) { return b ? "true" : "false"; };
  if (!files.bpe) {
    FROST_CHECK(!options.add_prefix_space, "--add-prefix-space is for a byte-level BPE (RoBERTa); ",
                files.vocab, " is a WordPiece vocab.txt");
    wordpiece = text::WordPieceTokenizer::from_vocab_file(files.vocab, /*lower_case=*/true);
    std::vector<std::string> tokens(static_cast<size_t>(wordpiece->vocab_size()));
    for (int32_t i = 0; i < static_cast<int32_t>(tokens.size()); ++i)
      tokens[static_cast<size_t>(i)] = wordpiece->id_to_token(i);
    summary.case_decision = decide_lower_case(files.vocab, options.lower_case, tokens);
    if (!summary.case_decision.lower_case)
      wordpiece = text::WordPieceTokenizer::from_tokens(std::move(tokens), false, files.vocab);
    summary.vocab_size = wordpiece->vocab_size();
    summary.pad_id = wordpiece->pad_id();
    layout = {wordpiece->cls_id(), wordpiece->sep_id(), false};
    piece_ids = [&](const std::string& s) { return wordpiece->piece_ids(s); };
  } else if (!files.tokenizer_json.empty()) {
    bpe = text::ByteLevelBpeTokenizer::from_tokenizer_json(files.tokenizer_json);
    const text::BpeOptions& o = bpe->options();
    FROST_CHECK(!options.lower_case || *options.lower_case == o.lower_case, "--lower-case ",
                word(*options.lower_case), " contradicts ", files.tokenizer_json, ", whose ",
                o.lower_case ? "normalizer lower-cases" : "tokenizer does not lower-case",
                "; drop --lower-case, or fix the file if it is wrong");
    FROST_CHECK(!options.add_prefix_space || *options.add_prefix_space == o.add_prefix_space,
                "--add-prefix-space ", word(*options.add_prefix_space), " contradicts ",
                "pre_tokenizer.add_prefix_space ", word(o.add_prefix_space), " in ",
                files.tokenizer_json, "; drop --add-prefix-space, or fix the file if it is wrong");
    summary.case_decision = {o.lower_case, std::string(o.lower_case ? "a Lowercase normalizer"
                                                                     : "no Lowercase normalizer") +
                                               " in " + files.tokenizer_json};
  } else {
    text::BpeOptions o;
    o.lower_case = options.lower_case.value_or(false);
    o.add_prefix_space = options.add_prefix_space.value_or(false);
    bpe = text::ByteLevelBpeTokenizer::from_files(files.vocab, files.merges, o);
    summary.case_decision = {o.lower_case, options.lower_case
                                               ? std::string("--lower-case ") + word(o.lower_case)
                                               : std::string("RoBERTa's default (byte-level BPE "
                                                             "keeps the case)")};
  }
  if (bpe) {
    summary.vocab_size = bpe->vocab_size();
    summary.pad_id = bpe->pad_id();
    summary.add_prefix_space = bpe->options().add_prefix_space;
    layout = {bpe->bos_id(), bpe->eos_id(), true};
    piece_ids = [&](const std::string& s) { return bpe->piece_ids(s); };
  }
  const bool jsonl = options.format == "jsonl" ||
                     (options.format == "auto" &&
                      (ends_with(path, ".jsonl") || ends_with(path, ".json-lines")));
  summary.format = jsonl ? "jsonl" : "csv";
  const std::vector<TextRecord> records =
      jsonl ? read_jsonl(path, options.text_field, options.label_field, options.pair_field,
                         options.task)
            : csv_records(path, options);
  const auto n = static_cast<int64_t>(records.size());
  FROST_CHECK(n >= 2, path, ": holds ", n, jsonl ? " record(s)" : " data row(s) after the header",
              "; need at least 2 (one for train.h5, one for test.h5)");
  const bool pairs = records.front().has_pair;
  summary.pairs = pairs;
  FROST_CHECK(!pairs || options.max_len >= layout.specials(true),
              "--max-len must be >= ", layout.specials(true), " for sentence pairs (room for ",
              files.bpe ? "<s>, </s></s> and </s>" : "[CLS] and two [SEP]", "), got ",
              options.max_len);

  // multilabel, regression: /targets from the label column; one "class" for the split below.
  const bool targets_task = options.task != Task::kClassification;
  TaskTargets targets;
  if (targets_task) {
    std::vector<std::string> cells;
    std::vector<int64_t> lines;
    for (const TextRecord& rec : records) {
      cells.push_back(rec.label);
      lines.push_back(rec.line);
    }
    targets = parse_task_targets(options.task, cells, lines, path);
    summary.label_values = targets.names;
  }
  bool all_int = !targets_task;
  std::vector<int64_t> int_values(static_cast<size_t>(n));
  for (int64_t r = 0; r < n && !targets_task; ++r) {
    const std::string& v = records[static_cast<size_t>(r)].label;
    const int64_t line = records[static_cast<size_t>(r)].line;
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
    for (const auto& rec : records) index.emplace(rec.label, 0);
    for (auto& [value, label] : index) {
      label = static_cast<int64_t>(summary.label_values.size());
      summary.label_values.push_back(value);
    }
    for (int64_t r = 0; r < n; ++r)
      labels[static_cast<size_t>(r)] = index.at(records[static_cast<size_t>(r)].label);
  }
  summary.integer_labels = targets_task ? targets.integer_names : all_int;
  const auto k = targets_task ? int64_t{1} : static_cast<int64_t>(summary.label_values.size());
  FROST_CHECK(targets_task || k >= 2, path, ": every row has the label '",
              summary.label_values.at(0), "'; a classifier needs at least 2 classes (is '",
              options.label_field, "' the right field?)");
  summary.read_s = seconds_since(t0);

  // 2. Tokenize every row (RowLayout), truncated, padded.
  t0 = Clock::now();
  const int64_t len = options.max_len;
  // Token types only for WordPiece pairs: RoBERTa has one token type (type_vocab_size 1).
  const bool write_types = pairs && !files.bpe;
  std::vector<int32_t> ids(static_cast<size_t>(n * len), summary.pad_id);
  std::vector<uint8_t> mask(static_cast<size_t>(n * len), 0);
  std::vector<uint8_t> types(write_types ? static_cast<size_t>(n * len) : 0, 0);
  summary.token_lengths.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    const TextRecord& rec = records[static_cast<size_t>(r)];
    const std::vector<int32_t> a = piece_ids(rec.text);
    const std::vector<int32_t> b = pairs ? piece_ids(rec.pair) : std::vector<int32_t>();
    const int64_t full =
        static_cast<int64_t>(a.size() + b.size()) + layout.specials(pairs);
    summary.token_lengths[static_cast<size_t>(r)] = full;
    if (full > len) ++summary.num_truncated;
    int64_t second = 0;
    const std::vector<int32_t> row = layout_row(layout, a, pairs ? &b : nullptr, len, &second);
    const auto used = static_cast<int64_t>(row.size());
    std::copy(row.begin(), row.end(), ids.begin() + r * len);
    if (write_types)
      std::fill(types.begin() + r * len + second, types.begin() + r * len + used, uint8_t{1});
    std::fill(mask.begin() + r * len, mask.begin() + r * len + used, uint8_t{1});
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
  info.has_token_type_ids = write_types;
  WriteOptions wopt;
  wopt.chunk_rows = options.chunk_rows;
  wopt.int64_attributes["max_len"] = {len};
  wopt.int64_attributes["vocab_size"] = {summary.vocab_size};
  wopt.int64_attributes["lower_case"] = {summary.case_decision.lower_case ? 1 : 0};
  wopt.int64_attributes["pad_id"] = {summary.pad_id};
  wopt.string_attributes["tokenizer"] = files.bpe ? "byte_level_bpe" : "wordpiece";
  if (files.bpe) wopt.int64_attributes["add_prefix_space"] = {summary.add_prefix_space ? 1 : 0};
  if (all_int && !targets_task) wopt.int64_attributes["class_ids"] = class_ids;
  wopt.string_attributes["label_values"] = nlohmann::json(summary.label_values).dump();

  auto write_split = [&](const std::vector<int64_t>& rows, PrepSplit& split,
                         const std::string& name) {
    const auto m = static_cast<int64_t>(rows.size());
    std::vector<int32_t> split_ids(static_cast<size_t>(m * len));
    std::vector<uint8_t> split_mask(static_cast<size_t>(m * len));
    std::vector<uint8_t> split_types(write_types ? static_cast<size_t>(m * len) : 0);
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
      if (write_types)
        std::copy(types.begin() + r * len, types.begin() + (r + 1) * len,
                  split_types.begin() + i * len);
      split_labels[static_cast<size_t>(i)] = labels[static_cast<size_t>(r)];
    }
    split = {options.out_dir + "/" + name, m};
    info.num_samples = m;
    wopt.attention_mask = split_mask.data();
    wopt.targets = targets_task ? split_targets.data() : nullptr;
    wopt.token_type_ids = write_types ? split_types.data() : nullptr;
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
