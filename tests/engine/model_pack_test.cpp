// Repacking the weights at load is shared between threads (model::load's `threads`); the packed
// bytes must not depend on how many there were.
#include <catch2/catch.hpp>

#include <cstring>

#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "model/model.h"
#include "reference.h"

using namespace hearth;

TEST_CASE("model: the packed weights are the same bytes whatever the threads that packed them", "[model]") {
  const auto path = test::shared_path("models/stories260K-q4_0.gguf");
  const auto one = model::load(path, 1);
  const auto three = model::load(path, 3);
  int packed = 0;
  const auto same = [&](const weight& a, const weight& b) {
    REQUIRE((a.packed == nullptr) == (b.packed == nullptr));
    if (!a.packed) return;
    ++packed;
    CHECK(a.packed_group_bytes == b.packed_group_bytes);
    CHECK(std::memcmp(a.packed, b.packed, kernels::packed_bytes(a.type, a.rows, a.cols)) == 0);
  };
  same(one->output(), three->output());
  for (size_t i = 0; i < one->layers().size(); ++i) {
    const layer_weights& a = one->layers()[i];
    const layer_weights& b = three->layers()[i];
    for (auto w : {&layer_weights::wq, &layer_weights::wk, &layer_weights::wv, &layer_weights::wo,
                   &layer_weights::ffn_gate, &layer_weights::ffn_up, &layer_weights::ffn_down}) {
      same(a.*w, b.*w);
    }
  }
  // Where the kernels read a packed Q4_0 layout, this file's Q4_0 matrices were packed.
  if (kernels::gemm_packed_for(kernels::active(), ggml_type::q4_0)) CHECK(packed > 0);
  CHECK(one->packed_bytes() == three->packed_bytes());
}
