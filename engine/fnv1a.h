#pragma once
// 64-bit FNV-1a: a fast, non-cryptographic hash of bytes (hash tables, telling files apart).
#include <cstddef>
#include <cstdint>

namespace hearth {

inline constexpr uint64_t fnv1a64_basis = 0xcbf29ce484222325ull;

// FNV-1a of `n` bytes, continuing from `h` (the basis for a fresh hash).
inline uint64_t fnv1a64(const uint8_t* data, size_t n, uint64_t h = fnv1a64_basis) {
  for (size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace hearth
