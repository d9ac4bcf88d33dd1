// read_csv (RFC 4180) and prep_text on small hand-made CSVs and a tiny vocabulary: tokens,
// mask and labels as written, label ordering, the stratified seeded split, truncation, and
// "a failed run leaves no output file".
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/text_prep.h"
#include "frost/text/wordpiece.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::testing::error_of, frost::testing::make_temp_dir, frost::testing::read_int64_attr,
    frost::testing::read_string_attr, frost::testing::write_file;

using frost::data::CsvTable, frost::data::H5Dataset, frost::data::prep_text, frost::data::read_csv,
    frost::data::TextPrepOptions, frost::data::TextPrepSummary;
using frost::text::WordPieceTokenizer;
using Strings = std::vector<std::string>;

// [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3, then words.
const Strings kVocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film", "very",
                     "##s", ",", "not", "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8",
                     "w9", "##0", "##1", "##2", "##3", "##4", "##5", "##6", "##7", "##8", "##9"};

std::string write_vocab(const std::string& dir) {
  std::string text;
  for (const auto& t : kVocab) text += t + "\n";
  write_file(dir + "/vocab.txt", text);
  return dir + "/vocab.txt";
}

TextPrepOptions options_for(const std::string& dir, const std::string& csv) {
  write_file(dir + "/data.csv", csv);
  TextPrepOptions o;
  o.csv_path = dir + "/data.csv";
  o.vocab_path = write_vocab(dir);
  o.out_dir = dir + "/out";
  o.max_len = 8;
  return o;
}

// All rows of one file: ids, mask, label.
struct Rows {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<uint8_t>> mask;
  std::vector<int64_t> labels;
};

Rows read_all(const std::string& path) {
  const H5Dataset ds = H5Dataset::open({path});
  const int64_t n = ds.size(), len = ds.info().sample_shape.at(0);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  std::vector<int32_t> ids(static_cast<size_t>(n * len));
  std::vector<uint8_t> mask(static_cast<size_t>(n * len));
  Rows r;
  r.labels.resize(static_cast<size_t>(n));
  ds.read(idx, ids.data(), r.labels.data(), mask.data());
  for (int64_t i = 0; i < n; ++i) {
    r.ids.emplace_back(ids.begin() + i * len, ids.begin() + (i + 1) * len);
    r.mask.emplace_back(mask.begin() + i * len, mask.begin() + (i + 1) * len);
  }
  return r;
}

// ---- read_csv ------------------------------------------------------------------------------

TEST(ReadCsv, QuotesCommasLineBreaksBomCrlfAndBlankLines) {
  const std::string dir = make_temp_dir();
  const std::string path = dir + "/a.csv";
  write_file(path,
             "\xEF\xBB\xBF" "label,text,extra\r\n"
             "1,plain,x\r\n"
             "\r\n"
             "-1,\"with, comma\",\"\"\r\n"
             "pos,\"say \"\"hi\"\"\",y\n"
             "neg,\"two\r\nlines\nthree\",z\n"
             "\n"
             "0,,last");
  const CsvTable t = read_csv(path);
  EXPECT_EQ(t.header, (Strings{"label", "text", "extra"}));
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.rows[0], (Strings{"1", "plain", "x"}));
  EXPECT_EQ(t.rows[1], (Strings{"-1", "with, comma", ""}));
  EXPECT_EQ(t.rows[2], (Strings{"pos", "say \"hi\"", "y"}));
  EXPECT_EQ(t.rows[3], (Strings{"neg", "two\r\nlines\nthree", "z"}));
  EXPECT_EQ(t.rows[4], (Strings{"0", "", "last"}));
  EXPECT_EQ(t.row_lines, (std::vector<int64_t>{2, 4, 5, 6, 10}));
}

TEST(ReadCsv, MalformedRecordsNameFileAndLine) {
  const std::string dir = make_temp_dir();
  const std::string path = dir + "/bad.csv";
  auto error_for = [&](const std::string& content) {
    write_file(path, content);
    return error_of([&] { read_csv(path); });
  };
  std::string e = error_for("label,text\n1,ok\n1,bad \"quote\"\n");
  EXPECT_CONTAINS(e, path + ": line 3: a quote inside an unquoted field");
  e = error_for("label,text\n1,ok\n1,\"multi\nline\" junk\n");
  EXPECT_CONTAINS(e, path + ": line 4: unexpected character ' ' after the closing quote");
  e = error_for("label,text\n1,ok\n1,\"never closed\n2,more\n");
  EXPECT_CONTAINS(e, path + ": line 3: a quoted field opened here is never closed");
  e = error_for("label,text\n1,ok\n1,too,many\n");
  EXPECT_CONTAINS(e, path + ": line 3: 3 field(s) but the header has 2");
  e = error_for("label,text\n1\n");
  EXPECT_CONTAINS(e, path + ": line 2: 1 field(s)");
  e = error_for("");
  EXPECT_CONTAINS(e, path + ": the CSV file is empty");
  e = error_for("\n\r\n");
  EXPECT_CONTAINS(e, "is empty");
  EXPECT_CONTAINS(error_of([&] { read_csv(dir + "/missing.csv"); }), dir + "/missing.csv");
}

// ---- prep_text -------------------------------------------------------------------------------

TEST(PrepText, WritesTokensMaskLabelsAndAttributes) {
  const std::string dir = make_temp_dir();
  TextPrepOptions o = options_for(dir,
                                  "text,label\n"
                                  "\"Good film, very good\",pos\n"
                                  "bad films,neg\n"
                                  "not good,neg\n"
                                  "VERY good,pos\n"
                                  "w1 w2 w3 w4 w5 w6 w7 w8 w9,pos\n"  // 11 tokens > max_len 8
                                  "xyz,neg\n");
  o.test_frac = 0.34;  // round(3 * 0.34) = 1 test row per class
  const TextPrepSummary s = prep_text(o);
  EXPECT_EQ(s.train.path, o.out_dir + "/train.h5");
  EXPECT_EQ(s.test.path, o.out_dir + "/test.h5");
  EXPECT_EQ(s.train.num_samples, 4);
  EXPECT_EQ(s.test.num_samples, 2);
  EXPECT_EQ(s.label_values, (Strings{"neg", "pos"}));  // byte order
  EXPECT_FALSE(s.integer_labels);
  EXPECT_EQ(s.train_per_class, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(s.test_per_class, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(s.token_lengths, (std::vector<int64_t>{7, 5, 4, 4, 11, 3}));
  EXPECT_EQ(s.num_truncated, 1);
  EXPECT_EQ(s.vocab_size, static_cast<int64_t>(kVocab.size()));

  // Every CSV row appears once over the two files, as the tokenizer encodes it, padded.
  const auto tok = WordPieceTokenizer::from_vocab_file(o.vocab_path);
  const Strings texts{"Good film, very good", "bad films", "not good", "VERY good",
                      "w1 w2 w3 w4 w5 w6 w7 w8 w9", "xyz"};
  const std::vector<int64_t> want_labels{1, 0, 0, 1, 1, 0};
  std::map<std::vector<int32_t>, int64_t> expected;  // padded ids -> label
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> ids = tok.encode(texts[i], o.max_len);
    ids.resize(static_cast<size_t>(o.max_len), tok.pad_id());
    expected[ids] = want_labels[i];
  }
  ASSERT_EQ(expected.size(), texts.size());
  EXPECT_EQ(expected.begin()->first.size(), 8u);
  std::map<std::vector<int32_t>, int64_t> found;
  for (const std::string& path : {s.train.path, s.test.path}) {
    const H5Dataset ds = H5Dataset::open({path});
    EXPECT_EQ(ds.info().input_kind, frost::data::InputKind::kTokens);
    EXPECT_EQ(ds.info().sample_shape, (std::vector<int64_t>{8}));
    EXPECT_EQ(ds.info().num_classes, 2);
    EXPECT_TRUE(ds.info().has_attention_mask);
    const Rows r = read_all(path);
    for (size_t i = 0; i < r.ids.size(); ++i) {
      found[r.ids[i]] = r.labels[i];
      int64_t real = 0;
      while (real < 8 && r.ids[i][static_cast<size_t>(real)] != tok.pad_id()) ++real;
      for (int64_t c = 0; c < 8; ++c)
        EXPECT_EQ(r.mask[i][static_cast<size_t>(c)], c < real ? 1 : 0) << path << " row " << i;
      EXPECT_EQ(r.ids[i][static_cast<size_t>(real - 1)], tok.sep_id());
    }
    EXPECT_EQ(read_int64_attr(path, "max_len"), (std::vector<int64_t>{8}));
    EXPECT_EQ(read_int64_attr(path, "vocab_size"),
              (std::vector<int64_t>{static_cast<int64_t>(kVocab.size())}));
    EXPECT_EQ(read_int64_attr(path, "class_ids"), std::vector<int64_t>{});  // not integers
    EXPECT_EQ(nlohmann::json::parse(read_string_attr(path, "label_values")),
              nlohmann::json(Strings{"neg", "pos"}));
  }
  EXPECT_EQ(found, expected);
  // The truncated row: [CLS] w1 ... w6 [SEP].
  EXPECT_EQ(found.count({2, 12, 13, 14, 15, 16, 17, 3}), 1u);
}

TEST(PrepText, IntegerLabelsAreOrderedNumerically) {
  const std::string dir = make_temp_dir();
  TextPrepOptions o = options_for(dir, "label,text\n10,good\n-1,bad\n2,film\n02,very\n10,not\n"
                                       "-1,good\n2,bad\n10,film\n-1,very\n");
  o.test_frac = 0.4;
  const TextPrepSummary s = prep_text(o);
  EXPECT_TRUE(s.integer_labels);
  EXPECT_EQ(s.label_values, (Strings{"-1", "2", "10"}));  // "02" and "2" are one class
  EXPECT_EQ(s.test_per_class, (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(s.train_per_class, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(read_int64_attr(s.train.path, "class_ids"), (std::vector<int64_t>{-1, 2, 10}));
  EXPECT_EQ(read_string_attr(s.test.path, "label_values"), "[\"-1\",\"2\",\"10\"]");
  const Rows r = read_all(s.train.path);
  for (size_t i = 0; i < r.ids.size(); ++i) {  // "good" has labels 10 and -1, "not" only 10
    const int32_t word = r.ids[i][1];
    if (word == 4) {
      EXPECT_TRUE(r.labels[i] == 2 || r.labels[i] == 0);
    }
    if (word == 10) {
      EXPECT_EQ(r.labels[i], 2);
    }
  }
}

TEST(PrepText, SplitIsStratifiedAndSeeded) {
  const std::string dir = make_temp_dir();
  std::string csv = "label,text\n";
  for (int i = 0; i < 40; ++i)
    csv += std::string(i < 10 ? "a" : "b") + ",w" + std::to_string(i / 10) + std::to_string(i % 10) +
           "\n";
  TextPrepOptions o = options_for(dir, csv);
  o.seed = 7;
  const TextPrepSummary s1 = prep_text(o);
  EXPECT_EQ(s1.test_per_class, (std::vector<int64_t>{2, 6}));   // 20% of 10 and of 30
  EXPECT_EQ(s1.train_per_class, (std::vector<int64_t>{8, 24}));
  const Rows train1 = read_all(s1.train.path), test1 = read_all(s1.test.path);

  o.out_dir = dir + "/again";
  prep_text(o);
  const Rows train2 = read_all(o.out_dir + "/train.h5"), test2 = read_all(o.out_dir + "/test.h5");
  EXPECT_EQ(train1.ids, train2.ids);  // same seed: same files
  EXPECT_EQ(test1.ids, test2.ids);

  o.out_dir = dir + "/other";
  o.seed = 8;
  prep_text(o);
  const Rows train3 = read_all(o.out_dir + "/train.h5");
  EXPECT_NE(train1.ids, train3.ids);  // another seed: another order
  // Every row is in exactly one split.
  std::map<std::vector<int32_t>, int> seen;
  for (const auto& r : train1.ids) ++seen[r];
  for (const auto& r : test1.ids) ++seen[r];
  EXPECT_EQ(seen.size(), 40u);
  for (const auto& [ids, count] : seen) EXPECT_EQ(count, 1);
}

// Each bad input: an error naming the cause, and no output directory at all.
TEST(PrepText, BadInputsLeaveNoOutput) {
  struct Case {
    std::string csv, expect;
  };
  const std::vector<Case> cases{
      {"", "the CSV file is empty"},
      {"label,text\n", "holds 0 data row(s)"},
      {"text,other\ngood,1\nbad,2\n", "the header has no 'label' column"},
      {"label,body\n1,good\n2,bad\n", "the header has no 'text' column; expected a header"},
      {"label,text,label\n1,good,1\n2,bad,2\n", "two 'label' columns"},
      {"label,text\n1,good\n,bad\n", "line 3: the label is empty"},
      {"label,text\n1,good\n\xC0\xAF,bad\n", "line 3: the label is not valid UTF-8"},
      {"label,text\n1,good\n1,bad\n1,film\n", "every row has the label '1'"},
      {"label,text\n1,good\n2,bad \"x\"\n", "line 3: a quote inside an unquoted field"},
      {"label,text\n1,good\n2,bad\n1,\"open\n", "line 4: a quoted field opened here"},
  };
  for (const Case& c : cases) {
    const std::string dir = make_temp_dir();
    const TextPrepOptions o = options_for(dir, c.csv);
    const std::string e = error_of([&] { prep_text(o); });
    EXPECT_CONTAINS(e, c.expect);
    if (c.expect.find("label '") == std::string::npos) {
      EXPECT_CONTAINS(e, o.csv_path);
    }
    EXPECT_FALSE(std::filesystem::exists(o.out_dir)) << c.expect;
  }
  // Too few rows for both splits.
  const std::string dir = make_temp_dir();
  TextPrepOptions o = options_for(dir, "label,text\na,good\nb,bad\n");
  o.test_frac = 0.2;  // round(1 * 0.2) = 0 test rows
  EXPECT_CONTAINS(error_of([&] { prep_text(o); }), "both need at least one");
  EXPECT_FALSE(std::filesystem::exists(o.out_dir));
  // A vocabulary without [SEP].
  write_file(o.vocab_path, "[PAD]\n[UNK]\n[CLS]\ngood\n");
  o.test_frac = 0.5;
  std::string e = error_of([&] { prep_text(o); });
  EXPECT_CONTAINS(e, o.vocab_path);
  EXPECT_CONTAINS(e, "no [SEP] token");
  EXPECT_FALSE(std::filesystem::exists(o.out_dir));
  // Bad options.
  write_vocab(dir);
  o.max_len = 1;
  EXPECT_CONTAINS(error_of([&] { prep_text(o); }), "--max-len must be in [2,");
  o.max_len = 8;
  o.test_frac = 1.0;
  EXPECT_CONTAINS(error_of([&] { prep_text(o); }), "--test-frac must be in (0, 1)");
  EXPECT_FALSE(std::filesystem::exists(o.out_dir));
}

TEST(PrepText, FailingToWriteTestRemovesTrain) {
  const std::string dir = make_temp_dir();
  const TextPrepOptions o = options_for(dir, "label,text\na,good\nb,bad\na,film\nb,very\n");
  // A directory where test.h5 should go: the rename of test.h5 fails after train.h5 is written.
  std::filesystem::create_directories(o.out_dir + "/test.h5/blocker");
  const std::string e = error_of([&] {
    TextPrepOptions opt = o;
    opt.test_frac = 0.5;
    prep_text(opt);
  });
  EXPECT_CONTAINS(e, "test.h5");
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/train.h5"));
  for (const auto& entry : std::filesystem::directory_iterator(o.out_dir))
    EXPECT_EQ(entry.path().filename(), "test.h5") << "left behind: " << entry.path();
}

}  // namespace
