// plan_memory: every size a model file implies is checked against the memory available before
// anything is allocated; defaults shrink to fit, explicit settings are met or refused by name.
#include <catch2/catch.hpp>

#include <algorithm>

#include "batch_engine.h"
#include "crafted_models.h"
#include "engine/gguf_test_util.h"
#include "memory_plan.h"
#include "reference.h"

using namespace hearth;
using namespace hearth::test;

namespace {

// stories260K: 5 layers × 2 (keys, values) × 4 KV heads × 8 dims × 2 bytes (F16).
constexpr uint64_t position_bytes = 5 * 2 * 4 * 8 * 2;           // 640
constexpr uint64_t block_bytes = 16 * position_bytes + 8;       // + its free-list and holder-count entries
constexpr uint64_t ample = uint64_t{1} << 40;

const model& stories() {
  static const auto m = model::load(shared_model("stories260K-f32.gguf"));
  return *m;
}

memory_settings serve_like(int32_t sequences, uint64_t available) {
  memory_settings s;
  s.sequences = sequences;
  s.max_batch = 64;
  s.max_logit_rows = sequences;
  s.available = available;
  return s;
}

std::string plan_error(const model& m, const memory_settings& s) {
  try {
    plan_memory(m, s);
  } catch (const load_error& e) {
    return e.what();
  }
  FAIL("plan_memory succeeded; expected a load_error");
  return {};
}

uint64_t scratch_of(const memory_settings& s) {
  memory_settings roomy = s;
  roomy.available = ample;
  return plan_memory(stories(), roomy).scratch_bytes.value();
}

}  // namespace

TEST_CASE("memory plan: scratch of one row, counted from first principles", "[memory_plan]") {
  memory_settings s;
  s.max_batch = 1;
  s.available = ample;
  // Floats: x, xn, delta 3 × 64; q, att 2 × 64; k, v 2 × 32; gate, up 2 × 172; logits 512.
  const uint64_t buffers = (3 * 64 + 2 * 64 + 2 * 32 + 2 * 172 + 512) * 4;
  // Converted activations of the widest input (172): F16 and BF16 2 bytes each, Q8 5 blocks of 40
  // (scale, sum, 32 values).
  const uint64_t activations = 172 * 2 + 172 * 2 + 5 * 40;
  // One thread: key and value pointers of 32 blocks (512 positions), 2 query heads × 8 in F16.
  const uint64_t attention = 32 * 2 * 8 + 2 * 8 * 2;
  // One sampler: counts, logits, candidates (8 bytes), weights per token; 1024 buckets; history.
  const uint64_t sampler = 512 * (4 + 4 + 8 + 4) + 1024 * 8 + 512 * 4;
  CHECK(plan_memory(stories(), s).scratch_bytes.value() == buffers + activations + attention + sampler);
}

TEST_CASE("memory plan: by default every sequence gets the model's whole context when it fits", "[memory_plan]") {
  const memory_plan p = plan_memory(stories(), serve_like(8, uint64_t{1} << 30));
  CHECK(p.context_length == 512);
  CHECK(p.kv_blocks == 8 * 32);
  CHECK(p.kv_bytes.value() == 8 * 32 * block_bytes);
  CHECK_FALSE(p.cut);
  CHECK(p.summary.find("8 × context 512 (llama.context_length)") != std::string::npos);
}

TEST_CASE("memory plan: by default the pool is cut to half of what is left, and says so", "[memory_plan]") {
  const memory_settings s = serve_like(8, 0);
  const uint64_t scratch = scratch_of(s);
  SECTION("sequences share a pool smaller than all their contexts") {
    memory_settings t = s;
    t.available = scratch + 2 * 100 * block_bytes + 1;
    const memory_plan p = plan_memory(stories(), t);
    CHECK(p.kv_blocks == 100);
    CHECK(p.context_length == 512);
    CHECK(p.cut);
    CHECK(p.summary.find("cut to half") != std::string::npos);
  }
  SECTION("the context shrinks to what the pool holds") {
    memory_settings t = s;
    t.available = scratch + 2 * 20 * block_bytes + 1;
    const memory_plan p = plan_memory(stories(), t);
    CHECK(p.kv_blocks == 20);
    CHECK(p.context_length == 320);
  }
  SECTION("fewer than 256 positions is refused, naming the fields that make a position large") {
    memory_settings t = s;
    t.available = scratch + 2 * 15 * block_bytes + 1;  // 240 positions
    check_message(plan_error(stories(), t), shared_model("stories260K-f32.gguf"),
                  {"one position takes 640 bytes", "llama.block_count 5", "llama.attention.head_count_kv 4",
                   "head dimension 8", "256 positions need 160.1 KiB"});
  }
}

TEST_CASE("memory plan: an explicit context is met or refused, never cut", "[memory_plan]") {
  memory_settings s = serve_like(8, 0);
  s.context = 512;
  s.context_explicit = true;
  s.available = scratch_of(s) + 8 * 32 * block_bytes;
  const memory_plan p = plan_memory(stories(), s);
  CHECK(p.context_length == 512);
  CHECK(p.kv_blocks == 256);
  s.available = *s.available - 1;
  check_message(plan_error(stories(), s), shared_model("stories260K-f32.gguf"),
                {"KV cache for --parallel 8 × --ctx 512 needs 2.5 MiB", "available: lower --ctx or --parallel"});
}

TEST_CASE("memory plan: an explicit KV budget is met or refused", "[memory_plan]") {
  memory_settings s = serve_like(8, uint64_t{1} << 30);
  s.kv_budget = uint64_t{1} << 20;
  memory_plan p = plan_memory(stories(), s);
  CHECK(p.kv_blocks == (uint64_t{1} << 20) / (16 * position_bytes));  // 102
  CHECK(p.context_length == 512);
  s.kv_budget = uint64_t{64} << 20;  // more than all 8 contexts: the blocks no sequence could use are not made
  p = plan_memory(stories(), s);
  CHECK(p.kv_blocks == 8 * 32);
  s.available = uint64_t{1} << 30;
  s.kv_budget = uint64_t{2} << 30;
  check_message(plan_error(stories(), s), shared_model("stories260K-f32.gguf"),
                {"--kv-budget-mib asks for 2.0 GiB of KV cache", "available: lower --kv-budget-mib"});
  s.kv_budget = 5000;
  check_message(plan_error(stories(), s), shared_model("stories260K-f32.gguf"),
                {"--kv-budget-mib 4.9 KiB holds no KV block of 10.0 KiB"});
}

TEST_CASE("memory plan: forward-pass buffers that do not fit are refused, naming the batch", "[memory_plan]") {
  memory_settings s = serve_like(8, uint64_t{1} << 20);
  s.max_batch = 8192;
  check_message(plan_error(stories(), s), shared_model("stories260K-f32.gguf"),
                {"forward-pass buffers for --batch 8,192 and --parallel 8", "llama.feed_forward_length 172",
                 "1.0 MiB available: lower --batch or --parallel"});
}

// Issue 7, hole 1: the model whose KV cache for 8 sequences is 2^64 bytes.
TEST_CASE("memory plan: a model whose KV cache overflows 64 bits is refused by name", "[memory_plan]") {
  temp_dir dir;
  const auto path = dir.file("kv-overflow.gguf");
  write_crafted_llama(kv_overflow_model(), path);
  const auto m = model::load(path);
  REQUIRE(m->hp().n_ctx_train == int64_t{1} << 31);
  check_message(plan_error(*m, serve_like(8, uint64_t{64} << 30)), path,
                {"one position takes 2.0 GiB", "llama.block_count 4,096", "llama.attention.head_count_kv 128",
                 "head dimension 1,024", "256 positions need 512.0 GiB"});
  memory_settings s = serve_like(8, uint64_t{64} << 30);
  s.context = 2048;
  s.context_explicit = true;
  check_message(plan_error(*m, s), path, {"KV cache for --parallel 8 × --ctx 2,048 needs 32.0 TiB"});
  s.context = int64_t{1} << 31;
  check_message(plan_error(*m, s), path, {"--ctx 2,147,483,648 exceeds the 16,777,216 positions"});
}

// Issue 7, hole 12: context_length 2^31 with stories260K's dimensions (640 bytes a position).
TEST_CASE("memory plan: a model claiming a context of 2^31 runs with the context that fits", "[memory_plan]") {
  temp_dir dir;
  const auto path = dir.file("huge-context.gguf");
  write_crafted_llama(huge_context_model(), path);
  const auto m = model::load(path);
  memory_settings s = serve_like(1, uint64_t{64} << 20);
  const memory_plan p = plan_memory(*m, s);
  CHECK(p.cut);
  CHECK(p.context_length < (int64_t{64} << 20) / 2 / 640);
  CHECK(p.context_length > 40'000);
  CHECK(p.kv_bytes.value() <= (uint64_t{64} << 20) / 2);
  CHECK(p.summary.find("llama.context_length 2,147,483,648, at most 16,777,216") != std::string::npos);
  // The engine it plans runs: the greedy token after the prompt is llama.cpp's.
  const reference_case ref = read_reference("stories260K-f32.greedy.jsonl").at(0);
  model_engine e(*m, model_engine_options::planned(s, p));
  const int32_t seq = e.seq_create();
  REQUIRE(e.seq_reserve(seq, static_cast<int64_t>(ref.prompt_tokens.size())));
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < ref.prompt_tokens.size(); ++i) {
    batch.push_back({ref.prompt_tokens[i], static_cast<int32_t>(i), seq, i + 1 == ref.prompt_tokens.size()});
  }
  const auto logits = e.forward(batch);
  REQUIRE(logits.size() == 512);
  CHECK(std::max_element(logits.begin(), logits.end()) - logits.begin() == ref.greedy_tokens.at(0));
}
