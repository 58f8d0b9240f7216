// Perplexity against llama.cpp's `llama-perplexity -c 128 -b 128` on ../shared/text (its figures
// are in ../shared/README.md), batch invariance of the chunked evaluation, the statistics from
// first principles, and the log-probability files that KL-divergence comparisons read.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/model.h"
#include "perplexity.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;

namespace {

std::vector<token_id> story_tokens(const model& m) {
  return m.vocab().tokenize(read_text(shared_path("text/little-stories.txt")), true);
}

nll_stats perplexity_of(const model& m, const perplexity_options& o) { return measure_perplexity(m, story_tokens(m), o); }

// A log-probability file of `n_chunks` chunks of random rows; returns the rows written.
std::vector<std::vector<float>> write_random_rows(const std::filesystem::path& path, uint32_t n_vocab, uint32_t n_ctx,
                                                  uint32_t n_chunks) {
  std::mt19937 rng(5);
  std::normal_distribution<float> logit(0.0f, 6.0f);
  logprob_header h{n_vocab, n_ctx, n_chunks, n_ctx - n_ctx / 2 - 1, std::vector<token_id>(n_chunks * n_ctx, 3)};
  logprob_writer w(path, h);
  std::vector<std::vector<float>> rows;
  for (uint32_t r = 0; r < n_chunks * h.rows_per_chunk; ++r) {
    std::vector<float> row(n_vocab);
    for (float& x : row) x = logit(rng);
    w.add_row(row);
    rows.push_back(std::move(row));
  }
  w.finish();
  return rows;
}

}  // namespace

TEST_CASE("perplexity of the stories models equals llama.cpp's within 0.005", "[perplexity]") {
  // ../shared/README.md: llama-perplexity -c 128 -b 128 on text/little-stories.txt.
  const struct {
    const char* file;
    double expected;
  } refs[] = {{"stories260K-f32.gguf", 4.3339}, {"stories260K-q8_0.gguf", 4.3443}, {"stories260K-q4_0.gguf", 4.6576}};
  for (const auto& r : refs) {
    auto m = model::load(shared_path(std::string("models/") + r.file));
    perplexity_options o;
    o.threads = 2;
    const nll_stats s = perplexity_of(*m, o);
    INFO(r.file << ": " << s.ppl() << " +/- " << s.ppl_stderr() << " (llama.cpp " << r.expected << ")");
    CHECK(s.count == 11 * 63);  // 1,453 tokens: 11 chunks of 128, 63 predictions scored in each
    CHECK(std::abs(s.ppl() - r.expected) <= 0.005);
  }
}

TEST_CASE("perplexity does not depend on how chunks are batched", "[perplexity]") {
  auto m = model::load(shared_path("models/stories260K-q4_0.gguf"));
  perplexity_options o;
  o.threads = 2;
  const nll_stats whole = perplexity_of(*m, o);
  for (int64_t b : {32, 100, 256, 384}) {  // a chunk in 4 or 2 passes; 2 or 3 chunks in one pass
    INFO("batch " << b);
    o.n_batch = b;
    const nll_stats s = perplexity_of(*m, o);
    CHECK(s.count == whole.count);
    CHECK(s.sum == whole.sum);  // bit for bit: a row's logits do not depend on the batch
  }
}

TEST_CASE("perplexity refuses what it cannot measure, naming it", "[perplexity]") {
  auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  const auto tokens = story_tokens(*m);
  auto error_of = [&](perplexity_options o, std::span<const token_id> t) -> std::string {
    try {
      evaluate_chunks(*m, t, o, [](const scored_chunk&) {});
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  perplexity_options o;
  CHECK_THAT(error_of(o, std::span(tokens).first(255)), Catch::Contains("255 tokens") && Catch::Contains("256"));
  o.n_ctx = 1024;
  CHECK_THAT(error_of(o, tokens), Catch::Contains("512"));  // the model's context_length
  o.n_ctx = 2;
  CHECK_THAT(error_of(o, tokens), Catch::Contains("at least 4"));
  o.n_ctx = 128;
  o.n_batch = 200;
  CHECK_THAT(error_of(o, tokens), Catch::Contains("multiple"));
  o.n_batch = 0;
  o.max_chunks = 3;
  int chunks = 0;
  evaluate_chunks(*m, tokens, o, [&](const scored_chunk& c) {
    CHECK(c.index == chunks++);
    CHECK(c.n_chunks == 3);
  });
  CHECK(chunks == 3);
}

TEST_CASE("negative log-likelihood and the perplexity statistics from first principles", "[perplexity]") {
  const std::vector<float> uniform(512, 0.25f);
  CHECK(negative_log_likelihood(uniform, 7) == Approx(std::log(512.0)).epsilon(1e-12));
  const std::vector<float> two = {std::log(0.9f), std::log(0.1f)};
  CHECK(negative_log_likelihood(two, 1) == Approx(-std::log(0.1)).epsilon(1e-6));
  std::vector<float> out(2);
  log_softmax(two, out);
  CHECK(out[0] == Approx(std::log(0.9)).epsilon(1e-6));

  nll_stats s;
  for (double v : {1.0, 2.0, 3.0}) s.add(v);
  CHECK(s.ppl() == Approx(std::exp(2.0)));
  // Variance of {1,2,3} is 2/3; standard error of the mean sqrt((2/3)/2); times ppl (delta method).
  CHECK(s.ppl_stderr() == Approx(std::exp(2.0) * std::sqrt(1.0 / 3.0)));
  nll_stats one;
  one.add(1.5);
  CHECK(one.ppl_stderr() == 0);
}

TEST_CASE("KL divergence and top-token agreement from first principles", "[perplexity][kl]") {
  kl_stats kl;
  // Reference p = (0.5, 0.5), this model q = (0.9, 0.1): KL = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1).
  const std::vector<float> ref = {std::log(0.5f), std::log(0.5f)};
  kl.add(ref, 1, std::vector<float>{std::log(0.9f), std::log(0.1f)}, 0);
  CHECK(kl.mean_kld() == Approx(0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1)).epsilon(1e-6));
  CHECK(kl.same_top1() == 0);  // the reference's top token is 1, this model's 0
  // Log-probabilities that do not sum to one are renormalised: a shifted copy is the same row.
  kl.add(std::vector<float>{3.0f, 1.0f}, 0, std::vector<float>{10.0f, 8.0f}, 0);
  CHECK(kl.rows() == 2);
  CHECK(kl.max_kld() == Approx(0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1)).epsilon(1e-6));
  CHECK(kl.kld_quantile(0) == Approx(0).margin(1e-12));
  CHECK(kl.same_top1() == 0.5);
  CHECK(kl.ref_nll().ppl() == Approx(std::sqrt(2.0 * (1 + std::exp(-2.0)))).epsilon(1e-6));
}

TEST_CASE("log-probability files keep every row within half a step and refuse damage", "[perplexity][kl]") {
  temp_dir dir;
  const auto path = dir.file("base.lp");
  const auto rows = write_random_rows(path, 300, 16, 3);
  CHECK(!std::filesystem::exists(path.string() + ".tmp"));
  logprob_reader r(path);
  CHECK(r.header().n_vocab == 300);
  CHECK(r.header().n_chunks == 3);
  CHECK(r.header().rows_per_chunk == 7);
  CHECK(r.header().tokens.size() == 48);
  std::vector<float> logp, exact(300);
  token_id top = -1;
  float worst = 0;
  for (const auto& row : rows) {
    r.next_row(logp, top);
    log_softmax(row, exact);
    const float hi = *std::max_element(exact.begin(), exact.end());
    CHECK(top == std::max_element(row.begin(), row.end()) - row.begin());
    for (size_t i = 0; i < row.size(); ++i) {
      if (exact[i] >= hi - 24) worst = std::max(worst, std::abs(logp[i] - exact[i]));
    }
  }
  INFO("worst error " << worst);
  CHECK(worst <= 24.0f / 65535 / 2 + 1e-5f);
  REQUIRE_THROWS_WITH(r.next_row(logp, top), Catch::Contains("truncated"));

  // Damaged files are refused naming the file and what is wrong.
  auto damaged = [&](auto change) {
    std::string bytes = read_text(path);
    change(bytes);
    const auto p = dir.file("damaged.lp");
    std::ofstream(p, std::ios::binary) << bytes;
    try {
      logprob_reader bad(p);
    } catch (const std::runtime_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(p.string()));
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(damaged([](std::string& b) { b[0] = 'X'; }), Catch::Contains("not a log-probability file"));
  CHECK_THAT(damaged([](std::string& b) { b.resize(b.size() - 1); }), Catch::Contains("does not match"));
  CHECK_THAT(damaged([](std::string& b) { b[16] = 9; }), Catch::Contains("n_ctx"));
  CHECK_THAT(damaged([](std::string& b) { b[29] = static_cast<char>(0xff); }), Catch::Contains("out of range"));

  // A writer that does not finish leaves nothing behind.
  {
    logprob_writer w(dir.file("unfinished.lp"), logprob_header{4, 8, 1, 3, std::vector<token_id>(8, 0)});
    w.add_row(std::vector<float>{1, 2, 3, 4});
  }
  CHECK(!std::filesystem::exists(dir.file("unfinished.lp")));
  CHECK(!std::filesystem::exists(dir.file("unfinished.lp").string() + ".tmp"));
}

TEST_CASE("KL divergence of a model against itself is zero, against a 4-bit copy it is not", "[perplexity][kl]") {
  temp_dir dir;
  auto f32 = model::load(shared_path("models/stories260K-f32.gguf"));
  auto q4 = model::load(shared_path("models/stories260K-q4_0.gguf"));
  perplexity_options o;
  o.threads = 2;
  o.max_chunks = 4;
  const auto tokens = story_tokens(*f32);
  const auto base = dir.file("f32.lp");
  {
    logprob_header h{512, 128, 4, 63, std::vector<token_id>(tokens.begin(), tokens.begin() + 4 * 128)};
    logprob_writer w(base, h);
    evaluate_chunks(*f32, tokens, o, [&](const scored_chunk& c) {
      for (size_t i = 0; i < c.targets.size(); ++i) w.add_row(c.logits.subspan(i * 512, 512));
    });
    w.finish();
  }
  auto compare = [&](const model& m) {
    logprob_reader r(base);
    kl_stats kl;
    std::vector<float> logp;
    token_id top = 0;
    evaluate_chunks(m, tokens, o, [&](const scored_chunk& c) {
      for (size_t i = 0; i < c.targets.size(); ++i) {
        r.next_row(logp, top);
        kl.add(logp, top, c.logits.subspan(i * 512, 512), c.targets[i]);
      }
    });
    return kl;
  };
  const kl_stats self = compare(*f32);
  CHECK(self.rows() == 4 * 63);
  CHECK(self.mean_kld() < 1e-7);  // only the 16-bit storage of the reference
  CHECK(self.same_top1() == 1.0);
  CHECK(self.nll().ppl() == Approx(self.ref_nll().ppl()).epsilon(1e-4));
  const kl_stats q4_0 = compare(*q4);
  INFO("Q4_0 against F32: mean KLD " << q4_0.mean_kld() << ", same top " << q4_0.same_top1());
  CHECK(q4_0.mean_kld() > 100 * self.mean_kld());
  CHECK(q4_0.mean_kld() > 1e-3);
  CHECK(q4_0.same_top1() < 1.0);
  CHECK(q4_0.same_top1() > 0.5);
  CHECK(q4_0.nll().ppl() > q4_0.ref_nll().ppl());
}
