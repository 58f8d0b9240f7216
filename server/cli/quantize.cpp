// `hearth quantize IN.gguf OUT.gguf TYPE`: a model rewritten in one of llama-quantize's file types
// (engine/model/quantize.h), with a progress bar, the sizes before and after and bits per weight.
#include <cstdio>
#include <cctype>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "load_error.h"
#include "model/quantize.h"

namespace hearth::cli {

namespace {

std::string mix_names() {
  std::string s;
  for (const quant_mix& m : quant_mixes()) s += (s.empty() ? "" : ", ") + std::string(m.name);
  return s;
}

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
  std::string type = pos[2];
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto mix = find_quant_mix(type);
  if (!mix) throw usage_error("unknown type '" + pos[2] + "' (one of: " + mix_names() + ")");
  std::error_code ec;
  if (std::filesystem::equivalent(in, out, ec)) throw usage_error("OUT is the input file: write elsewhere");

  quantize_options o;
  o.mix = *mix;
  o.threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
  if (o.threads < 1 || o.threads > 256) throw usage_error("--threads must be in 1..256");
  std::unique_ptr<progress_bar> bar;
  uint64_t done = 0;
  o.on_plan = [&](const quantize_report& r) {
    std::fprintf(stderr, "hearth quantize: %s -> %s as %s (%s), %lld of %lld tensors converted, %d threads\n",
                 in.c_str(), out.c_str(), std::string(mix->name).c_str(), std::string(ggml_type_name(mix->base)).c_str(),
                 static_cast<long long>(r.quantized), static_cast<long long>(r.tensors), o.threads);
    for (const std::string& f : r.fallbacks) std::fprintf(stderr, "hearth quantize: %s\n", f.c_str());
    if (!r.requantized.empty()) {
      std::fprintf(stderr,
                   "hearth quantize: warning: %zu tensors are already quantized (the first: %s); requantizing "
                   "loses more quality than quantizing the F16/F32 original\n",
                   r.requantized.size(), r.requantized.front().c_str());
    }
    bar = std::make_unique<progress_bar>(static_cast<int64_t>(r.bytes_in >> 20) + 1, "MiB");
  };
  o.on_tensor = [&](const quantize_tensor_event& e) {
    done += e.bytes_in;
    bar->update(e.index + 1 == e.count ? static_cast<int64_t>(done >> 20) + 1 : static_cast<int64_t>(done >> 20),
                std::to_string(e.index + 1) + "/" + std::to_string(e.count) + " tensors");
  };
  const quantize_report r = quantize_model(in, out, o);
  std::printf("%s: %s -> %s (%.2f bits per weight, %.1f%% of the input), %lld tensors converted\n", out.c_str(),
              mib(r.bytes_in).c_str(), mib(r.bytes_out).c_str(), r.bits_per_weight(),
              r.bytes_in ? 100.0 * static_cast<double>(r.bytes_out) / static_cast<double>(r.bytes_in) : 0.0,
              static_cast<long long>(r.quantized));
  return 0;
}

}  // namespace

int cmd_quantize(std::span<char* const> args) {
  options opts("hearth quantize IN.gguf OUT.gguf TYPE [-t N]",
               "Write IN's weights in a llama-quantize file type, as llama-quantize does without an\n"
               "importance matrix (the same type per tensor; rows that do not fit a type's blocks fall\n"
               "back to the nearest type that fits, and it says so). Input: F32, F16 or BF16 (an\n"
               "already quantized file is requantized, with a warning). OUT is written to OUT.tmp and\n"
               "renamed at the end. TYPE: " + mix_names() + ".",
               {{"threads", 't', "N", "threads quantizing rows (default: all cores)"}});
  return run_command("quantize", opts, args, [&] {
    return quantize(opts);
  });
}

}  // namespace hearth::cli
