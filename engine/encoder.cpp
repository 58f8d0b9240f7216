#include "encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "gguf/gguf_file.h"
#include "kernels/fp16.h"
#include "load_error.h"
#include "row_ops.h"

namespace hearth {

namespace {

// Reads a tensor of exactly `ne0` x `ne1` values (ne1 = 1: a vector) as floats.
std::vector<float> read_floats(const gguf_file& f, const std::string& name, int64_t ne0, int64_t ne1) {
  const gguf_tensor* t = f.find_tensor(name);
  if (!t) throw f.error("tensor '" + name + "' is missing");
  const bool shape_ok = t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
  if (!shape_ok) {
    throw f.error("tensor '" + name + "' has shape " + t->shape_string() + ", expected [" + std::to_string(ne0) +
                  (ne1 > 1 ? ", " + std::to_string(ne1) : std::string()) + "]");
  }
  const auto n = static_cast<size_t>(ne0 * ne1);
  std::vector<float> out(n);
  if (t->type == ggml_type::f32 && t->nbytes == n * 4) {
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&out[i], t->data + i * 4, 4);
      if (!std::isfinite(out[i])) throw f.error("tensor '" + name + "' holds a non-finite value at " + std::to_string(i));
    }
  } else if (t->type == ggml_type::f16 && t->nbytes == n * 2) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t->data + i * 2, 2);
      out[i] = fp16_to_fp32(h);
      if (!std::isfinite(out[i])) throw f.error("tensor '" + name + "' holds a non-finite value at " + std::to_string(i));
    }
  } else {
    throw f.error("tensor '" + name + "' has type " + std::string(ggml_type_name(t->type)) +
                  "; the BERT encoder takes F32 and F16 tensors");
  }
  return out;
}

int64_t positive(const gguf_file& f, const std::string& key, int64_t max) {
  const std::optional<int64_t> v = f.get_int(key);
  if (!v) throw f.error("metadata '" + key + "' is missing");
  if (*v < 1 || *v > max) {
    throw f.error("metadata '" + key + "' is " + std::to_string(*v) + ", expected 1 to " + std::to_string(max));
  }
  return *v;
}

}  // namespace

bert_encoder bert_encoder::load(const gguf_file& f) {
  const std::optional<std::string_view> arch = f.get_string("general.architecture");
  if (!arch || *arch != "bert") throw f.error("metadata 'general.architecture' is not bert");
  bert_encoder e;
  e.dim_ = positive(f, "bert.embedding_length", 1 << 16);
  e.n_ctx_ = positive(f, "bert.context_length", 1 << 16);
  e.n_ff_ = positive(f, "bert.feed_forward_length", 1 << 18);
  e.n_head_ = positive(f, "bert.attention.head_count", 1024);
  const int64_t n_layer = positive(f, "bert.block_count", 256);
  if (e.dim_ % e.n_head_ != 0) {
    throw f.error("metadata 'bert.attention.head_count' (" + std::to_string(e.n_head_) +
                  ") does not divide bert.embedding_length (" + std::to_string(e.dim_) + ")");
  }
  if (const std::optional<double> eps = f.get_float("bert.attention.layer_norm_epsilon")) {
    if (!(*eps > 0 && *eps < 1)) throw f.error("metadata 'bert.attention.layer_norm_epsilon' must be in (0, 1)");
    e.eps_ = static_cast<float>(*eps);
  }
  if (const std::optional<bool> causal = f.get_bool("bert.attention.causal"); causal && *causal) {
    throw f.error("metadata 'bert.attention.causal' is true; a BERT encoder attends both ways");
  }
  const int64_t pooling = f.get_int("bert.pooling_type").value_or(1);
  const std::optional<pooling_type> p = pooling_from_gguf(pooling);
  if (!p || *p == pooling_type::none) {
    throw f.error("metadata 'bert.pooling_type' is " + std::to_string(pooling) + "; supported: 1 (mean), 2 (CLS), 3 (last)");
  }
  e.pooling_ = *p;
  const gguf_tensor* tok = f.find_tensor("token_embd.weight");
  if (!tok) throw f.error("tensor 'token_embd.weight' is missing");
  if (tok->ne[1] < 1 || tok->ne[1] > (int64_t{1} << 24)) throw f.error("tensor 'token_embd.weight' has a bad vocabulary size");
  e.n_vocab_ = static_cast<int32_t>(tok->ne[1]);
  e.tok_embd_ = read_floats(f, "token_embd.weight", e.dim_, e.n_vocab_);
  e.pos_embd_ = read_floats(f, "position_embd.weight", e.dim_, e.n_ctx_);
  const gguf_tensor* types = f.find_tensor("token_types.weight");
  e.type_embd_ = read_floats(f, "token_types.weight", e.dim_, types ? std::max<int64_t>(types->ne[1], 1) : 1);
  e.embd_norm_ = {read_floats(f, "token_embd_norm.weight", e.dim_, 1), read_floats(f, "token_embd_norm.bias", e.dim_, 1)};
  const auto dense_of = [&](const std::string& name, int64_t in, int64_t out) {
    return dense{read_floats(f, name + ".weight", in, out), read_floats(f, name + ".bias", out, 1), in, out};
  };
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    layer L;
    L.q = dense_of(p + "attn_q", e.dim_, e.dim_);
    L.k = dense_of(p + "attn_k", e.dim_, e.dim_);
    L.v = dense_of(p + "attn_v", e.dim_, e.dim_);
    L.o = dense_of(p + "attn_output", e.dim_, e.dim_);
    L.up = dense_of(p + "ffn_up", e.dim_, e.n_ff_);
    L.down = dense_of(p + "ffn_down", e.n_ff_, e.dim_);
    L.attn_norm = {read_floats(f, p + "attn_output_norm.weight", e.dim_, 1), read_floats(f, p + "attn_output_norm.bias", e.dim_, 1)};
    L.out_norm = {read_floats(f, p + "layer_output_norm.weight", e.dim_, 1), read_floats(f, p + "layer_output_norm.bias", e.dim_, 1)};
    e.layers_.push_back(std::move(L));
  }
  return e;
}


// LayerNorm of each of n rows: (x - mean) / sqrt(var + eps) * w + b, as ggml_norm then the
// weight and bias (sums in double).
void bert_encoder::layer_norm(std::vector<float>& x, int64_t n, const norm& p) const {
  for (int64_t r = 0; r < n; ++r) {
    float* row = x.data() + r * dim_;
    double sum = 0;
    for (int64_t i = 0; i < dim_; ++i) sum += row[i];
    const auto mean = static_cast<float>(sum / static_cast<double>(dim_));
    double sq = 0;
    for (int64_t i = 0; i < dim_; ++i) {
      row[i] -= mean;
      sq += static_cast<double>(row[i]) * row[i];
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(sq / static_cast<double>(dim_)) + eps_);
    for (int64_t i = 0; i < dim_; ++i) row[i] = row[i] * scale * p.w[i] + p.b[i];
  }
}

namespace {

// a · b over n floats in 8 interleaved partial sums (lane j sums the elements i ≡ j mod 8), added
// pairwise at the end: independent lanes the compiler turns into SIMD without reassociating.
float dot8(const float* a, const float* b, int64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += a[i + j] * b[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) lane[j] += a[i] * b[i];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

}  // namespace

// y (n rows of d.out) = x (n rows of d.in) · wᵀ + b.
void bert_encoder::apply(const dense& d, const std::vector<float>& x, int64_t n, std::vector<float>& y) {
  y.assign(static_cast<size_t>(n * d.out), 0.0f);
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x.data() + r * d.in;
    for (int64_t o = 0; o < d.out; ++o) {
      y[static_cast<size_t>(r * d.out + o)] = dot8(xr, d.w.data() + o * d.in, d.in) + d.b[static_cast<size_t>(o)];
    }
  }
}

std::vector<float> bert_encoder::embed(std::span<const token_id> tokens) const {
  const std::vector<float> x = hidden_states(tokens);
  const auto n = static_cast<int64_t>(tokens.size());
  embedding_pool pool(pooling_, dim_, n);
  for (int64_t t = 0; t < n; ++t) {
    if (pool.wants(t)) pool.add(std::span<const float>(x).subspan(static_cast<size_t>(t * dim_), static_cast<size_t>(dim_)));
  }
  return pool.finish();
}

std::vector<float> bert_encoder::hidden_states(std::span<const token_id> tokens) const {
  const auto n = static_cast<int64_t>(tokens.size());
  if (n == 0) throw std::invalid_argument("an embedding needs at least one token");
  if (n > n_ctx_) {
    throw std::invalid_argument("the input is " + std::to_string(n) + " tokens; the model takes at most " +
                                std::to_string(n_ctx_));
  }
  // Hidden states: n rows of dim_ (token + token type 0 + position), then LayerNorm.
  std::vector<float> x(static_cast<size_t>(n * dim_));
  for (int64_t t = 0; t < n; ++t) {
    const token_id id = tokens[static_cast<size_t>(t)];
    if (id < 0 || id >= n_vocab_) throw std::invalid_argument("token " + std::to_string(id) + " is outside the vocabulary");
    for (int64_t i = 0; i < dim_; ++i) {
      x[static_cast<size_t>(t * dim_ + i)] = tok_embd_[static_cast<size_t>(id * dim_ + i)] + type_embd_[static_cast<size_t>(i)] +
                                             pos_embd_[static_cast<size_t>(t * dim_ + i)];
    }
  }
  layer_norm(x, n, embd_norm_);

  const int64_t head_dim = dim_ / n_head_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> q, k, v, attn(static_cast<size_t>(n * dim_)), proj, up, down, scores(static_cast<size_t>(n));
  for (const layer& L : layers_) {
    apply(L.q, x, n, q);  // q, k, v: n rows of dim_, head h at columns [h * head_dim, (h + 1) * head_dim)
    apply(L.k, x, n, k);
    apply(L.v, x, n, v);
    for (int64_t h = 0; h < n_head_; ++h) {
      for (int64_t i = 0; i < n; ++i) {
        const float* qi = q.data() + i * dim_ + h * head_dim;
        float top = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const float* kj = k.data() + j * dim_ + h * head_dim;
          scores[static_cast<size_t>(j)] = dot8(qi, kj, head_dim) * scale;
          top = std::max(top, scores[static_cast<size_t>(j)]);
        }
        double total = 0;
        for (int64_t j = 0; j < n; ++j) total += scores[static_cast<size_t>(j)] = std::exp(scores[static_cast<size_t>(j)] - top);
        float* out = attn.data() + i * dim_ + h * head_dim;
        std::fill(out, out + head_dim, 0.0f);
        for (int64_t j = 0; j < n; ++j) {
          const auto p = static_cast<float>(scores[static_cast<size_t>(j)] / total);
          const float* vj = v.data() + j * dim_ + h * head_dim;
          for (int64_t c = 0; c < head_dim; ++c) out[c] += p * vj[c];
        }
      }
    }
    apply(L.o, attn, n, proj);
    for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    layer_norm(x, n, L.attn_norm);
    apply(L.up, x, n, up);
    gelu(up.data(), static_cast<int64_t>(up.size()));
    apply(L.down, up, n, down);
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
    layer_norm(x, n, L.out_norm);
  }

  return x;
}

}  // namespace hearth
