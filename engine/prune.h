#pragma once
// `hearth prune`: structured depth pruning by block influence (ShortGPT, Men et al. 2024). A
// transformer block that barely turns the residual stream contributes little: its influence is
//   BI_l = mean over calibration tokens of 1 - cos(x_in, x_out),
// x_in the hidden state (residual stream) entering block l and x_out the one leaving it. The
// blocks of least influence are removed from the file and the rest renumbered.
//
// Calibration runs the text like perplexity does (perplexity.h): its tokens, BOS first when the
// vocabulary adds one, cut into chunks of n_ctx (a shorter tail is dropped), each chunk from an
// empty cache with its first token replaced by BOS. Every position of every chunk counts.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "calibration.h"
#include "model/model.h"

namespace hearth {

// Chunk size, chunks, threads and progress of the calibration run (calibration.h).
using block_influence_options = calibration_options;

// BI_l of every block l (m.hp().n_layer values, each in [0, 2]), accumulated in double. A token
// whose x_in or x_out is the zero vector counts 0 if both are, else 1. Throws
// std::invalid_argument naming the problem when the options do not fit the model or the text
// holds less than one chunk.
std::vector<double> block_influence(const model& m, std::span<const token_id> tokens,
                                    const block_influence_options& o);

// The indices of the n smallest scores, ascending by index (ties: the lower index goes first).
// Throws std::invalid_argument unless 1 <= n < scores.size().
std::vector<int64_t> least_influential(std::span<const double> scores, int64_t n);

struct prune_report {
  int64_t blocks_in = 0, blocks_out = 0;
  int64_t tensors_in = 0, tensors_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data
  // Metadata arrays of one entry per block (under "<arch>."), shortened to the kept blocks.
  std::vector<std::string> per_block_arrays;
};

// Writes `in` without the blocks `drop` (block indices, any order, no duplicates): tensors
// blk.K.* of a dropped K are left out, those of the kept blocks renamed blk.0.., blk.1.., in
// order, their bytes copied unchanged; every other tensor is copied as is. Metadata is copied
// with <arch>.block_count set to the blocks kept and every per-block array under "<arch>."
// (an array of block_count entries) cut to the kept blocks' entries.
//
// Throws std::invalid_argument naming the problem when `drop` is empty, holds every block, an
// index out of range or a duplicate, or when the kept blocks would change attention: in a
// sliding-window model (hparams::swa_layer) a block's index decides whether it slides, so every
// kept block must land on an index of its own kind. Throws load_error for a file hearth cannot
// read; std::system_error on I/O. The output goes to OUT.tmp, renamed to OUT at the end
// (gguf_writer): OUT is never half-written.
prune_report prune_model(const std::filesystem::path& in, const std::filesystem::path& out,
                         std::span<const int64_t> drop);

}  // namespace hearth
