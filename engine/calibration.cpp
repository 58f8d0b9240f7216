#include "calibration.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kv_cache.h"
#include "thread_pool.h"

namespace hearth {

int64_t run_calibration(const model& m, std::span<const token_id> tokens, const calibration_options& o,
                        const std::function<void(forward_pass&)>& observe, std::string_view text_name) {
  const hparams& hp = m.hp();
  const int64_t n_ctx = o.n_ctx;
  if (n_ctx < 2) throw std::invalid_argument("the context must be at least 2 tokens (got " + std::to_string(n_ctx) + ")");
  if (n_ctx > hp.n_ctx_train) {
    throw std::invalid_argument("the context of " + std::to_string(n_ctx) + " tokens is longer than the model's " +
                                std::to_string(hp.n_ctx_train) + " (its context_length)");
  }
  if (o.max_chunks == 0) throw std::invalid_argument("no chunks to run (0 asked for)");
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < n_ctx) {
    throw std::invalid_argument(std::string(text_name) + " is " + std::to_string(n_tokens) + " tokens; a context of " +
                                std::to_string(n_ctx) + " needs at least " + std::to_string(n_ctx));
  }
  const int64_t n_chunks = o.max_chunks > 0 ? std::min(n_tokens / n_ctx, o.max_chunks) : n_tokens / n_ctx;
  constexpr int32_t block = 16;

  thread_pool pool(o.threads);
  kv_cache kv(hp, (n_ctx + block - 1) / block, block);
  forward_pass fwd(m, pool, n_ctx, 1, n_ctx);
  observe(fwd);
  const token_id bos = m.vocab().bos();
  const bool replace_bos = m.vocab().add_bos() && bos >= 0;
  std::vector<batch_entry> batch(static_cast<size_t>(n_ctx));
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int32_t seq = kv.seq_create();
    if (!kv.seq_reserve(seq, n_ctx)) throw std::logic_error("run_calibration: KV cache too small");
    for (int64_t j = 0; j < n_ctx; ++j) {
      const token_id t = j == 0 && replace_bos ? bos : tokens[static_cast<size_t>(c * n_ctx + j)];
      batch[static_cast<size_t>(j)] = {t, static_cast<int32_t>(j), seq, false};
    }
    fwd.run(kv, batch);
    kv.seq_free(seq);
    if (o.on_chunk) o.on_chunk(c + 1, n_chunks);
  }
  return n_chunks;
}

}  // namespace hearth
