#pragma once
// What makes a transformer family: one descriptor per `general.architecture`, read by
// read_hparams (which keys exist), model::bind_weights (which tensors, fused or not) and
// forward_pass (which operations each layer runs). Adding a family is one file in arch/
// defining its descriptor plus one row in arch/registry.cpp.
//
// Descriptors are immutable constants; any thread may read them.
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class gguf_file;
struct hparams;

enum class rope_style { norm, neox };        // adjacent pairs (LLaMA) / split halves (NeoX)
enum class ffn_activation { silu, gelu_tanh };  // the gate's activation in act(gate) * up

struct arch_desc {
  const char* name;  // general.architecture
  // Set for a family hearth knows but cannot run: why (a load error quotes it).
  const char* refusal = nullptr;
  rope_style rope = rope_style::norm;
  ffn_activation activation = ffn_activation::silu;
  bool fused_qkv = false;        // one `attn_qkv` tensor: Q rows, then K rows, then V rows
  bool fused_gate_up = false;    // `ffn_up` holds 2 * n_ff rows: gate rows, then up rows
  bool qk_norm = false;          // per-head RMSNorm of Q and K (`attn_q_norm`, `attn_k_norm`) before RoPE
  bool post_norms = false;       // RMSNorm of each block's output before the residual add
  bool embd_scale = false;       // embeddings multiplied by sqrt(n_embd)
  // The attention scale multiplies the queries before they are rounded to F16 (llama.cpp's
  // graphs for these families do), rather than each q·k score.
  bool scale_queries = false;
  bool rope_factors = false;     // optional `rope_factors_short`/`_long` tensors (Phi-3 longrope)
  // Family keys beyond the common ones (soft-caps, sliding window); nullptr when none.
  void (*read_extra)(const gguf_file& f, const std::string& prefix, hparams& hp) = nullptr;
};

// The descriptor of an architecture name, or nullptr when hearth has none.
const arch_desc* find_arch(std::string_view name);
// The names of the families that run, comma-separated (for error messages).
std::string supported_arch_names();

}  // namespace hearth
