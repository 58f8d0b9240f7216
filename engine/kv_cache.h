#pragma once
// The key/value cache of every running sequence, in one memory budget cut into fixed-size blocks
// of `block_size` positions (paged attention). A sequence owns a list of blocks; blocks of any
// sequence are interchangeable, so sequences of any length share the budget without
// fragmentation, and a finished sequence's blocks are reused at once.
//
// Rows are stored in the cache's type: F16 (the default, as llama.cpp's), or Q8_0 / Q4_0 (half
// and about a quarter of F16's bytes; each head's row of head_dim elements quantized in 32-element
// blocks by the types' reference quantizers, so head_dim must be a multiple of 32 — the rule
// llama.cpp applies too). Within a block, each layer's keys are stored head-major:
// [kv_head][pos][row], so attention reads one head's keys contiguously; values likewise.
//
// Its size is decided by plan_memory (memory_plan.h) before it is built; the constructor still
// refuses sizes that overflow rather than wrap.
// Privacy: a block released by seq_free or seq_truncate is zeroed if it was written since it was
// last zeroed, so one request's keys and values never outlive it in memory. "Written" means a
// writable pointer into it was taken (keys()/values() non-const); blocks never written are left
// alone, so their pages stay uncommitted.
//
// Sharing: several sequences may hold the same block (seq_share: the choices of one request
// reading their common prompt). A block is reference-counted and released (zeroed) when its last
// holder lets go; shared blocks are read-only by contract (no holder writes positions in them
// again), so sharing needs no copy on write: a sequence that must write into a block it
// shares is given its own block and copy_block() instead.
//
// Not thread-safe: only the scheduler thread (and the forward pass it runs) touches it.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "checked_size.h"
#include "gguf/ggml_type.h"
#include "model/hparams.h"

namespace hearth {

class kv_cache {
 public:
  // n_blocks blocks of block_size positions each, rows of type `type`. Throws
  // std::invalid_argument for an empty cache, more than 2^31-1 blocks or a type it cannot store
  // for this head dimension (check_type), std::length_error if its bytes overflow, and
  // std::bad_alloc if the memory cannot be had.
  kv_cache(const hparams& hp, int64_t n_blocks, int32_t block_size = 16, ggml_type type = ggml_type::f16);

  // Whether the cache can hold rows of `type` (F16, Q8_0, Q4_0) for head dimension head_dim;
  // nullptr if it can, else why not ("Q8_0 rows need a head dimension that is a multiple of 32").
  static const char* type_problem(ggml_type type, int64_t head_dim);
  // "f16, q8_0, q4_0": the types --kv-type accepts; parse_type reads one of those names.
  static const char* type_names();
  static std::optional<ggml_type> parse_type(std::string_view name);
  // Bytes of one head's row of head_dim elements in `type`.
  static size_t row_bytes(ggml_type type, int64_t head_dim);
  // Bytes of one position (every layer's keys and values) and of one block.
  static checked_size bytes_per_position(const hparams& hp, ggml_type type = ggml_type::f16);
  static checked_size bytes_per_block(const hparams& hp, int32_t block_size = 16, ggml_type type = ggml_type::f16);
  // Bytes of a cache of n_blocks blocks, its bookkeeping included.
  static checked_size bytes_for(const hparams& hp, int64_t n_blocks, int32_t block_size = 16,
                                ggml_type type = ggml_type::f16);

  ggml_type type() const { return type_; }
  size_t row_bytes() const { return row_bytes_; }
  int32_t block_size() const { return block_size_; }
  int64_t n_blocks() const { return n_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return n_blocks_ - free_blocks(); }
  size_t bytes() const { return block_bytes_ * n_blocks_; }

  // A new, empty sequence; returns its id.
  int32_t seq_create();
  // Releases the sequence and all its blocks (zeroed, see the top).
  void seq_free(int32_t seq);
  // Ensures room for positions [0, n_positions). All or nothing: false (and no change) if the
  // free blocks do not suffice.
  bool seq_reserve(int32_t seq, int64_t n_positions);
  // Makes `dst` (live and empty) hold the first n_blocks blocks of `src` too; neither may write
  // positions in them afterwards. Throws std::invalid_argument if dst is not empty or src holds
  // fewer blocks.
  void seq_share(int32_t src, int32_t dst, int64_t n_blocks);
  // Copies the whole block at `index` of src's list over the one at `index` of dst's (each its
  // own): the part of a shared prompt that ends inside a block. Throws std::invalid_argument if
  // either holds no block there or they hold the same one.
  void copy_block(int32_t src, int32_t dst, int64_t index);
  // Sequences holding block b (0: free).
  int32_t block_holders(int32_t b) const { return refs_[static_cast<size_t>(b)]; }
  // Drops positions >= n_positions, releasing whole blocks no longer needed (zeroed).
  void seq_truncate(int32_t seq, int64_t n_positions);
  int64_t seq_capacity(int32_t seq) const;
  const std::vector<int32_t>& seq_blocks(int32_t seq) const { return seqs_[seq].blocks; }
  static int64_t blocks_needed(int64_t n_positions, int32_t block_size) {
    return n_positions / block_size + (n_positions % block_size != 0);
  }

  // [block_size][row_bytes()] keys (values) of one kv head of one layer in one block: F16
  // elements, or the quantized type's blocks. The writable views mark the block written; they
  // may be taken from several threads at once.
  uint8_t* keys(int32_t block, int64_t layer, int64_t kv_head) {
    written_[block].store(true, std::memory_order_relaxed);
    return slab(block, layer, 0, kv_head);
  }
  uint8_t* values(int32_t block, int64_t layer, int64_t kv_head) {
    written_[block].store(true, std::memory_order_relaxed);
    return slab(block, layer, 1, kv_head);
  }
  const uint8_t* keys(int32_t block, int64_t layer, int64_t kv_head) const {
    return const_cast<kv_cache*>(this)->slab(block, layer, 0, kv_head);
  }
  const uint8_t* values(int32_t block, int64_t layer, int64_t kv_head) const {
    return const_cast<kv_cache*>(this)->slab(block, layer, 1, kv_head);
  }

 private:
  uint8_t* slab(int32_t block, int64_t layer, int kv, int64_t kv_head) {
    return data_.get() + static_cast<size_t>(block) * block_bytes_ +
           ((layer * 2 + kv) * n_head_kv_ + kv_head) * slab_bytes_;
  }

  struct seq_state {
    bool active = false;
    std::vector<int32_t> blocks;
  };
  // Drops one holder of block b; the last one zeroes it if it was written and frees it.
  void release_block(int32_t b);
  int32_t take_block();

  ggml_type type_;
  int32_t block_size_;
  int64_t n_blocks_;
  int64_t n_head_kv_;
  size_t row_bytes_;    // one head's row of head_dim elements
  size_t slab_bytes_;   // block_size * row_bytes
  size_t block_bytes_;  // n_layer * 2 * n_head_kv * slab_bytes
  struct free_deleter { void operator()(uint8_t* p) const { std::free(p); } };
  std::unique_ptr<uint8_t[], free_deleter> data_;
  std::unique_ptr<std::atomic<bool>[]> written_;  // per block, since it was last zeroed
  std::vector<int32_t> free_;
  std::vector<int32_t> refs_;  // per block: the sequences holding it
  std::vector<seq_state> seqs_;
  std::vector<int32_t> free_seq_ids_;
};

}  // namespace hearth
