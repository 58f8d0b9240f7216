#include "model/hparams.h"

#include <cmath>

#include "gguf/gguf_file.h"

namespace hearth {

namespace {

int64_t require_positive(const gguf_file& f, const std::string& key) {
  auto v = f.get_int(key);
  if (!v) throw f.error("missing metadata '" + key + "'");
  if (*v <= 0 || *v > (int64_t{1} << 31)) {
    throw f.error("metadata '" + key + "': " + std::to_string(*v) + " (expected 1..2^31)");
  }
  return *v;
}

int64_t optional_positive(const gguf_file& f, const std::string& key, int64_t fallback) {
  return f.find(key) ? require_positive(f, key) : fallback;
}

const arch_desc& read_arch(const gguf_file& f) {
  auto name = f.get_string("general.architecture");
  if (!name) throw f.error("missing metadata 'general.architecture'");
  const arch_desc* a = find_arch(*name);
  if (!a) {
    throw f.error("metadata 'general.architecture': architecture \"" + std::string(*name) +
                  "\" is not supported (supported: " + supported_arch_names() + ")");
  }
  if (a->refusal) {
    throw f.error("metadata 'general.architecture': architecture " + std::string(*name) + " is not supported (" +
                  a->refusal + ")");
  }
  return *a;
}

void read_shape(const gguf_file& f, const std::string& p, hparams& hp) {
  hp.n_ctx_train = require_positive(f, p + "context_length");
  hp.n_embd = require_positive(f, p + "embedding_length");
  hp.n_layer = require_positive(f, p + "block_count");
  hp.n_ff = require_positive(f, p + "feed_forward_length");
  hp.n_head = require_positive(f, p + "attention.head_count");
  hp.n_head_kv = optional_positive(f, p + "attention.head_count_kv", hp.n_head);
  if (hp.n_layer > 4096) {
    throw f.error("metadata '" + p + "block_count': " + std::to_string(hp.n_layer) + " (expected at most 4096)");
  }
  if (hp.n_head % hp.n_head_kv != 0) {
    throw f.error("metadata '" + p + "attention.head_count_kv': " + std::to_string(hp.n_head_kv) +
                  " does not divide head_count " + std::to_string(hp.n_head));
  }
  int64_t default_head_dim = hp.n_embd % hp.n_head == 0 ? hp.n_embd / hp.n_head : 0;
  hp.head_dim = optional_positive(f, p + "attention.key_length", default_head_dim);
  if (hp.head_dim == 0) {
    throw f.error("metadata '" + p + "embedding_length': " + std::to_string(hp.n_embd) +
                  " is not a multiple of head_count " + std::to_string(hp.n_head) +
                  " and no attention.key_length is given");
  }
  int64_t v_len = optional_positive(f, p + "attention.value_length", hp.head_dim);
  if (v_len != hp.head_dim) {
    throw f.error("metadata '" + p + "attention.value_length': " + std::to_string(v_len) +
                  " differs from key_length " + std::to_string(hp.head_dim) + " (not supported)");
  }
  if (hp.head_dim > max_head_dim) {
    throw f.error("head dimension " + std::to_string(hp.head_dim) + " (at most " +
                  std::to_string(max_head_dim) + " supported)");
  }
  if (hp.head_dim % 2 != 0) {
    throw f.error("head dimension " + std::to_string(hp.head_dim) + " is odd (RoPE needs pairs)");
  }
}

void read_rope_and_norm(const gguf_file& f, const std::string& p, hparams& hp) {
  hp.rope_dim = optional_positive(f, p + "rope.dimension_count", hp.head_dim);
  if (hp.rope_dim > hp.head_dim || hp.rope_dim % 2 != 0) {
    throw f.error("metadata '" + p + "rope.dimension_count': " + std::to_string(hp.rope_dim) +
                  " (expected an even number <= head dimension " + std::to_string(hp.head_dim) + ")");
  }
  double base = f.get_float(p + "rope.freq_base").value_or(10000.0);
  if (!(base > 1.0) || !std::isfinite(base)) {
    throw f.error("metadata '" + p + "rope.freq_base': " + std::to_string(base) + " (expected > 1)");
  }
  hp.rope_freq_base = static_cast<float>(base);
  hp.rope_freq_base_swa = hp.rope_freq_base;
  hp.rope_attn_factor = read_optional_positive_float(f, p + "rope.scaling.attn_factor", 1.0f);
  hp.n_ctx_orig = optional_positive(f, p + "rope.scaling.original_context_length", hp.n_ctx_train);
  auto eps = f.get_float(p + "attention.layer_norm_rms_epsilon");
  if (!eps) throw f.error("missing metadata '" + p + "attention.layer_norm_rms_epsilon'");
  if (!(*eps > 0 && *eps < 1)) {
    throw f.error("metadata '" + p + "attention.layer_norm_rms_epsilon': " + std::to_string(*eps) +
                  " (expected 0 < eps < 1)");
  }
  hp.rms_eps = static_cast<float>(*eps);
}

}  // namespace

int64_t read_optional_count(const gguf_file& f, const std::string& key, int64_t fallback) {
  if (!f.find(key)) return fallback;
  auto v = f.get_int(key);
  if (!v || *v < 0 || *v > (int64_t{1} << 31)) {
    throw f.error("metadata '" + key + "': expected an integer 0..2^31");
  }
  return *v;
}

float read_optional_positive_float(const gguf_file& f, const std::string& key, float fallback) {
  if (!f.find(key)) return fallback;
  auto v = f.get_float(key);
  if (!v || !(*v > 0) || !std::isfinite(*v) || *v > 1e30) {
    throw f.error("metadata '" + key + "': expected a positive number");
  }
  return static_cast<float>(*v);
}

hparams read_hparams(const gguf_file& f) {
  hparams hp;
  hp.arch = &read_arch(f);
  hp.arch_name = hp.arch->name;
  hp.rope = hp.arch->rope;
  const std::string p = hp.arch_name + ".";
  read_shape(f, p, hp);
  read_rope_and_norm(f, p, hp);
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  if (hp.arch->read_extra) hp.arch->read_extra(f, p, hp);
  return hp;
}

}  // namespace hearth
