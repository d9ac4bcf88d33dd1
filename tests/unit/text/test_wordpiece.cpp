// WordPieceTokenizer: the algorithm on tiny hand-made vocabularies (Note [WordPiece pipeline]
// in wordpiece.h, step by step), vocabulary file errors, and the ids of Hugging Face's
// tokenizer for all-MiniLM-L6-v2 (tests/fixtures/wordpiece_cases.jsonl; needs the asset cache
// of launch/fetch_assets.sh).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "test_util.h"
#include "frost/text/wordpiece.h"

namespace {

using frost::testing::error_of, frost::testing::fixture_path, frost::testing::make_temp_dir,
    frost::testing::source_dir, frost::testing::write_file;

using frost::text::WordPieceTokenizer;
using Strings = std::vector<std::string>;

// ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3, then the pieces.
WordPieceTokenizer tiny(const Strings& pieces, bool lower_case = true) {
  Strings tokens{"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
  tokens.insert(tokens.end(), pieces.begin(), pieces.end());
  return WordPieceTokenizer::from_tokens(tokens, lower_case, "tiny");
}

// ---- WordPiece (step 6) ------------------------------------------------------------------

TEST(WordPiece, GreedyLongestMatchFirst) {
  const auto t = tiny({"un", "##aff", "##able", "##a", "##ff", "aff", "able", "##b", "u", "##n"});
  EXPECT_EQ(t.tokenize("unaffable"), (Strings{"un", "##aff", "##able"}));
  EXPECT_EQ(t.tokenize("affable"), (Strings{"aff", "##able"}));
  EXPECT_EQ(t.tokenize("unaffablea unab"), (Strings{"un", "##aff", "##able", "##a", "un", "##a",
                                                      "##b"}));
  EXPECT_EQ(t.piece_ids("unaffable"), (std::vector<int32_t>{4, 5, 6}));
}

TEST(WordPiece, WordWithAnUnmatchablePositionIsOneUnk) {
  const auto t = tiny({"un", "##aff", "##able", "x"});
  // "##x" is not in the vocabulary: the whole word is [UNK], no partial pieces.
  EXPECT_EQ(t.tokenize("unaffablex"), (Strings{"[UNK]"}));
  EXPECT_EQ(t.tokenize("x unaffablex unaffable"), (Strings{"x", "[UNK]", "un", "##aff",
                                                           "##able"}));
  EXPECT_EQ(t.tokenize("zzz"), (Strings{"[UNK]"}));
}

TEST(WordPiece, WordsOver100CodePointsAreUnk) {
  // Counted in code points after normalisation, not in bytes: "ж" is 2 bytes.
  const auto t = tiny({"ж", "##ж", "a", "##a"});
  std::string w100, w101;
  for (int i = 0; i < 100; ++i) w100 += "ж";
  w101 = w100 + "ж";
  Strings pieces{"ж"};
  for (int i = 1; i < 100; ++i) pieces.push_back("##ж");
  EXPECT_EQ(t.tokenize(w100), pieces);
  EXPECT_EQ(t.tokenize(w101), (Strings{"[UNK]"}));
  EXPECT_EQ(t.tokenize(std::string(101, 'a') + " a"), (Strings{"[UNK]", "a"}));
  // Combining marks are stripped before the length is taken: 100 x "a" + U+0301.
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "a\xCC\x81";
  EXPECT_EQ(t.tokenize(accented).size(), 100u);
}

// ---- steps 1-5 ---------------------------------------------------------------------------

TEST(WordPieceBasic, SplitsOnWhitespaceAndPunctuation) {
  const auto t = tiny({});
  EXPECT_EQ(t.basic_tokenize("Hello, world!"), (Strings{"hello", ",", "world", "!"}));
  // ASCII symbols count as punctuation: $ + < = > ^ ` | ~
  EXPECT_EQ(t.basic_tokenize("a$b+c<d=e>f^g`h|i~j"),
            (Strings{"a", "$", "b", "+", "c", "<", "d", "=", "e", ">", "f", "^", "g", "`", "h",
                     "|", "i", "~", "j"}));
  // Unicode punctuation (P*) too; symbols (S*) such as the euro sign are not.
  EXPECT_EQ(t.basic_tokenize("\xC2\xAB" "x" "\xC2\xBB" "\xE2\x80\x94" "y" "\xE2\x82\xAC" "5"),
            (Strings{"\xC2\xAB", "x", "\xC2\xBB", "\xE2\x80\x94", "y\xE2\x82\xAC" "5"}));
  // Whitespace: tab, LF, CR, NBSP, ideographic space, line separator.
  EXPECT_EQ(t.basic_tokenize("a\tb\nc\r\nd\xC2\xA0" "e\xE3\x80\x80" "f\xE2\x80\xA8g"),
            (Strings{"a", "b", "c", "d", "e", "f", "g"}));
  EXPECT_EQ(t.basic_tokenize(""), Strings{});
  EXPECT_EQ(t.basic_tokenize(" \t\n "), Strings{});
}

TEST(WordPieceBasic, DropsControlCharacters) {
  const auto t = tiny({});
  // NUL, U+0001, DEL, VT/FF (Cc: dropped, not spaces), NEL, ZWSP (Cf), BOM (Cf), soft hyphen
  // (Cf), private use (Co), U+FFFD: all removed, so the letters around them join.
  const std::string s = std::string("a") + '\0' + "b\x01" "c\x7f" "d\x0b" "e\x0c" "f\xC2\x85" "g" +
                        "\xE2\x80\x8B" "h\xEF\xBB\xBF" "i\xC2\xAD" "j\xEE\x80\x80" "k\xEF\xBF\xBD" "l";
  EXPECT_EQ(t.basic_tokenize(s), (Strings{"abcdefghijkl"}));
  // Unassigned code points (Cn) are kept, as Hugging Face keeps them: U+0378.
  EXPECT_EQ(t.basic_tokenize("a\xCD\xB8" "b"), (Strings{"a\xCD\xB8" "b"}));
}

TEST(WordPieceBasic, CjkIdeographsAreWordsOfTheirOwn) {
  const auto t = tiny({});
  EXPECT_EQ(t.basic_tokenize("ab\xE4\xB8\xAD\xE6\x96\x87" "cd"),  // ab中文cd
            (Strings{"ab", "\xE4\xB8\xAD", "\xE6\x96\x87", "cd"}));
  // Hiragana is not in the ranges: it stays in the word.
  EXPECT_EQ(t.basic_tokenize("\xE3\x81\x8D\xE3\x81\x84"), (Strings{"\xE3\x81\x8D\xE3\x81\x84"}));
  // The sixth range starts at U+2B920 as in `tokenizers` (Google's BERT: U+2B820).
  EXPECT_EQ(t.basic_tokenize("a\xF0\xAB\xA0\xA0" "b"), (Strings{"a\xF0\xAB\xA0\xA0" "b"}));  // U+2B820
  EXPECT_EQ(t.basic_tokenize("a\xF0\xAB\xA4\xA0" "b"),
            (Strings{"a", "\xF0\xAB\xA4\xA0", "b"}));  // U+2B920
  EXPECT_EQ(t.basic_tokenize("a\xF0\xAB\xA0\x9F" "b"),
            (Strings{"a", "\xF0\xAB\xA0\x9F", "b"}));  // U+2B81F
  // U+F900 is a CJK compatibility ideograph: spaced out, then NFD maps it to U+8C48.
  EXPECT_EQ(t.basic_tokenize("a\xEF\xA4\x80" "b"), (Strings{"a", "\xE8\xB1\x88", "b"}));
}

TEST(WordPieceBasic, LowerCasesAndStripsAccents) {
  const auto t = tiny({});
  // café naïve Ångström (precomposed), CAFÉ, e + combining acute.
  EXPECT_EQ(t.basic_tokenize("caf\xC3\xA9 na\xC3\xAFve \xC3\x85ngstr\xC3\xB6m CAF\xC3\x89 e\xCC\x81"),
            (Strings{"cafe", "naive", "angstrom", "cafe", "e"}));
  // İ (U+0130) -> i; Σ -> σ (no final-sigma rule); ß stays; ẞ (U+1E9E) -> ß.
  EXPECT_EQ(t.basic_tokenize("\xC4\xB0stanbul \xCE\xA3\xCE\xA3 \xC3\x9F \xE1\xBA\x9E"),
            (Strings{"istanbul", "\xCF\x83\xCF\x83", "\xC3\x9F", "\xC3\x9F"}));
  // Hangul syllables decompose to jamo (NFD): 한 -> ᄒ ᅡ ᆫ.
  EXPECT_EQ(t.basic_tokenize("\xED\x95\x9C"), (Strings{"\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"}));
}

TEST(WordPieceBasic, CasedKeepsCaseAndAccents) {
  const auto t = tiny({}, /*lower_case=*/false);
  EXPECT_FALSE(t.lower_case());
  EXPECT_EQ(t.basic_tokenize("Caf\xC3\xA9 \xC3\x85ngstr\xC3\xB6m!"),
            (Strings{"Caf\xC3\xA9", "\xC3\x85ngstr\xC3\xB6m", "!"}));
}

TEST(WordPieceBasic, InvalidUtf8BecomesReplacementAndIsDropped) {
  const auto t = tiny({"abcd", "ok", "caf"});
  EXPECT_EQ(t.basic_tokenize("ab\xFF" "cd"), (Strings{"abcd"}));          // invalid byte
  EXPECT_EQ(t.basic_tokenize("ab\xC0\xAF" "cd"), (Strings{"abcd"}));      // overlong '/'
  EXPECT_EQ(t.basic_tokenize("ab\xED\xA0\x80" "cd"), (Strings{"abcd"}));  // surrogate U+D800
  EXPECT_EQ(t.basic_tokenize("ab\xF4\x90\x80\x80" "cd"), (Strings{"abcd"}));  // > U+10FFFF
  EXPECT_EQ(t.basic_tokenize("ab\x80\x80" "cd"), (Strings{"abcd"}));      // stray continuations
  EXPECT_EQ(t.basic_tokenize("caf\xC3 ok"), (Strings{"caf", "ok"}));      // truncated sequence
  EXPECT_EQ(t.basic_tokenize("ok \xE4\xB8"), (Strings{"ok"}));            // truncated at the end
  EXPECT_EQ(t.tokenize("\xFF\xFE\xFD"), Strings{});
  EXPECT_EQ(t.encode("ab\xFF" "cd ok", 8), (std::vector<int32_t>{2, 4, 5, 3}));
}

TEST(WordPieceBasic, SpecialTokensInTheTextStayWhole) {
  Strings tokens{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "[", "]", "cl", "##s"};
  const auto t = WordPieceTokenizer::from_tokens(tokens);
  // Matched on the raw text, even inside a word; case-sensitive; [MASK] when the vocabulary
  // has it.
  EXPECT_EQ(t.tokenize("a[CLS]b [SEP][MASK]"), (Strings{"a", "[CLS]", "b", "[SEP]", "[MASK]"}));
  EXPECT_EQ(t.tokenize("[cls] [[PAD]]"), (Strings{"[", "cl", "##s", "]", "[", "[PAD]", "]"}));
  EXPECT_EQ(t.encode("[UNK]a", 8), (std::vector<int32_t>{2, 1, 5, 3}));
  EXPECT_EQ(t.basic_tokenize("A[SEP]B"), (Strings{"a", "[SEP]", "b"}));
  // Without [MASK] in the vocabulary it is ordinary text.
  const auto no_mask = tiny({"a", "[", "]", "mask"});
  EXPECT_EQ(no_mask.tokenize("[MASK]"), (Strings{"[", "mask", "]"}));
}

// ---- encode --------------------------------------------------------------------------------

TEST(WordPiece, EncodeAddsClsSepAndTruncatesKeepingSepLast) {
  const auto t = tiny({"a", "b", "c", "d", "e"});  // ids 4..8
  EXPECT_EQ(t.encode("a b c d e", 128), (std::vector<int32_t>{2, 4, 5, 6, 7, 8, 3}));
  EXPECT_EQ(t.encode("a b c d e", 7), (std::vector<int32_t>{2, 4, 5, 6, 7, 8, 3}));
  EXPECT_EQ(t.encode("a b c d e", 6), (std::vector<int32_t>{2, 4, 5, 6, 7, 3}));
  EXPECT_EQ(t.encode("a b c d e", 2), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(t.encode("", 4), (std::vector<int32_t>{2, 3}));
  EXPECT_CONTAINS(error_of([&] { t.encode("a", 1); }), "max_len must be >= 2");
  EXPECT_EQ(t.cls_id(), 2);
  EXPECT_EQ(t.sep_id(), 3);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.unk_id(), 1);
  EXPECT_EQ(t.vocab_size(), 9);
  EXPECT_EQ(t.token_to_id("c"), 6);
  EXPECT_EQ(t.token_to_id("zz"), -1);
  EXPECT_EQ(t.id_to_token(8), "e");
  EXPECT_CONTAINS(error_of([&] { t.id_to_token(9); }), "outside [0, 9)");
}

// ---- vocabulary files ------------------------------------------------------------------------

TEST(WordPieceVocab, ReadsLinesAsIdsWithCrlfAndDuplicates) {
  const std::string dir = make_temp_dir();
  const std::string path = dir + "/vocab.txt";
  // CRLF line ends, trailing spaces, a duplicate ("a" on lines 5 and 7: the last wins), and a
  // final newline that adds no token.
  write_file(path, "[PAD]\r\n[UNK]\r\n[CLS] \r\n[SEP]\r\na\r\n##b\r\na\r\n");
  const auto t = WordPieceTokenizer::from_vocab_file(path);
  EXPECT_EQ(t.vocab_size(), 7);
  EXPECT_EQ(t.cls_id(), 2);
  EXPECT_EQ(t.token_to_id("a"), 6);
  EXPECT_EQ(t.token_to_id("##b"), 5);
  EXPECT_EQ(t.encode("ab", 8), (std::vector<int32_t>{2, 6, 5, 3}));
  // No final newline: the last line still counts.
  write_file(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nz");
  EXPECT_EQ(WordPieceTokenizer::from_vocab_file(path).token_to_id("z"), 4);
}

TEST(WordPieceVocab, ErrorsNameTheFile) {
  const std::string dir = make_temp_dir();
  const std::string missing = dir + "/nope/vocab.txt";
  std::string e = error_of([&] { WordPieceTokenizer::from_vocab_file(missing); });
  EXPECT_CONTAINS(e, missing);
  EXPECT_CONTAINS(e, "launch/fetch_assets.sh");

  const std::string path = dir + "/vocab.txt";
  write_file(path, "[PAD]\n[UNK]\n[CLS]\nhello\n");
  e = error_of([&] { WordPieceTokenizer::from_vocab_file(path); });
  EXPECT_CONTAINS(e, path);
  EXPECT_CONTAINS(e, "no [SEP] token");

  write_file(path, "");
  EXPECT_CONTAINS(error_of([&] { WordPieceTokenizer::from_vocab_file(path); }), "is empty");

  write_file(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nbad\xFF\n");
  e = error_of([&] { WordPieceTokenizer::from_vocab_file(path); });
  EXPECT_CONTAINS(e, path);
  EXPECT_CONTAINS(e, "line 5 is not valid UTF-8");

  e = error_of([&] { WordPieceTokenizer::from_tokens({"[PAD]", "[CLS]", "[SEP]"}, true, "mem"); });
  EXPECT_CONTAINS(e, "mem");
  EXPECT_CONTAINS(e, "no [UNK] token");
}

// ---- Hugging Face reference ------------------------------------------------------------------

std::string assets_dir() {
  const char* env = std::getenv("FROST_ASSETS_DIR");
  return (env != nullptr && *env != '\0') ? std::string(env) : source_dir() + "/.cache";
}

// The ids of Hugging Face's tokenizer (tokenizers 0.23.3, all-MiniLM-L6-v2's tokenizer.json)
// for the 42 texts of tests/fixtures/make_wordpiece_fixture.py. A missing vocabulary FAILS:
// this is the test that shows compatibility, it must not pass silently.
TEST(WordPieceHuggingFace, MatchesAllMiniLmReferenceIds) {
  const std::string vocab = assets_dir() + "/models/all-MiniLM-L6-v2/vocab.txt";
  if (!std::filesystem::exists(vocab))
    FAIL() << vocab << " is missing: run launch/fetch_assets.sh (it downloads all-MiniLM-L6-v2 "
           << "into the asset cache, $FROST_ASSETS_DIR or <repo>/.cache)";
  const auto t = WordPieceTokenizer::from_vocab_file(vocab);
  EXPECT_EQ(t.vocab_size(), 30522);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.unk_id(), 100);
  EXPECT_EQ(t.cls_id(), 101);
  EXPECT_EQ(t.sep_id(), 102);

  const std::string fixture = fixture_path("wordpiece_cases.jsonl");
  std::ifstream in(fixture);
  ASSERT_TRUE(in) << "cannot open " << fixture;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const auto text = j.at("text").get<std::string>();
    const auto max_len = j.at("max_len").get<int64_t>();
    const auto want = j.at("ids").get<std::vector<int32_t>>();
    const auto want_tokens = j.at("tokens").get<Strings>();
    ++cases;
    const std::vector<int32_t> got = t.encode(text, max_len);
    Strings got_tokens;
    for (int32_t id : got) got_tokens.push_back(t.id_to_token(id));
    EXPECT_EQ(got, want) << "case " << cases << ": " << j.at("text").dump() << "\n  got:  "
                         << nlohmann::json(got_tokens).dump() << "\n  want: "
                         << nlohmann::json(want_tokens).dump();
    if (static_cast<int64_t>(want.size()) < max_len) {  // untruncated: tokenize() agrees too
      const Strings pieces(want_tokens.begin() + 1, want_tokens.end() - 1);
      EXPECT_EQ(t.tokenize(text), pieces) << "case " << cases;
    }
  }
  EXPECT_EQ(cases, 42) << fixture;
}

}  // namespace
