// Repacking the weights at load is shared between threads (model::load's `threads`); the packed
// bytes must not depend on how many there were.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "model/model.h"
#include "reference.h"

using namespace hearth;

TEST_CASE("model: the packed weights are the same bytes whatever the threads that packed them", "[model]") {
  const auto path = test::shared_path("models/stories260K-q4_0.gguf");
  const auto one = model::load(path, 1);
  const auto three = model::load(path, 3);
  int packed = 0;
  const auto same = [&](const weight& a, const weight& b) {
    REQUIRE((a.packed == nullptr) == (b.packed == nullptr));
    if (!a.packed) return;
    ++packed;
    CHECK(a.packed_group_bytes == b.packed_group_bytes);
    CHECK(std::memcmp(a.packed, b.packed, kernels::packed_bytes(a.type, a.rows, a.cols)) == 0);
  };
  same(one->output(), three->output());
  for (size_t i = 0; i < one->layers().size(); ++i) {
    const layer_weights& a = one->layers()[i];
    const layer_weights& b = three->layers()[i];
    for (auto w : {&layer_weights::wq, &layer_weights::wk, &layer_weights::wv, &layer_weights::wo,
                   &layer_weights::ffn_gate, &layer_weights::ffn_up, &layer_weights::ffn_down}) {
      same(a.*w, b.*w);
    }
  }
  // Where the kernels read a packed Q4_0 layout, this file's Q4_0 matrices were packed.
  if (kernels::gemm_packed_for(kernels::active(), ggml_type::q4_0)) CHECK(packed > 0);
  CHECK(one->packed_bytes() == three->packed_bytes());
}

// interleave_dwords against its contract (packing.h), written out byte by byte: byte
// offset + 4j + i of row r goes to out[64 j + 4 r + i], XORed with flip; missing rows are zeros.
// Whole groups take a vector path 4 dwords at a time, so lengths that are and are not multiples
// of 16 bytes, and groups with missing rows, are all checked.
TEST_CASE("packing: interleave_dwords puts 4-byte groups of 16 rows side by side", "[kernels]") {
  constexpr size_t offset = 6, row_len = 160;
  uint8_t storage[16][row_len];
  for (int r = 0; r < 16; ++r) {
    for (size_t b = 0; b < row_len; ++b) storage[r][b] = static_cast<uint8_t>(r * 37 + b * 11 + (b >> 3));
  }
  const uint8_t* rows[16];
  for (int r = 0; r < 16; ++r) rows[r] = storage[r];
  for (int present : {16, 11, 1}) {
    for (int bytes : {4, 12, 16, 32, 128}) {
      for (int flip : {0x00, 0x80}) {
        std::vector<uint8_t> out(static_cast<size_t>(16 * bytes), 0xEE);
        kernels::interleave_dwords(rows, present, offset, bytes, out.data(), static_cast<uint8_t>(flip));
        int wrong = 0;
        for (int j = 0; j < bytes / 4; ++j) {
          for (int r = 0; r < 16; ++r) {
            for (int i = 0; i < 4; ++i) {
              const uint8_t want = r < present ? static_cast<uint8_t>(storage[r][offset + 4 * j + i] ^ flip) : 0;
              wrong += out[static_cast<size_t>(64 * j + 4 * r + i)] != want;
            }
          }
        }
        INFO("present " << present << ", bytes " << bytes << ", flip " << flip);
        CHECK(wrong == 0);
      }
    }
  }
}
