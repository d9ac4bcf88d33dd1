// The text inputs of prep_text beyond a label,text CSV: JSON Lines (happy path and every kind
// of bad line), field names, cased and uncased vocabularies (tokenizer files, the option, the
// inference; a small cased fixture written here and all-MiniLM-L6-v2's real uncased one),
// sentence pairs with /token_type_ids and longest_first truncation, and the schema checks of
// /token_type_ids when a file is opened.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
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
    frost::testing::write_file;
using frost::data::decide_lower_case, frost::data::H5Dataset, frost::data::longest_first,
    frost::data::prep_text, frost::data::read_jsonl, frost::data::TextPrepOptions,
    frost::data::TextPrepSummary;
using frost::text::WordPieceTokenizer;
using Strings = std::vector<std::string>;

// Uncased: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3, then lower-case words.
const Strings kUncased{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film", "very", "##s",
                       ",",     "not",   "w0",    "w1",    "w2",   "w3",  "w4",   "w5",   "w6",
                       "w7",    "w8",    "w9",    "?",     "is",   "it"};
// Cased: capitalised words as a cased BERT vocabulary has them (5 of 9 whole words).
const Strings kCased{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "The", "the",  "Paris",
                     "paris", "Café",  "cafe",  "##s",   ".",   "Good", "Bad"};

std::string write_vocab(const std::string& dir, const Strings& tokens) {
  std::string text;
  for (const auto& t : tokens) text += t + "\n";
  std::filesystem::create_directories(dir);
  write_file(dir + "/vocab.txt", text);
  return dir + "/vocab.txt";
}

TextPrepOptions options_for(const std::string& dir, const std::string& name,
                            const std::string& content, const Strings& vocab = kUncased) {
  std::filesystem::create_directories(dir);
  write_file(dir + "/" + name, content);
  TextPrepOptions o;
  o.csv_path = dir + "/" + name;
  o.vocab_path = write_vocab(dir + "/vocab", vocab);
  o.out_dir = dir + "/out";
  o.max_len = 8;
  o.test_frac = 0.5;
  return o;
}

struct Rows {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<uint8_t>> mask, types;
  std::vector<int64_t> labels;
};

Rows read_all(const std::string& path) {
  const H5Dataset ds = H5Dataset::open({path});
  const int64_t n = ds.size(), len = ds.info().sample_shape.at(0);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  std::vector<int32_t> ids(static_cast<size_t>(n * len));
  std::vector<uint8_t> mask(static_cast<size_t>(n * len)), types(static_cast<size_t>(n * len));
  Rows r;
  r.labels.resize(static_cast<size_t>(n));
  ds.read(idx, ids.data(), r.labels.data(), mask.data(),
          ds.info().has_token_type_ids ? types.data() : nullptr);
  for (int64_t i = 0; i < n; ++i) {
    r.ids.emplace_back(ids.begin() + i * len, ids.begin() + (i + 1) * len);
    r.mask.emplace_back(mask.begin() + i * len, mask.begin() + (i + 1) * len);
    if (ds.info().has_token_type_ids)
      r.types.emplace_back(types.begin() + i * len, types.begin() + (i + 1) * len);
  }
  return r;
}

// Rows of both files keyed by ids (for comparing conversions of the same rows).
std::map<std::vector<int32_t>, int64_t> all_rows(const TextPrepSummary& s) {
  std::map<std::vector<int32_t>, int64_t> out;
  for (const std::string& p : {s.train.path, s.test.path}) {
    const Rows r = read_all(p);
    for (size_t i = 0; i < r.ids.size(); ++i) out[r.ids[i]] = r.labels[i];
  }
  return out;
}

// ---- JSONL ----------------------------------------------------------------------------------

TEST(PrepTextJsonl, SameRowsAsTheCsvOfTheSameData) {
  const std::string dir = make_temp_dir();
  const TextPrepOptions csv = options_for(dir + "/c", "data.csv",
                                          "label,text\npos,good film\nneg,bad films\n"
                                          "pos,\"very good, very\"\nneg,not good\n");
  // Blank lines (also with spaces and CR), CRLF, a BOM, extra keys, keys in any order.
  TextPrepOptions jsonl = options_for(
      dir + "/j", "data.jsonl",
      "\xEF\xBB\xBF{\"label\": \"pos\", \"text\": \"good film\"}\r\n"
      "\n   \r\n"
      "{\"text\": \"bad films\", \"label\": \"neg\", \"id\": 7}\n"
      "{\"label\":\"pos\",\"text\":\"very good, very\",\"meta\":{\"a\":[1]}}\n"
      "{\"label\": \"neg\", \"text\": \"not good\"}");  // no final newline
  const TextPrepSummary a = prep_text(csv), b = prep_text(jsonl);
  EXPECT_EQ(a.format, "csv");
  EXPECT_EQ(b.format, "jsonl");
  EXPECT_FALSE(b.pairs);
  EXPECT_EQ(b.token_lengths, a.token_lengths);
  EXPECT_EQ(b.label_values, (Strings{"neg", "pos"}));
  EXPECT_EQ(all_rows(a), all_rows(b));
  EXPECT_EQ(all_rows(a).size(), 4u);

  // --format jsonl for another extension; integer labels; other field names.
  TextPrepOptions named = options_for(dir + "/n", "data.txt",
                                      "{\"y\": 1, \"body\": \"good film\"}\n"
                                      "{\"y\": -2, \"body\": \"bad films\"}\n"
                                      "{\"y\": 1, \"body\": \"very good, very\"}\n"
                                      "{\"y\": -2, \"body\": \"not good\"}\n");
  named.format = "jsonl";
  named.text_field = "body";
  named.label_field = "y";
  const TextPrepSummary c = prep_text(named);
  EXPECT_TRUE(c.integer_labels);
  EXPECT_EQ(c.label_values, (Strings{"-2", "1"}));
  EXPECT_EQ(all_rows(c), all_rows(a));  // -2 -> 0 as neg -> 0
  EXPECT_EQ(read_int64_attr(c.train.path, "class_ids"), (std::vector<int64_t>{-2, 1}));
  // 1 and "1" are one class (an integer is refused only next to named classes).
  const TextPrepOptions mixed = options_for(dir + "/m", "data.jsonl",
                                            "{\"label\": 1, \"text\": \"good film\"}\n"
                                            "{\"label\": \"-2\", \"text\": \"bad films\"}\n"
                                            "{\"label\": \"1\", \"text\": \"very good, very\"}\n"
                                            "{\"label\": -2, \"text\": \"not good\"}\n");
  const TextPrepSummary m = prep_text(mixed);
  EXPECT_EQ(m.label_values, (Strings{"-2", "1"}));
  EXPECT_EQ(all_rows(m), all_rows(a));
  // The same file read as CSV fails, naming it.
  named.format = "csv";
  EXPECT_CONTAINS(error_of([&] { prep_text(named); }), named.csv_path + ": line 1:");
  named.format = "xml";
  EXPECT_CONTAINS(error_of([&] { prep_text(named); }), "--format 'xml' is not one of");
}

TEST(PrepTextJsonl, BadLinesNameFileAndLine) {
  struct Case {
    std::string jsonl, expect;
  };
  const std::string ok = "{\"label\": \"a\", \"text\": \"good\"}\n";
  const std::vector<Case> cases{
      {ok + "\n{\"label\": \"b\", \"text\": \"bad\"\n", "line 3: not valid JSON (parse error"},
      {ok + "{\"label\": \"b\", \"text\": \"bad\"} x\n", "line 2: not valid JSON"},
      {ok + "[\"b\", \"bad\"]\n", "line 2: is a JSON array, not an object"},
      {ok + "{\"label\": \"b\"}\n", "line 2: the object has no \"text\" key"},
      {ok + "{\"text\": \"bad\"}\n", "line 2: the object has no \"label\" key"},
      {ok + "{\"label\": \"b\", \"text\": 5}\n", "line 2: \"text\" is a JSON number, not a string"},
      {ok + "{\"label\": \"b\", \"text\": null}\n", "line 2: \"text\" is a JSON null"},
      {ok + "{\"label\": 1.5, \"text\": \"bad\"}\n",
       "line 2: \"label\" is a JSON non-integer number (1.5)"},
      {ok + "{\"label\": true, \"text\": \"bad\"}\n", "line 2: \"label\" is a JSON boolean"},
      // One class label written as a number among string labels would become a class of its own.
      {ok + "{\"label\": 1, \"text\": \"bad\"}\n",
       "line 2: \"label\" is the integer 1 but line 1's is a name"},
      {"{\"label\": 0, \"text\": \"x\"}\n{\"label\": \"1\", \"text\": \"y\"}\n" + ok,
       "line 3: \"label\" is the name \"a\" but line 1's is an integer"},
      {ok + "{\"label\": \"b\", \"text\": \"  \"}\n", "line 2: \"text\" is empty"},
      {ok + "{\"label\": \"b\", \"text\": \"\"}\n", "line 2: \"text\" is empty"},
      {ok + "{\"label\": \"\", \"text\": \"bad\"}\n", "line 2: the label is empty"},
      {ok + "{\"label\": \"b\", \"text\": \"bad \xC0\xAF\"}\n", "line 2: not valid JSON"},
      {ok + "{\"label\": \"b\", \"text\": \"bad\", \"text_pair\": \"x\"}\n",
       "line 2: has \"text_pair\" but line 1 lacks it"},
      {"\n\n  \n", "holds no JSON object"},
      {ok, "holds 1 record(s)"},
      {ok + ok, "every row has the label 'a'"},
  };
  for (const Case& c : cases) {
    const std::string dir = make_temp_dir();
    const TextPrepOptions o = options_for(dir, "in.jsonl", c.jsonl);
    const std::string e = error_of([&] { prep_text(o); });
    EXPECT_CONTAINS(e, c.expect);
    if (c.expect.find("label '") == std::string::npos) {
      EXPECT_CONTAINS(e, o.csv_path);
    }
    EXPECT_FALSE(std::filesystem::exists(o.out_dir)) << c.expect;
  }
  // An empty text in a CSV is refused the same way.
  const std::string dir = make_temp_dir();
  const TextPrepOptions o = options_for(dir, "in.csv", "label,text\na,good\nb,\" \"\n");
  EXPECT_CONTAINS(error_of([&] { prep_text(o); }), "line 3: the 'text' column is empty");
}

// Multilabel and regression labels in JSONL: arrays (and plain numbers) give the same /targets
// as the '|'-separated text of a CSV with the same rows; wrong types name file, line and index.
TEST(PrepTextJsonl, TaskLabelsAsArraysMatchTheCsvCells) {
  using frost::data::Task;
  // (test.h5 and train.h5 together, keyed by the token ids like all_rows) -> targets
  auto targets_of = [](const TextPrepSummary& s) {
    std::map<std::vector<int32_t>, std::vector<float>> out;
    for (const auto* split : {&s.train, &s.test}) {
      const H5Dataset ds = H5Dataset::open({split->path});
      const int64_t n = ds.size(), len = ds.info().sample_shape.at(0);
      const int64_t k = ds.info().num_targets;
      std::vector<int64_t> idx;
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
      std::vector<int32_t> ids(static_cast<size_t>(n * len));
      std::vector<uint8_t> mask(static_cast<size_t>(n * len));
      std::vector<float> t(static_cast<size_t>(n * k));
      ds.read(idx, ids.data(), nullptr, mask.data());
      ds.read_targets(idx, t.data());
      for (int64_t i = 0; i < n; ++i)
        out[std::vector<int32_t>(ids.begin() + i * len, ids.begin() + (i + 1) * len)] =
            std::vector<float>(t.begin() + i * k, t.begin() + (i + 1) * k);
    }
    return out;
  };
  const std::string dir = make_temp_dir();
  TextPrepOptions csv = options_for(dir + "/mc", "d.csv",
                                    "label,text\ngood|bad,good film\nbad,bad films\n"
                                    ",very good\n7|good,not good\n");
  TextPrepOptions jsonl = options_for(dir + "/mj", "d.jsonl",
                                      "{\"label\": [\"good\", \"bad\"], \"text\": \"good film\"}\n"
                                      "{\"label\": \"bad\", \"text\": \"bad films\"}\n"
                                      "{\"label\": [], \"text\": \"very good\"}\n"
                                      "{\"label\": [7, \"good\"], \"text\": \"not good\"}\n");
  csv.task = jsonl.task = Task::kMultilabel;
  const TextPrepSummary mc = prep_text(csv), mj = prep_text(jsonl);
  EXPECT_EQ(mj.label_values, mc.label_values);
  EXPECT_EQ(targets_of(mj), targets_of(mc));
  EXPECT_EQ(targets_of(mj).size(), 4u);

  csv = options_for(dir + "/rc", "d.csv",
                    "label,text\n0.25|-3,good film\n1e-3|2,bad films\n-1.5|0,very good\n"
                    "4|0.125,not good\n");
  jsonl = options_for(dir + "/rj", "d.jsonl",
                      "{\"label\": [0.25, -3], \"text\": \"good film\"}\n"
                      "{\"label\": \"1e-3|2\", \"text\": \"bad films\"}\n"
                      "{\"label\": [-1.5, 0], \"text\": \"very good\"}\n"
                      "{\"label\": [4, 0.125], \"text\": \"not good\"}\n");
  csv.task = jsonl.task = Task::kRegression;
  EXPECT_EQ(targets_of(prep_text(jsonl)), targets_of(prep_text(csv)));
  // One target as a plain number.
  jsonl = options_for(dir + "/r1", "d.jsonl",
                      "{\"label\": 0.5, \"text\": \"good film\"}\n"
                      "{\"label\": -2, \"text\": \"bad films\"}\n");
  jsonl.task = Task::kRegression;
  const auto one = targets_of(prep_text(jsonl));
  std::multiset<float> values;
  for (const auto& [ids, t] : one) values.insert(t.at(0));
  EXPECT_EQ(values, (std::multiset<float>{-2.0f, 0.5f}));

  struct Case {
    Task task;
    std::string label, expect;
  };
  const std::vector<Case> cases{
      {Task::kMultilabel, "1.5", "line 2: \"label\" is a JSON number (1.5); with --task multilabel"},
      {Task::kMultilabel, "[\"a\", 1.5]", "line 2: \"label\"[1] is a JSON number (1.5)"},
      {Task::kMultilabel, "[\"a|b\"]", "line 2: \"label\"[0] = 'a|b' contains '|'"},
      {Task::kMultilabel, "{\"a\": 1}", "line 2: \"label\" is a JSON object"},
      {Task::kRegression, "[1, \"2\"]", "line 2: \"label\"[1] is a JSON string (\"2\")"},
      {Task::kRegression, "true", "line 2: \"label\" is a JSON boolean (true)"},
      {Task::kClassification, "[\"a\"]", "line 2: \"label\" is a JSON array"},
  };
  for (const Case& c : cases) {
    const std::string d = make_temp_dir();
    TextPrepOptions o = options_for(d, "in.jsonl",
                                    "{\"label\": \"a\", \"text\": \"good\"}\n{\"label\": " +
                                        c.label + ", \"text\": \"bad\"}\n");
    o.task = c.task;
    const std::string e = error_of([&] { prep_text(o); });
    EXPECT_CONTAINS(e, o.csv_path);
    EXPECT_CONTAINS(e, c.expect);
    EXPECT_FALSE(std::filesystem::exists(o.out_dir)) << c.expect;
  }
}

// ---- cased / uncased ------------------------------------------------------------------------

TEST(PrepTextCase, CasedVocabularyKeepsTheCase) {
  const std::string dir = make_temp_dir();
  const std::string csv = "label,text\nx,The Café.\ny,the cafe.\nx,Paris\ny,paris\n";
  TextPrepOptions o = options_for(dir, "in.csv", csv, kCased);
  const TextPrepSummary s = prep_text(o);  // inferred: cased
  EXPECT_FALSE(s.case_decision.lower_case);
  EXPECT_CONTAINS(s.case_decision.source, "inferred from the vocabulary: 5 of 9");
  EXPECT_EQ(read_int64_attr(s.train.path, "lower_case"), (std::vector<int64_t>{0}));
  // ids of the cased fixture: The=4 the=5 Paris=6 paris=7 Café=8 cafe=9 .=11
  std::map<std::vector<int32_t>, int64_t> want{{{2, 4, 8, 11, 3, 0, 0, 0}, 0},
                                               {{2, 5, 9, 11, 3, 0, 0, 0}, 1},
                                               {{2, 6, 3, 0, 0, 0, 0, 0}, 0},
                                               {{2, 7, 3, 0, 0, 0, 0, 0}, 1}};
  EXPECT_EQ(all_rows(s), want);

  // --lower-case true on the same vocabulary: "The Café" becomes "the cafe".
  o.lower_case = true;
  std::filesystem::remove_all(o.out_dir);
  const TextPrepSummary l = prep_text(o);
  EXPECT_TRUE(l.case_decision.lower_case);
  EXPECT_EQ(l.case_decision.source, "--lower-case true");
  want = {{{2, 5, 9, 11, 3, 0, 0, 0}, 0}, {{2, 7, 3, 0, 0, 0, 0, 0}, 0}};
  // two texts per id row now; both labels map to one row each, the last written wins: compare
  // the id rows only
  std::set<std::vector<int32_t>> rows;
  for (const auto& [ids, y] : all_rows(l)) rows.insert(ids);
  EXPECT_EQ(rows, (std::set<std::vector<int32_t>>{{2, 5, 9, 11, 3, 0, 0, 0},
                                                  {2, 7, 3, 0, 0, 0, 0, 0}}));
  EXPECT_EQ(read_int64_attr(l.train.path, "lower_case"), (std::vector<int64_t>{1}));

  // An uncased vocabulary is inferred uncased.
  const auto d = decide_lower_case(dir + "/none/vocab.txt", std::nullopt, kUncased);
  EXPECT_TRUE(d.lower_case);
  EXPECT_CONTAINS(d.source, "0 of 19 whole-word tokens");
}

TEST(PrepTextCase, TokenizerFilesDecideAndContradictionsFail) {
  const std::string dir = make_temp_dir();
  const std::string vocab = write_vocab(dir + "/m", kCased);
  // tokenizer_config.json says uncased: it wins over the inference.
  write_file(dir + "/m/tokenizer_config.json", "{\"do_lower_case\": true, \"x\": 1}");
  auto d = decide_lower_case(vocab, std::nullopt, kCased);
  EXPECT_TRUE(d.lower_case);
  EXPECT_EQ(d.source, "do_lower_case true in " + dir + "/m/tokenizer_config.json");
  EXPECT_TRUE(decide_lower_case(vocab, true, kCased).lower_case);  // agreeing option
  std::string e = error_of([&] { decide_lower_case(vocab, false, kCased); });
  EXPECT_CONTAINS(e, "--lower-case false contradicts do_lower_case true in " + dir +
                         "/m/tokenizer_config.json");
  // Without do_lower_case there, tokenizer.json's BertNormalizer decides.
  write_file(dir + "/m/tokenizer_config.json", "{\"model_max_length\": 512}");
  write_file(dir + "/m/tokenizer.json",
             "{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": false}}");
  d = decide_lower_case(vocab, std::nullopt, kUncased);
  EXPECT_FALSE(d.lower_case);
  EXPECT_CONTAINS(d.source, "normalizer.lowercase false in");
  EXPECT_CONTAINS(error_of([&] { decide_lower_case(vocab, true, kCased); }),
                  "--lower-case true contradicts normalizer.lowercase false");
  write_file(dir + "/m/tokenizer_config.json", "{not json");
  EXPECT_CONTAINS(error_of([&] { decide_lower_case(vocab, std::nullopt, kCased); }),
                  "tokenizer_config.json: is not valid JSON");
}

TEST(PrepTextCase, RealMiniLmVocabularyIsUncased) {
  const std::string model = std::string(FROST_SOURCE_DIR) + "/.cache/models/all-MiniLM-L6-v2";
  if (!std::filesystem::exists(model + "/vocab.txt"))
    GTEST_SKIP() << model << "/vocab.txt is missing (launch/fetch_assets.sh fetches it)";
  const auto tok = WordPieceTokenizer::from_vocab_file(model + "/vocab.txt");
  Strings tokens;
  for (int32_t i = 0; i < tok.vocab_size(); ++i) tokens.push_back(tok.id_to_token(i));
  // Its tokenizer.json says so, and the vocabulary alone says the same.
  auto d = decide_lower_case(model + "/vocab.txt", std::nullopt, tokens);
  EXPECT_TRUE(d.lower_case);
  EXPECT_CONTAINS(d.source, "normalizer.lowercase true in " + model + "/tokenizer.json");
  d = decide_lower_case(make_temp_dir() + "/vocab.txt", std::nullopt, tokens);
  EXPECT_TRUE(d.lower_case);
  EXPECT_CONTAINS(d.source, "inferred from the vocabulary: 0 of");
}

// ---- sentence pairs -------------------------------------------------------------------------

TEST(PrepTextPairs, LongestFirstAsTokenizers) {
  // (n1, n2, budget) -> kept, worked by hand from tokenizers' utils/truncation.rs.
  EXPECT_EQ(longest_first(2, 3, 5), std::make_pair(int64_t{2}, int64_t{3}));  // fits
  EXPECT_EQ(longest_first(2, 9, 5), std::make_pair(int64_t{2}, int64_t{3}));  // cut the longer
  EXPECT_EQ(longest_first(9, 2, 5), std::make_pair(int64_t{3}, int64_t{2}));
  EXPECT_EQ(longest_first(4, 9, 5), std::make_pair(int64_t{2}, int64_t{3}));  // both cut
  EXPECT_EQ(longest_first(9, 4, 5), std::make_pair(int64_t{3}, int64_t{2}));
  EXPECT_EQ(longest_first(9, 9, 5), std::make_pair(int64_t{2}, int64_t{3}));  // tie: 2nd longer
  EXPECT_EQ(longest_first(9, 9, 6), std::make_pair(int64_t{3}, int64_t{3}));
  EXPECT_EQ(longest_first(3, 3, 5), std::make_pair(int64_t{2}, int64_t{3}));
  EXPECT_EQ(longest_first(0, 9, 5), std::make_pair(int64_t{0}, int64_t{5}));
  EXPECT_EQ(longest_first(7, 1, 0), std::make_pair(int64_t{0}, int64_t{0}));
  for (int64_t a = 0; a < 12; ++a)
    for (int64_t b = 0; b < 12; ++b)
      for (int64_t m = 0; m < 12; ++m) {
        const auto [k1, k2] = longest_first(a, b, m);
        EXPECT_LE(k1 + k2, m);
        EXPECT_LE(k1, a);
        EXPECT_LE(k2, b);
        if (a + b >= m) {
          EXPECT_EQ(k1 + k2, m) << a << " " << b << " " << m;
        }
      }
}

TEST(PrepTextPairs, TokenTypeIdsAndTruncation) {
  const std::string dir = make_temp_dir();
  // max_len 8: budget 5 pieces. w-words are one piece each.
  TextPrepOptions o =
      options_for(dir, "pairs.jsonl",
                  "{\"label\": 0, \"text\": \"good\", \"text_pair\": \"bad film\"}\n"
                  "{\"label\": 1, \"text\": \"w1 w2 w3 w4\", \"text_pair\": \"w5 w6 w7 w8 w9\"}\n"
                  "{\"label\": 0, \"text\": \"w1\", \"text_pair\": \"w2 w3 w4 w5 w6 w7\"}\n"
                  "{\"label\": 1, \"text\": \"w1 w2 w3 w4 w5 w6\", \"text_pair\": \"w7\"}\n");
  const TextPrepSummary s = prep_text(o);
  EXPECT_TRUE(s.pairs);
  EXPECT_EQ(s.token_lengths, (std::vector<int64_t>{6, 12, 10, 10}));
  EXPECT_EQ(s.num_truncated, 3);
  struct Row {
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask, types;
  };
  // [CLS]=2 [SEP]=3 good=4 bad=5 film=6 wK=11+K
  const std::vector<Row> want{
      {{2, 4, 3, 5, 6, 3, 0, 0}, {1, 1, 1, 1, 1, 1, 0, 0}, {0, 0, 0, 1, 1, 1, 0, 0}},
      // 4 + 5 > 5: both cut, the shorter (first) to 5 / 2 = 2, the longer to 3
      {{2, 12, 13, 3, 16, 17, 18, 3}, {1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 1, 1, 1, 1}},
      // 1 + 6: only the longer (second) is cut, to 4
      {{2, 12, 3, 13, 14, 15, 16, 3}, {1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1, 1, 1}},
      // 6 + 1: only the longer (first) is cut, to 4
      {{2, 12, 13, 14, 15, 3, 18, 3}, {1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 0, 1, 1}},
  };
  size_t found = 0;
  for (const std::string& p : {s.train.path, s.test.path}) {
    const H5Dataset ds = H5Dataset::open({p});
    EXPECT_TRUE(ds.info().has_token_type_ids);
    const Rows r = read_all(p);
    for (size_t i = 0; i < r.ids.size(); ++i)
      for (const Row& w : want)
        if (w.ids == r.ids[i]) {
          ++found;
          EXPECT_EQ(r.mask[i], w.mask);
          EXPECT_EQ(r.types[i], w.types);
        }
    // Reads in another order give the same rows (the spans follow the indices).
    if (ds.size() == 2) {
      std::vector<int32_t> ids(16);
      std::vector<uint8_t> t(16);
      ds.read({1, 0}, ids.data(), nullptr, nullptr, t.data());
      EXPECT_EQ(std::vector<uint8_t>(t.begin(), t.begin() + 8), r.types[1]);
      EXPECT_EQ(std::vector<uint8_t>(t.begin() + 8, t.end()), r.types[0]);
    }
  }
  EXPECT_EQ(found, 4u);

  // CSV pairs; a single-text file has no /token_type_ids and refuses to read them.
  TextPrepOptions c = options_for(dir + "/c", "p.csv",
                                  "label,text,text_pair\n0,good,bad film\n1,bad,good\n"
                                  "0,film,bad\n1,bad,film\n");
  EXPECT_TRUE(prep_text(c).pairs);
  c = options_for(dir + "/d", "p.csv", "label,text,text_pair\n0,good,bad film\n1,bad,\n");
  EXPECT_CONTAINS(error_of([&] { prep_text(c); }), "line 3: the 'text_pair' column is empty");
  c = options_for(dir + "/e", "p.csv", "label,text\n0,good\n1,bad\n0,film\n1,very\n");
  const TextPrepSummary single = prep_text(c);
  const H5Dataset ds = H5Dataset::open({single.train.path});
  EXPECT_FALSE(ds.info().has_token_type_ids);
  std::vector<int32_t> ids(8);
  std::vector<uint8_t> t(8);
  EXPECT_CONTAINS(error_of([&] { ds.read({0}, ids.data(), nullptr, nullptr, t.data()); }),
                  "has no /token_type_ids");
  o.max_len = 2;
  std::filesystem::remove_all(o.out_dir);
  EXPECT_CONTAINS(error_of([&] { prep_text(o); }), "--max-len must be >= 3 for sentence pairs");
}

// ---- /token_type_ids schema -----------------------------------------------------------------

TEST(TokenTypeSchema, BadArraysAreRefusedAtOpen) {
  const std::string dir = make_temp_dir();
  const int64_t len = 4;
  const std::vector<int32_t> tokens{2, 5, 3, 0, 2, 5, 3, 6};
  const std::vector<int64_t> labels{0, 1};
  const std::vector<uint8_t> mask{1, 1, 1, 0, 1, 1, 1, 1};
  auto make = [&](const std::string& name) {
    return frost::testing::write_tokens(dir + "/" + name, len, 2, tokens, labels, mask);
  };
  struct Case {
    const char* name;
    hid_t file_type, mem_type;
    std::vector<hsize_t> dims;
    std::vector<int32_t> values;
    std::string expect;
  };
  const std::vector<Case> cases{
      {"shape.h5", H5T_STD_U8LE, H5T_NATIVE_INT32, {2, 3}, {0, 0, 1, 0, 0, 1},
       "/token_type_ids has shape [2, 3] but /inputs has [2, 4]"},
      {"dtype.h5", H5T_IEEE_F32LE, H5T_NATIVE_INT32, {2, 4}, {0, 0, 1, 0, 0, 0, 1, 1},
       "/token_type_ids has dtype float32 but must be an integer type"},
      {"value.h5", H5T_STD_I32LE, H5T_NATIVE_INT32, {2, 4}, {0, 0, 1, 0, 0, 0, 2, 0},
       "/token_type_ids[1, 2] = 2 but token types must be 0 or 1"},
      {"runs.h5", H5T_STD_U8LE, H5T_NATIVE_INT32, {2, 4}, {0, 1, 0, 1, 0, 0, 0, 0},
       "/token_type_ids row 0 has type 1 at columns 1 and 3 with 0 between"},
  };
  for (const Case& c : cases) {
    const std::string path = make(c.name);
    frost::testing::edit_file(path, [&](hid_t file) {
      frost::testing::replace_dataset(file, "token_type_ids", c.file_type, c.dims,
                                      c.values.data(), c.mem_type);
    });
    const std::string e = error_of([&] { H5Dataset::open({path}); });
    EXPECT_CONTAINS(e, path);
    EXPECT_CONTAINS(e, c.expect);
  }
  // Without /attention_mask.
  const std::string nomask =
      frost::testing::write_tokens(dir + "/nomask.h5", len, 2, tokens, labels);
  const std::vector<uint8_t> ok{0, 0, 1, 0, 0, 0, 1, 1};
  frost::testing::edit_file(nomask, [&](hid_t file) {
    frost::testing::replace_dataset(file, "token_type_ids", H5T_STD_U8LE, {2, 4}, ok.data(),
                                    H5T_NATIVE_UINT8);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({nomask}); }),
                  "/token_type_ids is present but /attention_mask is not");
  // A good one reads back bit for bit; shards must agree on having it.
  const std::string good = make("good.h5");
  frost::testing::edit_file(good, [&](hid_t file) {
    frost::testing::replace_dataset(file, "token_type_ids", H5T_STD_U8LE, {2, 4}, ok.data(),
                                    H5T_NATIVE_UINT8);
  });
  const H5Dataset ds = H5Dataset::open({good});
  ASSERT_TRUE(ds.info().has_token_type_ids);
  std::vector<int32_t> ids(8);
  std::vector<uint8_t> t(8, 9);
  ds.read({0, 1}, ids.data(), nullptr, nullptr, t.data());
  EXPECT_EQ(t, ok);
  const std::string plain = make("plain.h5");
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({good, plain}); }),
                  "dataset shards disagree on /token_type_ids");
}

}  // namespace
