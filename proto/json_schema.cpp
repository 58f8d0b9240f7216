#include "proto/json_schema.h"
#include "tokenizer/utf8.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {
namespace {

using ojson = nlohmann::ordered_json;

constexpr int kMaxDepth = 128;
constexpr size_t kMaxGrammarBytes = size_t{1} << 20;
constexpr int64_t kMaxRepeat = 10000;
constexpr int kMaxGroupDepth = 32;     // groups in a pattern
constexpr size_t kMaxKeyLength = 256;  // characters of a property name next to additional properties
constexpr int kMaxIntDigits = 16;         // digits of an integer part without an upper bound
constexpr int64_t kMaxIntBound = 1000000000000000000;  // |bound| of an integer range
constexpr int64_t kMaxNumberBound = int64_t{1} << 53;  // |bound| of a number range (exact in a double)

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw json_schema_error((path.empty() ? std::string("(root)") : path) + ": " + message);
}

std::string kw(std::string_view keyword) { return "\"" + std::string(keyword) + "\""; }

// The JSON pointer of `key` under `path` (RFC 6901 escaping).
std::string child(const std::string& path, std::string_view key) {
  std::string out = path + "/";
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}
std::string child(const std::string& path, size_t index) { return path + "/" + std::to_string(index); }

std::string hex(unsigned value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*X", digits, value);
  return buf;
}

}  // namespace

std::string gbnf_literal(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) out += "\\x" + hex(c, 2);
    else out += ch;
  }
  return out + "\"";
}

namespace {

std::string lit(std::string_view s) { return gbnf_literal(s); }

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// `{m,n}` in GBNF ("" for exactly one, "?" "*" "+" where they fit); max < 0: unbounded.
std::string repeat(int64_t min, int64_t max) {
  if (min == 1 && max == 1) return "";
  if (min == 0 && max == 1) return "?";
  if (max < 0) return min == 0 ? "*" : min == 1 ? "+" : "{" + std::to_string(min) + ",}";
  if (min == max) return "{" + std::to_string(min) + "}";
  return "{" + std::to_string(min) + "," + std::to_string(max) + "}";
}

// `item` repeated min..max times (max < 0: unbounded), separated by `sep`; "" when max == 0.
std::string separated(const std::string& item, const std::string& sep, int64_t min, int64_t max) {
  if (max == 0) return "";
  const std::string rest = "(" + sep + " " + item + ")" + repeat(min == 0 ? 0 : min - 1, max < 0 ? -1 : max - 1);
  const std::string rest_text = max == 1 ? "" : " " + rest;
  return min == 0 ? "(" + item + rest_text + ")?" : item + rest_text;
}

// ---- integer ranges: canonical decimal lexemes (no sign, no leading zero) ----

std::string digit_class(char from, char to) {
  return from == to ? std::string("[") + from + "]" : std::string("[") + from + "-" + to + "]";
}
std::string any_digits(size_t n) { return n == 0 ? "" : n == 1 ? "[0-9]" : "[0-9]{" + std::to_string(n) + "}"; }

// Fixed-width digit strings between a and b (same length, a <= b, leading zeros allowed).
std::string same_length(std::string_view a, std::string_view b) {
  size_t k = 0;
  while (k < a.size() && a[k] == b[k]) ++k;
  std::string prefix = k ? lit(a.substr(0, k)) : "";
  if (k == a.size()) return prefix;
  a = a.substr(k);
  b = b.substr(k);
  const size_t rest = a.size() - 1;
  const bool low_zeros = a.find_first_not_of('0', 1) == std::string_view::npos;
  const bool high_nines = b.find_first_not_of('9', 1) == std::string_view::npos;
  std::vector<std::string> alts;
  if (!low_zeros) alts.push_back(digit_class(a[0], a[0]) + " " + same_length(a.substr(1), std::string(rest, '9')));
  const char from = low_zeros ? a[0] : static_cast<char>(a[0] + 1);
  const char to = high_nines ? b[0] : static_cast<char>(b[0] - 1);
  if (from <= to) alts.push_back(digit_class(from, to) + (rest ? " " + any_digits(rest) : ""));
  if (!high_nines) alts.push_back(digit_class(b[0], b[0]) + " " + same_length(std::string(rest, '0'), b.substr(1)));
  const std::string body = alts.size() == 1 ? alts[0] : "(" + join(alts, " | ") + ")";
  return prefix.empty() ? body : prefix + " " + body;
}

constexpr uint64_t kOpen = UINT64_MAX;  // no upper end

// Integers in [lo, hi] (hi == kOpen: up to kMaxIntDigits digits, or lo's length if longer).
std::string uint_range(uint64_t lo, uint64_t hi) {
  const std::string lo_s = std::to_string(lo);
  std::vector<std::string> alts;
  if (hi != kOpen) {
    const std::string hi_s = std::to_string(hi);
    for (size_t len = lo_s.size(); len <= hi_s.size(); ++len) {
      const std::string a = len == lo_s.size() ? lo_s : "1" + std::string(len - 1, '0');
      const std::string b = len == hi_s.size() ? hi_s : std::string(len, '9');
      alts.push_back(same_length(a, b));
    }
  } else {
    alts.push_back(same_length(lo_s, std::string(lo_s.size(), '9')));
    if (lo_s.size() < static_cast<size_t>(kMaxIntDigits))
      alts.push_back("[1-9] [0-9]{" + std::to_string(lo_s.size()) + "," + std::to_string(kMaxIntDigits - 1) + "}");
  }
  return alts.size() == 1 ? alts[0] : "(" + join(alts, " | ") + ")";
}

// Integers in [lo, hi], either end possibly open; lo <= hi.
std::string int_range(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  std::vector<std::string> alts;
  if (!hi || *hi >= 0) {
    const uint64_t a = lo ? static_cast<uint64_t>(std::max<int64_t>(*lo, 0)) : 0;
    alts.push_back(uint_range(a, hi ? static_cast<uint64_t>(*hi) : kOpen));
  }
  if (!lo || *lo < 0) {
    const uint64_t a = hi ? static_cast<uint64_t>(std::max<int64_t>(-*hi, 1)) : 1;
    alts.push_back("\"-\" " + uint_range(a, lo ? static_cast<uint64_t>(-*lo) : kOpen));
  }
  return "(" + join(alts, " | ") + ")";
}

// ---- number ranges with integer bounds: sign, integer part, optional fraction, no exponent ----

struct num_bound {
  int64_t value;
  bool exclusive;
};
enum : int { kZeroFraction = 1, kNonzeroFraction = 2 };

std::string fraction(int mask, int digits) {
  if (digits == 0 || mask == kZeroFraction) return "";
  if (mask == kNonzeroFraction)
    // the first nonzero digit within `digits` places (trailing zeros do not change the value)
    return " \".\" " + (digits > 1 ? "\"0\"{0," + std::to_string(digits - 1) + "} " : std::string()) + "[1-9]" +
           (digits > 1 ? " [0-9]{0," + std::to_string(digits - 1) + "}" : std::string());
  return " (\".\" [0-9]{1," + std::to_string(digits) + "})?";
}

// Alternatives for y = a.f >= 0 with lo <= y <= hi (each end optional, inclusive or not).
std::vector<std::string> nonnegative_numbers(std::optional<num_bound> lo, std::optional<num_bound> hi, int digits) {
  auto mask = [&](int64_t a) {
    int m = kZeroFraction | kNonzeroFraction;
    if (lo && a < lo->value) m = 0;
    if (lo && a == lo->value && lo->exclusive) m &= kNonzeroFraction;
    if (hi && a > hi->value) m = 0;
    if (hi && a == hi->value) m &= hi->exclusive ? 0 : kZeroFraction;
    if (digits == 0) m &= kZeroFraction;
    return m;
  };
  std::vector<int64_t> points = {0};
  if (lo && lo->value > 0) points.push_back(lo->value);
  if (hi && hi->value > 0) points.push_back(hi->value);
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  // Segments of constant mask: each point alone, the gaps between, and the open end.
  struct segment {
    int64_t from;
    uint64_t to;  // or kOpen
    int mask;
  };
  std::vector<segment> segs;
  auto add = [&](int64_t from, uint64_t to) {
    const int m = mask(from);
    if (!segs.empty() && segs.back().mask == m && segs.back().to != kOpen &&
        segs.back().to + 1 == static_cast<uint64_t>(from))
      segs.back().to = to;
    else segs.push_back({from, to, m});
  };
  for (size_t i = 0; i < points.size(); ++i) {
    if (hi && points[i] > hi->value) break;
    add(points[i], static_cast<uint64_t>(points[i]));
    const bool last = i + 1 == points.size();
    if (last) {
      if (!hi || hi->value > points[i]) add(points[i] + 1, kOpen);
    } else if (points[i + 1] > points[i] + 1) {
      add(points[i] + 1, static_cast<uint64_t>(points[i + 1] - 1));
    }
  }
  std::vector<std::string> alts;
  for (const segment& s : segs) {
    if (s.mask == 0) continue;
    alts.push_back(uint_range(static_cast<uint64_t>(s.from), s.to) + fraction(s.mask, digits));
  }
  return alts;
}

// ---- regular expressions (ECMA-262 subset) to GBNF over JSON-escaped string content ----

struct cp_range {
  char32_t lo, hi;
};

bool special_in_json(char32_t c) { return c < 0x20 || c == '"' || c == '\\' || c == 0x7F; }

std::string utf8(char32_t c) {
  std::string out;
  append_utf8(out, static_cast<uint32_t>(c));
  return out;
}

// How a JSON string writes the code point c (its escape if it needs one).
std::string json_char(char32_t c) {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
  }
  if (c < 0x20 || c == 0x7F) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
    return buf;
  }
  return utf8(c);
}

std::string class_char(char32_t c) {
  if (c == ']' || c == '[' || c == '\\') return std::string("\\") + static_cast<char>(c);
  if (c < 0x20 || c == 0x7F || c == '-' || c == '^') return "\\x" + hex(c, 2);
  if (c < 0x80) return std::string(1, static_cast<char>(c));
  if (c <= 0xFFFF) return "\\u" + hex(c, 4);
  return "\\U" + hex(c, 8);
}

std::string class_items(const std::vector<cp_range>& ranges) {
  std::string out;
  for (const cp_range& r : ranges) {
    out += class_char(r.lo);
    if (r.hi > r.lo) out += "-" + class_char(r.hi);
  }
  return out;
}

// The characters JSON writes without escaping, as GBNF class items to exclude.
constexpr std::string_view kNotPlain = "\"\\\\\\x7F\\x00-\\x1F";

// The printable ASCII characters outside `ranges`.
std::vector<cp_range> ascii_complement(std::vector<cp_range> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const cp_range& a, const cp_range& b) { return a.lo < b.lo; });
  std::vector<cp_range> out;
  char32_t next = 0x20;
  for (const cp_range& r : ranges) {
    if (r.lo > next && next <= 0x7E) out.push_back({next, std::min<char32_t>(r.lo - 1, 0x7E)});
    next = std::max<char32_t>(next, r.hi + 1);
  }
  if (next <= 0x7E) out.push_back({next, 0x7E});
  return out;
}

// A GBNF item for one character of the class (as written in a JSON string). A negated class
// only yields characters that need no escaping (a subset: enough for a generator), and only
// ASCII ones when `ascii_only`: \d \w \s mean more in some validators' regex engines (Python's
// are Unicode-aware) than in ECMA-262, so their complements keep to where both agree.
std::string class_expr(const std::vector<cp_range>& ranges, bool negated, bool ascii_only = false) {
  if (negated && ascii_only) return class_expr(ascii_complement(ranges), false);
  if (negated) return "[^" + class_items(ranges) + std::string(kNotPlain) + "]";
  const cp_range plain[] = {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x7E}, {0x80, 0x10FFFF}};
  std::vector<cp_range> kept;
  std::set<char32_t> specials;
  for (const cp_range& r : ranges) {
    for (const cp_range& p : plain) {
      const char32_t lo = std::max(r.lo, p.lo), hi = std::min(r.hi, p.hi);
      if (lo <= hi) kept.push_back({lo, hi});
    }
    for (char32_t c = r.lo; c <= std::min<char32_t>(r.hi, 0x7F); ++c)
      if (special_in_json(c)) specials.insert(c);
  }
  std::vector<std::string> alts;
  if (!kept.empty()) alts.push_back("[" + class_items(kept) + "]");
  for (char32_t c : specials) alts.push_back(lit(json_char(c)));
  if (alts.empty()) return "";
  return alts.size() == 1 ? alts[0] : "(" + join(alts, " | ") + ")";
}

const std::vector<cp_range> kDigits = {{'0', '9'}};
const std::vector<cp_range> kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const std::vector<cp_range> kSpace = {{0x09, 0x0D}, {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                                      {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                      {0x3000, 0x3000}};  // ECMA's \s without U+FEFF (not in Python's)

class regex_translator {
 public:
  regex_translator(std::string_view pattern, std::string path) : path_(std::move(path)) { decode(pattern); }

  // The GBNF for the JSON string content (between the quotes) whose decoded text matches.
  std::string translate() {
    std::vector<std::string> alts;
    do {
      const bool anchored_start = eat('^');
      anchored_end_ = false;
      bool nullable = true;
      const std::string seq = sequence(true, nullable);
      std::string alt = anchored_start ? "" : "char*";
      if (!seq.empty()) alt += (alt.empty() ? "" : " ") + seq;
      if (!anchored_end_) alt += alt.empty() ? "char*" : " char*";
      alts.push_back(alt.empty() ? "()" : alt);
    } while (eat('|'));
    if (pos_ < p_.size()) error("unbalanced \")\"");
    return alts.size() == 1 ? alts[0] : join(alts, " | ");
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(path_, "\"pattern\": " + what + " (at character " + std::to_string(pos_) + ")");
  }

  void decode(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (n == 0 || i + n > s.size()) fail(path_, "\"pattern\": invalid UTF-8");
      char32_t cp = n == 1 ? c : c & (0x7F >> n);
      for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      p_.push_back(cp);
      i += n;
    }
  }

  bool at(char32_t c) const { return pos_ < p_.size() && p_[pos_] == c; }
  bool eat(char32_t c) {
    if (!at(c)) return false;
    ++pos_;
    return true;
  }

  // `nullable`: whether it can match the empty string.
  std::string alternation(bool& nullable) {
    std::vector<std::string> alts;
    nullable = false;
    do {
      bool seq_nullable = true;
      const std::string seq = sequence(false, seq_nullable);
      nullable = nullable || seq_nullable;
      alts.push_back(seq.empty() ? "()" : seq);
    } while (eat('|'));
    return join(alts, " | ");
  }

  std::string sequence(bool top, bool& nullable) {
    nullable = true;
    std::vector<std::string> items;
    std::string pending;  // consecutive unquantified literal characters, JSON-escaped
    auto flush = [&] {
      if (!pending.empty()) items.push_back(lit(pending));
      pending.clear();
    };
    while (pos_ < p_.size() && !at('|') && !at(')')) {
      if (at('$')) {
        ++pos_;
        if (!top || (pos_ < p_.size() && !at('|'))) error("\"$\" is supported only at the end");
        anchored_end_ = true;
        break;
      }
      if (at('^')) error("\"^\" is supported only at the start");
      std::string literal;
      bool atom_nullable = false;
      const std::string item = atom(literal, atom_nullable);
      int64_t min = 1, max = 1;
      const std::string q = quantifier(min, max);
      if (q.empty() && !literal.empty()) {
        pending += literal;
        nullable = false;
        continue;
      }
      flush();
      if (!atom_nullable && min > 0) nullable = false;
      if (max == 0 || item.empty()) continue;
      // A repeated item that can match nothing is left-recursive for the matcher; the item once
      // is a subset of its repetition (the other copies may be empty).
      items.push_back(atom_nullable ? item : item + q);
    }
    flush();
    return join(items, " ");
  }

  // "" when no quantifier follows; min and max (-1: unbounded) set when one does.
  std::string quantifier(int64_t& min, int64_t& max) {
    if (eat('*')) {
      min = 0, max = -1;
    } else if (eat('+')) {
      min = 1, max = -1;
    } else if (eat('?')) {
      min = 0, max = 1;
    } else if (auto bounds = braces()) {
      min = bounds->first, max = bounds->second;
    } else {
      return "";
    }
    std::string q = repeat(min, max);
    eat('?');  // lazy: the same language
    if (q.empty()) q = "{1}";
    return q;
  }

  // {m}, {m,}, {m,n} at pos_ (consumed), or nullopt (nothing consumed).
  std::optional<std::pair<int64_t, int64_t>> braces() {
    if (!at('{')) return std::nullopt;
    size_t i = pos_ + 1;
    auto number = [&](int64_t& out) {
      const size_t start = i;
      out = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9' && i - start < 9) out = out * 10 + (p_[i++] - '0');
      return i > start;
    };
    int64_t lo = 0, hi = 0;
    if (!number(lo)) return std::nullopt;
    hi = lo;
    if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (!number(hi)) hi = -1;
    }
    if (i >= p_.size() || p_[i] != '}') return std::nullopt;
    pos_ = i + 1;
    if ((hi >= 0 && hi < lo)) error("quantifier {" + std::to_string(lo) + "," + std::to_string(hi) + "} out of order");
    if (lo > kMaxRepeat || hi > kMaxRepeat) error("quantifier bound above " + std::to_string(kMaxRepeat));
    return std::make_pair(lo, hi);
  }

  // One atom as a GBNF item ("" for an empty group); `literal` gets its JSON text when it is a
  // single character, `nullable` whether it can match the empty string.
  std::string atom(std::string& literal, bool& nullable) {
    const char32_t c = p_[pos_];
    switch (c) {
      case '(': {
        ++pos_;
        if (eat('?')) {
          if (eat(':')) {
          } else if (at('<') && pos_ + 1 < p_.size() && p_[pos_ + 1] != '=' && p_[pos_ + 1] != '!') {
            while (pos_ < p_.size() && !eat('>')) ++pos_;  // a named group: the name does not matter
          } else {
            error("lookaround and other \"(?\" groups are not supported");
          }
        }
        if (++groups_ > kMaxGroupDepth) error("groups nested deeper than " + std::to_string(kMaxGroupDepth));
        const std::string inner = alternation(nullable);
        --groups_;
        if (!eat(')')) error("missing \")\"");
        return inner == "()" ? "" : "(" + inner + ")";
      }
      case '[': {
        ++pos_;
        return char_class();
      }
      case '.':
        ++pos_;
        return "[^" + std::string(kNotPlain) + "\\u2028\\u2029]";
      case '\\': {
        ++pos_;
        const escape e = parse_escape(false);
        if (e.is_set) return class_expr(e.set, e.negated, true);
        literal = json_char(e.cp);
        return lit(literal);
      }
      case '*':
      case '+':
      case '?':
        error("nothing to repeat");
      case '{':
        if (braces()) error("nothing to repeat");
        break;
      case ')':
        error("unbalanced \")\"");
      default:
        break;
    }
    ++pos_;
    literal = json_char(c);
    return lit(literal);
  }

  struct escape {
    bool is_set = false;
    bool negated = false;
    std::vector<cp_range> set;
    char32_t cp = 0;
  };

  char32_t hex_digits(int n) {
    char32_t v = 0;
    for (int k = 0; k < n; ++k) {
      if (pos_ >= p_.size()) error("bad escape");
      const char32_t d = p_[pos_++];
      int x = d >= '0' && d <= '9' ? int(d - '0') : d >= 'a' && d <= 'f' ? int(d - 'a' + 10)
                                                    : d >= 'A' && d <= 'F' ? int(d - 'A' + 10) : -1;
      if (x < 0) error("bad hexadecimal escape");
      v = v * 16 + x;
    }
    return v;
  }

  escape parse_escape(bool in_class) {
    if (pos_ >= p_.size()) error("\"\\\" at the end");
    const char32_t c = p_[pos_++];
    escape e;
    auto set = [&](const std::vector<cp_range>& s, bool neg) {
      if (neg && in_class) error("\\D, \\W and \\S inside a class are not supported");
      e.is_set = true;
      e.set = s;
      e.negated = neg;
      return e;
    };
    switch (c) {
      case 'd': return set(kDigits, false);
      case 'D': return set(kDigits, true);
      case 'w': return set(kWord, false);
      case 'W': return set(kWord, true);
      case 's': return set(kSpace, false);
      case 'S': return set(kSpace, true);
      case 't': e.cp = '\t'; return e;
      case 'n': e.cp = '\n'; return e;
      case 'r': e.cp = '\r'; return e;
      case 'f': e.cp = '\f'; return e;
      case 'v': e.cp = '\v'; return e;
      case 'x': e.cp = hex_digits(2); return e;
      case 'u':
        if (eat('{')) {
          char32_t v = 0;
          int n = 0;
          while (!at('}') && n < 7) { v = v * 16 + hex_digits(1); ++n; }
          if (!eat('}') || n == 0 || v > 0x10FFFF) error("bad \\u{...} escape");
          e.cp = v;
        } else {
          e.cp = hex_digits(4);
        }
        if (e.cp >= 0xD800 && e.cp <= 0xDFFF) error("surrogate escapes are not supported");
        return e;
      case 'c':
        if (pos_ < p_.size() && ((p_[pos_] >= 'a' && p_[pos_] <= 'z') || (p_[pos_] >= 'A' && p_[pos_] <= 'Z'))) {
          e.cp = p_[pos_++] % 32;
          return e;
        }
        error("bad \\c escape");
      case '0':
        if (pos_ < p_.size() && p_[pos_] >= '0' && p_[pos_] <= '9') error("octal escapes are not supported");
        e.cp = 0;
        return e;
      case 'b':
        if (in_class) {
          e.cp = '\b';
          return e;
        }
        error("word boundaries (\\b) are not supported");
      default: break;
    }
    if (c >= '1' && c <= '9') error("backreferences are not supported");
    if (std::u32string_view(U"^$\\.*+?()[]{}|/-").find(c) != std::u32string_view::npos) {
      e.cp = c;
      return e;
    }
    error("unsupported escape \"\\" + utf8(c) + "\"");
  }

  std::string char_class() {
    const bool negated = eat('^');
    std::vector<cp_range> ranges;
    bool shorthand = false;  // \d \w \s inside
    if (eat(']')) {
      if (!negated) error("the empty class [] matches nothing");
      return "[^" + std::string(kNotPlain) + "]";
    }
    for (;;) {
      if (pos_ >= p_.size()) error("missing \"]\"");
      if (eat(']')) break;
      const escape lo = class_atom();
      if (lo.is_set) {
        shorthand = true;
        ranges.insert(ranges.end(), lo.set.begin(), lo.set.end());
        continue;
      }
      if (at('-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        const escape hi = class_atom();
        if (hi.is_set) error("a class range cannot end in \\d, \\w or \\s");
        if (hi.cp < lo.cp) error("class range out of order");
        ranges.push_back({lo.cp, hi.cp});
      } else {
        ranges.push_back({lo.cp, lo.cp});
      }
    }
    std::string out = class_expr(ranges, negated, shorthand);
    if (out.empty()) error("class matches no character");
    return out;
  }

  escape class_atom() {
    if (eat('\\')) return parse_escape(true);
    escape e;
    e.cp = p_[pos_++];
    return e;
  }

  std::string path_;
  std::u32string p_;
  size_t pos_ = 0;
  int groups_ = 0;  // groups open at pos_
  bool anchored_end_ = false;
};

// ---- the converter ----

// Built-in rules: name, body, and the rules it uses.
struct primitive {
  std::string_view name, body;
  std::vector<std::string_view> deps;
};

const std::vector<primitive>& primitives() {
  static const std::vector<primitive> p = {
      {"ws", R"(| " " | "\n" [ \t]{0,20})", {}},
      {"hex", R"([0-9a-fA-F])", {}},
      {"char",
       R"([^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] hex{3} | [dD] [0-7] hex{2} | )"
       R"([dD] [89abAB] hex{2} "\\u" [dD] [c-fC-F] hex{2})))",
       {"hex"}},
      {"string", R"("\"" char* "\"" ws)", {"char", "ws"}},
      {"number", R"("-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})? ws)", {"ws"}},
      {"integer", R"("-"? ("0" | [1-9] [0-9]{0,15}) ws)", {"ws"}},
      {"boolean", R"(("true" | "false") ws)", {"ws"}},
      {"null", R"("null" ws)", {"ws"}},
      {"value", R"(object | array | string | number | boolean | null)",
       {"object", "array", "string", "number", "boolean", "null"}},
      {"object", R"("{" ws (string ":" ws value ("," ws string ":" ws value)*)? "}" ws)", {"string", "value", "ws"}},
      {"array", R"("[" ws (value ("," ws value)*)? "]" ws)", {"value", "ws"}},
      // formats (the text between the quotes)
      {"date", R"([1-9] [0-9]{3} "-" month-day | leap-year "-02-29")", {"month-day", "leap-year"}},
      {"month-day",
       R"(("01" | "03" | "05" | "07" | "08" | "10" | "12") "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | )"
       R"(("04" | "06" | "09" | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]))",
       {}},
      {"leap-year", R"([1-9] [0-9] ([02468] [48] | [13579] [26] | [2468] "0") | ([2468] [048] | [13579] [26]) "00")",
       {}},
      {"time",
       R"(([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,9})? )"
       R"(("Z" | ("+" | "-") ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]))",
       {}},
      {"date-time", R"(date "T" time)", {"date", "time"}},
      {"uuid", R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})", {}},
      {"host-label", R"([A-Za-z0-9] ([A-Za-z0-9\x2D]{0,60} [A-Za-z0-9])?)", {}},
      {"hostname", R"(host-label ("." host-label){0,3})", {"host-label"}},
      {"email-atom", R"([A-Za-z0-9!#$%&'*+/=?\x5E_`{|}~\x2D]{1,15})", {}},
      {"email", R"(email-atom ("." email-atom){0,3} "@" host-label ("." host-label){1,3})",
       {"email-atom", "host-label"}},
      {"uri", R"(("http" | "https") "://" hostname (":" [1-9] [0-9]{0,3})? ("/" uri-char*)* ("?" (uri-char | [/?])*)?)",
       {"hostname", "uri-char"}},
      {"uri-char", R"([A-Za-z0-9._~!$&'()*+,;=:@\x2D] | "%" hex hex)", {"hex"}},
      {"ipv4-octet", "", {}},  // body built from uint_range(0, 255)
      {"ipv4", R"(ipv4-octet "." ipv4-octet "." ipv4-octet "." ipv4-octet)", {"ipv4-octet"}},
  };
  return p;
}

const std::set<std::string_view> kFormats = {"date",  "time", "date-time", "uuid",
                                             "email", "ipv4", "hostname",  "uri"};

const std::set<std::string_view> kIgnored = {"title",      "description", "examples", "default",
                                             "$schema",    "$id",         "$comment", "deprecated",
                                             "readOnly",   "writeOnly",   "$defs",    "definitions",
                                             // OpenAPI's (pydantic's) hint for oneOf: JSON Schema ignores it
                                             "discriminator"};
const std::set<std::string_view> kGeneric = {"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"};
const std::set<std::string_view> kObjectKeys = {"properties", "required", "additionalProperties",
                                                "unevaluatedProperties"};
const std::set<std::string_view> kArrayKeys = {"items", "prefixItems", "additionalItems", "minItems", "maxItems",
                                               "uniqueItems"};
const std::set<std::string_view> kStringKeys = {"minLength", "maxLength", "pattern", "format"};
const std::set<std::string_view> kNumberKeys = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
const std::vector<std::string_view> kTypes = {"object", "array", "string", "number", "integer", "boolean", "null"};

bool has_any(const ojson& s, const std::set<std::string_view>& keys) {
  for (const auto& item : s.items())
    if (keys.count(item.key())) return true;
  return false;
}

bool matches_type(const ojson& v, std::string_view t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer")
    return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                     v.get<double>() == std::floor(v.get<double>()));
  return false;
}

// Properties of an object schema, possibly gathered from several allOf branches.
struct object_spec {
  struct property {
    std::string name;
    const ojson* schema;
    std::string path;
  };
  std::vector<property> properties;
  std::vector<std::string> required;
  enum class extra { none, any, schema } additional = extra::none;
  bool closed = false;  // additionalProperties: false, written out
  const ojson* additional_schema = nullptr;
  std::string additional_path;
};

class converter {
 public:
  // `start`: the name of the schema's own rule; `prefix`: what every rule made for the schema
  // begins with (the built-in rules keep their names).
  explicit converter(const ojson& root, std::string start = "root", std::string prefix = "")
      : root_(root), start_(std::move(start)), prefix_(std::move(prefix)) {
    for (const primitive& p : primitives()) names_.insert(std::string(p.name));
    names_.insert("root");
    names_.insert(start_);
  }

  std::string run() {
    const std::string root_expr = visit(root_, "", start_, 0);
    std::string out = start_ + " ::= " + root_expr + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    for (const primitive& p : primitives()) {
      if (!used_.count(std::string(p.name))) continue;
      const std::string body = p.name == "ipv4-octet" ? uint_range(0, 255) : std::string(p.body);
      out += std::string(p.name) + " ::= " + body + "\n";
    }
    if (out.size() > kMaxGrammarBytes) fail("", "the grammar would exceed 1 MiB");
    return out;
  }

 private:
  // Marks a built-in rule (and what it uses) as needed; returns its name.
  std::string use(std::string_view name) {
    if (!used_.insert(std::string(name)).second) return std::string(name);
    for (const primitive& p : primitives())
      if (p.name == name)
        for (std::string_view d : p.deps) use(d);
    return std::string(name);
  }

  std::string unique_name(std::string_view hint) {
    std::string base;
    for (char c : hint) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (ok) base += c;
      else if (!base.empty() && base.back() != '-') base += '-';
    }
    while (!base.empty() && base.back() == '-') base.pop_back();
    if (base.size() > 48) base = base.substr(base.size() - 48);
    while (!base.empty() && base.front() == '-') base.erase(base.begin());
    if (base.empty()) base = "r";
    base = prefix_ + base;
    std::string name = base;
    for (int& k = next_suffix_.try_emplace(base, 2).first->second; names_.count(name); ++k)
      name = base + "-" + std::to_string(k);
    names_.insert(name);
    return name;
  }

  void grow(size_t bytes) {
    size_ += bytes;
    if (size_ > kMaxGrammarBytes) fail("", "the grammar would exceed 1 MiB");
  }

  // A rule with this body (an existing one if the body was seen before); returns its name.
  std::string add_rule(std::string_view hint, const std::string& body) {
    if (auto it = by_body_.find(body); it != by_body_.end()) return it->second;
    const std::string name = unique_name(hint);
    grow(name.size() + body.size() + 6);
    rules_.emplace_back(name, body);
    by_body_.emplace(body, name);
    return name;
  }

  // Returns a rule name matching a JSON value valid against `s`, followed by ws.
  std::string visit(const ojson& s, const std::string& path, const std::string& hint, int depth) {
    if (depth > kMaxDepth) fail(path, "the schema is nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (s.is_boolean()) {
      if (s.get<bool>()) return use("value");
      fail(path, "the schema false allows no value");
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    for (const auto& item : s.items()) {
      const std::string& k = item.key();
      if (!kIgnored.count(k) && !kGeneric.count(k) && !kObjectKeys.count(k) && !kArrayKeys.count(k) &&
          !kStringKeys.count(k) && !kNumberKeys.count(k))
        fail(path, "unsupported keyword " + kw(k));
    }
    auto only_with = [&](std::string_view keyword, std::initializer_list<std::string_view> allowed) {
      for (const auto& item : s.items()) {
        const std::string& k = item.key();
        if (k == keyword || kIgnored.count(k) || std::find(allowed.begin(), allowed.end(), k) != allowed.end())
          continue;
        fail(path, "keyword " + kw(k) + " next to " + kw(keyword) + " is not supported");
      }
    };

    if (s.contains("$ref")) {
      only_with("$ref", {});
      return ref(s.at("$ref"), child(path, "$ref"), depth);
    }
    if (s.contains("allOf")) {
      const ojson& branches = s.at("allOf");
      // A lone branch (a common way to annotate a $ref): that schema, whatever its kind.
      const bool alone = std::all_of(s.items().begin(), s.items().end(), [](const auto& item) {
        return item.key() == "allOf" || kIgnored.count(item.key());
      });
      if (alone && branches.is_array() && branches.size() == 1)
        return visit(branches[0], child(child(path, "allOf"), 0), hint, depth + 1);
      object_spec spec;
      all_of(s, path, spec, depth);
      return object_rule(spec, path, hint, depth);
    }
    if (s.contains("anyOf") || s.contains("oneOf")) {
      const char* key = s.contains("anyOf") ? "anyOf" : "oneOf";
      only_with(key, {});
      const ojson& branches = s.at(key);
      if (!branches.is_array() || branches.empty()) fail(child(path, key), kw(key) + " must be a non-empty array");
      std::vector<std::string> alts;
      std::set<std::string> seen;
      for (size_t i = 0; i < branches.size(); ++i) {
        const std::string a = visit(branches[i], child(child(path, key), i), hint + "-" + std::to_string(i), depth + 1);
        if (seen.insert(a).second) alts.push_back(a);
      }
      return alts.size() == 1 ? alts[0] : add_rule(hint, join(alts, " | "));
    }

    const std::vector<std::string> types = type_set(s, path);
    if (s.contains("enum") || s.contains("const")) {
      only_with(s.contains("enum") ? "enum" : "const", {"type", "enum", "const"});
      return enum_rule(s, path, hint, types);
    }
    if (types.empty()) return use("value");
    std::vector<std::string> alts;
    for (const std::string& t : types) {
      if (t == "null") alts.push_back(use("null"));
      else if (t == "boolean") alts.push_back(use("boolean"));
      else if (t == "string") alts.push_back(string_rule(s, path, hint));
      else if (t == "integer" || t == "number") alts.push_back(number_rule(s, path, hint, t == "integer"));
      else if (t == "array") alts.push_back(array_rule(s, path, hint, depth));
      else {
        object_spec spec;
        read_object(s, path, spec);
        alts.push_back(object_rule(spec, path, hint, depth));
      }
    }
    return alts.size() == 1 ? alts[0] : add_rule(hint, join(alts, " | "));
  }

  // The types a schema allows: its "type", or else the kinds its keywords describe (a schema
  // without either allows any value: empty result).
  std::vector<std::string> type_set(const ojson& s, const std::string& path) {
    std::vector<std::string> out;
    if (auto it = s.find("type"); it != s.end()) {
      const std::string p = child(path, "type");
      std::vector<ojson> names = it->is_array() ? it->get<std::vector<ojson>>() : std::vector<ojson>{*it};
      if (names.empty()) fail(p, "\"type\" must not be empty");
      for (const ojson& n : names) {
        if (!n.is_string() || std::find(kTypes.begin(), kTypes.end(), n.get<std::string>()) == kTypes.end())
          fail(p, "unknown type " + n.dump());
        if (std::find(out.begin(), out.end(), n.get<std::string>()) == out.end()) out.push_back(n.get<std::string>());
      }
      // number includes integer
      if (std::find(out.begin(), out.end(), "number") != out.end())
        out.erase(std::remove(out.begin(), out.end(), "integer"), out.end());
      return out;
    }
    if (s.contains("enum") || s.contains("const")) return out;
    if (has_any(s, kObjectKeys)) out.push_back("object");
    if (has_any(s, kArrayKeys)) out.push_back("array");
    if (has_any(s, kStringKeys)) out.push_back("string");
    if (has_any(s, kNumberKeys)) out.push_back("number");
    return out;
  }

  std::string ref(const ojson& r, const std::string& path, int depth) {
    if (!r.is_string()) fail(path, "\"$ref\" must be a string");
    const std::string uri = r.get<std::string>();
    if (uri.empty() || uri[0] != '#') fail(path, "only local \"$ref\" (\"#...\") is supported, not \"" + uri + "\"");
    // URI fragment: percent-decoding, then a JSON pointer.
    std::string pointer;
    for (size_t i = 1; i < uri.size(); ++i) {
      if (uri[i] == '%' && i + 2 < uri.size() && std::isxdigit(static_cast<unsigned char>(uri[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(uri[i + 2]))) {
        pointer += static_cast<char>(std::stoi(uri.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        pointer += uri[i];
      }
    }
    if (auto it = refs_.find(pointer); it != refs_.end()) {
      if (auto p = in_progress_.find(pointer); p != in_progress_.end() && p->second == containers_)
        fail(path, "\"$ref\" \"" + uri + "\" refers to itself without an object or array in between");
      return it->second;
    }
    const ojson* target = nullptr;
    try {
      const ojson::json_pointer jp(pointer);
      if (root_.contains(jp)) target = &root_.at(jp);
    } catch (const nlohmann::json::exception&) {
    }
    if (!target) fail(path, "\"$ref\" \"" + uri + "\" does not resolve");
    const size_t slash = pointer.rfind('/');
    const std::string name = unique_name(pointer.empty() ? "root-ref" : pointer.substr(slash + 1));
    refs_.emplace(pointer, name);
    in_progress_.emplace(pointer, containers_);
    rules_.emplace_back(name, "");  // the body once known
    const size_t index = rules_.size() - 1;
    const std::string body = visit(*target, pointer, name, depth + 1);
    rules_[index].second = body;
    grow(name.size() + body.size() + 6);
    in_progress_.erase(pointer);
    return name;
  }

  std::string enum_rule(const ojson& s, const std::string& path, const std::string& hint,
                        const std::vector<std::string>& types) {
    std::vector<const ojson*> values;
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array()) fail(child(path, "enum"), "\"enum\" must be an array");
      for (const ojson& v : *it) values.push_back(&v);
    }
    if (auto it = s.find("const"); it != s.end()) {
      if (s.contains("enum")) {
        const bool listed = std::any_of(values.begin(), values.end(), [&](const ojson* v) { return *v == *it; });
        values.clear();
        if (listed) values.push_back(&*it);
      } else {
        values.push_back(&*it);
      }
    }
    std::vector<std::string> alts;
    std::set<std::string> seen;
    for (const ojson* v : values) {
      if (s.contains("type") &&
          std::none_of(types.begin(), types.end(), [&](const std::string& t) { return matches_type(*v, t); }))
        continue;
      std::string text;
      try {
        text = v->dump();
      } catch (const nlohmann::json::exception&) {
        fail(path, "\"enum\" holds a string that is not valid UTF-8");
      }
      std::string l = lit(text);
      grow(l.size() + 3);
      if (seen.insert(l).second) alts.push_back(std::move(l));
    }
    if (alts.empty()) fail(path, std::string(s.contains("enum") ? "\"enum\"" : "\"const\"") + " allows no value");
    use("ws");
    return add_rule(hint, (alts.size() == 1 ? alts[0] : "(" + join(alts, " | ") + ")") + " ws");
  }

  // ---- strings ----

  int64_t count(const ojson& s, std::string_view key, const std::string& path, int64_t fallback) {
    auto it = s.find(std::string(key));
    if (it == s.end()) return fallback;
    const std::string p = child(path, key);
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0))
      fail(p, kw(key) + " must be a non-negative integer");
    if (it->get<uint64_t>() > static_cast<uint64_t>(kMaxRepeat))
      fail(p, kw(key) + " above " + std::to_string(kMaxRepeat) + " is not supported");
    return it->get<int64_t>();
  }

  std::string string_rule(const ojson& s, const std::string& path, const std::string& hint) {
    const bool has_length = s.contains("minLength") || s.contains("maxLength");
    const std::string quote = lit("\"");
    if (auto it = s.find("pattern"); it != s.end()) {
      const std::string p = child(path, "pattern");
      if (!it->is_string()) fail(p, "\"pattern\" must be a string");
      if (has_length || s.contains("format"))
        fail(p, "\"pattern\" together with \"minLength\", \"maxLength\" or \"format\" is not supported");
      const std::string body = regex_translator(it->get<std::string>(), path).translate();
      use("char");
      use("ws");
      return add_rule(hint, quote + " (" + body + ") " + quote + " ws");
    }
    if (auto it = s.find("format"); it != s.end()) {
      const std::string p = child(path, "format");
      if (!it->is_string()) fail(p, "\"format\" must be a string");
      const std::string f = it->get<std::string>();
      if (!kFormats.count(f)) fail(p, "unsupported format \"" + f + "\"");
      if (has_length) fail(p, "\"format\" together with \"minLength\" or \"maxLength\" is not supported");
      use("ws");
      return add_rule(f + "-string", quote + " " + use(f) + " " + quote + " ws");
    }
    const int64_t min = count(s, "minLength", path, 0);
    const int64_t max = count(s, "maxLength", path, -1);
    if (max >= 0 && max < min) fail(path, "\"maxLength\" is below \"minLength\"");
    if (min == 0 && max < 0) return use("string");
    use("ws");
    if (max == 0) return add_rule(hint, lit("\"\"") + " ws");
    use("char");
    return add_rule(hint, quote + " char" + repeat(min, max) + " " + quote + " ws");
  }

  // ---- numbers ----

  struct raw_bound {
    double value;  // for comparisons
    std::optional<int64_t> exact;  // when the JSON number is an integer
    bool exclusive;
  };

  // The tighter of the inclusive and exclusive bound on one side (draft-04's boolean exclusive form too).
  std::optional<raw_bound> read_bound(const ojson& s, const std::string& path, const char* inclusive,
                                      const char* exclusive, bool lower) {
    std::optional<raw_bound> best;
    auto number = [&](const char* key, bool excl) {
      auto it = s.find(key);
      if (it == s.end() || it->is_boolean()) return;
      if (!it->is_number() || !std::isfinite(it->get<double>())) fail(child(path, key), kw(key) + " must be a number");
      raw_bound b{it->get<double>(), std::nullopt, excl};
      if (it->is_number_unsigned()) {
        if (it->get<uint64_t>() <= static_cast<uint64_t>(kMaxIntBound)) b.exact = it->get<int64_t>();
      } else if (it->is_number_integer()) {
        b.exact = it->get<int64_t>();
      }
      auto tighter = [&](const raw_bound& x, const raw_bound& y) {  // x strictly tighter than y
        if (x.value != y.value) return lower ? x.value > y.value : x.value < y.value;
        return x.exclusive && !y.exclusive;
      };
      if (!best || tighter(b, *best)) best = b;
    };
    bool old_exclusive = false;
    if (auto it = s.find(exclusive); it != s.end() && it->is_boolean()) old_exclusive = it->get<bool>();
    number(inclusive, old_exclusive);
    number(exclusive, true);
    return best;
  }

  std::string number_rule(const ojson& s, const std::string& path, const std::string& hint, bool integer) {
    auto lo = read_bound(s, path, "minimum", "exclusiveMinimum", true);
    auto hi = read_bound(s, path, "maximum", "exclusiveMaximum", false);
    auto key = [](const raw_bound& b, bool lower) {
      return std::string(lower ? (b.exclusive ? "exclusiveMinimum" : "minimum")
                               : (b.exclusive ? "exclusiveMaximum" : "maximum"));
    };
    if (!lo && !hi) return use(integer ? "integer" : "number");
    use("ws");
    if (integer) {
      std::optional<int64_t> a, b;
      auto as_int = [&](const raw_bound& r, bool lower) -> int64_t {
        if (std::fabs(r.value) > static_cast<double>(kMaxIntBound))
          fail(child(path, key(r, lower)), kw(key(r, lower)) + " beyond ±10^18 is not supported");
        if (r.exact) return *r.exact + (r.exclusive ? (lower ? 1 : -1) : 0);
        const double v = lower ? (r.exclusive ? std::floor(r.value) + 1 : std::ceil(r.value))
                               : (r.exclusive ? std::ceil(r.value) - 1 : std::floor(r.value));
        return static_cast<int64_t>(v);
      };
      if (lo) a = as_int(*lo, true);
      if (hi) b = as_int(*hi, false);
      if (a && b && *a > *b) fail(path, "no integer lies between the minimum and the maximum");
      return add_rule(hint, int_range(a, b) + " ws");
    }
    std::optional<num_bound> nlo, nhi;
    int digits = 16;
    auto exact = [&](const raw_bound& r, bool lower) {
      const std::string k = key(r, lower);
      if (r.value != std::floor(r.value))
        fail(child(path, k), kw(k) + ": only integer bounds are supported for type \"number\"");
      if (std::fabs(r.value) > static_cast<double>(kMaxNumberBound))
        fail(child(path, k), kw(k) + " beyond ±2^53 is not supported for type \"number\"");
      const int64_t v = static_cast<int64_t>(r.value);
      if (r.exclusive) {
        // Keep fractions coarse enough that no decimal on the right side rounds onto the bound.
        const double u = std::fabs(r.value) + 1;
        const double ulp = std::nextafter(u, INFINITY) - u;
        while (digits > 0 && std::pow(10.0, -digits) < 4 * ulp) --digits;
      }
      return num_bound{v, r.exclusive};
    };
    if (lo) nlo = exact(*lo, true);
    if (hi) nhi = exact(*hi, false);
    std::vector<std::string> alts = nonnegative_numbers(nlo, nhi, digits);
    // Negative numbers: y = -x within the mirrored bounds, y > 0 (no "-0").
    std::optional<num_bound> ylo =
        nhi ? std::optional<num_bound>(num_bound{-nhi->value, nhi->exclusive}) : std::nullopt;
    std::optional<num_bound> yhi =
        nlo ? std::optional<num_bound>(num_bound{-nlo->value, nlo->exclusive}) : std::nullopt;
    if (!ylo || ylo->value < 0 || (ylo->value == 0 && !ylo->exclusive)) ylo = num_bound{0, true};
    if (!yhi || yhi->value >= 0) {
      const std::vector<std::string> neg = nonnegative_numbers(ylo, yhi, digits);
      if (!neg.empty()) alts.push_back("\"-\" (" + join(neg, " | ") + ")");
    }
    if (alts.empty()) fail(path, "no number lies between the minimum and the maximum");
    return add_rule(hint, "(" + join(alts, " | ") + ") ws");
  }

  // ---- arrays ----

  std::string array_rule(const ojson& s, const std::string& path, const std::string& hint, int depth) {
    if (auto it = s.find("uniqueItems"); it != s.end() && !(it->is_boolean() && !it->get<bool>()))
      fail(path, "unsupported keyword \"uniqueItems\" (only false)");
    std::vector<std::pair<const ojson*, std::string>> prefix;
    const ojson* extra = nullptr;  // schema of the items after the prefix; null: none
    std::string extra_path;
    const ojson any = true;
    auto tuple = [&](const char* key) {
      const ojson& t = s.at(key);
      if (!t.is_array()) fail(child(path, key), kw(key) + " must be an array");
      for (size_t i = 0; i < t.size(); ++i) prefix.emplace_back(&t[i], child(child(path, key), i));
    };
    if (s.contains("prefixItems")) {
      if (s.contains("additionalItems")) fail(path, "\"additionalItems\" next to \"prefixItems\" is not supported");
      tuple("prefixItems");
      if (s.contains("items")) {
        extra = &s.at("items");
        extra_path = child(path, "items");
      }
    } else if (s.contains("items") && s["items"].is_array()) {
      tuple("items");
      if (s.contains("additionalItems")) {
        extra = &s.at("additionalItems");
        extra_path = child(path, "additionalItems");
      }
    } else {
      if (s.contains("additionalItems")) fail(path, "\"additionalItems\" needs \"items\" as an array");
      extra = s.contains("items") ? &s.at("items") : &any;
      extra_path = child(path, "items");
    }
    if (extra && extra->is_boolean() && !extra->get<bool>()) extra = nullptr;
    const int64_t min = count(s, "minItems", path, 0);
    const int64_t max = count(s, "maxItems", path, -1);
    if (max >= 0 && max < min) fail(path, "\"maxItems\" is below \"minItems\"");
    const int64_t written = max >= 0 ? std::min<int64_t>(max, static_cast<int64_t>(prefix.size()))
                                     : static_cast<int64_t>(prefix.size());
    const int64_t extra_min = std::max<int64_t>(min - written, 0);
    int64_t extra_max = max >= 0 ? max - written : -1;
    if (!extra) {
      if (extra_min > 0) fail(path, "\"minItems\" asks for more items than the schema allows");
      extra_max = 0;
    }
    ++containers_;
    std::vector<std::string> items;
    for (int64_t i = 0; i < written; ++i)
      items.push_back(visit(*prefix[i].first, prefix[i].second, hint + "-" + std::to_string(i), depth + 1));
    std::string extra_rule;
    if (extra_max != 0) extra_rule = visit(*extra, extra_path, hint + "-item", depth + 1);
    --containers_;
    std::string body = join(items, " \",\" ws ");
    if (extra_max != 0) {
      if (items.empty()) body = separated(extra_rule, "\",\" ws", extra_min, extra_max);
      else body += " (\",\" ws " + extra_rule + ")" + repeat(extra_min, extra_max);
    }
    use("ws");
    return add_rule(hint, "\"[\" ws " + (body.empty() ? "" : body + " ") + "\"]\" ws");
  }

  // ---- objects ----

  void read_object(const ojson& s, const std::string& path, object_spec& spec) {
    if (auto it = s.find("properties"); it != s.end()) {
      if (!it->is_object()) fail(child(path, "properties"), "\"properties\" must be an object");
      for (const auto& item : it->items())
        spec.properties.push_back({item.key(), &item.value(), child(child(path, "properties"), item.key())});
    }
    if (auto it = s.find("required"); it != s.end()) {
      if (!it->is_array()) fail(child(path, "required"), "\"required\" must be an array of strings");
      std::set<std::string> seen;
      for (const ojson& r : *it) {
        if (!r.is_string()) fail(child(path, "required"), "\"required\" must be an array of strings");
        if (seen.insert(r.get<std::string>()).second) spec.required.push_back(r.get<std::string>());
      }
    }
    if (auto it = s.find("unevaluatedProperties"); it != s.end() && !(it->is_boolean() && !it->get<bool>()))
      fail(path, "unsupported keyword \"unevaluatedProperties\" (only false)");
    if (auto it = s.find("additionalProperties"); it != s.end()) {
      if (it->is_boolean()) {
        spec.additional = it->get<bool>() ? object_spec::extra::any : object_spec::extra::none;
        spec.closed = !it->get<bool>();
      } else {
        spec.additional = object_spec::extra::schema;
        spec.additional_schema = &*it;
        spec.additional_path = child(path, "additionalProperties");
      }
    }
  }

  // The schemas an allOf combines: `s` itself (its object keywords), its branches, theirs in
  // turn; $ref followed.
  void flatten(const ojson* b, std::string bpath, std::vector<std::pair<const ojson*, std::string>>& parts,
               int depth) {
    if (depth > kMaxDepth) fail(bpath, "the schema is nested deeper than " + std::to_string(kMaxDepth) + " levels");
    for (int hops = 0; b->is_object() && b->contains("$ref"); ++hops) {
      size_t annotations = 0;
      for (const auto& item : b->items()) annotations += kIgnored.count(item.key());
      if (b->size() != 1 + annotations) fail(bpath, "keywords next to \"$ref\" inside \"allOf\" are not supported");
      const ojson& r = b->at("$ref");
      const std::string uri = r.is_string() ? r.get<std::string>() : "";
      const ojson* target = nullptr;
      try {
        if (uri.size() && uri[0] == '#') {
          const ojson::json_pointer jp(uri.substr(1));
          if (root_.contains(jp)) target = &root_.at(jp);
        }
      } catch (const nlohmann::json::exception&) {
      }
      if (!target || hops > 32) fail(child(bpath, "$ref"), "\"$ref\" inside \"allOf\" does not resolve to a schema");
      b = target;
      bpath = uri.substr(1);
    }
    parts.emplace_back(b, bpath);
    if (!b->is_object() || !b->contains("allOf")) return;
    const std::string p = child(bpath, "allOf");
    const ojson& branches = b->at("allOf");
    if (!branches.is_array() || branches.empty()) fail(p, "\"allOf\" must be a non-empty array");
    for (size_t i = 0; i < branches.size(); ++i) flatten(&branches[i], child(p, i), parts, depth + 1);
  }

  // Merges the object schemas of an allOf (and the schema's own object keywords) into `spec`.
  void all_of(const ojson& s, const std::string& path, object_spec& spec, int depth) {
    std::vector<std::pair<const ojson*, std::string>> parts;
    flatten(&s, path, parts, depth);
    std::vector<std::pair<std::set<std::string>, std::string>> closed;  // a part's names, when it allows no others
    std::set<std::string> property_names, required_names;
    bool open = false;
    for (const auto& part_ref : parts) {
      const ojson* b = part_ref.first;
      const std::string& bpath = part_ref.second;
      if (b->is_boolean()) {
        if (!b->get<bool>()) fail(bpath, "the schema false allows no value");
        continue;
      }
      if (!b->is_object()) fail(bpath, "a schema must be an object or a boolean");
      for (const auto& item : b->items()) {
        const std::string& k = item.key();
        if (kIgnored.count(k) || kObjectKeys.count(k) || k == "allOf") continue;
        if (k == "type" && item.value() == "object") continue;
        if (!kGeneric.count(k) && !kObjectKeys.count(k) && !kArrayKeys.count(k) && !kStringKeys.count(k) &&
            !kNumberKeys.count(k))
          fail(bpath, "unsupported keyword " + kw(k));
        fail(child(bpath, k), "keyword " + kw(k) + " inside \"allOf\" is not supported (only object schemas merge)");
      }
      object_spec part;
      read_object(*b, bpath, part);
      if (part.additional == object_spec::extra::schema)
        fail(part.additional_path, "\"additionalProperties\" as a schema inside \"allOf\" is not supported");
      for (const auto& prop : part.properties) {
        if (!property_names.insert(prop.name).second)
          fail(prop.path, "property \"" + prop.name + "\" is defined by two \"allOf\" branches");
        spec.properties.push_back(prop);
      }
      for (const auto& r : part.required)
        if (required_names.insert(r).second) spec.required.push_back(r);
      if (part.additional == object_spec::extra::any) open = true;
      if (part.closed) {
        std::set<std::string> names;
        for (const auto& prop : part.properties) names.insert(prop.name);
        closed.emplace_back(std::move(names), bpath);
      }
    }
    for (const auto& c : closed) {
      for (const auto& prop : spec.properties)
        if (!c.first.count(prop.name))
          fail(c.second,
               "\"additionalProperties\": false here forbids property \"" + prop.name + "\" of another branch");
      for (const auto& r : spec.required)
        if (!c.first.count(r)) fail(c.second, "\"additionalProperties\": false here forbids required \"" + r + "\"");
    }
    spec.closed = !closed.empty();
    spec.additional = open && closed.empty() ? object_spec::extra::any : object_spec::extra::none;
  }

  // Keys (JSON string content) of plain characters, other than the given names.
  std::string other_key(const std::vector<std::string>& names, const std::string& path, const std::string& hint) {
    struct node {
      std::map<char32_t, int> children;
      bool terminal = false;
    };
    std::vector<node> trie(1);
    for (const std::string& name : names) {
      std::u32string cps;
      bool plain = true;
      for (size_t i = 0; i < name.size();) {
        const auto c = static_cast<unsigned char>(name[i]);
        const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        char32_t cp = n == 1 ? c : c & (0x7F >> n);
        for (int k = 1; k < n && i + k < name.size(); ++k)
          cp = (cp << 6) | (static_cast<unsigned char>(name[i + k]) & 0x3F);
        if (special_in_json(cp)) plain = false;
        cps.push_back(cp);
        i += n;
      }
      if (!plain) continue;  // a plain key can never equal it
      if (cps.size() > kMaxKeyLength)
        fail(path, "property names longer than " + std::to_string(kMaxKeyLength) +
                       " characters are not supported with additional properties");
      int at = 0;
      for (char32_t cp : cps) {
        auto it = trie[at].children.find(cp);
        if (it == trie[at].children.end()) {
          trie.push_back({});
          it = trie[at].children.emplace(cp, static_cast<int>(trie.size() - 1)).first;
        }
        at = it->second;
      }
      trie[at].terminal = true;
    }
    const std::string pchar = add_rule("plain-char", "[^" + std::string(kNotPlain) + "]");
    // Strings (of plain characters) that continue from node `n` without ending on a name.
    auto gen = [&](auto& self, int n) -> std::string {
      const node& nd = trie[n];
      std::vector<std::string> alts;
      std::vector<cp_range> firsts;
      for (const auto& [cp, next] : nd.children) {
        firsts.push_back({cp, cp});
        const std::string rest = self(self, next);
        alts.push_back(lit(utf8(cp)) + (rest.empty() ? "" : " " + rest));
      }
      alts.push_back("[^" + class_items(firsts) + std::string(kNotPlain) + "] " + pchar + "*");
      std::string out = "(" + join(alts, " | ") + ")";
      if (!nd.terminal) out += "?";
      return out;
    };
    return add_rule(hint + "-other-key", gen(gen, 0));
  }

  std::string object_rule(const object_spec& spec, const std::string& path, const std::string& hint, int depth) {
    use("ws");
    ++containers_;
    std::set<std::string> declared, required_names(spec.required.begin(), spec.required.end());
    for (const auto& p : spec.properties) declared.insert(p.name);
    auto kv = [&](const std::string& name, const std::string& value_rule) {
      std::string key;
      try {
        key = ojson(name).dump();
      } catch (const nlohmann::json::exception&) {
        fail(path, "property name is not valid UTF-8");
      }
      return lit(key) + " ws \":\" ws " + value_rule;
    };
    std::vector<std::string> required, optional;
    // required ones in declared order, then required names without a declared schema
    for (const auto& p : spec.properties) {
      const bool is_required = required_names.count(p.name) != 0;
      if (p.schema->is_boolean() && !p.schema->get<bool>()) {
        if (is_required) fail(p.path, "required property \"" + p.name + "\" has the schema false");
        continue;
      }
      const std::string v = visit(*p.schema, p.path, hint + "-" + p.name, depth + 1);
      (is_required ? required : optional).push_back(kv(p.name, v));
    }
    for (const std::string& r : spec.required) {
      if (declared.count(r)) continue;
      // Allowed by JSON Schema unless additionalProperties says otherwise.
      if (spec.closed) fail(path, "required property \"" + r + "\" is forbidden by \"additionalProperties\": false");
      if (spec.additional == object_spec::extra::schema)
        required.push_back(kv(r, visit(*spec.additional_schema, spec.additional_path, hint + "-" + r, depth + 1)));
      else
        required.push_back(kv(r, use("value")));
    }
    std::string extra;  // one additional key-value pair
    if (spec.additional != object_spec::extra::none) {
      std::vector<std::string> names;
      for (const auto& p : spec.properties) names.push_back(p.name);
      for (const auto& r : spec.required) names.push_back(r);
      const std::string value =
          spec.additional == object_spec::extra::schema
              ? visit(*spec.additional_schema, spec.additional_path, hint + "-additional", depth + 1)
              : use("value");
      const std::string key = names.empty() ? "char*" : other_key(names, path, hint);
      use("char");
      extra = add_rule(hint + "-additional-kv", lit("\"") + " " + key + " " + lit("\"") + " ws \":\" ws " + value);
    }
    --containers_;
    std::string inner;
    if (!required.empty()) {
      inner = join(required, " \",\" ws ");
      for (const std::string& o : optional) inner += " (\",\" ws " + o + ")?";
      if (!extra.empty()) inner += " (\",\" ws " + extra + ")*";
    } else {
      // Any ordered subset of the optional ones, then additional ones; commas between.
      std::string next = extra.empty() ? "" : add_rule(hint + "-rest", extra + " (\",\" ws " + extra + ")*");
      for (size_t i = optional.size(); i-- > 0;) {
        const std::string body = next.empty() ? optional[i] : optional[i] + " (\",\" ws " + next + ")? | " + next;
        next = add_rule(hint + "-rest", body);
      }
      if (!next.empty()) inner = next + "?";
    }
    return add_rule(hint, "\"{\" ws " + (inner.empty() ? "" : inner + " ") + "\"}\" ws");
  }

  const ojson& root_;
  const std::string start_, prefix_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> names_;
  std::map<std::string, int> next_suffix_;  // per base name: the first suffix not tried yet
  std::set<std::string> used_;
  std::map<std::string, std::string> by_body_;
  std::map<std::string, std::string> refs_;       // JSON pointer -> rule
  std::map<std::string, int> in_progress_;       // JSON pointer -> containers_ when entered
  int containers_ = 0;                            // objects and arrays entered
  size_t size_ = 0;
};

}  // namespace

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema) { return converter(schema).run(); }

std::string json_schema_to_gbnf(const nlohmann::json& schema) { return json_schema_to_gbnf(ojson(schema)); }

std::string json_schema_rules(const nlohmann::ordered_json& schema, const std::string& start, const std::string& prefix) {
  return converter(schema, start, prefix).run();
}

std::string json_object_gbnf() {
  return json_schema_to_gbnf(ojson::parse(R"({"type": "object", "additionalProperties": true})"));
}

}  // namespace hearth
