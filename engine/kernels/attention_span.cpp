#include "kernels/attention_span.h"

#include <algorithm>
#include <cmath>

#include "kernels/exp_steps.h"
#include "kernels/fp16.h"

namespace hearth::kernels {

void attend_span(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd,
                 const uint16_t* const* keys, const uint16_t* const* values, int32_t block_size, int64_t first,
                 int64_t n, float scale, float cap, float* out) {
  uint16_t acc[1024];  // head dims are at most 1024 (hparams)
  if (cap > 0) scale /= cap;
  for (int64_t h = 0; h < heads; ++h) {
    const uint16_t* qh = q + h * hd;
    std::fill(acc, acc + hd, uint16_t{0});
    float m = -INFINITY, sum = 0.0f;
    for (int64_t t = first; t < n; ++t) {
      const uint16_t* k = keys[t / block_size] + (t % block_size) * hd;
      const uint16_t* v = values[t / block_size] + (t % block_size) * hd;
      float s = ks.dot_f16(qh, k, hd) * scale;
      if (cap > 0) s = cap * std::tanh(s);
      float ms = 1.0f, vs = 1.0f;
      if (s > m) {
        ms = exp_steps::exp(m - s);
        m = s;
        ks.scale_f16(acc, ms, hd);
      } else {
        vs = exp_steps::exp(s - m);
      }
      ks.mad_f16(acc, v, vs, hd);
      sum = sum * ms + vs;
    }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < hd; ++j) out[h * hd + j] = fp16_to_fp32(acc[j]) * inv;
  }
}

}  // namespace hearth::kernels
