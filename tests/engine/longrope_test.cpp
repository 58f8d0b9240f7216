// Phi-3 longrope: a file carries `rope_factors_short` and `rope_factors_long` (per-frequency
// divisors of RoPE's angles) and rope.scaling.original_context_length; llama.cpp rotates with the
// long factors when the context it runs with exceeds that length, else with the short ones. No
// shared fixture has the factors, so ../shared's tiny-phi3 is rewritten with them (original
// context 64, trained 512) and checked from first principles:
// - short factors of all ones divide every angle by 1, so at a context of 64 the file gives
//   exactly the logits of the file without factors (which matches llama.cpp's reference);
// - at a context of 65 the same file gives exactly what a file whose *short* factors are those
//   long ones gives at 64: the long factors, and nothing else, took over;
// - and that differs from the short-factor logits, so the check can tell them apart.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "batch_engine.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "golden_check.h"
#include "greedy.h"
#include "model/model.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;

namespace {

constexpr int64_t orig_ctx = 64;

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// tiny-phi3 with the given factors (none when both are empty) and original context orig_ctx.
std::filesystem::path phi3_with_factors(const temp_dir& dir, const std::string& name, const std::vector<float>& shortf,
                                        const std::vector<float>& longf) {
  gguf_file f = gguf_file::open(shared_path("models/arch/tiny-phi3-f16.gguf"));
  gguf_writer w;
  for (const auto& [key, value] : f.metadata()) w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  w.add_kv("phi3.rope.scaling.original_context_length", gguf_meta_value::u32(orig_ctx));
  for (const gguf_tensor& t : f.tensors()) {
    w.add_tensor(std::string(t.name), t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims),
                 std::vector<uint8_t>(t.data, t.data + t.nbytes));
  }
  if (!shortf.empty()) {
    const auto n = static_cast<int64_t>(shortf.size());
    w.add_tensor("rope_factors_short.weight", ggml_type::f32, {n}, f32_bytes(shortf));
    w.add_tensor("rope_factors_long.weight", ggml_type::f32, {n}, f32_bytes(longf));
  }
  const auto path = dir.file(name);
  w.write(path);
  return path;
}

// The last position's logits of `prompt` run by an engine whose sequences hold `ctx` positions.
std::vector<float> last_logits(const model& m, int64_t ctx, const std::vector<token_id>& prompt) {
  model_engine engine(m, {.threads = 1, .context_length = ctx, .kv_blocks = 8, .block_size = 16, .max_batch = 64,
                          .max_logit_rows = 1});
  REQUIRE(engine.context_length() == ctx);
  const int32_t seq = engine.seq_create();
  REQUIRE(engine.seq_reserve(seq, static_cast<int64_t>(prompt.size())));
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.push_back({prompt[i], static_cast<int32_t>(i), seq, i + 1 == prompt.size()});
  }
  const auto logits = engine.forward(batch);
  return {logits.begin(), logits.end()};
}

}  // namespace

TEST_CASE("Phi-3 longrope rotates with the long factors only when the context exceeds the original",
          "[arch][phi3][longrope]") {
  temp_dir dir;
  const auto plain = model::load(phi3_with_factors(dir, "plain.gguf", {}, {}));
  const int64_t n = plain->hp().rope_dim / 2;
  REQUIRE(n == 32);
  REQUIRE(plain->hp().n_ctx_train == 512);
  REQUIRE(plain->hp().n_ctx_orig == orig_ctx);

  std::mt19937 rng(64);
  std::uniform_real_distribution<float> divisor(1.0f, 8.0f);
  const std::vector<float> ones(static_cast<size_t>(n), 1.0f);
  std::vector<float> longf(static_cast<size_t>(n));
  for (float& x : longf) x = divisor(rng);

  const auto a = model::load(phi3_with_factors(dir, "a.gguf", ones, longf));
  const auto b = model::load(phi3_with_factors(dir, "b.gguf", longf, ones));

  std::uniform_int_distribution<token_id> tok(3, static_cast<token_id>(plain->hp().n_vocab - 1));
  std::vector<token_id> prompt;
  for (int i = 0; i < 24; ++i) prompt.push_back(tok(rng));

  const auto reference = last_logits(*plain, orig_ctx, prompt);
  const auto a_short = last_logits(*a, orig_ctx, prompt);
  const auto a_long = last_logits(*a, orig_ctx + 1, prompt);
  const auto b_short = last_logits(*b, orig_ctx, prompt);
  const auto b_long = last_logits(*b, 512, prompt);

  CHECK(a_short == reference);  // divisors of 1: exactly the file without factors
  CHECK(a_long == b_short);     // past the original context: the long factors, exactly
  CHECK(b_long == a_short);
  const float moved = max_abs_diff(a_long, a_short);
  INFO("long vs short factors: max |logit difference| " << moved << ", largest logit "
                                                         << largest_magnitude(a_short));
  CHECK(moved > 1e-2f * largest_magnitude(a_short));
}

TEST_CASE("rope.scaling.original_context_length defaults to the trained context", "[arch][phi3][longrope]") {
  const auto m = model::load(shared_path("models/arch/tiny-phi3-f16.gguf"));
  CHECK(m->hp().n_ctx_orig == m->hp().n_ctx_train);
}
