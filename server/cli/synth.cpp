// `hearth synth`: write a benchmark model of a real model's shape with random weights.
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "load_error.h"
#include "model/synth.h"

namespace hearth::cli {

int cmd_synth(std::span<char* const> args) {
  std::string shapes;
  for (const auto& s : synth_shapes()) shapes += (shapes.empty() ? "" : ", ") + std::string(s.name);
  const std::string shape_help = "model shape: " + shapes;
  std::string mixes;
  for (const auto& m : quant_mixes()) mixes += (mixes.empty() ? "" : ", ") + std::string(m.name);
  const std::string type_help = "llama-quantize file type (per-tensor types by its rules): " + mixes + " (default q4_0)";
  options opts("hearth synth --shape NAME --type TYPE -o FILE",
               "Write a GGUF model of a real model's shape with seeded random weights (normal x 0.02, norms 1)\n"
               "and a real vocabulary, for benchmarks: speed does not depend on the values.",
               {{"shape", 0, "NAME", shape_help},
                {"type", 0, "TYPE", type_help},
                {"output", 'o', "FILE", "where to write"},
                {"vocab", 0, "FILE", "GGUF to copy the tokenizer from (default: ../shared/vocab/ggml-vocab-llama-spm.gguf)"},
                {"seed", 's', "N", "random seed (default 1)"},
                {"threads", 't', "N", "tensors generated at once (default: all cores)"},
                {"copying", 0, "", "layers 0 and 1 hold an induction circuit, so that the model continues its context\n"
                                   "by copying (what follows the latest earlier occurrence of the last two tokens):\n"
                                   "a model to measure speculative decoding on; rope.freq_base is 1e20"}});
  try {
    if (!opts.parse(args)) return 0;
    auto shape_name = opts.get("shape");
    if (!shape_name) throw usage_error("missing --shape (" + shapes + ")");
    auto shape = find_synth_shape(*shape_name);
    if (!shape) throw usage_error("unknown shape '" + *shape_name + "' (" + shapes + ")");
    auto out = opts.get("output");
    if (!out) throw usage_error("missing -o FILE");
    synth_options o{*shape};
    const std::string type = opts.get_or("type", "q4_0");
    auto mix = find_quant_mix(type);
    if (!mix) throw usage_error("--type must be one of " + mixes + " (got '" + type + "')");
    o.mix = *mix;
    o.vocab_file = opts.get_or("vocab", HEARTH_SHARED_VOCAB);
    o.seed = opts.get_u64("seed", 1);
    o.threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
    o.copying = opts.has("copying");
    write_synth_model(o, *out);
    std::fprintf(stderr, "hearth synth: wrote %s (%s, %s%s)\n", out->c_str(), shape_name->c_str(), type.c_str(),
                 o.copying ? ", copying" : "");
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hearth synth: %s\n(see hearth synth --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth synth: %s\n", e.what());
    return 1;
  }
}

}  // namespace hearth::cli
