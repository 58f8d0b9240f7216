#include "kv_cache.h"

#include <limits>
#include <cstring>
#include <new>
#include <stdexcept>

namespace hearth {

namespace {

// Elements of one block: keys and values of every layer and KV head, block_size positions each.
checked_size elems_per_block(const hparams& hp, int32_t block_size) {
  return checked_size(hp.n_layer) * 2 * hp.n_head_kv * block_size * hp.head_dim;
}

size_t checked_elems_per_block(const hparams& hp, int32_t block_size, int64_t n_blocks) {
  if (block_size <= 0 || n_blocks <= 0) throw std::invalid_argument("kv_cache: empty cache");
  if (n_blocks > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("kv_cache: more than 2^31-1 blocks");
  const checked_size elems = elems_per_block(hp, block_size);
  if ((elems * n_blocks * sizeof(uint16_t)).overflowed()) throw std::length_error("kv_cache: size overflows 64 bits");
  return elems.size();
}

}  // namespace

checked_size kv_cache::bytes_per_position(const hparams& hp) { return elems_per_block(hp, 1) * sizeof(uint16_t); }

checked_size kv_cache::bytes_per_block(const hparams& hp, int32_t block_size) {
  return elems_per_block(hp, block_size) * sizeof(uint16_t);
}

checked_size kv_cache::bytes_for(const hparams& hp, int64_t n_blocks, int32_t block_size) {
  return (bytes_per_block(hp, block_size) + sizeof(int32_t)) * n_blocks;  // + its entry in free_
}

kv_cache::kv_cache(const hparams& hp, int64_t n_blocks, int32_t block_size)
    : block_size_(block_size),
      n_blocks_(n_blocks),
      n_head_kv_(hp.n_head_kv),
      slab_elems_(static_cast<size_t>(block_size) * hp.head_dim),
      block_elems_(checked_elems_per_block(hp, block_size, n_blocks)) {
  // calloc maps fresh zero pages: memory is committed only as blocks are written.
  data_.reset(static_cast<uint16_t*>(std::calloc(static_cast<size_t>(n_blocks), block_elems_ * sizeof(uint16_t))));
  if (!data_) throw std::bad_alloc();
  written_ = std::make_unique<std::atomic<bool>[]>(static_cast<size_t>(n_blocks));
  free_.reserve(n_blocks);
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
  for (int64_t i = 0; i < need; ++i) {
    s.blocks.push_back(free_.back());
    free_.pop_back();
  }
  return true;
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
  // Called between forward passes (the scheduler thread), so no writer is running.
  if (written_[b].exchange(false, std::memory_order_relaxed)) {
    std::memset(data_.get() + static_cast<size_t>(b) * block_elems_, 0, block_elems_ * sizeof(uint16_t));
  }
  free_.push_back(b);
}

int64_t kv_cache::seq_capacity(int32_t seq) const {
  return static_cast<int64_t>(seqs_.at(seq).blocks.size()) * block_size_;
}

}  // namespace hearth
