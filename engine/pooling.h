#pragma once
// How an embedding model turns the hidden states of an input's tokens into one vector (GGUF
// `<arch>.pooling_type`, as llama.cpp numbers it): the mean of every row, the first row (CLS)
// or the last row; then L2-normalized, as OpenAI-style embedding endpoints return them.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace hearth {

enum class pooling_type : uint8_t { none = 0, mean = 1, cls = 2, last = 3 };

// "none", "mean", "cls" or "last".
std::string_view pooling_name(pooling_type p);
// The type of a GGUF pooling_type value, or nullopt for a value hearth does not pool with
// (4, rank: a reranker's classification head; anything else).
std::optional<pooling_type> pooling_from_gguf(int64_t value);
// The type named by pooling_name(), or nullopt.
std::optional<pooling_type> pooling_from_name(std::string_view name);

// Pools the rows of one input of `n_rows` tokens, fed in any order but each wanted row once.
// Sums in float in the order rows are added (position order when fed in order, as a prefill
// feeds them), so one input gives the same vector however its rows were batched.
class embedding_pool {
 public:
  // Throws std::invalid_argument for pooling none, dim < 1 or n_rows < 1.
  embedding_pool(pooling_type p, int64_t dim, int64_t n_rows);

  // Whether the row at position `pos` (0 .. n_rows-1) counts.
  bool wants(int64_t pos) const;
  // Adds a wanted row of dim floats.
  void add(std::span<const float> row);
  // Every wanted row was added.
  bool complete() const { return added_ == (type_ == pooling_type::mean ? n_rows_ : 1); }
  // The pooled vector, L2-normalized (a zero vector stays zero). Precondition: complete().
  std::vector<float> finish() const;

 private:
  pooling_type type_;
  int64_t n_rows_;
  int64_t added_ = 0;
  std::vector<float> sum_;
};

// Keeps the first `dims` components of an L2-normalized embedding and normalizes them again:
// the shortened vectors of Matryoshka-trained models. dims >= v.size() leaves v as it is.
void truncate_embedding(std::vector<float>& v, int64_t dims);

}  // namespace hearth
