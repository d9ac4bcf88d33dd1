// Small string helpers shared by the config, the fault injection, the Trainer and error
// messages. No LibTorch.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace frost {

/// The comma-separated items of `s`, each trimmed of spaces and tabs; empty items are dropped
/// ("a, b,,c " -> {"a", "b", "c"}).
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

/// `text` as a message may quote it: user input (a line of a file, a command-line value, a
/// file name) shown as it is when it is printable, and as escapes where it is not, so that a
/// binary blob neither drives the terminal nor hides what it holds. Valid UTF-8 is kept,
/// except control characters; control bytes (0x00-0x1F, 0x7F), C1 controls (U+0080-U+009F,
/// which terminals also obey) and bytes that are not part of valid UTF-8 (RFC 3629: no overlong
/// forms, no surrogates, nothing above U+10FFFF) become "\xNN" with two upper-case hex digits:
///   printable("a\tb\xff") == "a\\x09b\\xFF"
/// At most `max_bytes` bytes of `text` are shown, never part of a character; "..." marks that
/// more was left out.
std::string printable(std::string_view text, size_t max_bytes = std::string_view::npos);

}  // namespace frost
