#pragma once
// The `hearth` subcommands. Each takes its own arguments (after the command name) and returns
// the process exit code; errors go to stderr.
#include <span>
#include <string_view>

namespace hearth::cli {

int cmd_info(std::span<char* const> args);
int cmd_tokenize(std::span<char* const> args);
int cmd_embed(std::span<char* const> args);
int cmd_run(std::span<char* const> args);
int cmd_serve(std::span<char* const> args);
int cmd_synth(std::span<char* const> args);
int cmd_bench(std::span<char* const> args);
int cmd_health(std::span<char* const> args);
int cmd_template(std::span<char* const> args);
int cmd_perplexity(std::span<char* const> args);
int cmd_quantize(std::span<char* const> args);
int cmd_prune(std::span<char* const> args);
int cmd_imatrix(std::span<char* const> args);

}  // namespace hearth::cli
