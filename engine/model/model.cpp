#include "model/model.h"

#include <cmath>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

#include "checked_size.h"
#include "fnv1a.h"
#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "memory_plan.h"

namespace hearth {

std::unique_ptr<model> model::load(const std::filesystem::path& path, int threads, const pack_cache_options& cache) {
  gguf_file f = gguf_file::open(path);
  hparams hp = read_hparams(f);
  class vocab v = vocab::from_gguf(f);
  std::unique_ptr<model> m(new model(std::move(f), std::move(hp), std::move(v)));
  m->bind_weights();
  m->pack_weights(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())), cache);
  return m;
}

model::model(gguf_file f, hparams hp, class vocab v)
    : file_(std::move(f)), hp_(std::move(hp)), vocab_(std::move(v)) {}

std::optional<std::string> model::file_changed() const {
  if (auto what = file_.change_on_disk()) {
    return "model file " + file_.path() + " changed on disk while in use; restart hearth (" + *what + ")";
  }
  if (pack_cache_) {
    if (auto what = pack_cache_->change_on_disk()) {
      return "pack cache " + pack_cache_->path() + " changed on disk while in use; restart hearth (" + *what + ")";
    }
  }
  return std::nullopt;
}

namespace {

std::string supported_types() { return kernels::supported_type_names(); }

}  // namespace

weight model::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  const gguf_tensor* t = file_.find_tensor(name);
  if (!t) throw file_.error("missing tensor '" + name + "'");
  if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows) {
    throw file_.error("tensor '" + name + "': shape " + t->shape_string() + " (expected [" +
                      std::to_string(cols) + ", " + std::to_string(rows) + "])");
  }
  if (!kernels::is_matmul_type(t->type)) {
    throw file_.error("tensor '" + name + "': type " + std::string(ggml_type_name(t->type)) +
                      " is not supported (supported: " + supported_types() + ")");
  }
  weight w;
  w.tensor = t;
  w.type = t->type;
  w.data = t->data;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = ggml_row_size(t->type, cols);
  return w;
}

std::vector<float> model::vector(const std::string& name, int64_t n, bool required) const {
  const gguf_tensor* t = file_.find_tensor(name);
  if (!t) {
    if (required) throw file_.error("missing tensor '" + name + "'");
    return {};
  }
  if (t->n_dims != 1 || t->ne[0] != n) {
    throw file_.error("tensor '" + name + "': shape " + t->shape_string() + " (expected [" +
                      std::to_string(n) + "])");
  }
  kernels::dequant_fn dq = kernels::dequant_for(t->type);
  if (!dq) {
    throw file_.error("tensor '" + name + "': type " + std::string(ggml_type_name(t->type)) +
                      " is not supported (supported: " + supported_types() + ")");
  }
  std::vector<float> out(n);
  dq(t->data, out.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(out[i])) {
      throw file_.error("tensor '" + name + "': element " + std::to_string(i) + " is not finite");
    }
  }
  return out;
}

weight model::rows_of(const std::string& name, int64_t total_rows, int64_t first, int64_t rows,
                      int64_t cols) const {
  weight w = matrix(name, total_rows, cols);
  w.data += static_cast<size_t>(first) * w.row_bytes;
  w.rows = rows;
  return w;
}

void model::bind_attention(layer_weights& L, const std::string& p) const {
  const int64_t d = hp_.n_embd, qd = hp_.q_dim(), kvd = hp_.kv_dim();
  L.attn_norm = vector(p + "attn_norm.weight", d);
  if (hp_.arch->fused_qkv) {
    const std::string n = p + "attn_qkv.weight";
    L.wq = rows_of(n, qd + 2 * kvd, 0, qd, d);
    L.wk = rows_of(n, qd + 2 * kvd, qd, kvd, d);
    L.wv = rows_of(n, qd + 2 * kvd, qd + kvd, kvd, d);
  } else {
    L.wq = matrix(p + "attn_q.weight", qd, d);
    L.wk = matrix(p + "attn_k.weight", kvd, d);
    L.wv = matrix(p + "attn_v.weight", kvd, d);
  }
  L.bq = vector(p + "attn_q.bias", qd, false);
  L.bk = vector(p + "attn_k.bias", kvd, false);
  L.bv = vector(p + "attn_v.bias", kvd, false);
  if (hp_.arch->qk_norm) {
    L.q_norm = vector(p + "attn_q_norm.weight", hp_.head_dim);
    L.k_norm = vector(p + "attn_k_norm.weight", hp_.head_dim);
  }
  L.wo = matrix(p + "attn_output.weight", d, qd);
  if (hp_.arch->post_norms) L.attn_post_norm = vector(p + "post_attention_norm.weight", d);
}

void model::bind_ffn(layer_weights& L, const std::string& p) const {
  const int64_t d = hp_.n_embd, ff = hp_.n_ff;
  L.ffn_norm = vector(p + "ffn_norm.weight", d);
  if (hp_.arch->fused_gate_up) {
    L.ffn_gate = rows_of(p + "ffn_up.weight", 2 * ff, 0, ff, d);
    L.ffn_up = rows_of(p + "ffn_up.weight", 2 * ff, ff, ff, d);
  } else {
    L.ffn_gate = matrix(p + "ffn_gate.weight", ff, d);
    L.ffn_up = matrix(p + "ffn_up.weight", ff, d);
  }
  L.ffn_down = matrix(p + "ffn_down.weight", d, ff);
  if (hp_.arch->post_norms) L.ffn_post_norm = vector(p + "post_ffw_norm.weight", d);
}

void model::bind_rope_factors() {
  const int64_t n = hp_.rope_dim / 2;
  rope_freq_factors_ = vector("rope_freqs.weight", n, false);
  if (rope_freq_factors_.empty() && hp_.arch->rope_factors) {
    rope_freq_factors_ = vector("rope_factors_short.weight", n, false);
    rope_factors_long_ = vector("rope_factors_long.weight", n, false);
  }
  for (const auto* factors : {&rope_freq_factors_, &rope_factors_long_}) {
    for (size_t i = 0; i < factors->size(); ++i) {
      if (!((*factors)[i] > 0)) {
        throw file_.error("RoPE frequency factor " + std::to_string(i) + ": " + std::to_string((*factors)[i]) +
                          " (expected > 0)");
      }
    }
  }
}

void model::bind_weights() {
  const gguf_tensor* embd = file_.find_tensor("token_embd.weight");
  if (!embd) throw file_.error("missing tensor 'token_embd.weight'");
  if (embd->n_dims != 2 || embd->ne[0] != hp_.n_embd) {
    throw file_.error("tensor 'token_embd.weight': shape " + embd->shape_string() + " (expected [" +
                      std::to_string(hp_.n_embd) + ", n_vocab])");
  }
  hp_.n_vocab = embd->ne[1];
  if (hp_.n_vocab != vocab_.size()) {
    throw file_.error("tensor 'token_embd.weight': " + std::to_string(hp_.n_vocab) +
                      " rows, but the vocabulary has " + std::to_string(vocab_.size()) + " tokens");
  }
  if (auto vs = file_.get_int(hp_.arch_name + ".vocab_size"); vs && *vs != hp_.n_vocab) {
    throw file_.error("metadata '" + hp_.arch_name + ".vocab_size': " + std::to_string(*vs) +
                      " (expected " + std::to_string(hp_.n_vocab) + ", the rows of token_embd.weight)");
  }
  tok_embd_ = matrix("token_embd.weight", hp_.n_vocab, hp_.n_embd);
  output_norm_ = vector("output_norm.weight", hp_.n_embd);
  tied_output_ = file_.find_tensor("output.weight") == nullptr;
  output_ = tied_output_ ? tok_embd_ : matrix("output.weight", hp_.n_vocab, hp_.n_embd);
  bind_rope_factors();

  layers_.resize(hp_.n_layer);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    bind_attention(layers_[l], p);
    bind_ffn(layers_[l], p);
  }
  for (const gguf_tensor& t : file_.tensors()) weight_bytes_ += t.nbytes;
}

}  // namespace hearth

namespace hearth {

void model::pack_weights(int threads, const pack_cache_options& cache) {
  const kernels::kernel_set& ks = kernels::active();
  std::vector<weight*> matrices;
  for (weight* w : {&output_}) matrices.push_back(w);
  for (layer_weights& l : layers_) {
    for (weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) matrices.push_back(w);
  }
  std::erase_if(matrices, [&](const weight* w) {
    return !kernels::gemm_packed_for(ks, w->type) || !kernels::packable(w->type);
  });
  if (matrices.empty()) {
    if (!cache.path.empty() && cache.log) {
      cache.log("pack cache " + cache.path.string() + ": not used: the " + ks.name +
                " kernels read this model's weights as stored");
    }
    return;
  }
  // One arena, 2 MiB-aligned so the kernel can back it with huge pages: a decode step streams
  // every weight once, and 4 KiB pages would cost a TLB miss every 4 KiB. Unlike the mapping,
  // it is anonymous memory committed at once: check it fits before taking it.
  constexpr size_t huge = size_t{2} << 20, align = 64;
  checked_size total;
  std::vector<checked_size> starts;  // each matrix's place in the arena (or the cache's payload, laid out the same)
  for (const weight* w : matrices) {
    starts.push_back(total);
    total += round_up(kernels::packed_bytes(w->type, w->rows, w->cols), align);
  }
  const checked_size arena_bytes = round_up(total, huge);
  if (const uint64_t avail = available_memory(); arena_bytes > checked_size(avail)) {
    throw file_.error("repacking " + std::to_string(matrices.size()) + " weight matrices for the " + ks.name +
                      " kernels needs " + format_bytes(arena_bytes) + "; " + format_bytes(avail) + " available");
  }
  packed_bytes_ = total.size();
  std::vector<size_t> offsets;
  for (const checked_size& s : starts) offsets.push_back(s.size());  // below arena_bytes: no overflow
  std::optional<pack_cache_key> key;
  bool write_cache = false;
  if (!cache.path.empty()) {
    key = cache_key(matrices, offsets, arena_bytes.size());
    std::string why;
    if (auto c = pack_cache::map(cache.path, *key, why)) {
      // A decode step streams every weight: through 4 KiB pages it would be slower than from the
      // arena (a TLB miss every 4 KiB), so such a cache is left unused (and not rewritten).
      const size_t huge_bytes = c->huge_mapped_bytes();
      if (!cache.require_huge_pages || huge_bytes >= arena_bytes.size() / 10 * 9) {
        for (size_t m = 0; m < matrices.size(); ++m) {
          matrices[m]->packed = c->payload() + offsets[m];
          matrices[m]->packed_group_bytes = kernels::packed_group_bytes(matrices[m]->type, matrices[m]->cols);
        }
        pack_cache_ = std::move(c);
        if (cache.log) cache.log("pack cache " + cache.path.string() + ": mapped (" + format_bytes(total) + ")");
        return;
      }
      why = "the page cache maps only " + format_bytes(checked_size(huge_bytes)) + " of it with 2 MiB pages here";
      if (cache.log) cache.log("pack cache " + cache.path.string() + ": not used: " + why + "; repacking");
    } else {
      write_cache = true;
      if (cache.log) cache.log("pack cache " + cache.path.string() + ": not used: " + why + "; repacking, and writing it");
    }
  }
  auto* arena = static_cast<uint8_t*>(std::aligned_alloc(huge, arena_bytes.size()));
  if (!arena) throw file_.error("cannot allocate " + format_bytes(arena_bytes) + " to repack the weights");
  packed_arena_.reset(arena);
  madvise(arena, arena_bytes.size(), MADV_HUGEPAGE);
  // Each matrix's groups of 16 rows, in chunks, to whichever thread is free (packing is a
  // page-fault-bound copy: a start-up cost that scales with the threads).
  struct chunk {
    const weight* w;
    size_t matrix;  // index into matrices
    uint8_t* dst;   // the matrix's packed bytes
    int64_t begin, end;
  };
  std::vector<chunk> chunks;
  constexpr int64_t groups_per_chunk = 64;
  const auto chunks_left = std::make_unique<std::atomic<int64_t>[]>(matrices.size());
  for (size_t m = 0; m < matrices.size(); ++m) {
    weight* w = matrices[m];
    uint8_t* dst = arena + offsets[m];
    w->packed = dst;
    w->packed_group_bytes = kernels::packed_group_bytes(w->type, w->cols);
    const int64_t groups = (w->rows + 15) / 16;
    for (int64_t g = 0; g < groups; g += groups_per_chunk) chunks.push_back({w, m, dst, g, std::min(groups, g + groups_per_chunk)});
    chunks_left[m].store((groups + groups_per_chunk - 1) / groups_per_chunk, std::memory_order_relaxed);
  }
  // Once a matrix is packed, only embedding lookups read its stored bytes (a tied output shares
  // them): the kernel may drop their pages from this process at once (they stay in the page
  // cache), so the mapping and the arena are never both resident.
  const long page = sysconf(_SC_PAGESIZE);
  const auto release_stored = [page](const weight& w) {
    auto begin = reinterpret_cast<uintptr_t>(w.data);
    auto end = begin + static_cast<size_t>(w.rows) * w.row_bytes;  // a view's rows only
    begin = (begin + page - 1) / page * page;
    end = end / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  };
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mu;
  const auto work = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < chunks.size();) {
        const chunk& c = chunks[i];
        kernels::pack_weights(c.w->type, c.w->data, c.w->row_bytes, c.w->rows, c.w->cols, c.dst, c.begin, c.end);
        if (chunks_left[c.matrix].fetch_sub(1, std::memory_order_acq_rel) == 1) release_stored(*c.w);
      }
    } catch (...) {
      std::lock_guard lock(failure_mu);
      if (!failure) failure = std::current_exception();
      next.store(chunks.size());
    }
  };
  std::vector<std::thread> helpers;
  const auto n_helpers = static_cast<size_t>(std::clamp<int64_t>(threads, 1, static_cast<int64_t>(chunks.size())) - 1);
  for (size_t t = 0; t < n_helpers; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  if (failure) std::rethrow_exception(failure);
  if (write_cache) {
    // The arena is read-only from here on; the model's destructor stops and joins the writer.
    cache_writer_ = std::jthread([path = cache.path, log = cache.log, key = std::move(*key), arena](std::stop_token stop) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::string error = pack_cache::write(path, key, arena, stop);
      if (!log) return;
      if (!error.empty()) {
        log("pack cache " + path.string() + ": not written: " + error);
      } else {
        const std::chrono::duration<double> s = std::chrono::steady_clock::now() - t0;
        char took[32];
        std::snprintf(took, sizeof took, "%.1f s", s.count());
        log("pack cache " + path.string() + ": written (" + format_bytes(checked_size(key.payload_bytes)) + ", " + took +
            "); later starts map it");
      }
    });
  }
}

// What a cache must match to stand for these matrices packed from this file by the active kernels.
pack_cache_key model::cache_key(const std::vector<weight*>& matrices, const std::vector<size_t>& offsets,
                                size_t payload_bytes) const {
  pack_cache_key k;
  k.kernels = kernels::active().name;
  k.model_size = file_.file_size();
  k.model_mtime_ns = file_.mtime_ns();
  const std::span<const uint8_t> head = file_.header_bytes();
  k.model_hash = fnv1a64(head.data(), head.size());
  std::vector<ggml_type> types;
  for (size_t m = 0; m < matrices.size(); ++m) {
    const weight& w = *matrices[m];
    k.matrices.push_back({w.type, w.rows, w.cols, offsets[m], kernels::packed_bytes(w.type, w.rows, w.cols)});
    if (std::find(types.begin(), types.end(), w.type) == types.end()) types.push_back(w.type);
  }
  std::sort(types.begin(), types.end());
  k.layout_hash = pack_layout_hash(types);
  k.payload_bytes = payload_bytes;
  return k;
}

}  // namespace hearth
