#include "prune.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "calibration.h"
#include "forward.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/hparams.h"

namespace hearth {

namespace {

// 1 - cos(a, b) over n floats, in double; 0 if both are zero vectors, 1 if one is.
double one_minus_cos(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return aa == bb ? 0 : 1;
  return 1 - std::clamp(ab / std::sqrt(aa * bb), -1.0, 1.0);
}

// The block index of a tensor named "blk.K.<rest>" and the offset of <rest>, or nullopt.
std::optional<std::pair<int64_t, size_t>> block_of(std::string_view name) {
  constexpr std::string_view prefix = "blk.";
  if (!name.starts_with(prefix)) return std::nullopt;
  int64_t k = 0;
  const char* first = name.data() + prefix.size();
  const char* last = name.data() + name.size();
  const auto [end, ec] = std::from_chars(first, last, k);
  if (ec != std::errc() || end == first || end == last || *end != '.') return std::nullopt;
  return std::pair{k, static_cast<size_t>(end + 1 - name.data())};
}


// `a` with only the entries of the kept blocks (a.count is the block count).
gguf_meta_value keep_entries(const gguf_array& a, std::span<const int64_t> kept) {
  gguf_array out;
  out.elem_type = a.elem_type;
  out.count = kept.size();
  std::vector<uint8_t> raw;
  if (const size_t es = gguf_scalar_size(a.elem_type)) {
    for (int64_t k : kept) raw.insert(raw.end(), a.raw + static_cast<size_t>(k) * es, a.raw + static_cast<size_t>(k + 1) * es);
    out.raw = raw.data();
  } else if (a.elem_type == gguf_value_type::string) {
    for (int64_t k : kept) out.strings.push_back(a.strings[static_cast<size_t>(k)]);
  } else {
    for (int64_t k : kept) out.arrays.push_back(a.arrays[static_cast<size_t>(k)]);
  }
  gguf_value v;
  v.type = gguf_value_type::array;
  v.arr = std::make_shared<const gguf_array>(std::move(out));
  return gguf_meta_value::copy_of(v);  // encodes now, while `raw` lives
}

// The kept blocks, ascending, after checking `drop` against n_layer blocks.
std::vector<int64_t> kept_blocks(std::span<const int64_t> drop, int64_t n_layer) {
  if (drop.empty()) throw std::invalid_argument("no blocks to drop");
  std::vector<bool> dropped(static_cast<size_t>(n_layer));
  for (int64_t k : drop) {
    if (k < 0 || k >= n_layer) {
      throw std::invalid_argument("block " + std::to_string(k) + " does not exist (the model has blocks 0.." +
                                  std::to_string(n_layer - 1) + ")");
    }
    if (dropped[static_cast<size_t>(k)]) throw std::invalid_argument("block " + std::to_string(k) + " dropped twice");
    dropped[static_cast<size_t>(k)] = true;
  }
  if (static_cast<int64_t>(drop.size()) >= n_layer) {
    throw std::invalid_argument("dropping " + std::to_string(drop.size()) + " of " + std::to_string(n_layer) +
                                " blocks leaves none");
  }
  std::vector<int64_t> kept;
  for (int64_t k = 0; k < n_layer; ++k) {
    if (!dropped[static_cast<size_t>(k)]) kept.push_back(k);
  }
  return kept;
}

}  // namespace

std::vector<double> block_influence(const model& m, std::span<const token_id> tokens,
                                    const block_influence_options& o) {
  const hparams& hp = m.hp();
  const int64_t d = hp.n_embd;
  std::vector<double> sum(static_cast<size_t>(hp.n_layer));
  const auto observe = [&](forward_pass& fwd) {
    fwd.set_block_observer([&](int64_t layer, std::span<const float> x_in, std::span<const float> x_out) {
      double s = 0;
      const auto rows = static_cast<int64_t>(x_in.size()) / d;
      for (int64_t i = 0; i < rows; ++i) s += one_minus_cos(&x_in[static_cast<size_t>(i * d)], &x_out[static_cast<size_t>(i * d)], d);
      sum[static_cast<size_t>(layer)] += s;
    });
  };
  const int64_t n_chunks =
      run_calibration(m, tokens, o, observe, "the calibration text");
  for (double& s : sum) s /= static_cast<double>(n_chunks * o.n_ctx);
  return sum;
}

std::vector<int64_t> least_influential(std::span<const double> scores, int64_t n) {
  const auto n_blocks = static_cast<int64_t>(scores.size());
  if (n < 1 || n >= n_blocks) {
    throw std::invalid_argument("cannot drop " + std::to_string(n) + " of " + std::to_string(n_blocks) +
                                " blocks (at least 1, fewer than all)");
  }
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)]; });
  order.resize(static_cast<size_t>(n));
  std::sort(order.begin(), order.end());
  return order;
}

prune_report prune_model(const std::filesystem::path& in, const std::filesystem::path& out,
                         std::span<const int64_t> drop) {
  const gguf_file f = gguf_file::open(in);
  const hparams hp = read_hparams(f);
  const std::vector<int64_t> kept = kept_blocks(drop, hp.n_layer);
  for (size_t k = 0; k < kept.size(); ++k) {
    const int64_t from = kept[k];
    const auto to = static_cast<int64_t>(k);
    if (hp.swa_layer(from) != hp.swa_layer(to)) {
      const auto kind = [&](int64_t l) { return hp.swa_layer(l) ? "a sliding-window block" : "a global-attention block"; };
      throw std::invalid_argument("block " + std::to_string(from) + " is " + kind(from) + " but would become block " +
                                  std::to_string(to) + ", " + kind(to) + " (window " + std::to_string(hp.n_swa) +
                                  ", pattern " + std::to_string(hp.swa_pattern) +
                                  "): in this model only drops that keep every block's kind are possible");
    }
  }
  std::vector<int64_t> new_index(static_cast<size_t>(hp.n_layer), -1);
  for (size_t k = 0; k < kept.size(); ++k) new_index[static_cast<size_t>(kept[k])] = static_cast<int64_t>(k);

  prune_report report;
  report.blocks_in = hp.n_layer;
  report.blocks_out = static_cast<int64_t>(kept.size());
  const std::string p = hp.arch_name + ".";
  gguf_writer w;
  for (const auto& [key, value] : f.metadata()) {
    if (key == p + "block_count") {
      w.add_kv(std::string(key), gguf_meta_value::u32(static_cast<uint32_t>(kept.size())));
    } else if (key.starts_with(p) && value.type == gguf_value_type::array &&
               value.arr->count == static_cast<uint64_t>(hp.n_layer)) {
      w.add_kv(std::string(key), keep_entries(*value.arr, kept));
      report.per_block_arrays.emplace_back(key);
    } else {
      w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
    }
  }
  for (const gguf_tensor& t : f.tensors()) {
    ++report.tensors_in;
    report.bytes_in += t.nbytes;
    std::string name(t.name);
    if (const auto blk = block_of(t.name)) {
      const auto [k, rest] = *blk;
      if (k < 0 || k >= hp.n_layer) throw f.error("tensor '" + name + "': block " + std::to_string(k) + " out of range");
      const int64_t to = new_index[static_cast<size_t>(k)];
      if (to < 0) continue;
      name = "blk." + std::to_string(to) + "." + std::string(t.name.substr(rest));
    }
    ++report.tensors_out;
    report.bytes_out += t.nbytes;
    w.add_tensor(name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims),
                 [&t](const gguf_byte_sink& sink) { sink(t.data, t.nbytes); });
  }
  w.write(out);
  return report;
}

}  // namespace hearth
