#pragma once
// Strict UTF-8 scanning (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), shared
// by the tokenizer's character split and utf8_stream.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hearth {

struct utf8_scan {
  enum kind_t : uint8_t { complete, incomplete, invalid };
  kind_t kind;
  // complete: the character's length. incomplete: all of the input (a valid prefix that needs
  // more bytes). invalid: the maximal subpart to replace by one U+FFFD (Unicode 3.9, D93b), >= 1.
  size_t length;
};

// Scans the character that starts at s[0]; s must not be empty.
inline utf8_scan utf8_scan_one(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return {utf8_scan::complete, 1};
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;       // overlong
    else if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;       // overlong
    else if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return {utf8_scan::invalid, 1};  // continuation byte, C0/C1, F5..FF
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= s.size()) return {utf8_scan::incomplete, s.size()};
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < lo || b > hi) return {utf8_scan::invalid, i};
    lo = 0x80;
    hi = 0xBF;
  }
  return {utf8_scan::complete, need};
}

}  // namespace hearth
