#include "model/synth.h"

#include <atomic>
#include <cmath>
#include <future>
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

// The bytes of one tensor, generated row by row.
std::vector<uint8_t> make_tensor(const tensor_plan& t, uint64_t seed) {
  const size_t row_bytes = ggml_row_size(t.type, t.cols);
  std::vector<uint8_t> out(row_bytes * t.rows);
  std::vector<float> row(t.cols);
  normal_source rng(name_seed(seed, t.name));
  const kernels::quantize_fn q = kernels::type_traits_of(t.type)->quantize;
  for (int64_t r = 0; r < t.rows; ++r) {
    for (float& v : row) v = t.rows == 1 ? 1.0f : 0.02f * rng.next();
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
  w.add_kv("general.name", gguf_meta_value::string("synthetic " + std::string(s.name)));
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
  w.add_kv("llama.rope.freq_base", gguf_meta_value::f32(10000.0f));
  w.add_kv("llama.vocab_size", gguf_meta_value::u32(static_cast<uint32_t>(tokens.size())));
  for (const auto& [key, value] : vocab.metadata()) {
    if (key.starts_with("tokenizer.")) w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
  // Tensors are generated ahead of the writer in a bounded pipeline: `threads` at a time.
  auto tensors = plan(s, o.mix, static_cast<int64_t>(tokens.size()));
  const int threads = std::max(1, o.threads);
  std::vector<std::shared_future<std::vector<uint8_t>>> futures(tensors.size());
  auto launch = [&](size_t i) {
    futures[i] = std::async(std::launch::async, make_tensor, tensors[i], o.seed).share();
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
