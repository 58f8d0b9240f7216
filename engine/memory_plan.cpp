#include "memory_plan.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string_view>

#include "forward.h"
#include "kv_cache.h"
#include "sampler.h"

namespace hearth {

namespace {

std::optional<uint64_t> read_number(const char* path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s)) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;  // "max": no limit
  return v;
}

// What the cgroup this process runs in (v2, else v1) still allows, if it sets a limit.
std::optional<uint64_t> cgroup_room() {
  for (auto [limit_file, usage_file] : {std::pair{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
                                        {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                         "/sys/fs/cgroup/memory/memory.usage_in_bytes"}}) {
    auto limit = read_number(limit_file), usage = read_number(usage_file);
    if (!limit || !usage || *limit >= (uint64_t{1} << 60)) continue;  // v1 writes "no limit" as ~2^63
    return *limit > *usage ? *limit - *usage : 0;
  }
  return std::nullopt;
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// The plan's inputs and the messages that name them.
struct planner {
  const model& m;
  const memory_settings& s;
  const hparams& hp;
  checked_size available;
  int64_t want = 0;  // positions per sequence wanted

  load_error error(const std::string& what) const { return m.file().error(what); }

  // "llama.block_count 22 × llama.attention.head_count_kv 4 × head dimension 64 × 2 (keys and
  // values) × 2 bytes": the fields that make one position of KV cache large.
  std::string position_fields() const {
    const std::string p = hp.arch_name + ".";
    return p + "block_count " + with_commas(hp.n_layer) + " × " + p + "attention.head_count_kv " +
           with_commas(hp.n_head_kv) + " × head dimension " + with_commas(hp.head_dim) +
           " × 2 (keys and values) × " + element_bytes();
  }
  // "2 bytes" (F16), "34/32 bytes" (Q8_0): one element of the cache.
  std::string element_bytes() const {
    if (s.kv_type == ggml_type::f16) return "2 bytes";
    return std::to_string(kv_cache::row_bytes(s.kv_type, 32)) + "/32 bytes (" + s.kv_type_name + " " +
           std::string(ggml_type_name(s.kv_type)) + ")";
  }

  // "--parallel 8", or "1 sequence" where the command has no such setting.
  std::string sequences() const {
    if (!s.sequences_name.empty()) return s.sequences_name + " " + std::to_string(s.sequences);
    return std::to_string(s.sequences) + (s.sequences == 1 ? " sequence" : " sequences");
  }
  std::string batch() const {
    return s.batch_name.empty() ? "a batch of " + with_commas(s.max_batch) + " rows"
                                : s.batch_name + " " + with_commas(s.max_batch);
  }
  // "lower --ctx or --parallel, or set --kv-budget-mib": the settings the command has.
  std::string remedy(const std::string& first) const {
    std::string r = "lower " + first;
    if (!s.sequences_name.empty()) r += " or " + s.sequences_name;
    if (!s.budget_name.empty()) r += ", or set " + s.budget_name;
    return r;
  }

  std::string context_source() const {
    if (s.context > 0 && s.context_explicit) return s.context_name + " " + with_commas(want);
    if (s.context > 0) return "context " + with_commas(want);
    const std::string field = hp.arch_name + ".context_length";
    if (want == hp.n_ctx_train) return "context " + with_commas(want) + " (" + field + ")";
    return "context " + with_commas(want) + " (" + field + " " + with_commas(hp.n_ctx_train) + ", at most " +
           with_commas(max_context) + ")";
  }

  // Positions per sequence wanted, bounded by the model's context and max_context.
  int64_t wanted_context() const {
    if (s.context > 0 && s.context_explicit && s.context > max_context) {
      throw error(s.context_name + " " + with_commas(s.context) + " exceeds the " + with_commas(max_context) +
                  " positions per sequence hearth supports");
    }
    const int64_t model_ctx = hp.n_ctx_train;
    return std::min({s.context > 0 ? s.context : model_ctx, model_ctx, max_context});
  }

  // Forward-pass buffers and sampler states for sequences of `context` positions; the part
  // that grows with the context (block pointers, token history) is a few bytes a position.
  checked_size scratch(int64_t context) const {
    return forward_pass::scratch_bytes(hp, s.max_batch, s.max_logit_rows,
                                       kv_cache::blocks_needed(context, s.block_size), s.threads, s.block_size,
                                       s.kv_type) +
           checked_size(s.sequences) * sampler::max_bytes(hp.n_vocab, context);
  }

  void check_scratch(checked_size scratch) const {
    if (scratch <= available) return;
    throw error("forward-pass buffers for " + batch() + " and " + sequences() + " (" + hp.arch_name + ".embedding_length " +
                with_commas(hp.n_embd) + ", " + hp.arch_name + ".feed_forward_length " + with_commas(hp.n_ff) +
                ", vocabulary " + with_commas(hp.n_vocab) + ") need " + format_bytes(scratch) + "; " +
                format_bytes(available) + " available: " +
                (s.batch_name.empty() ? std::string("not enough memory for this model") : remedy(s.batch_name)));
  }
};

// A budget the user gave: honoured exactly, or refused.
void plan_budget(const planner& p, checked_size left, memory_plan& plan) {
  const memory_settings& s = p.s;
  const checked_size block = kv_cache::bytes_per_block(p.hp, s.block_size, s.kv_type);
  if (checked_size(s.kv_budget) > left) {
    throw p.error(s.budget_name + " asks for " + format_bytes(s.kv_budget) + " of KV cache; " + format_bytes(left) +
                  " available: lower " + s.budget_name);
  }
  if (block > checked_size(s.kv_budget)) {
    throw p.error(s.budget_name + " " + format_bytes(s.kv_budget) + " holds no KV block of " + format_bytes(block) +
                  " (" + std::to_string(s.block_size) + " positions of " + p.position_fields() + ")");
  }
  // Blocks beyond every sequence's full context would never be used; their bookkeeping would.
  const int64_t useful = kv_cache::blocks_needed(p.want, s.block_size) * s.sequences;
  plan.kv_blocks = std::min<int64_t>(static_cast<int64_t>((checked_size(s.kv_budget) / block).value()), useful);
  plan.context_length = std::min<int64_t>(p.want, plan.kv_blocks * s.block_size);
  plan.summary = s.budget_name + " " + format_bytes(s.kv_budget);
}

// A context the user gave (and no budget): `sequences` full contexts, or refused.
void plan_explicit_context(const planner& p, checked_size left, memory_plan& plan) {
  const memory_settings& s = p.s;
  const int64_t blocks = kv_cache::blocks_needed(p.want, s.block_size);  // want <= max_context: no overflow below
  const checked_size need = kv_cache::bytes_for(p.hp, blocks * s.sequences, s.block_size, s.kv_type);
  if (need > left) {
    throw p.error("KV cache for " + p.sequences() + " × " + p.context_source() + " needs " + format_bytes(need) + "; " +
                  format_bytes(left) + " available: " + p.remedy(s.context_name));
  }
  plan.kv_blocks = blocks * s.sequences;
  plan.context_length = p.want;
  plan.summary = p.sequences() + " × " + p.context_source();
}

// Nothing given: `sequences` full contexts if they fit in default_kv_share of what is left,
// else as many positions as that share holds.
void plan_default(const planner& p, checked_size left, memory_plan& plan) {
  const memory_settings& s = p.s;
  const checked_size block = kv_cache::bytes_per_block(p.hp, s.block_size, s.kv_type);
  const int64_t blocks = kv_cache::blocks_needed(p.want, s.block_size) * s.sequences;
  const checked_size share = left.overflowed() ? left : checked_size(static_cast<uint64_t>(
                                                            static_cast<double>(left.value()) * default_kv_share));
  if (kv_cache::bytes_for(p.hp, blocks, s.block_size, s.kv_type) <= share) {
    plan.kv_blocks = blocks;
    plan.context_length = p.want;
    plan.summary = p.sequences() + " × " + p.context_source();
    return;
  }
  const checked_size per_block = block + sizeof(int32_t);
  const int64_t fit = per_block > share ? 0 : static_cast<int64_t>((share / per_block).value());
  const int64_t min_positions = std::min(p.want, min_default_context);
  if (fit * s.block_size < min_positions) {
    throw p.error("KV cache: one position takes " + format_bytes(kv_cache::bytes_per_position(p.hp, s.kv_type)) + " (" +
                  p.position_fields() + "); " + with_commas(min_positions) + " positions need " +
                  format_bytes(kv_cache::bytes_for(p.hp, kv_cache::blocks_needed(min_positions, s.block_size),
                                                   s.block_size, s.kv_type)) +
                  ", more than half of the " + format_bytes(left) + " available");
  }
  plan.kv_blocks = fit;
  plan.context_length = std::min(p.want, fit * s.block_size);
  plan.cut = true;
  plan.summary = "cut to half of the " + format_bytes(left) + " available (" + p.sequences() + " × " +
                 p.context_source() + " would need " + format_bytes(kv_cache::bytes_for(p.hp, blocks, s.block_size, s.kv_type)) +
                 "; set " + s.context_name + (s.budget_name.empty() ? "" : " or " + s.budget_name) + " to choose)";
}

}  // namespace

uint64_t available_memory() {
  if (const char* e = std::getenv("HEARTH_MEM_AVAILABLE_MIB")) {
    uint64_t mib = 0;
    auto [end, ec] = std::from_chars(e, e + std::string_view(e).size(), mib);
    if (ec == std::errc() && *end == '\0' && mib < (uint64_t{1} << 40)) return mib << 20;
  }
  uint64_t avail = std::numeric_limits<uint64_t>::max();
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    uint64_t kib = 0;
    if (key == "MemAvailable:" && meminfo >> kib) {
      avail = kib << 10;
      break;
    }
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  if (auto room = cgroup_room()) avail = std::min(avail, *room);
  return avail;
}

memory_plan plan_memory(const model& m, const memory_settings& s) {
  if (s.sequences < 1 || s.max_batch < 1 || s.max_logit_rows < 1 || s.block_size < 1 || s.threads < 1) {
    throw std::invalid_argument("plan_memory: sequences, batch, logit rows, block size and threads must be >= 1");
  }
  memory_plan plan;
  plan.block_size = s.block_size;
  plan.available = s.available.value_or(available_memory());
  planner p{m, s, m.hp(), plan.available};
  if (const char* why = kv_cache::type_problem(s.kv_type, m.hp().head_dim)) {
    throw p.error(s.kv_type_name + " " + std::string(ggml_type_name(s.kv_type)) + ": " + why + "; " + m.hp().arch_name +
                  ".attention.key_length (the head dimension) is " + with_commas(m.hp().head_dim) + ": use " +
                  s.kv_type_name + " f16");
  }
  p.want = p.wanted_context();
  const checked_size fixed = p.scratch(0);
  p.check_scratch(fixed);
  // What is left for the KV cache: beside buffers for the context asked for, or (default) for
  // none yet, as the context is still to be chosen; the total is checked below either way.
  if (s.kv_budget > 0) {
    plan_budget(p, saturating_sub(p.available, p.scratch(p.want)), plan);
  } else if (s.context > 0 && s.context_explicit) {
    plan_explicit_context(p, saturating_sub(p.available, p.scratch(p.want)), plan);
  } else {
    plan_default(p, saturating_sub(p.available, fixed), plan);
  }
  if (plan.kv_blocks > std::numeric_limits<int32_t>::max()) {
    throw p.error("a KV pool of " + with_commas(plan.kv_blocks) + " blocks exceeds the 2^31-1 blocks hearth addresses");
  }
  plan.kv_bytes = kv_cache::bytes_for(m.hp(), plan.kv_blocks, s.block_size, s.kv_type);
  plan.kv_type = s.kv_type;
  plan.scratch_bytes = p.scratch(plan.context_length);
  if (plan.kv_bytes + plan.scratch_bytes > p.available) {
    throw p.error("the KV cache (" + format_bytes(plan.kv_bytes) + ") and buffers for sequences of " +
                  with_commas(plan.context_length) + " positions (" + format_bytes(plan.scratch_bytes) + ") need more than the " +
                  format_bytes(p.available) + " available: lower " + s.context_name);
  }
  plan.summary = "KV cache " + format_bytes(plan.kv_bytes) + " (" + with_commas(plan.kv_blocks * s.block_size) +
                 " positions, context " + with_commas(plan.context_length) + " per sequence: " + plan.summary +
                 "), scratch " + format_bytes(plan.scratch_bytes) + ", " + format_bytes(plan.available) + " available";
  return plan;
}

}  // namespace hearth
