#pragma once
// `hearth quantize`: a GGUF model rewritten with its weight matrices in a llama-quantize file type
// ("q4_k_m", ...), as llama-quantize writes it: the same type per tensor (quant_mix.h), each row
// quantized by llama.cpp's reference rules (type_traits::quantize), every metadata key copied
// except general.file_type and general.quantization_version, which are set. Vectors (norms,
// biases), RoPE factor tables and non-weight tensors are copied unchanged.
//
// With an importance matrix (imatrix.h; llama-quantize --imatrix), a tensor with an entry of its
// name is quantized by its type's weighted quantizer (type_traits::quantize_weighted; Q8_0 and
// float types ignore it, as ggml) with in_sum2 / count as the weight of each column, the mix
// follows llama.cpp's has_imatrix rules, and the metadata records quantize.imatrix.file,
// .dataset (the first), .entries_count and .chunks_count (u32, as llama-quantize writes them).
//
// The output goes to OUT.tmp and is renamed to OUT at the end (gguf_writer): OUT is never
// half-written. Memory: the input is mapped and each tensor's pages released once it is written
// (gguf_file::release_pages); one tensor's output is held at a time.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/ggml_type.h"
#include "imatrix.h"
#include "model/quant_mix.h"

namespace hearth {

struct quantize_tensor_event {
  std::string name;
  ggml_type from, to;
  int64_t index = 0, count = 0;       // tensor index (0-based) and how many there are
  uint64_t bytes_in = 0, bytes_out = 0;
};

struct quantize_options {
  quant_mix mix;
  int threads = 1;
  // An importance matrix, or null; imatrix_file names it in quantize.imatrix.file.
  const importance_matrix* imatrix = nullptr;
  std::string imatrix_file;
  // Called once every tensor's type is chosen, before anything is converted or written (the
  // report's counts, fallbacks and requantized tensors are final then).
  std::function<void(const struct quantize_report&)> on_plan;
  // Called after each tensor is written, in file order.
  std::function<void(const quantize_tensor_event&)> on_tensor;
};

struct quantize_report {
  int64_t tensors = 0, quantized = 0;  // all tensors; those given a new type
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data, before and after
  uint64_t weights = 0;                // elements of every tensor
  // "blk.0.ffn_down.weight: rows of 172 do not fit Q4_K's 256-element blocks: Q5_0 instead"
  std::vector<std::string> fallbacks;
  // Tensors that were already quantized in the input (requantizing loses more than quantizing
  // the original F16/F32 does): "blk.0.attn_q.weight (Q8_0)".
  std::vector<std::string> requantized;
  // With an importance matrix: the tensors quantized with it, and those quantized to a type that
  // takes one but without, having no entry ("blk.0.attn_q.weight").
  int64_t weighted = 0;
  std::vector<std::string> without_imatrix;

  double bits_per_weight() const { return weights ? 8.0 * static_cast<double>(bytes_out) / static_cast<double>(weights) : 0; }
};

// Throws load_error (naming the input and the field or tensor) for a file it cannot read, a
// tensor type it cannot convert, a missing architecture key or an importance matrix entry whose
// column count differs from the tensor's rows; std::system_error on I/O.
quantize_report quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                               const quantize_options& o);

class model;

// `serve --quantize TYPE` / `run --quantize TYPE`, for people who have only the F16 file: `in`
// quantized exactly as quantize_model writes it, then loaded. The quantized file goes to the
// temporary directory ($TMPDIR, else /tmp) and is unlinked as soon as it is mapped: its pages are
// page cache like any model file's, nothing is left behind, and the disk holds it only while the
// process runs. Throws what quantize_model and model::load throw.
std::unique_ptr<model> load_quantized(const std::filesystem::path& in, const quantize_options& o);

}  // namespace hearth
