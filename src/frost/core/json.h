// Reading untrusted JSON (safetensors headers, Hugging Face config.json) with nlohmann::json.
//
// Note [JSON nesting depth]
// nlohmann::json parses iteratively, but everything that walks a parsed value recursively
// (dump() for an error message, comparisons, the destructor) takes one stack frame per level
// of nesting: a file of 200000 '[' (400 kB) overflowed the stack and crashed the process
// instead of giving an error. parse_json_bounded refuses more than kMaxJsonDepth levels while
// parsing, before any such walk; 128 is serde_json's recursion limit, which the reference
// safetensors reader inherits. json_excerpt keeps values quoted in messages short.
//
// No LibTorch (frost::core; used by data and models).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

#include "frost/core/error.h"

namespace frost {

/// Deepest nesting of JSON arrays and objects parse_json_bounded accepts (the root is level 1).
inline constexpr int kMaxJsonDepth = 128;
/// Longest JSON text json_excerpt returns before "... (N characters)".
inline constexpr size_t kMaxJsonExcerptChars = 120;

/// nlohmann::json::parse(first, last) for untrusted text (Note [JSON nesting depth]): throws
/// frost::Error "<what> nests JSON arrays and objects more than 128 levels deep<hint>" when
/// arrays and objects nest deeper than kMaxJsonDepth; malformed JSON still throws
/// nlohmann::json::parse_error, for the caller to word.
template <typename Iterator>
nlohmann::json parse_json_bounded(Iterator first, Iterator last, const std::string& what,
                                  const std::string& hint = "") {
  // `depth` counts the arrays and objects that enclose the one starting (0 for the root).
  const auto limit_depth = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    const bool starts = event == nlohmann::json::parse_event_t::object_start ||
                        event == nlohmann::json::parse_event_t::array_start;
    FROST_CHECK(!starts || depth < kMaxJsonDepth, what, " nests JSON arrays and objects more than ",
                kMaxJsonDepth, " levels deep", hint);
    return true;
  };
  return nlohmann::json::parse(first, last, limit_depth);
}

/// `j` as JSON text for a message, cut to kMaxJsonExcerptChars characters plus
/// "... (N characters)" when longer.
inline std::string json_excerpt(const nlohmann::json& j) {
  std::string s = j.dump();
  if (s.size() <= kMaxJsonExcerptChars) return s;
  const size_t total = s.size();
  size_t keep = kMaxJsonExcerptChars;
  while (keep > 0 && (static_cast<unsigned char>(s[keep]) & 0xC0) == 0x80) --keep;  // whole UTF-8
  s.resize(keep);
  return s + "... (" + std::to_string(total) + " characters)";
}

}  // namespace frost
