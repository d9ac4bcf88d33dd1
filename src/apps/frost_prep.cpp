// frost-prep: converts public datasets into Frost HDF5 files (schema: docs/data.md).
//
//   frost-prep fashion-mnist --src DIR --out DIR [--classes 0-4] [--chunk-rows N]
//   frost-prep text --input FILE --vocab VOCAB --out DIR [--format csv|jsonl|auto]
//                   [--text-field text] [--label-field label] [--pair-field text_pair]
//                   [--lower-case true|false] [--max-len 128] [--test-frac 0.2] [--seed 0]
//                   [--chunk-rows N]
//   frost-prep synthetic --kind image|tokens --rows N --out DIR [--shape C,H,W] [--seq-len L]
//                   [--min-len N] [--vocab-size V] [--num-classes K] [--seed S] [--raw]
//                   [--chunk-rows N]
//
// A thin main over frost::data::prep_fashion_mnist, frost::data::prep_text and
// frost::data::write_synthetic. Exit status:
// 0 on success, 1 on any error (one line on stderr, "frost-prep: error: ...", Note [Error line]
// in app_error.h); a failed run leaves no output file.
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "apps/app_error.h"
#include "frost/core/cli.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/prep.h"
#include "frost/data/synthetic.h"
#include "frost/data/text_prep.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: frost-prep fashion-mnist --src DIR --out DIR [--classes LIST] [--chunk-rows N]\n"
    "       frost-prep text --input FILE --vocab VOCAB --out DIR [--format csv|jsonl|auto]\n"
    "                       [--text-field F] [--label-field F] [--pair-field F]\n"
    "                       [--lower-case true|false] [--max-len N] [--test-frac F]\n"
    "                       [--seed S] [--chunk-rows N]\n"
    "       frost-prep synthetic --kind image|tokens --rows N --out DIR [--shape C,H,W]\n"
    "                       [--seq-len L] [--min-len N] [--vocab-size V] [--num-classes K]\n"
    "                       [--seed S] [--raw] [--chunk-rows N]\n"
    "\n"
    "fashion-mnist: converts Fashion-MNIST (the four *-ubyte[.gz] IDX files in DIR) into\n"
    "OUT/train.h5 and OUT/test.h5, keeping the listed classes relabelled 0..k-1 in ascending\n"
    "class order.\n"
    "text: tokenizes a CSV with 'label' and 'text' columns, or a JSONL file of objects with\n"
    "'label' and 'text' keys, with a BERT WordPiece vocabulary and writes a seeded, stratified\n"
    "split as OUT/train.h5 and OUT/test.h5 (token ids and attention mask, [N, max-len]). A\n"
    "'text_pair' column or key makes sentence pairs ([CLS] a [SEP] b [SEP], with token type\n"
    "ids). The case follows the model's tokenizer files beside vocab.txt, else --lower-case,\n"
    "else the vocabulary (cased when it has capitalised words).\n"
    "synthetic: writes OUT/train.h5 of N random rows of real shapes for benchmarks: uint8\n"
    "images [N, C, H, W] (uniform bytes) or int32 token ids [N, L] with attention mask\n"
    "([CLS], random ids, [SEP], padding; lengths uniform in [min-len, L]); labels uniform\n"
    "over K classes; the same bytes for the same options and seed. --raw also writes the\n"
    "arrays as raw little-endian files and OUT/train.h5.raw.json describing them, for readers\n"
    "without h5py.\n";

int prep_fashion_mnist(const po::variables_map& vm) {
  frost::data::FashionMnistPrepOptions options;
  options.src_dir = vm["src"].as<std::string>();
  options.out_dir = vm["out"].as<std::string>();
  options.classes = frost::data::parse_class_list(vm["classes"].as<std::string>(),
                                                  frost::data::kFashionMnistClasses);
  options.chunk_rows = vm["chunk-rows"].as<int64_t>();
  const frost::data::PrepSummary s = frost::data::prep_fashion_mnist(options);

  std::cout << "frost-prep: fashion-mnist, classes";
  for (size_t i = 0; i < s.class_ids.size(); ++i)
    std::cout << (i ? "," : " ") << s.class_ids[i];
  std::cout << " -> labels 0.." << s.class_ids.size() - 1 << "\n"
            << "  " << s.train.path << ": " << s.train.num_samples << " samples\n"
            << "  " << s.test.path << ": " << s.test.num_samples << " samples\n"
            << "  mean " << s.mean << ", std " << s.std
            << " (pixel/255 over the kept train images)\n";
  return 0;
}

int prep_text(const po::variables_map& vm) {
  frost::data::TextPrepOptions options;
  FROST_CHECK(vm.count("input") + vm.count("csv") == 1,
              "--input and --csv name the same file (--csv is the older name); give one");
  options.csv_path = vm[vm.count("input") ? "input" : "csv"].as<std::string>();
  options.format = vm["format"].as<std::string>();
  options.text_field = vm["text-field"].as<std::string>();
  options.label_field = vm["label-field"].as<std::string>();
  options.pair_field = vm["pair-field"].as<std::string>();
  if (vm.count("lower-case")) {
    const std::string v = vm["lower-case"].as<std::string>();
    FROST_CHECK(v == "true" || v == "false", "--lower-case '", v, "' is not one of: true | false");
    options.lower_case = v == "true";
  }
  options.vocab_path = vm["vocab"].as<std::string>();
  options.out_dir = vm["out"].as<std::string>();
  options.max_len = vm["max-len"].as<int64_t>();
  options.test_frac = vm["test-frac"].as<double>();
  options.seed = vm["seed"].as<uint64_t>();
  options.chunk_rows = vm["chunk-rows"].as<int64_t>();
  const frost::data::TextPrepSummary s = frost::data::prep_text(options);

  auto per_class = [&](const std::vector<int64_t>& counts) {
    std::string t;
    for (size_t c = 0; c < counts.size(); ++c)
      t += (c ? ", " : "") + s.label_values[c] + ": " + std::to_string(counts[c]);
    return t;
  };
  std::vector<int64_t> lengths = s.token_lengths;
  std::sort(lengths.begin(), lengths.end());
  auto quantile = [&](double q) {
    return lengths[std::min(lengths.size() - 1, static_cast<size_t>(q * lengths.size()))];
  };
  auto longer_than = [&](int64_t l) {
    return lengths.end() - std::upper_bound(lengths.begin(), lengths.end(), l);
  };
  std::cout << "frost-prep: text, " << s.token_lengths.size() << " rows of " << options.csv_path
            << " (" << s.format << (s.pairs ? ", sentence pairs" : "") << "), labels";
  for (size_t c = 0; c < s.label_values.size(); ++c)
    std::cout << (c ? ", " : " ") << "'" << s.label_values[c] << "' -> " << c;
  std::cout << "\n"
            << "  " << s.train.path << ": " << s.train.num_samples << " samples ("
            << per_class(s.train_per_class) << ")\n"
            << "  " << s.test.path << ": " << s.test.num_samples << " samples ("
            << per_class(s.test_per_class) << ")\n"
            << "  " << (s.case_decision.lower_case ? "lower-cased" : "cased (text kept as written)")
            << ": " << s.case_decision.source << "\n"
            << "  tokens per row incl. [CLS]/[SEP]: median " << quantile(0.5) << ", p95 "
            << quantile(0.95) << ", p99 " << quantile(0.99) << ", max " << lengths.back()
            << "; over 64: " << longer_than(64) << ", over 128: " << longer_than(128)
            << "; truncated to --max-len " << s.max_len << ": " << s.num_truncated << "\n"
            << "  vocabulary " << options.vocab_path << " (" << s.vocab_size << " tokens)\n"
            << std::fixed << std::setprecision(3) << "  time: read " << s.read_s
            << " s, tokenize " << s.tokenize_s << " s, write " << s.write_s << " s\n";
  return 0;
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> out;
  std::string item;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != ',') {
      item += text[i];
      continue;
    }
    FROST_CHECK(!item.empty() && item.size() <= 9 &&
                    item.find_first_not_of("0123456789") == std::string::npos,
                "--shape '", text, "' is not a list of positive integers like 3,224,224");
    out.push_back(std::stoll(item));
    item.clear();
  }
  return out;
}

int prep_synthetic(const po::variables_map& vm) {
  frost::data::SyntheticOptions o;
  const std::string kind = vm["kind"].as<std::string>();
  FROST_CHECK(kind == "image" || kind == "tokens", "--kind '", kind,
              "' is not one of: image | tokens");
  o.kind = kind == "image" ? frost::data::InputKind::kImage : frost::data::InputKind::kTokens;
  FROST_CHECK(o.kind == frost::data::InputKind::kImage || !vm.count("shape"),
              "--shape is for --kind image; token rows take --seq-len");
  FROST_CHECK(o.kind == frost::data::InputKind::kTokens ||
                  (vm["seq-len"].defaulted() && vm["min-len"].defaulted() &&
                   vm["vocab-size"].defaulted()),
              "--seq-len, --min-len and --vocab-size are for --kind tokens");
  FROST_CHECK(o.kind == frost::data::InputKind::kTokens || vm.count("shape"),
              "--kind image needs --shape C,H,W (e.g. 3,224,224)");
  if (vm.count("shape")) o.image_shape = parse_shape(vm["shape"].as<std::string>());
  o.rows = vm["rows"].as<int64_t>();
  o.seq_len = vm["seq-len"].as<int64_t>();
  o.min_len = vm["min-len"].as<int64_t>();
  o.vocab_size = vm["vocab-size"].as<int64_t>();
  o.num_classes = vm["num-classes"].as<int64_t>();
  o.seed = vm["seed"].as<uint64_t>();
  o.chunk_rows = vm["chunk-rows"].as<int64_t>();
  o.raw = vm.count("raw") > 0;
  frost::data::validate_synthetic([&] {  // the arguments first: no directory for a bad call
    auto checked = o;
    checked.out_path = "-";
    return checked;
  }());
  const std::string dir = vm["out"].as<std::string>();
  frost::fs::create_directories(dir);
  o.out_path = dir + "/train.h5";
  const frost::data::SyntheticSummary s = frost::data::write_synthetic(o);
  std::cout << "frost-prep: synthetic " << kind << ", seed " << o.seed << "\n"
            << "  " << s.path << ": " << s.num_samples << " samples of [";
  for (size_t i = 0; i < s.sample_shape.size(); ++i)
    std::cout << (i ? ", " : "") << s.sample_shape[i];
  std::cout << "], " << o.num_classes << " classes, " << std::fixed << std::setprecision(1)
            << static_cast<double>(s.bytes) / (1 << 20) << " MiB";
  if (s.mean_tokens) std::cout << ", mean length " << s.mean_tokens << " tokens";
  std::cout << "\n";
  if (!s.raw_manifest.empty()) std::cout << "  raw copy: " << s.raw_manifest << "\n";
  return 0;
}

int run(int argc, char** argv) {
  po::options_description common("options of every subcommand");
  common.add_options()
      ("help,h", "print this help and exit")
      ("out", po::value<std::string>()->value_name("DIR"),
       "output directory (created if missing): train.h5 and test.h5 (synthetic: train.h5 only)")
      ("chunk-rows", po::value<int64_t>()->default_value(1024)->value_name("N"),
       "HDF5 chunk size along the sample axis, in rows");
  po::options_description fmnist("fashion-mnist options");
  fmnist.add_options()
      ("src", po::value<std::string>()->value_name("DIR"),
       "directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
      ("classes", po::value<std::string>()->default_value("0-9")->value_name("LIST"),
       "classes to keep: ids and inclusive ranges, e.g. 0-4 or 5,7,9 or 0-2,7");
  po::options_description text("text options");
  text.add_options()
      ("input", po::value<std::string>()->value_name("FILE"),
       "RFC 4180 CSV with a header naming the columns, or JSONL (one JSON object per line)")
      ("csv", po::value<std::string>()->value_name("FILE"), "the older name of --input")
      ("format", po::value<std::string>()->default_value("auto")->value_name("FMT"),
       "csv | jsonl | auto (auto: .jsonl and .json-lines files are JSONL, others CSV)")
      ("text-field", po::value<std::string>()->default_value("text")->value_name("NAME"),
       "column (CSV) or key (JSONL) of the text")
      ("label-field", po::value<std::string>()->default_value("label")->value_name("NAME"),
       "column or key of the class label (JSONL: a string or an integer)")
      ("pair-field", po::value<std::string>()->default_value("text_pair")->value_name("NAME"),
       "column or key of the second text; when present the rows are sentence pairs")
      ("lower-case", po::value<std::string>()->value_name("BOOL"),
       "true | false: lower-case the text (uncased model) or keep it (cased); only needed "
       "when no tokenizer_config.json or tokenizer.json sits beside VOCAB, and an error when "
       "it contradicts them")
      ("vocab", po::value<std::string>()->value_name("VOCAB"),
       "WordPiece vocab.txt of a BERT (e.g. all-MiniLM-L6-v2's)")
      ("max-len", po::value<int64_t>()->default_value(128)->value_name("N"),
       "tokens per row incl. [CLS] and [SEP]; longer texts are truncated (pairs: the longer "
       "text first, as Hugging Face's longest_first), shorter padded")
      ("test-frac", po::value<double>()->default_value(0.2, "0.2")->value_name("F"),
       "fraction of each class that goes to test.h5, in (0, 1)")
      ("seed", po::value<uint64_t>()->default_value(0)->value_name("S"),
       "seed of the shuffle that makes the split and orders the rows (synthetic: of the "
       "generator)");
  po::options_description synth("synthetic options");
  synth.add_options()
      ("kind", po::value<std::string>()->value_name("KIND"), "image | tokens")
      ("rows", po::value<int64_t>()->value_name("N"), "number of rows (samples) to write")
      ("shape", po::value<std::string>()->value_name("C,H,W"),
       "image: channels, height, width, e.g. 3,224,224")
      ("seq-len", po::value<int64_t>()->default_value(128)->value_name("L"),
       "tokens: row width L incl. [CLS] and [SEP]")
      ("min-len", po::value<int64_t>()->default_value(0)->value_name("N"),
       "tokens: shortest row; lengths are uniform in [min-len, L] (0: L/4)")
      ("vocab-size", po::value<int64_t>()->default_value(30522)->value_name("V"),
       "tokens: ids are drawn from [999, V) (BERT-base uncased: 30522)")
      ("num-classes", po::value<int64_t>()->default_value(2)->value_name("K"),
       "labels are uniform over 0..K-1")
      ("raw", "also write raw little-endian arrays and OUT/train.h5.raw.json");
  po::options_description hidden;
  hidden.add_options()("dataset", po::value<std::string>(), "dataset to convert");
  po::options_description visible;
  visible.add(common).add(fmnist).add(text).add(synth);
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("dataset", 1);

  po::variables_map vm;
  try {
    po::store(frost::cli::parse_strict(argc, argv, all, positional), vm);
    po::notify(vm);
  } catch (po::error& e) {
    throw frost::Error(frost::cli::error_text(e) + " (see frost-prep --help)");
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << visible << "\n";
    return 0;
  }
  FROST_CHECK(vm.count("dataset"), "no dataset named; the first argument must be "
                                   "'fashion-mnist', 'text' or 'synthetic' (see frost-prep --help)");
  const std::string dataset = vm["dataset"].as<std::string>();
  FROST_CHECK(dataset == "fashion-mnist" || dataset == "text" || dataset == "synthetic",
              "unknown dataset '", dataset, "'; supported: fashion-mnist, text, synthetic");
  // An option of another subcommand is a mistake, not something to ignore silently.
  const po::options_description& own =
      dataset == "text" ? text : dataset == "synthetic" ? synth : fmnist;
  for (const auto& [name, value] : vm) {
    if (value.defaulted() || name == "dataset" || common.find_nothrow(name, false) != nullptr)
      continue;
    if (dataset == "synthetic" && name == "seed") continue;  // shared with text
    FROST_CHECK(own.find_nothrow(name, false) != nullptr, "--", name, " is not an option of '",
                dataset, "' (see frost-prep --help)");
  }
  if (dataset == "synthetic") {
    FROST_CHECK(vm.count("kind") && vm.count("rows") && vm.count("out"),
                "--kind, --rows and --out are required (see frost-prep --help)");
    return prep_synthetic(vm);
  }
  if (dataset == "fashion-mnist") {
    FROST_CHECK(vm.count("src") && vm.count("out"), "--src and --out are required "
                                                    "(see frost-prep --help)");
    return prep_fashion_mnist(vm);
  }
  FROST_CHECK((vm.count("input") || vm.count("csv")) && vm.count("vocab") && vm.count("out"),
              "--input, --vocab and --out are required (see frost-prep --help)");
  return prep_text(vm);
}

}  // namespace

int main(int argc, char** argv) {
  return frost::apps::run_program("frost-prep", [&] { return run(argc, argv); });
}
