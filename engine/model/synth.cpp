#include "model/synth.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <span>
#include <stdexcept>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/type_traits.h"

namespace hearth {

namespace {

// Splitmix64: a per-tensor stream seed from the model seed and the tensor's name, so tensors
// can be produced in any order (or in parallel) and still give the same file.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t name_seed(uint64_t seed, std::string_view name) {
  uint64_t h = mix(seed);
  for (char c : name) h = mix(h ^ static_cast<unsigned char>(c));
  return h;
}

// Normal(0, 1) by Box-Muller from a xorshift generator: fully defined here, so a seed gives
// the same weights on every platform (std::normal_distribution does not promise that).
class normal_source {
 public:
  explicit normal_source(uint64_t seed) : s_(seed | 1) {}
  float next() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(raw() >> 11) + 0.5) * 0x1p-53;
    const double u2 = static_cast<double>(raw() >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
    have_spare_ = true;
    return static_cast<float>(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  uint64_t raw() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_ * 0x2545f4914f6cdd1dull;
  }
  uint64_t s_;
  float spare_ = 0;
  bool have_spare_ = false;
};

struct tensor_plan {
  std::string name;
  ggml_type type;
  int64_t cols, rows;  // rows == 1: a vector (norm), all ones
};

std::vector<tensor_plan> plan(const synth_shape& s, const quant_mix& mix, int64_t n_vocab) {
  const int64_t head_dim = s.n_embd / s.n_head;
  const int n_layer = static_cast<int>(s.n_layer), n_gqa = static_cast<int>(s.n_head / s.n_head_kv);
  std::vector<tensor_plan> t;
  auto matrix = [&](std::string name, int64_t cols, int64_t rows) {
    const ggml_type type = mix_tensor_type(mix, name, cols, n_layer, n_gqa);
    t.push_back({std::move(name), type, cols, rows});
  };
  matrix("token_embd.weight", s.n_embd, n_vocab);
  t.push_back({"output_norm.weight", ggml_type::f32, s.n_embd, 1});
  matrix("output.weight", s.n_embd, n_vocab);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", ggml_type::f32, s.n_embd, 1});
    matrix(p + "attn_q.weight", s.n_embd, s.n_head * head_dim);
    matrix(p + "attn_k.weight", s.n_embd, s.n_head_kv * head_dim);
    matrix(p + "attn_v.weight", s.n_embd, s.n_head_kv * head_dim);
    matrix(p + "attn_output.weight", s.n_head * head_dim, s.n_embd);
    t.push_back({p + "ffn_norm.weight", ggml_type::f32, s.n_embd, 1});
    matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff);
    matrix(p + "ffn_up.weight", s.n_embd, s.n_ff);
    matrix(p + "ffn_down.weight", s.n_ff, s.n_embd);
  }
  return t;
}

// The induction circuit of a copying model (synth.h has the design). Dimensions of the residual:
// [0, hd) holds the constant 1 (dimension 0), then A, B1, B2 and C of n_code each.
class copying_circuit {
 public:
  static constexpr double freq_base = 1e20;

  copying_circuit(const synth_shape& s, uint64_t seed)
      : hd_(s.n_embd / s.n_head), n_embd_(s.n_embd), gqa_(s.n_head / s.n_head_kv), code_seed_(name_seed(seed, "code")) {
    chunks_ = std::min<int64_t>({4, (s.n_embd - hd_) / (4 * hd_), s.n_head_kv});
    if (hd_ % 2 != 0 || chunks_ < 1 || s.n_layer < 2 || s.n_head < 2 * chunks_) {
      throw std::invalid_argument("shape " + std::string(s.name) +
                                  " cannot hold the copying circuit (needs n_embd >= 5 head dims, 2 layers)");
    }
    n_code_ = chunks_ * hd_;
    // The angle of pair i per position, as the engine's RoPE computes it (float, iterated).
    const float theta_scale = std::pow(static_cast<float>(freq_base), -2.0f / static_cast<float>(hd_));
    float theta = 1.0f;
    for (int64_t i = 0; i < hd_ / 2; ++i, theta *= theta_scale) theta_.push_back(theta);
    // Pairs from slow_ on turn less than 0.3 rad over the context: layer 1's matching uses them.
    slow_ = 0;
    while (slow_ < hd_ / 2 && theta_[slow_] * static_cast<double>(s.n_ctx) > 0.3) ++slow_;
    half_ = (hd_ - 2 * slow_) / 2;
    if (slow_ < 2 || half_ < 8) throw std::invalid_argument("head dimension too small for the copying circuit");
    // A matched pair of codes over half_ dimensions has a dot product of half_ / n_code.
    match_weight_ = std::sqrt(kMatchScore * std::sqrt(static_cast<double>(hd_)) * static_cast<double>(n_code_) / half_);
    // Layer 0: per chunk, a query head for each distance (1, 2) on a KV head whose value is that
    // chunk; heads of one KV head share it, so they must serve the same chunk.
    kv_chunk_.assign(s.n_head_kv, -1);
    std::vector<bool> used(s.n_head, false);
    for (int64_t g = 0; g < chunks_; ++g) {
      for (int d = 0; d < 2; ++d) {
        int64_t h = 0;
        while (h < s.n_head && (used[h] || (kv_chunk_[h / gqa_] != -1 && kv_chunk_[h / gqa_] != g))) ++h;
        if (h == s.n_head) throw std::invalid_argument("too few heads for the copying circuit");
        used[h] = true;
        kv_chunk_[h / gqa_] = g;
        shift_head_[d].push_back(h);
      }
    }
  }

  // Whether the circuit sets tensor `name` (the others are random or ones).
  bool defines(std::string_view name) const {
    if (name == "token_embd.weight" || name == "output.weight" || name == "output_norm.weight") return true;
    const auto [layer, what] = split(name);
    if (what == "attn_output.weight" || what == "ffn_down.weight") return true;
    return layer <= 1 && (what == "attn_norm.weight" || what == "attn_q.weight" || what == "attn_k.weight" ||
                          what == "attn_v.weight");
  }

  // Row r of tensor `name` (row.size() values, zero-filled here first).
  void fill(std::string_view name, int64_t r, std::span<float> row) const {
    std::fill(row.begin(), row.end(), 0.0f);
    const int64_t a = hd_, b1 = a + n_code_, b2 = b1 + n_code_, c = b2 + n_code_;
    if (name == "token_embd.weight") {
      row[0] = 1.0f;
      for (int64_t j = 0; j < n_code_; ++j) row[a + j] = code(r, j);
      return;
    }
    if (name == "output.weight") {
      for (int64_t j = 0; j < n_code_; ++j) row[c + j] = kLogitScale * code(r, j);
      return;
    }
    // RMSNorm divides by the root mean square: |x|^2 is 2 at layer 0 (the constant and A), 4 at
    // layer 1 (B1 and B2 added), 5 at the output (C added).
    auto unscale = [&](double norm2) {
      std::fill(row.begin(), row.end(), static_cast<float>(std::sqrt(norm2 / n_embd_)));
    };
    if (name == "output_norm.weight") return unscale(5);
    const auto [layer, what] = split(name);
    if (what == "ffn_down.weight" || layer > 1) return;  // zero: adds nothing to the residual
    const int64_t head = r / hd_, dim = r % hd_, pair = dim / 2;
    if (layer == 0) {
      if (what == "attn_norm.weight") return unscale(2);
      if (what == "attn_q.weight") {
        // exp(-i d theta) times the key: the score sums c^2 cos((distance - d) theta) over the fast pairs.
        const int d = distance_of(head);
        if (d == 0 || pair >= slow_) return;
        const double angle = d * static_cast<double>(theta_[pair]);
        row[0] = static_cast<float>(kPositional * (dim % 2 == 0 ? std::cos(angle) : -std::sin(angle)));
      } else if (what == "attn_k.weight") {
        if (kv_chunk_[head] >= 0 && pair < slow_ && dim % 2 == 0) row[0] = static_cast<float>(kPositional);
      } else if (what == "attn_v.weight") {
        if (kv_chunk_[head] >= 0) row[a + kv_chunk_[head] * hd_ + dim] = 1.0f;
      } else if (what == "attn_output.weight") {
        // residual row r of B1 or B2 takes its dimension from that chunk's distance-1 or -2 head.
        for (int d = 0; d < 2; ++d) {
          const int64_t base = d == 0 ? b1 : b2;
          if (r >= base && r < base + n_code_) row[shift_head_[d][(r - base) / hd_] * hd_ + (r - base) % hd_] = 1.0f;
        }
      }
      return;
    }
    // Layer 1: chunk g's head is the first query head of KV head g.
    if (what == "attn_norm.weight") return unscale(4);
    const int64_t lo = 2 * slow_, j = dim - lo;  // the slow dimensions: half_ for each of the two tokens
    if (what == "attn_q.weight") {
      if (head % gqa_ != 0 || head / gqa_ >= chunks_ || j < 0 || j >= 2 * half_) return;
      const int64_t g = head / gqa_;
      row[(j < half_ ? a : b1) + g * hd_ + j % half_] = static_cast<float>(match_weight_);
    } else if (what == "attn_k.weight") {
      if (head >= chunks_ || j < 0 || j >= 2 * half_) return;
      row[(j < half_ ? b1 : b2) + head * hd_ + j % half_] = static_cast<float>(match_weight_);
    } else if (what == "attn_v.weight") {
      if (head < chunks_) row[a + head * hd_ + dim] = 1.0f;
    } else if (what == "attn_output.weight") {
      if (r >= c && r < c + n_code_) row[(r - c) / hd_ * gqa_ * hd_ + (r - c) % hd_] = 1.0f;
    }
  }

 private:
  // Scales, in logits (attention scores are q.k / sqrt(hd)): at layer 0 the fast pairs' score
  // falls by ~0.49 kPositional^2 / 8 (~24, for head dimension 64) from distance d to any other;
  // at layer 1 each matched token adds kMatchScore, and a code that does not match adds noise of
  // 1/sqrt(half_) of that; the right token's logit is ~kLogitScale above a random code's (which
  // is within ~0.26 of 0 over 256 dimensions and 32,000 tokens).
  static constexpr double kPositional = 20.0;
  static constexpr double kMatchScore = 60.0;
  static constexpr double kLogitScale = 40.0;

  static std::pair<int64_t, std::string_view> split(std::string_view name) {
    if (!name.starts_with("blk.")) return {-1, name};
    name.remove_prefix(4);
    const size_t dot = name.find('.');
    int64_t layer = 0;
    for (char ch : name.substr(0, dot)) layer = layer * 10 + (ch - '0');
    return {layer, name.substr(dot + 1)};
  }

  // The distance (1 or 2) query head `head` of layer 0 attends at, or 0 if it has no part.
  int distance_of(int64_t head) const {
    for (int d = 0; d < 2; ++d) {
      if (std::find(shift_head_[d].begin(), shift_head_[d].end(), head) != shift_head_[d].end()) return d + 1;
    }
    return 0;
  }

  float code(int64_t token, int64_t j) const {
    const uint64_t bits = mix(code_seed_ ^ mix(static_cast<uint64_t>(token) * static_cast<uint64_t>(n_code_) + j));
    return static_cast<float>((bits & 1) ? 1.0 : -1.0) / std::sqrt(static_cast<float>(n_code_));
  }

  int64_t hd_, n_embd_, gqa_;
  uint64_t code_seed_;
  int64_t chunks_ = 0, n_code_ = 0, slow_ = 0, half_ = 0;
  double match_weight_ = 0;
  std::vector<float> theta_;
  std::vector<int> kv_chunk_;
  std::vector<int64_t> shift_head_[2];  // per distance 1, 2: layer 0's query head of each chunk
};

// The bytes of one tensor, generated row by row.
std::vector<uint8_t> make_tensor(const tensor_plan& t, uint64_t seed, const copying_circuit* circuit) {
  const size_t row_bytes = ggml_row_size(t.type, t.cols);
  std::vector<uint8_t> out(row_bytes * t.rows);
  std::vector<float> row(t.cols);
  normal_source rng(name_seed(seed, t.name));
  const kernels::quantize_fn q = kernels::type_traits_of(t.type)->quantize;
  const bool designed = circuit && circuit->defines(t.name);
  for (int64_t r = 0; r < t.rows; ++r) {
    if (designed) {
      circuit->fill(t.name, r, row);
    } else {
      for (float& v : row) v = t.rows == 1 ? 1.0f : 0.02f * rng.next();
    }
    q(row.data(), out.data() + r * row_bytes, t.cols);
  }
  return out;
}

}  // namespace

const std::vector<synth_shape>& synth_shapes() {
  static const std::vector<synth_shape> shapes = {
      {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 2048},
      {"llama-160m", 768, 12, 12, 12, 3072, 2048},
  };
  return shapes;
}

std::optional<synth_shape> find_synth_shape(std::string_view name) {
  for (const auto& s : synth_shapes()) if (s.name == name) return s;
  return std::nullopt;
}

void write_synth_model(const synth_options& o, const std::filesystem::path& out) {
  gguf_file vocab = gguf_file::open(o.vocab_file);
  auto tokens = vocab.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty()) throw vocab.error("missing metadata 'tokenizer.ggml.tokens'");
  const synth_shape& s = o.shape;
  gguf_writer w;
  w.add_kv("general.architecture", gguf_meta_value::string("llama"));
  const std::string name = "synthetic " + std::string(s.name) + (o.copying ? " (copying)" : "");
  w.add_kv("general.name", gguf_meta_value::string(name));
  w.add_kv("general.file_type", gguf_meta_value::u32(o.mix.file_type));
  w.add_kv("general.quantization_version", gguf_meta_value::u32(2));
  w.add_kv("llama.context_length", gguf_meta_value::u32(static_cast<uint32_t>(s.n_ctx)));
  w.add_kv("llama.embedding_length", gguf_meta_value::u32(static_cast<uint32_t>(s.n_embd)));
  w.add_kv("llama.block_count", gguf_meta_value::u32(static_cast<uint32_t>(s.n_layer)));
  w.add_kv("llama.feed_forward_length", gguf_meta_value::u32(static_cast<uint32_t>(s.n_ff)));
  w.add_kv("llama.rope.dimension_count", gguf_meta_value::u32(static_cast<uint32_t>(s.n_embd / s.n_head)));
  w.add_kv("llama.attention.head_count", gguf_meta_value::u32(static_cast<uint32_t>(s.n_head)));
  w.add_kv("llama.attention.head_count_kv", gguf_meta_value::u32(static_cast<uint32_t>(s.n_head_kv)));
  w.add_kv("llama.attention.layer_norm_rms_epsilon", gguf_meta_value::f32(1e-5f));
  const double freq_base = o.copying ? copying_circuit::freq_base : 10000.0;
  w.add_kv("llama.rope.freq_base", gguf_meta_value::f32(static_cast<float>(freq_base)));
  w.add_kv("llama.vocab_size", gguf_meta_value::u32(static_cast<uint32_t>(tokens.size())));
  for (const auto& [key, value] : vocab.metadata()) {
    if (key.starts_with("tokenizer.")) w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
  std::optional<copying_circuit> circuit;
  if (o.copying) circuit.emplace(s, o.seed);
  // Tensors are generated ahead of the writer in a bounded pipeline: `threads` at a time.
  auto tensors = plan(s, o.mix, static_cast<int64_t>(tokens.size()));
  const int threads = std::max(1, o.threads);
  std::vector<std::shared_future<std::vector<uint8_t>>> futures(tensors.size());
  auto launch = [&](size_t i) {
    futures[i] = std::async(std::launch::async, make_tensor, tensors[i], o.seed, circuit ? &*circuit : nullptr).share();
  };
  for (size_t i = 0; i < tensors.size() && i < static_cast<size_t>(threads); ++i) launch(i);
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::vector<int64_t> ne = {tensors[i].cols};
    if (tensors[i].rows > 1) ne.push_back(tensors[i].rows);
    w.add_tensor(tensors[i].name, tensors[i].type, ne, [&, i](const gguf_byte_sink& sink) {
      const std::vector<uint8_t> bytes = futures[i].get();
      if (i + threads < tensors.size()) launch(i + threads);
      futures[i] = {};
      sink(bytes.data(), bytes.size());
    });
  }
  w.write(out);
}

}  // namespace hearth
