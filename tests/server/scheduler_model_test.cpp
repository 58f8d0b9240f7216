// The scheduler over the real engine: stories260K's greedy tokens equal llama.cpp's reference,
// and a seeded sampled request's tokens are its own, whether it runs alone or batched with
// others; "batched" is shown by the forward passes the engine was given.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "recording_sink.h"
#include "reference.h"
#include "sampled_run.h"
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

// The real engine, watched: records how many distinct sequences each forward pass carried.
class watched_engine final : public batch_engine {
 public:
  explicit watched_engine(std::unique_ptr<batch_engine> inner) : inner_(std::move(inner)) {}

  // Read after the scheduler's work is done (the sinks' wait_finish orders it).
  int64_t most_sequences() const { return most_sequences_; }
  int64_t passes_with(int64_t sequences) const { return passes_with_[std::min<int64_t>(sequences, 8)]; }

  std::span<const float> forward(std::span<const batch_entry> batch) override {
    std::vector<int32_t> seqs;
    for (const batch_entry& e : batch) seqs.push_back(e.seq);
    std::sort(seqs.begin(), seqs.end());
    const auto n = static_cast<int64_t>(std::unique(seqs.begin(), seqs.end()) - seqs.begin());
    most_sequences_ = std::max<int64_t>(most_sequences_, n);
    ++passes_with_[std::min<int64_t>(n, 8)];
    return inner_->forward(batch);
  }
  int32_t vocab_size() const override { return inner_->vocab_size(); }
  int64_t context_length() const override { return inner_->context_length(); }
  int64_t max_batch() const override { return inner_->max_batch(); }
  int64_t max_logit_rows() const override { return inner_->max_logit_rows(); }
  int32_t block_size() const override { return inner_->block_size(); }
  int64_t total_blocks() const override { return inner_->total_blocks(); }
  int64_t free_blocks() const override { return inner_->free_blocks(); }
  int32_t seq_create() override { return inner_->seq_create(); }
  void seq_free(int32_t seq) override { inner_->seq_free(seq); }
  bool seq_reserve(int32_t seq, int64_t n) override { return inner_->seq_reserve(seq, n); }
  bool shares_blocks() const override { return inner_->shares_blocks(); }
  bool seq_share(int32_t src, int32_t dst, int64_t n) override { return inner_->seq_share(src, dst, n); }
  void seq_copy_block(int32_t src, int32_t dst, int64_t i) override { inner_->seq_copy_block(src, dst, i); }
  void seq_truncate(int32_t seq, int64_t n) override { inner_->seq_truncate(seq, n); }
  std::string token_bytes(token_id id) const override { return inner_->token_bytes(id); }
  bool is_eog(token_id id) const override { return inner_->is_eog(id); }

 private:
  std::unique_ptr<batch_engine> inner_;
  int64_t most_sequences_ = 0;
  int64_t passes_with_[9] = {};
};

struct watched_scheduler {
  watched_engine* engine;
  std::unique_ptr<scheduler> sch;
};

watched_scheduler make_scheduler(const model& m, int64_t kv_blocks = 64, int64_t max_logit_rows = 8) {
  // Batches of 32 rows: the longer prompts are prefilled in chunks beside other decodes.
  model_engine_options eo{.threads = 1, .kv_blocks = kv_blocks, .block_size = 16, .max_batch = 32, .max_logit_rows = max_logit_rows};
  auto e = std::make_unique<watched_engine>(std::make_unique<model_engine>(m, eo));
  watched_engine* w = e.get();
  return {w, std::make_unique<scheduler>(std::move(e), scheduler_options{.max_sequences = 8})};
}

// Submits the requests with the first one holding the scheduler at its first token until all
// are queued, so the others join it in the batch; returns their records, in order.
std::vector<sink_record> run_together(scheduler& sch, std::vector<generation_request> requests) {
  gate g;
  std::vector<std::shared_ptr<recording_sink>> sinks;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto sink = std::make_shared<recording_sink>();
    if (i == 0) sink->hook = g.at(1);
    REQUIRE(sch.submit(std::move(requests[i]), sink) == submit_status::accepted);
    if (i == 0) g.entered.wait();
    sinks.push_back(sink);
  }
  g.release.open();
  std::vector<sink_record> out;
  for (const auto& s : sinks) out.push_back(s->wait_finish());
  return out;
}

// The six reference prompts (5 to 24 tokens) and two more.
std::vector<std::vector<token_id>> eight_prompts(const std::vector<reference_case>& refs) {
  std::vector<std::vector<token_id>> prompts;
  for (const auto& c : refs) prompts.push_back(c.prompt_tokens);
  prompts.push_back({1, 403, 407});
  prompts.push_back({1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433, 426, 342});
  REQUIRE(prompts.size() == 8);
  return prompts;
}

}  // namespace

TEST_CASE("scheduler: stories260K greedy tokens equal llama.cpp's, alone and batched with 7 others") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  const auto refs = read_reference("stories260K-f32.greedy.jsonl", 6);
  const auto& first = refs[0];
  REQUIRE(first.prompt_tokens == std::vector<token_id>{1, 403, 407, 261, 378});
  const auto n = static_cast<int32_t>(first.greedy_tokens.size());
  REQUIRE(n == 64);

  SECTION("alone") {
    auto w = make_scheduler(*m);
    auto sink = std::make_shared<recording_sink>();
    REQUIRE(w.sch->submit(greedy(first.prompt_tokens, n), sink) == submit_status::accepted);
    sink_record r = sink->wait_finish();
    CHECK(r.tokens == first.greedy_tokens);
    CHECK(r.finish.reason == proto::finish_reason::length);
    CHECK(r.finish.usage.completion_tokens == 64);
    CHECK(w.engine->most_sequences() == 1);
  }

  SECTION("batched") {
    auto w = make_scheduler(*m);
    std::vector<generation_request> requests;
    for (auto& p : eight_prompts(refs)) requests.push_back(greedy(p, n));
    const std::vector<sink_record> got = run_together(*w.sch, std::move(requests));
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("prompt " << i);
      CHECK(got[i].finish.reason == proto::finish_reason::length);
      CHECK(got[i].tokens.size() == 64);
      // Every reference prompt, not only the first, must keep its llama.cpp continuation.
      if (i < refs.size()) CHECK(got[i].tokens == refs[i].greedy_tokens);
    }
    CHECK(w.sch->stats().queued == 0);
    // The eight shared forward passes: all eight sequences were in one pass, many times (each
    // decodes 64 tokens, and all are admitted within a few steps of each other).
    CHECK(w.engine->most_sequences() == 8);
    CHECK(w.engine->passes_with(8) >= 32);
  }

  SECTION("batched on a pool too small for all, preempted and recomputed") {
    // The eight need 6 blocks each at their longest, 44 in all; 20 make the newest give theirs
    // back and recompute them later, again and again.
    auto w = make_scheduler(*m, 20);
    std::vector<generation_request> requests;
    for (auto& p : eight_prompts(refs)) requests.push_back(greedy(p, n));
    const std::vector<sink_record> got = run_together(*w.sch, std::move(requests));
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("prompt " << i);
      CHECK(got[i].finish.reason == proto::finish_reason::length);
      if (i < refs.size()) CHECK(got[i].tokens == refs[i].greedy_tokens);
    }
    const scheduler_stats st = w.sch->stats();
    CHECK(st.preemptions > 0);
    CHECK(st.recomputed_tokens > 0);
    CHECK(w.engine->most_sequences() == 8);  // all eight started together all the same
  }
}

TEST_CASE("scheduler: a seeded sampled request gives the same tokens alone and batched with others") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  const auto refs = read_reference("stories260K-f32.greedy.jsonl", 6);
  const auto prompts = eight_prompts(refs);
  const int32_t n = 48;
  // Eight requests with their own seeds and settings: sampled, greedy and penalized mixed.
  std::vector<generation_request> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    generation_request r;
    r.prompt = prompts[i];
    r.max_tokens = n;
    r.sampling = seeded_sampling();
    r.sampling.seed += i;
    if (i % 3 == 1) r.sampling.temperature = 0;
    if (i % 3 == 2) r.sampling.top_k = 40;
    requests.push_back(r);
  }
  auto together = make_scheduler(*m);
  const std::vector<sink_record> batched = run_together(*together.sch, requests);
  CHECK(together.engine->most_sequences() == 8);
  for (size_t i = 0; i < requests.size(); ++i) {
    INFO("request " << i);
    // Alone, on its own scheduler: a different schedule, the same tokens.
    auto alone = make_scheduler(*m);
    auto sink = std::make_shared<recording_sink>();
    REQUIRE(alone.sch->submit(requests[i], sink) == submit_status::accepted);
    const sink_record a = sink->wait_finish();
    CHECK(alone.engine->most_sequences() == 1);
    CHECK(batched[i].tokens == a.tokens);
    CHECK(batched[i].finish.reason == a.finish.reason);
    // And the engine and sampler without a scheduler.
    const sampled_run direct = sample_in_process(*m, requests[i].prompt, requests[i].sampling, n);
    CHECK(a.tokens == direct.tokens);
  }
}

TEST_CASE("scheduler: n choices share the prompt's blocks and each gives what seed + i alone gives") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  // 21 tokens: one full block of 16 shared, the block holding 16..20 copied to each choice.
  const std::vector<token_id> prompt = {1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295,
                                        433, 426, 342, 403, 407, 261, 378, 290, 300, 310};
  const int32_t n_tokens = 40;
  generation_request r;
  r.prompt = prompt;
  r.max_tokens = n_tokens;
  r.sampling = seeded_sampling();
  // 61 positions: 4 blocks for the first choice; each other choice shares 1 and holds 3. Three
  // choices fit in 4 + 3 + 3 = 10 blocks; without sharing they would need 12.
  model_engine_options eo{.threads = 1, .kv_blocks = 10, .block_size = 16, .max_batch = 32, .max_logit_rows = 8};
  auto e = std::make_unique<watched_engine>(std::make_unique<model_engine>(*m, eo));
  watched_engine* w = e.get();
  // No prefix cache: every block must come back when the choices end.
  scheduler sch(std::move(e), scheduler_options{.max_sequences = 4, .prefix_cache = false});
  std::vector<std::shared_ptr<recording_sink>> sinks;
  for (int i = 0; i < 3; ++i) sinks.push_back(std::make_shared<recording_sink>());
  REQUIRE(sch.submit(r, std::vector<std::shared_ptr<token_sink>>(sinks.begin(), sinks.end())) == submit_status::accepted);
  std::vector<sink_record> got;
  for (const auto& s : sinks) got.push_back(s->wait_finish());
  CHECK(w->most_sequences() == 3);  // decoded side by side
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("choice " << i);
    sampling_params p = r.sampling;
    p.seed += i;
    const sampled_run alone = sample_in_process(*m, prompt, p, n_tokens);
    CHECK(got[i].tokens == alone.tokens);
    CHECK(got[i].finishes == 1);
    CHECK(got[i].finish.usage.prompt_tokens == static_cast<int32_t>(prompt.size()));
    CHECK(got[i].finish.usage.completion_tokens == static_cast<int32_t>(alone.tokens.size() + (alone.ended_by_eog ? 1 : 0)));
  }
  CHECK(got[0].tokens != got[1].tokens);  // different seeds, different draws
  // Every block comes back, shared ones included (the stats follow the last finish).
  for (int i = 0; i < 100 && sch.stats().kv_blocks_free != 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(sch.stats().kv_blocks_free == 10);

  // Four choices would need 13 blocks at their longest, more than the pool; they start with 5
  // (2 blocks and 1 of their own each) and grow: the newest are preempted, recompute their own
  // prompt and tokens, and still give what they give alone.
  std::vector<std::shared_ptr<recording_sink>> four;
  for (int i = 0; i < 4; ++i) four.push_back(std::make_shared<recording_sink>());
  REQUIRE(sch.submit(r, std::vector<std::shared_ptr<token_sink>>(four.begin(), four.end())) == submit_status::accepted);
  for (size_t i = 0; i < four.size(); ++i) {
    INFO("choice " << i << " of 4");
    const sink_record got4 = four[i]->wait_finish();
    sampling_params p = r.sampling;
    p.seed += i;
    CHECK(got4.tokens == sample_in_process(*m, prompt, p, n_tokens).tokens);
    CHECK(got4.finish.reason != proto::finish_reason::error);
  }
  CHECK(sch.stats().preemptions > 0);
  for (int i = 0; i < 100 && sch.stats().kv_blocks_free != 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(sch.stats().kv_blocks_free == 10);

  // A request that could not finish alone in the pool (21 + 150 positions: 11 blocks) is
  // refused at once.
  std::vector<std::shared_ptr<token_sink>> one;
  one.push_back(std::make_shared<recording_sink>());
  r.max_tokens = 150;
  CHECK(sch.submit(r, one) == submit_status::too_long);
  // More choices than may run at once: refused too.
  std::vector<std::shared_ptr<token_sink>> five;
  for (int i = 0; i < 5; ++i) five.push_back(std::make_shared<recording_sink>());
  r.max_tokens = 1;
  CHECK(sch.submit(r, five) == submit_status::too_long);
}

TEST_CASE("scheduler: choices waiting for their prompt end with it when it is cancelled") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  model_engine_options eo{.threads = 1, .kv_blocks = 64, .block_size = 16, .max_batch = 8, .max_logit_rows = 8};
  scheduler sch(std::make_unique<model_engine>(*m, eo), scheduler_options{.max_sequences = 8});
  generation_request r;
  r.prompt.assign(200, 403);  // 25 passes of 8 rows: time to cancel during the prefill
  r.prompt[0] = 1;
  r.max_tokens = 8;
  r.cancel = std::make_shared<std::atomic<bool>>(false);
  std::vector<std::shared_ptr<recording_sink>> sinks;
  for (int i = 0; i < 3; ++i) sinks.push_back(std::make_shared<recording_sink>());
  REQUIRE(sch.submit(r, std::vector<std::shared_ptr<token_sink>>(sinks.begin(), sinks.end())) == submit_status::accepted);
  r.cancel->store(true);
  for (const auto& s : sinks) {
    const sink_record rec = s->wait_finish();
    CHECK(rec.finishes == 1);
    CHECK(rec.finish.reason == proto::finish_reason::cancelled);
  }
  // Whenever the cancel landed, every block comes back: free, or kept by the prefix cache (the
  // whole blocks of the prompt fed before the cancel, reusable by the next request).
  const auto returned = [&] {
    const auto st = sch.stats();
    return st.kv_blocks_free + st.cache_blocks;
  };
  for (int i = 0; i < 100 && returned() != 64; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(returned() == 64);
}

namespace {

sink_record run_one(scheduler& sch, generation_request r) {
  auto sink = std::make_shared<recording_sink>();
  REQUIRE(sch.submit(std::move(r), sink) == submit_status::accepted);
  return sink->wait_finish();
}

}  // namespace

TEST_CASE("scheduler: the prefix cache serves repeated prompts and history, token for token as uncached") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  const std::vector<token_id> prompt = {1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433, 426, 342, 403, 407,
                                        261, 378, 290, 300, 310, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433,
                                        426, 342, 403, 407, 261, 378, 290, 300};  // 40 tokens
  auto cached = make_scheduler(*m);
  auto fresh = [&](const generation_request& r) { return run_one(*make_scheduler(*m).sch, r); };

  const sink_record first = run_one(*cached.sch, greedy(prompt, 20));
  CHECK(first.finish.usage.cached_tokens == 0);
  // Again: 2 whole blocks of 16 (the 40th token's row is computed for its logits).
  const sink_record again = run_one(*cached.sch, greedy(prompt, 20));
  CHECK(again.finish.usage.cached_tokens == 32);
  CHECK(again.tokens == first.tokens);
  // The next turn: the prompt, the answer and more. The first run fed 40 + 19 positions: 3 blocks.
  std::vector<token_id> turn = prompt;
  turn.insert(turn.end(), first.tokens.begin(), first.tokens.end());
  for (token_id t : {13, 403, 407, 261, 378}) turn.push_back(t);
  const sink_record next = run_one(*cached.sch, greedy(turn, 20));
  CHECK(next.finish.usage.cached_tokens == 48);
  CHECK(next.tokens == fresh(greedy(turn, 20)).tokens);
  // A sampled request reads the cache too, and draws what it draws alone.
  generation_request sampled = greedy(turn, 20);
  sampled.sampling = seeded_sampling();
  const sink_record s1 = run_one(*cached.sch, sampled);
  CHECK(s1.finish.usage.cached_tokens >= 48);
  CHECK(s1.tokens == fresh(sampled).tokens);
  CHECK(cached.sch->stats().cache_hit_tokens == 32 + 48 + s1.finish.usage.cached_tokens);

  // Partitions never share, and a request with cache false neither reads nor fills it.
  generation_request other = greedy(prompt, 20);
  other.cache_partition = "another key";
  CHECK(run_one(*cached.sch, other).finish.usage.cached_tokens == 0);
  CHECK(run_one(*cached.sch, other).finish.usage.cached_tokens == 32);  // its own entry now
  generation_request private_one = greedy({1, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414,
                                           415, 416, 417, 418},
                                          8);
  private_one.cache = false;
  const int64_t entries = cached.sch->stats().cache_entries;
  CHECK(run_one(*cached.sch, private_one).finish.usage.cached_tokens == 0);
  CHECK(run_one(*cached.sch, private_one).finish.usage.cached_tokens == 0);
  CHECK(cached.sch->stats().cache_entries == entries);
}

TEST_CASE("scheduler: cache entries are evicted before any request waits or is preempted, and shutdown frees them") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  // A pool of 12 blocks: each request below fills 4 (24 + 40 positions), and the entries of the
  // earlier ones must make room for the later ones.
  model_engine_options eo{.threads = 1, .kv_blocks = 12, .block_size = 16, .max_batch = 32, .max_logit_rows = 8};
  auto sch = std::make_unique<scheduler>(std::make_unique<model_engine>(*m, eo), scheduler_options{.max_sequences = 4});
  for (int i = 0; i < 6; ++i) {
    INFO("request " << i);
    std::vector<token_id> p = {1};
    for (int k = 1; k < 24; ++k) p.push_back(260 + (i * 31 + k * 7) % 200);
    const sink_record r = run_one(*sch, greedy(p, 40));
    CHECK(r.finish.reason == proto::finish_reason::length);
    CHECK(r.finish.usage.completion_tokens == 40);
  }
  scheduler_stats st = sch->stats();
  CHECK(st.cache_entries >= 1);
  CHECK(st.cache_blocks <= 12);
  CHECK(st.preemptions == 0);
  sch->shutdown();
  st = sch->stats();
  CHECK(st.cache_entries == 0);
  CHECK(st.kv_blocks_free == 12);
}

TEST_CASE("scheduler: speculative decoding keeps llama.cpp's greedy tokens and the sampled ones, batched") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  const auto refs = read_reference("stories260K-f32.greedy.jsonl", 6);
  const auto prompts = eight_prompts(refs);
  const int32_t n = 64;
  std::vector<generation_request> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    generation_request r = greedy(prompts[i], n);
    if (i % 2 == 1) {  // every other one sampled, with its own seed
      r.sampling = seeded_sampling();
      r.sampling.seed += i;
    }
    requests.push_back(r);
  }
  auto plain = make_scheduler(*m);
  const std::vector<sink_record> without = run_together(*plain.sch, requests);
  for (auto& r : requests) r.speculative = {proto::speculative_mode::ngram, 8};
  auto spec = make_scheduler(*m, 64, 32);  // logit rows for drafts beside the eight decode rows
  const std::vector<sink_record> with = run_together(*spec.sch, requests);
  int32_t drafted = 0, accepted = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    INFO("request " << i);
    CHECK(with[i].tokens == without[i].tokens);
    CHECK(with[i].finish.reason == without[i].finish.reason);
    if (i < refs.size() && i % 2 == 0) CHECK(with[i].tokens == refs[i].greedy_tokens);
    drafted += with[i].finish.usage.drafted_tokens;
    accepted += with[i].finish.usage.accepted_tokens;
  }
  // The little model's stories repeat themselves: some drafts hold, some do not.
  CHECK(accepted > 0);
  CHECK(accepted < drafted);
  // Stats are published at the end of the step the last token came in: wait for that step.
  scheduler_stats st = spec.sch->stats();
  for (int i = 0; i < 500 && (st.drafted_tokens != drafted || st.kv_blocks_used != 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    st = spec.sch->stats();
  }
  CHECK(st.drafted_tokens == drafted);
  CHECK(st.accepted_tokens == accepted);
  CHECK(st.kv_blocks_used == 0);
}
