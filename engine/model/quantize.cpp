#include "model/quantize.h"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/type_traits.h"
#include "load_error.h"
#include "model/model.h"
#include "thread_pool.h"

namespace hearth {

namespace {

constexpr uint32_t quantization_version = 2;  // ggml's GGML_QNT_VERSION: the block layouts used here

// Whether llama-quantize would requantize this tensor: a 2-D (or more) weight matrix, not a norm,
// router or positional table.
bool is_quantizable(const gguf_tensor& t) {
  const std::string_view n = t.name;
  if (t.n_dims < 2 || !n.ends_with("weight")) return false;
  for (std::string_view skip : {"_norm.weight", "ffn_gate_inp.weight", "pos_embd", "token_types", "rope_freqs",
                                "rope_factors"}) {
    if (n.find(skip) != std::string_view::npos) return false;
  }
  return true;
}

bool is_float(ggml_type t) { return t == ggml_type::f32 || t == ggml_type::f16 || t == ggml_type::bf16; }

std::string type_name(ggml_type t) { return std::string(ggml_type_name(t)); }

// The model's layer count and query heads per KV head, which the mixes' rules depend on.
void read_shape(const gguf_file& f, int& n_layer, int& n_gqa) {
  const auto arch = f.get_string("general.architecture");
  if (!arch) throw f.error("missing metadata 'general.architecture'");
  const std::string p = std::string(*arch) + ".";
  const auto layers = f.get_int(p + "block_count");
  if (!layers || *layers < 1 || *layers > 4096) throw f.error("metadata '" + p + "block_count' missing or out of range");
  const int64_t heads = f.get_int(p + "attention.head_count").value_or(1);
  const int64_t kv = f.get_int(p + "attention.head_count_kv").value_or(heads);
  n_layer = static_cast<int>(*layers);
  n_gqa = heads > 0 && kv > 0 && heads % kv == 0 ? static_cast<int>(heads / kv) : 1;
}

// Converts rows [r0, r1) of t from its type to `to` through floats, weighted by `importance`
// (one weight per column) unless it is empty.
void convert_rows(const gguf_tensor& t, const kernels::type_traits& from, const kernels::type_traits& to,
                  const std::vector<float>& importance, int64_t r0, int64_t r1, uint8_t* out, std::vector<float>& row) {
  const int64_t k = t.ne[0];
  const size_t in_row = static_cast<size_t>(k / from.block) * from.block_bytes;
  const size_t out_row = static_cast<size_t>(k / to.block) * to.block_bytes;
  row.resize(static_cast<size_t>(k));
  for (int64_t r = r0; r < r1; ++r) {
    from.dequantize(t.data + static_cast<size_t>(r) * in_row, row.data(), k);
    uint8_t* dst = out + static_cast<size_t>(r) * out_row;
    if (importance.empty()) {
      to.quantize(row.data(), dst, k);
    } else {
      to.quantize_weighted(row.data(), dst, k, importance.data());
    }
  }
}

}  // namespace

quantize_report quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                               const quantize_options& o) {
  const gguf_file f = gguf_file::open(in);
  quant_mix mix = o.mix;
  mix.imatrix = o.imatrix != nullptr;
  int n_layer = 0, n_gqa = 1;
  read_shape(f, n_layer, n_gqa);
  const bool tied = f.find_tensor("output.weight") == nullptr;

  gguf_writer w;
  for (const auto& [key, value] : f.metadata()) {
    if (key == "general.file_type" || key == "general.quantization_version") continue;
    if (o.imatrix && key.starts_with("quantize.imatrix.")) continue;  // replaced below
    w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
  w.add_kv("general.quantization_version", gguf_meta_value::u32(quantization_version));
  w.add_kv("general.file_type", gguf_meta_value::u32(mix.file_type));
  if (o.imatrix) {
    w.add_kv("quantize.imatrix.file", gguf_meta_value::string(o.imatrix_file));
    if (!o.imatrix->datasets.empty()) w.add_kv("quantize.imatrix.dataset", gguf_meta_value::string(o.imatrix->datasets[0]));
    w.add_kv("quantize.imatrix.entries_count", gguf_meta_value::u32(static_cast<uint32_t>(o.imatrix->entries.size())));
    if (o.imatrix->chunk_count > 0) w.add_kv("quantize.imatrix.chunks_count", gguf_meta_value::u32(o.imatrix->chunk_count));
  }

  quantize_report report;
  const auto& tensors = f.tensors();
  report.tensors = static_cast<int64_t>(tensors.size());
  thread_pool pool(std::max(1, o.threads));
  // Each tensor's column weights (empty: none), alive until the writer has run the producers.
  std::vector<std::vector<float>> importance(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const gguf_tensor& t = tensors[i];
    const std::string name(t.name);
    ggml_type to = t.type;
    if (is_quantizable(t)) {
      const std::string rule_name = tied && name == "token_embd.weight" ? "output.weight" : name;
      to = mix_tensor_type(mix, rule_name, t.ne[0], n_layer, n_gqa);
      const ggml_type wanted = mix_rule_type(mix, rule_name, n_layer, n_gqa);
      // Rows no quantized type fits (172 elements: not a multiple of 32) stay in the input's
      // float type, as in llama-quantize's stories260K files, rather than lose bits to F16.
      if (to == ggml_type::f16 && wanted != ggml_type::f16 && is_float(t.type)) to = t.type;
      if (to != wanted) {
        report.fallbacks.push_back(name + ": rows of " + std::to_string(t.ne[0]) + " do not fit " + type_name(wanted) +
                                   "'s " + std::to_string(ggml_type_info(static_cast<uint32_t>(wanted))->block_size) +
                                   "-element blocks: " + type_name(to) + " instead");
      }
      if (to != t.type && !is_float(t.type)) report.requantized.push_back(name + " (" + type_name(t.type) + ")");
    }
    const kernels::type_traits* from_traits = kernels::type_traits_of(t.type);
    const kernels::type_traits* to_traits = kernels::type_traits_of(to);
    if (to != t.type && (!from_traits || !to_traits || !to_traits->quantize)) {
      throw f.error("tensor '" + name + "': cannot convert " + type_name(t.type) + " to " + type_name(to) +
                    " (types hearth reads: " + kernels::supported_type_names() + ")");
    }
    if (o.imatrix && to != t.type && to_traits->quantize_weighted) {
      importance[i] = o.imatrix->importance(name);
      if (importance[i].empty()) {
        report.without_imatrix.push_back(name);
      } else if (static_cast<int64_t>(importance[i].size()) != t.ne[0]) {
        throw f.error("tensor '" + name + "': the importance matrix has " + std::to_string(importance[i].size()) +
                      " columns for it, its rows have " + std::to_string(t.ne[0]));
      } else {
        ++report.weighted;
      }
    }
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    const uint64_t out_bytes = to == t.type ? t.nbytes
                                            : static_cast<uint64_t>(t.n_elements() / to_traits->block) * to_traits->block_bytes;
    report.weights += static_cast<uint64_t>(t.n_elements());
    report.bytes_in += t.nbytes;
    report.bytes_out += out_bytes;
    report.quantized += to != t.type;
    quantize_tensor_event ev{name, t.type, to, static_cast<int64_t>(i), report.tensors, t.nbytes, out_bytes};
    const std::vector<float>& imp = importance[i];
    w.add_tensor(name, to, ne, [&f, &t, from_traits, to_traits, to, out_bytes, &pool, ev, &o, &imp](const gguf_byte_sink& sink) {
      if (to == t.type) {
        sink(t.data, t.nbytes);
      } else {
        // Rows in tasks of at least 16, spread over the pool's threads.
        std::vector<uint8_t> bytes(out_bytes);
        const int64_t rows = t.n_elements() / t.ne[0];
        const int64_t per_task = std::max<int64_t>(16, rows / (8 * static_cast<int64_t>(pool.size())));
        const int64_t tasks = (rows + per_task - 1) / per_task;
        pool.parallel_for(tasks, [&](int64_t task) {
          thread_local std::vector<float> row;
          convert_rows(t, *from_traits, *to_traits, imp, task * per_task, std::min(rows, (task + 1) * per_task), bytes.data(),
                       row);
        });
        sink(bytes.data(), bytes.size());
      }
      f.release_pages(t.data, t.nbytes);  // resident memory stays about one tensor, not the input
      if (o.on_tensor) o.on_tensor(ev);
    });
  }
  if (o.on_plan) o.on_plan(report);
  w.write(out);
  return report;
}

std::unique_ptr<model> load_quantized(const std::filesystem::path& in, const quantize_options& o) {
  const auto tmp = std::filesystem::temp_directory_path() /
                   ("hearth-" + in.stem().string() + "-" + std::string(o.mix.name) + "-" + std::to_string(::getpid()) +
                    "-" + std::to_string(std::random_device{}()) + ".gguf");
  struct unlink_at_exit {
    std::filesystem::path p;
    ~unlink_at_exit() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } cleanup{tmp};
  quantize_model(in, tmp, o);
  return model::load(tmp);  // mapped: the name can go
}

}  // namespace hearth
