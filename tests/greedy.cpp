#include "greedy.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "forward.h"
#include "kv_cache.h"
#include "thread_pool.h"
#include "token_decoder.h"

namespace hearth::test {

greedy_run run_greedy(const model& m, const std::vector<token_id>& prompt, size_t n_gen) {
  thread_pool pool(2);
  kv_cache kv(m.hp(), 64);
  forward_pass fwd(m, pool, 512, 1, m.hp().n_ctx_train);  // llama.cpp's context: the trained one
  const int32_t seq = kv.seq_create();
  if (!kv.seq_reserve(seq, static_cast<int64_t>(prompt.size() + n_gen))) throw std::runtime_error("KV cache too small");
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.push_back({prompt[i], static_cast<int32_t>(i), seq, i + 1 == prompt.size()});
  }
  greedy_run r;
  auto logits = fwd.run(kv, batch);
  r.first_logits.assign(logits.begin(), logits.end());
  sampling_params greedy;
  greedy.temperature = 0;
  token_decoder decoder(greedy, static_cast<int32_t>(m.hp().n_vocab), {});
  decoder.accept_prompt(prompt);
  const vocab_text vocab(m.vocab());
  int32_t pos = static_cast<int32_t>(prompt.size());
  for (size_t n = 0; n < n_gen; ++n) {
    const decoded_token d = decoder.next(logits, vocab);
    r.tokens.push_back(d.token);
    r.text += d.text;
    if (d.end_of_generation) break;
    batch_entry e{d.token, pos++, seq, true};
    logits = fwd.run(kv, std::span(&e, 1));
  }
  r.text += decoder.finish();
  return r;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) throw std::runtime_error("logit vectors of different sizes");
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

float top2_margin(const std::vector<float>& v) {
  std::vector<float> s = v;
  std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<>());
  return s[0] - s[1];
}

}  // namespace hearth::test
