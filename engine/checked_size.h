#pragma once
// Element and byte counts computed from numbers that a model file or a user supplied.
//
// The arithmetic never wraps: a result that does not fit in 64 bits (or a negative input)
// becomes "overflowed", which stays overflowed through every later operation, compares greater
// than every real size and prints as "more than 16 EiB". Every allocation whose size derives
// from file metadata or settings (KV cache, forward-pass buffers, sampler state, repacked
// weights, parsed GGUF metadata) is computed with it and compared with a limit before it is
// made, so a crafted file cannot make a size wrap to something small.
//
// A value type; thread-safe like an integer.
#include <compare>
#include <concepts>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace hearth {

class checked_size {
 public:
  constexpr checked_size() = default;
  template <std::integral T>
  constexpr checked_size(T v) {  // implicit, so `checked_size(a) * b * c` reads as math
    if constexpr (std::is_signed_v<T>) overflowed_ = v < 0;
    value_ = overflowed_ ? 0 : static_cast<uint64_t>(v);
  }

  static constexpr checked_size overflow() {
    checked_size s;
    s.overflowed_ = true;
    return s;
  }

  constexpr bool overflowed() const { return overflowed_; }
  // The count. Throws std::length_error when overflowed: compare with a limit first.
  constexpr uint64_t value() const {
    if (overflowed_) throw std::length_error("a size overflowed 64 bits");
    return value_;
  }
  // The count as a size_t; the same precondition.
  constexpr size_t size() const { return static_cast<size_t>(value()); }

  friend constexpr checked_size operator+(checked_size a, checked_size b) {
    uint64_t r = 0;
    if (a.overflowed_ || b.overflowed_ || __builtin_add_overflow(a.value_, b.value_, &r)) return overflow();
    return from(r);
  }
  friend constexpr checked_size operator*(checked_size a, checked_size b) {
    uint64_t r = 0;
    if (a.overflowed_ || b.overflowed_ || __builtin_mul_overflow(a.value_, b.value_, &r)) return overflow();
    return from(r);
  }
  // Rounds down; an overflowed size stays overflowed. Division by zero is overflow too.
  friend constexpr checked_size operator/(checked_size a, checked_size b) {
    if (a.overflowed_ || b.overflowed_ || b.value_ == 0) return overflow();
    return from(a.value_ / b.value_);
  }
  checked_size& operator+=(checked_size b) { return *this = *this + b; }
  checked_size& operator*=(checked_size b) { return *this = *this * b; }

  friend constexpr bool operator==(checked_size a, checked_size b) {
    return a.overflowed_ == b.overflowed_ && (a.overflowed_ || a.value_ == b.value_);
  }
  friend constexpr std::strong_ordering operator<=>(checked_size a, checked_size b) {
    if (a.overflowed_ || b.overflowed_) return a.overflowed_ <=> b.overflowed_;
    return a.value_ <=> b.value_;
  }

 private:
  static constexpr checked_size from(uint64_t v) {
    checked_size s;
    s.value_ = v;
    return s;
  }

  uint64_t value_ = 0;
  bool overflowed_ = false;
};

// The smaller of two sizes (an overflowed one is larger than any other).
constexpr checked_size min_size(checked_size a, checked_size b) { return b < a ? b : a; }
// a rounded up to a multiple of m (m > 0).
constexpr checked_size round_up(checked_size a, uint64_t m) { return (a + (m - 1)) / m * m; }
// a - b, or 0 when b >= a (an overflowed a minus a real b stays overflowed).
constexpr checked_size saturating_sub(checked_size a, checked_size b) {
  if (a.overflowed()) return a;
  if (b >= a) return 0;
  return a.value() - b.value();
}

// "512 bytes", "3.5 KiB", "21.3 GiB", or "more than 16 EiB" for an overflowed size.
std::string format_bytes(checked_size bytes);

}  // namespace hearth
