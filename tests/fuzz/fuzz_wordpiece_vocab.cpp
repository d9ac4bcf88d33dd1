// Fuzz target: the input is a WordPiece vocab.txt, read by WordPieceTokenizer::from_vocab_file
// (uncased) through a path, as frost-prep and frost-train read the model's vocabulary. A
// vocabulary that loads must tokenize text made of its own tokens (and a fixed sentence with
// special tokens) into ids inside the vocabulary, without throwing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frost/text/wordpiece.h"
#include "fuzz_util.h"

using frost::text::WordPieceTokenizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static frost::fuzz::MemFile file;
  const std::string& path = file.set(data, size);
  // The first byte's low bit picks cased or uncased, so both normalisations meet odd tokens.
  const bool lower_case = size == 0 || (data[0] & 1) == 0;
  std::optional<WordPieceTokenizer> t;
  if (!frost::fuzz::succeeds_or_frost_error(
          [&] { t.emplace(WordPieceTokenizer::from_vocab_file(path, lower_case)); }))
    return 0;
  const WordPieceTokenizer& tok = *t;
  FUZZ_EXPECT(tok.vocab_size() >= 4);
  for (int32_t id : {tok.cls_id(), tok.sep_id(), tok.pad_id(), tok.unk_id()})
    FUZZ_EXPECT(id >= 0 && id < tok.vocab_size());

  std::string text = "Hello, [CLS] world! [MASK]x[SEP] ";
  for (int32_t id = 0; id < tok.vocab_size() && id < 64; ++id) text += tok.id_to_token(id) + " ";
  std::vector<int32_t> ids;
  FUZZ_EXPECT(frost::fuzz::succeeds_or_frost_error([&] {
    ids = tok.encode(text, 128);
    tok.basic_tokenize(text);
  }));
  FUZZ_EXPECT(ids.size() >= 2 && ids.size() <= 128);
  for (int32_t id : ids) FUZZ_EXPECT(id >= 0 && id < tok.vocab_size());
  return 0;
}
