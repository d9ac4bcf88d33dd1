// Fuzz target: the input is text (arbitrary bytes: valid UTF-8 or not) for the byte-level BPE
// tokenizer (Note [Byte-level BPE pipeline]) with a small built-in vocabulary and merges, as
// RoBERTa (cased, no prefix space) and with add_prefix_space + lower_case. Tokenizing never
// throws, not even frost::Error (invalid bytes become U+FFFD), so any exception is a finding.
// Properties: ids inside the vocabulary, tokenize() == the tokens of piece_ids(), encode() =
// <s> pieces </s> truncated to max_len; and byte-level BPE loses nothing: for valid UTF-8, the
// tokens mapped back through GPT-2's byte table are the text itself (RoBERTa settings; the
// special tokens used here have no lstrip/rstrip).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "frost/text/bpe.h"
#include "frost/text/wordpiece.h"
#include "fuzz_util.h"

using frost::text::BpeOptions, frost::text::BpeSpecial, frost::text::ByteLevelBpeTokenizer;

namespace {

ByteLevelBpeTokenizer make(bool prefix_and_lower) {
  std::unordered_map<std::string, int32_t> vocab{{"<s>", 0}, {"<pad>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b)
    vocab.emplace(ByteLevelBpeTokenizer::byte_symbol(static_cast<uint8_t>(b)), 3 + b);
  const std::vector<std::pair<std::string, std::string>> merges{
      {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"a", "a"}, {"aa", "aa"}, {"Ã", "©"},
      {"c", "a"}, {"ca", "f"}, {"caf", "Ã©"}, {"Ġ", "Ġ"}, {"'", "s"}, {"Ċ", "Ċ"}, {"ä", "¸"}};
  for (const auto& [a, b] : merges) vocab.emplace(a + b, static_cast<int32_t>(vocab.size()));
  BpeOptions o;
  o.add_prefix_space = o.lower_case = prefix_and_lower;
  return ByteLevelBpeTokenizer::from_parts(vocab, merges, o, "fuzz vocabulary",
                                           {{"<s>", -1, false, false}, {"</s>", -1, false, false},
                                            {"<pad>", -1, false, false}});
}

void check(const ByteLevelBpeTokenizer& t, const std::string& text, bool roundtrip) {
  std::vector<int32_t> ids, short_ids, long_ids;
  std::vector<std::string> pieces;
  FUZZ_EXPECT(frost::fuzz::succeeds_or_frost_error([&] {
    ids = t.piece_ids(text);
    pieces = t.tokenize(text);
    t.pre_tokenize(text);
    short_ids = t.encode(text, 5);
    long_ids = t.encode(text, 4096);
  }));
  FUZZ_EXPECT(ids.size() == pieces.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    FUZZ_EXPECT(ids[i] >= 0 && ids[i] < t.vocab_size());
    FUZZ_EXPECT(t.id_to_token(ids[i]) == pieces[i]);
  }
  for (const auto* enc : {&short_ids, &long_ids}) {
    const size_t max_len = enc == &short_ids ? 5 : 4096;
    FUZZ_EXPECT(enc->size() == std::min(ids.size() + 2, max_len));
    FUZZ_EXPECT(enc->front() == t.bos_id() && enc->back() == t.eos_id());
    for (size_t i = 1; i + 1 < enc->size(); ++i) FUZZ_EXPECT((*enc)[i] == ids[i - 1]);
  }
  if (!roundtrip || !frost::text::is_valid_utf8(text)) return;
  static const std::map<std::string, char> inverse = [] {
    std::map<std::string, char> m;
    for (int b = 0; b < 256; ++b)
      m[ByteLevelBpeTokenizer::byte_symbol(static_cast<uint8_t>(b))] = static_cast<char>(b);
    return m;
  }();
  std::string back;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] <= 2) {  // a special token of the text
      back += pieces[i];
      continue;
    }
    const std::string& p = pieces[i];
    for (size_t k = 0; k < p.size();) {  // each symbol is one code point (1-2 bytes)
      const size_t n = (static_cast<unsigned char>(p[k]) < 0x80) ? 1 : 2;
      const auto it = inverse.find(p.substr(k, n));
      FUZZ_EXPECT(it != inverse.end());
      if (it == inverse.end()) return;
      back += it->second;
      k += n;
    }
  }
  FUZZ_EXPECT(back == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ByteLevelBpeTokenizer roberta = make(false);
  static const ByteLevelBpeTokenizer prefix_lower = make(true);
  const std::string text(reinterpret_cast<const char*>(data), size);
  check(roberta, text, /*roundtrip=*/true);
  check(prefix_lower, text, /*roundtrip=*/false);
  return 0;
}
