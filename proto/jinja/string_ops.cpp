#include "proto/jinja/string_ops.h"

#include <algorithm>

#include "proto/jinja/unicode.h"

namespace hearth::jinja::strings {

namespace {

using unicode::decode;

bool in_set(std::string_view chars, char32_t cp) {
  for (size_t i = 0; i < chars.size();) {
    const unicode::decoded d = decode(chars, i);
    if (d.cp == cp) return true;
    i += d.length;
  }
  return false;
}

bool strippable(std::string_view s, size_t pos, size_t& len, const std::optional<std::string_view>& chars) {
  const auto b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80 && !chars) {  // the common case: ASCII against Python's whitespace
    len = 1;
    return b == ' ' || (b >= '\t' && b <= '\r') || (b >= 0x1C && b <= 0x1F);
  }
  const unicode::decoded d = decode(s, pos);
  len = d.length;
  if (!d.valid) return false;
  return chars ? in_set(*chars, d.cp) : unicode::is_space(d.cp);
}

bool space_at(std::string_view s, size_t pos, size_t& len) {
  const unicode::decoded d = decode(s, pos);
  len = d.length;
  return d.valid && unicode::is_space(d.cp);
}

text substr(const text& s, size_t begin, size_t end) {
  text t;
  t.append(s, begin, end);
  return t;
}

// Maps each character of s with map(out, s, pos, cp); the output of a user character is user text.
template <class F>
text map_chars(const text& s, F map) {
  const std::string_view v = s.view();
  text out;
  out.reserve(v.size());
  std::string buf;
  for (size_t i = 0; i < v.size();) {
    const unicode::decoded d = decode(v, i);
    buf.clear();
    if (d.valid) {
      map(buf, v, i, d.cp);
    } else {
      buf.append(v.substr(i, 1));
    }
    out.append(buf, s.user_within(i, i + d.length));
    i += d.length;
  }
  return out;
}

bool is_line_break(char32_t cp) {
  switch (cp) {
    case '\n': case '\r': case 0x0B: case 0x0C: case 0x1C: case 0x1D: case 0x1E: case 0x85:
    case 0x2028: case 0x2029:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::vector<size_t> char_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); i += decode(s, i).length) offsets.push_back(i);
  offsets.push_back(s.size());
  return offsets;
}

namespace {

// The character that ends at `end` (> 0): its start, or npos when the bytes there are not
// a valid UTF-8 character (then the last byte counts as one character).
size_t char_start_before(std::string_view v, size_t end) {
  size_t start = end - 1;
  for (int k = 0; k < 3 && start > 0 && (static_cast<unsigned char>(v[start]) & 0xC0) == 0x80; ++k) --start;
  const unicode::decoded d = decode(v, start);
  return d.valid && start + d.length == end ? start : std::string_view::npos;
}

}  // namespace

text strip(const text& s, const std::optional<std::string_view>& chars, bool left, bool right) {
  const std::string_view v = s.view();
  size_t begin = 0, end = v.size(), len = 0;
  if (left) {
    while (begin < end && strippable(v, begin, len, chars)) begin += len;
  }
  if (right) {
    while (end > begin) {
      const size_t start = char_start_before(v, end);
      if (start == std::string_view::npos || start < begin || !strippable(v, start, len, chars)) break;
      end = start;
    }
  }
  return substr(s, begin, end);
}

std::vector<text> split(const text& s, const std::optional<std::string_view>& sep, int64_t maxsplit, bool from_right) {
  const std::string_view v = s.view();
  std::vector<std::pair<size_t, size_t>> parts;
  if (sep) {
    if (!from_right) {
      size_t start = 0;
      while (maxsplit != 0) {
        const size_t at = v.find(*sep, start);
        if (at == std::string_view::npos) break;
        parts.emplace_back(start, at);
        start = at + sep->size();
        --maxsplit;
      }
      parts.emplace_back(start, v.size());
    } else {
      size_t end = v.size();
      while (maxsplit != 0 && end >= sep->size()) {
        const size_t at = v.rfind(*sep, end - sep->size());
        if (at == std::string_view::npos) break;
        parts.emplace_back(at + sep->size(), end);
        end = at;
        --maxsplit;
      }
      parts.emplace_back(0, end);
      std::reverse(parts.begin(), parts.end());
    }
  } else {
    // Runs of whitespace; each word as (begin, end) with character boundaries.
    std::vector<std::pair<size_t, size_t>> words;
    size_t len = 0;
    for (size_t i = 0; i < v.size();) {
      if (space_at(v, i, len)) {
        i += len;
        continue;
      }
      const size_t b = i;
      while (i < v.size() && !space_at(v, i, len)) i += len;
      words.emplace_back(b, i);
    }
    if (maxsplit < 0 || static_cast<size_t>(maxsplit) >= words.size()) {
      parts = std::move(words);
    } else if (!from_right) {
      // maxsplit words, then the rest from the next word to the end (trailing space kept).
      for (size_t k = 0; k < static_cast<size_t>(maxsplit); ++k) parts.push_back(words[k]);
      parts.emplace_back(words[static_cast<size_t>(maxsplit)].first, v.size());
    } else {
      const size_t keep = words.size() - static_cast<size_t>(maxsplit);
      parts.emplace_back(0, words[keep - 1].second);
      for (size_t k = keep; k < words.size(); ++k) parts.push_back(words[k]);
    }
  }
  std::vector<text> out;
  out.reserve(parts.size());
  for (const auto& [b, e] : parts) out.push_back(substr(s, b, e));
  return out;
}

std::vector<text> splitlines(const text& s, bool keepends) {
  const std::string_view v = s.view();
  std::vector<text> out;
  size_t start = 0;
  for (size_t i = 0; i < v.size();) {
    const unicode::decoded d = decode(v, i);
    if (!d.valid || !is_line_break(d.cp)) {
      i += d.length;
      continue;
    }
    size_t eol = i + d.length;
    if (d.cp == '\r' && eol < v.size() && v[eol] == '\n') ++eol;
    out.push_back(substr(s, start, keepends ? eol : i));
    start = i = eol;
  }
  if (start < v.size()) out.push_back(substr(s, start, v.size()));
  return out;
}

text replace(const text& s, std::string_view old, const text& with, int64_t count) {
  const std::string_view v = s.view();
  text out;
  const auto insert = [&](size_t match_begin, size_t match_end) {
    const size_t at = out.size();
    out.append(with);
    if (s.user_within(match_begin, std::max(match_end, match_begin + 1))) out.mark_user(at, out.size());
  };
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    size_t i = 0;
    for (; i < v.size() && count != 0; --count) {
      insert(i, i);
      const size_t n = decode(v, i).length;
      out.append(s, i, i + n);
      i += n;
    }
    if (count != 0) insert(v.size() > 0 ? v.size() - 1 : 0, v.size());
    out.append(s, i, v.size());
    return out;
  }
  size_t start = 0;
  while (count != 0) {
    const size_t at = v.find(old, start);
    if (at == std::string_view::npos) break;
    out.append(s, start, at);
    insert(at, at + old.size());
    start = at + old.size();
    --count;
  }
  out.append(s, start, v.size());
  return out;
}

text upper(const text& s) {
  return map_chars(s, [](std::string& o, std::string_view, size_t, char32_t cp) { unicode::append_upper(o, cp); });
}

text lower(const text& s) {
  return map_chars(s, [](std::string& o, std::string_view v, size_t i, char32_t cp) { unicode::append_lower_at(o, v, i, cp); });
}

text title(const text& s) {
  bool previous_cased = false;
  return map_chars(s, [&](std::string& o, std::string_view v, size_t i, char32_t cp) {
    if (previous_cased) {
      unicode::append_lower_at(o, v, i, cp);
    } else {
      unicode::append_title(o, cp);
    }
    previous_cased = unicode::is_cased(cp);
  });
}

text capitalize(const text& s) {
  return map_chars(s, [](std::string& o, std::string_view v, size_t i, char32_t cp) {
    if (i == 0) {
      unicode::append_title(o, cp);
    } else {
      unicode::append_lower_at(o, v, i, cp);
    }
  });
}

text jinja_title(const text& s) {
  const std::string_view v = s.view();
  const auto is_boundary = [&](size_t i, size_t& len) {
    const unicode::decoded d = decode(v, i);
    len = d.length;
    return d.valid && (d.cp == '-' || d.cp == '(' || d.cp == '{' || d.cp == '[' || d.cp == '<' || unicode::is_space(d.cp));
  };
  text out;
  size_t len = 0;
  for (size_t i = 0; i < v.size();) {
    const size_t b = i;
    const bool sep = is_boundary(i, len);
    while (i < v.size() && is_boundary(i, len) == sep) i += len;
    const text piece = substr(s, b, i);
    if (sep) {
      out.append(upper(slice(piece, 0, 1, 1)));  // "item[0].upper()" of a separator run
      out.append(slice(piece, 1, std::nullopt, 1));
    } else {
      out.append(upper(slice(piece, 0, 1, 1)));
      out.append(lower(slice(piece, 1, std::nullopt, 1)));
    }
  }
  return out;
}

text html_escape(const text& s) {
  text out;
  size_t from = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char* rep = nullptr;
    switch (s.view()[i]) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&#34;"; break;
      case '\'': rep = "&#39;"; break;
      default: continue;
    }
    out.append(s, from, i);
    out.append(rep, s.user_within(i, i + 1));
    from = i + 1;
  }
  out.append(s, from, s.size());
  out.set_markup(true);
  return out;
}

text keep_markup(text t, const text& like) {
  t.set_markup(like.markup());
  return t;
}

slice_range resolve_slice(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
  const int64_t lower = step < 0 ? -1 : 0;
  const int64_t upper = step < 0 ? length - 1 : length;
  const auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) {
      x = x < -length ? lower : x + length;
      return std::max(x, lower);
    }
    return std::min(x, upper);
  };
  slice_range r;
  r.step = step;
  r.start = clamp(start, step < 0 ? upper : lower);
  r.stop = clamp(stop, step < 0 ? lower : upper);
  const __int128 span = step > 0 ? static_cast<__int128>(r.stop) - r.start : static_cast<__int128>(r.start) - r.stop;
  const __int128 magnitude = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
  r.count = span <= 0 ? 0 : static_cast<int64_t>((span + magnitude - 1) / magnitude);
  return r;
}

text slice(const text& s, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
  const std::string_view v = s.view();
  const bool ascii = unicode::is_ascii(v);
  std::vector<size_t> offsets;
  if (!ascii) offsets = char_offsets(v);
  const int64_t n = ascii ? static_cast<int64_t>(v.size()) : static_cast<int64_t>(offsets.size()) - 1;
  const slice_range r = resolve_slice(n, start, stop, step);
  const auto at = [&](int64_t i) { return ascii ? static_cast<size_t>(i) : offsets[static_cast<size_t>(i)]; };
  if (r.count == 0) return {};
  if (step == 1) return substr(s, at(r.start), at(r.start + r.count));
  text out;
  int64_t i = r.start;
  for (int64_t k = 0; k < r.count; ++k, i += step) out.append(s, at(i), at(i + 1));
  return out;
}

bool all_cased_as(std::string_view s, bool upper) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    const unicode::decoded d = decode(s, i);
    i += d.length;
    if (upper ? unicode::is_lower(d.cp) : unicode::is_upper(d.cp)) return false;
    cased = cased || (upper ? unicode::is_upper(d.cp) : unicode::is_lower(d.cp));
  }
  return cased;
}

int64_t find(const text& s, std::string_view sub, bool from_right) {
  const std::string_view v = s.view();
  const size_t at = from_right ? v.rfind(sub) : v.find(sub);
  if (at == std::string_view::npos) return -1;
  return static_cast<int64_t>(unicode::count_chars(v.substr(0, at)));
}

int64_t count(const text& s, std::string_view sub) {
  const std::string_view v = s.view();
  if (sub.empty()) return static_cast<int64_t>(unicode::count_chars(v)) + 1;
  int64_t n = 0;
  for (size_t at = v.find(sub); at != std::string_view::npos; at = v.find(sub, at + sub.size())) ++n;
  return n;
}

text pad(const text& s, int64_t width, std::string_view fill, int align) {
  const int64_t len = static_cast<int64_t>(unicode::count_chars(s.view()));
  if (width <= len) return s;
  const int64_t margin = width - len;
  int64_t left = align < 0 ? 0 : align > 0 ? margin : margin / 2 + (margin & width & 1);
  text out;
  for (int64_t i = 0; i < left; ++i) out.append(fill);
  out.append(s);
  for (int64_t i = 0; i < margin - left; ++i) out.append(fill);
  return out;
}

}  // namespace hearth::jinja::strings
