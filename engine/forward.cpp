#include "forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/attention_quant.h"
#include "kernels/type_traits.h"
#include "row_ops.h"

namespace hearth {

namespace {

// Floats of each buffer, in the order of the members (see forward.h).
struct scratch_shape {
  checked_size x, xn, q, k, v, att, delta, gate, up, logits;

  scratch_shape(const hparams& hp, int64_t max_batch, int64_t max_logit_rows) {
    const checked_size m = max_batch;
    x = xn = delta = m * hp.n_embd;
    q = att = m * hp.q_dim();
    k = v = m * hp.kv_dim();
    gate = up = m * hp.n_ff;
    logits = checked_size(max_logit_rows) * hp.n_vocab;
  }
  checked_size floats() const { return x + xn + q + k + v + att + delta + gate + up + logits; }
};

// Attention buffers of one thread (attend_group): the key and value block pointers of one
// sequence, and one KV head group's queries in F16; over a quantized cache (attend_quantized)
// instead its queries in q8 blocks (40 bytes per 32 elements), its float accumulators, the
// scores of one block, a softmax_rows_f32 call's value rows, and each head's max and sum.
checked_size attention_bytes(const hparams& hp, int64_t seq_blocks, int32_t block_size, ggml_type kv_type) {
  const checked_size heads = hp.n_head / hp.n_head_kv;
  const checked_size pointers = checked_size(seq_blocks) * 2 * sizeof(const uint8_t*);
  if (kv_type == ggml_type::f16) return pointers + heads * hp.head_dim * sizeof(uint16_t);
  return pointers + heads * (hp.head_dim / 32 * 40) +
         (heads * hp.head_dim + heads * block_size + kernels::kernel_set::softmax_rows_max * hp.head_dim + heads * 2) *
             sizeof(float);
}

}  // namespace

checked_size forward_pass::scratch_bytes(const hparams& hp, int64_t max_batch, int64_t max_logit_rows,
                                         int64_t seq_blocks, int threads, int32_t block_size, ggml_type kv_type) {
  const int64_t widest = std::max({hp.n_embd, hp.q_dim(), hp.n_ff});
  return scratch_shape(hp, max_batch, max_logit_rows).floats() * sizeof(float) +
         matmul_runner::activation_bytes(max_batch, widest) + checked_size(threads) * attention_bytes(hp, seq_blocks, block_size, kv_type);
}

forward_pass::forward_pass(const model& m, thread_pool& pool, int64_t max_batch, int64_t max_logit_rows,
                           int64_t context_length)
    : model_(m),
      hp_(m.hp()),
      mm_(pool, kernels::active()),
      max_batch_(max_batch),
      max_logit_rows_(max_logit_rows),
      attn_scale_(m.hp().attn_scale),
      rope_factors_(m.rope_freq_factors(context_length)),
      rope_theta_scale_(std::pow(m.hp().rope_freq_base, -2.0f / static_cast<float>(m.hp().rope_dim))),
      rope_theta_scale_swa_(std::pow(m.hp().rope_freq_base_swa, -2.0f / static_cast<float>(m.hp().rope_dim))) {
  if (max_batch < 1 || max_logit_rows < 1) throw std::invalid_argument("forward_pass: no rows");
  const scratch_shape s(hp_, max_batch, max_logit_rows);
  if ((s.floats() * sizeof(float)).overflowed()) throw std::length_error("forward_pass: scratch size overflows");
  x_.resize(s.x.size());
  xn_.resize(s.xn.size());
  q_.resize(s.q.size());
  k_.resize(s.k.size());
  v_.resize(s.v.size());
  att_.resize(s.att.size());
  delta_.resize(s.delta.size());
  gate_.resize(s.gate.size());
  up_.resize(s.up.size());
  logits_.resize(s.logits.size());
}

void forward_pass::embed(std::span<const batch_entry> batch) {
  const weight& e = model_.tok_embd();
  kernels::dequant_fn dq = kernels::dequant_for(e.type);
  for (size_t i = 0; i < batch.size(); ++i) {
    dq(e.data + static_cast<size_t>(batch[i].token) * e.row_bytes, &x_[i * hp_.n_embd], hp_.n_embd);
  }
  if (!hp_.arch->embd_scale) return;
  const float scale = std::sqrt(static_cast<float>(hp_.n_embd));
  for (size_t j = 0; j < batch.size() * hp_.n_embd; ++j) x_[j] *= scale;
}

// Rotates each head's first rope_dim dimensions by position-dependent angles. Angles follow
// ggml's recurrence (theta_i = pos * theta_scale^i, built by repeated multiplication, then
// divided by the model's frequency factor i where it has them) so positions match the
// reference implementation to the last bit of the angle. cos and sin are scaled by
// rope.scaling.attn_factor (1 unless the file says otherwise, an exact no-op then), as ggml's
// rope does with its attn_factor.
void forward_pass::rope(float* x, int64_t n_heads, int32_t pos, float theta_scale) const {
  const int64_t half = hp_.rope_dim / 2;
  const std::vector<float>& factors = rope_factors_;
  float cs[max_head_dim / 2], sn[max_head_dim / 2];
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < half; ++i) {
    const float t = factors.empty() ? theta : theta / factors[i];
    cs[i] = std::cos(t) * hp_.rope_attn_factor;
    sn[i] = std::sin(t) * hp_.rope_attn_factor;
    theta *= theta_scale;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * hp_.head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = hp_.rope == rope_style::norm ? 2 * i : i;
      const int64_t b = hp_.rope == rope_style::norm ? 2 * i + 1 : i + half;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cs[i] - x1 * sn[i];
      v[b] = x0 * sn[i] + x1 * cs[i];
    }
  }
}

// The query heads of one KV head, for one row: softmax(q·K * scale) · V over positions 0..pos of
// the row's sequence (the latest n_swa of them in a sliding-window layer), in one pass with a
// running maximum (online softmax). Precision follows ggml's CPU flash attention, which produced
// the reference outputs: over an F16 cache, q is rounded to F16 like the cache, and each head's
// weighted sum of values accumulates in an F16 row (kernel_set::attend); over a quantized cache,
// q is quantized like a matmul's activations and the sum accumulates in floats
// (attend_quantized).
void forward_pass::attend_group(const kv_cache& kv, const batch_entry& e, int64_t layer, int64_t g, const float* q,
                                float* out) const {
  const int64_t hd = hp_.head_dim, heads = hp_.n_head / hp_.n_head_kv;
  const auto& blocks = kv.seq_blocks(e.seq);
  const int64_t n = e.pos + 1;
  const int64_t first = hp_.swa_layer(layer) ? std::max<int64_t>(0, n - hp_.n_swa) : 0;
  const int64_t n_blocks = kv_cache::blocks_needed(n, kv.block_size());
  thread_local std::vector<const uint8_t*> keys, values;
  keys.resize(n_blocks);
  values.resize(n_blocks);
  for (int64_t b = 0; b < n_blocks; ++b) {
    keys[b] = kv.keys(blocks[b], layer, g);
    values[b] = kv.values(blocks[b], layer, g);
  }
  const kernels::kernel_set& ks = mm_.kernels();
  // Families that scale their queries did so before the rounding (prepare_row).
  const float scale = hp_.arch->scale_queries ? 1.0f : attn_scale_;
  if (kv.type() != ggml_type::f16) {
    kernels::attend_quantized(ks, kv.type(), kv.type(), q, heads, hd, keys.data(), values.data(), kv.block_size(),
                              first, n, scale, hp_.attn_softcap, out);
    return;
  }
  thread_local std::vector<uint16_t> qh;
  qh.resize(heads * hd);
  ks.to_f16(q, qh.data(), heads * hd);
  // An F16 cache's rows, as F16 elements.
  const auto* const* k16 = reinterpret_cast<const uint16_t* const*>(keys.data());
  const auto* const* v16 = reinterpret_cast<const uint16_t* const*>(values.data());
  ks.attend(ks, qh.data(), heads, hd, k16, v16, kv.block_size(), first, n, scale, hp_.attn_softcap, out);
}

void forward_pass::prepare_row(kv_cache& kv, const batch_entry& e, int64_t i, int64_t layer) {
  const layer_weights& L = model_.layers()[layer];
  const int64_t qd = hp_.q_dim(), kvd = hp_.kv_dim(), hd = hp_.head_dim;
  float* q = &q_[i * qd];
  float* k = &k_[i * kvd];
  if (!L.bq.empty()) for (int64_t j = 0; j < qd; ++j) q[j] += L.bq[j];
  if (!L.bk.empty()) for (int64_t j = 0; j < kvd; ++j) k[j] += L.bk[j];
  if (!L.bv.empty()) for (int64_t j = 0; j < kvd; ++j) v_[i * kvd + j] += L.bv[j];
  if (!L.q_norm.empty()) {
    for (int64_t h = 0; h < hp_.n_head; ++h) rms_norm(q + h * hd, L.q_norm.data(), q + h * hd, hd, hp_.rms_eps);
    for (int64_t h = 0; h < hp_.n_head_kv; ++h) rms_norm(k + h * hd, L.k_norm.data(), k + h * hd, hd, hp_.rms_eps);
  }
  const float theta_scale = hp_.swa_layer(layer) ? rope_theta_scale_swa_ : rope_theta_scale_;
  rope(q, hp_.n_head, e.pos, theta_scale);
  rope(k, hp_.n_head_kv, e.pos, theta_scale);
  if (hp_.arch->scale_queries) for (int64_t j = 0; j < qd; ++j) q[j] *= attn_scale_;
  const int32_t bs = kv.block_size();
  const int32_t block = kv.seq_blocks(e.seq)[e.pos / bs];
  const kernels::kernel_set& ks = mm_.kernels();
  // F16 rows by the kernel set's conversion; quantized rows by the type's reference quantizer.
  const kernels::type_traits* quant = kv.type() == ggml_type::f16 ? nullptr : kernels::type_traits_of(kv.type());
  const size_t offset = static_cast<size_t>(e.pos % bs) * kv.row_bytes();
  for (int64_t g = 0; g < hp_.n_head_kv; ++g) {
    const int64_t src = i * kvd + g * hd;
    uint8_t* key = kv.keys(block, layer, g) + offset;
    uint8_t* value = kv.values(block, layer, g) + offset;
    if (quant) {
      quant->quantize(&k_[src], key, hd);
      quant->quantize(&v_[src], value, hd);
    } else {
      ks.to_f16(&k_[src], key, hd);
      ks.to_f16(&v_[src], value, hd);
    }
  }
}

void forward_pass::observe(std::span<const matmul_job> jobs, const float* x, int64_t m) const {
  if (!matmul_observer_) return;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const weight& w = *jobs[j].w;
    const bool seen = std::any_of(jobs.begin(), jobs.begin() + static_cast<std::ptrdiff_t>(j),
                                  [&](const matmul_job& o) { return o.w->tensor == w.tensor; });
    if (!seen) matmul_observer_(w, {x, static_cast<size_t>(m * w.cols)}, m);
  }
}

// x_ += delta_, RMS-normed first by post_norm when the family has one (Gemma 2/3).
void forward_pass::add_block_output(int64_t m, const std::vector<float>& post_norm) {
  const int64_t d = hp_.n_embd;
  if (!post_norm.empty()) {
    mm_.pool().parallel_for(m, [&](int64_t i) {
      rms_norm(&delta_[i * d], post_norm.data(), &delta_[i * d], d, hp_.rms_eps);
    });
  }
  for (int64_t i = 0; i < m * d; ++i) x_[i] += delta_[i];
}

void forward_pass::attention_block(kv_cache& kv, std::span<const batch_entry> batch, int64_t layer) {
  const layer_weights& L = model_.layers()[layer];
  const int64_t m = static_cast<int64_t>(batch.size());
  const int64_t d = hp_.n_embd, qd = hp_.q_dim();
  mm_.pool().parallel_for(m, [&](int64_t i) { rms_norm(&x_[i * d], L.attn_norm.data(), &xn_[i * d], d, hp_.rms_eps); });
  const matmul_job qkv[] = {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
  observe(qkv, xn_.data(), m);
  mm_.run(qkv, xn_.data(), m);
  for (int64_t i = 0; i < m; ++i) prepare_row(kv, batch[i], i, layer);
  // Query heads of a KV head are consecutive (head h uses KV head h / heads_per_group).
  const int64_t group = (hp_.n_head / hp_.n_head_kv) * hp_.head_dim;
  mm_.pool().parallel_for(m * hp_.n_head_kv, [&](int64_t task) {
    const int64_t i = task / hp_.n_head_kv, g = task % hp_.n_head_kv;
    attend_group(kv, batch[i], layer, g, &q_[i * qd + g * group], &att_[i * qd + g * group]);
  });
  const matmul_job wo[] = {{&L.wo, delta_.data()}};
  observe(wo, att_.data(), m);
  mm_.run(L.wo, att_.data(), m, delta_.data());
  add_block_output(m, L.attn_post_norm);
}

void forward_pass::ffn_block(int64_t m, int64_t layer) {
  const layer_weights& L = model_.layers()[layer];
  const int64_t d = hp_.n_embd, ff = hp_.n_ff;
  mm_.pool().parallel_for(m, [&](int64_t i) { rms_norm(&x_[i * d], L.ffn_norm.data(), &xn_[i * d], d, hp_.rms_eps); });
  const matmul_job gate_up[] = {{&L.ffn_gate, gate_.data()}, {&L.ffn_up, up_.data()}};
  observe(gate_up, xn_.data(), m);
  mm_.run(gate_up, xn_.data(), m);
  // Row by row on the pool: the activation's exp is the costliest elementwise op of a prompt
  // (SiLU's is the kernel set's vectorized one).
  const bool gelu = hp_.arch->activation == ffn_activation::gelu_tanh;
  const auto silu_mul = mm_.kernels().silu_mul;
  mm_.pool().parallel_for(m, [&](int64_t i) {
    if (gelu) {
      gelu_mul(&gate_[i * ff], &up_[i * ff], ff);
    } else {
      silu_mul(&gate_[i * ff], &up_[i * ff], ff);
    }
  });
  const matmul_job down[] = {{&L.ffn_down, delta_.data()}};
  observe(down, gate_.data(), m);
  mm_.run(L.ffn_down, gate_.data(), m, delta_.data());
  add_block_output(m, L.ffn_post_norm);
}

std::span<const float> forward_pass::run(kv_cache& kv, std::span<const batch_entry> batch) {
  const int64_t m = static_cast<int64_t>(batch.size());
  hidden_rows_ = 0;
  if (m == 0) return {};
  // The scratch holds max_batch rows and max_logit_rows rows of logits: more would write past it.
  const auto wanting = std::count_if(batch.begin(), batch.end(), [](const batch_entry& e) { return e.logits; });
  if (m > max_batch_ || wanting > max_logit_rows_)
    throw std::invalid_argument("forward_pass: batch of " + std::to_string(m) + " rows (" + std::to_string(wanting) +
                                " wanting logits) exceeds its scratch");
  embed(batch);
  const int64_t d = hp_.n_embd;
  const std::span<const float> x(x_.data(), static_cast<size_t>(m * d));
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    if (observer_) x_in_.assign(x.begin(), x.end());
    attention_block(kv, batch, l);
    ffn_block(m, l);
    if (observer_) observer_(l, x_in_, x);
  }
  // Final norm and output projection, for the rows that asked for logits only.
  int64_t r = 0;
  for (int64_t i = 0; i < m; ++i) {
    if (!batch[i].logits) continue;
    rms_norm(&x_[i * d], model_.output_norm().data(), &xn_[r * d], d, hp_.rms_eps);
    ++r;
  }
  if (r > 0) {
    const matmul_job out[] = {{&model_.output(), logits_.data()}};
    observe(out, xn_.data(), r);
    mm_.run(model_.output(), xn_.data(), r, logits_.data());
    if (hp_.final_softcap > 0) soft_cap(logits_.data(), r * hp_.n_vocab, hp_.final_softcap);
  }
  // Then the hidden rows, into xn_ (the projection has read it).
  hidden_rows_ = 0;
  for (int64_t i = 0; i < m; ++i) {
    if (!batch[i].hidden) continue;
    rms_norm(&x_[i * d], model_.output_norm().data(), &xn_[hidden_rows_ * d], d, hp_.rms_eps);
    ++hidden_rows_;
  }
  if (r == 0) return {};
  return {logits_.data(), static_cast<size_t>(r * hp_.n_vocab)};
}

}  // namespace hearth
