#include "proto/jinja/unicode.h"

#include <algorithm>

#include "proto/jinja/unicode_tables.h"

namespace hearth::jinja::unicode {

namespace {

using unicode_data::case_mapping;
using unicode_data::code_range;

bool in_ranges(const code_range* table, size_t n, char32_t cp) {
  const code_range* end = table + n;
  const code_range* it =
      std::upper_bound(table, end, cp, [](char32_t c, const code_range& r) { return c < r.first; });
  return it != table && (it - 1)->last >= cp;
}

const case_mapping* find_mapping(const case_mapping* table, size_t n, char32_t cp) {
  const case_mapping* end = table + n;
  const case_mapping* it =
      std::lower_bound(table, end, cp, [](const case_mapping& m, char32_t c) { return m.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

void append_mapped(std::string& out, const case_mapping* table, size_t n, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));  // callers map ASCII themselves when it matters
    return;
  }
  const case_mapping* m = find_mapping(table, n, cp);
  if (!m) return append_utf8(out, cp);
  for (char32_t c : m->to) {
    if (c) append_utf8(out, c);
  }
}

}  // namespace

decoded decode(std::string_view s, size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, 1, true};
  uint32_t len;
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07;
  } else {
    return {0xFFFD, 1, false};
  }
  if (pos + len > s.size()) return {0xFFFD, 1, false};
  for (uint32_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return {0xFFFD, 1, false};
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return {0xFFFD, 1, false};
  return {cp, len, true};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += decode(s, i).length) ++n;
  return n;
}

bool is_space(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E:
    case 0x1F: case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_printable(char32_t cp) {
  if (cp >= 0x20 && cp < 0x7F) return true;
  return !in_ranges(unicode_data::unprintable_ranges, unicode_data::unprintable_ranges_size, cp);
}

bool is_cased(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return in_ranges(unicode_data::cased_ranges, unicode_data::cased_ranges_size, cp);
}

bool is_case_ignorable(char32_t cp) {
  return in_ranges(unicode_data::case_ignorable_ranges, unicode_data::case_ignorable_ranges_size,
                   cp);
}

bool is_upper(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  return is_cased(cp) && find_mapping(unicode_data::lower_map, unicode_data::lower_map_size, cp) &&
         !find_mapping(unicode_data::upper_map, unicode_data::upper_map_size, cp);
}

bool is_lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z';
  return is_cased(cp) && find_mapping(unicode_data::upper_map, unicode_data::upper_map_size, cp) &&
         !find_mapping(unicode_data::lower_map, unicode_data::lower_map_size, cp);
}

bool is_digit(char32_t cp) { return cp >= '0' && cp <= '9'; }

bool is_alpha(char32_t cp) { return is_cased(cp); }

bool is_alnum(char32_t cp) { return is_alpha(cp) || is_digit(cp); }

void append_upper(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp));
    return;
  }
  append_mapped(out, unicode_data::upper_map, unicode_data::upper_map_size, cp);
}

void append_title(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp));
    return;
  }
  append_mapped(out, unicode_data::title_map, unicode_data::title_map_size, cp);
}

// CPython's handle_capital_sigma: Σ is final when a cased letter precedes it (skipping
// case-ignorable ones) and none follows it.
void append_lower_at(std::string& out, std::string_view s, size_t pos, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    return;
  }
  if (cp != 0x3A3) {
    append_mapped(out, unicode_data::lower_map, unicode_data::lower_map_size, cp);
    return;
  }
  bool final_sigma = false;
  for (size_t j = pos; j > 0;) {
    --j;
    while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;  // char start
    const char32_t c = decode(s, j).cp;
    if (is_case_ignorable(c)) continue;
    final_sigma = is_cased(c);
    break;
  }
  if (final_sigma) {
    for (size_t j = pos + decode(s, pos).length; j < s.size();) {
      const decoded d = decode(s, j);
      j += d.length;
      if (is_case_ignorable(d.cp)) continue;
      final_sigma = !is_cased(d.cp);
      break;
    }
  }
  append_utf8(out, final_sigma ? 0x3C2 : 0x3C3);
}

}  // namespace hearth::jinja::unicode
