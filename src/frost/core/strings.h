// Small string helpers shared by the config, the fault injection and the Trainer. No LibTorch.
#pragma once

#include <sstream>
#include <string>
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

}  // namespace frost
