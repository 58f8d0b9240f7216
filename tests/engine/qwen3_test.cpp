// qwen3 has no llama.cpp reference file, so it is checked from first principles: a small model
// with random F32 weights, written with the project's GGUF writer, against a plain
// double-precision forward pass written here from the definition (RMSNorm, per-head Q/K RMSNorm
// before NeoX RoPE, causal softmax attention with grouped KV heads, SiLU-gated FFN). The same
// weights without Q/K norm tensors, as arch qwen2 (whose path matches llama.cpp's references),
// must match the same hand-written pass with the norm left out: that checks the hand-written
// pass, and that the norm is what makes the difference.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "greedy.h"
#include "golden_check.h"
#include "model/model.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;

namespace {

constexpr int64_t n_embd = 64, n_head = 4, n_head_kv = 2, hd = 16, n_ff = 128, n_layer = 2;
constexpr float eps = 1e-6f, rope_base = 1e6f;

using mat = std::vector<float>;  // rows x cols, row-major (ggml's ne = {cols, rows})

struct layer_w {
  mat attn_norm, wq, wk, wv, bq, bk, bv, q_norm, k_norm, wo, ffn_norm, gate, up, down;
};
struct weights {
  int64_t n_vocab = 0;
  mat embd, out_norm, out;
  std::vector<layer_w> layers;
};

mat random_mat(std::mt19937& rng, int64_t n, float sd, float mean = 0) {
  std::normal_distribution<float> d(mean, sd);
  mat m(n);
  for (float& x : m) x = d(rng);
  return m;
}

weights make_weights(int64_t n_vocab) {
  std::mt19937 rng(8);
  weights w;
  w.n_vocab = n_vocab;
  w.embd = random_mat(rng, n_vocab * n_embd, 0.5f);
  w.out_norm = random_mat(rng, n_embd, 0.1f, 1.0f);
  w.out = random_mat(rng, n_vocab * n_embd, 0.1f);
  for (int64_t l = 0; l < n_layer; ++l) {
    layer_w L;
    L.attn_norm = random_mat(rng, n_embd, 0.1f, 1.0f);
    L.wq = random_mat(rng, n_head * hd * n_embd, 0.15f);
    L.wk = random_mat(rng, n_head_kv * hd * n_embd, 0.15f);
    L.wv = random_mat(rng, n_head_kv * hd * n_embd, 0.15f);
    L.bq = random_mat(rng, n_head * hd, 0.2f);
    L.bk = random_mat(rng, n_head_kv * hd, 0.2f);
    L.bv = random_mat(rng, n_head_kv * hd, 0.2f);
    // Far from 1, so the norm's weights matter as much as its scaling.
    L.q_norm = random_mat(rng, hd, 0.5f, 1.0f);
    L.k_norm = random_mat(rng, hd, 0.5f, 1.0f);
    L.wo = random_mat(rng, n_embd * n_head * hd, 0.15f);
    L.ffn_norm = random_mat(rng, n_embd, 0.1f, 1.0f);
    L.gate = random_mat(rng, n_ff * n_embd, 0.15f);
    L.up = random_mat(rng, n_ff * n_embd, 0.15f);
    L.down = random_mat(rng, n_embd * n_ff, 0.15f);
    w.layers.push_back(std::move(L));
  }
  return w;
}

std::vector<uint8_t> bytes_of(const mat& m) {
  std::vector<uint8_t> b(m.size() * sizeof(float));
  std::memcpy(b.data(), m.data(), b.size());
  return b;
}

// Arch `qwen3` with Q/K norm tensors, or `qwen2` with the same weights and Q/K/V biases.
std::filesystem::path write_model(const temp_dir& dir, const weights& w, bool qwen3) {
  const std::string a = qwen3 ? "qwen3" : "qwen2";
  gguf_file vocab_src = gguf_file::open(shared_path("models/arch/tiny-qwen2-f16.gguf"));
  gguf_writer g;
  g.add_kv("general.architecture", gguf_meta_value::string(a));
  for (const auto& [key, value] : vocab_src.metadata()) {
    if (key.starts_with("tokenizer.")) g.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
  g.add_kv(a + ".context_length", gguf_meta_value::u32(256));
  g.add_kv(a + ".embedding_length", gguf_meta_value::u32(n_embd));
  g.add_kv(a + ".block_count", gguf_meta_value::u32(n_layer));
  g.add_kv(a + ".feed_forward_length", gguf_meta_value::u32(n_ff));
  g.add_kv(a + ".attention.head_count", gguf_meta_value::u32(n_head));
  g.add_kv(a + ".attention.head_count_kv", gguf_meta_value::u32(n_head_kv));
  g.add_kv(a + ".attention.key_length", gguf_meta_value::u32(hd));
  g.add_kv(a + ".attention.layer_norm_rms_epsilon", gguf_meta_value::f32(eps));
  g.add_kv(a + ".rope.freq_base", gguf_meta_value::f32(rope_base));
  auto add = [&](const std::string& name, const mat& m, int64_t cols) {
    std::vector<int64_t> ne{cols};
    if (static_cast<int64_t>(m.size()) != cols) ne.push_back(static_cast<int64_t>(m.size()) / cols);
    g.add_tensor(name, ggml_type::f32, ne, bytes_of(m));
  };
  add("token_embd.weight", w.embd, n_embd);
  add("output_norm.weight", w.out_norm, n_embd);
  add("output.weight", w.out, n_embd);
  for (int64_t l = 0; l < n_layer; ++l) {
    const layer_w& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", L.attn_norm, n_embd);
    add(p + "attn_q.weight", L.wq, n_embd);
    add(p + "attn_k.weight", L.wk, n_embd);
    add(p + "attn_v.weight", L.wv, n_embd);
    if (qwen3) {
      add(p + "attn_q_norm.weight", L.q_norm, hd);
      add(p + "attn_k_norm.weight", L.k_norm, hd);
    } else {
      add(p + "attn_q.bias", L.bq, n_head * hd);
      add(p + "attn_k.bias", L.bk, n_head_kv * hd);
      add(p + "attn_v.bias", L.bv, n_head_kv * hd);
    }
    add(p + "attn_output.weight", L.wo, n_head * hd);
    add(p + "ffn_norm.weight", L.ffn_norm, n_embd);
    add(p + "ffn_gate.weight", L.gate, n_embd);
    add(p + "ffn_up.weight", L.up, n_embd);
    add(p + "ffn_down.weight", L.down, n_ff);
  }
  const auto path = dir.file(a + ".gguf");
  g.write(path);
  return path;
}

using vec = std::vector<double>;

vec matvec(const mat& m, const vec& x) {
  vec y(m.size() / x.size(), 0.0);
  for (size_t j = 0; j < y.size(); ++j) {
    for (size_t k = 0; k < x.size(); ++k) y[j] += m[j * x.size() + k] * x[k];
  }
  return y;
}

void norm_into(double* x, const float* w, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double s = 1.0 / std::sqrt(ss / n + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * s * w[i];
}

vec normed(const vec& x, const mat& w) {
  vec y = x;
  norm_into(y.data(), w.data(), static_cast<int64_t>(y.size()));
  return y;
}

// NeoX RoPE: pairs (i, i + hd/2) of each head turn by pos * base^(-2i/hd).
void rope(vec& x, int64_t heads, int64_t pos) {
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      const double a = pos * std::pow(static_cast<double>(rope_base), -2.0 * i / hd);
      double& x0 = x[h * hd + i];
      double& x1 = x[h * hd + i + hd / 2];
      const double r0 = x0 * std::cos(a) - x1 * std::sin(a), r1 = x0 * std::sin(a) + x1 * std::cos(a);
      x0 = r0;
      x1 = r1;
    }
  }
}

// Logits after the last token: biases (qwen2 form) or Q/K norm (qwen3 form).
std::vector<float> hand_forward(const weights& w, const std::vector<token_id>& tokens, bool qk_norm) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<vec> x(n);
  for (int64_t t = 0; t < n; ++t) x[t].assign(w.embd.begin() + tokens[t] * n_embd, w.embd.begin() + (tokens[t] + 1) * n_embd);
  for (const layer_w& L : w.layers) {
    std::vector<vec> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      const vec xn = normed(x[t], L.attn_norm);
      q[t] = matvec(L.wq, xn);
      k[t] = matvec(L.wk, xn);
      v[t] = matvec(L.wv, xn);
      if (qk_norm) {
        for (int64_t h = 0; h < n_head; ++h) norm_into(&q[t][h * hd], L.q_norm.data(), hd);
        for (int64_t h = 0; h < n_head_kv; ++h) norm_into(&k[t][h * hd], L.k_norm.data(), hd);
      } else {
        for (size_t j = 0; j < q[t].size(); ++j) q[t][j] += L.bq[j];
        for (size_t j = 0; j < k[t].size(); ++j) k[t][j] += L.bk[j], v[t][j] += L.bv[j];
      }
      rope(q[t], n_head, t);
      rope(k[t], n_head_kv, t);
    }
    for (int64_t t = 0; t < n; ++t) {
      vec att(n_head * hd, 0.0);
      for (int64_t h = 0; h < n_head; ++h) {
        const int64_t g = h / (n_head / n_head_kv);
        vec s(t + 1);
        double mx = -1e300, sum = 0;
        for (int64_t u = 0; u <= t; ++u) {
          s[u] = 0;
          for (int64_t i = 0; i < hd; ++i) s[u] += q[t][h * hd + i] * k[u][g * hd + i];
          s[u] /= std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[u]);
        }
        for (int64_t u = 0; u <= t; ++u) sum += s[u] = std::exp(s[u] - mx);
        for (int64_t u = 0; u <= t; ++u) {
          for (int64_t i = 0; i < hd; ++i) att[h * hd + i] += s[u] / sum * v[u][g * hd + i];
        }
      }
      const vec o = matvec(L.wo, att);
      for (int64_t j = 0; j < n_embd; ++j) x[t][j] += o[j];
    }
    for (int64_t t = 0; t < n; ++t) {
      const vec xn = normed(x[t], L.ffn_norm);
      vec gt = matvec(L.gate, xn);
      const vec up = matvec(L.up, xn);
      for (int64_t j = 0; j < n_ff; ++j) gt[j] = gt[j] / (1 + std::exp(-gt[j])) * up[j];
      const vec d = matvec(L.down, gt);
      for (int64_t j = 0; j < n_embd; ++j) x[t][j] += d[j];
    }
  }
  const vec logits = matvec(w.out, normed(x[n - 1], w.out_norm));
  return std::vector<float>(logits.begin(), logits.end());
}

}  // namespace

TEST_CASE("qwen3: per-head Q/K RMSNorm matches a forward pass computed by hand", "[golden][arch]") {
  temp_dir dir;
  gguf_file vocab_src = gguf_file::open(shared_path("models/arch/tiny-qwen2-f16.gguf"));
  const weights w = make_weights(vocab_src.find_tensor("token_embd.weight")->ne[1]);
  auto qwen2 = model::load(write_model(dir, w, false));
  auto qwen3 = model::load(write_model(dir, w, true));
  const std::vector<token_id> tokens = {1, 300, 17, 42, 99, 256, 7, 480, 3, 150, 151, 152};
  const std::vector<float> hand2 = hand_forward(w, tokens, false);
  const std::vector<float> hand3 = hand_forward(w, tokens, true);
  // hearth rounds Q, K and V to F16 for attention (as llama.cpp does): the float files' bound.
  const float tol2 = 3e-3f * largest_magnitude(hand2), tol3 = 3e-3f * largest_magnitude(hand3);
  const float d2 = max_abs_diff(run_greedy(*qwen2, tokens, 0).first_logits, hand2);
  const float d3 = max_abs_diff(run_greedy(*qwen3, tokens, 0).first_logits, hand3);
  INFO("qwen2 diff " << d2 << " (tol " << tol2 << "), qwen3 diff " << d3 << " (tol " << tol3 << ")");
  CHECK(d2 <= tol2);
  CHECK(d3 <= tol3);
  // The norm changes the logits far beyond the tolerance: the check above cannot pass by chance.
  CHECK(max_abs_diff(hand2, hand3) > 20 * tol3);
}
