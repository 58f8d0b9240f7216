// The scheduler over the real engine: stories260K's greedy tokens equal llama.cpp's reference,
// whether a request runs alone or batched with others.
#include <catch2/catch.hpp>

#include "recording_sink.h"
#include "reference.h"
#include "scheduler.h"

using namespace hearth;
using namespace hearth::test;

namespace {

generation_request greedy(std::vector<token_id> prompt, int32_t max_tokens) {
  generation_request r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

std::unique_ptr<scheduler> make_scheduler(const model& m) {
  // Batches of 32 rows: the longer prompts are prefilled in chunks beside other decodes.
  model_engine_options eo{.threads = 1, .kv_blocks = 64, .block_size = 16, .max_batch = 32, .max_logit_rows = 8};
  return std::make_unique<scheduler>(std::make_unique<model_engine>(m, eo), scheduler_options{.max_sequences = 8});
}

}  // namespace

TEST_CASE("scheduler: stories260K greedy tokens equal llama.cpp's, alone and batched with 7 others") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  const auto refs = read_reference("stories260K-f32.greedy.jsonl");
  REQUIRE(refs.size() >= 6);
  const auto& first = refs[0];
  REQUIRE(first.prompt_tokens == std::vector<token_id>{1, 403, 407, 261, 378});
  const auto n = static_cast<int32_t>(first.greedy_tokens.size());
  REQUIRE(n == 64);

  SECTION("alone") {
    auto sch = make_scheduler(*m);
    auto sink = std::make_shared<recording_sink>();
    REQUIRE(sch->submit(greedy(first.prompt_tokens, n), sink) == submit_status::accepted);
    sink_record r = sink->wait_finish();
    CHECK(r.tokens == first.greedy_tokens);
    CHECK(r.finish.reason == proto::finish_reason::length);
    CHECK(r.finish.usage.completion_tokens == 64);
  }

  SECTION("batched") {
    // The six reference prompts (5 to 24 tokens) and two more.
    std::vector<std::vector<token_id>> prompts;
    for (const auto& c : refs) prompts.push_back(c.prompt_tokens);
    prompts.push_back({1, 403, 407});
    prompts.push_back({1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433, 426, 342});
    REQUIRE(prompts.size() >= 8);
    prompts.resize(8);
    auto sch = make_scheduler(*m);
    // The first request holds the scheduler at its first token until all are queued, so the
    // other seven join it in the batch.
    gate g;
    std::vector<std::shared_ptr<recording_sink>> sinks;
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto sink = std::make_shared<recording_sink>();
      if (i == 0) sink->hook = g.at(1);
      REQUIRE(sch->submit(greedy(prompts[i], n), sink) == submit_status::accepted);
      if (i == 0) g.entered.wait();
      sinks.push_back(sink);
    }
    g.release.open();
    for (size_t i = 0; i < sinks.size(); ++i) {
      INFO("prompt " << i);
      sink_record r = sinks[i]->wait_finish();
      CHECK(r.finish.reason == proto::finish_reason::length);
      CHECK(r.tokens.size() == 64);
      // Every reference prompt, not only the first, must keep its llama.cpp continuation.
      if (i < refs.size()) CHECK(r.tokens == refs[i].greedy_tokens);
    }
    CHECK(sch->stats().queued == 0);
  }
}
