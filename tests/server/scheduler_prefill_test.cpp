// Chunked prefill that respects running streams, over the fake engine with a simulated cost per
// forward pass (a fixed part and a part per row): while a sequence decodes, a long prompt
// advances in chunks sized so a step takes about decode_step / (1 - prefill_share), and the
// decoding sequence gets a row in every pass; with no limit (100) the prompt fills the batch.
#include <algorithm>
#include <catch2/catch.hpp>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

// Each forward pass costs 4 ms plus 1 ms per row: a decode step of one row takes 5 ms.
constexpr fake_engine_options kCosted{.max_batch = 64, .max_logit_rows = 8, .block_size = 4, .total_blocks = 4096,
                                      .step_us = 4000, .row_us = 1000};

struct prefill_run {
  std::vector<int> prompt_rows;  // the long prompt's rows in each pass that also held the stream
  bool stream_in_every_pass = true;
  sink_record stream, prompt;
};

// A stream decodes; once it is past its prompt, a 300-token prompt arrives.
prefill_run run_with_share(int32_t share) {
  fake_fixture f(kCosted, {.max_sequences = 4, .prefill_share = share});
  const std::vector<token_id> stream_prompt = {1, 2, 3};
  std::vector<token_id> long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt.push_back(1 + (i * 13) % 34);
  gate g;
  auto stream = f.submit(greedy_request(stream_prompt, 400), g.at(20));  // decode steps measured first
  g.entered.wait();
  auto prompt = f.submit(greedy_request(long_prompt, 1));
  g.release.open();
  prefill_run out;
  out.prompt = prompt->wait_finish();
  out.stream = stream->wait_finish();
  const int s = *f.fake->lifetime_of(stream_prompt), p = *f.fake->lifetime_of(long_prompt);
  const auto batches = f.fake->batch_log();
  const auto rows = f.fake->row_log();
  for (size_t i = 0; i < batches.size(); ++i) {
    const auto at_p = std::find(batches[i].begin(), batches[i].end(), p);
    if (at_p == batches[i].end()) continue;
    const bool has_stream = std::count(batches[i].begin(), batches[i].end(), s) > 0;
    out.stream_in_every_pass = out.stream_in_every_pass && has_stream;
    if (has_stream) out.prompt_rows.push_back(rows[i][static_cast<size_t>(at_p - batches[i].begin())]);
  }
  f.check_clean();
  return out;
}

int median(std::vector<int> v) {
  REQUIRE_FALSE(v.empty());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST_CASE("scheduler: while a stream decodes, a long prompt advances in chunks sized from measured step times") {
  // Share 50: a step with prompt rows should take 2 x 5 ms = 10 ms, i.e. 1 decode row and
  // about 5 prompt rows. The stream has a row in every pass the prompt is in.
  const prefill_run r = run_with_share(50);
  CHECK(r.stream_in_every_pass);
  CHECK(r.prompt.finish.usage.prompt_tokens == 300);
  CHECK(r.stream.finish.usage.completion_tokens == 400);
  const int m = median(r.prompt_rows);
  INFO("median prompt rows per step: " << m);
  CHECK(m >= 3);
  CHECK(m <= 10);
  CHECK(*std::max_element(r.prompt_rows.begin(), r.prompt_rows.end()) <= 16);  // from the first, unmeasured, step on
}

TEST_CASE("scheduler: a larger prefill share gives the prompt larger chunks, and 100 fills the batch") {
  const prefill_run low = run_with_share(50), high = run_with_share(80), all = run_with_share(100);
  // 80: steps of 5 / 0.2 = 25 ms: about 20 prompt rows.
  CHECK(median(high.prompt_rows) > median(low.prompt_rows));
  CHECK(median(high.prompt_rows) >= 12);
  // 100: every row the batch has left (64 less the stream's 1).
  CHECK(median(all.prompt_rows) == 63);
  CHECK(all.stream_in_every_pass);
  // The tokens are the same whatever the chunks.
  CHECK(low.stream.tokens == all.stream.tokens);
  CHECK(low.prompt.tokens == all.prompt.tokens);
}
