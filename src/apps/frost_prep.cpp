// frost-prep: converts public datasets into Frost HDF5 files (schema: docs/data.md).
//
//   frost-prep fashion-mnist --src DIR --out DIR [--classes 0-4] [--chunk-rows N]
//
// A thin main over frost::data::prep_fashion_mnist. Exit status: 0 on success, 1 on any
// error (message on stderr as "frost-prep: error: ..."); a failed run leaves no output file.
#include <boost/program_options.hpp>

#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include "frost/core/error.h"
#include "frost/data/prep.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: frost-prep fashion-mnist --src DIR --out DIR [--classes LIST] [--chunk-rows N]\n"
    "\n"
    "Converts Fashion-MNIST (the four *-ubyte[.gz] IDX files in DIR) into OUT/train.h5 and\n"
    "OUT/test.h5, keeping the listed classes relabelled 0..k-1 in ascending class order.\n";

int run(int argc, char** argv) {
  std::string dataset, src, out, classes;
  int64_t chunk_rows = 1024;

  po::options_description visible("options");
  visible.add_options()
      ("help,h", "print this help and exit")
      ("src", po::value<std::string>(&src)->value_name("DIR"),
       "directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
      ("out", po::value<std::string>(&out)->value_name("DIR"),
       "output directory (created if missing) for train.h5 and test.h5")
      ("classes", po::value<std::string>(&classes)->default_value("0-9")->value_name("LIST"),
       "classes to keep: ids and inclusive ranges, e.g. 0-4 or 5,7,9 or 0-2,7")
      ("chunk-rows", po::value<int64_t>(&chunk_rows)->default_value(1024)->value_name("N"),
       "HDF5 chunk size along the sample axis, in rows");
  po::options_description hidden;
  hidden.add_options()("dataset", po::value<std::string>(&dataset), "dataset to convert");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("dataset", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw frost::Error(std::string(e.what()) + " (see frost-prep --help)");
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << visible << "\n";
    return 0;
  }
  FROST_CHECK(vm.count("dataset"), "no dataset named; the first argument must be "
                                   "'fashion-mnist' (see frost-prep --help)");
  FROST_CHECK(dataset == "fashion-mnist", "unknown dataset '", dataset,
              "'; supported: fashion-mnist");
  FROST_CHECK(vm.count("src") && vm.count("out"), "--src and --out are required "
                                                  "(see frost-prep --help)");

  frost::data::FashionMnistPrepOptions options;
  options.src_dir = src;
  options.out_dir = out;
  options.classes = frost::data::parse_class_list(classes, frost::data::kFashionMnistClasses);
  options.chunk_rows = chunk_rows;
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

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const frost::Error& e) {
    std::cerr << "frost-prep: error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "frost-prep: error: " << e.what() << "\n";
  }
  return 1;
}
