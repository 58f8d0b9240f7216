#include "crafted_models.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "reference.h"

namespace hearth::test {

namespace {

// With real weights: stories260K's metadata, context_length replaced. Otherwise the given
// dimensions and stories260K's tokenizer.
void add_metadata(gguf_writer& w, const crafted_llama& c, const gguf_file& stories) {
  w.add_kv("llama.context_length", gguf_meta_value::u64(c.context_length));
  if (c.real_weights) {
    for (const auto& [key, value] : stories.metadata()) {
      if (key != "llama.context_length") w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
    }
    return;
  }
  w.add_kv("general.architecture", gguf_meta_value::string("llama"));
  w.add_kv("llama.embedding_length", gguf_meta_value::u32(c.embedding_length));
  w.add_kv("llama.block_count", gguf_meta_value::u32(c.block_count));
  w.add_kv("llama.feed_forward_length", gguf_meta_value::u32(c.feed_forward_length));
  w.add_kv("llama.attention.head_count", gguf_meta_value::u32(c.head_count));
  w.add_kv("llama.attention.head_count_kv", gguf_meta_value::u32(c.head_count_kv));
  w.add_kv("llama.attention.key_length", gguf_meta_value::u32(c.key_length));
  w.add_kv("llama.attention.value_length", gguf_meta_value::u32(c.key_length));
  w.add_kv("llama.rope.dimension_count", gguf_meta_value::u32(c.key_length));
  w.add_kv("llama.attention.layer_norm_rms_epsilon", gguf_meta_value::f32(1e-5f));
  for (const auto& [key, value] : stories.metadata()) {
    if (key.starts_with("tokenizer.")) w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
}

// Every tensor of a llama model of these dimensions, as F32 (cols, rows); rows 0: a vector.
std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> llama_tensors(const crafted_llama& c) {
  const uint64_t d = c.embedding_length, q = uint64_t{c.head_count} * c.key_length,
                 kv = uint64_t{c.head_count_kv} * c.key_length, ff = c.feed_forward_length;
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> t = {{"token_embd.weight", {d, 512}},
                                                                           {"output_norm.weight", {d, 0}}};
  for (uint32_t l = 0; l < c.block_count; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (auto [name, shape] : {std::pair{"attn_norm", std::pair{d, uint64_t{0}}}, {"attn_q", {d, q}}, {"attn_k", {d, kv}},
                               {"attn_v", {d, kv}}, {"attn_output", {q, d}}, {"ffn_norm", {d, 0}},
                               {"ffn_gate", {d, ff}}, {"ffn_up", {d, ff}}, {"ffn_down", {ff, d}}}) {
      t.push_back({p + name + ".weight", shape});
    }
  }
  return t;
}

// All tensors at offset 0: the first record carries zeros enough for the largest.
void add_shared_zero_tensors(gguf_writer& w, const crafted_llama& c) {
  const auto tensors = llama_tensors(c);
  uint64_t largest = 0;
  for (const auto& [name, shape] : tensors) largest = std::max(largest, shape.first * std::max<uint64_t>(shape.second, 1) * 4);
  bool first = true;
  for (const auto& [name, shape] : tensors) {
    gguf_tensor_record r;
    r.name = name;
    r.type_id = static_cast<uint32_t>(ggml_type::f32);
    r.dims = shape.second ? std::vector<uint64_t>{shape.first, shape.second} : std::vector<uint64_t>{shape.first};
    r.nbytes = first ? largest : 0;
    r.offset = 0;
    r.produce = [n = r.nbytes](const gguf_byte_sink& sink) {
      // One buffer for all ~37,000 records (most write nothing): a megabyte allocated per record
      // took minutes under AddressSanitizer.
      static const std::vector<uint8_t> zeros(1 << 20, 0);
      for (uint64_t done = 0; done < n; done += zeros.size()) sink(zeros.data(), std::min<uint64_t>(zeros.size(), n - done));
    };
    w.add_tensor_unchecked(std::move(r));
    first = false;
  }
}

void add_copied_tensors(gguf_writer& w, const gguf_file& stories) {
  for (const gguf_tensor& t : stories.tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    w.add_tensor(std::string(t.name), t.type, ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
  }
}

}  // namespace

void write_crafted_llama(const crafted_llama& c, const std::filesystem::path& out) {
  const gguf_file stories = gguf_file::open(shared_path("models/stories260K-f32.gguf"));
  gguf_writer w;
  add_metadata(w, c, stories);
  if (c.real_weights) {
    add_copied_tensors(w, stories);
  } else {
    add_shared_zero_tensors(w, c);
  }
  w.write(out);
}

void write_wide_head_stories(const std::filesystem::path& out, uint32_t head_dim) {
  const gguf_file stories = gguf_file::open(shared_path("models/stories260K-f32.gguf"));
  constexpr int64_t old_hd = 8;
  const int64_t hd = head_dim, spread = hd / old_hd;
  gguf_writer w;
  for (const auto& [key, value] : stories.metadata()) {
    if (key == "llama.attention.key_length" || key == "llama.attention.value_length" ||
        key == "llama.rope.dimension_count") {
      continue;
    }
    w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
  for (const char* key : {"llama.attention.key_length", "llama.attention.value_length", "llama.rope.dimension_count"}) {
    w.add_kv(key, gguf_meta_value::u32(head_dim));
  }
  // Dimension d of a head: pair d / 2 moves to pair (d / 2) * spread, keeping its place in the pair.
  auto wide = [&](int64_t d) { return 2 * (d / 2) * spread + d % 2; };
  const float q_scale = std::sqrt(static_cast<float>(spread));
  for (const gguf_tensor& t : stories.tensors()) {  // `stories` outlives the loop
    const std::string name(t.name);
    const auto* src = reinterpret_cast<const float*>(t.data);
    const int64_t cols = t.ne[0], rows = t.n_dims > 1 ? t.ne[1] : 1;
    std::vector<float> data;
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (name.ends_with("attn_q.weight") || name.ends_with("attn_k.weight") || name.ends_with("attn_v.weight")) {
      // Rows are output dimensions: head h's row d goes to row h * hd + wide(d).
      const float scale = name.ends_with("attn_q.weight") ? q_scale : 1.0f;
      ne[1] = rows / old_hd * hd;
      data.assign(static_cast<size_t>(cols * ne[1]), 0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t to = r / old_hd * hd + wide(r % old_hd);
        for (int64_t c = 0; c < cols; ++c) data[to * cols + c] = src[r * cols + c] * scale;
      }
    } else if (name.ends_with("attn_output.weight")) {
      // Columns are the heads' concatenated outputs.
      ne[0] = cols / old_hd * hd;
      data.assign(static_cast<size_t>(ne[0] * rows), 0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) data[r * ne[0] + c / old_hd * hd + wide(c % old_hd)] = src[r * cols + c];
      }
    } else {
      data.assign(src, src + t.nbytes / sizeof(float));
    }
    std::vector<uint8_t> bytes(data.size() * sizeof(float));
    std::memcpy(bytes.data(), data.data(), bytes.size());
    w.add_tensor(name, t.type, ne, std::move(bytes));
  }
  w.write(out);
}

crafted_llama kv_overflow_model() {
  return {.context_length = uint64_t{1} << 31, .block_count = 4096, .head_count = 128, .head_count_kv = 128,
          .key_length = 1024, .embedding_length = 8, .feed_forward_length = 32, .real_weights = false};
}

crafted_llama huge_context_model() { return {.context_length = uint64_t{1} << 31}; }

void write_nested_arrays(const std::filesystem::path& out, const std::string& key, uint64_t n) {
  // Payload of an array value: element type 9 (array), count, then n times (element type u8, count 0).
  std::vector<uint8_t> payload(12 + 12 * n, 0);
  const uint32_t array_type = 9;
  std::memcpy(payload.data(), &array_type, 4);
  std::memcpy(payload.data() + 4, &n, 8);
  gguf_writer w;
  w.add_kv_unchecked(key, gguf_meta_value::raw(9, std::move(payload)));
  w.write(out);
}

}  // namespace hearth::test
