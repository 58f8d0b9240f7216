// Embeddings in the engine: embedding_pool's mean/CLS/last pooling and normalization, worked out
// by hand; forward_pass's hidden rows are the last block's output RMS-normed with the output
// norm's weights (checked against the block observer's view and the definition of RMS norm),
// whatever else shares the batch; the encoder behind batch_engine gives bert_encoder's vectors.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "encoder_engine.h"
#include "forward.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "pooling.h"
#include "reference.h"

using namespace hearth;

TEST_CASE("pooling: mean, cls and last rows, L2-normalized", "[embedding]") {
  const std::vector<float> r0{3, 0}, r1{0, 4}, r2{1, 1};
  embedding_pool mean(pooling_type::mean, 2, 3);
  CHECK(mean.wants(0));
  CHECK(mean.wants(2));
  CHECK_FALSE(mean.wants(3));
  mean.add(r0);
  mean.add(r1);
  CHECK_FALSE(mean.complete());
  mean.add(r2);
  REQUIRE(mean.complete());
  // mean (4/3, 5/3), length sqrt(41)/3: (4, 5)/sqrt(41).
  const std::vector<float> m = mean.finish();
  CHECK(m[0] == Approx(4 / std::sqrt(41.0)));
  CHECK(m[1] == Approx(5 / std::sqrt(41.0)));

  embedding_pool cls(pooling_type::cls, 2, 3);
  CHECK(cls.wants(0));
  CHECK_FALSE(cls.wants(1));
  cls.add(r0);
  REQUIRE(cls.complete());
  CHECK(cls.finish() == std::vector<float>{1, 0});

  embedding_pool last(pooling_type::last, 2, 3);
  CHECK_FALSE(last.wants(0));
  CHECK(last.wants(2));
  last.add(r1);
  CHECK(last.finish() == std::vector<float>{0, 1});

  embedding_pool zero(pooling_type::last, 2, 1);
  zero.add(std::vector<float>{0, 0});
  CHECK(zero.finish() == std::vector<float>{0, 0});  // no direction: stays zero
  CHECK_THROWS_AS(embedding_pool(pooling_type::none, 2, 1), std::invalid_argument);
  CHECK_THROWS_AS(mean.add(std::vector<float>{1, 2, 3}), std::invalid_argument);

  std::vector<float> v{0.6f, 0.8f, 0.0f};
  truncate_embedding(v, 1);
  CHECK(v == std::vector<float>{1});
  CHECK(pooling_from_gguf(3) == pooling_type::last);
  CHECK_FALSE(pooling_from_gguf(4));  // rank: a reranker's head
  CHECK(pooling_from_name("cls") == pooling_type::cls);
  CHECK_FALSE(pooling_from_name("max"));
}

TEST_CASE("forward: hidden rows are the last block's output, RMS-normed by the output norm", "[embedding]") {
  const auto m = model::load(test::shared_path("models/stories260K-f32.gguf"));
  const int64_t d = m->hp().n_embd;
  const std::vector<token_id> prompt{1, 403, 407, 261, 378};
  thread_pool pool(2);
  kv_cache kv(m->hp(), 8, 16);
  forward_pass fwd(*m, pool, 8, 2, 128);
  std::vector<float> last_out;
  fwd.set_block_observer([&](int64_t layer, std::span<const float>, std::span<const float> x_out) {
    if (layer == m->hp().n_layer - 1) last_out.assign(x_out.begin(), x_out.end());
  });
  const int32_t seq = kv.seq_create();
  REQUIRE(kv.seq_reserve(seq, 16));
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    // Rows 1 and 4 want hidden states; row 4 logits too.
    batch.push_back({prompt[i], static_cast<int32_t>(i), seq, i == 4, i == 1 || i == 4});
  }
  const std::span<const float> logits = fwd.run(kv, batch);
  CHECK(logits.size() == static_cast<size_t>(m->hp().n_vocab));
  const std::span<const float> hidden = fwd.hidden();
  REQUIRE(hidden.size() == static_cast<size_t>(2 * d));
  const std::vector<float>& w = m->output_norm();
  for (int64_t k = 0; k < 2; ++k) {
    const int64_t row = k == 0 ? 1 : 4;
    const float* x = last_out.data() + row * d;
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(d) + m->hp().rms_eps);
    for (int64_t i = 0; i < d; ++i) {
      CHECK(hidden[static_cast<size_t>(k * d + i)] == Approx(x[i] * scale * w[static_cast<size_t>(i)]).epsilon(1e-5).margin(1e-6));
    }
  }
  // A later row of the same sequence alone in its batch: the same hidden row as a full batch of
  // another sequence's rows next to it would give (rows are independent).
  const std::vector<float> alone(hidden.begin() + d, hidden.end());
  kv_cache kv2(m->hp(), 8, 16);
  const int32_t a = kv2.seq_create(), b = kv2.seq_create();
  REQUIRE(kv2.seq_reserve(a, 16));
  REQUIRE(kv2.seq_reserve(b, 16));
  fwd.set_block_observer({});
  std::vector<batch_entry> mixed;
  for (size_t i = 0; i < prompt.size(); ++i) {
    mixed.push_back({prompt[i], static_cast<int32_t>(i), a, false, i == 4});
    if (i < 3) mixed.push_back({prompt[4 - i], static_cast<int32_t>(i), b, false, false});
  }
  fwd.run(kv2, mixed);
  const std::span<const float> h2 = fwd.hidden();
  REQUIRE(h2.size() == static_cast<size_t>(d));
  CHECK(std::vector<float>(h2.begin(), h2.end()) == alone);
}

TEST_CASE("encoder engine: a batch of whole inputs gives bert_encoder's vectors", "[embedding]") {
  const gguf_file f = gguf_file::open(test::shared_path("models/arch/tiny-bert-f16.gguf"));
  const vocab v = vocab::from_gguf(f);
  const bert_encoder e = bert_encoder::load(f);
  encoder_engine engine(e, v, 2, 4);
  CHECK_FALSE(engine.generates());
  CHECK(engine.pooling() == pooling_type::mean);
  CHECK(engine.hidden_dim() == 256);
  const std::vector<token_id> t1 = v.tokenize("A cat sits on the mat.", true, false);
  const std::vector<token_id> t2 = v.tokenize("Dogs bark", true, false);
  const int32_t s1 = engine.seq_create(), s2 = engine.seq_create();
  REQUIRE(engine.seq_reserve(s1, static_cast<int64_t>(t1.size())));
  REQUIRE(engine.seq_reserve(s2, static_cast<int64_t>(t2.size())));
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < t1.size(); ++i) batch.push_back({t1[i], static_cast<int32_t>(i), s1, false, true});
  for (size_t i = 0; i < t2.size(); ++i) batch.push_back({t2[i], static_cast<int32_t>(i), s2, false, i == 0});
  CHECK(engine.forward(batch).empty());
  const std::span<const float> h = engine.hidden();
  REQUIRE(h.size() == (t1.size() + 1) * 256);
  embedding_pool p(pooling_type::mean, 256, static_cast<int64_t>(t1.size()));
  for (size_t i = 0; i < t1.size(); ++i) p.add(h.subspan(i * 256, 256));
  CHECK(p.finish() == e.embed(t1));
  const std::vector<float> states = e.hidden_states(t2);
  CHECK(std::vector<float>(h.begin() + static_cast<std::ptrdiff_t>(t1.size() * 256), h.end()) ==
        std::vector<float>(states.begin(), states.begin() + 256));

  // The contract: whole inputs in order, once, no logits.
  CHECK_THROWS_AS(engine.forward(batch), std::invalid_argument);  // already encoded
  engine.seq_free(s1);
  engine.seq_free(s2);
  const int32_t s3 = engine.seq_create();
  REQUIRE(engine.seq_reserve(s3, 4));
  CHECK_THROWS_AS(engine.forward(std::vector<batch_entry>{{101, 1, s3, false, true}}), std::invalid_argument);
  CHECK_THROWS_AS(engine.forward(std::vector<batch_entry>{{101, 0, s3, true, false}}), std::invalid_argument);
  CHECK_THROWS_AS(engine.forward(std::vector<batch_entry>{{101, 0, s3 + 7, false, false}}), std::invalid_argument);
  // Blocks bound the positions in flight.
  CHECK(engine.free_blocks() == engine.total_blocks() - 1);
  CHECK_FALSE(engine.seq_reserve(s3, 513));
}
