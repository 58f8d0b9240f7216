#pragma once
// Unicode character properties for the pre-tokenizers and normalizers: general category, the
// White_Space property, simple case folding and lowercase, canonical decomposition. The data is
// generated from the Unicode Character Database by scripts/gen-unicode-tables.
//
// Every function is pure and thread-safe; the first call builds a lookup table (once).
#include <cstdint>
#include <span>
#include <string_view>

namespace hearth {

// The general categories, Cn (unassigned) first.
enum class unicode_category : uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe, Pi, Pf, Po,
  Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co,
};

// A set of categories, plus the White_Space property, as one bit mask: what the pre-tokenizers
// test (\p{L} is unicode_class::letter, \s is unicode_class::space, and so on).
namespace unicode_class {
constexpr uint32_t bit(unicode_category c) { return 1u << static_cast<unsigned>(c); }
using enum unicode_category;
constexpr uint32_t letter = bit(Lu) | bit(Ll) | bit(Lt) | bit(Lm) | bit(Lo);
constexpr uint32_t mark = bit(Mn) | bit(Mc) | bit(Me);
constexpr uint32_t number = bit(Nd) | bit(Nl) | bit(No);
constexpr uint32_t punctuation = bit(Pc) | bit(Pd) | bit(Ps) | bit(Pe) | bit(Pi) | bit(Pf) | bit(Po);
constexpr uint32_t symbol = bit(Sm) | bit(Sc) | bit(Sk) | bit(So);
constexpr uint32_t separator = bit(Zs) | bit(Zl) | bit(Zp);
constexpr uint32_t other = bit(Cn) | bit(Cc) | bit(Cf) | bit(Cs) | bit(Co);
constexpr uint32_t space = 1u << 31;  // White_Space (\s)
}  // namespace unicode_class

unicode_category unicode_category_of(uint32_t cp);  // Cn above U+10FFFF
bool unicode_is_space(uint32_t cp);                 // the White_Space property
// unicode_class::bit(category) | (White_Space ? unicode_class::space : 0).
uint32_t unicode_classes(uint32_t cp);
// Simple case folding (CaseFolding.txt C + S), what a case-insensitive regex compares.
uint32_t unicode_fold_case(uint32_t cp);
// Simple lowercase mapping (UnicodeData.txt).
uint32_t unicode_to_lower(uint32_t cp);
// The full canonical decomposition (NFD of one code point, before reordering), or the code point
// itself when it has none. `buffer` receives it when the decomposition is computed (Hangul).
std::span<const uint32_t> unicode_decompose(uint32_t cp, uint32_t (&buffer)[4]);
// The version of the Unicode Character Database the tables were generated from, e.g. "15.0.0".
std::string_view unicode_version();

}  // namespace hearth
