#include "sampled_run.h"

#include <catch2/catch.hpp>

#include "batch_engine.h"

namespace hearth::test {

sampling_params seeded_sampling() {
  sampling_params p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.1f;
  p.repeat_last_n = 64;
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.0f;
  p.seed = 1234567;
  return p;
}

nlohmann::json sampling_fields(const sampling_params& p) {
  return {{"temperature", p.temperature}, {"top_k", p.top_k}, {"top_p", p.top_p}, {"min_p", p.min_p},
          {"repeat_penalty", p.repeat_penalty}, {"repeat_last_n", p.repeat_last_n},
          {"presence_penalty", p.presence_penalty}, {"frequency_penalty", p.frequency_penalty},
          {"seed", p.seed}};
}

sampled_run sample_in_process(const model& m, const std::vector<token_id>& prompt, const sampling_params& p,
                              int32_t max_tokens) {
  model_engine e(m, {.threads = 1, .kv_blocks = 64, .block_size = 16, .max_batch = 512, .max_logit_rows = 1});
  const int32_t seq = e.seq_create();
  REQUIRE(e.seq_reserve(seq, static_cast<int64_t>(prompt.size()) + max_tokens));
  sampler smp(p, e.vocab_size());
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.push_back({prompt[i], static_cast<int32_t>(i), seq, i + 1 == prompt.size()});
    smp.accept(prompt[i]);
  }
  std::span<const float> logits = e.forward(batch);
  sampled_run r;
  for (int32_t pos = static_cast<int32_t>(prompt.size()); static_cast<int32_t>(r.tokens.size()) < max_tokens; ++pos) {
    const token_id t = smp.sample(logits);
    smp.accept(t);
    if (e.is_eog(t)) {
      r.ended_by_eog = true;
      break;
    }
    r.tokens.push_back(t);
    const batch_entry next{t, pos, seq, true};
    logits = e.forward(std::span(&next, 1));
  }
  return r;
}

}  // namespace hearth::test
