// The command line of frost-bench's benchmarks: one parser for all of them. No LibTorch.
#pragma once

#include <boost/program_options.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace frost::bench {

/// A benchmark's command line: `frost-bench WORD [--option value ...]`, where WORD names the
/// benchmark. Parsed the way every Frost program parses (frost::cli::parse_strict: no
/// abbreviations), with --help generated from the same description that parses (STYLE.md,
/// Build).
class BenchCommandLine {
 public:
  /// `word_name`: the option that WORD is the positional form of ("collective"); `usage`
  /// opens --help; `see_help` ends every error message ("see --help"); `extra_word_error` is
  /// the message for a second positional word.
  BenchCommandLine(std::string word_name, std::string usage, std::string see_help,
                   std::string extra_word_error);

  /// The visible options, after --help: `options().add_options()("iters", ...)`.
  boost::program_options::options_description& options() { return options_; }
  /// Options left out of --help (test hooks).
  boost::program_options::options_description& hidden() { return hidden_; }

  /// Parses `argv`, storing values in the variables the options were bound to, and the
  /// positional WORD in `word` (left as it is when absent). Returns the --help text when
  /// --help was given (nothing checked further), else nullopt. Throws frost::Error with a
  /// message for the user, ending in "; <see_help>".
  std::optional<std::string> parse(int argc, const char* const* argv, std::string& word);

 private:
  std::string word_name_, usage_, see_help_, extra_word_error_;
  boost::program_options::options_description options_{"Options"};
  boost::program_options::options_description hidden_;
};

/// Parses a byte count "N" or "N" followed by K, M or G (binary: K = 2^10, M = 2^20,
/// G = 2^30; an optional trailing "B" or "iB" is accepted). Throws frost::Error naming
/// `--option`.
int64_t parse_bytes(const std::string& text, const char* option);

/// "8 B", "64 KiB", "16 MiB", "1 GiB": the largest binary unit that divides `bytes`.
std::string format_bytes(int64_t bytes);

/// Throws frost::Error unless the directory that `--csv path` would be written into exists,
/// so that a run does not fail only after all its measurements: "--csv 'x/a.csv': directory
/// 'x' does not exist".
void check_csv_directory(const std::string& path);

}  // namespace frost::bench
