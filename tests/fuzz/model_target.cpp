// The model loader: metadata -> hparams -> weight shapes -> the engine's buffers (KV cache,
// scratch) -> vocabulary. Whatever load() accepts must be servable: the engine is built the way
// `hearth serve` builds it by default (the model's own context for one sequence, as far as the
// memory plan allows; see server/cli/serve.cpp load()) and runs one forward pass of one token.
#include <memory>

#include "batch_engine.h"
#include "fuzz_target.h"
#include "load_error.h"
#include "memory_file.h"
#include "memory_plan.h"
#include "model/model.h"
#include "sampler.h"

namespace hearth::fuzz {

namespace {

void run_one_token(const model& m) {
  const hparams& hp = m.hp();
  // Sized as serve sizes it (plan_memory: the model's context, cut to what memory holds), with a
  // fixed amount available so a run does not depend on the machine. A file's context_length
  // alone once asked for a 924 GB KV cache here (regressions/model/context-length-beyond-memory).
  memory_settings ms;
  ms.threads = 1;
  ms.max_batch = 8;
  ms.max_logit_rows = 1;
  ms.available = uint64_t{256} << 20;
  std::unique_ptr<model_engine> engine;
  try {
    const memory_plan plan = plan_memory(m, ms);
    engine = std::make_unique<model_engine>(m, model_engine_options::planned(ms, plan));
  } catch (const load_error&) {
    return;  // refused with a message naming what does not fit: fine
  }
  expect(engine->vocab_size() == m.vocab().size(), "engine and vocab disagree on n_vocab");
  const int32_t seq = engine->seq_create();
  expect(engine->seq_reserve(seq, 1), "a fresh KV cache has no room for one position");
  const std::vector<token_id> prompt = m.vocab().tokenize("Once upon a time", true);
  const batch_entry e{prompt.empty() ? 0 : prompt.front(), 0, seq, true};
  const std::span<const float> logits = engine->forward(std::span(&e, 1));
  expect(logits.size() == static_cast<size_t>(hp.n_vocab), "forward gave " + std::to_string(logits.size()) +
                                                                 " logits for a vocabulary of " +
                                                                 std::to_string(hp.n_vocab));
  // The server's next step: a token drawn from the logits, whatever values they hold.
  sampler greedy(sampling_params{.temperature = 0.0f}, engine->vocab_size()), drawn(sampling_params{}, engine->vocab_size());
  for (sampler* s : {&greedy, &drawn}) {
    const token_id t = s->sample(logits);
    expect(t >= 0 && t < engine->vocab_size(), "sampled token " + std::to_string(t) + " out of range");
    (void)engine->token_bytes(t);
  }
  engine->seq_free(seq);
}

}  // namespace

void model_input(fuzz_input input) {
  memory_file mf(input);
  std::unique_ptr<model> m;
  try {
    m = model::load(mf.path());
  } catch (const load_error&) {
    return;
  }
  run_one_token(*m);
}

}  // namespace hearth::fuzz
