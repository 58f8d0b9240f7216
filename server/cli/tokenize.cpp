// `hearth tokenize -m MODEL [--no-bos] TEXT`: the token ids of a text, space-separated. Works on
// vocab-only files of every tokenizer; --timing measures loading and throughput.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "cli/commands.h"
#include "cli/options.h"
#include "load_error.h"
#include "model/model.h"

namespace hearth::cli {

namespace {

// Wall-clock and CPU time: on a busy machine the CPU time is the steadier figure.
struct stopwatch {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  std::clock_t cpu = std::clock();
  double wall_ms() const { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall).count(); }
  double cpu_ms() const { return 1e3 * static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC; }
};

}  // namespace

int cmd_tokenize(std::span<char* const> args) {
  options opts("hearth tokenize -m MODEL [--no-bos] [--special] (TEXT | -f FILE) [--timing]",
               "Print the token ids of TEXT (or of FILE's contents), space-separated.",
               {{"model", 'm', "FILE", "GGUF model or vocab-only file (only its vocabulary is read)"},
                {"file", 'f', "FILE", "tokenize the contents of FILE instead of TEXT"},
                {"no-bos", 0, "", "do not add the BOS token the model asks for"},
                {"special", 0, "", "let control-token texts such as <s> become those tokens"},
                {"timing", 0, "", "print the load time and tokenizing throughput to stderr, not the ids"}});
  return run_command("tokenize", opts, args, [&] {
    auto path = opts.get("model");
    if (!path) throw usage_error("missing -m MODEL");
    auto file = opts.get("file");
    if (opts.positional().size() != (file ? 0u : 1u)) {
      throw usage_error(file ? "expected no TEXT argument with -f FILE" : "expected exactly one TEXT argument");
    }
    const std::string text = file ? read_text_file(*file) : opts.positional()[0];
    const stopwatch load;
    gguf_file f = gguf_file::open(*path);
    class vocab v = vocab::from_gguf(f);
    const double load_ms = load.wall_ms(), load_cpu_ms = load.cpu_ms();
    const stopwatch run;
    auto ids = v.tokenize(text, !opts.has("no-bos"), opts.has("special"));
    const double run_ms = run.wall_ms(), run_cpu_ms = run.cpu_ms();
    if (opts.has("timing")) {
      auto mb_per_s = [&](double ms) { return ms > 0 ? text.size() / (ms * 1e3) : 0.0; };
      std::fprintf(stderr,
                   "vocabulary: %d tokens, loaded in %.1f ms (%.1f ms CPU)\n"
                   "tokenized %zu bytes into %zu tokens in %.1f ms (%.1f ms CPU): %.2f MB/s (%.2f MB/s of CPU)\n",
                   v.size(), load_ms, load_cpu_ms, text.size(), ids.size(), run_ms, run_cpu_ms, mb_per_s(run_ms),
                   mb_per_s(run_cpu_ms));
      return 0;
    }
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
  });
}

}  // namespace hearth::cli
