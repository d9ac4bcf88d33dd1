// frost-prep: converts public datasets into Frost HDF5 files (schema: docs/data.md).
//
//   frost-prep fashion-mnist --src DIR --out DIR [--classes 0-4] [--chunk-rows N]
//   frost-prep text --input FILE --vocab VOCAB --out DIR [--format csv|jsonl|auto]
//                   [--text-field text] [--label-field label] [--pair-field text_pair]
//                   [--lower-case true|false] [--max-len 128] [--test-frac 0.2] [--seed 0]
//                   [--merges merges.txt] [--add-prefix-space true|false] [--chunk-rows N]
//   frost-prep synthetic --kind image|tokens --rows N --out DIR [--shape C,H,W] [--seq-len L]
//                   [--min-len N] [--vocab-size V] [--num-classes K] [--seed S] [--raw]
//                   [--chunk-rows N]
//   frost-prep images --src ROOT | --csv FILE --out DIR [--size S] [--resize-mode crop|pad]
//                   [--channels 1|3|auto] [--test-frac F] [--seed S] [--labels NAMES]
//                   [--compress 0-9] [--on-bad-image error|skip] [--threads N] [--chunk-rows N]
//
// A thin main over frost::data::prep_fashion_mnist, frost::data::prep_text,
// frost::data::write_synthetic and frost::image::prep_images. Exit status:
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
#include "frost/image/image_prep.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: frost-prep fashion-mnist --src DIR --out DIR [--classes LIST] [--chunk-rows N]\n"
    "       frost-prep text --input FILE --vocab VOCAB --out DIR [--format csv|jsonl|auto]\n"
    "                       [--text-field F] [--label-field F] [--pair-field F]\n"
    "                       [--lower-case true|false] [--max-len N] [--test-frac F]\n"
    "                       [--merges FILE] [--add-prefix-space true|false]\n"
    "                       [--seed S] [--chunk-rows N]\n"
    "       frost-prep synthetic --kind image|tokens --rows N --out DIR [--shape C,H,W]\n"
    "                       [--seq-len L] [--min-len N] [--vocab-size V] [--num-classes K]\n"
    "                       [--seed S] [--raw] [--chunk-rows N]\n"
    "       frost-prep images --src ROOT | --csv FILE --out DIR [--size S] [--resize-mode M]\n"
    "                       [--channels C] [--test-frac F] [--seed S] [--labels NAMES]\n"
    "                       [--compress L] [--on-bad-image error|skip] [--threads N]\n"
    "                       [--chunk-rows N]\n"
    "\n"
    "fashion-mnist: converts Fashion-MNIST (the four *-ubyte[.gz] IDX files in DIR) into\n"
    "OUT/train.h5 and OUT/test.h5, keeping the listed classes relabelled 0..k-1 in ascending\n"
    "class order.\n"
    "text: tokenizes a CSV with 'label' and 'text' columns, or a JSONL file of objects with\n"
    "'label' and 'text' keys, with a BERT WordPiece vocabulary (--vocab vocab.txt) or a\n"
    "RoBERTa byte-level BPE (--vocab vocab.json [--merges merges.txt], or tokenizer.json, or\n"
    "the model folder) and writes a seeded, stratified split as OUT/train.h5 and OUT/test.h5\n"
    "(token ids and attention mask, [N, max-len]). A 'text_pair' column or key makes sentence\n"
    "pairs ([CLS] a [SEP] b [SEP], with token type ids; RoBERTa: <s> a </s></s> b </s>, no\n"
    "token types). WordPiece: the case follows the model's tokenizer files beside vocab.txt,\n"
    "else --lower-case, else the vocabulary (cased when it has capitalised words); BPE: cased\n"
    "unless tokenizer.json or --lower-case says otherwise.\n"
    "synthetic: writes OUT/train.h5 of N random rows of real shapes for benchmarks: uint8\n"
    "images [N, C, H, W] (uniform bytes) or int32 token ids [N, L] with attention mask\n"
    "([CLS], random ids, [SEP], padding; lengths uniform in [min-len, L]); labels uniform\n"
    "over K classes; the same bytes for the same options and seed. --raw also writes the\n"
    "arrays as raw little-endian files and OUT/train.h5.raw.json describing them, for readers\n"
    "without h5py.\n"
    "images: decodes JPEG/PNG images of an ImageFolder tree (ROOT/<class>/<image>; with\n"
    "ROOT/train and ROOT/test (or val) as the split, else a seeded stratified split) or of a\n"
    "CSV of path,label, resizes them to S x S (uint8 [N, C, S, S]) and writes OUT/train.h5\n"
    "and OUT/test.h5; under mpirun one shard per rank, OUT/train-RRRRR-of-WWWWW.h5 (use\n"
    "data.train = OUT/train-*.h5).\n";

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

// --task: classification (the default) | multilabel | regression.
frost::data::Task parse_task_option(const po::variables_map& vm) {
  const std::string task = vm["task"].as<std::string>();
  try {
    return frost::data::parse_task(task);
  } catch (const frost::Error& e) {
    throw frost::Error(std::string("--task: ") + e.what());
  }
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
  if (vm.count("add-prefix-space")) {
    const std::string v = vm["add-prefix-space"].as<std::string>();
    FROST_CHECK(v == "true" || v == "false", "--add-prefix-space '", v,
                "' is not one of: true | false");
    options.add_prefix_space = v == "true";
  }
  options.vocab_path = vm["vocab"].as<std::string>();
  if (vm.count("merges")) options.merges_path = vm["merges"].as<std::string>();
  options.out_dir = vm["out"].as<std::string>();
  options.max_len = vm["max-len"].as<int64_t>();
  options.test_frac = vm["test-frac"].as<double>();
  options.seed = vm["seed"].as<uint64_t>();
  options.chunk_rows = vm["chunk-rows"].as<int64_t>();
  options.task = parse_task_option(vm);
  const frost::data::TextPrepSummary s = frost::data::prep_text(options);

  auto per_class = [&](const std::vector<int64_t>& counts) {
    std::string t;
    if (options.task != frost::data::Task::kClassification) return std::string("random split");
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
            << " (" << s.format << (s.pairs ? ", sentence pairs" : "") << "), "
            << (options.task == frost::data::Task::kClassification
                    ? ""
                    : std::string("task ") + frost::data::task_name(options.task) + ", ")
            << (options.task == frost::data::Task::kRegression ? "targets" : "labels");
  for (size_t c = 0; c < s.label_values.size(); ++c)
    std::cout << (c ? ", " : " ") << "'" << s.label_values[c] << "' -> " << c;
  std::cout << "\n"
            << "  " << s.train.path << ": " << s.train.num_samples << " samples ("
            << per_class(s.train_per_class) << ")\n"
            << "  " << s.test.path << ": " << s.test.num_samples << " samples ("
            << per_class(s.test_per_class) << ")\n"
            << "  " << (s.case_decision.lower_case ? "lower-cased" : "cased (text kept as written)")
            << ": " << s.case_decision.source << "\n"
            << "  tokens per row incl. " << (s.bpe ? "<s>/</s>" : "[CLS]/[SEP]") << ": median " << quantile(0.5) << ", p95 "
            << quantile(0.95) << ", p99 " << quantile(0.99) << ", max " << lengths.back()
            << "; over 64: " << longer_than(64) << ", over 128: " << longer_than(128)
            << "; truncated to --max-len " << s.max_len << ": " << s.num_truncated << "\n"
            << "  " << (s.bpe ? "byte-level BPE " : "WordPiece vocabulary ")
            << (!s.tokenizer_files.tokenizer_json.empty()
                    ? s.tokenizer_files.tokenizer_json
                    : s.tokenizer_files.vocab +
                          (s.bpe ? " + " + s.tokenizer_files.merges : std::string()))
            << " (" << s.vocab_size << " tokens, pad id " << s.pad_id
            << (s.bpe ? std::string(", add_prefix_space ") + (s.add_prefix_space ? "true" : "false")
                      : std::string())
            << ")\n"
            << std::fixed << std::setprecision(3) << "  time: read " << s.read_s
            << " s, tokenize " << s.tokenize_s << " s, write " << s.write_s << " s\n";
  return 0;
}

int prep_images(const po::variables_map& vm) {
  frost::image::ImagePrepOptions o;
  if (vm.count("src")) o.src_dir = vm["src"].as<std::string>();
  if (vm.count("csv")) o.csv_path = vm["csv"].as<std::string>();
  o.out_dir = vm["out"].as<std::string>();
  o.size = vm["size"].as<int64_t>();
  o.resize_mode = frost::image::parse_resize_mode(vm["resize-mode"].as<std::string>());
  const std::string channels = vm["channels"].as<std::string>();
  FROST_CHECK(channels == "1" || channels == "3" || channels == "auto", "--channels '", channels,
              "' is not one of: 1 | 3 | auto");
  o.channels = channels == "auto" ? 0 : std::stoi(channels);
  o.test_frac = vm["test-frac"].as<double>();
  o.seed = vm["seed"].as<uint64_t>();
  if (vm.count("labels")) {
    std::string item;
    const std::string text = vm["labels"].as<std::string>();
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i < text.size() && text[i] != ',') {
        item += text[i];
        continue;
      }
      FROST_CHECK(!item.empty(), "--labels '", text, "' has an empty name");
      o.labels.push_back(item);
      item.clear();
    }
  }
  o.deflate_level = vm["compress"].as<int>();
  const std::string on_bad = vm["on-bad-image"].as<std::string>();
  FROST_CHECK(on_bad == "error" || on_bad == "skip", "--on-bad-image '", on_bad,
              "' is not one of: error | skip");
  o.skip_bad_images = on_bad == "skip";
  o.threads = vm["threads"].as<int>();
  FROST_CHECK(vm.count("threads") == 0 || vm["threads"].defaulted() || o.threads >= 1,
              "--threads must be >= 1, got ", o.threads);
  // Images default to chunks of about 4 MiB (frost::image::ImagePrepOptions::chunk_rows).
  o.chunk_rows = vm["chunk-rows"].defaulted() ? 0 : vm["chunk-rows"].as<int64_t>();
  const frost::image::ImagePrepSummary s = frost::image::prep_images(o);

  auto per_class = [&](const std::vector<int64_t>& counts) {
    std::string t;
    for (size_t c = 0; c < counts.size(); ++c)
      t += (c ? ", " : "") + s.class_names[c] + ": " + std::to_string(counts[c]);
    return t;
  };
  auto sum = [](const std::vector<int64_t>& v) {
    int64_t n = 0;
    for (int64_t x : v) n += x;
    return n;
  };
  if (s.rank != 0) return 0;
  std::cout << "frost-prep: images, " << s.class_names.size() << " classes, "
            << (s.split_from_folders
                    ? "split from the train/test folders"
                    : "seeded stratified split (seed " + std::to_string(o.seed) + ")")
            << ", " << s.channels << " x " << o.size << " x " << o.size << " ("
            << (o.resize_mode == frost::image::ResizeMode::kCrop ? "crop" : "pad") << ")\n";
  if (s.world == 1) {
    std::cout << "  " << s.train.path << ": " << s.train.num_samples << " samples ("
              << per_class(s.train_per_class) << ")\n"
              << "  " << s.test.path << ": " << s.test.num_samples << " samples ("
              << per_class(s.test_per_class) << ")\n";
  } else {
    std::cout << "  " << s.world << " shards per split (" << o.out_dir << "/train-*.h5, "
              << o.out_dir << "/test-*.h5): train " << sum(s.train_per_class) << " samples ("
              << per_class(s.train_per_class) << "), test " << sum(s.test_per_class) << " samples ("
              << per_class(s.test_per_class) << ")\n";
  }
  std::cout << "  mean";
  for (double m : s.mean) std::cout << " " << m;
  std::cout << ", std";
  for (double d : s.std) std::cout << " " << d;
  std::cout << " (pixel/255 over the train images)\n";
  if (!s.skipped.empty())
    std::cout << "  skipped " << s.skipped.size() << " bad image(s), listed in " << s.skipped_list
              << "\n";
  if (s.ignored_files > 0)
    std::cout << "  ignored " << s.ignored_files
              << " file(s) without a .jpg, .jpeg or .png extension\n";
  std::cout << std::fixed << std::setprecision(1) << "  time: " << s.seconds << " s on "
            << s.threads << " thread(s) per rank x " << s.world << " rank(s)\n";
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
  o.task = parse_task_option(vm);
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
  std::cout << "], "
            << (o.task == frost::data::Task::kClassification
                    ? ""
                    : std::string("task ") + frost::data::task_name(o.task) + ", ")
            << o.num_classes
            << (o.task == frost::data::Task::kClassification ? " classes, "
                : o.task == frost::data::Task::kMultilabel   ? " labels, "
                                                             : " targets, ")
            << std::fixed << std::setprecision(1)
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
       "HDF5 chunk size along the sample axis, in rows (images: default about 4 MiB per chunk, "
       "at most 1024 rows)");
  po::options_description fmnist("fashion-mnist options");
  fmnist.add_options()
      ("src", po::value<std::string>()->value_name("DIR"),
       "fashion-mnist: directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; "
       "images: the ImageFolder root ROOT/<class>/<image>")
      ("classes", po::value<std::string>()->default_value("0-9")->value_name("LIST"),
       "classes to keep: ids and inclusive ranges, e.g. 0-4 or 5,7,9 or 0-2,7");
  po::options_description text("text options");
  text.add_options()
      ("input", po::value<std::string>()->value_name("FILE"),
       "text: RFC 4180 CSV with a header naming the columns, or JSONL (one JSON object per "
       "line)")
      ("csv", po::value<std::string>()->value_name("FILE"),
       "text: the older name of --input; images: an RFC 4180 CSV with 'path' and 'label' "
       "columns")
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
       "WordPiece vocab.txt of a BERT (e.g. all-MiniLM-L6-v2's); byte-level BPE vocab.json "
       "(RoBERTa's; with merges.txt) or tokenizer.json; or the model folder holding them")
      ("merges", po::value<std::string>()->value_name("FILE"),
       "byte-level BPE merges.txt (default: the one beside vocab.json)")
      ("add-prefix-space", po::value<std::string>()->value_name("BOOL"),
       "true | false: byte-level BPE only, put a space before each text (RoBERTa: false; "
       "an error when it contradicts tokenizer.json)")
      ("max-len", po::value<int64_t>()->default_value(128)->value_name("N"),
       "tokens per row incl. [CLS] and [SEP]; longer texts are truncated (pairs: the longer "
       "text first, as Hugging Face's longest_first), shorter padded")
      ("test-frac", po::value<double>()->default_value(0.2, "0.2")->value_name("F"),
       "fraction of each class that goes to test.h5, in (0, 1)")
      ("seed", po::value<uint64_t>()->default_value(0)->value_name("S"),
       "seed of the shuffle that makes the split and orders the rows (synthetic: of the "
       "generator)")
      ("task", po::value<std::string>()->default_value("classification")->value_name("TASK"),
       "classification | multilabel (the label column lists a row's labels '|'-separated, "
       "e.g. 'sports|politics', or none) | regression (the label column holds K numbers "
       "'|'-separated); written as /targets, split at random (synthetic: random 0/1 labels or "
       "targets uniform in [-1, 1], K = --num-classes)");
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
  po::options_description images("images options (also --src or --csv, --test-frac, --seed)");
  images.add_options()
      ("size", po::value<int64_t>()->default_value(224)->value_name("S"),
       "side of the stored square images")
      ("resize-mode", po::value<std::string>()->default_value("crop")->value_name("M"),
       "crop: shorter side to S, centre S x S crop; pad: longer side to S, centred on black")
      ("channels", po::value<std::string>()->default_value("auto")->value_name("C"),
       "1 (grey) | 3 (RGB) | auto (1 if every image is grey, else 3)")
      ("labels", po::value<std::string>()->value_name("NAMES"),
       "--csv: the class names in label order, comma-separated; any other label is an error")
      ("compress", po::value<int>()->default_value(0)->value_name("L"),
       "gzip level of the datasets, 0 (none) to 9")
      ("on-bad-image", po::value<std::string>()->default_value("error")->value_name("M"),
       "error: a bad image fails the run, naming it; skip: skip it, list it in "
       "OUT/skipped.txt")
      ("threads", po::value<int>()->default_value(0, "all usable CPUs")->value_name("N"),
       "decoding threads per process");
  po::options_description hidden;
  hidden.add_options()("dataset", po::value<std::string>(), "dataset to convert");
  po::options_description visible;
  visible.add(common).add(fmnist).add(text).add(synth).add(images);
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
                                   "'fashion-mnist', 'text', 'synthetic' or 'images' (see frost-prep "
                                   "--help)");
  const std::string dataset = vm["dataset"].as<std::string>();
  FROST_CHECK(dataset == "fashion-mnist" || dataset == "text" || dataset == "synthetic" ||
                  dataset == "images",
              "unknown dataset '", dataset, "'; supported: fashion-mnist, text, synthetic, images");
  // An option of another subcommand is a mistake, not something to ignore silently.
  const po::options_description& own =
      dataset == "text"        ? text
      : dataset == "synthetic" ? synth
      : dataset == "images"    ? images
                               : fmnist;
  for (const auto& [name, value] : vm) {
    if (value.defaulted() || name == "dataset" || common.find_nothrow(name, false) != nullptr)
      continue;
    if (dataset == "synthetic" && (name == "seed" || name == "task")) continue;  // as text's
    if (dataset == "images" &&
        (name == "src" || name == "csv" || name == "test-frac" || name == "seed"))
      continue;  // shared with fashion-mnist and text
    FROST_CHECK(own.find_nothrow(name, false) != nullptr, "--", name, " is not an option of '",
                dataset, "' (see frost-prep --help)");
  }
  if (dataset == "synthetic") {
    FROST_CHECK(vm.count("kind") && vm.count("rows") && vm.count("out"),
                "--kind, --rows and --out are required (see frost-prep --help)");
    return prep_synthetic(vm);
  }
  if (dataset == "images") {
    FROST_CHECK((vm.count("src") != 0) != (vm.count("csv") != 0) && vm.count("out"),
                "--out and one of --src (an ImageFolder root) and --csv are required (see "
                "frost-prep --help)");
    return prep_images(vm);
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
