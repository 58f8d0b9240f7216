#include "fake_engine.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

namespace hearth::test {

namespace {

constexpr uint64_t hash_seed = 14695981039346656037ull;  // FNV-1a offset basis, as lifetime::hash

uint64_t extend(uint64_t h, token_id t) {
  h ^= static_cast<uint32_t>(t);
  return h * 1099511628211ull;
}

// splitmix64's finalizer: spreads every bit of h over the result.
uint64_t mix(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

uint64_t hash_of(std::span<const token_id> history) {
  uint64_t h = hash_seed;
  for (token_id t : history) h = extend(h, t);
  return h;
}

}  // namespace

std::string fake_engine::bytes_of(token_id id) {
  static const char* const special[] = {
      " ", "He", "llo", " world", "!", "\n", "ST", "OP",  // 27..34
      "\xC3", "\xA9",                                      // 35, 36: é split
      "\xE2\x82", "\xAC",                                  // 37, 38: € split
      "\xF0\x9F", "\x99\x82",                              // 39, 40: 🙂 split
      "\xC3\xA9",                                          // 41: é whole
  };
  if (id >= 1 && id <= 26) return std::string(1, static_cast<char>('a' + id - 1));
  if (id >= 27 && id <= 41) return special[id - 27];
  if (id >= 42 && id < n_vocab) return std::string(1, static_cast<char>('A' + id - 42));
  return {};
}

fake_engine::fake_engine(fake_engine_options o, std::vector<script> scripts)
    : options_(o), scripts_(std::move(scripts)), free_blocks_(o.total_blocks) {
  logits_.resize(static_cast<size_t>(o.max_logit_rows) * n_vocab);
}

token_id fake_engine::next_token(std::span<const token_id> history) const {
  return next_after(history, hash_of(history));
}

std::vector<float> fake_engine::logits(std::span<const token_id> history) const {
  std::vector<float> row(n_vocab);
  fill_logits(history, hash_of(history), row.data());
  return row;
}

token_id fake_engine::next_after(std::span<const token_id> history, uint64_t hash) const {
  for (const script& s : scripts_) {
    if (history.size() < s.prompt.size() || history.size() >= s.prompt.size() + s.continuation.size()) continue;
    if (!std::equal(s.prompt.begin(), s.prompt.end(), history.begin())) continue;
    // Scripted while the history follows the script so far.
    const size_t k = history.size() - s.prompt.size();
    if (std::equal(s.continuation.begin(), s.continuation.begin() + k, history.begin() + s.prompt.size())) {
      return s.continuation[k];
    }
  }
  const uint64_t h = mix(hash);
  return first_plain + static_cast<token_id>(h % (last_plain - first_plain + 1));
}

std::vector<token_id> fake_engine::greedy(const std::vector<token_id>& prompt, int32_t max_tokens) const {
  std::vector<token_id> history = prompt, out;
  while (static_cast<int32_t>(out.size()) < max_tokens) {
    const token_id t = next_token(history);
    out.push_back(t);
    if (t == eog) break;
    history.push_back(t);
  }
  return out;
}

void fake_engine::fill_logits(std::span<const token_id> history, uint64_t h, float* row) const {
  const token_id hot = next_after(history, h);
  for (token_id j = 0; j < n_vocab; ++j) {
    if (j == hot) {
      row[j] = 4.0f;
    } else if (j >= first_plain && j <= last_plain) {
      row[j] = static_cast<float>(static_cast<double>(mix(h ^ (0x9E3779B97F4A7C15ull * (j + 1))) >> 11) *
                                  0x1.0p-53 * 2.0);
    } else {
      row[j] = -30.0f;
    }
  }
}

void fake_engine::fail_on_call(int64_t n) {
  std::lock_guard lock(mu_);
  fail_on_call_ = n;
}

void fake_engine::hold_blocks(int64_t n) {
  std::lock_guard lock(mu_);
  free_blocks_ -= n;
}

void fake_engine::fail_next_reserve() {
  std::lock_guard lock(mu_);
  fail_next_reserve_ = true;
}

int64_t fake_engine::free_blocks() const {
  std::lock_guard lock(mu_);
  return free_blocks_;
}

int32_t fake_engine::seq_create() {
  std::lock_guard lock(mu_);
  auto it = std::find(live_.begin(), live_.end(), -1);
  const auto seq = static_cast<int32_t>(it - live_.begin());
  if (it == live_.end()) live_.push_back(-1);
  live_[seq] = static_cast<int>(lifetimes_.size());
  lifetimes_.push_back({seq, {}, 0, false});
  return seq;
}

void fake_engine::seq_free(int32_t seq) {
  std::lock_guard lock(mu_);
  if (seq < 0 || seq >= static_cast<int32_t>(live_.size()) || live_[seq] < 0) {
    violation("seq_free of a sequence that is not live: " + std::to_string(seq));
    return;
  }
  lifetime& l = lifetimes_[live_[seq]];
  free_blocks_ += l.capacity / options_.block_size;
  l.freed = true;
  live_[seq] = -1;
}

bool fake_engine::seq_reserve(int32_t seq, int64_t n_positions) {
  std::lock_guard lock(mu_);
  if (seq < 0 || seq >= static_cast<int32_t>(live_.size()) || live_[seq] < 0) {
    violation("seq_reserve of a sequence that is not live: " + std::to_string(seq));
    return false;
  }
  if (std::exchange(fail_next_reserve_, false)) return false;
  lifetime& l = lifetimes_[live_[seq]];
  const int64_t need = kv_cache::blocks_needed(n_positions, options_.block_size) - l.capacity / options_.block_size;
  if (need <= 0) return true;
  if (need > free_blocks_) return false;
  free_blocks_ -= need;
  l.capacity += need * options_.block_size;
  return true;
}

void fake_engine::seq_truncate(int32_t seq, int64_t n_positions) {
  std::lock_guard lock(mu_);
  if (seq < 0 || seq >= static_cast<int32_t>(live_.size()) || live_[seq] < 0) {
    violation("seq_truncate of a sequence that is not live: " + std::to_string(seq));
    return;
  }
  lifetime& l = lifetimes_[live_[seq]];
  if (n_positions < static_cast<int64_t>(l.history.size())) {
    l.history.resize(static_cast<size_t>(n_positions));
    l.hash = lifetime{}.hash;
    for (token_id t : l.history) l.hash = extend(l.hash, t);
  }
  const int64_t keep = kv_cache::blocks_needed(n_positions, options_.block_size) * options_.block_size;
  if (keep < l.capacity) {
    free_blocks_ += (l.capacity - keep) / options_.block_size;
    l.capacity = keep;
  }
}

// Checks every row against the forward contract; false if a row names no live sequence (the
// batch is then not run).
bool fake_engine::check_rows(std::span<const batch_entry> batch) {
  if (batch.empty()) violation("empty batch");
  if (static_cast<int64_t>(batch.size()) > options_.max_batch) {
    violation("batch of " + std::to_string(batch.size()) + " rows");
  }
  const auto n_logits = std::count_if(batch.begin(), batch.end(), [](const batch_entry& e) { return e.logits; });
  if (n_logits > options_.max_logit_rows) violation(std::to_string(n_logits) + " logit rows");
  max_rows_seen_ = std::max<int64_t>(max_rows_seen_, static_cast<int64_t>(batch.size()));
  max_logit_rows_seen_ = std::max<int64_t>(max_logit_rows_seen_, n_logits);
  for (const batch_entry& e : batch) {
    if (e.seq < 0 || e.seq >= static_cast<int32_t>(live_.size()) || live_[e.seq] < 0) {
      violation("row for a sequence that is not live: " + std::to_string(e.seq));
      return false;
    }
    if (e.token < 0 || e.token >= n_vocab) violation("token out of range: " + std::to_string(e.token));
  }
  return true;
}

std::span<const float> fake_engine::forward(std::span<const batch_entry> batch) {
  if (options_.step_us > 0 || options_.row_us > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(options_.step_us + options_.row_us * static_cast<int64_t>(batch.size())));
  }
  std::lock_guard lock(mu_);
  ++calls_;
  if (!check_rows(batch)) return {};
  std::vector<int> in_batch, rows;
  bool starts = false, continues = false;
  for (const batch_entry& e : batch) {
    const int l = live_[e.seq];
    const auto at = std::find(in_batch.begin(), in_batch.end(), l);
    if (at != in_batch.end()) {
      ++rows[static_cast<size_t>(at - in_batch.begin())];
    } else {
      in_batch.push_back(l);
      rows.push_back(1);
      if (lifetimes_[l].history.empty()) starts = true;
      else continues = true;
    }
  }
  if (calls_ == fail_on_call_) {
    failed_rows_.assign(batch.begin(), batch.end());
    throw std::runtime_error("injected failure");
  }
  batch_log_.push_back(in_batch);
  row_log_.push_back(rows);
  joined_while_running_ = joined_while_running_ || (starts && continues);
  int64_t r = 0;
  for (const batch_entry& e : batch) {
    lifetime& l = lifetimes_[live_[e.seq]];
    const std::string where = "seq " + std::to_string(e.seq) + " pos " + std::to_string(e.pos);
    if (e.pos != static_cast<int32_t>(l.history.size())) {
      violation(where + ": expected pos " + std::to_string(l.history.size()));
    }
    if (e.pos >= l.capacity) violation(where + ": beyond the reserved " + std::to_string(l.capacity));
    l.history.push_back(e.token);
    l.hash = extend(l.hash, e.token);
    if (e.logits && r < options_.max_logit_rows) {
      fill_logits(l.history, l.hash, &logits_[static_cast<size_t>(r++) * n_vocab]);
    }
  }
  return {logits_.data(), static_cast<size_t>(r) * n_vocab};
}

std::vector<fake_engine::lifetime> fake_engine::lifetimes() const {
  std::lock_guard lock(mu_);
  return lifetimes_;
}

std::vector<std::vector<int>> fake_engine::batch_log() const {
  std::lock_guard lock(mu_);
  return batch_log_;
}

std::vector<std::vector<int>> fake_engine::row_log() const {
  std::lock_guard lock(mu_);
  return row_log_;
}

std::vector<batch_entry> fake_engine::failed_rows() const {
  std::lock_guard lock(mu_);
  return failed_rows_;
}

std::vector<std::string> fake_engine::violations() const {
  std::lock_guard lock(mu_);
  return violations_;
}

int64_t fake_engine::max_rows_seen() const {
  std::lock_guard lock(mu_);
  return max_rows_seen_;
}

int64_t fake_engine::max_logit_rows_seen() const {
  std::lock_guard lock(mu_);
  return max_logit_rows_seen_;
}

bool fake_engine::joined_while_running() const {
  std::lock_guard lock(mu_);
  return joined_while_running_;
}

std::optional<int> fake_engine::lifetime_of(const std::vector<token_id>& prompt) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < lifetimes_.size(); ++i) {
    const auto& h = lifetimes_[i].history;
    if (h.size() >= prompt.size() && std::equal(prompt.begin(), prompt.end(), h.begin())) {
      return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

}  // namespace hearth::test
