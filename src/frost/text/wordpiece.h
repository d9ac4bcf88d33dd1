// BERT's WordPiece tokenizer (uncased), compatible with Hugging Face's fast BERT tokenizer
// (`tokenizers`: BertNormalizer + BertPreTokenizer + WordPiece, i.e. BertTokenizerFast and
// BertWordPieceTokenizer(vocab, lowercase=True)). tests/fixtures/wordpiece_cases.jsonl holds
// its ids for 42 texts with all-MiniLM-L6-v2's vocabulary; test_wordpiece.cpp checks them.
//
// Note [WordPiece pipeline]
// -------------------------
// tokenize(text) first cuts the raw text at every exact, case-sensitive occurrence of a special
// token of the vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK]), which stays one token even inside a
// word ("a[CLS]b" -> a, [CLS], b; "[cls]" is not special), as Hugging Face does with the
// special tokens of tokenizer.json (added tokens, normalized: false). Then, on the code points
// of each piece of text in between:
//  1. Decode UTF-8. An invalid byte (bad lead or continuation byte, overlong form, surrogate,
//     > U+10FFFF, truncated sequence) becomes one U+FFFD, which step 2 drops; so invalid input
//     never throws and never crashes, its valid parts are tokenized as usual. (Hugging Face
//     cannot be given such text at all: Python strings are valid Unicode.)
//  2. Clean: drop U+0000, U+FFFD and "control" characters (general category Cc, Cf, Co or Cs,
//     except TAB, LF, CR); map whitespace (TAB, LF, CR and Unicode White_Space: U+000B-000D,
//     U+0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000)
//     to a space. Dropping comes first, so U+000B, U+000C and U+0085 (category Cc) are
//     dropped, not turned into spaces, as in `tokenizers`.
//  3. CJK: put a space on both sides of every CJK ideograph, so each is a word of its own.
//     Ranges of `tokenizers` (bert.rs is_chinese_char): U+4E00-9FFF, U+3400-4DBF,
//     U+20000-2A6DF, U+2A700-2B73F, U+2B740-2B81F, U+2B920-2CEAF, U+F900-FAFF, U+2F800-2FA1F.
//     Google's BERT and the slow Python BertTokenizer use U+2B820-2CEAF for the sixth range:
//     the 256 code points U+2B820-2B91F (CJK extension E) split there but not here.
//  4. Only with lower_case (then accents are stripped too, as strip_accents defaults to
//     lowercase): NFD (canonical decomposition, Hangul syllables to jamo), drop nonspacing
//     marks (category Mn), then lower-case each code point (utf8proc_tolower: the simple
//     mapping; the only full mapping that differs, U+0130, was decomposed in NFD already).
//  5. Split into words at whitespace, and make every punctuation character a word of its own:
//     ASCII 33-47, 58-64, 91-96, 123-126 (so $ + < = > ^ ` | ~ count) and categories Pc, Pd,
//     Ps, Pe, Pi, Pf, Po.
//  6. Each word: more than 100 code points -> [UNK]; else greedy longest-match-first pieces
//     from the vocabulary, every piece after the first looked up with a "##" prefix; if some
//     position matches no piece, the whole word is one [UNK].
// Unicode data comes from utf8proc (categories, decomposition, case): its Unicode version may
// be newer than that of `tokenizers`' tables. Known effect: punctuation added to Unicode
// since (e.g. U+2E4F, U+2E52, U+16FE2) is split off here but not by `tokenizers`. Unassigned
// code points (category Cn) are kept, as `tokenizers` keeps them.
//
// Thread safety: a WordPieceTokenizer is immutable after construction; its const methods may
// be called from any number of threads at once.
//
// No LibTorch here (frost::text).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace frost::text {

/// True when `s` is strictly valid UTF-8 (no overlong forms, surrogates or code points above
/// U+10FFFF), as utf8proc_iterate decides; nlohmann::json::dump requires that.
bool is_valid_utf8(const std::string& s);

class WordPieceTokenizer {
 public:
  /// Words longer than this many code points become [UNK] (BERT's max_input_chars_per_word).
  static constexpr int64_t kMaxInputCharsPerWord = 100;

  /// Reads a WordPiece vocabulary: one token per line, the token on line i (0-based) has id i;
  /// trailing whitespace (including a CR of CRLF files) is removed from each line; a final
  /// newline does not add an empty token. When a token appears on several lines, lookups give
  /// the last one (as `tokenizers` does); vocab_size() still counts every line.
  /// lower_case: lower-case and strip accents (Note [WordPiece pipeline], step 4); true for
  /// uncased BERT vocabularies such as all-MiniLM-L6-v2's.
  /// Throws frost::Error naming `path` when it cannot be read, is empty, has a line that is not
  /// valid UTF-8, has more than 2^31 - 1 lines, or lacks one of [CLS], [SEP], [PAD], [UNK].
  static WordPieceTokenizer from_vocab_file(const std::string& path, bool lower_case = true);

  /// The same from tokens in id order (tokens[i] has id i); `source` names them in errors.
  static WordPieceTokenizer from_tokens(std::vector<std::string> tokens, bool lower_case = true,
                                        const std::string& source = "vocabulary");

  /// Special tokens, then steps 1-5 of Note [WordPiece pipeline]: the normalised words
  /// (UTF-8) before WordPiece; a special token in the text is a word of its own.
  std::vector<std::string> basic_tokenize(const std::string& text) const;

  /// The word pieces of `text` (UTF-8, any length, invalid bytes allowed), without [CLS] and
  /// [SEP], e.g. "Unaffable!" -> {"una", "##ffa", "##ble", "!"} with the BERT vocabulary.
  std::vector<std::string> tokenize(const std::string& text) const;

  /// The ids of tokenize(text), untruncated.
  std::vector<int32_t> piece_ids(const std::string& text) const;

  /// [CLS] pieces [SEP] as ids, truncated to at most max_len ids by dropping pieces from the
  /// end ([SEP] stays last), as `tokenizers` with truncation max_length = max_len. No padding.
  /// Throws frost::Error when max_len < 2.
  std::vector<int32_t> encode(const std::string& text, int64_t max_len) const;

  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  /// Number of vocabulary lines: every id is in [0, vocab_size()).
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  bool lower_case() const { return lower_case_; }

  /// The id of `token`, or -1 when it is not in the vocabulary.
  int32_t token_to_id(const std::string& token) const;
  /// The token with id `id`. Throws frost::Error when id is outside [0, vocab_size()).
  const std::string& id_to_token(int32_t id) const;

 private:
  WordPieceTokenizer() = default;
  // Appends the ids of one normalised word (code points) to `out`.
  void word_pieces(const std::u32string& word, std::vector<int32_t>& out) const;
  // Steps 1-5 on text without special tokens: its words as code points.
  std::vector<std::u32string> words(const std::string& text) const;
  // Cuts `text` at special tokens: calls on_text(substring) for the text between them (maybe
  // empty) and on_special(id) for each special token, in order.
  template <typename OnText, typename OnSpecial>
  void split_special(const std::string& text, OnText&& on_text, OnSpecial&& on_special) const;

  std::vector<std::string> tokens_;               // id -> token
  std::unordered_map<std::string, int32_t> ids_;  // token -> id (last line wins)
  bool lower_case_ = true;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
  std::vector<std::pair<std::string, int32_t>> specials_;  // longest first
};

}  // namespace frost::text
