#include "frost/text/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "frost/core/error.h"

namespace frost::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

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

std::string to_utf8(const std::u32string& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_utf8(out, cp);
  return out;
}

// Step 1: UTF-8 -> code points; every byte that does not start a valid sequence becomes
// U+FFFD (utf8proc_iterate rejects overlong forms, surrogates and values > U+10FFFF).
std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp < 0) {
      out += kReplacement;
      p += 1;
      left -= 1;
    } else {
      out += static_cast<char32_t>(cp);
      p += n;
      left -= n;
    }
  }
  return out;
}

utf8proc_category_t category(char32_t cp) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(cp)));
}

// Unicode White_Space (Rust's char::is_whitespace, which `tokenizers` uses).
bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Cc, Cf, Co, Cs but not TAB/LF/CR (those are whitespace). Cn (unassigned) is not control:
// `tokenizers` keeps unassigned code points (they become part of a word, usually [UNK]).
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS: return true;
    default: return false;
  }
}

// The CJK ranges of `tokenizers` (Note [WordPiece pipeline], step 3).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

// NFD of `in` into `out`: canonical decomposition of each code point, then the canonical
// ordering of each run of non-starters (stable sort by combining class).
void nfd(const std::u32string& in, std::u32string& out) {
  out.clear();
  out.reserve(in.size());
  utf8proc_int32_t buf[32];  // the longest canonical decomposition is 4 code points
  for (char32_t cp : in) {
    if (cp < 0xC0) {  // nothing below U+00C0 decomposes canonically
      out += cp;
      continue;
    }
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 32,
                                                       UTF8PROC_DECOMPOSE, &boundclass);
    FROST_ASSERT(n >= 1 && n <= 32, "utf8proc_decompose_char(", static_cast<uint32_t>(cp),
                 ") returned ", n);
    for (utf8proc_ssize_t i = 0; i < n; ++i) out += static_cast<char32_t>(buf[i]);
  }
  auto ccc = [](char32_t c) {
    return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
  };
  for (size_t i = 0; i < out.size();) {
    if (ccc(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && ccc(out[j]) != 0) ++j;
    if (j - i > 1)
      std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i),
                       out.begin() + static_cast<std::ptrdiff_t>(j),
                       [&](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, bool lower_case) {
  std::ifstream in(path, std::ios::binary);
  FROST_CHECK(in, path, ": cannot open the WordPiece vocabulary (", std::strerror(errno),
              "); for all-MiniLM-L6-v2 run launch/fetch_assets.sh");
  std::ostringstream ss;
  ss << in.rdbuf();
  FROST_CHECK(!in.bad(), path, ": error reading the WordPiece vocabulary");
  const std::string data = ss.str();
  std::vector<std::string> tokens;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string::npos) eol = data.size();
    std::string line = data.substr(pos, eol - pos);
    while (!line.empty() && std::strchr(" \t\r\n\v\f", line.back()) != nullptr) line.pop_back();
    FROST_CHECK(is_valid_utf8(line), path, ": line ", tokens.size() + 1,
                " is not valid UTF-8; a WordPiece vocabulary is a UTF-8 text file");
    tokens.push_back(std::move(line));
    pos = eol + 1;
  }
  return from_tokens(std::move(tokens), lower_case, path);
}

WordPieceTokenizer WordPieceTokenizer::from_tokens(std::vector<std::string> tokens, bool lower_case,
                                                   const std::string& source) {
  FROST_CHECK(!tokens.empty(), source, ": the WordPiece vocabulary is empty");
  FROST_CHECK(tokens.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()), source,
              ": the WordPiece vocabulary has ", tokens.size(),
              " tokens, more than int32 ids "
              "can number");
  WordPieceTokenizer t;
  t.lower_case_ = lower_case;
  t.tokens_ = std::move(tokens);
  t.ids_.reserve(t.tokens_.size());
  for (size_t i = 0; i < t.tokens_.size(); ++i) t.ids_[t.tokens_[i]] = static_cast<int32_t>(i);
  auto special = [&](const char* name) {
    const int32_t id = t.token_to_id(name);
    FROST_CHECK(id >= 0, source, ": the WordPiece vocabulary (", t.tokens_.size(),
                " tokens) has no ", name,
                " token; a BERT vocabulary needs [CLS], [SEP], [PAD] "
                "and [UNK], one per line (is this a vocab.txt?)");
    return id;
  };
  t.cls_id_ = special("[CLS]");
  t.sep_id_ = special("[SEP]");
  t.pad_id_ = special("[PAD]");
  t.unk_id_ = special("[UNK]");
  for (const char* name : {"[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]"})  // longest first
    if (t.token_to_id(name) >= 0) t.specials_.emplace_back(name, t.token_to_id(name));
  return t;
}

int32_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int32_t id) const {
  FROST_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside [0, ", vocab_size(),
              ") (vocabulary size)");
  return tokens_[static_cast<size_t>(id)];
}

template <typename OnText, typename OnSpecial>
void WordPieceTokenizer::split_special(const std::string& text, OnText&& on_text,
                                       OnSpecial&& on_special) const {
  size_t from = 0;  // start of the text not yet handed out
  size_t pos = text.find('[');
  while (pos != std::string::npos) {
    const std::pair<std::string, int32_t>* match = nullptr;
    for (const auto& sp : specials_) {
      if (text.compare(pos, sp.first.size(), sp.first) == 0) {
        match = &sp;
        break;
      }
    }
    if (match == nullptr) {
      pos = text.find('[', pos + 1);
      continue;
    }
    on_text(text.substr(from, pos - from));
    on_special(match->second);
    from = pos + match->first.size();
    pos = text.find('[', from);
  }
  on_text(text.substr(from));
}

std::vector<std::u32string> WordPieceTokenizer::words(const std::string& text) const {
  // Steps 1-3: decode, clean, space out CJK.
  const std::u32string decoded = decode_utf8(text);
  std::u32string s;
  s.reserve(decoded.size() + 8);
  for (char32_t c : decoded) {
    if (c == 0 || c == kReplacement || is_control(c)) continue;
    if (is_whitespace(c)) {
      s += U' ';
    } else if (is_cjk(c)) {
      s += U' ';
      s += c;
      s += U' ';
    } else {
      s += c;
    }
  }
  // Step 4: NFD, drop Mn, lower-case.
  if (lower_case_) {
    std::u32string d;
    nfd(s, d);
    s.clear();
    for (char32_t c : d) {
      if (category(c) == UTF8PROC_CATEGORY_MN) continue;
      s += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
    }
  }
  // Step 5: split at whitespace; punctuation is a word of its own.
  std::vector<std::u32string> out;
  std::u32string word;
  for (char32_t c : s) {
    if (is_whitespace(c)) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else if (is_punctuation(c)) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
      out.emplace_back(1, c);
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

void WordPieceTokenizer::word_pieces(const std::u32string& word, std::vector<int32_t>& out) const {
  const size_t n = word.size();
  if (static_cast<int64_t>(n) > kMaxInputCharsPerWord) {
    out.push_back(unk_id_);
    return;
  }
  // UTF-8 of the word and the byte offset of each code point (offsets[n] = total bytes).
  std::string bytes;
  std::vector<size_t> offsets(n + 1);
  for (size_t i = 0; i < n; ++i) {
    offsets[i] = bytes.size();
    append_utf8(bytes, word[i]);
  }
  offsets[n] = bytes.size();

  const size_t first = out.size();
  std::string candidate;
  for (size_t start = 0; start < n;) {
    int32_t id = -1;
    size_t end = n;
    for (; end > start; --end) {  // longest match first
      candidate.assign(start > 0 ? "##" : "");
      candidate.append(bytes, offsets[start], offsets[end] - offsets[start]);
      id = token_to_id(candidate);
      if (id >= 0) break;
    }
    if (id < 0) {  // no piece matches at `start`: the whole word is unknown
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(id);
    start = end;
  }
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(const std::string& text) const {
  std::vector<std::string> out;
  split_special(
      text,
      [&](const std::string& part) {
        for (const std::u32string& w : words(part)) out.push_back(to_utf8(w));
      },
      [&](int32_t id) { out.push_back(tokens_[static_cast<size_t>(id)]); });
  return out;
}

std::vector<int32_t> WordPieceTokenizer::piece_ids(const std::string& text) const {
  std::vector<int32_t> ids;
  split_special(
      text,
      [&](const std::string& part) {
        for (const std::u32string& w : words(part)) word_pieces(w, ids);
      },
      [&](int32_t id) { ids.push_back(id); });
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (int32_t id : piece_ids(text)) out.push_back(tokens_[static_cast<size_t>(id)]);
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(const std::string& text, int64_t max_len) const {
  FROST_CHECK(max_len >= 2,
              "WordPieceTokenizer::encode: max_len must be >= 2 (room for [CLS] "
              "and [SEP]), got ",
              max_len);
  std::vector<int32_t> pieces = piece_ids(text);
  const auto keep = std::min<size_t>(pieces.size(), static_cast<size_t>(max_len - 2));
  std::vector<int32_t> ids;
  ids.reserve(keep + 2);
  ids.push_back(cls_id_);
  ids.insert(ids.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  ids.push_back(sep_id_);
  return ids;
}

bool is_valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  auto left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp < 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

}  // namespace frost::text
