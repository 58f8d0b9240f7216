#include "tokenizer/piece_index.h"

#include <bit>

#include "fnv1a.h"

namespace hearth {

uint64_t piece_index::hash(std::string_view s) {
  // FNV-1a, then a final mix so that the low bits (the slot) depend on every byte.
  uint64_t h = fnv1a64(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return h;
}

void piece_index::reserve(size_t n) {
  size_t cap = std::bit_ceil(n * 2 + 2);
  slots_.assign(cap, slot{0, -1});
  mask_ = cap - 1;
}

int32_t piece_index::insert(int32_t id, const std::vector<std::string>& pieces) {
  const std::string_view text = pieces[id];
  const uint64_t h = hash(text);
  const auto tag = static_cast<uint32_t>(h >> 32);
  for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
    slot& s = slots_[i];
    if (s.id < 0) {
      s = {tag, id};
      return -1;
    }
    if (s.tag == tag && pieces[s.id] == text) return s.id;
  }
}

int32_t piece_index::find(std::string_view text, const std::vector<std::string>& pieces) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash(text);
  const auto tag = static_cast<uint32_t>(h >> 32);
  // Terminates: reserve() keeps at least half the slots empty.
  for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
    const slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.tag == tag && pieces[s.id] == text) return s.id;
  }
}

}  // namespace hearth
