// The pre-tokenizer regexes as hand-written matchers. Each follows the regex's own semantics
// (leftmost match; alternatives tried in order; greedy quantifiers that give back characters
// only as far as the rest of the pattern needs), worked out per shape below. Lookarounds and
// `$` see only the piece being split, as when the regex runs on each piece separately.
//
// Classes: \p{L} letter, \p{N} number, \p{P} punctuation, \p{M} mark, \s the White_Space
// property, from the generated Unicode tables. A matcher's cost is linear in what it scans, and
// what it scans past its match is bounded, so splitting is linear in the text.
#include <algorithm>
#include <iterator>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode.h"

namespace hearth {

namespace {

namespace uc = unicode_class;

constexpr uint32_t L = uc::letter, N = uc::number, P = uc::punctuation, M = uc::mark, WS = uc::space;
// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}]: GPT-4o's "upper" and "lower".
constexpr uint32_t upper = uc::bit(unicode_category::Lu) | uc::bit(unicode_category::Lt) |
                           uc::bit(unicode_category::Lm) | uc::bit(unicode_category::Lo) | M;
constexpr uint32_t lower = uc::bit(unicode_category::Ll) | uc::bit(unicode_category::Lm) |
                           uc::bit(unicode_category::Lo) | M;

// One piece [.., end) of a text: bounds-checked reads.
struct piece {
  const code_points& t;
  size_t end;

  bool has(size_t i, uint32_t mask) const { return i < end && (t.cls[i] & mask) != 0; }
  // A character that is none of `mask` (a negated class); false past the end.
  bool lacks(size_t i, uint32_t mask) const { return i < end && (t.cls[i] & mask) == 0; }
  bool is(size_t i, uint32_t c) const { return i < end && t.cp[i] == c; }
  bool is_newline(size_t i) const { return is(i, '\r') || is(i, '\n'); }
  size_t run(size_t i, uint32_t mask) const {
    while (has(i, mask)) ++i;
    return i;
  }
  size_t run_lacking(size_t i, uint32_t mask) const {
    while (lacks(i, mask)) ++i;
    return i;
  }
};

using match_at_fn = size_t (*)(const piece& s, size_t p);  // end of the match at p, or p

// Leftmost match: tries every start in turn. Linear as long as a failed attempt costs O(1)
// amortized, which holds for every pattern using it.
template <match_at_fn match_at>
bool find_first(const code_points& t, size_t from, size_t end, size_t& mb, size_t& me) {
  const piece s{t, end};
  for (size_t p = from; p < end; ++p) {
    size_t e = match_at(s, p);
    if (e > p) {
      mb = p;
      me = e;
      return true;
    }
  }
  return false;
}

// 's|'t|'re|'ve|'m|'ll|'d, case-sensitive or (?i:...) with simple case folding. Returns the
// length matched at p (0 if none).
size_t contraction(const piece& s, size_t p, bool ignore_case) {
  if (!s.is(p, '\'') || p + 1 >= s.end) return 0;
  auto at = [&](size_t i) -> uint32_t {
    if (i >= s.end) return 0;
    return ignore_case ? unicode_fold_case(s.t.cp[i]) : s.t.cp[i];
  };
  const uint32_t c1 = at(p + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  const uint32_t c2 = at(p + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// The whitespace alternatives that end the Llama 3 family of regexes, \s*[\r\n]+ (if
// `newlines`), \s+(?!\S), \s+: a run of whitespace ending at its last newline; else the run
// less its last character when a non-space follows and the run has more than one (that
// character then starts the next word, e.g. " world"); else the whole run.
size_t whitespace(const piece& s, size_t p, bool newlines) {
  const size_t e = s.run(p, WS);
  if (e == p) return p;
  if (newlines) {
    for (size_t i = e; i > p; --i) {
      if (s.is_newline(i - 1)) return i;
    }
  }
  if (e < s.end && e - p >= 2) return e - 1;
  return e;
}

// ---- GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

size_t gpt2_at(const piece& s, size_t p) {
  if (size_t c = contraction(s, p, false)) return p + c;
  const size_t q = s.is(p, ' ') ? p + 1 : p;  // " ?": a space is never the class that follows
  if (s.has(q, L)) return s.run(q, L);
  if (s.has(q, N)) return s.run(q, N);
  if (s.lacks(q, WS | L | N)) return s.run_lacking(q, WS | L | N);
  return whitespace(s, p, false);
}

// ---- Llama 3 and Qwen 2:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+

template <size_t max_digits>
size_t llama3_at(const piece& s, size_t p) {
  if (size_t c = contraction(s, p, true)) return p + c;
  // [^\r\n\p{L}\p{N}]?\p{L}+: one character of the negated class may lead the letters.
  if (s.lacks(p, L | N) && !s.is_newline(p) && s.has(p + 1, L)) return s.run(p + 1, L);
  if (s.has(p, L)) return s.run(p, L);
  if (s.has(p, N)) return std::min(s.run(p, N), p + max_digits);
  const size_t q = s.is(p, ' ') ? p + 1 : p;
  if (s.lacks(q, WS | L | N)) {
    size_t e = s.run_lacking(q, WS | L | N);
    while (s.is_newline(e)) ++e;
    return e;
  }
  return whitespace(s, p, true);
}

// ---- GPT-4o and Tekken (Mistral):
// [^\r\n\p{L}\p{N}]?[U]*[W]+C?|[^\r\n\p{L}\p{N}]?[U]+[W]*C?|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}], C the (?i:)
// contractions (GPT-4o only).

// [U]*[W]+ at q: U* gives back characters until W+ can start, so W+ starts at the last
// position i <= (end of the U run) whose character is in W.
size_t upper_then_lower(const piece& s, size_t q) {
  const size_t u = s.run(q, upper);
  for (size_t i = u + 1; i > q; --i) {
    if (s.has(i - 1, lower)) return s.run(i - 1, lower);
  }
  return q;
}

// [U]+[W]* at q.
size_t upper_run_then_lower(const piece& s, size_t q) {
  const size_t u = s.run(q, upper);
  return u == q ? q : s.run(u, lower);
}

template <bool contractions, size_t max_digits>
size_t cased_at(const piece& s, size_t p) {
  // The optional leading character is tried first with, then without (it may be a mark, which
  // the word classes take too).
  const bool lead = s.lacks(p, L | N) && !s.is_newline(p);
  for (size_t (*word)(const piece&, size_t) : {upper_then_lower, upper_run_then_lower}) {
    for (size_t q : {lead ? p + 1 : p, p}) {
      size_t e = word(s, q);
      if (e > q) return contractions ? e + contraction(s, e, true) : e;
    }
  }
  if (s.has(p, N)) return std::min(s.run(p, N), p + max_digits);
  const size_t q = s.is(p, ' ') ? p + 1 : p;
  if (s.lacks(q, WS | L | N)) {
    size_t e = s.run_lacking(q, WS | L | N);
    while (s.is_newline(e) || s.is(e, '/')) ++e;
    return e;
  }
  return whitespace(s, p, true);
}

// ---- Single classes and runs.

size_t digit_at(const piece& s, size_t p) { return s.has(p, N) ? p + 1 : p; }
size_t digits_at(const piece& s, size_t p) { return s.run(p, N); }
size_t newline_at(const piece& s, size_t p) { return s.is_newline(p) ? p + 1 : p; }

bool ascii_digit(const piece& s, size_t i) { return i < s.end && s.t.cp[i] >= '0' && s.t.cp[i] <= '9'; }
size_t three_digits_at(const piece& s, size_t p) {
  return ascii_digit(s, p) && ascii_digit(s, p + 1) && ascii_digit(s, p + 2) ? p + 3 : p;
}

// A class of code point ranges, sorted and disjoint.
struct cp_range {
  uint32_t first, last;
};
template <const auto& ranges>
bool in_ranges(const piece& s, size_t i) {
  if (i >= s.end) return false;
  const uint32_t c = s.t.cp[i];
  auto it = std::lower_bound(std::begin(ranges), std::end(ranges), c,
                             [](const cp_range& r, uint32_t x) { return r.last < x; });
  return it != std::end(ranges) && it->first <= c;
}

// [\p{P}\$\+<=>\^~\|]+ and, for Falcon, with the backquote too.
constexpr cp_range default_symbols[] = {{'$', '$'}, {'+', '+'}, {'<', '>'}, {'^', '^'}, {'|', '|'}, {'~', '~'}};
constexpr cp_range falcon_symbols[] = {{'$', '$'}, {'+', '+'}, {'<', '>'}, {'^', '^'}, {'`', '`'}, {'|', '|'}, {'~', '~'}};
template <const auto& symbols>
size_t punctuation_at(const piece& s, size_t p) {
  size_t e = p;
  while (s.has(e, P) || in_ranges<symbols>(s, e)) ++e;
  return e;
}

// \s?X+ for a class X that holds no whitespace: the space is taken when X follows it.
template <bool (*in_class)(const piece&, size_t)>
size_t space_then_run_at(const piece& s, size_t p) {
  const size_t q = s.has(p, WS) && in_class(s, p + 1) ? p + 1 : p;
  size_t e = q;
  while (in_class(s, e)) ++e;
  return e;
}
bool letter(const piece& s, size_t i) { return s.has(i, L); }
bool punct(const piece& s, size_t i) { return s.has(i, P); }

// DeepSeek's classes, from its tokenizer.json: [一-龥ࠀ-一가-퟿] (CJK, the blocks from U+0800,
// Hangul); the cased letters of [A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-Ֆ…];
// and [!-/:-~！-／：-～‘-‟　-。].
constexpr cp_range cjk_hangul_ranges[] = {{0x800, 0x9FA5}, {0xAC00, 0xD7FF}};
constexpr cp_range cased_letter_ranges[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D},
    {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5},
    {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
    {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
    {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139},
    {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B},
    {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06},
    {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3},
    {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
constexpr cp_range ascii_cjk_punctuation_ranges[] = {{0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F},
                                                     {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}};

// [...]+ at p: the end of the run of characters in `ranges`.
template <const auto& ranges>
size_t ranges_run_at(const piece& s, size_t p) {
  while (in_ranges<ranges>(s, p)) ++p;
  return p;
}

// \s?[...]+ where the class may hold a whitespace character (U+3000): a leading whitespace is
// taken only if the class follows it; if it is itself in the class, the run takes it anyway.
template <const auto& ranges>
size_t space_then_ranges_at(const piece& s, size_t p) {
  const bool lead = s.has(p, WS) && in_ranges<ranges>(s, p + 1);
  return ranges_run_at<ranges>(s, lead ? p + 1 : p);
}

// \s+$: the whitespace run that ends the piece, found from the end (trying every start would
// rescan long runs).
bool find_trailing_space(const code_points& t, size_t from, size_t end, size_t& mb, size_t& me) {
  size_t b = end;
  while (b > from && (t.cls[b - 1] & WS)) --b;
  if (b == end) return false;
  mb = b;
  me = end;
  return true;
}

}  // namespace

namespace split_patterns {
const split_pattern gpt2{"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                         find_first<gpt2_at>};
const split_pattern llama3{"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                           find_first<llama3_at<3>>};
const split_pattern qwen2{"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                          find_first<llama3_at<1>>};
const split_pattern gpt4o{"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
                          "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
                          "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                          find_first<cased_at<true, 3>>};
const split_pattern tekken{"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
                           "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
                           "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                           find_first<cased_at<false, 1>>};
const split_pattern digit{"\\p{N}", find_first<digit_at>};
const split_pattern digits{"\\p{N}+", find_first<digits_at>};
const split_pattern three_digits{"[0-9][0-9][0-9]", find_first<three_digits_at>};
const split_pattern punctuation{"[\\p{P}\\$\\+<=>\\^~\\|]+", find_first<punctuation_at<default_symbols>>};
const split_pattern punctuation_falcon{"[\\p{P}\\$\\+<=>\\^~\\|`]+", find_first<punctuation_at<falcon_symbols>>};
const split_pattern newline{"[\\r\\n]", find_first<newline_at>};
const split_pattern space_letters{"\\s?\\p{L}+", find_first<space_then_run_at<letter>>};
const split_pattern space_punctuation{"\\s?\\p{P}+", find_first<space_then_run_at<punct>>};
const split_pattern cjk_hangul{"[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", find_first<ranges_run_at<cjk_hangul_ranges>>};
const split_pattern space_cased_letters{"\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}... (DeepSeek LLM's cased letters)]+",
                                        find_first<space_then_ranges_at<cased_letter_ranges>>};
const split_pattern space_ascii_cjk_punctuation{"\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                                                find_first<space_then_ranges_at<ascii_cjk_punctuation_ranges>>};
const split_pattern trailing_space{"\\s+$", find_trailing_space};
}  // namespace split_patterns

}  // namespace hearth
