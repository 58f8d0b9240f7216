// A rolling context window over the fake engine: a sequence that reaches the end of the context
// keeps its prompt's head and the newer half of the rest, recomputes that window and goes on; its
// tokens are those the window gives, and usage counts what slid out.
#include <catch2/catch.hpp>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

// The tokens a rolling sequence must give, from the fake's definition: feed, sample, and at the
// end of the context keep the first `keep` positions and the newer half of the rest.
std::pair<std::vector<token_id>, int32_t> expected_rolling(const fake_engine& e, std::vector<token_id> fed,
                                                           int32_t max_tokens, int64_t context) {
  const auto keep = static_cast<int64_t>(std::min<size_t>(fed.size(), static_cast<size_t>(context / 4)));
  std::vector<token_id> out;
  int32_t dropped = 0;
  token_id pending = e.next_token(fed);
  out.push_back(pending);
  while (static_cast<int32_t>(out.size()) < max_tokens) {
    if (static_cast<int64_t>(fed.size()) == context) {
      const int64_t drop = std::max<int64_t>(1, (context - keep) / 2);
      fed.erase(fed.begin() + keep, fed.begin() + keep + drop);
      dropped += static_cast<int32_t>(drop);
    }
    fed.push_back(pending);
    pending = e.next_token(fed);
    out.push_back(pending);
  }
  return {out, dropped};
}

}  // namespace

TEST_CASE("scheduler: a rolling sequence slides its window at the end of the context and goes on", "[scheduler][rolling]") {
  constexpr int64_t kContext = 64;
  fake_fixture f({.context_length = kContext, .max_batch = 64, .max_logit_rows = 8, .block_size = 4, .total_blocks = 64});
  const std::vector<token_id> prompt = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
  generation_request r = greedy_request(prompt, 300);
  r.rolling = true;
  r.truncated_tokens = 3;  // as if the front end had cut three prompt tokens
  // Two others beside it, one of them rolling too, to share its batches.
  generation_request other = greedy_request({1, 2, 3}, 40);
  auto rolling = f.submit(std::move(r));
  auto plain = f.submit(other);
  generation_request r2 = greedy_request({30, 31, 32, 33, 34}, 150);
  r2.rolling = true;
  auto rolling2 = f.submit(std::move(r2));
  const sink_record rec = rolling->wait_finish();
  const auto [want, dropped] = expected_rolling(*f.fake, prompt, 300, kContext);
  CHECK(rec.tokens == want);
  CHECK(rec.finish.reason == proto::finish_reason::length);
  CHECK(rec.finish.usage.completion_tokens == 300);
  CHECK(rec.finish.usage.prompt_tokens == 20);
  CHECK(rec.finish.usage.truncated_tokens == 3 + dropped);
  CHECK(dropped > 300 - kContext);  // it slid several times
  CHECK(plain->wait_finish().tokens == f.fake->greedy({1, 2, 3}, 40));
  CHECK(rolling2->wait_finish().tokens == expected_rolling(*f.fake, {30, 31, 32, 33, 34}, 150, kContext).first);
  // Without rolling the same request is refused: it does not fit the context.
  CHECK(f.sch.submit(greedy_request(prompt, 300), std::make_shared<recording_sink>()) == submit_status::too_long);
  f.check_clean();
}
