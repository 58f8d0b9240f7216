#include "pooling.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace hearth {

namespace {

void l2_normalize(std::vector<float>& v) {
  double norm2 = 0;
  for (float x : v) norm2 += static_cast<double>(x) * x;
  const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
  for (float& x : v) x = static_cast<float>(x * inv);
}

}  // namespace

std::string_view pooling_name(pooling_type p) {
  switch (p) {
    case pooling_type::mean: return "mean";
    case pooling_type::cls: return "cls";
    case pooling_type::last: return "last";
    case pooling_type::none: break;
  }
  return "none";
}

std::optional<pooling_type> pooling_from_gguf(int64_t value) {
  if (value < 0 || value > 3) return std::nullopt;
  return static_cast<pooling_type>(value);
}

std::optional<pooling_type> pooling_from_name(std::string_view name) {
  for (pooling_type p : {pooling_type::none, pooling_type::mean, pooling_type::cls, pooling_type::last}) {
    if (pooling_name(p) == name) return p;
  }
  return std::nullopt;
}

embedding_pool::embedding_pool(pooling_type p, int64_t dim, int64_t n_rows) : type_(p), n_rows_(n_rows) {
  if (p == pooling_type::none || dim < 1 || n_rows < 1) throw std::invalid_argument("embedding_pool: nothing to pool");
  sum_.assign(static_cast<size_t>(dim), 0.0f);
}

bool embedding_pool::wants(int64_t pos) const {
  switch (type_) {
    case pooling_type::mean: return pos >= 0 && pos < n_rows_;
    case pooling_type::cls: return pos == 0;
    case pooling_type::last: return pos == n_rows_ - 1;
    case pooling_type::none: break;
  }
  return false;
}

void embedding_pool::add(std::span<const float> row) {
  if (row.size() != sum_.size()) throw std::invalid_argument("embedding_pool: a row of the wrong width");
  for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += row[i];
  ++added_;
}

std::vector<float> embedding_pool::finish() const {
  std::vector<float> out = sum_;
  if (type_ == pooling_type::mean) {
    for (float& x : out) x /= static_cast<float>(n_rows_);
  }
  l2_normalize(out);
  return out;
}

void truncate_embedding(std::vector<float>& v, int64_t dims) {
  if (dims < 1 || dims >= static_cast<int64_t>(v.size())) return;
  v.resize(static_cast<size_t>(dims));
  l2_normalize(v);
}

}  // namespace hearth
