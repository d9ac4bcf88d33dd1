// ByteLevelBpeTokenizer: GPT-2's byte table, the merge loop on hand-made vocabularies, file
// errors, and the ids of Hugging Face's tokenizer for the tiny vocabulary of
// tests/fixtures/bpe_tiny (tests/fixtures/bpe_cases.jsonl, make_bpe_fixture.py). Sentence
// pairs of that fixture are checked through frost-prep's row layout in test_text_prep.cpp.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "frost/core/error.h"
#include "frost/text/bpe.h"
#include "test_util.h"

namespace {

using frost::testing::error_of, frost::testing::fixture_path, frost::testing::make_temp_dir,
    frost::testing::write_file;
using frost::text::BpeOptions;
using frost::text::ByteLevelBpeTokenizer;
using Strings = std::vector<std::string>;
using Merges = std::vector<std::pair<std::string, std::string>>;

// <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4, the 256 byte symbols 5..260, then `extra`.
std::unordered_map<std::string, int32_t> tiny_vocab(const Strings& extra = {}) {
  std::unordered_map<std::string, int32_t> v{
      {"<s>", 0}, {"<pad>", 1}, {"</s>", 2}, {"<unk>", 3}, {"<mask>", 4}};
  for (int b = 0; b < 256; ++b)
    v.emplace(ByteLevelBpeTokenizer::byte_symbol(static_cast<uint8_t>(b)), 5 + b);
  for (const auto& t : extra) v.emplace(t, static_cast<int32_t>(v.size()));
  return v;
}

ByteLevelBpeTokenizer tiny(const Merges& merges, BpeOptions o = {}) {
  Strings extra;
  for (const auto& [a, b] : merges) extra.push_back(a + b);
  return ByteLevelBpeTokenizer::from_parts(tiny_vocab(extra), merges, o, "tiny");
}

TEST(BpeBytes, Gpt2ByteTable) {
  // Printable bytes stand for themselves, the other 68 for U+0100.. in byte order.
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol('a'), "a");
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol('!'), "!");
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol(0), "\xC4\x80");       // U+0100
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol(' '), "\xC4\xA0");     // U+0120 "Ġ"
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol('\n'), "\xC4\x8A");    // U+010A "Ċ"
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol(0xAD), "\xC5\x83");    // U+0143, the last
  EXPECT_EQ(ByteLevelBpeTokenizer::byte_symbol(0xE9), "\xC3\xA9");    // é itself
  std::set<std::string> all;
  for (int b = 0; b < 256; ++b) all.insert(ByteLevelBpeTokenizer::byte_symbol(static_cast<uint8_t>(b)));
  EXPECT_EQ(all.size(), 256u);
}

TEST(BpeMerges, LowestRankFirstLeftmostOnTies) {
  // "Ġ t" (rank 0) before "h e" (1) before "Ġt he" (2); "a a" merges left to right.
  const auto t = tiny({{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"a", "a"}});
  EXPECT_EQ(t.tokenize(" the"), (Strings{"Ġthe"}));
  EXPECT_EQ(t.tokenize("the"), (Strings{"t", "he"}));
  EXPECT_EQ(t.tokenize("aaa"), (Strings{"aa", "a"}));
  EXPECT_EQ(t.tokenize("aaaa"), (Strings{"aa", "aa"}));
  // Words are matched separately: no merge crosses a word boundary.
  EXPECT_EQ(t.tokenize("a a"), (Strings{"a", "Ġ", "a"}));
  // Rank order, not vocabulary order: with "h e" ranked below "t h", "the" is t + he.
  const auto u = tiny({{"h", "e"}, {"t", "h"}});
  EXPECT_EQ(u.tokenize("the"), (Strings{"t", "he"}));
  const auto w = tiny({{"t", "h"}, {"h", "e"}});
  EXPECT_EQ(w.tokenize("the"), (Strings{"th", "e"}));
}

TEST(BpePreTokenize, Gpt2Pattern) {
  const auto t = tiny({});
  EXPECT_EQ(t.pre_tokenize("I can't, they'll 42x"),
            (Strings{"I", " can", "'t", ",", " they", "'ll", " 42", "x"}));
  // White space before a word goes with it, the rest of a run is a word of its own; U+0085
  // and U+3000 are white space (Oniguruma's \s), U+200B is not.
  // "\n\nc": \s+(?!\S) backs off to the first "\n", then \s+ takes the second.
  EXPECT_EQ(t.pre_tokenize("a   b\n\nc "), (Strings{"a", "  ", " b", "\n", "\n", "c", " "}));
  EXPECT_EQ(t.pre_tokenize("a\xC2\x85" "b"), (Strings{"a", "\xC2\x85", "b"}));
  EXPECT_EQ(t.pre_tokenize("a\xE3\x80\x80" "b"), (Strings{"a", "\xE3\x80\x80", "b"}));
  EXPECT_EQ(t.pre_tokenize("caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87!"),
            (Strings{"caf\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87", "!"}));
  EXPECT_EQ(t.pre_tokenize(""), Strings{});
}

TEST(BpePreTokenize, AddPrefixSpaceAndLowerCase) {
  BpeOptions o;
  o.add_prefix_space = true;
  EXPECT_EQ(tiny({}, o).pre_tokenize("Hi there"), (Strings{" Hi", " there"}));
  EXPECT_EQ(tiny({}, o).pre_tokenize(" Hi"), (Strings{" Hi"}));
  // Each piece of text between special tokens gets its space, an empty one none.
  EXPECT_EQ(tiny({}, o).pre_tokenize("<s>a</s>"), (Strings{"<s>", " a", "</s>"}));
  o = {};
  o.lower_case = true;
  // U+0130 lower-cases to "i" + U+0307 (a mark, not a letter: a word of its own).
  EXPECT_EQ(tiny({}, o).pre_tokenize("HeLLo \xC3\x89T\xC3\x89 \xC4\xB0"),
            (Strings{"hello", " \xC3\xA9t\xC3\xA9", " i", "\xCC\x87"}));
}

TEST(BpePreTokenize, SpecialTokensStayWholeAndMaskTakesTheSpaceBefore) {
  const auto t = tiny({});
  EXPECT_EQ(t.pre_tokenize("a<s>b </s>"), (Strings{"a", "<s>", "b", " ", "</s>"}));
  EXPECT_EQ(t.pre_tokenize("a  <mask> b"), (Strings{"a", "<mask>", " b"}));
  EXPECT_EQ(t.pre_tokenize("<S> <mask"), (Strings{"<", "S", ">", " <", "mask"}));
  EXPECT_EQ(t.piece_ids("<pad><unk>"), (std::vector<int32_t>{1, 3}));
}

TEST(BpeBytes, InvalidUtf8BecomesReplacementCharacterBytes) {
  const auto t = tiny({});
  // 0xFF is no UTF-8: it becomes U+FFFD (EF BF BD), three byte symbols.
  const std::vector<int32_t> ids = t.piece_ids("a\xFF");
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[1], 5 + 0xEF);
  EXPECT_EQ(ids[2], 5 + 0xBF);
  EXPECT_EQ(ids[3], 5 + 0xBD);
  EXPECT_EQ(t.piece_ids("\xC3"), (std::vector<int32_t>{5 + 0xEF, 5 + 0xBF, 5 + 0xBD}));
}

TEST(BpeEncode, AddsBosEosAndTruncatesKeepingEosLast) {
  const auto t = tiny({});
  EXPECT_EQ(t.encode("ab", 10), (std::vector<int32_t>{0, 5 + 'a', 5 + 'b', 2}));
  EXPECT_EQ(t.encode("abc", 3), (std::vector<int32_t>{0, 5 + 'a', 2}));
  EXPECT_EQ(t.encode("abc", 2), (std::vector<int32_t>{0, 2}));
  EXPECT_CONTAINS(error_of([&] { t.encode("a", 1); }), "max_len must be >= 2");
  EXPECT_EQ(t.pad_id(), 1);
  EXPECT_EQ(t.vocab_size(), 261);
}

TEST(BpeEncode, CacheIsSafeFromManyThreads) {
  const auto t = tiny({{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}});
  const std::vector<int32_t> want = t.piece_ids(" the the thee");
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) {
        if (t.piece_ids(" the the thee") != want) ++bad[static_cast<size_t>(i)];
        t.piece_ids(" w" + std::to_string(k * 4 + i));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

// ---- files ---------------------------------------------------------------------------------

TEST(BpeFiles, ErrorsNameTheFileAndLine) {
  const std::string dir = make_temp_dir("bpe");
  const std::string vocab = dir + "/vocab.json", merges = dir + "/merges.txt";
  write_file(vocab, nlohmann::json(tiny_vocab({"ab"})).dump());
  write_file(merges, "#version: 0.2\na b\n");
  EXPECT_EQ(ByteLevelBpeTokenizer::from_files(vocab, merges).tokenize("ab"), Strings{"ab"});

  std::string e = error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, dir + "/no.txt"); });
  EXPECT_CONTAINS(e, dir + "/no.txt: cannot open the BPE merges file");
  write_file(merges, "#version: 0.2\na b\nab\n");
  e = error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); });
  EXPECT_CONTAINS(e, merges + ": line 3: 'ab' is not a merge");
  write_file(merges, "a b c\n");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  merges + ": line 1: 'a b c' is not a merge");
  write_file(merges, "a b\r\nb c\n");  // CRLF; "bc" is not in the vocabulary
  e = error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); });
  EXPECT_CONTAINS(e, merges + ": line 2: the merge 'b c' makes 'bc', which is not in the vocabulary");
  write_file(merges, "a zz\n");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  "has 'zz', which is not in the vocabulary");

  write_file(merges, "a b\n");
  auto v = tiny_vocab({"ab"});
  v.erase("<pad>");
  write_file(vocab, nlohmann::json(v).dump());
  e = error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); });
  EXPECT_CONTAINS(e, vocab + ": the BPE vocabulary (");
  EXPECT_CONTAINS(e, "has no <pad> token");
  v = tiny_vocab({"ab"});
  v.erase(ByteLevelBpeTokenizer::byte_symbol(' '));
  write_file(vocab, nlohmann::json(v).dump());
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  "has no token for byte 32");
  write_file(vocab, "{\"a\": 1,");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  vocab + ": the BPE vocabulary is not valid JSON");
  write_file(vocab, "[\"a\"]");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  "not an object of token -> id");
  write_file(vocab, "{\"a\": -3}");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  "the id of \"a\" is -3");

  // Ids are 0..N-1, each once: a stray large id is named (it would size the id table).
  v = tiny_vocab({"ab"});
  const auto n = static_cast<int64_t>(v.size());
  v["ab"] = 2000000000;
  write_file(vocab, nlohmann::json(v).dump());
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                  vocab + ": the id of \"ab\" is 2000000000, outside 0.." +
                      std::to_string(n - 1));
  v = tiny_vocab({"ab"});
  v["ab"] = 1;  // <pad>'s id
  write_file(vocab, nlohmann::json(v).dump());
  e = error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); });
  EXPECT_CONTAINS(e, vocab + ": ");
  EXPECT_CONTAINS(e, "both have id 1");

  // A merges file without merges (empty, or only the #version line): a truncated download
  // would tokenize byte by byte without a word.
  write_file(vocab, nlohmann::json(tiny_vocab({"ab"})).dump());
  for (const char* text : {"", "#version: 0.2\n"}) {
    write_file(merges, text);
    EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_files(vocab, merges); }),
                    merges + ": holds no merges")
        << "'" << text << "'";
  }
}

TEST(BpeFiles, TokenizerJsonRefusesOtherModels) {
  const std::string dir = make_temp_dir("bpe");
  const std::string path = dir + "/tokenizer.json";
  write_file(path, R"({"model": {"type": "WordPiece", "vocab": {}}})");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_tokenizer_json(path); }),
                  path + ": model.type is 'WordPiece'");
  write_file(path, R"({"model": {"type": "BPE", "vocab": {}, "merges": [],
      "continuing_subword_prefix": "##"}, "pre_tokenizer": {"type": "ByteLevel"}})");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_tokenizer_json(path); }),
                  "model.continuing_subword_prefix is \"##\"");
  write_file(path, R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
      "pre_tokenizer": {"type": "Metaspace"}})");
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_tokenizer_json(path); }),
                  "a byte-level BPE has {\"type\": \"ByteLevel\"");
  // The tiny fixture's tokenizer.json with its merges emptied: refused as from merges.txt.
  std::ifstream in(fixture_path("bpe_tiny") + "/tokenizer.json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["model"]["merges"] = nlohmann::json::array();
  write_file(path, j.dump());
  EXPECT_CONTAINS(error_of([&] { ByteLevelBpeTokenizer::from_tokenizer_json(path); }),
                  path + ": holds no merges");
}

// ---- Hugging Face parity -------------------------------------------------------------------

// The ids of Hugging Face's tokenizer (tokenizers 0.23.3; transformers 5.25.0's
// RobertaTokenizer agrees) for every single-text case of tests/fixtures/bpe_cases.jsonl, read
// from vocab.json + merges.txt and from tokenizer.json.
TEST(BpeHuggingFace, MatchesReferenceIdsOfTheTinyVocabulary) {
  const std::string dir = fixture_path("bpe_tiny");
  std::ifstream in(fixture_path("bpe_cases.jsonl"));
  ASSERT_TRUE(in) << "cannot open " << fixture_path("bpe_cases.jsonl");
  const auto from_json = ByteLevelBpeTokenizer::from_tokenizer_json(dir + "/tokenizer.json");
  EXPECT_FALSE(from_json.options().add_prefix_space);
  EXPECT_EQ(from_json.pad_id(), 1);
  std::string line;
  int cases = 0, singles = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    ++cases;
    if (j.contains("pair")) continue;  // test_text_prep.cpp: PrepTextBpe
    ++singles;
    BpeOptions o;
    o.add_prefix_space = j.at("add_prefix_space").get<bool>();
    o.lower_case = j.at("lower_case").get<bool>();
    const auto t =
        ByteLevelBpeTokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt", o);
    const auto text = j.at("text").get<std::string>();
    const auto max_len = j.at("max_len").get<int64_t>();
    const auto want = j.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> got = t.encode(text, max_len);
    Strings got_tokens;
    for (int32_t id : got) got_tokens.push_back(t.id_to_token(id));
    EXPECT_EQ(got, want) << "case " << cases << ": " << j.at("text").dump() << "\n  got:  "
                         << nlohmann::json(got_tokens).dump() << "\n  want: "
                         << j.at("tokens").dump();
    if (!o.add_prefix_space && !o.lower_case) {
      EXPECT_EQ(from_json.encode(text, max_len), want) << "tokenizer.json, case " << cases;
    }
  }
  EXPECT_EQ(cases, 177);
  EXPECT_EQ(singles, 137);
}

}  // namespace
