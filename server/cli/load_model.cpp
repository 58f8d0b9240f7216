#include "cli/load_model.h"

#include <cctype>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "cli/progress.h"

namespace hearth::cli {

std::optional<quant_mix> quantize_choice(const std::string& value) {
  if (value.empty()) return std::nullopt;
  std::string lower = value;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto m = find_quant_mix(lower)) return m;
  throw std::invalid_argument("unknown quantization type '" + value + "' (one of: " + quant_mix_names() + ")");
}

void report_quantize_progress(quantize_options& o, const std::string& who, const std::string& what) {
  struct state {
    std::unique_ptr<progress_bar> bar;
    uint64_t done = 0;
  };
  auto st = std::make_shared<state>();
  o.on_plan = [st, who, what](const quantize_report& r) {
    std::fprintf(stderr, "%s: %s, %lld of %lld tensors converted\n", who.c_str(), what.c_str(),
                 static_cast<long long>(r.quantized), static_cast<long long>(r.tensors));
    for (const std::string& f : r.fallbacks) std::fprintf(stderr, "%s: %s\n", who.c_str(), f.c_str());
    if (!r.requantized.empty()) {
      std::fprintf(stderr,
                   "%s: warning: %zu tensors are already quantized (the first: %s); requantizing loses more "
                   "quality than quantizing the F16/F32 original\n",
                   who.c_str(), r.requantized.size(), r.requantized.front().c_str());
    }
    if (r.weighted > 0 || !r.without_imatrix.empty()) {
      std::fprintf(stderr, "%s: importance matrix: %lld tensors weighted by it\n", who.c_str(),
                   static_cast<long long>(r.weighted));
    }
    for (const std::string& t : r.without_imatrix) {
      std::fprintf(stderr, "%s: %s has no importance matrix entry: quantized without one\n", who.c_str(), t.c_str());
    }
    st->bar = std::make_unique<progress_bar>(static_cast<int64_t>(r.bytes_in >> 20) + 1, "MiB");
  };
  o.on_tensor = [st](const quantize_tensor_event& e) {
    st->done += e.bytes_in;
    const auto mib = static_cast<int64_t>(st->done >> 20);
    st->bar->update(e.index + 1 == e.count ? mib + 1 : mib,
                    std::to_string(e.index + 1) + "/" + std::to_string(e.count) + " tensors");
  };
}

std::unique_ptr<model> load_model(const std::string& path, const std::optional<quant_mix>& quantize, int threads,
                                  const char* who, const std::string& imatrix, bool pack_cache) {
  if (!quantize && !imatrix.empty()) throw std::invalid_argument("--imatrix weighs --quantize: give both");
  if (!quantize) {
    pack_cache_options cache;
    if (pack_cache) {
      cache.path = path + ".hearth-cache";
      cache.log = [who = std::string(who)](const std::string& line) {
        std::fprintf(stderr, "%s: %s\n", who.c_str(), line.c_str());
      };
    }
    return model::load(path, threads, cache);
  }
  quantize_options o;
  o.mix = *quantize;
  o.threads = threads;
  importance_matrix im;
  if (!imatrix.empty()) {
    im = read_imatrix(imatrix);
    o.imatrix = &im;
    o.imatrix_file = imatrix;
  }
  report_quantize_progress(o, who, "quantizing " + path + " to " + std::string(quantize->name) + " at start-up");
  return load_quantized(path, o);
}

}  // namespace hearth::cli
