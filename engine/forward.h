#pragma once
// One forward pass of a transformer over a batch drawn from any number of sequences: prompt
// chunks of new sequences and single decode tokens of running ones, together. One pass serves
// every family: the architecture's descriptor (model/arch.h) and hyperparameters switch each
// step on or off (biases, Q/K norm, post-norms, soft-caps, sliding windows, the activation).
//
// Every operation works row by row (matmuls compute each output from its own row, attention
// reads only its own sequence's cache), so a row's result never depends on which other rows share
// the batch: a request gives the same tokens alone or batched.
//
// Owned and called by one thread (the scheduler's); holds scratch buffers sized for max_batch.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "checked_size.h"
#include "kv_cache.h"
#include "matmul.h"
#include "model/model.h"

namespace hearth {

struct batch_entry {
  token_id token = 0;
  int32_t pos = 0;      // position in its sequence
  int32_t seq = 0;      // kv_cache sequence id
  bool logits = false;  // produce this row's logits
  bool hidden = false;  // produce this row's final-normed hidden state (hidden())
};

class forward_pass {
 public:
  // Throws std::invalid_argument if max_batch or max_logit_rows is < 1, std::length_error if
  // the scratch buffers' size overflows (plan_memory checks it first).
  // context_length: positions one sequence may hold (chooses Phi-3's longrope factors, see
  // model::rope_freq_factors).
  forward_pass(const model& m, thread_pool& pool, int64_t max_batch, int64_t max_logit_rows, int64_t context_length);

  // Bytes of scratch memory a forward pass of these sizes holds at most: its own buffers, the
  // matmul runner's converted activations and each thread's attention buffers for sequences
  // of up to `seq_blocks` KV blocks of `block_size` positions in a cache of `kv_type` rows.
  static checked_size scratch_bytes(const hparams& hp, int64_t max_batch, int64_t max_logit_rows, int64_t seq_blocks,
                                    int threads, int32_t block_size = 16, ggml_type kv_type = ggml_type::f16);

  // Runs the batch. Preconditions: batch.size() <= max_batch, at most max_logit_rows entries
  // want logits, each entry's sequence has kv capacity > pos, no two entries share (seq, pos).
  // Every entry's key and value are stored before attention runs, so an entry attends to all
  // positions <= its own of its sequence, including those earlier in this batch.
  // Returns one n_vocab row of logits per entry with logits=true, in batch order.
  std::span<const float> run(kv_cache& kv, std::span<const batch_entry> batch);
  // The last run's hidden rows: one n_embd row per entry with hidden=true, in batch order, the
  // residual stream after the output norm (what the output projection multiplies; what an
  // embedding pools). Valid until the next run().
  std::span<const float> hidden() const { return {xn_.data(), static_cast<size_t>(hidden_rows_ * hp_.n_embd)}; }

  // Sees the residual stream around each block, for measuring what a block does (`hearth
  // prune`'s block influence): called by run() after block `layer`, with the m rows of n_embd
  // floats that entered it and those that left it (row i is batch entry i), valid during the
  // call only. While one is set, run() copies the residual stream before every block; unset
  // (the default, or an empty function) it costs nothing.
  using block_observer =
      std::function<void(int64_t layer, std::span<const float> x_in, std::span<const float> x_out)>;
  void set_block_observer(block_observer o) { observer_ = std::move(o); }

  // Sees the input of every weight-matrix product (`hearth imatrix`'s activation statistics):
  // called by run() before each matmul with the weight (w.tensor is its GGUF tensor) and the
  // `rows` rows of w.cols floats it multiplies (row i is the i-th row of that product: batch
  // entry i, or for the output projection the i-th row wanting logits), valid during the call
  // only. The views of one fused tensor multiplied by the same rows (Phi-3's Q, K, V in
  // attn_qkv; gate and up in ffn_up) are reported once, under the first view. Unset (the
  // default, or an empty function) it costs nothing.
  using matmul_observer = std::function<void(const weight& w, std::span<const float> x, int64_t rows)>;
  void set_matmul_observer(matmul_observer o) { matmul_observer_ = std::move(o); }

  int64_t max_batch() const { return max_batch_; }
  const model& get_model() const { return model_; }

 private:
  void embed(std::span<const batch_entry> batch);
  void attention_block(kv_cache& kv, std::span<const batch_entry> batch, int64_t layer);
  // Biases, Q/K norm, RoPE and query scaling of row i's q_ and k_; then its K and V into the cache.
  void prepare_row(kv_cache& kv, const batch_entry& e, int64_t i, int64_t layer);
  void ffn_block(int64_t m, int64_t layer);
  void add_block_output(int64_t m, const std::vector<float>& post_norm);
  // Reports a matmul's input to the matmul observer, if one is set (see set_matmul_observer).
  void observe(std::span<const matmul_job> jobs, const float* x, int64_t m) const;
  void rope(float* x, int64_t n_heads, int32_t pos, float theta_scale) const;
  void attend_group(const kv_cache& kv, const batch_entry& e, int64_t layer, int64_t kv_head, const float* q,
                    float* out) const;

  const model& model_;
  const hparams& hp_;
  matmul_runner mm_;
  int64_t max_batch_;
  int64_t max_logit_rows_;
  int64_t hidden_rows_ = 0;  // rows of xn_ that hidden() returns
  float attn_scale_;
  const std::vector<float>& rope_factors_;  // (rope_dim / 2) frequency divisors, or empty
  float rope_theta_scale_;      // freq_base^(-2/rope_dim): the angle ratio of consecutive pairs
  float rope_theta_scale_swa_;  // the same for sliding-window layers (rope_freq_base_swa)
  // Scratch, one role each; m is the batch size (at most max_batch), r the rows wanting logits.
  std::vector<float> x_;       // (m, n_embd) the residual stream of each row
  std::vector<float> xn_;      // (m, n_embd) x_ RMS-normed: the input of the next matmuls; after
                               // the output projection, the hidden rows (hidden())
  std::vector<float> q_;       // (m, n_head * head_dim) queries, roped
  std::vector<float> k_, v_;   // (m, n_head_kv * head_dim) keys (roped) and values, before they go to the cache
  std::vector<float> att_;     // (m, n_head * head_dim) attention output per head: the input of wo
  std::vector<float> delta_;   // (m, n_embd) what a block adds to x_: wo's output, then ffn_down's
  std::vector<float> gate_;    // (m, n_ff) gate projection, then silu(gate) * up in place: the input of ffn_down
  std::vector<float> up_;      // (m, n_ff) up projection
  std::vector<float> logits_;  // (r, n_vocab) output projection of the rows wanting logits
  block_observer observer_;
  matmul_observer matmul_observer_;
  std::vector<float> x_in_;    // (m, n_embd) x_ before the current block; used only with an observer
};

}  // namespace hearth
