// `hearth quantize IN.gguf OUT.gguf TYPE [--imatrix FILE]`: a model rewritten in one of
// llama-quantize's file types (engine/model/quantize.h), optionally weighted by an importance
// matrix, with a progress bar, the sizes before and after and bits per weight.
#include <cstdio>
#include <cctype>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/load_model.h"
#include "imatrix.h"
#include "load_error.h"
#include "model/quantize.h"

namespace hearth::cli {

namespace {

std::string mib(uint64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return b;
}

int quantize(const options& opts) {
  const auto& pos = opts.positional();
  if (pos.size() != 3) throw usage_error("expected IN.gguf OUT.gguf TYPE (got " + std::to_string(pos.size()) + " arguments)");
  const std::string& in = pos[0];
  const std::string& out = pos[1];
  std::optional<quant_mix> mix;
  try {
    mix = quantize_choice(pos[2]);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  if (!mix) throw usage_error("no TYPE given");
  std::error_code ec;
  if (std::filesystem::equivalent(in, out, ec)) throw usage_error("OUT is the input file: write elsewhere");

  quantize_options o;
  o.mix = *mix;
  o.threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
  if (o.threads < 1 || o.threads > 256) throw usage_error("--threads must be in 1..256");
  importance_matrix im;
  if (const auto path = opts.get("imatrix")) {
    im = read_imatrix(*path);
    o.imatrix = &im;
    o.imatrix_file = *path;
    std::fprintf(stderr, "hearth quantize: importance matrix %s: %zu entries, %u chunks of %u tokens\n", path->c_str(),
                 im.entries.size(), im.chunk_count, im.chunk_size);
  }
  report_quantize_progress(o, "hearth quantize",
                           in + " -> " + out + " as " + std::string(mix->name) + ", " + std::to_string(o.threads) +
                               " threads");
  const quantize_report r = quantize_model(in, out, o);
  std::printf("%s: %s -> %s (%.2f bits per weight, %.1f%% of the input), %lld tensors converted\n", out.c_str(),
              mib(r.bytes_in).c_str(), mib(r.bytes_out).c_str(), r.bits_per_weight(),
              r.bytes_in ? 100.0 * static_cast<double>(r.bytes_out) / static_cast<double>(r.bytes_in) : 0.0,
              static_cast<long long>(r.quantized));
  return 0;
}

}  // namespace

int cmd_quantize(std::span<char* const> args) {
  options opts("hearth quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [-t N]",
               "Write IN's weights in a llama-quantize file type, as llama-quantize does (the same type\n"
               "per tensor; rows that do not fit a type's blocks fall back to the nearest type that\n"
               "fits, and it says so). --imatrix: weigh each tensor's quantization error by an\n"
               "importance matrix from `hearth imatrix` (or llama-imatrix), as llama-quantize --imatrix.\n"
               "Input: F32, F16 or BF16 (an already quantized file is requantized, with a warning).\n"
               "OUT is written to OUT.tmp and renamed at the end. TYPE: " + quant_mix_names() + ".",
               {{"imatrix", 0, "FILE", "importance matrix (GGUF) to weigh the quantization error by"},
                {"threads", 't', "N", "threads quantizing rows (default: all cores)"}});
  return run_command("quantize", opts, args, [&] {
    return quantize(opts);
  });
}

}  // namespace hearth::cli
