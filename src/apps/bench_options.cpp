#include "apps/bench_options.h"

#include <cctype>
#include <cstdint>
#include <sstream>

#include "frost/core/cli.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"

namespace po = boost::program_options;

namespace frost::bench {

BenchCommandLine::BenchCommandLine(std::string word_name, std::string usage,
                                   std::string see_help, std::string extra_word_error)
    : word_name_(std::move(word_name)), usage_(std::move(usage)), see_help_(std::move(see_help)),
      extra_word_error_(std::move(extra_word_error)) {
  options_.add_options()("help,h", "print this help and exit");
}

std::optional<std::string> BenchCommandLine::parse(int argc, const char* const* argv,
                                                   std::string& word) {
  po::options_description all;
  all.add(options_).add(hidden_);
  po::options_description word_option;
  word_option.add_options()(word_name_.c_str(), po::value<std::string>(&word));
  all.add(word_option);
  po::positional_options_description positional;
  positional.add(word_name_.c_str(), 1);
  po::variables_map vm;
  try {
    // No guessing: "--iter" must be an error, not silently "--iters".
    po::store(cli::parse_strict(argc, argv, all, positional), vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    throw Error(extra_word_error_ + "; " + see_help_);
  } catch (po::error& e) {
    throw Error(cli::error_text(e) + "; " + see_help_);
  }
  if (vm.count("help") == 0) return std::nullopt;
  std::ostringstream os;
  os << usage_ << "\n" << options_;
  return os.str();
}

int64_t parse_bytes(const std::string& text, const char* option) {
  const auto bad = [&](const std::string& why) {
    return Error(detail::str_cat("--", option, " '", text, "' ", why,
                                 ": expected a byte count such as 8, 1K, 64M or 1G "
                                 "(binary: K = 1024)"));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) throw bad(digits == 0 ? "is not a number" : "is too large");
  int64_t value = std::stoll(text.substr(0, digits));
  std::string suffix = text.substr(digits);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (!suffix.empty() && (suffix[0] == 'K' || suffix[0] == 'M' || suffix[0] == 'G')) {
    shift = suffix[0] == 'K' ? 10 : suffix[0] == 'M' ? 20 : 30;
    suffix.erase(0, 1);
    if (suffix == "IB") suffix = "B";
  }
  if (!(suffix.empty() || suffix == "B")) throw bad("has an unknown unit");
  if (value > (INT64_MAX >> shift)) throw bad("is too large");
  return value << shift;
}

std::string format_bytes(int64_t b) {
  if (b >= (1LL << 30) && b % (1LL << 30) == 0) return std::to_string(b >> 30) + " GiB";
  if (b >= (1LL << 20) && b % (1LL << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b >= (1LL << 10) && b % (1LL << 10) == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

void check_csv_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0                ? "/"
                                                      : path.substr(0, slash);
  FROST_CHECK(fs::exists(dir), "--csv '", path, "': directory '", dir, "' does not exist");
}

}  // namespace frost::bench
