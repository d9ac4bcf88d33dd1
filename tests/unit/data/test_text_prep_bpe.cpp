// frost-prep text with a byte-level BPE (RoBERTa): which tokenizer --vocab selects (Note
// [Choosing the tokenizer]), RoBERTa's row layout against Hugging Face's ids for the sentence
// pairs of tests/fixtures/bpe_cases.jsonl, and the files prep_text writes (pad id 1, no
// /token_type_ids, the tokenizer attributes).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/text_prep.h"
#include "frost/text/bpe.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::testing::error_of, frost::testing::fixture_path, frost::testing::make_temp_dir,
    frost::testing::read_int64_attr, frost::testing::read_string_attr, frost::testing::write_file;
using frost::data::find_tokenizer_files, frost::data::layout_row, frost::data::RowLayout,
    frost::data::TextPrepOptions, frost::data::TokenizerFiles;
using frost::text::BpeOptions, frost::text::ByteLevelBpeTokenizer;

std::string tiny_dir() { return fixture_path("bpe_tiny"); }

// Every case of the fixture, pairs included, through layout_row with RoBERTa's layout: the
// ids of Hugging Face's RobertaProcessing with longest_first truncation.
TEST(PrepTextBpe, RowLayoutMatchesHuggingFaceForTextsAndPairs) {
  std::ifstream in(fixture_path("bpe_cases.jsonl"));
  ASSERT_TRUE(in);
  std::string line;
  int cases = 0, pairs = 0, truncated = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ++cases;
    BpeOptions o;
    o.add_prefix_space = j.at("add_prefix_space").get<bool>();
    o.lower_case = j.at("lower_case").get<bool>();
    const auto t = ByteLevelBpeTokenizer::from_files(tiny_dir() + "/vocab.json",
                                                     tiny_dir() + "/merges.txt", o);
    const RowLayout layout{t.bos_id(), t.eos_id(), true};
    const auto max_len = j.at("max_len").get<int64_t>();
    const std::vector<int32_t> a = t.piece_ids(j.at("text").get<std::string>());
    std::vector<int32_t> b;
    if (j.contains("pair")) {
      ++pairs;
      b = t.piece_ids(j.at("pair").get<std::string>());
    }
    const auto want = j.at("ids").get<std::vector<int32_t>>();
    const int64_t full =
        static_cast<int64_t>(a.size() + b.size()) + layout.specials(j.contains("pair"));
    if (full > max_len) ++truncated;
    int64_t second = -1;
    EXPECT_EQ(layout_row(layout, a, j.contains("pair") ? &b : nullptr, max_len, &second), want)
        << "case " << cases << ": " << line;
    if (j.contains("pair")) {
      EXPECT_EQ(want.at(static_cast<size_t>(second) - 1), 2);  // </s></s>
    }
  }
  EXPECT_EQ(cases, 177);
  EXPECT_EQ(pairs, 40);
  EXPECT_GE(truncated, 10);  // longest_first is exercised
}

TEST(PrepTextBpe, LayoutRowRefusesTooShortRows) {
  const RowLayout roberta{0, 2, true};
  const std::vector<int32_t> a{7, 8}, b{9};
  EXPECT_EQ(layout_row(roberta, a, &b, 4), (std::vector<int32_t>{0, 2, 2, 2}));
  EXPECT_CONTAINS(error_of([&] { layout_row(roberta, a, &b, 3); }),
                  "max_len 3 leaves no room for the 4 special tokens of a sentence pair");
  const RowLayout bert{101, 102, false};
  int64_t second = 0;
  EXPECT_EQ(layout_row(bert, a, &b, 10, &second), (std::vector<int32_t>{101, 7, 8, 102, 9, 102}));
  EXPECT_EQ(second, 4);
}

TEST(PrepTextBpe, ChoosingTheTokenizer) {
  const std::string dir = make_temp_dir("choose");
  namespace sfs = std::filesystem;
  // A RoBERTa folder: vocab.json + merges.txt (and tokenizer.json) -> BPE from vocab.json.
  sfs::create_directories(dir + "/roberta");
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer.json"})
    sfs::copy_file(tiny_dir() + "/" + f, dir + "/roberta/" + f);
  TokenizerFiles f = find_tokenizer_files(dir + "/roberta", "");
  EXPECT_TRUE(f.bpe);
  EXPECT_EQ(f.vocab, dir + "/roberta/vocab.json");
  EXPECT_EQ(f.merges, dir + "/roberta/merges.txt");
  f = find_tokenizer_files(dir + "/roberta/vocab.json", "");
  EXPECT_TRUE(f.bpe);
  EXPECT_EQ(f.merges, dir + "/roberta/merges.txt");
  f = find_tokenizer_files(dir + "/roberta/tokenizer.json", "");
  EXPECT_TRUE(f.bpe);
  EXPECT_EQ(f.tokenizer_json, dir + "/roberta/tokenizer.json");
  EXPECT_CONTAINS(error_of([&] { find_tokenizer_files(dir + "/roberta/tokenizer.json", "m.txt"); }),
                  "--merges m.txt is not used with");
  // Only tokenizer.json in a folder.
  sfs::create_directories(dir + "/fast");
  sfs::copy_file(tiny_dir() + "/tokenizer.json", dir + "/fast/tokenizer.json");
  EXPECT_EQ(find_tokenizer_files(dir + "/fast", "").tokenizer_json, dir + "/fast/tokenizer.json");
  // A BERT folder: vocab.txt -> WordPiece; --merges there is an error.
  sfs::create_directories(dir + "/bert");
  write_file(dir + "/bert/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
  f = find_tokenizer_files(dir + "/bert", "");
  EXPECT_FALSE(f.bpe);
  EXPECT_EQ(f.vocab, dir + "/bert/vocab.txt");
  EXPECT_FALSE(find_tokenizer_files(dir + "/bert/vocab.txt", "").bpe);
  EXPECT_CONTAINS(error_of([&] { find_tokenizer_files(dir + "/bert/vocab.txt", "m.txt"); }),
                  "--merges m.txt is for a byte-level BPE vocab.json, but");
  // vocab.json without merges.txt: an error naming the missing file.
  sfs::create_directories(dir + "/nomerges");
  sfs::copy_file(tiny_dir() + "/vocab.json", dir + "/nomerges/vocab.json");
  EXPECT_CONTAINS(error_of([&] { find_tokenizer_files(dir + "/nomerges/vocab.json", ""); }),
                  "needs its merges file: --merges names it (there is no " + dir +
                      "/nomerges/merges.txt)");
  EXPECT_CONTAINS(error_of([&] { find_tokenizer_files(dir + "/nomerges", ""); }),
                  "has vocab.json but no merges.txt");
  EXPECT_EQ(find_tokenizer_files(dir + "/nomerges/vocab.json", tiny_dir() + "/merges.txt").merges,
            tiny_dir() + "/merges.txt");
  sfs::create_directories(dir + "/empty");
  EXPECT_CONTAINS(error_of([&] { find_tokenizer_files(dir + "/empty", ""); }),
                  "holds no tokenizer: looked for vocab.json + merges.txt");
  // vocab.json without merges.txt, but tokenizer.json: the folder order of the Note goes on
  // to tokenizer.json.
  sfs::create_directories(dir + "/json_only");
  sfs::copy_file(tiny_dir() + "/vocab.json", dir + "/json_only/vocab.json");
  sfs::copy_file(tiny_dir() + "/tokenizer.json", dir + "/json_only/tokenizer.json");
  f = find_tokenizer_files(dir + "/json_only", "");
  EXPECT_TRUE(f.bpe);
  EXPECT_EQ(f.tokenizer_json, dir + "/json_only/tokenizer.json");
  // A tokenizer.json under another name ends in tokenizer.json.
  sfs::copy_file(tiny_dir() + "/tokenizer.json", dir + "/roberta-tokenizer.json");
  EXPECT_EQ(find_tokenizer_files(dir + "/roberta-tokenizer.json", "").tokenizer_json,
            dir + "/roberta-tokenizer.json");
  // A --vocab that does not exist is named as such, not as a missing merges file.
  for (const std::string& missing : {dir + "/nosuch/vocab.json", dir + "/nosuch/vocab.txt",
                                     dir + "/nosuch/tokenizer.json"}) {
    EXPECT_CONTAINS(error_of([&] { find_tokenizer_files(missing, ""); }),
                    "--vocab " + missing + ": no such file or folder");
  }
}

TextPrepOptions bpe_options(const std::string& dir, const std::string& csv) {
  write_file(dir + "/data.csv", csv);
  TextPrepOptions o;
  o.csv_path = dir + "/data.csv";
  o.vocab_path = tiny_dir() + "/vocab.json";
  o.out_dir = dir + "/out";
  o.max_len = 12;
  o.test_frac = 0.5;
  return o;
}

std::vector<std::vector<int32_t>> all_rows(const std::string& path, int64_t len,
                                           std::vector<std::vector<uint8_t>>* masks) {
  const auto ds = frost::data::H5Dataset::open({path});
  const int64_t n = ds.size();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  std::vector<int32_t> ids(static_cast<size_t>(n * len));
  std::vector<uint8_t> mask(static_cast<size_t>(n * len));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  ds.read(idx, ids.data(), labels.data(), mask.data());
  std::vector<std::vector<int32_t>> rows;
  for (int64_t i = 0; i < n; ++i) {
    rows.emplace_back(ids.begin() + i * len, ids.begin() + (i + 1) * len);
    masks->emplace_back(mask.begin() + i * len, mask.begin() + (i + 1) * len);
  }
  return rows;
}

TEST(PrepTextBpe, PairsWriteRobertaRowsPaddedWithPadIdAndNoTokenTypes) {
  const std::string dir = make_temp_dir("prepbpe");
  TextPrepOptions o = bpe_options(dir,
                                  "text,text_pair,label\n"
                                  "Hello world,How old are you?,1\n"
                                  "I can't go.,We're sure they've gone and the dog sleeps all day,0\n"
                                  "caf\xC3\xA9,x,1\n"
                                  "The quick brown fox,the lazy dog,0\n");
  const auto s = frost::data::prep_text(o);
  EXPECT_TRUE(s.bpe);
  EXPECT_TRUE(s.pairs);
  EXPECT_EQ(s.pad_id, 1);
  EXPECT_FALSE(s.case_decision.lower_case);
  const auto t = ByteLevelBpeTokenizer::from_files(tiny_dir() + "/vocab.json",
                                                   tiny_dir() + "/merges.txt");
  const RowLayout layout{0, 2, true};
  std::set<std::vector<int32_t>> want;
  int64_t truncated = 0;
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"Hello world", "How old are you?"},
           {"I can't go.", "We're sure they've gone and the dog sleeps all day"},
           {"caf\xC3\xA9", "x"},
           {"The quick brown fox", "the lazy dog"}}) {
    const auto pb = t.piece_ids(b);
    const auto pa = t.piece_ids(a);
    if (static_cast<int64_t>(pa.size() + pb.size()) + 4 > o.max_len) ++truncated;
    std::vector<int32_t> row = layout_row(layout, pa, &pb, o.max_len);
    row.resize(static_cast<size_t>(o.max_len), 1);
    want.insert(row);
  }
  std::set<std::vector<int32_t>> got;
  for (const std::string& path : {s.train.path, s.test.path}) {
    const auto ds = frost::data::H5Dataset::open({path});
    EXPECT_FALSE(ds.info().has_token_type_ids) << path;
    EXPECT_EQ(read_string_attr(path, "tokenizer"), "byte_level_bpe");
    EXPECT_EQ(read_int64_attr(path, "pad_id"), std::vector<int64_t>{1});
    EXPECT_EQ(read_int64_attr(path, "add_prefix_space"), std::vector<int64_t>{0});
    EXPECT_EQ(read_int64_attr(path, "lower_case"), std::vector<int64_t>{0});
    EXPECT_EQ(read_int64_attr(path, "vocab_size"), std::vector<int64_t>{t.vocab_size()});
    std::vector<std::vector<uint8_t>> masks;
    const auto rows = all_rows(path, o.max_len, &masks);
    for (size_t i = 0; i < rows.size(); ++i) {
      got.insert(rows[i]);
      for (size_t c = 0; c < rows[i].size(); ++c)
        EXPECT_EQ(masks[i][c], rows[i][c] == 1 ? 0 : 1) << path << " row " << i << " col " << c;
    }
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.num_truncated, truncated);
  EXPECT_GE(truncated, 1);

  // --max-len 3 cannot hold <s> a </s></s> b </s>.
  o.max_len = 3;
  o.out_dir = dir + "/out3";
  EXPECT_CONTAINS(error_of([&] { frost::data::prep_text(o); }),
                  "--max-len must be >= 4 for sentence pairs (room for <s>, </s></s> and </s>)");
  EXPECT_FALSE(std::filesystem::exists(o.out_dir));
}

TEST(PrepTextBpe, OptionsAndTokenizerJson) {
  const std::string dir = make_temp_dir("prepbpe");
  TextPrepOptions o = bpe_options(dir, "text,label\nHello world,1\nHELLO there,0\nhi,1\nbye,0\n");
  o.lower_case = true;
  o.add_prefix_space = true;
  auto s = frost::data::prep_text(o);
  EXPECT_TRUE(s.case_decision.lower_case);
  EXPECT_TRUE(s.add_prefix_space);
  EXPECT_EQ(read_int64_attr(s.train.path, "add_prefix_space"), std::vector<int64_t>{1});
  EXPECT_EQ(read_int64_attr(s.train.path, "lower_case"), std::vector<int64_t>{1});

  // tokenizer.json decides; an option that contradicts it is an error naming the file.
  o.vocab_path = tiny_dir() + "/tokenizer.json";
  o.out_dir = dir + "/out2";
  EXPECT_CONTAINS(error_of([&] { frost::data::prep_text(o); }),
                  "--lower-case true contradicts " + tiny_dir() + "/tokenizer.json");
  o.lower_case.reset();
  EXPECT_CONTAINS(error_of([&] { frost::data::prep_text(o); }),
                  "--add-prefix-space true contradicts pre_tokenizer.add_prefix_space false");
  o.add_prefix_space.reset();
  s = frost::data::prep_text(o);
  EXPECT_FALSE(s.case_decision.lower_case);
  EXPECT_EQ(s.tokenizer_files.tokenizer_json, tiny_dir() + "/tokenizer.json");

  // --add-prefix-space with a WordPiece vocabulary.
  write_file(dir + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  o.vocab_path = dir + "/vocab.txt";
  o.add_prefix_space = false;
  o.out_dir = dir + "/out3";
  EXPECT_CONTAINS(error_of([&] { frost::data::prep_text(o); }),
                  "--add-prefix-space is for a byte-level BPE (RoBERTa)");
  o.add_prefix_space.reset();
  s = frost::data::prep_text(o);
  EXPECT_FALSE(s.bpe);
  EXPECT_EQ(read_string_attr(s.train.path, "tokenizer"), "wordpiece");
  EXPECT_EQ(read_int64_attr(s.train.path, "pad_id"), std::vector<int64_t>{0});
}

}  // namespace
