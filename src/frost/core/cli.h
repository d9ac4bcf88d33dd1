// Command-line parsing shared by Frost's programs (Boost.Program_options).
#pragma once

#include <boost/program_options.hpp>

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
  return po::command_line_parser(argc, argv).options(options).style(style).positional(positional).run();
}

}  // namespace frost::cli
