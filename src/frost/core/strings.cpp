#include "frost/core/strings.h"

#include <algorithm>

namespace frost {

namespace {

// Length of the well-formed UTF-8 sequence that starts at s[i] (RFC 3629, Table 3-7 of the
// Unicode Standard), or 0 when none starts there.
size_t utf8_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;  // no overlong forms
    if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

std::string printable(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 3);
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t n = utf8_length(text, i);
    const bool control = (n == 1 && (lead < 0x20 || lead == 0x7F)) ||
                         (n == 2 && lead == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0);
    const size_t shown = n == 0 || control ? 1 : n;  // an escaped sequence goes byte by byte
    if (i + shown > max_bytes) break;
    if (n == 0 || control) {
      out += "\\x";
      out += kHex[lead >> 4];
      out += kHex[lead & 0xF];
    } else {
      out.append(text.substr(i, n));
    }
    i += shown;
  }
  if (i < text.size()) out += "...";
  return out;
}

}  // namespace frost
