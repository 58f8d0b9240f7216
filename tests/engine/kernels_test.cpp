// Every SIMD kernel against its scalar twin, on random data and odd sizes. The kernels compute
// the same recipes (kernels_ref.cpp), so the results must be identical, bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cpu_flags.h"
#include "kernels/exp_steps.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "kernels/type_traits.h"

using namespace hearth;
using namespace hearth::kernels;

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// The SIMD sets this CPU can run. Fails the test when they are not the sets /proc/cpuinfo
// calls for (cpu_features_test says which is wrong): a set missing from the list would go
// untested here while production might still choose it, or production falls back silently.
std::vector<const kernel_set*> simd_sets() {
  std::vector<const kernel_set*> out = supported_simd_sets();
  std::vector<std::string> names;
  for (const kernel_set* ks : out) names.push_back(ks->name);
  REQUIRE(names == test::expected_simd_sets(test::cpuinfo_flags()));
  if (out.empty()) WARN("no SIMD kernel set on this CPU (no AVX2 in /proc/cpuinfo): nothing to compare");
  return out;
}

// values (n rows of k) stored as `type`, in the stored layout.
std::vector<uint8_t> store_weights(ggml_type type, const std::vector<float>& values, int64_t n, int64_t k) {
  const size_t row = ggml_row_size(type, k);
  std::vector<uint8_t> w(row * n);
  for (int64_t r = 0; r < n; ++r) type_traits_of(type)->quantize(values.data() + r * k, w.data() + r * row, k);
  return w;
}

// Random weights of `type`, n rows of k, in the stored layout.
std::vector<uint8_t> make_weights(ggml_type type, int64_t n, int64_t k, uint64_t seed) {
  return store_weights(type, random_floats(static_cast<size_t>(n * k), seed, 0.05f), n, k);
}

// Activations x (m rows of k) converted with `ks` for a weight type.
std::vector<uint8_t> convert_acts(const kernel_set& ks, ggml_type type, const std::vector<float>& x, int64_t m,
                                  int64_t k) {
  const act_format f = act_format_of(type);
  if (f == act_format::f32) {
    std::vector<uint8_t> out(x.size() * 4);
    std::memcpy(out.data(), x.data(), out.size());
    return out;
  }
  const size_t row = act_row_bytes(f, k);
  std::vector<uint8_t> out(row * m);
  for (int64_t i = 0; i < m; ++i) convert_for(ks, f)(x.data() + i * k, out.data() + i * row, k);
  return out;
}

// Random activations converted with `ks` for a weight type: m rows of k.
std::vector<uint8_t> make_acts(const kernel_set& ks, ggml_type type, int64_t m, int64_t k, uint64_t seed) {
  return convert_acts(ks, type, random_floats(static_cast<size_t>(m * k), seed), m, k);
}

std::vector<float> run_gemm(const kernel_set& ks, ggml_type type, const std::vector<uint8_t>& w, int64_t n,
                            int64_t k, const std::vector<uint8_t>& x, int64_t m) {
  std::vector<float> y(static_cast<size_t>(m * n), -1.0f);
  const size_t x_stride = x.size() / m;
  const gemm_fn packed = gemm_packed_for(ks, type);
  if (packed) {
    std::vector<uint8_t> p(packed_bytes(type, n, k));
    pack_weights(type, w.data(), ggml_row_size(type, k), n, k, p.data(), 0, (n + 15) / 16);
    packed(k, p.data(), packed_group_bytes(type, k), n, x.data(), x_stride, m, y.data(), n);
  } else {
    gemm_for(ks, type, k)(k, w.data(), ggml_row_size(type, k), n, x.data(), x_stride, m, y.data(), n);
  }
  return y;
}

}  // namespace

TEST_CASE("kernels: activation conversion equals the scalar reference", "[kernels]") {
  for (const kernel_set* ks : simd_sets()) {
    for (int64_t k : {32, 64, 96, 256, 2048, 5632}) {
      auto x = random_floats(static_cast<size_t>(k), 7 + k, 3.0f);
      x[5] = 0.0f;
      for (act_format f : {act_format::q8, act_format::q8_k, act_format::f16, act_format::bf16}) {
        if (k % act_format_info(f).block != 0) continue;
        std::vector<uint8_t> a(act_row_bytes(f, k)), b(act_row_bytes(f, k));
        convert_for(scalar(), f)(x.data(), a.data(), k);
        convert_for(*ks, f)(x.data(), b.data(), k);
        INFO(ks->name << " k=" << k << " format " << static_cast<int>(f));
        CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
      }
    }
    // Values at rounding ties, denormals, infinities and NaN convert the same way too.
    std::vector<float> edge = {1.0f + 0x1p-8f, 1.0f + 0x1p-7f + 0x1p-8f, 1e-40f, -3e-39f, INFINITY, -INFINITY, NAN,
                               65520.0f, 6e-8f, 3e-8f, -0.0f, 0x1p-14f, 1.5f, 2.5f, -2.5f, 1e38f};
    for (act_format f : {act_format::f16, act_format::bf16}) {
      std::vector<uint8_t> a(act_row_bytes(f, 16)), b(a.size());
      convert_for(scalar(), f)(edge.data(), a.data(), 16);
      convert_for(*ks, f)(edge.data(), b.data(), 16);
      INFO(ks->name << " edge values, format " << static_cast<int>(f));
      CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
    }
    // A block of zeros (scale 0) and exact halves (ties round to even).
    std::vector<float> z(512, 0.0f);
    for (int i = 256; i < 512; ++i) z[i] = (i % 64 - 32) * 0.5f;
    for (act_format f : {act_format::q8, act_format::q8_k}) {
      std::vector<uint8_t> a(act_row_bytes(f, 512)), b(a.size());
      convert_for(scalar(), f)(z.data(), a.data(), 512);
      convert_for(*ks, f)(z.data(), b.data(), 512);
      INFO(ks->name << " zeros and ties, format " << act_format_info(f).name);
      CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
    }
  }
}

namespace {

// The types each SIMD set computes with kernels of its own (stored or packed layout); the others
// fall back to the scalar reference. A kernel registered or dropped without this table changing
// fails the check below.
struct simd_coverage {
  std::string_view set;
  std::vector<ggml_type> types;
};
const std::vector<ggml_type> packed_types = {ggml_type::q8_0, ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0,
                                             ggml_type::q5_1, ggml_type::q2_k, ggml_type::q3_k, ggml_type::q4_k,
                                             ggml_type::q5_k, ggml_type::q6_k, ggml_type::iq4_nl, ggml_type::iq4_xs};
std::vector<ggml_type> float_and(const std::vector<ggml_type>& quantized) {
  std::vector<ggml_type> out = {ggml_type::f32, ggml_type::f16, ggml_type::bf16};
  out.insert(out.end(), quantized.begin(), quantized.end());
  return out;
}
const simd_coverage coverage[] = {
    {"avx2", float_and(packed_types)},
    {"avx512-vnni", float_and(packed_types)},
};

std::vector<ggml_type> own_kernels(const kernel_set& ks) {
  std::vector<ggml_type> out;
  for (const type_traits* t : all_type_traits()) {
    const auto id = static_cast<uint32_t>(t->type);
    if (ks.gemm_packed[id] || ks.gemm[id] != scalar().gemm[id]) out.push_back(t->type);
  }
  return out;
}

// Compares every SIMD set with the reference on one type and size, noting each (set, type) pair.
void compare_sets(const std::vector<const kernel_set*>& sets, ggml_type type, int64_t n, int64_t k, int64_t m,
                  std::set<std::pair<std::string, ggml_type>>& pairs) {
  auto w = make_weights(type, n, k, 100 * n + k);
  auto x_ref = make_acts(scalar(), type, m, k, 7 * m + k);
  auto expect = run_gemm(scalar(), type, w, n, k, x_ref, m);
  for (const kernel_set* ks : sets) {
    auto x_simd = make_acts(*ks, type, m, k, 7 * m + k);
    INFO(ks->name << " " << ggml_type_name(type) << " n=" << n << " k=" << k << " m=" << m);
    REQUIRE(x_ref == x_simd);
    auto got = run_gemm(*ks, type, w, n, k, x_simd, m);
    REQUIRE(std::memcmp(expect.data(), got.data(), expect.size() * 4) == 0);
    pairs.insert({ks->name, type});
  }
}

}  // namespace

TEST_CASE("kernels: every SIMD set accelerates the types its coverage row names", "[kernels]") {
  for (const kernel_set* ks : simd_sets()) {
    const simd_coverage* row = nullptr;
    for (const simd_coverage& c : coverage) if (c.set == ks->name) row = &c;
    INFO(ks->name);
    REQUIRE(row);
    CHECK(own_kernels(*ks) == row->types);
  }
}

TEST_CASE("kernels: matmuls equal the scalar reference for every (set, type) pair and odd sizes", "[kernels]") {
  // Every type the engine computes with; a new row in the traits table must be counted here.
  CHECK(all_type_traits().size() == 15);
  const auto sets = simd_sets();
  std::set<std::pair<std::string, ggml_type>> pairs;
  for (const type_traits* t : all_type_traits()) {
    const int64_t base = std::max<int64_t>(32, t->block);
    for (int64_t blocks : {1, 2, 5}) {
      for (int64_t n : {1, 15, 16, 17, 40, 100}) {
        for (int64_t m = 1; m <= 17; ++m) compare_sets(sets, t->type, n, blocks * base, m, pairs);
      }
    }
    for (int64_t n : {16, 33}) {
      for (int64_t m : {1, 3, 4, 17}) compare_sets(sets, t->type, n, std::max<int64_t>(2048, 8 * base), m, pairs);
    }
  }
  CHECK(pairs.size() == sets.size() * all_type_traits().size());
  // Prefill's weight slices (tile_slice_bytes, 256 KB: 112 rows of Q4_0 or Q4_K and 48 of Q8_0
  // at k = 4096): two or more, the last one and its last group partial, under two tiles of 8
  // rows and a rest. The slicing is one template for every type; these cover both kernel kinds.
  for (ggml_type type : {ggml_type::q4_0, ggml_type::q8_0, ggml_type::q4_k}) {
    compare_sets(sets, type, 16 * 12 + 7, 4096, 17, pairs);
  }
}

TEST_CASE("kernels: F32, F16 and BF16 matmuls agree bit for bit on numbers all three hold exactly",
          "[kernels]") {
  // First principles, not one kernel against another: the float matmuls share one recipe, and
  // numbers with 8 significant bits in F16's range convert to F16 and BF16 without loss, so
  // weights and activations made of such numbers must give the same bits in all three types.
  // A BF16 or F16 path that loads, converts or routes its rows wrongly cannot pass.
  const auto exact = [](std::vector<float> v) {
    for (float& x : v) {
      x = bf16_to_fp32(fp32_to_bf16(x));
      if (fp16_to_fp32(fp32_to_fp16(x)) != x) x = 0.0f;
    }
    return v;
  };
  std::vector<const kernel_set*> sets = {&scalar()};
  for (const kernel_set* ks : simd_sets()) sets.push_back(ks);
  for (const kernel_set* ks : sets) {
    for (int64_t k : {32, 160, 172, 2048}) {
      const int64_t n = 17, m = 3;
      const std::vector<float> w = exact(random_floats(static_cast<size_t>(n * k), 50 + k, 0.05f));
      const std::vector<float> x = exact(random_floats(static_cast<size_t>(m * k), 60 + k, 2.0f));
      std::vector<float> y[3];
      int i = 0;
      for (ggml_type type : {ggml_type::f32, ggml_type::f16, ggml_type::bf16}) {
        y[i++] = run_gemm(*ks, type, store_weights(type, w, n, k), n, k, convert_acts(*ks, type, x, m, k), m);
      }
      INFO(ks->name << " k=" << k);
      CHECK(std::memcmp(y[0].data(), y[1].data(), y[0].size() * 4) == 0);
      CHECK(std::memcmp(y[0].data(), y[2].data(), y[0].size() * 4) == 0);
    }
  }
}

TEST_CASE("kernels: float rows whose length is not a multiple of 16 use the reference recipe", "[kernels]") {
  for (const kernel_set* ks : simd_sets()) {
    const int64_t k = 172, n = 64, m = 3;  // stories260K's ffn_down
    auto w = make_weights(ggml_type::f32, n, k, 1);
    auto x = make_acts(scalar(), ggml_type::f32, m, k, 2);
    CHECK(run_gemm(scalar(), ggml_type::f32, w, n, k, x, m) == run_gemm(*ks, ggml_type::f32, w, n, k, x, m));
  }
}

TEST_CASE("kernels: a row's result does not depend on the other rows of the batch", "[kernels]") {
  for (const kernel_set* ks : simd_sets()) {
    for (const type_traits* t : all_type_traits()) {
      const ggml_type type = t->type;
      const int64_t k = 512, n = 48;
      auto w = make_weights(type, n, k, 3);
      auto x = make_acts(*ks, type, 7, k, 4);
      auto all = run_gemm(*ks, type, w, n, k, x, 7);
      const size_t row = x.size() / 7;
      for (int64_t i = 0; i < 7; ++i) {
        std::vector<uint8_t> one(x.begin() + i * row, x.begin() + (i + 1) * row);
        auto alone = run_gemm(*ks, type, w, n, k, one, 1);
        CHECK(std::memcmp(alone.data(), all.data() + i * n, n * 4) == 0);
      }
    }
  }
}

TEST_CASE("kernels: attention kernels equal the scalar reference", "[kernels]") {
  for (const kernel_set* ks : simd_sets()) {
    for (int64_t n : {8, 16, 64, 80, 128, 200}) {
      auto qf = random_floats(static_cast<size_t>(n), n);
      auto kf = random_floats(static_cast<size_t>(n), n + 1);
      // Magnitudes over many octaves, so sums in a different order would round differently.
      std::mt19937 rng(static_cast<uint32_t>(n));
      for (float& v : kf) v = std::ldexp(v, static_cast<int>(rng() % 16) - 8);
      std::vector<uint16_t> q(n), kk(n), acc_ref(n), acc(n);
      for (int64_t i = 0; i < n; ++i) {
        q[i] = fp32_to_fp16(qf[i]);
        kk[i] = fp32_to_fp16(kf[i]);
        acc_ref[i] = acc[i] = fp32_to_fp16(qf[i] * 0.3f);
      }
      INFO(ks->name << " n=" << n);
      CHECK(scalar().dot_f16(q.data(), kk.data(), n) == ks->dot_f16(q.data(), kk.data(), n));
      scalar().mad_f16(acc_ref.data(), kk.data(), 0.37f, n);
      ks->mad_f16(acc.data(), kk.data(), 0.37f, n);
      CHECK(acc_ref == acc);
      scalar().scale_f16(acc_ref.data(), 0.81f, n);
      ks->scale_f16(acc.data(), 0.81f, n);
      CHECK(acc_ref == acc);
    }
  }
}

namespace {

// Random F16 queries (heads x hd) and an F16 cache of n positions in blocks of 16, as attention
// reads them.
struct f16_attention_case {
  static constexpr int32_t bs = 16;
  std::vector<uint16_t> q, kc, vc;
  std::vector<const uint16_t*> keys, values;

  f16_attention_case(int64_t heads, int64_t hd, int64_t n, uint64_t seed) {
    const int64_t blocks = (n + bs - 1) / bs;
    q = to_f16_row(random_floats(static_cast<size_t>(heads * hd), seed));
    kc = to_f16_row(random_floats(static_cast<size_t>(blocks * bs * hd), seed + 1, 2.0f));
    vc = to_f16_row(random_floats(static_cast<size_t>(blocks * bs * hd), seed + 2));
    for (int64_t b = 0; b < blocks; ++b) {
      keys.push_back(kc.data() + b * bs * hd);
      values.push_back(vc.data() + b * bs * hd);
    }
  }
  static std::vector<uint16_t> to_f16_row(const std::vector<float>& x) {
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = fp32_to_fp16(x[i]);
    return h;
  }
  std::vector<float> attend(const kernel_set& ks, int64_t heads, int64_t hd, int64_t first, int64_t n, float cap) const {
    std::vector<float> out(static_cast<size_t>(heads * hd));
    ks.attend(ks, q.data(), heads, hd, keys.data(), values.data(), bs, first, n, 0.125f, cap, out.data());
    return out;
  }
};

}  // namespace

TEST_CASE("kernels: grouped attention equals the per-head reference", "[kernels]") {
  for (const kernel_set* ks : simd_sets()) {
    for (int64_t hd : {64, 128, 80, 192, 256}) {
      for (int64_t heads : {1, 4, 8}) {
        for (int64_t n : {1, 5, 16, 17, 100}) {
          const f16_attention_case c(heads, hd, n, 11 + static_cast<uint64_t>(n));
          const std::vector<float> expect = c.attend(scalar(), heads, hd, 0, n, 0.0f);
          const std::vector<float> got = c.attend(*ks, heads, hd, 0, n, 0.0f);
          INFO(ks->name << " hd=" << hd << " heads=" << heads << " n=" << n);
          REQUIRE(std::memcmp(expect.data(), got.data(), expect.size() * 4) == 0);
        }
      }
    }
  }
}

TEST_CASE("kernels: attention over a sliding window and with soft-capped scores is that softmax, and every set gives the reference's bits",
          "[kernels]") {
  // Windows that start inside a block, on a block boundary and at the last position; caps that
  // bend the scores (1.5: scores here reach ~±6) and one that barely does (Gemma 2's 50).
  const struct {
    int64_t first, n;
  } spans[] = {{0, 17}, {5, 17}, {16, 40}, {37, 100}, {99, 100}};
  for (int64_t hd : {64, 80, 256}) {
    for (int64_t heads : {1, 8}) {
      for (const auto& s : spans) {
        for (float cap : {0.0f, 1.5f, 50.0f}) {
          const f16_attention_case c(heads, hd, s.n, 31 + static_cast<uint64_t>(s.n + s.first));
          const std::vector<float> expect = c.attend(scalar(), heads, hd, s.first, s.n, cap);
          INFO("hd=" << hd << " heads=" << heads << " first=" << s.first << " n=" << s.n << " cap=" << cap);
          // First principles, in double: softmax over [first, n) of cap * tanh(q·k * scale / cap)
          // (or q·k * scale), weighting the value rows. The reference accumulates in F16, so
          // agreement is to F16's precision.
          for (int64_t h = 0; h < heads; ++h) {
            std::vector<double> score;
            double top = -INFINITY;
            for (int64_t t = s.first; t < s.n; ++t) {
              double dot = 0;
              for (int64_t i = 0; i < hd; ++i) {
                dot += static_cast<double>(fp16_to_fp32(c.q[h * hd + i])) * fp16_to_fp32(c.kc[t * hd + i]);
              }
              double sc = dot * 0.125;
              if (cap > 0) sc = cap * std::tanh(sc / cap);
              score.push_back(sc);
              top = std::max(top, sc);
            }
            double total = 0;
            for (double& sc : score) total += (sc = std::exp(sc - top));
            for (int64_t i = 0; i < hd; ++i) {
              double want = 0;
              for (int64_t t = s.first; t < s.n; ++t) want += score[t - s.first] * fp16_to_fp32(c.vc[t * hd + i]);
              want /= total;
              REQUIRE(std::abs(expect[h * hd + i] - want) <= 4e-3 * (1 + std::abs(want)));
            }
          }
          for (const kernel_set* ks : simd_sets()) {
            const std::vector<float> got = c.attend(*ks, heads, hd, s.first, s.n, cap);
            INFO(ks->name);
            REQUIRE(std::memcmp(expect.data(), got.data(), expect.size() * 4) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("kernels: grouped attention keeps the reference's order on ties and rising scores", "[kernels]") {
  // Scores that raise the maximum at every position (each key a larger multiple of one row), that
  // fall, that tie exactly (a key row repeated) and that alternate, within a block and across
  // block boundaries: the softmax's steps must take each raise in position order and carry the
  // running maximum into the next block, as the per-head reference does. (A tie raised or not
  // gives the same bits: the rescale is by exp(0) = 1.)
  const int64_t hd = 64, heads = 8;
  const int32_t bs = 16;
  const auto qf = random_floats(static_cast<size_t>(heads * hd), 21);
  const auto base = random_floats(static_cast<size_t>(hd), 22);
  for (int pattern = 0; pattern < 4; ++pattern) {
    for (int64_t n : {3, 16, 29, 48}) {
      const int64_t blocks = (n + bs - 1) / bs;
      std::vector<uint16_t> q(qf.size()), kc(static_cast<size_t>(blocks * bs * hd)), vc(kc.size());
      for (size_t i = 0; i < q.size(); ++i) q[i] = fp32_to_fp16(qf[i]);
      const auto vf = random_floats(vc.size(), 23 + n);
      for (size_t i = 0; i < vc.size(); ++i) vc[i] = fp32_to_fp16(vf[i]);
      for (int64_t p = 0; p < blocks * bs; ++p) {
        // 0: one row everywhere; 1: rising; 2: falling; 3: two values alternating (ties and raises).
        const float f = pattern == 0   ? 1.0f
                        : pattern == 1 ? 0.25f * static_cast<float>(p + 1)
                        : pattern == 2 ? 0.25f * static_cast<float>(n - p)
                                       : (p % 2 == 0 ? 1.0f : 1.5f);
        for (int64_t i = 0; i < hd; ++i) kc[p * hd + i] = fp32_to_fp16(f * base[i]);
      }
      std::vector<const uint16_t*> keys, values;
      for (int64_t b = 0; b < blocks; ++b) {
        keys.push_back(kc.data() + b * bs * hd);
        values.push_back(vc.data() + b * bs * hd);
      }
      std::vector<float> expect(heads * hd);
      scalar().attend(scalar(), q.data(), heads, hd, keys.data(), values.data(), bs, 0, n, 0.125f, 0.0f, expect.data());
      for (const kernel_set* ks : simd_sets()) {
        std::vector<float> got(heads * hd);
        ks->attend(*ks, q.data(), heads, hd, keys.data(), values.data(), bs, 0, n, 0.125f, 0.0f, got.data());
        INFO(ks->name << " pattern " << pattern << " n=" << n);
        REQUIRE(std::memcmp(expect.data(), got.data(), expect.size() * 4) == 0);
      }
    }
  }
}

namespace {

// ulps between two finite floats of the same sign (0 when equal).
int64_t ulps_apart(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::abs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
}

}  // namespace

TEST_CASE("kernels: silu_mul's exp steps are exp correctly rounded all but rarely, and every set gives the scalar set's bits",
          "[kernels]") {
  // The scalar steps against exp in double rounded to float: 250,000 floats across [-104, 89],
  // subnormal results and overflow included.
  // They may differ only where exp lies within ~2^-42 of a midpoint between floats (expected
  // about once in 2^18 inputs), and then by 1 ulp.
  int64_t worst = 0, differ = 0, count = 0;
  for (float x = -104.0f; x <= 89.0f; x = std::nextafter(x + 0.0007f, 100.0f), ++count) {
    const float want = static_cast<float>(std::exp(static_cast<double>(x)));
    const int64_t apart = ulps_apart(exp_steps::exp(x), want);
    worst = std::max(worst, apart);
    differ += apart != 0;
  }
  CHECK(count > 240000);
  CHECK(worst <= 1);
  CHECK(differ <= 8);
  CHECK(std::isnan(exp_steps::exp(std::nanf(""))));
  CHECK(exp_steps::exp(0.0f) == 1.0f);
  CHECK(exp_steps::exp(-1000.0f) == 0.0f);
  CHECK(exp_steps::exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(exp_steps::exp(1000.0f) == std::numeric_limits<float>::infinity());
  CHECK(exp_steps::exp(-100.0f) == static_cast<float>(std::exp(-100.0)));  // a subnormal

  // silu_mul from first principles: gate / (1 + e^-gate) * up in double, within 3 ulp (the roundings
  // of exp, the sum, the division and the product) wherever the result is a normal float.
  std::vector<float> gate = random_floats(4099, 61, 4.0f), up = random_floats(4099, 62, 1.0f);
  for (float edge : {0.0f, -0.0f, 87.5f, -87.5f, 100.0f, -100.0f, 30.0f, -30.0f, 1e-30f, -1e-30f}) gate.push_back(edge);
  gate.push_back(std::numeric_limits<float>::infinity());
  gate.push_back(std::nanf(""));
  up.resize(gate.size(), 1.5f);
  std::vector<float> ref = gate;
  scalar().silu_mul(ref.data(), up.data(), static_cast<int64_t>(ref.size()));
  int64_t silu_worst = 0;
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    const double want = g / (1.0 + std::exp(-g)) * up[i];
    if (std::isnan(gate[i])) {
      CHECK(std::isnan(ref[i]));
    } else if (std::isinf(gate[i])) {
      CHECK(ref[i] == static_cast<float>(want));
    } else if (std::fabs(want) >= std::numeric_limits<float>::min()) {
      silu_worst = std::max(silu_worst, ulps_apart(ref[i], static_cast<float>(want)));
    } else {
      CHECK(std::fabs(ref[i]) < 1e-30f);  // silu of a large negative gate: 0 in float
    }
  }
  CHECK(silu_worst <= 3);

  // Every SIMD set, at every length up to 40 (vector bodies and scalar tails) and at the whole
  // array: the scalar set's bits, NaN for NaN.
  for (const kernel_set* ks : simd_sets()) {
    INFO(ks->name);
    for (int64_t n = 0; n <= 40; ++n) {
      std::vector<float> a(gate.begin() + 4000, gate.begin() + 4000 + n), b = a;
      scalar().silu_mul(a.data(), up.data() + 4000, n);
      ks->silu_mul(b.data(), up.data() + 4000, n);
      CHECK((n == 0 || std::memcmp(a.data(), b.data(), static_cast<size_t>(n) * sizeof(float)) == 0));  // empty: null data
    }
    std::vector<float> got = gate;
    ks->silu_mul(got.data(), up.data(), static_cast<int64_t>(got.size()));
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(ref[i])) {
        CHECK(std::isnan(got[i]));
      } else {
        CHECK(std::memcmp(&got[i], &ref[i], sizeof(float)) == 0);
      }
    }
  }
}
