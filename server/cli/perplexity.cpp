// `hearth perplexity -m MODEL -f TEXT [-c 128] [-b N]`: the model's perplexity on a text, the
// standard way (engine/perplexity.h), with a progress bar and the final value ± its standard
// error. --save-logits FILE keeps the model's log-probabilities; --kl-divergence FILE compares
// another quantization of the model with them (KL divergence, same top token).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "load_error.h"
#include "model/model.h"
#include "perplexity.h"

namespace hearth::cli {

namespace {

int perplexity(const options& opts) {
  auto model_path = opts.get("model");
  if (!model_path) throw usage_error("missing -m MODEL");
  auto text_path = opts.get("file");
  if (!text_path) throw usage_error("missing -f TEXT");
  if (!opts.positional().empty()) throw usage_error("unexpected argument '" + opts.positional()[0] + "'");
  perplexity_options o;
  o.n_ctx = opts.get_int("ctx", 128);
  o.n_batch = opts.get_int("batch", 0);
  o.max_chunks = opts.get_int("chunks", -1);
  o.threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
  if (o.threads < 1 || o.threads > 256) throw usage_error("--threads must be in 1..256");
  o.kv_type = parse_kv_type(opts.get_or("kv-type", "f16"));
  if (o.n_batch < 0) throw usage_error("--batch must be >= 0");
  if (o.max_chunks < -1) throw usage_error("--chunks must be >= -1");
  const auto save_path = opts.get("save-logits");
  const auto kl_path = opts.get("kl-divergence");
  if (save_path && kl_path) throw usage_error("--save-logits and --kl-divergence do not go together");

  const std::string text = read_text_file(*text_path);
  std::unique_ptr<logprob_reader> base;
  if (kl_path) {
    try {
      base = std::make_unique<logprob_reader>(*kl_path);
    } catch (const std::runtime_error& e) {
      throw usage_error(e.what());
    }
    if (!opts.has("ctx")) o.n_ctx = base->header().n_ctx;
    if (o.n_ctx != base->header().n_ctx) {
      throw usage_error(*kl_path + " was saved with a context of " + std::to_string(base->header().n_ctx) +
                        " (-c " + std::to_string(o.n_ctx) + " given)");
    }
    o.max_chunks = o.max_chunks < 0 ? base->header().n_chunks : std::min<int64_t>(o.max_chunks, base->header().n_chunks);
  }

  auto m = model::load(*model_path);
  const std::vector<token_id> tokens = m->vocab().tokenize(text, true);
  const int64_t n_chunks = perplexity_chunks(static_cast<int64_t>(tokens.size()), o);
  const int64_t scored = o.n_ctx - o.n_ctx / 2 - 1;
  if (base) {
    const logprob_header& h = base->header();
    if (h.n_vocab != m->hp().n_vocab) {
      throw usage_error(*kl_path + " holds a vocabulary of " + std::to_string(h.n_vocab) + " tokens, " + *model_path +
                        " has " + std::to_string(m->hp().n_vocab));
    }
    if (n_chunks > h.n_chunks || !std::equal(tokens.begin(), tokens.begin() + n_chunks * o.n_ctx, h.tokens.begin())) {
      throw usage_error(*text_path + " does not tokenize into the tokens " + *kl_path +
                        " was saved from (another text, or another tokenizer)");
    }
  }
  std::unique_ptr<logprob_writer> writer;
  if (save_path && n_chunks > 0) {
    logprob_header h{static_cast<uint32_t>(m->hp().n_vocab), static_cast<uint32_t>(o.n_ctx),
                     static_cast<uint32_t>(n_chunks), static_cast<uint32_t>(scored),
                     std::vector<token_id>(tokens.begin(), tokens.begin() + n_chunks * o.n_ctx)};
    writer = std::make_unique<logprob_writer>(*save_path, h);
  }

  std::fprintf(stderr, "hearth perplexity: %s, %zu tokens: %lld chunks of %lld, the last %lld of each scored, %d threads\n",
               model_path->c_str(), tokens.size(), static_cast<long long>(n_chunks), static_cast<long long>(o.n_ctx),
               static_cast<long long>(scored), o.threads);
  nll_stats stats;
  kl_stats kl;
  std::vector<float> base_logp;
  progress_bar bar(n_chunks, "chunks");
  try {
    evaluate_chunks(*m, tokens, o, [&](const scored_chunk& c) {
      for (size_t i = 0; i < c.targets.size(); ++i) {
        const auto row = c.logits.subspan(i * static_cast<size_t>(c.n_vocab), static_cast<size_t>(c.n_vocab));
        stats.add(negative_log_likelihood(row, c.targets[i]));
        if (writer) writer->add_row(row);
        if (base) {
          token_id top = 0;
          base->next_row(base_logp, top);
          kl.add(base_logp, top, row, c.targets[i]);
        }
      }
      char detail[32];
      std::snprintf(detail, sizeof detail, "PPL %.4f", stats.ppl());
      bar.update(c.index + 1, detail);
    });
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  if (writer) writer->finish();

  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", stats.ppl(), stats.ppl_stderr());
  std::printf("(%lld chunks of %lld tokens, %lld predictions scored)\n", static_cast<long long>(n_chunks),
              static_cast<long long>(o.n_ctx), static_cast<long long>(stats.count));
  if (writer) std::printf("log-probabilities saved to %s\n", save_path->c_str());
  if (base) {
    std::printf("\nagainst %s (%lld predictions):\n", kl_path->c_str(), static_cast<long long>(kl.rows()));
    std::printf("  PPL(base)        %.4f +/- %.5f\n", kl.ref_nll().ppl(), kl.ref_nll().ppl_stderr());
    std::printf("  PPL(this)        %.4f +/- %.5f\n", kl.nll().ppl(), kl.nll().ppl_stderr());
    std::printf("  PPL(this/base)   %.4f\n", kl.nll().ppl() / kl.ref_nll().ppl());
    std::printf("  mean KLD         %.6f +/- %.6f\n", kl.mean_kld(), kl.mean_kld_stderr());
    std::printf("  median KLD       %.6f\n", kl.kld_quantile(0.5));
    std::printf("  99%% KLD          %.6f\n", kl.kld_quantile(0.99));
    std::printf("  max KLD          %.6f\n", kl.max_kld());
    std::printf("  same top token   %.2f%% +/- %.2f%%\n", 100 * kl.same_top1(), 100 * kl.same_top1_stderr());
  }
  return 0;
}

}  // namespace

int cmd_perplexity(std::span<char* const> args) {
  options opts("hearth perplexity -m MODEL -f TEXT [options]",
               "Measure a model's perplexity on a text: the text is cut into chunks of -c tokens, each\n"
               "run from an empty context with BOS first, and the second half of each chunk is scored\n"
               "(the method of llama.cpp's llama-perplexity, so figures compare). Prints the running\n"
               "estimate and the final value with its standard error.",
               {{"model", 'm', "FILE", "GGUF model file"},
                {"file", 'f', "TEXT", "the text to score"},
                {"ctx", 'c', "N", "tokens per chunk (default 128; with --kl-divergence, the saved one)"},
                {"batch", 'b', "N", "tokens per forward pass: below -c splits a chunk, a multiple of -c runs "
                                    "chunks side by side (default: -c; results are the same)"},
                {"chunks", 0, "N", "score at most N chunks (default: all the text holds)"},
                {"threads", 't', "N", "compute threads (default: all cores)"},
                kv_type_option,
                {"save-logits", 0, "FILE", "save the log-probabilities of every scored prediction (a base for "
                                           "--kl-divergence; ~2 bytes x vocabulary per prediction)"},
                {"kl-divergence", 0, "FILE", "compare with log-probabilities saved by --save-logits (usually from "
                                             "the F16/F32 model): KL divergence and same top token"}});
  return run_command("perplexity", opts, args, [&] {
    return perplexity(opts);
  });
}

}  // namespace hearth::cli
