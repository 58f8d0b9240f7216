// `hearth run -m MODEL -p PROMPT`: generate a completion on the CPU and stream it to stdout.
#include <unistd.h>

#include <cstdio>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/load_model.h"
#include "cli/options.h"
#include "forward.h"
#include "load_error.h"
#include "memory_plan.h"
#include "model/model.h"
#include "sampler.h"
#include "stop_matcher.h"
#include "token_decoder.h"

namespace hearth::cli {

namespace {

struct run_config {
  std::string model_path;
  std::string prompt;
  int64_t n_predict = -1;  // -1: until end of generation or the context is full
  int64_t ctx = 0;         // positions; 0: what the prompt and n_predict need, else the model's
  int threads = 0;
  sampling_params sampling;
  std::vector<std::string> stops;
  std::optional<quant_mix> quantize;  // --quantize TYPE: quantize at start-up
  std::string imatrix;                // --imatrix FILE: weigh that quantization
  bool pack_cache = false;            // --pack-cache: map MODEL.hearth-cache, writing it when absent
  ggml_type kv_type = ggml_type::f16;
  std::shared_ptr<const grammar> constraint;  // --grammar / --json-schema
};

run_config parse_run(const options& opts) {
  run_config c;
  auto m = opts.get("model");
  if (!m) throw usage_error("missing -m MODEL");
  c.model_path = *m;
  auto p = opts.get("prompt");
  if (!p) throw usage_error("missing -p PROMPT");
  c.prompt = *p;
  c.n_predict = opts.get_int("n-predict", -1);
  if (c.n_predict < -1) throw usage_error("--n-predict must be >= -1 (got " + std::to_string(c.n_predict) + ")");
  c.ctx = opts.get_int("ctx", 0);
  if (c.ctx < 0) throw usage_error("--ctx must be >= 0 (got " + std::to_string(c.ctx) + ")");
  c.threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
  if (c.threads < 1 || c.threads > 256) throw usage_error("--threads must be in 1..256");
  sampling_params& s = c.sampling;
  s.temperature = static_cast<float>(opts.get_double("temp", s.temperature));
  s.top_k = static_cast<int32_t>(opts.get_int("top-k", s.top_k));
  s.top_p = static_cast<float>(opts.get_double("top-p", s.top_p));
  s.min_p = static_cast<float>(opts.get_double("min-p", s.min_p));
  s.repeat_penalty = static_cast<float>(opts.get_double("repeat-penalty", s.repeat_penalty));
  s.repeat_last_n = static_cast<int32_t>(opts.get_int("repeat-last-n", s.repeat_last_n));
  s.presence_penalty = static_cast<float>(opts.get_double("presence-penalty", s.presence_penalty));
  s.frequency_penalty = static_cast<float>(opts.get_double("frequency-penalty", s.frequency_penalty));
  try {
    c.quantize = quantize_choice(opts.get_or("quantize", ""));
  } catch (const std::invalid_argument& e) {
    throw usage_error(std::string("--quantize: ") + e.what());
  }
  c.kv_type = parse_kv_type(opts.get_or("kv-type", "f16"));
  c.imatrix = opts.get_or("imatrix", "");
  if (!c.imatrix.empty() && !c.quantize) throw usage_error("--imatrix weighs --quantize: give both");
  c.pack_cache = opts.has("pack-cache");
  if (c.pack_cache && c.quantize) {
    throw usage_error("--pack-cache keeps a model file's repacked weights; --quantize makes new ones at each start: "
                      "give one (hearth quantize writes the quantized file once)");
  }
  c.constraint = grammar_option(opts);
  c.stops = opts.get_all("stop");
  if (auto err = validate_stops(c.stops)) throw usage_error(*err);
  // Without --seed every run differs, as users of a sampling CLI expect; with one it repeats.
  s.seed = opts.has("seed") ? opts.get_u64("seed", 0) : std::random_device{}();
  if (auto err = validate(s)) throw usage_error(*err);
  return c;
}

// The context is what the user asked for with --ctx, else what the prompt and -n need (the
// model's whole context with -n -1, cut to what fits in memory).
memory_plan plan_run(const model& m, const run_config& c, int64_t n_prompt, int64_t max_batch) {
  memory_settings s;
  s.max_batch = max_batch;
  s.threads = c.threads;
  s.kv_type = c.kv_type;
  s.context_explicit = c.ctx > 0;
  s.context = c.ctx > 0 ? c.ctx : c.n_predict >= 0 ? n_prompt + c.n_predict : 0;
  s.sequences_name = "";  // run has one sequence, a fixed batch and no KV budget setting
  s.batch_name = "";
  s.budget_name = "";
  memory_plan plan = plan_memory(m, s);
  if (plan.cut) std::fprintf(stderr, "hearth run: %s\n", plan.summary.c_str());
  return plan;
}

// Prefill the prompt in chunks of the forward pass's batch size, then decode one token at a time.
int generate(const run_config& c) {
  auto m = load_model(c.model_path, c.quantize, c.threads, "hearth run", c.imatrix, c.pack_cache);
  const hparams& hp = m->hp();
  const class vocab& v = m->vocab();
  std::vector<token_id> prompt = v.tokenize(c.prompt, true);
  if (prompt.empty()) throw usage_error("the prompt is empty");
  const int64_t max_batch = 512;
  const memory_plan plan = plan_run(*m, c, static_cast<int64_t>(prompt.size()), max_batch);
  const int64_t n_ctx = plan.context_length;
  if (static_cast<int64_t>(prompt.size()) >= n_ctx) {
    throw usage_error("the prompt is " + std::to_string(prompt.size()) + " tokens, the context is " +
                      std::to_string(n_ctx) + (n_ctx < hp.n_ctx_train ? " (" + plan.summary + ")" : ""));
  }
  int64_t n_gen = c.n_predict < 0 ? n_ctx - static_cast<int64_t>(prompt.size())
                                  : std::min<int64_t>(c.n_predict, n_ctx - static_cast<int64_t>(prompt.size()));
  thread_pool pool(c.threads);
  kv_cache kv(hp, plan.kv_blocks, plan.block_size, plan.kv_type);
  forward_pass fwd(*m, pool, max_batch, 1, n_ctx);
  const vocab_text text(v);
  const auto n_vocab = static_cast<int32_t>(hp.n_vocab);
  grammar_constraint constraint;
  if (c.constraint) constraint = {c.constraint, std::make_shared<const token_trie>(token_trie_of(text, n_vocab))};
  token_decoder decoder(c.sampling, n_vocab, c.stops, -1, constraint);
  decoder.accept_prompt(prompt);
  int32_t seq = kv.seq_create();
  kv.seq_reserve(seq, n_ctx);

  std::fwrite(c.prompt.data(), 1, c.prompt.size(), stdout);
  std::fflush(stdout);
  std::vector<batch_entry> batch;
  std::span<const float> logits;
  for (size_t i0 = 0; i0 < prompt.size(); i0 += max_batch) {
    batch.clear();
    size_t i1 = std::min(prompt.size(), i0 + static_cast<size_t>(max_batch));
    for (size_t i = i0; i < i1; ++i) {
      batch.push_back({prompt[i], static_cast<int32_t>(i), seq, i + 1 == prompt.size()});
    }
    logits = fwd.run(kv, batch);
  }
  int32_t pos = static_cast<int32_t>(prompt.size());
  for (int64_t n = 0; n < n_gen; ++n) {
    const decoded_token d = decoder.next(logits, text);
    if (d.end_of_generation) break;
    std::fwrite(d.text.data(), 1, d.text.size(), stdout);
    std::fflush(stdout);
    if (d.stopped || n + 1 == n_gen) break;
    batch_entry e{d.token, pos++, seq, true};
    logits = fwd.run(kv, std::span(&e, 1));
  }
  const std::string rest = decoder.finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  // Output is exactly prompt + completion; a terminal also gets a final newline.
  if (isatty(STDOUT_FILENO)) std::fputc('\n', stdout);
  std::fflush(stdout);
  m->finish_pack_cache();  // a cache begun at this load is written whole before the process ends
  return 0;
}

}  // namespace

int cmd_run(std::span<char* const> args) {
  options opts("hearth run -m MODEL -p PROMPT [options]",
               "Generate a completion of PROMPT and stream it to stdout (after the prompt itself).",
               {{"model", 'm', "FILE", "GGUF model file"},
                {"prompt", 'p', "TEXT", "the prompt"},
                {"n-predict", 'n', "N", "tokens to generate (default -1: until end of text or context)"},
                {"ctx", 'c', "N", "context positions (default: what the prompt and -n need, else the model's)"},
                {"threads", 't', "N", "compute threads (default: all cores)"},
                kv_type_option,
                grammar_file_option,
                json_schema_file_option,
                {"temp", 0, "T", "temperature; 0 is greedy (default 0.8)"},
                {"top-k", 0, "K", "keep the K most likely tokens; 0 keeps all (default 40)"},
                {"top-p", 0, "P", "keep the most likely tokens up to probability P (default 0.95)"},
                {"min-p", 0, "P", "drop tokens below P x the top probability (default 0.05)"},
                {"repeat-penalty", 0, "R", "penalize recently seen tokens; 1 is off (default 1)"},
                {"repeat-last-n", 0, "N", "tokens the penalties look back at; -1 all (default 64)"},
                {"presence-penalty", 0, "P", "subtract P from tokens already seen (default 0)"},
                {"frequency-penalty", 0, "F", "subtract F per earlier occurrence (default 0)"},
                {"stop", 0, "TEXT", "stop before TEXT (may be repeated); TEXT is not printed"},
                {"seed", 's', "S", "random seed; the same seed gives the same text (default: random)"},
                {"quantize", 0, "TYPE", "quantize the model to TYPE (q8_0, q4_0, q4_k_m ... as hearth quantize) at start-up"},
                {"imatrix", 0, "FILE", "importance matrix (hearth imatrix) that --quantize weighs the error by"},
                {"pack-cache", 0, "", "map the repacked weights from MODEL.hearth-cache, writing it when absent or\n"
                                      "stale (as serve --pack-cache; the run waits for the write before it exits)"}});
  return run_command("run", opts, args, [&] {
    return generate(parse_run(opts));
  });
}

}  // namespace hearth::cli
