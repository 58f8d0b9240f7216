#include "cli/load_model.h"

#include <cctype>
#include <cstdio>
#include <stdexcept>

#include "cli/progress.h"
#include "model/quantize.h"

namespace hearth::cli {

std::optional<quant_mix> quantize_choice(const std::string& value) {
  if (value.empty()) return std::nullopt;
  std::string lower = value;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto m = find_quant_mix(lower)) return m;
  std::string names;
  for (const quant_mix& m : quant_mixes()) names += (names.empty() ? "" : ", ") + std::string(m.name);
  throw std::invalid_argument("unknown quantization type '" + value + "' (one of: " + names + ")");
}

std::unique_ptr<model> load_model(const std::string& path, const std::optional<quant_mix>& quantize, int threads,
                                  const char* who) {
  if (!quantize) return model::load(path);
  quantize_options o;
  o.mix = *quantize;
  o.threads = threads;
  std::unique_ptr<progress_bar> bar;
  uint64_t done = 0;
  o.on_plan = [&](const quantize_report& r) {
    std::fprintf(stderr, "%s: quantizing %s to %s at start-up (%lld of %lld tensors)\n", who, path.c_str(),
                 std::string(quantize->name).c_str(), static_cast<long long>(r.quantized),
                 static_cast<long long>(r.tensors));
    if (!r.requantized.empty()) {
      std::fprintf(stderr, "%s: warning: %zu tensors are already quantized (%s); requantizing loses quality\n", who,
                   r.requantized.size(), r.requantized.front().c_str());
    }
    bar = std::make_unique<progress_bar>(static_cast<int64_t>(r.bytes_in >> 20) + 1, "MiB");
  };
  o.on_tensor = [&](const quantize_tensor_event& e) {
    done += e.bytes_in;
    bar->update(e.index + 1 == e.count ? static_cast<int64_t>(done >> 20) + 1 : static_cast<int64_t>(done >> 20));
  };
  return load_quantized(path, o);
}

}  // namespace hearth::cli
