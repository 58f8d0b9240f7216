#pragma once
// Strict UTF-8 scanning (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), shared
// by the tokenizer's character split and utf8_stream; and one character decoded or encoded.
#include <cstddef>
#include <cstdint>
#include <string>
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

// The code point of one complete character (as utf8_scan_one found it).
inline uint32_t utf8_decode_one(std::string_view c) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(c[i])); };
  switch (c.size()) {
    case 1: return b(0);
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

// Appends the UTF-8 form of code point `cp` (at most U+10FFFF).
inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace hearth
