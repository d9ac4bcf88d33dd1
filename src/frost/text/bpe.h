// GPT-2's byte-level BPE tokenizer, as RoBERTa uses it, compatible with Hugging Face's fast
// tokenizer (`tokenizers`: ByteLevel pre-tokenizer + BPE model + RobertaProcessing, i.e.
// RobertaTokenizerFast and ByteLevelBPETokenizer). tests/fixtures/bpe_cases.jsonl holds its
// ids for texts and sentence pairs with the tiny vocabulary tests/fixtures/bpe_tiny/ (trained
// by make_bpe_fixture.py); test_bpe.cpp checks them.
//
// Note [Byte-level BPE pipeline]
// ------------------------------
// tokenize(text):
//  1. Special tokens: the raw text is cut at every exact, case-sensitive occurrence of a
//     special token (<s> </s> <pad> <unk> <mask>, those the vocabulary has; with tokenizer.json
//     its added_tokens marked special), which stays one token even inside a word. A special
//     token with lstrip (RoBERTa's <mask>) also takes the white space before it, one with
//     rstrip the white space after it, as `tokenizers`' AddedVocabulary does. The pieces of
//     text in between go through steps 2-5 each on their own.
//  2. Invalid UTF-8: every byte that does not start a valid sequence becomes U+FFFD (EF BF BD)
//     (Python's errors="replace" per byte; Hugging Face cannot be given invalid text at all).
//     Only with lower_case: each code point is lower-cased (utf8proc_tolower, U+0130 to
//     "i̇" as Rust's char::to_lowercase; the Lowercase normalizer of `tokenizers`).
//  3. add_prefix_space (RoBERTa's default: false): a piece that does not start with ' '
//     gets one in front, so a first word is tokenized like one in the middle ("Ġhello").
//  4. Pre-tokenization with GPT-2's pattern
//         's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     (PCRE2, UTF + UCP mode). \s is spelled out as [\t-\r\x{85}\p{Z}], Unicode White_Space,
//     which is what Oniguruma (the regex engine of `tokenizers`) matches; PCRE2's own \s leaves
//     out U+0085. Every match is a word; the text between matches (none: the last two
//     alternatives match all white space) would be one too.
//  5. Each word's UTF-8 bytes are mapped to printable code points by GPT-2's bytes_to_unicode
//     table (bytes 33-126, 161-172, 174-255 to themselves, the other 68 to U+0100...U+0143 in
//     byte order; ' ' becomes "Ġ", '\n' "Ċ"), one symbol per byte, and BPE merges them: the
//     adjacent pair with the lowest merge rank (its line in merges.txt) is merged, leftmost
//     first, until no adjacent pair has a rank. Each final symbol is looked up in the
//     vocabulary. The vocabulary must hold all 256 byte symbols and every merge's result
//     (checked when it is read), so no byte is ever unknown and there is no <unk> in the
//     output.
// Words are cached (at most kCacheWords of them, as `tokenizers`' BPE cache).
//
// Thread safety: a ByteLevelBpeTokenizer is logically immutable; its const methods may be
// called from any number of threads at once (the word cache has its own mutex).
//
// No LibTorch here (frost::text).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace frost::text {

/// Settings of the byte-level BPE tokenizer, defaults as roberta-base's tokenizer.
struct BpeOptions {
  bool add_prefix_space = false;  ///< step 3 of Note [Byte-level BPE pipeline]
  bool lower_case = false;        ///< step 2 (a Lowercase normalizer)
  bool ignore_merges = false;     ///< a word that is a token as a whole is one token (Llama 3)
};

/// A special token of the text (step 1 of Note [Byte-level BPE pipeline]).
struct BpeSpecial {
  std::string content;
  int32_t id = -1;
  bool lstrip = false, rstrip = false;
};

class ByteLevelBpeTokenizer {
 public:
  /// Words whose pieces are remembered (`tokenizers`' DEFAULT_CACHE_CAPACITY).
  static constexpr size_t kCacheWords = 10000;

  /// Reads vocab.json (one JSON object token -> id, ids in [0, 2^31 - 1)) and merges.txt (an
  /// optional first line "#version: ...", then one merge per line: two tokens separated by
  /// one space, the line's order its rank; a CR before the newline is dropped; a final newline
  /// does not add a merge). Special tokens: RoBERTa's <s> </s> <pad> <unk> <mask> (<mask> with
  /// lstrip), those present. Throws frost::Error naming the file (and line) when a file cannot
  /// be read or is malformed, when the vocabulary lacks <s>, </s> or <pad> or one of the 256
  /// byte symbols, or when a merge's parts or result are not in the vocabulary.
  static ByteLevelBpeTokenizer from_files(const std::string& vocab_json,
                                          const std::string& merges_txt,
                                          const BpeOptions& options = {});

  /// Reads a Hugging Face tokenizer.json with model.type "BPE": model.vocab, model.merges
  /// ("a b" strings or ["a", "b"] pairs), model.ignore_merges, the ByteLevel pre-tokenizer's
  /// add_prefix_space, a Lowercase normalizer (alone or in a Sequence), and the special
  /// added_tokens (content, lstrip, rstrip). Throws frost::Error naming the file and the key
  /// for invalid JSON, another model type (WordPiece: use vocab.txt), a pre-tokenizer that is
  /// not ByteLevel, a continuing_subword_prefix / end_of_word_suffix / dropout, and for
  /// everything from_files refuses.
  static ByteLevelBpeTokenizer from_tokenizer_json(const std::string& path);

  /// The same from parts: vocab token -> id, merges in rank order, the special tokens of the
  /// text (empty: RoBERTa's, as from_files). `source` names them in errors; merge i is reported
  /// as `merge_lines[i]` of `merges_source` when given, else as merges[i].
  static ByteLevelBpeTokenizer from_parts(std::unordered_map<std::string, int32_t> vocab,
                                          std::vector<std::pair<std::string, std::string>> merges,
                                          const BpeOptions& options, const std::string& source,
                                          std::vector<BpeSpecial> specials = {},
                                          const std::string& merges_source = "",
                                          const std::vector<int64_t>& merge_lines = {});

  /// Steps 1-4: the words (UTF-8, before the byte mapping) and special tokens of `text`.
  std::vector<std::string> pre_tokenize(const std::string& text) const;

  /// The tokens of `text` (UTF-8, any length, invalid bytes allowed), without <s> and </s>,
  /// e.g. "Hello world" -> {"Hello", "Ġworld"} with roberta-base's vocabulary.
  std::vector<std::string> tokenize(const std::string& text) const;

  /// The ids of tokenize(text), untruncated.
  std::vector<int32_t> piece_ids(const std::string& text) const;

  /// <s> pieces </s> as ids, truncated to at most max_len ids by dropping pieces from the end
  /// (</s> stays last). No padding. Throws frost::Error when max_len < 2.
  std::vector<int32_t> encode(const std::string& text, int64_t max_len) const;

  int32_t bos_id() const { return bos_id_; }  ///< <s>, RoBERTa's [CLS]
  int32_t eos_id() const { return eos_id_; }  ///< </s>, RoBERTa's [SEP]
  int32_t pad_id() const { return pad_id_; }  ///< <pad> (1 for RoBERTa)
  /// 1 + the largest id: every id is in [0, vocab_size()).
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  const BpeOptions& options() const { return options_; }

  /// The id of `token`, or -1 when it is not in the vocabulary.
  int32_t token_to_id(const std::string& token) const;
  /// The token with id `id` ("" for an id no token has). Throws frost::Error when id is
  /// outside [0, vocab_size()).
  const std::string& id_to_token(int32_t id) const;

  /// GPT-2's bytes_to_unicode: the UTF-8 of the code point that stands for byte b.
  static const std::string& byte_symbol(uint8_t b);

 private:
  struct Cache;
  struct Regex;
  ByteLevelBpeTokenizer();
  void word_ids(const std::string& word, std::vector<int32_t>& out) const;
  template <typename OnText, typename OnSpecial>
  void split_special(const std::string& text, OnText&& on_text, OnSpecial&& on_special) const;
  template <typename OnWord>
  void words(const std::string& text, OnWord&& on_word) const;

  std::vector<std::string> tokens_;               // id -> token ("" for holes)
  std::unordered_map<std::string, int32_t> ids_;  // token -> id
  std::unordered_map<std::string, int32_t> ranks_;  // "a b" -> rank
  BpeOptions options_;
  int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  std::vector<BpeSpecial> specials_;  // longest first
  std::shared_ptr<const Regex> regex_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace frost::text
