// Fuzz target: frost-train's configuration (parse_args, which runs Config::validate).
//
// Input: the bytes up to the first NUL are the INI file given as `--config FILE`; the bytes
// after it, split at NULs, are further command-line tokens (at most 16), e.g.
// "[train]\nepochs = 3\n\0--optim.lr\0001e-3". `--config FILE` comes first, so a second
// --config among the tokens is an error rather than a path the fuzzer chose.
// Properties of a successful parse of an INI file alone: the merged configuration
// (Config::to_ini, written to run_dir/config.ini) reads back to the same configuration.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "frost/train/config.h"
#include "fuzz_util.h"

namespace {

constexpr size_t kMaxTokens = 16;

frost::train::ParseResult parse(const std::string& ini_path, const std::vector<std::string>& tokens) {
  std::vector<const char*> argv{"frost-train", "--config", ini_path.c_str()};
  for (const auto& t : tokens) argv.push_back(t.c_str());
  return frost::train::parse_args(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static frost::fuzz::MemFile ini_file;
  static frost::fuzz::MemFile round_trip_file;

  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t ini_bytes = nul ? static_cast<size_t>(nul - data) : size;
  std::vector<std::string> tokens;
  if (nul != nullptr) {
    std::string rest(reinterpret_cast<const char*>(nul + 1), size - ini_bytes - 1);
    size_t from = 0;
    while (tokens.size() < kMaxTokens) {
      const size_t end = rest.find('\0', from);
      tokens.push_back(rest.substr(from, end == std::string::npos ? end : end - from));
      if (end == std::string::npos) break;
      from = end + 1;
    }
  }

  const std::string& path = ini_file.set(data, ini_bytes);
  frost::train::ParseResult result;
  if (!frost::fuzz::succeeds_or_frost_error([&] { result = parse(path, tokens); })) return 0;
  if (result.help) {
    FUZZ_EXPECT(!result.help_text.empty());
    return 0;
  }
  std::string ini;
  FUZZ_EXPECT(frost::fuzz::succeeds_or_frost_error([&] { ini = result.config.to_ini(); }));
  if (!tokens.empty()) return 0;  // command-line values need not survive INI syntax ('#', '\n')

  // config.ini of this run must configure the same run.
  const std::string& again_path = round_trip_file.set(
      reinterpret_cast<const uint8_t*>(ini.data()), ini.size());
  frost::train::ParseResult again;
  FUZZ_EXPECT(frost::fuzz::succeeds_or_frost_error([&] { again = parse(again_path, {}); }));
  FUZZ_EXPECT(again.config.to_ini() == ini);
  return 0;
}
