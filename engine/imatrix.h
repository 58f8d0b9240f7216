#pragma once
// Importance matrices, as llama.cpp's `llama-imatrix` computes them and `llama-quantize
// --imatrix` uses them: for every weight matrix the forward pass multiplies, per input column j,
// the sum over every row it multiplied of x_j² (the activations entering the matmul) and the
// number of rows. in_sum2 / count, the mean square of column j, then weighs element j's error in
// the quantizers' scale search (type_traits::quantize_weighted): columns that carry large
// activations on the user's own text are kept more precisely.
//
// Collection runs the text like perplexity does (perplexity.h): its tokens, BOS first when the
// vocabulary adds one, cut into chunks of n_ctx (a shorter tail is dropped), each chunk from an
// empty cache in one pass with its first token replaced by BOS. Every position counts. As
// llama-imatrix by default, only the blocks' matrices (blk.*) are collected, not the output
// projection; a fused tensor (Phi-3's attn_qkv, ffn_up) is one entry under its own name.
//
// The file is llama.cpp's GGUF imatrix format (tools/imatrix/imatrix.cpp save_imatrix): metadata
// general.type = "imatrix", imatrix.datasets (array of strings), imatrix.chunk_count and
// imatrix.chunk_size (u32); per weight W, sorted by name, tensors "W.in_sum2" (F32, ne [n_cols,
// n_mat]) and "W.counts" (F32, ne [1, n_mat]); n_mat is 1 here (no experts).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace hearth {

struct imatrix_entry {
  int64_t n_cols = 0;
  std::vector<float> in_sum2;   // n_mat rows of n_cols: sum of x_j² over the rows multiplied (float, as llama.cpp)
  std::vector<int64_t> counts;  // n_mat: rows multiplied
};

struct importance_matrix {
  std::map<std::string, imatrix_entry> entries;  // by weight tensor name
  std::vector<std::string> datasets;             // the texts it was computed on
  uint32_t chunk_count = 0, chunk_size = 0;

  // The importance per input column of weight `name` as llama-quantize computes it: in_sum2 /
  // count (1 for a matrix with count 0); empty when there is no entry.
  std::vector<float> importance(const std::string& name) const;
};

struct imatrix_options {
  int64_t n_ctx = 512;      // tokens per chunk (>= 2, at most the model's trained context)
  int64_t max_chunks = -1;  // chunks to run at most; -1: all the text holds
  int threads = 1;
  std::string dataset;      // recorded in imatrix.datasets (llama-imatrix records the text's path)
  // Called after each chunk with the chunks done and how many there are.
  std::function<void(int64_t done, int64_t total)> on_chunk;
};

// Runs the text's chunks through the model, summing every blk.* matmul's squared inputs per
// column (in float, row by row, as llama-imatrix). Throws std::invalid_argument naming the
// problem when the options do not fit the model or the text holds less than one chunk.
importance_matrix collect_imatrix(const model& m, std::span<const token_id> tokens, const imatrix_options& o);

// Writes the GGUF imatrix file (to PATH.tmp, renamed at the end: gguf_writer). Throws
// std::system_error on I/O.
void write_imatrix(const importance_matrix& im, const std::filesystem::path& path);

// Reads an imatrix file as llama-quantize does (common_imatrix_load). GGUF: every "W.in_sum2"
// needs its "W.counts" and the metadata keys must be present. Anything not starting with "GGUF"
// is read as the legacy .dat format (little-endian): i32 entry count; per entry i32 name length,
// the name, i32 ncall, i32 n_values, n_values f32 (mean squares times ncall); then optionally
// i32 chunk count, i32 length and the dataset name. A legacy entry becomes in_sum2 = its values
// and counts = {ncall} (1 when 0), so importance() gives llama-quantize's values / ncall;
// chunk_size is 0. Throws load_error naming the file and what is wrong.
importance_matrix read_imatrix(const std::filesystem::path& path);

}  // namespace hearth
