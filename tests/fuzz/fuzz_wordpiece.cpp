// Fuzz target: the input is text (arbitrary bytes: valid UTF-8 or not) for the WordPiece
// tokenizer, with a small built-in vocabulary, uncased (lower-casing, NFD, accent stripping)
// and cased. The tokenizer's contract is stronger than the parsers': tokenizing never throws,
// not even frost::Error (Note [WordPiece pipeline], step 1), so any exception is a finding.
// Properties: ids inside the vocabulary, tokenize() == the tokens of piece_ids(), encode()
// = [CLS] pieces [SEP] truncated to max_len, basic_tokenize() words non-empty valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "frost/text/wordpiece.h"
#include "fuzz_util.h"

using frost::text::WordPieceTokenizer;

namespace {

WordPieceTokenizer make(bool lower_case) {
  return WordPieceTokenizer::from_tokens(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##aff", "##able", "a", "##a",
       "##b", "hello", "world", ",", "!", "[", "]", "##s", "s", "cafe", "café", "ж", "##ж", "中",
       "1", "##2", "Hello", "##ü", "e", "##́"},
      lower_case, "fuzz vocabulary");
}

void check(const WordPieceTokenizer& t, const std::string& text) {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces, words;
  std::vector<int32_t> short_ids, long_ids;
  FUZZ_EXPECT(frost::fuzz::succeeds_or_frost_error([&] {
    ids = t.piece_ids(text);
    pieces = t.tokenize(text);
    words = t.basic_tokenize(text);
    short_ids = t.encode(text, 5);
    long_ids = t.encode(text, 512);
  }));
  FUZZ_EXPECT(ids.size() == pieces.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    FUZZ_EXPECT(ids[i] >= 0 && ids[i] < t.vocab_size());
    FUZZ_EXPECT(t.id_to_token(ids[i]) == pieces[i]);
  }
  for (const auto& w : words) FUZZ_EXPECT(!w.empty() && frost::text::is_valid_utf8(w));
  for (const auto* enc : {&short_ids, &long_ids}) {
    const size_t max_len = enc == &short_ids ? 5 : 512;
    FUZZ_EXPECT(enc->size() == std::min(ids.size() + 2, max_len));
    FUZZ_EXPECT(enc->front() == t.cls_id() && enc->back() == t.sep_id());
    for (size_t i = 1; i + 1 < enc->size(); ++i) FUZZ_EXPECT((*enc)[i] == ids[i - 1]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const WordPieceTokenizer uncased = make(true);
  static const WordPieceTokenizer cased = make(false);
  const std::string text(reinterpret_cast<const char*>(data), size);
  check(uncased, text);
  check(cased, text);
  return 0;
}
