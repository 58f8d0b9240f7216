#pragma once
// The key/value cache of every running sequence, in one memory budget cut into fixed-size blocks
// of `block_size` positions (paged attention). A sequence owns a list of blocks; blocks of any
// sequence are interchangeable, so sequences of any length share the budget without
// fragmentation, and a finished sequence's blocks are reused at once.
//
// Values are F16. Within a block, each layer's keys are stored head-major: [kv_head][pos][dim],
// so attention reads one head's keys contiguously; values likewise.
//
// Its size is decided by plan_memory (memory_plan.h) before it is built; the constructor still
// refuses sizes that overflow rather than wrap.
// Privacy: a block released by seq_free or seq_truncate is zeroed if it was written since it was
// last zeroed, so one request's keys and values never outlive it in memory. "Written" means a
// writable pointer into it was taken (keys()/values() non-const); blocks never written are left
// alone, so their pages stay uncommitted.
//
// Not thread-safe: only the scheduler thread (and the forward pass it runs) touches it.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "checked_size.h"
#include "model/hparams.h"

namespace hearth {

class kv_cache {
 public:
  // n_blocks blocks of block_size positions each. Throws std::invalid_argument for an empty
  // cache or more than 2^31-1 blocks, std::length_error if its bytes overflow, and
  // std::bad_alloc if the memory cannot be had.
  kv_cache(const hparams& hp, int64_t n_blocks, int32_t block_size = 16);

  // Bytes of one position (every layer's keys and values) and of one block.
  static checked_size bytes_per_position(const hparams& hp);
  static checked_size bytes_per_block(const hparams& hp, int32_t block_size = 16);
  // Bytes of a cache of n_blocks blocks, its bookkeeping included.
  static checked_size bytes_for(const hparams& hp, int64_t n_blocks, int32_t block_size = 16);

  int32_t block_size() const { return block_size_; }
  int64_t n_blocks() const { return n_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return n_blocks_ - free_blocks(); }
  size_t bytes() const { return block_elems_ * n_blocks_ * sizeof(uint16_t); }

  // A new, empty sequence; returns its id.
  int32_t seq_create();
  // Releases the sequence and all its blocks (zeroed, see the top).
  void seq_free(int32_t seq);
  // Ensures room for positions [0, n_positions). All or nothing: false (and no change) if the
  // free blocks do not suffice.
  bool seq_reserve(int32_t seq, int64_t n_positions);
  // Drops positions >= n_positions, releasing whole blocks no longer needed (zeroed).
  void seq_truncate(int32_t seq, int64_t n_positions);
  int64_t seq_capacity(int32_t seq) const;
  const std::vector<int32_t>& seq_blocks(int32_t seq) const { return seqs_[seq].blocks; }
  static int64_t blocks_needed(int64_t n_positions, int32_t block_size) {
    return n_positions / block_size + (n_positions % block_size != 0);
  }

  // [block_size][head_dim] keys (values) of one kv head of one layer in one block. The writable
  // views mark the block written; they may be taken from several threads at once.
  uint16_t* keys(int32_t block, int64_t layer, int64_t kv_head) {
    written_[block].store(true, std::memory_order_relaxed);
    return slab(block, layer, 0, kv_head);
  }
  uint16_t* values(int32_t block, int64_t layer, int64_t kv_head) {
    written_[block].store(true, std::memory_order_relaxed);
    return slab(block, layer, 1, kv_head);
  }
  const uint16_t* keys(int32_t block, int64_t layer, int64_t kv_head) const {
    return const_cast<kv_cache*>(this)->slab(block, layer, 0, kv_head);
  }
  const uint16_t* values(int32_t block, int64_t layer, int64_t kv_head) const {
    return const_cast<kv_cache*>(this)->slab(block, layer, 1, kv_head);
  }

 private:
  uint16_t* slab(int32_t block, int64_t layer, int kv, int64_t kv_head) {
    return data_.get() + static_cast<size_t>(block) * block_elems_ +
           ((layer * 2 + kv) * n_head_kv_ + kv_head) * slab_elems_;
  }

  struct seq_state {
    bool active = false;
    std::vector<int32_t> blocks;
  };
  // Zeroes block b if it was written, then returns it to the free list.
  void release_block(int32_t b);

  int32_t block_size_;
  int64_t n_blocks_;
  int64_t n_head_kv_;
  size_t slab_elems_;   // block_size * head_dim
  size_t block_elems_;  // n_layer * 2 * n_head_kv * slab_elems
  struct free_deleter { void operator()(uint16_t* p) const { std::free(p); } };
  std::unique_ptr<uint16_t[], free_deleter> data_;
  std::unique_ptr<std::atomic<bool>[]> written_;  // per block, since it was last zeroed
  std::vector<int32_t> free_;
  std::vector<seq_state> seqs_;
  std::vector<int32_t> free_seq_ids_;
};

}  // namespace hearth
