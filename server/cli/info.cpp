// `hearth info -m MODEL`: what is inside a GGUF file, checked the same way `run` loads it (an
// importance matrix from `hearth imatrix`: its metadata and tensors).
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "gguf/gguf_file.h"
#include "imatrix.h"
#include "kv_cache.h"
#include "load_error.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "proto/chat_template.h"

namespace hearth::cli {

namespace {

void print_metadata(const gguf_file& f) {
  std::printf("metadata: %zu keys\n", f.metadata().size());
  for (const auto& [key, v] : f.metadata()) {
    std::printf("  %-44.*s ", static_cast<int>(key.size()), key.data());
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
}

void print_tensors(const gguf_file& f, bool each) {
  std::map<std::string_view, std::pair<size_t, size_t>> by_type;
  size_t total = 0;
  for (const auto& t : f.tensors()) {
    auto& e = by_type[ggml_type_name(t.type)];
    e.first++;
    e.second += t.nbytes;
    total += t.nbytes;
  }
  std::printf("tensors: %zu, %zu bytes (%.1f MiB)\n", f.tensors().size(), total, total / 1048576.0);
  for (const auto& [name, e] : by_type) {
    std::printf("  %-8.*s %5zu tensors %14zu bytes\n", static_cast<int>(name.size()), name.data(), e.first, e.second);
  }
  if (!each) return;
  for (const auto& t : f.tensors()) {
    std::printf("  %-36.*s %-6s %-20s %12zu bytes\n", static_cast<int>(t.name.size()), t.name.data(),
                std::string(ggml_type_name(t.type)).c_str(), t.shape_string().c_str(), t.nbytes);
  }
}

void print_vocab(const vocab& v) {
  std::string kind(v.tokenizer_name());
  if (!v.pre_tokenizer().empty()) kind += ", pre-tokenizer " + std::string(v.pre_tokenizer());
  std::printf("vocabulary: %d tokens (%s), BOS %d, EOS %d, add BOS %s\n", v.size(), kind.c_str(), v.bos(), v.eos(),
              v.add_bos() ? "yes" : "no");
  std::printf("  end of generation");
  for (token_id id : v.eog_tokens()) {
    std::printf(" %d %s", id, printable_text(v.piece(id)).c_str());
  }
  std::printf("\n");
}

// "Q4_K: 154, Q6_K: 23, F32: 45": how many tensors of each type, most common first.
std::string tensor_type_mix(const gguf_file& f) {
  std::map<std::string_view, size_t> count;
  for (const auto& t : f.tensors()) ++count[ggml_type_name(t.type)];
  std::vector<std::pair<std::string_view, size_t>> order(count.begin(), count.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [name, n] : order) out += (out.empty() ? "" : ", ") + std::string(name) + ": " + std::to_string(n);
  return out;
}

void print_model(const model& m) {
  const hparams& hp = m.hp();
  auto name = m.file().get_string("general.name");
  std::printf("architecture: %s%s%.*s%s\n", hp.arch_name.c_str(), name ? " (" : "",
              name ? static_cast<int>(name->size()) : 0, name ? name->data() : "", name ? ")" : "");
  std::printf("  tensor types    %s\n", tensor_type_mix(m.file()).c_str());
  std::printf("  context length  %lld\n", static_cast<long long>(hp.n_ctx_train));
  std::printf("  embedding       %lld\n", static_cast<long long>(hp.n_embd));
  std::printf("  layers          %lld\n", static_cast<long long>(hp.n_layer));
  std::printf("  heads           %lld (%lld KV heads, head dim %lld)\n", static_cast<long long>(hp.n_head),
              static_cast<long long>(hp.n_head_kv), static_cast<long long>(hp.head_dim));
  std::printf("  feed-forward    %lld\n", static_cast<long long>(hp.n_ff));
  // What one position of context costs in each --kv-type (memory_plan sizes the cache from it).
  std::string kv = "  KV cache        per token:";
  for (ggml_type t : {ggml_type::f16, ggml_type::q8_0, ggml_type::q4_0}) {
    kv += t == ggml_type::f16 ? " " : ", ";
    kv += std::string(ggml_type_name(t)) + " ";
    kv += kv_cache::type_problem(t, hp.head_dim) ? "n/a (head dim not a multiple of 32)"
                                                 : format_bytes(kv_cache::bytes_per_position(hp, t));
  }
  std::printf("%s\n", kv.c_str());
  std::printf("  rope            %s, %lld dims, base %g\n", hp.rope == rope_style::norm ? "adjacent pairs" : "neox",
              static_cast<long long>(hp.rope_dim), hp.rope_freq_base);
  std::printf("  rms norm eps    %g\n", hp.rms_eps);
  std::printf("  output          %s\n", m.tied_output() ? "tied to token embeddings" : "output.weight");
  print_vocab(m.vocab());
  try {
    std::printf("chat template: %s\n", proto::chat_template::from_gguf(m.file(), m.vocab()).family().c_str());
  } catch (const load_error& e) {
    std::printf("chat template: %s\n", e.what());  // info still shows the rest of the file
  }
}

}  // namespace

int cmd_info(std::span<char* const> args) {
  options opts("hearth info -m MODEL [--metadata] [--tensors]",
               "Print a model's architecture, hyperparameters, vocabulary and tensors (or an importance\n"
               "matrix's chunks, datasets and tensors).",
               {{"model", 'm', "FILE", "GGUF model file"},
                {"metadata", 0, "", "also list every metadata key"},
                {"tensors", 0, "", "also list every tensor"}});
  return run_command("info", opts, args, [&] {
    auto path = opts.get("model");
    if (!path) throw usage_error("missing -m MODEL");
    if (gguf_file::open(*path).get_string("general.type") == "imatrix") {
      const gguf_file f = gguf_file::open(*path);
      const importance_matrix im = read_imatrix(*path);
      std::printf("file: %s\nformat: GGUF v%u, %zu bytes, alignment %lu\n", f.path().c_str(), f.version(),
                  f.file_size(), static_cast<unsigned long>(f.alignment()));
      std::printf("importance matrix: %zu weight matrices, %u chunks of %u tokens\n", im.entries.size(),
                  im.chunk_count, im.chunk_size);
      for (const std::string& d : im.datasets) std::printf("  dataset %s\n", d.c_str());
      print_tensors(f, opts.has("tensors"));
      if (opts.has("metadata")) print_metadata(f);
      return 0;
    }
    auto m = model::load(*path);
    const gguf_file& f = m->file();
    std::printf("file: %s\nformat: GGUF v%u, %zu bytes, alignment %lu\n", f.path().c_str(), f.version(),
                f.file_size(), static_cast<unsigned long>(f.alignment()));
    print_model(*m);
    print_tensors(f, opts.has("tensors"));
    if (opts.has("metadata")) print_metadata(f);
    return 0;
  });
}

}  // namespace hearth::cli
