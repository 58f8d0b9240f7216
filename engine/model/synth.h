#pragma once
// Writes GGUF files of a real model's shape with seeded random weights (normal x 0.02, norms 1):
// benchmark models, since speed does not depend on the values. Standard llama keys and tensor
// names, so other GGUF readers (llama.cpp) load them too.
//
// With `copying`, the model also has a behaviour worth measuring speculative decoding on: layers 0
// and 1 hold an induction circuit written by hand, so that greedy decoding continues the context
// by copying. At position m it predicts the token that followed the earlier position n whose two
// tokens before it equal tokens m-1 and m (t[n-2] = t[m-1], t[n-1] = t[m]), which is prompt
// lookup's rule; where no such n exists it gives the token after a partial match or noise. The
// rest of the weights stream as in the random model (every other attention output and every FFN
// down projection is zero, so they add nothing), so a step costs what it costs on a real model of
// that shape. How the circuit works:
//   - Each token's embedding is 1 in dimension 0 and a random unit-norm +-1/sqrt(N) code of N =
//     64 c dimensions (c chunks of one head each) in subspace A; the rest is zero.
//   - Layer 0: per chunk, two heads whose queries and keys come from dimension 0 alone, rotated so
//     that with RoPE their scores peak at a distance of 1 and 2 positions; their values are the
//     chunk of A, written to subspaces B1 (the previous token's code) and B2 (the one before).
//     rope.freq_base is 1e20, so that only the first pairs of each head rotate fast enough to
//     tell positions apart and the rest are still over a whole context: those carry layer 1.
//   - Layer 1: per chunk, a head whose query is (A, B1) and key (B1, B2) over the slow pairs: the
//     score is high where both earlier tokens match. Its value (A at the matched position, the
//     next token's code) goes to subspace C, and the output matrix scores each token's code
//     against C.
//   - Norm weights scale each RMSNorm so that it gives the residual back unscaled.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/ggml_type.h"
#include "model/quant_mix.h"

namespace hearth {

struct synth_shape {
  std::string_view name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
};

// tinyllama-1.1b (2048, 22 layers, 32 heads, 4 KV heads, ffn 5632, ctx 2048) and llama-160m
// (768, 12 layers, 12 heads, 12 KV heads, ffn 3072, ctx 2048).
const std::vector<synth_shape>& synth_shapes();
std::optional<synth_shape> find_synth_shape(std::string_view name);

struct synth_options {
  synth_shape shape;
  quant_mix mix = *find_quant_mix("q4_0");  // per-tensor types as llama-quantize picks them (norms F32)
  std::filesystem::path vocab_file;     // a GGUF whose tokenizer.* keys are copied
  uint64_t seed = 1;
  int threads = 1;                      // tensors generated in parallel
  bool copying = false;                 // the induction circuit above; needs n_embd >= 5 head dims
};

// Throws load_error (vocab file), std::invalid_argument (options) or std::system_error (I/O).
void write_synth_model(const synth_options& o, const std::filesystem::path& out);

}  // namespace hearth
