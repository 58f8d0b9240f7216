#pragma once
// How much memory a loaded model will need to run, decided before any of it is allocated.
//
// `hearth serve`, `run` and `bench` all size the engine here: the KV cache (positions per
// sequence × sequences × bytes per position), the forward pass's scratch buffers (batch rows ×
// the widest activation, logit rows × vocabulary) and one sampler state per sequence. Every
// size derives from file metadata and settings, so each is computed with checked_size and
// compared with the memory available (available_memory()) before the engine is built. The
// weights themselves are mapped from the file (page cache) and not counted; repacked weights
// are checked when they are made (model::load).
//
// Choices:
// - Settings the user gave are honoured or refused, never silently changed: an explicit context
//   or KV budget that does not fit is a load_error naming the setting and both amounts.
// - Without them, the KV cache holds `sequences` full contexts (the model's context_length,
//   at most max_context) if that fits in default_kv_share of the memory left after the scratch
//   buffers; otherwise the pool is cut to that share and the context per sequence to what the
//   pool holds, and summary says so. A pool that cannot hold min_default_context positions is
//   a load_error naming the model's fields that make a position large.
//
// Pure function of its inputs: thread-safe.
#include <cstdint>
#include <optional>
#include <string>

#include "checked_size.h"
#include "model/model.h"

namespace hearth {

// Positions per sequence hearth runs at most, whatever context_length a file claims (batch
// positions are int32; no released model is trained beyond this).
constexpr int64_t max_context = int64_t{1} << 24;
// Positions the default KV pool must hold at least (or the whole context, if shorter).
constexpr int64_t min_default_context = 256;
// Share of the available memory the default KV pool may take: the rest stays for the weights'
// pages, the page cache and everything else on the machine.
constexpr double default_kv_share = 0.5;

struct memory_settings {
  int32_t sequences = 1;          // sequences that run at once (each its sampler, one logit row)
  int64_t context = 0;            // positions per sequence wanted; 0: the model's context length
  bool context_explicit = false;  // the user asked for `context`: refuse rather than cut it
  uint64_t kv_budget = 0;         // bytes of KV cache the user asked for; 0: decide here
  int64_t max_batch = 512;        // rows of one forward pass
  int64_t max_logit_rows = 1;     // rows of one forward pass that produce logits
  int threads = 1;                // compute threads (each holds small attention buffers)
  int32_t block_size = 16;        // positions per KV block
  ggml_type kv_type = ggml_type::f16;  // the KV cache's row type (kv_cache::type_problem)
  // Bytes available; nullopt: available_memory().
  std::optional<uint64_t> available;
  // How the user names each setting, for messages ("--ctx", "-n"...).
  std::string context_name = "--ctx";
  std::string budget_name = "--kv-budget-mib";
  std::string sequences_name = "--parallel";
  std::string batch_name = "--batch";
  std::string kv_type_name = "--kv-type";
};

struct memory_plan {
  int64_t context_length = 0;     // positions per sequence
  int64_t kv_blocks = 0;          // KV pool size, in blocks of block_size positions
  int32_t block_size = 16;
  ggml_type kv_type = ggml_type::f16;
  checked_size kv_bytes;          // the KV pool
  checked_size scratch_bytes;     // forward-pass buffers and sampler states
  uint64_t available = 0;         // what the plan was checked against
  bool cut = false;               // the default context was cut to fit in memory
  std::string summary;            // one line for the log: what was chosen and why
};

// Throws load_error (prefixed with the model's path) naming the setting or the model's fields
// and the amounts when the settings cannot be met.
memory_plan plan_memory(const model& m, const memory_settings& s);

// Bytes of memory this process may still allocate: /proc/meminfo's MemAvailable, lowered to
// the cgroup's memory limit minus its usage when one is set. HEARTH_MEM_AVAILABLE_MIB in the
// environment overrides it (for tests, and for machines where MemAvailable misleads).
uint64_t available_memory();

}  // namespace hearth
