// `hearth prune -m IN.gguf -f CALIB.txt --drop N -o OUT.gguf [--eval TEXT]`: structured depth
// pruning (engine/prune.h). Measures every block's influence on the calibration text with a
// progress bar, prints the scores, writes OUT without the N least influential blocks and, with
// --eval, prints the perplexity before and after on a held-out text.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "model/model.h"
#include "perplexity.h"
#include "prune.h"

namespace hearth::cli {

namespace {

nll_stats eval_perplexity(const model& m, const std::vector<token_id>& tokens, const perplexity_options& o,
                          const std::string& what) {
  std::fprintf(stderr, "hearth prune: perplexity of %s\n", what.c_str());
  progress_bar bar(perplexity_chunks(static_cast<int64_t>(tokens.size()), o), "chunks");
  nll_stats stats;
  evaluate_chunks(m, tokens, o, [&](const scored_chunk& c) {
    for (size_t i = 0; i < c.targets.size(); ++i) {
      const auto n = static_cast<size_t>(c.n_vocab);
      stats.add(negative_log_likelihood(c.logits.subspan(i * n, n), c.targets[i]));
    }
    bar.update(c.index + 1);
  });
  return stats;
}

int prune(const options& opts) {
  const auto in = opts.get("model");
  if (!in) throw usage_error("missing -m IN.gguf");
  const auto calib_path = opts.get("file");
  if (!calib_path) throw usage_error("missing -f CALIB.txt");
  const auto out = opts.get("output");
  if (!out) throw usage_error("missing -o OUT.gguf");
  if (!opts.has("drop")) throw usage_error("missing --drop N");
  if (!opts.positional().empty()) throw usage_error("unexpected argument '" + opts.positional()[0] + "'");
  const int64_t n_drop = opts.get_int("drop", 0);
  if (n_drop < 1) throw usage_error("--drop " + std::to_string(n_drop) + ": drop at least 1 block");
  const int64_t n_ctx = opts.get_int("ctx", 128);
  if (n_ctx < 4) throw usage_error("-c must be at least 4 (got " + std::to_string(n_ctx) + ")");
  const int threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
  if (threads < 1 || threads > 256) throw usage_error("--threads must be in 1..256");
  std::error_code ec;
  if (std::filesystem::equivalent(*in, *out, ec)) throw usage_error("-o is the input file: write elsewhere");
  const std::string calib_text = read_text_file(*calib_path);
  const auto eval_path = opts.get("eval");
  const std::string eval_text = eval_path ? read_text_file(*eval_path) : "";

  auto m = model::load(*in);
  const int64_t n_layer = m->hp().n_layer;
  if (n_drop >= n_layer) {
    throw usage_error("--drop " + std::to_string(n_drop) + ": the model has " + std::to_string(n_layer) +
                      " blocks; drop fewer than all");
  }
  perplexity_options po;
  po.n_ctx = n_ctx;
  po.threads = threads;
  std::vector<token_id> eval_tokens;
  if (eval_path) {
    eval_tokens = m->vocab().tokenize(eval_text, true);
    if (static_cast<int64_t>(eval_tokens.size()) < 2 * n_ctx) {
      throw usage_error("--eval " + *eval_path + " is " + std::to_string(eval_tokens.size()) +
                        " tokens; perplexity with -c " + std::to_string(n_ctx) + " needs at least " +
                        std::to_string(2 * n_ctx));
    }
  }

  const std::vector<token_id> calib = m->vocab().tokenize(calib_text, true);
  block_influence_options bo;
  bo.n_ctx = n_ctx;
  bo.threads = threads;
  const int64_t n_chunks = static_cast<int64_t>(calib.size()) / n_ctx;
  std::fprintf(stderr, "hearth prune: %s, %lld blocks; calibration %s, %zu tokens: %lld chunks of %lld, %d threads\n",
               in->c_str(), static_cast<long long>(n_layer), calib_path->c_str(), calib.size(),
               static_cast<long long>(n_chunks), static_cast<long long>(n_ctx), threads);
  std::vector<double> scores;
  std::vector<int64_t> drop;
  {
    progress_bar bar(n_chunks, "chunks");
    bo.on_chunk = [&](int64_t done, int64_t) { bar.update(done); };
    try {
      scores = block_influence(*m, calib, bo);
      drop = least_influential(scores, n_drop);
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("-f ") + *calib_path + ": " + e.what());
    }
  }

  std::printf("block influence (mean 1 - cos(x_in, x_out) over %lld calibration tokens):\n",
              static_cast<long long>(n_chunks * n_ctx));
  std::printf("  block  BI score\n");
  for (int64_t l = 0; l < n_layer; ++l) {
    const bool dropped = std::find(drop.begin(), drop.end(), l) != drop.end();
    std::printf("  %5lld  %.6f  %s\n", static_cast<long long>(l), scores[static_cast<size_t>(l)],
                dropped ? "dropped" : "kept");
  }

  prune_report r;
  try {
    r = prune_model(*in, *out, drop);
  } catch (const std::invalid_argument& e) {
    throw usage_error(std::string("cannot drop these blocks: ") + e.what());
  }
  std::printf("%s: %lld -> %lld blocks, %lld -> %lld tensors, %.1f -> %.1f KiB of tensor data\n", out->c_str(),
              static_cast<long long>(r.blocks_in), static_cast<long long>(r.blocks_out),
              static_cast<long long>(r.tensors_in), static_cast<long long>(r.tensors_out),
              static_cast<double>(r.bytes_in) / 1024, static_cast<double>(r.bytes_out) / 1024);
  for (const std::string& key : r.per_block_arrays) std::printf("  per-block metadata %s: dropped blocks' entries removed\n", key.c_str());

  if (eval_path) {
    const nll_stats before = eval_perplexity(*m, eval_tokens, po, *in);
    m.reset();
    const auto pruned = model::load(*out);
    const nll_stats after = eval_perplexity(*pruned, eval_tokens, po, *out);
    std::printf("perplexity on %s (-c %lld, %lld predictions):\n", eval_path->c_str(), static_cast<long long>(n_ctx),
                static_cast<long long>(before.count));
    std::printf("  before  %.4f +/- %.5f\n", before.ppl(), before.ppl_stderr());
    std::printf("  after   %.4f +/- %.5f  (%+.1f%%)\n", after.ppl(), after.ppl_stderr(),
                100 * (after.ppl() / before.ppl() - 1));
  }
  return 0;
}

}  // namespace

int cmd_prune(std::span<char* const> args) {
  options opts("hearth prune -m IN.gguf -f CALIB.txt --drop N -o OUT.gguf [options]",
               "Remove the N transformer blocks that change the hidden state least (structured depth\n"
               "pruning, ShortGPT's block influence): each block's influence is 1 - cos(x_in, x_out)\n"
               "averaged over the calibration text's tokens, run in chunks of -c tokens. Prints every\n"
               "block's score, then writes OUT with the rest renumbered and block_count set (OUT.tmp,\n"
               "renamed at the end). --eval TEXT: perplexity before and after on a held-out text.\n"
               "Pruning costs quality: measure it.",
               {{"model", 'm', "FILE", "GGUF model to prune"},
                {"file", 'f', "TEXT", "calibration text (at least -c tokens)"},
                {"drop", 0, "N", "blocks to remove (1 .. block_count - 1)"},
                {"output", 'o', "FILE", "where to write the pruned model"},
                {"eval", 0, "TEXT", "held-out text: perplexity before and after (at least 2 x -c tokens)"},
                {"ctx", 'c', "N", "tokens per chunk, for calibration and --eval (default 128)"},
                {"threads", 't', "N", "compute threads (default: all cores)"}});
  return run_command("prune", opts, args, [&] {
    return prune(opts);
  });
}

}  // namespace hearth::cli
