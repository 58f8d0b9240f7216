// hearth: a local LLM inference daemon. This file only dispatches to a subcommand.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <string_view>

#include "cli/commands.h"

namespace {

constexpr const char* usage =
    "usage: hearth <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve      run the daemon: HTTP + WebSocket API on 127.0.0.1:8080\n"
    "  run        generate text from a prompt, streaming to stdout\n"
    "  info       print a model's architecture, hyperparameters and tensors\n"
    "  tokenize   print the token ids of a text\n"
    "  embed      print the embedding of a text with a BERT-style embedding model\n"
    "  synth      write a benchmark model of a real shape with random weights\n"
    "  bench      measure prompt processing and generation speed (or the machine's limits)\n"
    "  perplexity measure a model's perplexity on a text (and its KL divergence from a saved base)\n"
    "  quantize   write a model in a smaller type: q8_0, q4_0, q4_k_m, ...\n"
    "  imatrix    compute an importance matrix on a text, for quantize --imatrix\n"
    "  prune      remove the transformer blocks that matter least (block influence on a text)\n"
    "  health     ask a running daemon's /health (exit 0 when it serves): a container probe\n"
    "  template   render a chat template for the variables in a JSON object (stdin)\n"
    "\n"
    "`hearth <command> --help` describes each command's options.\n";

int dispatch(std::string_view cmd, std::span<char* const> rest) {
  if (cmd == "info") return hearth::cli::cmd_info(rest);
  if (cmd == "tokenize") return hearth::cli::cmd_tokenize(rest);
  if (cmd == "embed") return hearth::cli::cmd_embed(rest);
  if (cmd == "run") return hearth::cli::cmd_run(rest);
  if (cmd == "serve") return hearth::cli::cmd_serve(rest);
  if (cmd == "synth") return hearth::cli::cmd_synth(rest);
  if (cmd == "bench") return hearth::cli::cmd_bench(rest);
  if (cmd == "health") return hearth::cli::cmd_health(rest);
  if (cmd == "template") return hearth::cli::cmd_template(rest);
  if (cmd == "perplexity") return hearth::cli::cmd_perplexity(rest);
  if (cmd == "quantize") return hearth::cli::cmd_quantize(rest);
  if (cmd == "prune") return hearth::cli::cmd_prune(rest);
  if (cmd == "imatrix") return hearth::cli::cmd_imatrix(rest);
  std::fprintf(stderr, "hearth: unknown command '%.*s'\n\n%s", static_cast<int>(cmd.size()), cmd.data(), usage);
  return 2;
}

}  // namespace

// Commands report their own errors; whatever escapes them (memory exhausted, a bug) still ends
// with a message and exit code 1, never an abort.
int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  std::span<char* const> rest(argv + 2, argc - 2);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage, stdout);
    return 0;
  }
  try {
    return dispatch(cmd, rest);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "hearth %.*s: out of memory\n", static_cast<int>(cmd.size()), cmd.data());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth %.*s: %s\n", static_cast<int>(cmd.size()), cmd.data(), e.what());
  }
  return 1;
}
