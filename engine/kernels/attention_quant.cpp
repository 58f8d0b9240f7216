#include "kernels/attention_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

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
  // the accumulators (heads x hd), up to 16 dequantized value rows, one head's scaled (and
  // capped) scores of them, and each head's max and sum.
  constexpr int64_t span = kernel_set::softmax_rows_max;  // positions per softmax_rows_f32 call
  thread_local std::vector<uint8_t> qa;
  thread_local std::vector<float> scores, acc, vrows, max, sum;
  qa.resize(heads * q_row);
  scores.resize(static_cast<size_t>(heads) * block_size);
  acc.assign(static_cast<size_t>(heads * hd), 0.0f);
  vrows.resize(static_cast<size_t>(span * hd));
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
    // Then up to 16 positions at a time: their value rows dequantized once for all heads, and
    // each head's steps through them in position order.
    for (int64_t c0 = 0; c0 < count; c0 += span) {
      const int c = static_cast<int>(std::min(span, count - c0));
      for (int t = 0; t < c; ++t) vt.dequantize(values[b] + (r0 + c0 + t) * v_row, vrows.data() + t * hd, hd);
      for (int64_t h = 0; h < heads; ++h) {
        float s[span];
        for (int t = 0; t < c; ++t) {
          s[t] = scores[h * block_size + c0 + t] * scale;
          if (cap > 0) s[t] = cap * std::tanh(s[t]);
        }
        ks.softmax_rows_f32(s, c, &max[h], &sum[h], acc.data() + h * hd, vrows.data(), hd);
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
