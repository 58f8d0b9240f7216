#pragma once
// UTF-8 decoding and the character properties Python's str methods use, so that string filters
// and methods behave as they do under Jinja2: len() and indexing count code points, strip() and
// split() use Python's whitespace, upper()/lower()/title() use full Unicode case mappings, and
// repr() escapes what str.isprintable() rejects.
//
// Bytes that are not valid UTF-8 count as one character each and are kept as they are.
#include <cstddef>
#include <string>
#include <string_view>

namespace hearth::jinja::unicode {

struct decoded {
  char32_t cp;      // 0xFFFD for an invalid byte
  uint32_t length;  // bytes consumed, >= 1
  bool valid;
};

// The character at s[pos] (pos < s.size()).
decoded decode(std::string_view s, size_t pos);
void append_utf8(std::string& out, char32_t cp);

bool is_ascii(std::string_view s);
size_t count_chars(std::string_view s);

// Python's str.isspace() for one character.
bool is_space(char32_t cp);
// Python's str.isprintable() for one character.
bool is_printable(char32_t cp);
bool is_cased(char32_t cp);
bool is_case_ignorable(char32_t cp);
bool is_upper(char32_t cp);  // has a lowercase mapping (and no uppercase one)
bool is_lower(char32_t cp);  // has an uppercase mapping (and no lowercase one)
bool is_digit(char32_t cp);  // ASCII digits
bool is_alpha(char32_t cp);  // cased letters and ASCII letters
bool is_alnum(char32_t cp);

// Appends the full mapping of cp. lower_at() applies the final-sigma rule, so it needs the
// whole string and the character's position.
void append_upper(std::string& out, char32_t cp);
void append_title(std::string& out, char32_t cp);
void append_lower_at(std::string& out, std::string_view s, size_t pos, char32_t cp);

}  // namespace hearth::jinja::unicode
