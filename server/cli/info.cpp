// `hearth info -m MODEL`: what is inside a GGUF file, checked the same way `run` loads it.
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/options.h"
#include "gguf/gguf_file.h"
#include "load_error.h"

namespace hearth::cli {

int cmd_info(std::span<char* const> args) {
  options opts("hearth info -m MODEL", "Print a model's architecture, hyperparameters, vocabulary and tensors.",
               {{"model", 'm', "FILE", "GGUF model file"}});
  try {
    if (!opts.parse(args)) return 0;
    auto path = opts.get("model");
    if (!path) throw usage_error("missing -m MODEL");
    gguf_file f = gguf_file::open(*path);
    std::printf("file: %s\nformat: GGUF v%u, %zu bytes, alignment %lu\n", f.path().c_str(), f.version(),
                f.file_size(), static_cast<unsigned long>(f.alignment()));
    std::printf("metadata: %zu keys\n", f.metadata().size());
    for (const auto& [key, v] : f.metadata()) {
      std::printf("  %-40.*s ", static_cast<int>(key.size()), key.data());
      if (v.type == gguf_value_type::string) {
        std::string_view s = v.s.substr(0, 60);
        std::printf("\"%.*s\"%s\n", static_cast<int>(s.size()), s.data(), v.s.size() > 60 ? "..." : "");
      } else if (v.type == gguf_value_type::array) {
        std::printf("[%lu x %s]\n", static_cast<unsigned long>(v.arr->count),
                    std::string(gguf_value_type_name(v.arr->elem_type)).c_str());
      } else if (v.is_float()) {
        std::printf("%g\n", v.f);
      } else if (v.is_integer()) {
        std::printf("%lld\n", static_cast<long long>(*f.get_int(key)));
      } else {
        std::printf("%s\n", v.u ? "true" : "false");
      }
    }
    std::map<std::string_view, std::pair<size_t, size_t>> by_type;
    size_t total = 0;
    for (const auto& t : f.tensors()) {
      auto& e = by_type[ggml_type_name(t.type)];
      e.first++;
      e.second += t.nbytes;
      total += t.nbytes;
    }
    std::printf("tensors: %zu, %zu bytes\n", f.tensors().size(), total);
    for (const auto& [name, e] : by_type) std::printf("  %-6.*s %4zu tensors %12zu bytes\n",
        static_cast<int>(name.size()), name.data(), e.first, e.second);
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hearth info: %s\n", e.what());
    return 2;
  } catch (const load_error& e) {
    std::fprintf(stderr, "hearth info: %s\n", e.what());
    return 1;
  }
}

int cmd_tokenize(std::span<char* const>) { return 1; }
int cmd_run(std::span<char* const>) { return 1; }

}  // namespace hearth::cli
