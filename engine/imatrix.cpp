#include "imatrix.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "calibration.h"
#include "forward.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "load_error.h"

namespace hearth {

namespace {

constexpr std::string_view sum_suffix = ".in_sum2";
constexpr std::string_view count_suffix = ".counts";

std::vector<uint8_t> f32_bytes(std::span<const float> v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> f32_values(const gguf_tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  if (!v.empty()) std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  return v;
}

// The legacy .dat format (see read_imatrix).
importance_matrix read_legacy_imatrix(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const auto fail = [&](const std::string& what) {
    return load_error(path.string() + ": not an importance matrix (legacy .dat format: " + what + ")");
  };
  const auto i32 = [&]() {
    int32_t v = 0;
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    return v;
  };
  if (!in) throw load_error(path.string() + ": cannot open");
  const int32_t n_entries = i32();
  if (!in || n_entries < 1) throw fail("no entries");
  importance_matrix im;
  for (int32_t i = 0; i < n_entries; ++i) {
    const int32_t len = i32();
    if (!in || len < 1 || len > 4096) throw fail("bad name length in entry " + std::to_string(i + 1));
    std::string name(static_cast<size_t>(len), '\0');
    in.read(name.data(), len);
    const int32_t ncall = i32();
    const int32_t nval = i32();
    if (!in || nval < 1 || nval > (1 << 26)) throw fail("bad value count in entry " + std::to_string(i + 1));
    imatrix_entry e;
    e.n_cols = nval;
    e.in_sum2.resize(static_cast<size_t>(nval));
    in.read(reinterpret_cast<char*>(e.in_sum2.data()), static_cast<std::streamsize>(nval * sizeof(float)));
    if (!in) throw fail("entry " + std::to_string(i + 1) + " is cut short");
    e.counts = {ncall > 0 ? ncall : 1};
    im.entries[name] = std::move(e);
  }
  const int32_t chunks = i32();
  if (in) {
    im.chunk_count = static_cast<uint32_t>(std::max(0, chunks));
    const int32_t len = i32();
    if (in && len > 0 && len <= 4096) {
      std::string dataset(static_cast<size_t>(len), '\0');
      in.read(dataset.data(), len);
      if (in) im.datasets.push_back(dataset.c_str());
    }
  }
  return im;
}

}  // namespace

std::vector<float> importance_matrix::importance(const std::string& name) const {
  const auto it = entries.find(name);
  if (it == entries.end()) return {};
  const imatrix_entry& e = it->second;
  std::vector<float> w(e.in_sum2.size());
  for (size_t m = 0; m < e.counts.size(); ++m) {
    const auto count = static_cast<float>(e.counts[m]);
    for (int64_t j = 0; j < e.n_cols; ++j) {
      const size_t i = m * static_cast<size_t>(e.n_cols) + static_cast<size_t>(j);
      w[i] = count > 0 ? e.in_sum2[i] / count : 1.0f;
    }
  }
  return w;
}

importance_matrix collect_imatrix(const model& m, std::span<const token_id> tokens, const imatrix_options& o) {
  importance_matrix im;
  im.chunk_size = static_cast<uint32_t>(o.n_ctx);
  if (!o.dataset.empty()) im.datasets.push_back(o.dataset);
  const auto observe = [&](forward_pass& fwd) {
    fwd.set_matmul_observer([&](const weight& w, std::span<const float> x, int64_t rows) {
      const std::string_view name = w.tensor->name;
      if (!name.starts_with("blk.")) return;
      imatrix_entry& e = im.entries[std::string(name)];
      if (e.in_sum2.empty()) {
        e.n_cols = w.cols;
        e.in_sum2.assign(static_cast<size_t>(w.cols), 0.0f);
        e.counts.assign(1, 0);
      }
      float* sum = e.in_sum2.data();
      for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x.data() + r * w.cols;
        for (int64_t j = 0; j < w.cols; ++j) sum[j] += xr[j] * xr[j];
      }
      e.counts[0] += rows;
    });
  };
  im.chunk_count = static_cast<uint32_t>(run_calibration(m, tokens, {o.n_ctx, o.max_chunks, o.threads, o.on_chunk}, observe));
  for (const auto& [name, e] : im.entries) {
    for (float s : e.in_sum2) {
      if (!std::isfinite(s)) throw std::invalid_argument("non-finite activations entering " + name);
    }
  }
  return im;
}

void write_imatrix(const importance_matrix& im, const std::filesystem::path& path) {
  gguf_writer w;
  w.add_kv("general.type", gguf_meta_value::string("imatrix"));
  w.add_kv("imatrix.datasets", gguf_meta_value::string_array(im.datasets));
  w.add_kv("imatrix.chunk_count", gguf_meta_value::u32(im.chunk_count));
  w.add_kv("imatrix.chunk_size", gguf_meta_value::u32(im.chunk_size));
  for (const auto& [name, e] : im.entries) {  // std::map: sorted by name, as llama-imatrix writes
    const auto n_mat = static_cast<int64_t>(e.counts.size());
    std::vector<float> counts(e.counts.begin(), e.counts.end());
    w.add_tensor(name + std::string(sum_suffix), ggml_type::f32, {e.n_cols, n_mat}, f32_bytes(e.in_sum2));
    w.add_tensor(name + std::string(count_suffix), ggml_type::f32, {1, n_mat}, f32_bytes(counts));
  }
  w.write(path);
}

importance_matrix read_imatrix(const std::filesystem::path& path) {
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    if (in && std::memcmp(magic, "GGUF", 4) != 0) return read_legacy_imatrix(path);
  }
  const gguf_file f = gguf_file::open(path);
  importance_matrix im;
  const auto chunk_count = f.get_int("imatrix.chunk_count");
  const auto chunk_size = f.get_int("imatrix.chunk_size");
  if (!f.find("imatrix.datasets") || !chunk_count || !chunk_size) {
    throw f.error("not an importance matrix: missing metadata imatrix.datasets, imatrix.chunk_count or "
                  "imatrix.chunk_size");
  }
  for (std::string_view d : f.get_string_array("imatrix.datasets")) im.datasets.emplace_back(d);
  im.chunk_count = static_cast<uint32_t>(*chunk_count);
  im.chunk_size = static_cast<uint32_t>(*chunk_size);
  for (const gguf_tensor& t : f.tensors()) {
    if (!t.name.ends_with(sum_suffix)) continue;
    const std::string name(t.name.substr(0, t.name.size() - sum_suffix.size()));
    const gguf_tensor* c = f.find_tensor(name + std::string(count_suffix));
    if (!c) throw f.error("tensor '" + std::string(t.name) + "' has no '" + name + std::string(count_suffix) + "'");
    if (t.type != ggml_type::f32 || c->type != ggml_type::f32) throw f.error("imatrix tensors of '" + name + "' are not F32");
    const int64_t n_mat = c->n_elements();
    if (n_mat < 1 || t.n_elements() % n_mat != 0 || t.ne[0] * n_mat != t.n_elements()) {
      throw f.error("'" + name + "': in_sum2 " + t.shape_string() + " does not match counts " + c->shape_string());
    }
    imatrix_entry e;
    e.n_cols = t.ne[0];
    e.in_sum2 = f32_values(t);
    for (float v : f32_values(*c)) e.counts.push_back(std::lround(v));
    im.entries.emplace(name, std::move(e));
  }
  for (const gguf_tensor& t : f.tensors()) {
    if (t.name.ends_with(count_suffix) &&
        !im.entries.contains(std::string(t.name.substr(0, t.name.size() - count_suffix.size())))) {
      throw f.error("tensor '" + std::string(t.name) + "' has no matching in_sum2");
    }
  }
  if (im.entries.empty()) throw f.error("not an importance matrix: no <name>.in_sum2 tensors");
  return im;
}

}  // namespace hearth
