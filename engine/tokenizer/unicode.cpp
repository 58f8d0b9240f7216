// Lookups over the generated tables. Categories are read for every character a pre-tokenizer
// sees, so they go through a two-level table built once from the ranges: the high bits of the
// code point pick one of the distinct 256-entry blocks (Unicode 15 has ~160 of them, 40 KB).
// The rarer questions (case, decomposition) binary-search the generated runs directly.
#include "tokenizer/unicode.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tokenizer/unicode_tables.h"

namespace hearth {

namespace {

constexpr uint32_t max_code_point = 0x10FFFF;
constexpr uint32_t block_bits = 8;
constexpr uint32_t block_size = 1u << block_bits;

class class_table {
 public:
  class_table() {
    const uint32_t n_blocks = (max_code_point + 1) / block_size;
    block_of_.resize(n_blocks);
    std::map<std::string, uint16_t> seen;
    size_t range = 0, space = 0;
    std::string block(block_size * sizeof(uint32_t), '\0');
    for (uint32_t b = 0; b < n_blocks; ++b) {
      for (uint32_t i = 0; i < block_size; ++i) {
        const uint32_t cp = b * block_size + i;
        while (range + 1 < unicode_data::category_range_count && unicode_data::category_ranges[range + 1].first <= cp) {
          ++range;
        }
        while (space < unicode_data::white_space_count && unicode_data::white_space[space].last < cp) ++space;
        uint32_t bits = unicode_class::bit(unicode_data::category_ranges[range].category);
        if (space < unicode_data::white_space_count && unicode_data::white_space[space].first <= cp) {
          bits |= unicode_class::space;
        }
        std::memcpy(block.data() + i * sizeof(uint32_t), &bits, sizeof bits);
      }
      auto [it, fresh] = seen.emplace(block, static_cast<uint16_t>(blocks_.size() / block_size));
      if (fresh) blocks_.insert(blocks_.end(), reinterpret_cast<const uint32_t*>(block.data()),
                                reinterpret_cast<const uint32_t*>(block.data()) + block_size);
      block_of_[b] = it->second;
    }
  }

  uint32_t classes(uint32_t cp) const {
    if (cp > max_code_point) return unicode_class::bit(unicode_category::Cn);
    return blocks_[size_t{block_of_[cp >> block_bits]} * block_size + (cp & (block_size - 1))];
  }

 private:
  std::vector<uint16_t> block_of_;
  std::vector<uint32_t> blocks_;
};

const class_table& unicode_class_table() {
  static const class_table t;
  return t;
}

uint32_t apply_runs(const unicode_data::delta_run* runs, size_t n, uint32_t cp) {
  // The last run whose first is <= cp.
  const unicode_data::delta_run* end = runs + n;
  const auto* it = std::upper_bound(runs, end, cp, [](uint32_t c, const unicode_data::delta_run& r) { return c < r.first; });
  if (it == runs) return cp;
  --it;
  if (cp > it->last || (cp - it->first) % it->stride != 0) return cp;
  return static_cast<uint32_t>(static_cast<int64_t>(cp) + it->delta);
}

// Hangul syllables decompose by arithmetic (Unicode 3.12).
constexpr uint32_t hangul_base = 0xAC00, hangul_count = 11172;
constexpr uint32_t jamo_l = 0x1100, jamo_v = 0x1161, jamo_t = 0x11A7;
constexpr uint32_t n_v = 21, n_t = 28;

}  // namespace

uint32_t unicode_classes(uint32_t cp) { return unicode_class_table().classes(cp); }

unicode_category unicode_category_of(uint32_t cp) {
  const uint32_t bits = unicode_classes(cp) & ~unicode_class::space;
  return static_cast<unicode_category>(std::countr_zero(bits));
}

bool unicode_is_space(uint32_t cp) { return (unicode_classes(cp) & unicode_class::space) != 0; }

uint32_t unicode_fold_case(uint32_t cp) {
  return apply_runs(unicode_data::case_fold, unicode_data::case_fold_count, cp);
}

uint32_t unicode_to_lower(uint32_t cp) {
  return apply_runs(unicode_data::lowercase, unicode_data::lowercase_count, cp);
}

std::span<const uint32_t> unicode_decompose(uint32_t cp, uint32_t (&buffer)[4]) {
  if (cp >= hangul_base && cp < hangul_base + hangul_count) {
    const uint32_t s = cp - hangul_base;
    buffer[0] = jamo_l + s / (n_v * n_t);
    buffer[1] = jamo_v + (s % (n_v * n_t)) / n_t;
    buffer[2] = jamo_t + s % n_t;
    return {buffer, static_cast<size_t>(buffer[2] == jamo_t ? 2 : 3)};
  }
  const auto* begin = unicode_data::decompositions;
  const auto* end = begin + unicode_data::decomposition_count;
  const auto* it = std::lower_bound(begin, end, cp, [](const unicode_data::decomposition& d, uint32_t c) { return d.code_point < c; });
  if (it == end || it->code_point != cp) {
    buffer[0] = cp;
    return {buffer, 1};
  }
  return {unicode_data::decomposition_pool + it->offset, it->length};
}

std::string_view unicode_version() { return unicode_data::version; }

}  // namespace hearth
