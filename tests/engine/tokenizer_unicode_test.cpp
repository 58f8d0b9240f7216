// The generated Unicode tables against known code points (from the Unicode 15.0 code charts).
#include <catch2/catch.hpp>

#include <vector>

#include "tokenizer/unicode.h"

using namespace hearth;
using cat = unicode_category;

TEST_CASE("unicode: categories and White_Space of known code points", "[tokenizer][unicode]") {
  CHECK(unicode_version() == "15.0.0");
  struct known {
    uint32_t cp;
    unicode_category category;
    bool space;
  };
  // From the Unicode 15.0 code charts.
  const known cases[] = {
      {'A', cat::Lu, false},       {'z', cat::Ll, false},      {'0', cat::Nd, false},     {' ', cat::Zs, true},
      {'\t', cat::Cc, true},       {'\n', cat::Cc, true},      {0x0B, cat::Cc, true},     {0x1C, cat::Cc, false},
      {'!', cat::Po, false},       {'$', cat::Sc, false},      {'+', cat::Sm, false},     {'^', cat::Sk, false},
      {'_', cat::Pc, false},       {'(', cat::Ps, false},      {'~', cat::Sm, false},     {0x7F, cat::Cc, false},
      {0x85, cat::Cc, true},       {0xA0, cat::Zs, true},      {0xAD, cat::Cf, false},    {0xB5, cat::Ll, false},
      {0xBD, cat::No, false},      {0x01C5, cat::Lt, false},   {0x02B0, cat::Lm, false},  {0x0301, cat::Mn, false},
      {0x0378, cat::Cn, false},    {0x0903, cat::Mc, false},   {0x1680, cat::Zs, true},   {0x200B, cat::Cf, false},
      {0x2028, cat::Zl, true},     {0x2029, cat::Zp, true},    {0x202F, cat::Zs, true},   {0x2160, cat::Nl, false},
      {0x3000, cat::Zs, true},     {0x3007, cat::Nl, false},   {0x4E00, cat::Lo, false},  {0x9FFF, cat::Lo, false},
      {0xAC00, cat::Lo, false},    {0xD7A3, cat::Lo, false},   {0xD800, cat::Cs, false},  {0xE000, cat::Co, false},
      {0xFFFD, cat::So, false},    {0xFFFF, cat::Cn, false},   {0x1F999, cat::So, false}, {0x20000, cat::Lo, false},
      {0x10FFFD, cat::Co, false},  {0x10FFFF, cat::Cn, false}, {0x110000, cat::Cn, false},
  };
  for (const known& k : cases) {
    INFO("U+" << std::hex << k.cp);
    CHECK(unicode_category_of(k.cp) == k.category);
    CHECK(unicode_is_space(k.cp) == k.space);
    CHECK(((unicode_classes(k.cp) & unicode_class::space) != 0) == k.space);
  }
}

TEST_CASE("unicode: case folding, lowercase and decomposition of known code points", "[tokenizer][unicode]") {
  CHECK(unicode_fold_case('A') == 'a');
  CHECK(unicode_fold_case('a') == 'a');
  CHECK(unicode_fold_case(0x017F) == 's');      // LATIN SMALL LETTER LONG S folds to s
  CHECK(unicode_fold_case(0x212A) == 'k');      // KELVIN SIGN
  CHECK(unicode_fold_case(0x1E9E) == 0x00DF);   // CAPITAL SHARP S, simple folding
  CHECK(unicode_fold_case(0x0100) == 0x0101);   // alternating pairs
  CHECK(unicode_fold_case(0x0101) == 0x0101);
  CHECK(unicode_fold_case(0x0410) == 0x0430);   // Cyrillic А
  CHECK(unicode_to_lower('Q') == 'q');
  CHECK(unicode_to_lower(0x0130) == 'i');       // İ: simple lowercase
  CHECK(unicode_to_lower(0x017F) == 0x017F);    // already lowercase
  CHECK(unicode_to_lower(0x10400) == 0x10428);  // DESERET
  uint32_t buf[4];
  auto dec = [&](uint32_t c) {
    auto s = unicode_decompose(c, buf);
    return std::vector<uint32_t>(s.begin(), s.end());
  };
  CHECK(dec(0xE9) == std::vector<uint32_t>{'e', 0x301});
  CHECK(dec(0x1E69) == std::vector<uint32_t>{'s', 0x323, 0x307});  // recursive
  CHECK(dec(0xAC00) == std::vector<uint32_t>{0x1100, 0x1161});     // Hangul LV
  CHECK(dec(0xAC01) == std::vector<uint32_t>{0x1100, 0x1161, 0x11A8});
  CHECK(dec('a') == std::vector<uint32_t>{'a'});
  CHECK(dec(0xFB01) == std::vector<uint32_t>{0xFB01});  // compatibility only: no canonical form
}
