// checked_size: sizes from untrusted numbers never wrap.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "checked_size.h"

using namespace hearth;

TEST_CASE("checked_size: exact while it fits in 64 bits", "[checked_size]") {
  const checked_size a = checked_size(4096) * 2 * 128 * 16 * 1024;  // 2^34
  CHECK_FALSE(a.overflowed());
  CHECK(a.value() == uint64_t{1} << 34);
  CHECK((a + 1).value() == (uint64_t{1} << 34) + 1);
  CHECK((a / 1024).value() == uint64_t{1} << 24);
  CHECK(round_up(checked_size(1), 64).value() == 64);
  CHECK(round_up(checked_size(128), 64).value() == 128);
  CHECK((checked_size(std::numeric_limits<uint64_t>::max() - 1) + 1).value() == std::numeric_limits<uint64_t>::max());
}

TEST_CASE("checked_size: a product or sum past 2^64 stays overflowed and compares above everything",
          "[checked_size]") {
  // Issue 7's KV cache: 2^34 elements per block times 2^30 blocks is 2^64, which wrapped to 0.
  const checked_size kv = checked_size(uint64_t{1} << 34) * (uint64_t{1} << 30);
  CHECK(kv.overflowed());
  CHECK(kv > checked_size(std::numeric_limits<uint64_t>::max()));
  CHECK((kv * 0).overflowed());  // no way back to a small number
  CHECK((kv / 2).overflowed());
  CHECK((kv + 1).overflowed());
  CHECK(saturating_sub(kv, 5).overflowed());
  CHECK((checked_size(std::numeric_limits<uint64_t>::max()) + 1).overflowed());
  CHECK(checked_size(-1).overflowed());  // a negative count is no size either
  CHECK((checked_size(7) / 0).overflowed());
  CHECK_THROWS_AS(kv.value(), std::length_error);
  CHECK(min_size(kv, 3).value() == 3);
}

TEST_CASE("checked_size: ordering and subtraction", "[checked_size]") {
  CHECK(checked_size(3) < checked_size(4));
  CHECK(checked_size(4) == checked_size(4));
  CHECK(checked_size::overflow() == checked_size::overflow());
  CHECK(saturating_sub(10, 3).value() == 7);
  CHECK(saturating_sub(3, 10).value() == 0);
}

TEST_CASE("format_bytes: binary units with one decimal", "[checked_size]") {
  CHECK(format_bytes(0) == "0 bytes");
  CHECK(format_bytes(1023) == "1023 bytes");
  CHECK(format_bytes(1024) == "1.0 KiB");
  CHECK(format_bytes(uint64_t{32} << 30) == "32.0 GiB");
  CHECK(format_bytes(uint64_t{21'870'000'000}) == "20.4 GiB");
  CHECK(format_bytes(uint64_t{1} << 62) == "4.0 EiB");
  CHECK(format_bytes(checked_size::overflow()) == "more than 16 EiB");
}
