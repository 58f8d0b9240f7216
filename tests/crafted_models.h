#pragma once
// Hostile model files of the kinds issue 7 found, written with hearth's own GGUF writer: the
// engine and CLI tests load them to check that each fails cleanly (or runs) instead of
// corrupting memory, crashing or aborting.
#include <cstdint>
#include <filesystem>
#include <string>

namespace hearth::test {

// A llama model with stories260K's tokenizer (512 tokens) and these hyperparameters. With
// `real_weights`, the dimensions must be stories260K's and its weights are copied (the model
// writes English); otherwise every tensor is F32 zeros and all of them share the bytes at
// offset 0 of the data section (which the format allows), so absurd shapes make a small file.
struct crafted_llama {
  uint64_t context_length = 512;
  uint32_t block_count = 5;
  uint32_t head_count = 8;
  uint32_t head_count_kv = 4;
  uint32_t key_length = 8;  // head dimension
  uint32_t embedding_length = 64;
  uint32_t feed_forward_length = 172;
  bool real_weights = true;
};
void write_crafted_llama(const crafted_llama& c, const std::filesystem::path& out);

// Issue 7, hole 1: context_length 2^31, 4,096 layers, 128 KV heads of dimension 1,024, tensors
// all at offset 0. The KV cache for 8 sequences is 2^64 bytes: the old sizing wrapped to 0.
crafted_llama kv_overflow_model();
// Issue 7, hole 12: stories260K with context_length 2^31 (the old `run` asked for 1.3 TiB).
crafted_llama huge_context_model();

// stories260K (head dimension 8) rewritten with head dimension `head_dim` (a multiple of 8)
// computing the same function, for what needs wider heads (a quantized KV cache stores 32-element
// blocks per head). Each head's 8 dimensions go where RoPE turns them at the same angles (pair i
// of 4 becomes pair i * head_dim / 8, adjacent pairs), the other dimensions of Q, K, V and the
// matching columns of attn_output are zero, and Q is scaled by sqrt(head_dim / 8) to undo the
// smaller 1/sqrt(head_dim) attention scale (a power of two for head_dim 32: exact).
void write_wide_head_stories(const std::filesystem::path& out, uint32_t head_dim);

// Issue 7, hole 7: a GGUF file (no tensors) whose metadata key `key` holds `n` empty nested
// arrays: 12 bytes each on disk, far more once parsed.
void write_nested_arrays(const std::filesystem::path& out, const std::string& key, uint64_t n);

}  // namespace hearth::test
