// `hearth imatrix -m MODEL.gguf -f TEXT [-o imatrix.gguf]`: an importance matrix of the model on
// the user's own text (engine/imatrix.h), with a progress bar, written in llama.cpp's GGUF
// imatrix format for `hearth quantize --imatrix` (or llama-quantize --imatrix).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "imatrix.h"
#include "model/model.h"

namespace hearth::cli {

namespace {

int imatrix(const options& opts) {
  const auto in = opts.get("model");
  if (!in) throw usage_error("missing -m MODEL.gguf");
  const auto text_path = opts.get("file");
  if (!text_path) throw usage_error("missing -f TEXT");
  if (!opts.positional().empty()) throw usage_error("unexpected argument '" + opts.positional()[0] + "'");
  const std::string out = opts.get("output").value_or("imatrix.gguf");
  const int64_t n_ctx = opts.get_int("ctx", 512);
  if (n_ctx < 2) throw usage_error("-c must be at least 2 (got " + std::to_string(n_ctx) + ")");
  const int64_t chunks = opts.get_int("chunks", -1);
  if (chunks == 0 || chunks < -1) throw usage_error("--chunks must be at least 1");
  const int threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
  if (threads < 1 || threads > 256) throw usage_error("--threads must be in 1..256");
  std::error_code ec;
  if (std::filesystem::equivalent(*in, out, ec)) throw usage_error("-o is the model file: write elsewhere");
  const std::string text = read_text_file(*text_path);

  const auto m = model::load(*in);
  const std::vector<token_id> tokens = m->vocab().tokenize(text, true);
  imatrix_options o;
  o.n_ctx = n_ctx;
  o.max_chunks = chunks;
  o.threads = threads;
  o.dataset = *text_path;
  const int64_t available = static_cast<int64_t>(tokens.size()) / n_ctx;
  const int64_t n_chunks = chunks > 0 ? std::min(available, chunks) : available;
  std::fprintf(stderr, "hearth imatrix: %s; %s, %zu tokens: %lld chunks of %lld, %d threads\n", in->c_str(),
               text_path->c_str(), tokens.size(), static_cast<long long>(n_chunks), static_cast<long long>(n_ctx),
               threads);
  importance_matrix im;
  {
    progress_bar bar(n_chunks, "chunks");
    o.on_chunk = [&](int64_t done, int64_t) { bar.update(done); };
    try {
      im = collect_imatrix(*m, tokens, o);
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("-f ") + *text_path + ": " + e.what());
    }
  }
  write_imatrix(im, out);
  std::printf("%s: %zu weight matrices (%zu tensors), %u chunks of %u tokens\n", out.c_str(), im.entries.size(),
              2 * im.entries.size(), im.chunk_count, im.chunk_size);
  return 0;
}

}  // namespace

int cmd_imatrix(std::span<char* const> args) {
  options opts("hearth imatrix -m MODEL.gguf -f TEXT [-o imatrix.gguf] [options]",
               "Compute an importance matrix: run TEXT through the model in chunks of -c tokens and,\n"
               "for every weight matrix of the blocks, sum the squares of the activations entering\n"
               "each of its input columns (as llama-imatrix). Written in llama.cpp's GGUF imatrix\n"
               "format (-o, default imatrix.gguf; OUT.tmp renamed at the end), for\n"
               "`hearth quantize IN OUT TYPE --imatrix FILE`. Use text like what the model will see.",
               {{"model", 'm', "FILE", "GGUF model (F32/F16/BF16 preferably: the weights to be quantized)"},
                {"file", 'f', "TEXT", "text to compute it on (at least -c tokens)"},
                {"output", 'o', "FILE", "where to write it (default imatrix.gguf)"},
                {"ctx", 'c', "N", "tokens per chunk (default 512)"},
                {"chunks", 0, "N", "chunks to run at most (default: all the text holds)"},
                {"threads", 't', "N", "compute threads (default: all cores)"}});
  return run_command("imatrix", opts, args, [&] {
    return imatrix(opts);
  });
}

}  // namespace hearth::cli
