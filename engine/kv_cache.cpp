#include "kv_cache.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace hearth {

namespace {

bool storable(ggml_type t) { return t == ggml_type::f16 || t == ggml_type::q8_0 || t == ggml_type::q4_0; }

// Bytes of one block: keys and values of every layer and KV head, block_size rows each.
checked_size block_bytes(const hparams& hp, int32_t block_size, ggml_type type) {
  return checked_size(hp.n_layer) * 2 * hp.n_head_kv * block_size * kv_cache::row_bytes(type, hp.head_dim);
}

size_t checked_block_bytes(const hparams& hp, int32_t block_size, int64_t n_blocks, ggml_type type) {
  if (block_size <= 0 || n_blocks <= 0) throw std::invalid_argument("kv_cache: empty cache");
  if (n_blocks > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("kv_cache: more than 2^31-1 blocks");
  if (const char* why = kv_cache::type_problem(type, hp.head_dim)) throw std::invalid_argument(std::string("kv_cache: ") + why);
  const checked_size bytes = block_bytes(hp, block_size, type);
  if ((bytes * n_blocks).overflowed()) throw std::length_error("kv_cache: size overflows 64 bits");
  return bytes.size();
}

}  // namespace

const char* kv_cache::type_problem(ggml_type type, int64_t head_dim) {
  if (!storable(type)) return "the KV cache stores F16, Q8_0 or Q4_0 rows";
  if (type != ggml_type::f16 && head_dim % 32 != 0) {
    return type == ggml_type::q8_0 ? "Q8_0 rows need a head dimension that is a multiple of 32"
                                   : "Q4_0 rows need a head dimension that is a multiple of 32";
  }
  return nullptr;
}

const char* kv_cache::type_names() { return "f16, q8_0, q4_0"; }

std::optional<ggml_type> kv_cache::parse_type(std::string_view name) {
  for (ggml_type t : {ggml_type::f16, ggml_type::q8_0, ggml_type::q4_0}) {
    const std::string_view n = ggml_type_name(t);  // "Q8_0": either case is accepted
    if (name.size() == n.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return t;
    }
  }
  return std::nullopt;
}

size_t kv_cache::row_bytes(ggml_type type, int64_t head_dim) {
  const auto hd = static_cast<size_t>(head_dim);
  switch (type) {
    case ggml_type::q8_0: return hd / 32 * 34;  // block_q8_0: fp16 scale + 32 int8
    case ggml_type::q4_0: return hd / 32 * 18;  // block_q4_0: fp16 scale + 16 bytes of nibbles
    default: return hd * sizeof(uint16_t);
  }
}

checked_size kv_cache::bytes_per_position(const hparams& hp, ggml_type type) { return block_bytes(hp, 1, type); }

checked_size kv_cache::bytes_per_block(const hparams& hp, int32_t block_size, ggml_type type) {
  return block_bytes(hp, block_size, type);
}

checked_size kv_cache::bytes_for(const hparams& hp, int64_t n_blocks, int32_t block_size, ggml_type type) {
  return (bytes_per_block(hp, block_size, type) + 2 * sizeof(int32_t)) * n_blocks;  // + its entries in free_ and refs_
}

kv_cache::kv_cache(const hparams& hp, int64_t n_blocks, int32_t block_size, ggml_type type)
    : type_(type),
      block_size_(block_size),
      n_blocks_(n_blocks),
      n_head_kv_(hp.n_head_kv),
      row_bytes_(row_bytes(type, hp.head_dim)),
      slab_bytes_(static_cast<size_t>(block_size) * row_bytes_),
      block_bytes_(checked_block_bytes(hp, block_size, n_blocks, type)) {
  // calloc maps fresh zero pages: memory is committed only as blocks are written.
  data_.reset(static_cast<uint8_t*>(std::calloc(static_cast<size_t>(n_blocks), block_bytes_)));
  if (!data_) throw std::bad_alloc();
  written_ = std::make_unique<std::atomic<bool>[]>(static_cast<size_t>(n_blocks));
  free_.reserve(n_blocks);
  refs_.assign(static_cast<size_t>(n_blocks), 0);
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int32_t kv_cache::seq_create() {
  int32_t id;
  if (!free_seq_ids_.empty()) {
    id = free_seq_ids_.back();
    free_seq_ids_.pop_back();
  } else {
    id = static_cast<int32_t>(seqs_.size());
    seqs_.emplace_back();
  }
  seqs_[id].active = true;
  seqs_[id].blocks.clear();
  return id;
}

void kv_cache::seq_free(int32_t seq) {
  seq_state& s = seqs_.at(seq);
  if (!s.active) return;
  for (int32_t b : s.blocks) release_block(b);
  s.blocks.clear();
  s.active = false;
  free_seq_ids_.push_back(seq);
}

bool kv_cache::seq_reserve(int32_t seq, int64_t n_positions) {
  seq_state& s = seqs_.at(seq);
  int64_t need = blocks_needed(n_positions, block_size_) - static_cast<int64_t>(s.blocks.size());
  if (need <= 0) return true;
  if (need > free_blocks()) return false;
  for (int64_t i = 0; i < need; ++i) s.blocks.push_back(take_block());
  return true;
}

int32_t kv_cache::take_block() {
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void kv_cache::seq_share(int32_t src, int32_t dst, int64_t n_blocks) {
  const seq_state& from = seqs_.at(src);
  seq_state& to = seqs_.at(dst);
  if (!from.active || !to.active || !to.blocks.empty() || n_blocks < 0 ||
      n_blocks > static_cast<int64_t>(from.blocks.size())) {
    throw std::invalid_argument("kv_cache::seq_share: needs a live source holding the blocks and a live, empty target");
  }
  for (int64_t i = 0; i < n_blocks; ++i) {
    const int32_t b = from.blocks[static_cast<size_t>(i)];
    ++refs_[static_cast<size_t>(b)];
    to.blocks.push_back(b);
  }
}

void kv_cache::copy_block(int32_t src, int32_t dst, int64_t index) {
  const seq_state& from = seqs_.at(src);
  const seq_state& to = seqs_.at(dst);
  const auto i = static_cast<size_t>(index);
  if (index < 0 || i >= from.blocks.size() || i >= to.blocks.size() || from.blocks[i] == to.blocks[i]) {
    throw std::invalid_argument("kv_cache::copy_block: both sequences must hold their own block at " + std::to_string(index));
  }
  const int32_t b = to.blocks[i];
  written_[b].store(true, std::memory_order_relaxed);
  std::memcpy(data_.get() + static_cast<size_t>(b) * block_bytes_,
              data_.get() + static_cast<size_t>(from.blocks[i]) * block_bytes_, block_bytes_);
}

void kv_cache::seq_truncate(int32_t seq, int64_t n_positions) {
  seq_state& s = seqs_.at(seq);
  auto keep = static_cast<size_t>(blocks_needed(n_positions, block_size_));
  while (s.blocks.size() > keep) {
    release_block(s.blocks.back());
    s.blocks.pop_back();
  }
}

void kv_cache::release_block(int32_t b) {
  if (--refs_[static_cast<size_t>(b)] > 0) return;  // another sequence still reads it
  // Called between forward passes (the scheduler thread), so no writer is running.
  if (written_[b].exchange(false, std::memory_order_relaxed)) {
    std::memset(data_.get() + static_cast<size_t>(b) * block_bytes_, 0, block_bytes_);
  }
  free_.push_back(b);
}

int64_t kv_cache::seq_capacity(int32_t seq) const {
  return static_cast<int64_t>(seqs_.at(seq).blocks.size()) * block_size_;
}

}  // namespace hearth
