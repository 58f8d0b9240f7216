// forward_pass::run writes each row into scratch sized for max_batch rows and max_logit_rows
// rows of logits: a batch past either bound is refused, not written past the buffers.
#include <catch2/catch.hpp>

#include "engine/gguf_test_util.h"
#include "forward.h"

using namespace hearth;
using namespace hearth::test;

TEST_CASE("forward pass: a batch larger than its scratch is refused", "[forward]") {
  const auto m = model::load(shared_model("stories260K-f32.gguf"));
  thread_pool pool(1);
  kv_cache kv(m->hp(), 8);
  forward_pass fwd(*m, pool, /*max_batch=*/4, /*max_logit_rows=*/2, m->hp().n_ctx_train);
  const int32_t seq = kv.seq_create();
  REQUIRE(kv.seq_reserve(seq, 8));
  auto batch_of = [&](int rows, int logits) {
    std::vector<batch_entry> b;
    for (int i = 0; i < rows; ++i) b.push_back({1, static_cast<int32_t>(i), seq, i >= rows - logits});
    return b;
  };
  CHECK(fwd.run(kv, batch_of(4, 2)).size() == 2 * static_cast<size_t>(m->hp().n_vocab));
  CHECK_THROWS_AS(fwd.run(kv, batch_of(5, 1)), std::invalid_argument);
  CHECK_THROWS_AS(fwd.run(kv, batch_of(4, 3)), std::invalid_argument);
}
