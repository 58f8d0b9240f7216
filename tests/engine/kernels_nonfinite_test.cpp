// Activations that overflowed to infinity or became NaN (a model with broken weights; found by
// the model fuzz target: a Q8_0 dot product of a NaN block overflowed int32 in the AVX-512 set,
// undefined behaviour). Every kernel set quantizes such a block to d = NaN, q = 0, sum = 0 and
// keeps every dot product with it NaN, without undefined behaviour.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "kernels/quant_blocks.h"

using namespace hearth;
using namespace hearth::kernels;

namespace {

std::vector<const kernel_set*> every_set() {
  std::vector<const kernel_set*> out = {&scalar()};
  for (const kernel_set* ks : supported_simd_sets()) out.push_back(ks);
  return out;
}

// 64 values: block 0 finite, block 1 with `bad` at position 9.
std::vector<float> two_blocks(float bad) {
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  x[32 + 9] = bad;
  return x;
}

}  // namespace

TEST_CASE("kernels: a block with inf or NaN quantizes to d = NaN, q = 0, sum = 0 in every set", "[kernels]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const kernel_set* ks : every_set()) {
    for (float bad : {inf, -inf, nan}) {
      INFO(ks->name << ", bad value " << bad);
      const std::vector<float> x = two_blocks(bad);
      block_q8_act q[2], ref[2];
      convert_for(*ks, act_format::q8)(x.data(), q, 64);
      convert_for(scalar(), act_format::q8)(x.data(), ref, 64);
      CHECK(std::isfinite(q[0].d));  // the finite block is untouched
      CHECK(q[0].d == ref[0].d);
      CHECK(q[0].sum == ref[0].sum);
      CHECK(std::isnan(q[1].d));
      CHECK(q[1].sum == 0);
      for (int8_t v : q[1].qs) CHECK(v == 0);
    }
  }
}

TEST_CASE("kernels: Q8_0 and Q4_0 dot products with a non-finite activation block are NaN", "[kernels]") {
  const int64_t n = 16, k = 64;  // one packed group of rows
  std::vector<float> wf(static_cast<size_t>(n * k));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = 0.01f * static_cast<float>(static_cast<int>(i % 11) - 5);
  const std::vector<float> x = two_blocks(std::numeric_limits<float>::infinity());
  for (const kernel_set* ks : every_set()) {
    for (ggml_type type : {ggml_type::q8_0, ggml_type::q4_0}) {
      INFO(ks->name << " " << ggml_type_name(type));
      const size_t row = ggml_row_size(type, k);
      std::vector<uint8_t> w(row * n);
      for (int64_t r = 0; r < n; ++r) type_traits_of(type)->quantize(wf.data() + r * k, w.data() + r * row, k);
      block_q8_act act[2];
      convert_for(*ks, act_format::q8)(x.data(), act, k);
      std::vector<float> y(n, 0.0f);
      gemm_for(*ks, type, k)(k, w.data(), row, n, act, sizeof act, 1, y.data(), n);
      for (float v : y) CHECK(std::isnan(v));
      const gemm_fn packed = gemm_packed_for(*ks, type);
      if (packed) {
        std::vector<uint8_t> p(packed_bytes(type, n, k));
        pack_weights(type, w.data(), row, n, k, p.data(), 0, 1);
        std::fill(y.begin(), y.end(), 0.0f);
        packed(k, p.data(), packed_group_bytes(type, k), n, act, sizeof act, 1, y.data(), n);
        for (float v : y) CHECK(std::isnan(v));
      }
    }
  }
}
