#include "frost/text/bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>

#include "frost/core/error.h"
#include "frost/text/read_file.h"
#include "frost/text/wordpiece.h"

namespace frost::text {
namespace {

// Step 4 of Note [Byte-level BPE pipeline]: GPT-2's pattern, \s spelled out as White_Space.
constexpr const char* kPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\t-\r\x{85}\p{Z}\p{L}\p{N}]+)"
    R"(|[\t-\r\x{85}\p{Z}]+(?![^\t-\r\x{85}\p{Z}])|[\t-\r\x{85}\p{Z}]+)";

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Step 2: valid UTF-8 (each bad byte -> U+FFFD), lower-cased when asked.
std::string clean_utf8(const std::string& text, bool lower_case) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp < 0) {
      out += "\xEF\xBF\xBD";
      p += 1;
      left -= 1;
      continue;
    }
    if (!lower_case) {
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    } else if (cp == 0x130) {  // İ: Rust's full lower-case mapping, "i" + combining dot above
      out += "i\xCC\x87";
    } else {
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(cp)));
    }
    p += n;
    left -= n;
  }
  return out;
}

// Unicode White_Space (Rust's char::is_whitespace), for lstrip / rstrip.
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Bytes of white space at the end (back = true) or start of s[from, to) (valid UTF-8 only;
// an invalid byte stops the scan).
size_t space_run(const std::string& s, size_t from, size_t to, bool back) {
  std::vector<std::pair<size_t, size_t>> cps;  // (offset, length) of each code point
  const auto* base = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (size_t i = from; i < to;) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t n =
        utf8proc_iterate(base + i, static_cast<utf8proc_ssize_t>(to - i), &cp);
    if (n <= 0 || cp < 0) {
      cps.emplace_back(i, 0);  // invalid: not space
      i += 1;
      continue;
    }
    cps.emplace_back(i, static_cast<size_t>(n));
    i += static_cast<size_t>(n);
  }
  auto space = [&](const std::pair<size_t, size_t>& c) {
    if (c.second == 0) return false;
    utf8proc_int32_t cp = -1;
    utf8proc_iterate(base + c.first, static_cast<utf8proc_ssize_t>(c.second), &cp);
    return is_space(static_cast<char32_t>(cp));
  };
  size_t bytes = 0;
  if (back) {
    for (auto it = cps.rbegin(); it != cps.rend() && space(*it); ++it) bytes += it->second;
  } else {
    for (auto it = cps.begin(); it != cps.end() && space(*it); ++it) bytes += it->second;
  }
  return bytes;
}

nlohmann::json parse_json(const std::string& path, const char* what) {
  try {
    return nlohmann::json::parse(read_text_file(path, what));
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::str_cat(path, ": the ", what, " is not valid JSON (", e.what(), ")"));
  }
}

std::unordered_map<std::string, int32_t> vocab_from_json(const nlohmann::json& j,
                                                         const std::string& where) {
  FROST_CHECK(j.is_object(), where, " is a JSON ", j.type_name(),
              ", not an object of token -> id (is this a vocab.json?)");
  std::unordered_map<std::string, int32_t> vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) {
    FROST_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 &&
                    id.get<int64_t>() < std::numeric_limits<int32_t>::max(),
                where, ": the id of \"", token, "\" is ", id.dump(),
                ", not an integer in [0, 2^31 - 1)");
    vocab.emplace(token, static_cast<int32_t>(id.get<int64_t>()));
  }
  return vocab;
}

std::vector<BpeSpecial> roberta_specials() {
  return {{"<s>", -1, false, false},
          {"</s>", -1, false, false},
          {"<pad>", -1, false, false},
          {"<unk>", -1, false, false},
          {"<mask>", -1, true, false}};
}

}  // namespace

struct ByteLevelBpeTokenizer::Regex {
  pcre2_code* code = nullptr;
  Regex() {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      FROST_ASSERT(false, "PCRE2 cannot compile GPT-2's pattern at offset ", offset, ": ",
                   reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: without JIT, matching is slower
  }
  ~Regex() { pcre2_code_free(code); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
};

struct ByteLevelBpeTokenizer::Cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer() = default;

const std::string& ByteLevelBpeTokenizer::byte_symbol(uint8_t b) {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
      append_utf8(t[static_cast<size_t>(c)], printable ? static_cast<char32_t>(c) : next++);
    }
    return t;
  }();
  return table[b];
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_files(const std::string& vocab_json,
                                                        const std::string& merges_txt,
                                                        const BpeOptions& options) {
  auto vocab = vocab_from_json(parse_json(vocab_json, "BPE vocabulary"), vocab_json);
  const std::string data = read_text_file(merges_txt, "BPE merges file");
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<int64_t> lines;
  size_t pos = 0;
  for (int64_t line = 1; pos < data.size(); ++line) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string::npos) eol = data.size();
    std::string text = data.substr(pos, eol - pos);
    pos = eol + 1;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (line == 1 && text.rfind("#version", 0) == 0) continue;
    const size_t space = text.find(' ');
    FROST_CHECK(space != std::string::npos && space > 0 && space + 1 < text.size() &&
                    text.find(' ', space + 1) == std::string::npos,
                merges_txt, ": line ", line, ": '", text,
                "' is not a merge; merges.txt holds one merge per line, two tokens separated by "
                "one space (e.g. 'Ġ t')");
    FROST_CHECK(is_valid_utf8(text), merges_txt, ": line ", line, ": is not valid UTF-8");
    merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    lines.push_back(line);
  }
  FROST_CHECK(!merges.empty(), merges_txt, ": holds no merges (",
              data.empty() ? "the file is empty" : "only a #version line",
              "); a byte-level BPE's merges.txt lists one merge per line (is it truncated?)");
  return from_parts(std::move(vocab), std::move(merges), options, vocab_json, {}, merges_txt,
                    lines);
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_tokenizer_json(const std::string& path) {
  const nlohmann::json j = parse_json(path, "tokenizer file");
  FROST_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), path,
              ": has no \"model\" object; a Hugging Face tokenizer.json has one");
  const nlohmann::json& m = j["model"];
  const std::string type = m.value("type", std::string());
  FROST_CHECK(type == "BPE", path, ": model.type is '", type,
              "'; only a byte-level \"BPE\" tokenizer.json is read (for a BERT WordPiece "
              "model give its vocab.txt)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix", "dropout"}) {
    const auto it = m.find(key);
    FROST_CHECK(it == m.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()),
                path, ": model.", key, " is ", it->dump(),
                "; only byte-level BPE without it (GPT-2, RoBERTa) is supported");
  }
  FROST_CHECK(!m.value("byte_fallback", false), path,
              ": model.byte_fallback is true (a SentencePiece-style BPE); only byte-level BPE "
              "(GPT-2, RoBERTa) is supported");
  BpeOptions o;
  o.ignore_merges = m.value("ignore_merges", false);
  // The pre-tokenizer: ByteLevel, alone or in a Sequence.
  const nlohmann::json pre = j.value("pre_tokenizer", nlohmann::json());
  const nlohmann::json* byte_level = nullptr;
  if (pre.is_object() && pre.value("type", std::string()) == "ByteLevel") byte_level = &pre;
  FROST_CHECK(byte_level != nullptr, path, ": pre_tokenizer is ", pre.dump(),
              "; a byte-level BPE has {\"type\": \"ByteLevel\", ...}");
  o.add_prefix_space = byte_level->value("add_prefix_space", false);
  FROST_CHECK(byte_level->value("use_regex", true), path,
              ": pre_tokenizer.use_regex is false; only GPT-2's pattern is supported");
  const nlohmann::json norm = j.value("normalizer", nlohmann::json());
  if (!norm.is_null()) {
    auto is_lower = [](const nlohmann::json& n) {
      return n.is_object() && n.value("type", std::string()) == "Lowercase";
    };
    bool ok = is_lower(norm);
    if (norm.is_object() && norm.value("type", std::string()) == "Sequence") {
      ok = norm.contains("normalizers") && norm["normalizers"].is_array();
      for (const auto& n : norm.value("normalizers", nlohmann::json::array())) ok = ok && is_lower(n);
    }
    FROST_CHECK(ok, path, ": normalizer ", norm.dump(),
                " is not supported (none, or Lowercase, is)");
    o.lower_case = true;
  }
  FROST_CHECK(m.contains("vocab"), path, ": model.vocab is missing");
  auto vocab = vocab_from_json(m["vocab"], path + ": model.vocab");
  std::vector<std::pair<std::string, std::string>> merges;
  const nlohmann::json ms = m.value("merges", nlohmann::json::array());
  FROST_CHECK(ms.is_array(), path, ": model.merges is a JSON ", ms.type_name(), ", not an array");
  for (size_t i = 0; i < ms.size(); ++i) {
    const nlohmann::json& e = ms[i];
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t space = s.find(' ');
      FROST_CHECK(space != std::string::npos && space > 0 && space + 1 < s.size() &&
                      s.find(' ', space + 1) == std::string::npos,
                  path, ": model.merges[", i, "] = ", e.dump(),
                  " is not two tokens separated by one space");
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else {
      FROST_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(), path,
                  ": model.merges[", i, "] = ", e.dump(), " is not a pair of tokens");
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    }
  }
  FROST_CHECK(!merges.empty(), path,
              ": holds no merges (model.merges is empty); a byte-level BPE tokenizer.json lists "
              "its merges (is it truncated?)");
  std::vector<BpeSpecial> specials;
  for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
    if (!t.is_object() || !t.value("special", false)) continue;
    BpeSpecial s;
    s.content = t.value("content", std::string());
    if (s.content.empty() || !t.contains("id") || !t["id"].is_number_integer()) continue;
    s.id = t["id"].get<int32_t>();
    s.lstrip = t.value("lstrip", false);
    s.rstrip = t.value("rstrip", false);
    specials.push_back(s);
  }
  if (specials.empty()) specials = roberta_specials();
  return from_parts(std::move(vocab), std::move(merges), o, path, std::move(specials));
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_parts(
    std::unordered_map<std::string, int32_t> vocab,
    std::vector<std::pair<std::string, std::string>> merges, const BpeOptions& options,
    const std::string& source, std::vector<BpeSpecial> specials, const std::string& merges_source,
    const std::vector<int64_t>& merge_lines) {
  FROST_CHECK(!vocab.empty(), source, ": the BPE vocabulary is empty");
  ByteLevelBpeTokenizer t;
  t.options_ = options;
  t.ids_ = std::move(vocab);
  const auto& vocab_ids = t.ids_;
  auto special = [&](const char* name) {
    const int32_t id = t.token_to_id(name);
    FROST_CHECK(id >= 0, source, ": the BPE vocabulary (", t.ids_.size(), " tokens) has no ",
                name, " token; a RoBERTa vocabulary needs <s>, </s> and <pad> (is this a "
                "RoBERTa/GPT-2 vocab.json?)");
    return id;
  };
  t.bos_id_ = special("<s>");
  t.eos_id_ = special("</s>");
  t.pad_id_ = special("<pad>");
  for (int b = 0; b < 256; ++b) {
    const std::string& sym = byte_symbol(static_cast<uint8_t>(b));
    FROST_CHECK(t.token_to_id(sym) >= 0, source, ": the BPE vocabulary has no token for byte ",
                b, " ('", sym, "'); a byte-level vocabulary holds all 256 byte symbols");
  }
  // Ids 0..N-1, each once (as every GPT-2/RoBERTa vocabulary): a stray id would size the id
  // table (2e9 -> 64 GB) and a shared one makes id -> token ambiguous.
  const auto n = static_cast<int64_t>(vocab_ids.size());
  int32_t max_id = 0;
  for (const auto& [token, id] : vocab_ids) {
    FROST_CHECK(id >= 0 && id < n, source, ": the id of ", nlohmann::json(token).dump(), " is ",
                id, ", outside 0..", n - 1, " (a vocabulary of ", n,
                " tokens holds each id 0..N-1 once)");
    max_id = std::max(max_id, id);
  }
  t.tokens_.assign(static_cast<size_t>(max_id) + 1, std::string());
  std::vector<bool> seen(t.tokens_.size(), false);
  for (const auto& [token, id] : vocab_ids) {
    const auto i = static_cast<size_t>(id);
    FROST_CHECK(!seen[i], source, ": ", nlohmann::json(t.tokens_[i]).dump(), " and ",
                nlohmann::json(token).dump(), " both have id ", id,
                " (a vocabulary holds each id 0..N-1 once)");
    seen[i] = true;
    t.tokens_[i] = token;
  }
  t.ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    auto where = [&]() {
      return merges_source.empty()
                 ? detail::str_cat(source, ": merge ", i)
                 : detail::str_cat(merges_source, ": line ",
                                   i < merge_lines.size() ? merge_lines[i] : int64_t(i + 1));
    };
    for (const std::string* part : {&a, &b}) {
      FROST_CHECK(t.token_to_id(*part) >= 0, where(), ": the merge '", a, " ", b, "' has '",
                  *part, "', which is not in the vocabulary ", source);
    }
    FROST_CHECK(t.token_to_id(a + b) >= 0, where(), ": the merge '", a, " ", b, "' makes '",
                a + b, "', which is not in the vocabulary ", source);
    t.ranks_[a + " " + b] = static_cast<int32_t>(i);  // the last of duplicates wins, as there
  }
  if (specials.empty()) specials = roberta_specials();
  for (BpeSpecial& s : specials) {
    if (s.id < 0) s.id = t.token_to_id(s.content);
    if (s.id >= 0 && s.id <= max_id) t.specials_.push_back(s);
  }
  std::stable_sort(t.specials_.begin(), t.specials_.end(),
                   [](const BpeSpecial& x, const BpeSpecial& y) {
                     return x.content.size() > y.content.size();
                   });
  static const std::shared_ptr<const Regex> regex = std::make_shared<const Regex>();
  t.regex_ = regex;
  t.cache_ = std::make_shared<Cache>();
  return t;
}

int32_t ByteLevelBpeTokenizer::token_to_id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& ByteLevelBpeTokenizer::id_to_token(int32_t id) const {
  FROST_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside [0, ", vocab_size(),
              ") (vocabulary size)");
  return tokens_[static_cast<size_t>(id)];
}

template <typename OnText, typename OnSpecial>
void ByteLevelBpeTokenizer::split_special(const std::string& text, OnText&& on_text,
                                          OnSpecial&& on_special) const {
  size_t from = 0;  // start of the text not yet handed out
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const BpeSpecial* match = nullptr;
    for (const BpeSpecial& sp : specials_) {
      if (text.compare(pos, sp.content.size(), sp.content) == 0) {
        match = &sp;
        break;
      }
    }
    if (match == nullptr) continue;
    size_t text_end = pos;
    if (match->lstrip) text_end -= space_run(text, from, pos, /*back=*/true);
    on_text(text.substr(from, text_end - from));
    on_special(match->id);
    from = pos + match->content.size();
    if (match->rstrip) from += space_run(text, from, text.size(), /*back=*/false);
    pos = from - 1;
  }
  on_text(text.substr(from));
}

template <typename OnWord>
void ByteLevelBpeTokenizer::words(const std::string& raw, OnWord&& on_word) const {
  std::string text = clean_utf8(raw, options_.lower_case);
  if (text.empty()) return;
  if (options_.add_prefix_space && text[0] != ' ') text.insert(0, " ");
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
  FROST_ASSERT(md != nullptr, "pcre2_match_data_create_from_pattern failed");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t at = 0, last = 0;
  while (at < text.size()) {
    const int rc = pcre2_match(regex_->code, subject, text.size(), at, PCRE2_NO_UTF_CHECK, md,
                               nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      FROST_ASSERT(false, "pcre2_match failed with code ", rc);
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    if (ov[0] > last) on_word(text.substr(last, ov[0] - last));  // unmatched text (none)
    FROST_ASSERT(ov[1] > ov[0], "GPT-2's pattern matched an empty string");
    on_word(text.substr(ov[0], ov[1] - ov[0]));
    at = last = ov[1];
  }
  pcre2_match_data_free(md);
  if (last < text.size()) on_word(text.substr(last));
}

void ByteLevelBpeTokenizer::word_ids(const std::string& word, std::vector<int32_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    const auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::string> syms;
  syms.reserve(word.size());
  std::string whole;
  for (unsigned char c : word) {
    syms.push_back(byte_symbol(c));
    whole += syms.back();
  }
  std::vector<int32_t> ids;
  const int32_t whole_id = options_.ignore_merges ? token_to_id(whole) : -1;
  if (whole_id >= 0) {
    ids.push_back(whole_id);
  } else {
    std::string key;
    while (syms.size() > 1) {
      int32_t best = std::numeric_limits<int32_t>::max();
      size_t best_i = 0;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        key.assign(syms[i]).append(" ").append(syms[i + 1]);
        const auto it = ranks_.find(key);
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          best_i = i;
        }
      }
      if (best == std::numeric_limits<int32_t>::max()) break;
      syms[best_i] += syms[best_i + 1];
      syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
    }
    for (const std::string& s : syms) {
      const int32_t id = token_to_id(s);
      FROST_ASSERT(id >= 0, "BPE symbol '", s, "' is not in the vocabulary (checked at load)");
      ids.push_back(id);
    }
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() < kCacheWords) cache_->words.emplace(word, std::move(ids));
}

std::vector<std::string> ByteLevelBpeTokenizer::pre_tokenize(const std::string& text) const {
  std::vector<std::string> out;
  split_special(
      text, [&](const std::string& part) { words(part, [&](std::string w) { out.push_back(std::move(w)); }); },
      [&](int32_t id) { out.push_back(tokens_[static_cast<size_t>(id)]); });
  return out;
}

std::vector<int32_t> ByteLevelBpeTokenizer::piece_ids(const std::string& text) const {
  std::vector<int32_t> ids;
  split_special(
      text, [&](const std::string& part) { words(part, [&](const std::string& w) { word_ids(w, ids); }); },
      [&](int32_t id) { ids.push_back(id); });
  return ids;
}

std::vector<std::string> ByteLevelBpeTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (int32_t id : piece_ids(text)) out.push_back(tokens_[static_cast<size_t>(id)]);
  return out;
}

std::vector<int32_t> ByteLevelBpeTokenizer::encode(const std::string& text, int64_t max_len) const {
  FROST_CHECK(max_len >= 2,
              "ByteLevelBpeTokenizer::encode: max_len must be >= 2 (room for <s> and </s>), got ",
              max_len);
  const std::vector<int32_t> pieces = piece_ids(text);
  const auto keep = std::min<size_t>(pieces.size(), static_cast<size_t>(max_len - 2));
  std::vector<int32_t> ids;
  ids.reserve(keep + 2);
  ids.push_back(bos_id_);
  ids.insert(ids.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  ids.push_back(eos_id_);
  return ids;
}

}  // namespace frost::text
