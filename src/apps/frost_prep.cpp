// frost-prep: converts public datasets into Frost HDF5 files (schema: docs/data.md).
//
//   frost-prep fashion-mnist --src DIR --out DIR [--classes 0-4] [--chunk-rows N]
//   frost-prep text --csv FILE --vocab VOCAB --out DIR [--max-len 128] [--test-frac 0.2]
//                   [--seed 0] [--chunk-rows N]
//
// A thin main over frost::data::prep_fashion_mnist and frost::data::prep_text. Exit status:
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
#include "frost/data/prep.h"
#include "frost/data/text_prep.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: frost-prep fashion-mnist --src DIR --out DIR [--classes LIST] [--chunk-rows N]\n"
    "       frost-prep text --csv FILE --vocab VOCAB --out DIR [--max-len N] [--test-frac F]\n"
    "                       [--seed S] [--chunk-rows N]\n"
    "\n"
    "fashion-mnist: converts Fashion-MNIST (the four *-ubyte[.gz] IDX files in DIR) into\n"
    "OUT/train.h5 and OUT/test.h5, keeping the listed classes relabelled 0..k-1 in ascending\n"
    "class order.\n"
    "text: tokenizes a CSV with 'label' and 'text' columns with a BERT WordPiece vocabulary\n"
    "and writes a seeded, stratified split as OUT/train.h5 and OUT/test.h5 (token ids and\n"
    "attention mask, [N, max-len]).\n";

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
  options.csv_path = vm["csv"].as<std::string>();
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
            << ", labels";
  for (size_t c = 0; c < s.label_values.size(); ++c)
    std::cout << (c ? ", " : " ") << "'" << s.label_values[c] << "' -> " << c;
  std::cout << "\n"
            << "  " << s.train.path << ": " << s.train.num_samples << " samples ("
            << per_class(s.train_per_class) << ")\n"
            << "  " << s.test.path << ": " << s.test.num_samples << " samples ("
            << per_class(s.test_per_class) << ")\n"
            << "  tokens per row incl. [CLS]/[SEP]: median " << quantile(0.5) << ", p95 "
            << quantile(0.95) << ", p99 " << quantile(0.99) << ", max " << lengths.back()
            << "; over 64: " << longer_than(64) << ", over 128: " << longer_than(128)
            << "; truncated to --max-len " << s.max_len << ": " << s.num_truncated << "\n"
            << "  vocabulary " << options.vocab_path << " (" << s.vocab_size << " tokens)\n"
            << std::fixed << std::setprecision(3) << "  time: read " << s.read_s
            << " s, tokenize " << s.tokenize_s << " s, write " << s.write_s << " s\n";
  return 0;
}

int run(int argc, char** argv) {
  po::options_description common("options of both");
  common.add_options()
      ("help,h", "print this help and exit")
      ("out", po::value<std::string>()->value_name("DIR"),
       "output directory (created if missing) for train.h5 and test.h5")
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
      ("csv", po::value<std::string>()->value_name("FILE"),
       "RFC 4180 CSV with a header holding 'label' and 'text' columns")
      ("vocab", po::value<std::string>()->value_name("VOCAB"),
       "WordPiece vocab.txt of an uncased BERT (e.g. all-MiniLM-L6-v2's)")
      ("max-len", po::value<int64_t>()->default_value(128)->value_name("N"),
       "tokens per row incl. [CLS] and [SEP]; longer texts are truncated, shorter padded")
      ("test-frac", po::value<double>()->default_value(0.2, "0.2")->value_name("F"),
       "fraction of each class that goes to test.h5, in (0, 1)")
      ("seed", po::value<uint64_t>()->default_value(0)->value_name("S"),
       "seed of the shuffle that makes the split and orders the rows");
  po::options_description hidden;
  hidden.add_options()("dataset", po::value<std::string>(), "dataset to convert");
  po::options_description visible;
  visible.add(common).add(fmnist).add(text);
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
                                   "'fashion-mnist' or 'text' (see frost-prep --help)");
  const std::string dataset = vm["dataset"].as<std::string>();
  FROST_CHECK(dataset == "fashion-mnist" || dataset == "text", "unknown dataset '", dataset,
              "'; supported: fashion-mnist, text");
  // An option of the other subcommand is a mistake, not something to ignore silently.
  const po::options_description& own = dataset == "text" ? text : fmnist;
  for (const auto& [name, value] : vm) {
    if (value.defaulted() || name == "dataset" || common.find_nothrow(name, false) != nullptr)
      continue;
    FROST_CHECK(own.find_nothrow(name, false) != nullptr, "--", name, " is not an option of '",
                dataset, "' (see frost-prep --help)");
  }
  if (dataset == "fashion-mnist") {
    FROST_CHECK(vm.count("src") && vm.count("out"), "--src and --out are required "
                                                    "(see frost-prep --help)");
    return prep_fashion_mnist(vm);
  }
  FROST_CHECK(vm.count("csv") && vm.count("vocab") && vm.count("out"),
              "--csv, --vocab and --out are required (see frost-prep --help)");
  return prep_text(vm);
}

}  // namespace

int main(int argc, char** argv) {
  return frost::apps::run_program("frost-prep", [&] { return run(argc, argv); });
}
