#include "kernels/attention_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/exp_steps.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

void attend_quantized(const kernel_set& ks, ggml_type ktype, ggml_type vtype, const float* q, int64_t heads,
                      int64_t hd, const uint8_t* const* keys, const uint8_t* const* values, int32_t block_size,
                      int64_t first, int64_t n, float scale, float cap, float* out) {
  const type_traits& kt = *type_traits_of(ktype);
  const type_traits& vt = *type_traits_of(vtype);
  const size_t k_row = static_cast<size_t>(hd / kt.block) * kt.block_bytes;
  const size_t v_row = static_cast<size_t>(hd / vt.block) * vt.block_bytes;
  const size_t q_row = act_row_bytes(kt.act, hd);
  const gemm_fn scores_of = gemm_for(ks, ktype, hd);
  // Per thread: the converted queries (heads rows), one block's scores (heads x block_size),
  // the accumulators (heads x hd), one dequantized value row, and each head's max and sum.
  thread_local std::vector<uint8_t> qa;
  thread_local std::vector<float> scores, acc, vrow, max, sum;
  qa.resize(heads * q_row);
  scores.resize(static_cast<size_t>(heads) * block_size);
  acc.assign(static_cast<size_t>(heads * hd), 0.0f);
  vrow.resize(hd);
  max.assign(heads, -INFINITY);
  sum.assign(heads, 0.0f);
  const convert_fn convert = convert_for(ks, kt.act);
  for (int64_t h = 0; h < heads; ++h) convert(q + h * hd, qa.data() + h * q_row, hd);
  if (cap > 0) scale /= cap;
  for (int64_t t0 = first; t0 < n;) {
    // Positions [t0, t1) lie in one cache block: their scores for every head in one matmul.
    const int64_t b = t0 / block_size, r0 = t0 % block_size;
    const int64_t t1 = std::min(n, (b + 1) * block_size), count = t1 - t0;
    scores_of(hd, keys[b] + r0 * k_row, k_row, count, qa.data(), q_row, heads, scores.data(), block_size);
    for (int64_t t = 0; t < count; ++t) {
      vt.dequantize(values[b] + (r0 + t) * v_row, vrow.data(), hd);
      for (int64_t h = 0; h < heads; ++h) {
        float s = scores[h * block_size + t] * scale;
        if (cap > 0) s = cap * std::tanh(s);
        float* a = acc.data() + h * hd;
        float ms = 1.0f, vs = 1.0f;
        if (s > max[h]) {
          ms = exp_steps::exp(max[h] - s);
          max[h] = s;
          ks.scale_f32(a, ms, hd);
        } else {
          vs = exp_steps::exp(s - max[h]);
        }
        ks.mad_f32(a, vrow.data(), vs, hd);
        sum[h] = sum[h] * ms + vs;
      }
    }
    t0 = t1;
  }
  for (int64_t h = 0; h < heads; ++h) {
    const float inv = sum[h] == 0.0f ? 0.0f : 1.0f / sum[h];
    for (int64_t j = 0; j < hd; ++j) out[h * hd + j] = acc[h * hd + j] * inv;
  }
}

}  // namespace hearth::kernels
