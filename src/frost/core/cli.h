// Command-line parsing shared by Frost's programs (Boost.Program_options).
#pragma once

#include <boost/program_options.hpp>

#include <cctype>
#include <map>
#include <string>

namespace frost::cli {

/// Parses `argv` against `options` (and `positional`) the way every Frost program does: the
/// Boost default style without prefix guessing, so an abbreviation such as "--iter" or
/// "--train.epoch" is an error ("unrecognised option") rather than silently the option it
/// begins ("--iters", "--train.epochs"); see boost::program_options::command_line_style.
/// The caller stores the result (and notifies). Throws boost::program_options::error.
inline boost::program_options::parsed_options parse_strict(
    int argc, const char* const argv[], const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {}) {
  namespace po = boost::program_options;
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  return po::command_line_parser(argc, argv)
      .options(options)
      .style(style)
      .positional(positional)
      .run();
}

namespace detail {
// Reads the placeholder values of a Boost error (a protected member) through a pointer to member.
struct SubstitutionAccess : boost::program_options::error_with_option_name {
  static std::map<std::string, std::string>& of(boost::program_options::error_with_option_name& e) {
    return e.*(&SubstitutionAccess::m_substitutions);
  }
};

// True when `text` holds "%name%" with a name of letters and '_' (a Boost placeholder's form).
inline bool has_placeholder(const std::string& text) {
  for (size_t i = text.find('%'); i != std::string::npos; i = text.find('%', i + 1)) {
    size_t j = i + 1;
    while (j < text.size() && (std::isalpha(static_cast<unsigned char>(text[j])) || text[j] == '_'))
      ++j;
    if (j > i + 1 && j < text.size() && text[j] == '%') return true;
  }
  return false;
}
}  // namespace detail

/// The message of a Boost.Program_options error, for any user input. Boost 1.74's
/// error_with_option_name::what() fills the user's text into placeholders such as %value% or
/// %invalid_line% with a loop that never ends when that text itself holds a placeholder (a
/// value "%value%" would hang the program; found by tests/fuzz/fuzz_config.cpp). Texts of that
/// form have every '%' written as "%25" (percent-encoding) before what() builds the message.
inline std::string error_text(boost::program_options::error& e) {
  if (auto* named = dynamic_cast<boost::program_options::error_with_option_name*>(&e)) {
    for (auto& [name, text] : detail::SubstitutionAccess::of(*named)) {
      if (!detail::has_placeholder(text)) continue;
      std::string safe;
      for (char ch : text) safe += ch == '%' ? std::string("%25") : std::string(1, ch);
      text = std::move(safe);
    }
  }
  return e.what();
}

}  // namespace frost::cli
