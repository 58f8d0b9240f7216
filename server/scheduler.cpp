#include "scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <stdexcept>

#include "metrics.h"
#include "row_ops.h"
#include "sequence.h"

namespace hearth {

namespace {

using clock = std::chrono::steady_clock;

const batch_engine& require(const std::unique_ptr<batch_engine>& e) {
  if (!e) throw std::invalid_argument("scheduler: no engine");
  return *e;
}

int64_t running_cap(const batch_engine& e, const scheduler_options& o) {
  if (o.max_sequences < 1) throw std::invalid_argument("scheduler: max_sequences must be >= 1");
  if (o.queue_limit < 0) throw std::invalid_argument("scheduler: queue_limit must be >= 0");
  if (o.prefill_share < 1 || o.prefill_share > 100) throw std::invalid_argument("scheduler: prefill_share must be 1..100");
  if (e.max_batch() < 1 || e.max_logit_rows() < 1 || e.vocab_size() < 1) {
    throw std::invalid_argument("scheduler: the engine takes no rows, no logit rows or has no vocabulary");
  }
  return std::min({static_cast<int64_t>(o.max_sequences), e.max_batch(), e.max_logit_rows()});
}

// Positions a request may fill: the prompt plus every token it may generate.
int64_t positions_of(const generation_request& r) {
  return static_cast<int64_t>(r.prompt.size()) + (r.embed ? 0 : r.max_tokens);
}

// Positions a request holds when it starts: the prompt, and the first generated token's.
int64_t start_positions_of(const generation_request& r) {
  return static_cast<int64_t>(r.prompt.size()) + (r.embed ? 0 : 1);
}

// The fewest prompt rows a step carries beside decode rows, whatever the measurements say: a
// prompt always advances.
constexpr int64_t kMinPrefillBudget = 2;

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Sinks are the front end's code: an exception from one must not reach the scheduler loop.
// A throwing on_token counts as a consumer that is gone.
bool deliver_token(token_sink& sink, const token_event& e) noexcept {
  try {
    return sink.on_token(e);
  } catch (...) {
    return false;
  }
}

// A decoded token's log-probabilities with each token's bytes, for the sink to format.
std::optional<proto::token_logprobs_entry> logprob_entry(const decoded_token& d, const token_text& text) {
  if (!d.logprobs) return std::nullopt;
  auto with_bytes = [&](const token_logprob& t) { return proto::logprob_token{t.id, text.token_bytes(t.id), t.logprob}; };
  proto::token_logprobs_entry e{with_bytes(d.logprobs->chosen), {}};
  for (const token_logprob& t : d.logprobs->top) e.top.push_back(with_bytes(t));
  return e;
}

void deliver_finish(token_sink& sink, const finish_event& e) noexcept {
  try {
    sink.on_finish(e);
  } catch (...) {
  }
}

}  // namespace

scheduler::scheduler(std::unique_ptr<batch_engine> engine, const scheduler_options& o, metrics* m,
                     std::unique_ptr<batch_engine> draft)
    : engine_(std::move(engine)),
      draft_(std::move(draft)),
      options_(o),
      metrics_(m),
      context_length_(require(engine_).context_length()),
      vocab_size_(engine_->vocab_size()),
      block_size_(engine_->block_size()),
      total_blocks_(engine_->total_blocks()),
      max_running_(running_cap(*engine_, o)),
      generates_(engine_->generates()),
      pooling_(engine_->pooling()),
      embedding_dim_(engine_->hidden_dim()),
      shares_blocks_(engine_->shares_blocks()) {
  if (draft_ && (draft_->vocab_size() != vocab_size_ || draft_->max_logit_rows() < max_running_ ||
                 draft_->context_length() < context_length_ || !draft_->generates())) {
    throw std::invalid_argument("the draft engine must share the vocabulary, the context length and take a logit row per running sequence");
  }
  running_.reserve(static_cast<size_t>(max_running_));
  batch_.reserve(static_cast<size_t>(engine_->max_batch()));
  logit_owners_.reserve(static_cast<size_t>(max_running_));
  hidden_owners_.reserve(static_cast<size_t>(engine_->max_batch()));
  dropped_.reserve(static_cast<size_t>(std::min(options_.queue_limit, 256)));
  prefill_budget_ = std::min<int64_t>(16, engine_->max_batch());  // until measured
  stats_.kv_blocks_free = blocks_free_ = engine_->free_blocks();
  stats_.kv_type = engine_->kv_type_name();
  stats_.kv_bytes_per_token = engine_->kv_bytes_per_token();
  stats_.kv_blocks_used = total_blocks_ - stats_.kv_blocks_free;
  thread_ = std::thread([this] { run(); });
  thread_id_ = thread_.get_id();
}

scheduler::~scheduler() { shutdown(); }

submit_status scheduler::submit(generation_request r, std::shared_ptr<token_sink> sink, submit_estimate* estimate) {
  std::vector<std::shared_ptr<token_sink>> sinks;
  sinks.push_back(std::move(sink));
  return submit(std::move(r), std::move(sinks), estimate);
}

submit_status scheduler::submit(generation_request r, std::vector<std::shared_ptr<token_sink>> sinks,
                                submit_estimate* estimate) {
  // Caller bugs (an empty prompt, max_tokens < 1, no sink) are refused as too_long: no request
  // of that shape could ever run.
  if (r.prompt.empty() || (r.max_tokens < 1 && !r.embed) || sinks.empty()) return submit_status::too_long;
  if (std::any_of(sinks.begin(), sinks.end(), [](const auto& k) { return !k; })) return submit_status::too_long;
  const auto choices = static_cast<int64_t>(sinks.size());
  if (choices > max_running_ || (r.embed && choices > 1)) return submit_status::too_long;
  r.client.weight = std::clamp(r.client.weight, 1, 1000);
  r.client.max_running = std::max(r.client.max_running, 0);
  // Positions are int32 in a batch row, whatever context the engine claims.
  const int64_t max_positions = std::min<int64_t>(context_length_, std::numeric_limits<int32_t>::max());
  pending p{std::move(r), std::move(sinks.front()), {}, clock::now()};
  p.forks.assign(std::make_move_iterator(sinks.begin() + 1), std::make_move_iterator(sinks.end()));
  const int64_t blocks = blocks_of(p);
  // A rolling window never holds more than the context.
  const int64_t positions = p.request.rolling ? std::min(positions_of(p.request), max_positions) : positions_of(p.request);
  if (positions > max_positions || blocks > total_blocks_ || kv_cache::blocks_needed(positions, block_size_) > total_blocks_) {
    return submit_status::too_long;
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) return submit_status::shutting_down;
    const int64_t waiting = waiting_with(blocks, choices);
    if (waiting > options_.queue_limit) return submit_status::queue_full;
    if (p.request.deadline) {
      const std::optional<submit_estimate> e =
          estimate_locked(static_cast<int64_t>(queue_.size()), waiting == 0, static_cast<int64_t>(p.request.prompt.size()),
                          std::max(1, p.request.deadline_tokens));
      if (e && estimate) *estimate = *e;
      if (e && p.submitted + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(e->finish_s)) >
                   *p.request.deadline) {
        return submit_status::late;
      }
    }
    queue_.push_back(std::move(p));
    poked_ = true;
  }
  wake_.notify_one();
  return submit_status::accepted;
}

void scheduler::steer(steering_box& box, steer_op op) {
  box.push(std::move(op));
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  wake_.notify_one();
}

int64_t scheduler::blocks_of(const pending& p) const {
  const int64_t one = kv_cache::blocks_needed(start_positions_of(p.request), block_size_);
  const auto forks = static_cast<int64_t>(p.forks.size());
  // A fork shares the prompt's full blocks and holds the rest of its own.
  const int64_t shared = shares_blocks_ ? static_cast<int64_t>(p.request.prompt.size()) / block_size_ : 0;
  return one + forks * (one - shared);
}

void scheduler::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  // From a sink (the scheduler thread itself) the stop is only requested: the thread cannot
  // join itself, and ends after the current step.
  if (std::this_thread::get_id() == thread_id_) return;
  std::call_once(joined_, [this] { thread_.join(); });
}

// Estimated as if the queue were served first come first served (one client; see admit): its
// head starts while a running slot is free and its blocks fit; the first request that cannot
// start makes all behind it wait. With several clients' requests queued the order differs, so
// the count is an estimate of how many wait, never of who.
int64_t scheduler::waiting_with(int64_t blocks, int64_t slots_needed) const {
  if (parked_ > 0) return static_cast<int64_t>(queue_.size()) + 1;  // parked sequences go first
  int64_t slots = max_running_ - active_;
  int64_t free = blocks_free_;
  size_t starting = 0;
  for (const pending& p : queue_) {
    const auto choices = 1 + static_cast<int64_t>(p.forks.size());
    if (slots < choices) break;
    const int64_t need = blocks_of(p);
    if (need > free) break;
    slots -= choices;
    free -= need;
    ++starting;
  }
  const bool starts_at_once = starting == queue_.size() && slots >= slots_needed && blocks <= free;
  return static_cast<int64_t>(queue_.size() - starting) + (starts_at_once ? 0 : 1);
}

void scheduler::sync_capacity() {
  int64_t active = 0, parked = 0, yielded = 0;
  for (const auto& s : running_) {
    if (s->done) continue;
    active += !s->yielded;
    parked += s->parked && !s->yielded && !s->paused;
    yielded += s->yielded;
  }
  const int64_t free = engine_->free_blocks() + cache_blocks_;  // cache entries are evicted on demand
  std::lock_guard lock(mu_);
  active_ = active;
  blocks_free_ = free;
  parked_ = parked;
  stats_.yielded = yielded;
}

std::optional<submit_estimate> scheduler::estimate_locked(int64_t ahead, bool starts_at_once, int64_t prompt,
                                                          int64_t tokens) const {
  if (est_decode_step_s_ <= 0) return std::nullopt;
  submit_estimate e;
  const double row = est_prompt_row_s_ > 0 ? est_prompt_row_s_ : est_decode_step_s_;
  if (!starts_at_once) {
    // Every slot, free (0) or when its sequence is expected to end; each request queued ahead
    // takes the earliest and holds it for its own expected time; this one gets the next.
    std::vector<double> slots = slot_free_s_;
    slots.resize(std::max(slots.size(), static_cast<size_t>(max_running_)), 0.0);
    std::make_heap(slots.begin(), slots.end(), std::greater<>());
    const int64_t n = std::min<int64_t>(ahead, static_cast<int64_t>(queue_.size()));
    for (int64_t i = 0; i < n; ++i) {
      const generation_request& q = queue_[static_cast<size_t>(i)].request;
      double tokens_q = q.max_tokens;
      if (mean_answer_pub_ > 0) tokens_q = std::min(tokens_q, mean_answer_pub_);
      std::pop_heap(slots.begin(), slots.end(), std::greater<>());
      slots.back() += static_cast<double>(q.prompt.size()) * row + tokens_q * est_decode_step_s_;
      std::push_heap(slots.begin(), slots.end(), std::greater<>());
    }
    e.start_s = std::max(0.0, slots.front() - seconds_between(published_at_, clock::now()));
  }
  e.finish_s = e.start_s + static_cast<double>(prompt) * row + static_cast<double>(tokens) * est_decode_step_s_;
  return e;
}

scheduler_stats scheduler::stats() const {
  std::lock_guard lock(mu_);
  scheduler_stats s = stats_;
  s.queued = static_cast<int64_t>(queue_.size());
  s.parked = parked_;
  return s;
}

void scheduler::run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (running_.empty()) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      } else if (idle_) {  // every sequence paused: nothing to do until a change, a submit, a cancel
        wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_ || poked_; });
      }
      poked_ = false;
      if (stopping_) break;
    }
    try {
      step();
    } catch (const std::exception& e) {
      fail_running(std::string("scheduler error: ") + e.what());
    } catch (...) {
      fail_running("scheduler error");
    }
  }
  drain();
}

void scheduler::step() {
  drop_cancelled();
  drop_late();
  remove_finished();
  if (refuse_if_model_changed()) return publish_stats(false);
  admit();
  steer_running();
  tell_queue();
  build_batch();
  const bool ran = !batch_.empty();
  if (ran) run_batch();
  remove_finished();
  idle_ = !ran && std::all_of(running_.begin(), running_.end(), [](const auto& s) { return s->paused; });
  publish_stats(ran);
}

// Cancelled sequences leave before the batch is built, so a cancel set before a step takes
// effect in that step: no more rows and no more tokens for them.
void scheduler::drop_cancelled() {
  for (auto& s : running_) {
    if (s->cancel_requested()) finish(*s, proto::finish_reason::cancelled);
  }
  drop_queued([](const pending& p) { return p.request.cancel && p.request.cancel->load(std::memory_order_relaxed); },
              proto::finish_reason::cancelled);
}

void scheduler::drop_queued(const std::function<bool(const pending&)>& drop, proto::finish_reason reason) {
  {
    std::lock_guard lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (drop(*it)) {
        dropped_.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (pending& p : dropped_) finish_unadmitted(p, reason);
  dropped_.clear();
}

void scheduler::drop_late() {
  const clock::time_point now = clock::now();
  const auto late = [now](const std::optional<clock::time_point>& d) { return d && now >= *d; };
  for (auto& s : running_) {
    if (!s->done && late(s->deadline)) finish(*s, proto::finish_reason::deadline);
  }
  drop_queued([&](const pending& p) { return late(p.request.deadline); }, proto::finish_reason::deadline);
}

void scheduler::tell_queue() {
  struct told {
    std::shared_ptr<token_sink> sink;
    int64_t position;
    double start_s;
  };
  std::vector<told> out;
  const clock::time_point now = clock::now();
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < queue_.size(); ++i) {
      pending& p = queue_[i];
      const auto position = static_cast<int64_t>(i);
      if (p.told_position == position && now - p.told_at < std::chrono::seconds(1)) continue;
      p.told_position = position;
      p.told_at = now;
      const std::optional<submit_estimate> e = estimate_locked(position, false, 0, 0);
      const double start = e ? e->start_s : -1.0;
      out.push_back({p.sink, position, start});
      for (const auto& f : p.forks) out.push_back({f, position, start});
    }
  }
  for (const told& t : out) {
    try {
      t.sink->on_queued(t.position, t.start_s);
    } catch (...) {  // a sink's failure must not reach the scheduler loop
    }
  }
}

std::shared_ptr<const token_trie> scheduler::trie_for(const std::vector<std::pair<token_id, std::string>>& shown) {
  if (shown.empty()) {
    if (!trie_) trie_ = std::make_shared<const token_trie>(token_trie_of(*engine_, vocab_size_));
    return trie_;
  }
  if (shown_tries_.size() >= 4 && !shown_tries_.count(shown)) shown_tries_.clear();  // bounded; in practice one set
  std::shared_ptr<const token_trie>& t = shown_tries_[shown];
  if (!t) t = std::make_shared<const token_trie>(token_trie_of(showing_token_text(*engine_, shown), vocab_size_));
  return t;
}

// Fair shares (see the top): sequences parked for memory resume first; then, while slots are
// free, the next to start is chosen among the clients' heads (each client's oldest yielded
// sequence, else its oldest queued request): the client furthest below its share, i.e. with the
// fewest slots for its weight once started, the earliest on a tie. The head chosen waits until
// its blocks are free, and no other request overtakes it (a stream of small requests must not
// starve a large one). With all slots taken, a newer sequence of a client above its share is
// preempted (yielded) for it, as long as that client stays at or above the newcomer's share.
void scheduler::admit() {
  if (!resume_parked()) return;
  for (;;) {
    std::map<std::string_view, int64_t> used;  // slots per client
    int64_t used_total = 0;
    for (const auto& q : running_) {
      if (q->done || q->yielded) continue;
      ++used[q->client.id];
      ++used_total;
    }
    const auto used_by = [&](const std::string& id) {
      const auto at = used.find(id);
      return at == used.end() ? int64_t{0} : at->second;
    };
    struct head {
      const client_share* client;
      int64_t slots;
      time_point since;
      sequence* yielded = nullptr;  // or the queued request at queue_[queued]
      size_t queued = 0;
    };
    std::optional<head> next;
    std::map<std::string_view, bool> seen;
    const auto consider = [&](const head& h) {
      if (seen[h.client->id]) return;  // a client's head is its oldest waiting item
      seen[h.client->id] = true;
      const int64_t u = used_by(h.client->id);
      if (h.client->max_running > 0 && u > 0 && u + h.slots > h.client->max_running) return;  // capped
      if (next) {
        const int64_t mine = (u + h.slots) * next->client->weight;
        const int64_t best = (used_by(next->client->id) + next->slots) * h.client->weight;
        if (mine > best || (mine == best && h.since >= next->since)) return;
      }
      next = h;
    };
    std::unique_lock lock(mu_);
    for (const auto& q : running_) {
      if (!q->done && q->yielded && !q->paused) consider({&q->client, 1, q->submitted, q.get()});
    }
    for (size_t i = 0; i < queue_.size(); ++i) {
      consider({&queue_[i].request.client, 1 + static_cast<int64_t>(queue_[i].forks.size()), queue_[i].submitted, nullptr, i});
    }
    if (!next) return;
    if (used_total + next->slots > max_running_) {
      lock.unlock();
      if (!yield_slot_for(*next->client, next->slots, used)) return;  // waits for slots
      continue;
    }
    if (next->yielded) {
      lock.unlock();
      if (!resume(*next->yielded)) return;
      continue;
    }
    pending& front = queue_[next->queued];
    // Blocks the prefix cache provides are not taken from the free ones; cache entries are
    // evicted (least recently used first) before the request must wait.
    const int64_t need = blocks_of(front) - cache_match(front.request).second;
    evict_for(need);
    bool never_fits = false;
    if (need > engine_->free_blocks()) {
      // With nothing running, no blocks will ever be freed: waiting would hang the queue.
      if (used_total > 0) return;
      never_fits = true;
    }
    pending p = std::move(front);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(next->queued));
    if (!never_fits) {  // counted as started until start() publishes the truth
      active_ += next->slots;
      blocks_free_ -= need;
    }
    lock.unlock();
    if (never_fits) {
      finish_unadmitted(p, proto::finish_reason::error, "the KV cache has too few free blocks for this request");
    } else {
      start(std::move(p));
    }
  }
}

bool scheduler::yield_slot_for(const client_share& c, int64_t slots, const std::map<std::string_view, int64_t>& used) {
  const auto used_by = [&](const std::string& id) {
    const auto at = used.find(id);
    return at == used.end() ? int64_t{0} : at->second;
  };
  // The newest preemptible sequence of the client furthest above its share.
  sequence* victim = nullptr;
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    sequence& q = **it;
    if (q.done || !q.preemptible() || q.client.id == c.id) continue;
    if (!victim || used_by(q.client.id) * victim->client.weight > used_by(victim->client.id) * q.client.weight) {
      victim = &q;
    }
  }
  if (!victim) return false;
  // Only while that client keeps at least the newcomer's share: (v - 1) / wv >= (u + slots) / wu.
  const int64_t v = used_by(victim->client.id);
  if ((v - 1) * c.weight < (used_by(c.id) + slots) * victim->client.weight) return false;
  preempt(*victim, /*yield=*/true);
  return true;
}

void scheduler::steer_running() {
  for (size_t i = 0; i < running_.size(); ++i) {  // an append may park s; nothing is added here
    sequence& s = *running_[i];
    if (s.done || !s.steer) continue;
    for (steer_op& op : s.steer->take()) {
      if (s.done) break;  // its finish answers the rest
      const steer_result r = apply_steer(s, op);
      try {
        s.sink->on_steered(r);
      } catch (...) {  // a sink's failure must not reach the scheduler loop
      }
      // Ended by the change itself (after its acknowledgement): max_tokens reached, a stop string.
      if (r.error.empty() && op.kind == steer_kind::update) {
        if (s.decoder.stopped()) {
          finish(s, proto::finish_reason::stop);
        } else if (s.n_generated >= s.max_tokens) {
          finish(s, proto::finish_reason::length);
        }
      }
    }
  }
}

steer_result scheduler::apply_steer(sequence& s, steer_op& op) {
  steer_result r{op.kind, {}, {}};
  switch (op.kind) {
    case steer_kind::pause:
      s.paused = true;
      return r;
    case steer_kind::resume:
      s.paused = false;
      return r;
    case steer_kind::append:
      return append(s, op.tokens);
    case steer_kind::update:
      break;
  }
  if (s.pool) return {op.kind, "an embedding has nothing to update", {}};
  // Everything is checked before anything changes.
  proto::generation_update& u = op.update;
  sampling_params p = s.decoder.params();
  if (u.temperature) p.temperature = *u.temperature;
  if (u.top_k) p.top_k = *u.top_k;
  if (u.top_p) p.top_p = *u.top_p;
  if (u.min_p) p.min_p = *u.min_p;
  if (auto e = validate(p)) return {op.kind, *e, {}};
  if (u.stop) {
    if (auto e = validate_stops(*u.stop)) return {op.kind, *e, {}};
  }
  if (u.max_tokens) {
    if (*u.max_tokens < 1) return {op.kind, "max_tokens must be >= 1", {}};
    // As at submit: the input (prompt and appended tokens) and every token it may generate fit
    // the context, unless the window rolls.
    const int64_t input = static_cast<int64_t>(s.prompt_tokens);
    if (!s.rolling && input + *u.max_tokens > context_length_) {
      return {op.kind,
              "max_tokens " + std::to_string(*u.max_tokens) + " with " + std::to_string(input) +
                  " input tokens exceeds the context of " + std::to_string(context_length_) + " tokens",
              "context_length_exceeded"};
    }
  }
  try {
    s.decoder.retune(p);
  } catch (const std::invalid_argument& e) {
    return {op.kind, e.what(), {}};
  }
  if (u.stop) s.decoder.set_stops(std::move(*u.stop));
  if (u.max_tokens) s.max_tokens = *u.max_tokens;
  return r;
}

steer_result scheduler::append(sequence& s, const std::vector<token_id>& tokens) {
  const auto refuse = [](std::string why, std::string code = {}) {
    return steer_result{steer_kind::append, std::move(why), std::move(code)};
  };
  if (tokens.empty()) return refuse("nothing to append");
  if (s.pool) return refuse("an embedding cannot be appended to");
  if (s.decoder.constrained()) return refuse("a generation constrained by a grammar or schema cannot be appended to");
  if (!s.forks.empty() || s.awaiting_prompt) return refuse("a request with several choices cannot be appended to");
  for (token_id t : tokens) {
    if (t < 0 || t >= vocab_size_) return refuse("token " + std::to_string(t) + " is outside the vocabulary");
  }
  const auto k = static_cast<int64_t>(tokens.size());
  // Positions once the tokens are in: everything held (the pending token too), then them.
  const auto filled = [&] { return static_cast<int64_t>(s.prompt_size()) + static_cast<int64_t>(s.generated.size()) + k; };
  // Room for at least the token sampled after them; a rolling window slides to make it.
  if (filled() + 1 > context_length_ && s.rolling && s.kv_seq >= 0 && !s.prefilling() && s.n_fed > s.roll_keep) {
    slide(s);
    if (s.done) return refuse("the KV cache ran out of blocks sliding the context window");
  }
  const int64_t after = filled();
  if (after + 1 > context_length_ || kv_cache::blocks_needed(after + 1, block_size_) > total_blocks_) {
    return refuse("appending " + std::to_string(k) + " tokens to the " + std::to_string(after - k) +
                      " this generation holds leaves no room for another token in the context of " +
                      std::to_string(context_length_),
                  "context_length_exceeded");
  }
  s.decoder.accept_prompt(tokens);  // the penalties see them, as prompt tokens
  s.decoder.break_text();
  s.generated.insert(s.generated.end(), tokens.begin(), tokens.end());
  s.refill_to = static_cast<int32_t>(after);
  s.last_token = -1;  // the last appended token's row samples the next one
  s.prompt_tokens += static_cast<int32_t>(k);
  // Without a rolling window, what it may still generate is what the context holds after them.
  if (!s.rolling) s.max_tokens = static_cast<int32_t>(std::min<int64_t>(s.max_tokens, s.n_generated + context_length_ - after));
  // Blocks for everything it will have fed and the next row: cached blocks go first; if they are
  // still short it parks and resumes (recomputing) when they are free.
  while (s.kv_seq >= 0 && !engine_->seq_reserve(s.kv_seq, after + 1)) {
    if (!evict_one()) preempt(s);
  }
  return {steer_kind::append, {}, {}};
}

bool scheduler::resume(sequence& s) {
  const int64_t positions = s.fill_end() + 1;
  evict_for(kv_cache::blocks_needed(positions, block_size_));
  if (kv_cache::blocks_needed(positions, block_size_) > engine_->free_blocks()) {
    // Blocks come back only from sequences that run; with none running (blocks held outside
    // the scheduler), waiting would hang.
    const bool others_run = std::any_of(running_.begin(), running_.end(), [](const auto& o) { return !o->done && !o->parked; });
    if (others_run) return false;
    finish(s, proto::finish_reason::error, "the KV cache has too few free blocks to resume this request");
    return true;
  }
  const int32_t kv = engine_->seq_create();
  if (!engine_->seq_reserve(kv, positions)) {
    engine_->seq_free(kv);
    finish(s, proto::finish_reason::error, "the KV cache ran out of blocks resuming this request");
    return true;
  }
  s.kv_seq = kv;
  s.parked = s.yielded = false;
  sync_capacity();
  return true;
}

bool scheduler::resume_parked() {
  for (auto& p : running_) {
    if (!p->done && p->parked && !p->yielded && !p->paused && !resume(*p)) return false;
  }
  sync_capacity();
  return true;
}

bool scheduler::grow(sequence& s) {
  while (!engine_->seq_reserve(s.kv_seq, static_cast<int64_t>(s.n_fed) + 1)) {
    if (evict_one()) continue;  // cached blocks go before any sequence is preempted
    // A paused sequence that can give its blocks back, else the newest, if newer than s.
    sequence* victim = nullptr;
    for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
      if (it->get() != &s && !(*it)->done && (*it)->paused && (*it)->preemptible()) {
        victim = it->get();
        break;
      }
    }
    for (auto it = running_.rbegin(); !victim && it != running_.rend() && it->get() != &s; ++it) {
      if (!(*it)->done && (*it)->preemptible()) victim = it->get();
    }
    preempt(victim ? *victim : s);
    if (!victim) return false;
  }
  return true;
}

namespace {

// Block hashes chain: block i's covers the partition and blocks 0..i (splitmix64 steps).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t partition_seed(const std::string& partition) {
  uint64_t h = 0x6865617274682d70ull;  // "hearth-p"
  for (unsigned char c : partition) h = mix(h ^ c);
  return mix(h ^ partition.size());
}

uint64_t chain_block(uint64_t h, std::span<const token_id> block) {
  for (token_id t : block) h = mix(h ^ static_cast<uint32_t>(t));
  return mix(h);
}

}  // namespace

std::pair<int32_t, int64_t> scheduler::cache_match(const generation_request& r) {
  if (!options_.prefix_cache || !shares_blocks_ || !r.cache || r.embed || cache_.empty()) return {-1, 0};
  // Whole blocks only, and never the last prompt token: its row must run for the logits.
  const int64_t max_blocks = (static_cast<int64_t>(r.prompt.size()) - 1) / block_size_;
  const std::span<const token_id> prompt(r.prompt);
  uint64_t h = partition_seed(r.cache_partition);
  std::pair<int32_t, int64_t> best{-1, 0};
  for (int64_t i = 0; i < max_blocks; ++i) {
    h = chain_block(h, prompt.subspan(static_cast<size_t>(i * block_size_), static_cast<size_t>(block_size_)));
    const auto at = cache_index_.find(h);
    if (at == cache_index_.end()) break;
    const cache_entry& e = cache_.at(at->second);
    // The hash found it; the tokens prove it (a 64-bit collision must not leak another prompt).
    const auto end = static_cast<size_t>((i + 1) * block_size_);
    if (e.tokens.size() < end || !std::equal(e.tokens.begin(), e.tokens.begin() + static_cast<std::ptrdiff_t>(end), r.prompt.begin())) break;
    best = {at->second, i + 1};
  }
  if (best.first >= 0) cache_.at(best.first).last_used = ++cache_clock_;
  return best;
}

int32_t scheduler::cache_lookup(const generation_request& r, int32_t kv) {
  const auto [entry, blocks] = cache_match(r);
  if (entry < 0) return 0;
  engine_->seq_share(entry, kv, blocks);
  const auto positions = static_cast<int32_t>(blocks * block_size_);
  std::lock_guard lock(mu_);
  stats_.cache_hit_tokens += positions;
  return positions;
}

bool scheduler::cache_keep(sequence& s) {
  if (!options_.prefix_cache || !shares_blocks_ || !s.cache || s.pool || s.kv_seq < 0) return false;
  const int64_t blocks = s.n_fed / block_size_;
  if (blocks == 0) return false;
  cache_entry e;
  e.tokens.reserve(static_cast<size_t>(blocks * block_size_));
  for (int32_t pos = 0; pos < blocks * block_size_; ++pos) e.tokens.push_back(s.token_at(pos));
  uint64_t h = partition_seed(s.cache_partition);
  for (int64_t i = 0; i < blocks; ++i) {
    h = chain_block(h, std::span<const token_id>(e.tokens).subspan(static_cast<size_t>(i * block_size_),
                                                                   static_cast<size_t>(block_size_)));
    e.hashes.push_back(h);
  }
  // Already cached whole (the same prompt again): that entry is used, this sequence freed.
  if (const auto at = cache_index_.find(e.hashes.back()); at != cache_index_.end()) {
    const cache_entry& old = cache_.at(at->second);
    if (old.tokens.size() >= e.tokens.size() && std::equal(e.tokens.begin(), e.tokens.end(), old.tokens.begin())) {
      cache_.at(at->second).last_used = ++cache_clock_;
      return false;
    }
  }
  engine_->seq_truncate(s.kv_seq, blocks * block_size_);
  for (uint64_t hash : e.hashes) cache_index_[hash] = s.kv_seq;
  e.last_used = ++cache_clock_;
  cache_blocks_ += blocks;
  cache_[s.kv_seq] = std::move(e);
  s.kv_seq = -1;
  return true;
}

bool scheduler::evict_one() {
  if (cache_.empty()) return false;
  auto lru = cache_.begin();
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->second.last_used < lru->second.last_used) lru = it;
  }
  for (uint64_t h : lru->second.hashes) {
    if (const auto at = cache_index_.find(h); at != cache_index_.end() && at->second == lru->first) cache_index_.erase(at);
  }
  cache_blocks_ -= static_cast<int64_t>(lru->second.hashes.size());
  engine_->seq_free(lru->first);
  cache_.erase(lru);
  return true;
}

void scheduler::evict_for(int64_t blocks) {
  while (blocks > engine_->free_blocks() && evict_one()) {
  }
}

void scheduler::evict_all() {
  while (evict_one()) {
  }
}

void scheduler::slide(sequence& s) {
  const int32_t keep = std::min(s.roll_keep, s.n_fed);
  const int32_t drop = std::max(1, (s.n_fed - keep) / 2);
  std::vector<token_id> window;
  window.reserve(static_cast<size_t>(s.n_fed - drop));
  for (int32_t pos = 0; pos < s.n_fed; ++pos) {
    if (pos < keep || pos >= keep + drop) window.push_back(s.token_at(pos));
  }
  // The window is the new prompt; the token sampled last (not yet fed) follows it.
  s.prompt = std::move(window);
  s.generated.assign(1, s.last_token);
  s.truncated_tokens += drop;
  engine_->seq_free(s.kv_seq);
  s.kv_seq = engine_->seq_create();
  s.n_fed = 0;
  s.refill_to = s.prompt_size();
  if (s.draft_seq >= 0) {  // the draft model's positions moved too
    draft_->seq_truncate(s.draft_seq, 0);
    s.draft_fed = 0;
  }
  if (!engine_->seq_reserve(s.kv_seq, static_cast<int64_t>(s.prompt_size()) + 1)) {
    finish(s, proto::finish_reason::error, "the KV cache ran out of blocks sliding the context window");
  }
}

void scheduler::preempt(sequence& s, bool yield) {
  engine_->seq_free(s.kv_seq);
  s.kv_seq = -1;
  s.parked = true;
  s.yielded = yield;
  // Mid-prompt (or mid-append): all it was filling again, with its logits; mid-recompute: all it was
  // recomputing.
  if (!s.fill_samples()) s.refill_to = std::max(s.refill_to, s.n_fed);
  s.n_fed = 0;
  s.n_in_batch = 0;
  ++s.preemptions;
  sync_capacity();
  std::lock_guard lock(mu_);
  ++(yield ? stats_.fair_preemptions : stats_.preemptions);
}

// Creates the sequence with the KV blocks of its prompt and first token; it takes more as it
// grows (grow).
void scheduler::start(pending&& p) {
  std::optional<std::string> err = request_error(p.request, vocab_size_, draft_ != nullptr);
  if (!err && p.request.embed && engine_->pooling() == pooling_type::none) {
    err = "this model cannot embed: it has no pooling type";
  }
  if (!err && !p.request.embed && !engine_->generates()) err = "this model is an embedding model: it cannot generate text";
  if (err) {
    sync_capacity();
    finish_unadmitted(p, proto::finish_reason::error, std::move(*err));
    return;
  }
  std::shared_ptr<token_sink> sink = p.sink;  // to report a failure after p is moved from
  const size_t prompt_tokens = p.request.prompt.size();
  const clock::time_point submitted = p.submitted;
  // The choices after the first are made from this copy (before p is moved from).
  std::optional<generation_request> base;
  if (!p.forks.empty()) base = p.request;
  const size_t first_fork = running_.size() + 1;
  const int32_t kv = engine_->seq_create();
  try {
    const int32_t cached = cache_lookup(p.request, kv);
    if (!engine_->seq_reserve(kv, start_positions_of(p.request))) {
      throw std::runtime_error("the KV cache ran out of blocks");
    }
    std::shared_ptr<const token_trie> trie = p.request.constraint ? trie_for(p.request.shown_tokens) : nullptr;
    std::vector<std::pair<token_id, std::string>> shown = std::move(p.request.shown_tokens);
    const bool embed = p.request.embed;
    std::vector<std::shared_ptr<token_sink>> forks = std::move(p.forks);
    running_.push_back(std::make_unique<sequence>(std::move(p), vocab_size_, std::move(trie), kv, clock::now()));
    sequence& s = *running_.back();
    s.n_fed = s.cached_tokens = cached;
    s.roll_keep = static_cast<int32_t>(std::min<int64_t>(s.prompt_size(), context_length_ / 4));
    if (!shown.empty()) s.shown.emplace(*engine_, shown);
    if (embed) s.pool.emplace(engine_->pooling(), engine_->hidden_dim(), s.prompt_size());
    if (!forks.empty()) {
      base->shown_tokens = std::move(shown);
      pending rest{std::move(*base), nullptr, std::move(forks), submitted};
      start_forks(rest, rest.request, s, kv);
    }
    sync_capacity();
  } catch (const std::exception& e) {
    // Nothing ran yet: every choice admitted so far is taken back, each sink told once.
    const std::string why = std::string("cannot start the request: ") + e.what();
    std::vector<std::shared_ptr<token_sink>> told;
    if (running_.size() >= first_fork && running_[first_fork - 1]->kv_seq == kv) {
      for (size_t i = first_fork - 1; i < running_.size(); ++i) {
        engine_->seq_free(running_[i]->kv_seq);
        told.push_back(running_[i]->sink);
      }
      running_.resize(first_fork - 1);
    } else {
      engine_->seq_free(kv);
      told.push_back(sink);
    }
    sync_capacity();
    for (const auto& t : told) finish_unadmitted(*t, prompt_tokens, submitted, proto::finish_reason::error, why);
  }
}

// Each further choice: its own sequence (seed + i) holding the prompt's full blocks of the first
// choice's sequence and its own for the rest, waiting for that prompt; or, on an engine that
// cannot share, a sequence that computes the prompt itself.
void scheduler::start_forks(pending& p, const generation_request& request, sequence& parent, int32_t parent_kv) {
  const auto n_prompt = static_cast<int64_t>(request.prompt.size());
  for (size_t i = 0; i < p.forks.size(); ++i) {
    const int32_t kv = engine_->seq_create();
    if (shares_blocks_) engine_->seq_share(parent_kv, kv, n_prompt / block_size_);
    if (!engine_->seq_reserve(kv, start_positions_of(request))) {
      engine_->seq_free(kv);
      throw std::runtime_error("the KV cache ran out of blocks");
    }
    pending choice{request, std::move(p.forks[i]), {}, p.submitted};
    choice.request.sampling.seed += i + 1;
    std::shared_ptr<const token_trie> trie = request.constraint ? trie_for(request.shown_tokens) : nullptr;
    running_.push_back(std::make_unique<sequence>(std::move(choice), vocab_size_, std::move(trie), kv, parent.admitted));
    sequence& c = *running_.back();
    if (!request.shown_tokens.empty()) c.shown.emplace(*engine_, request.shown_tokens);
    if (shares_blocks_) {
      c.awaiting_prompt = true;
      c.fork_parent = &parent;
      parent.forks.push_back(&c);
    }
  }
}

void scheduler::release_forks(sequence& parent, std::span<const float> logits, time_point now) {
  const std::vector<sequence*> forks = std::exchange(parent.forks, {});
  const int32_t n_prompt = parent.prompt_size();
  for (sequence* c : forks) {
    c->awaiting_prompt = false;
    c->fork_parent = nullptr;
    // The block the prompt ends in was the first choice's alone: each fork gets a copy.
    if (n_prompt % block_size_ != 0) engine_->seq_copy_block(parent.kv_seq, c->kv_seq, n_prompt / block_size_);
    c->n_fed = n_prompt;
    try {
      sample_row(*c, logits, now);
    } catch (const std::exception& e) {
      finish(*c, proto::finish_reason::error, std::string("sampling failed: ") + e.what());
    }
  }
}

void scheduler::draft_tokens(sequence& s, int64_t rows, int64_t blocks_kept) {
  const bool ngram = s.spec.mode == proto::speculative_mode::ngram;
  const bool with_model = s.spec.mode == proto::speculative_mode::draft && draft_;
  if ((!ngram && !with_model) || rows < 1) return;
  if (s.draft_pause > 0) {
    --s.draft_pause;
    return;
  }
  // At most: the cap, the rows, the tokens max_tokens still allows after the pending one, and
  // the positions the context still holds after it.
  const int64_t room = std::min<int64_t>({s.draft_cap, rows, s.max_tokens - s.n_generated - 1,
                                          context_length_ - s.n_fed - 1});
  if (room < 1) return;
  if (ngram) {
    prompt_lookup(s.context(), static_cast<int32_t>(room), s.draft);
    if (s.draft.empty()) return;
  } else {
    // The draft model's own sequence: positions up to the last one it will be fed.
    if (s.draft_seq < 0) {
      s.draft_seq = draft_->seq_create();
      s.draft_fed = 0;
    }
    if (!draft_->seq_reserve(s.draft_seq, static_cast<int64_t>(s.n_fed) + room)) return;
    s.draft.assign(static_cast<size_t>(room), s.last_token);  // run_draft_model writes them
  }
  // Blocks for the drafted rows only from the free ones, leaving one per decode row still to
  // place: a draft never evicts the cache nor preempts anyone.
  const int64_t n_positions = static_cast<int64_t>(s.n_fed) + 1 + static_cast<int64_t>(s.draft.size());
  const int64_t need = kv_cache::blocks_needed(n_positions, block_size_) -
                       kv_cache::blocks_needed(static_cast<int64_t>(s.n_fed) + 1, block_size_);
  if (need > 0 && (engine_->free_blocks() - need < blocks_kept || !engine_->seq_reserve(s.kv_seq, n_positions))) {
    s.draft.clear();
    return;
  }
  if (with_model) model_drafts_.push_back(&s);
}

void scheduler::run_draft_model() {
  if (model_drafts_.empty()) return;
  const size_t n_vocab = static_cast<size_t>(vocab_size_);
  std::vector<batch_entry>& b = draft_batch_;
  std::vector<sequence*>& owners = draft_owners_;
  // Runs b; each owner's logit row gives its draft token `t`.
  const auto pass = [&](size_t t) {
    if (b.empty()) return;
    const std::span<const float> logits = draft_->forward(b);
    if (logits.size() != owners.size() * n_vocab) throw std::runtime_error("the draft model returned no logits");
    for (size_t r = 0; r < owners.size(); ++r) owners[r]->draft[t] = static_cast<token_id>(argmax(logits.subspan(r * n_vocab, n_vocab)));  // its greedy token
    b.clear();
    owners.clear();
  };
  try {
    // Every position the draft model has not seen yet, up to the pending token, whose logits
    // give each sequence its first draft token; in passes of the draft engine's batch.
    for (sequence* s : model_drafts_) {
      for (int32_t pos = s->draft_fed; pos <= s->n_fed; ++pos) {
        const bool last = pos == s->n_fed;
        if (static_cast<int64_t>(b.size()) == draft_->max_batch() ||
            (last && static_cast<int64_t>(owners.size()) == draft_->max_logit_rows())) {
          pass(0);
        }
        b.push_back({s->token_at(pos), pos, s->draft_seq, last});
        if (last) owners.push_back(s);
      }
      s->draft_fed = s->n_fed + 1;
    }
    pass(0);
    // Then one pass per further token, each sequence feeding its previous draft token.
    for (size_t t = 1;; ++t) {
      for (sequence* s : model_drafts_) {
        if (t >= s->draft.size()) continue;
        b.push_back({s->draft[t - 1], s->n_fed + static_cast<int32_t>(t), s->draft_seq, true});
        owners.push_back(s);
        s->draft_fed = s->n_fed + static_cast<int32_t>(t) + 1;
      }
      if (b.empty()) break;
      pass(t);
    }
  } catch (const std::exception&) {
    // A failed draft model costs the drafts, never the request: the rows stay (their tokens
    // valid ids, verified and rejected like any wrong draft), and drafting stops for these.
    b.clear();
    owners.clear();
    for (sequence* s : model_drafts_) {
      s->spec.mode = proto::speculative_mode::off;
      draft_->seq_free(s->draft_seq);
      s->draft_seq = -1;
    }
  }
  for (sequence* s : model_drafts_) {
    for (size_t i = 0; i < s->draft.size(); ++i) batch_[static_cast<size_t>(s->draft_row) + i].token = s->draft[i];
  }
  model_drafts_.clear();
}

// One decode row for every sequence past its prompt, first, so running sequences never stall
// behind long prompts, each taking a KV block when it needs one (grow, which may preempt newer
// sequences: they come later in running_, so none of them is in the batch yet); then prompt
// chunks (prompts, and positions recomputed after a preemption) in admission order while rows
// remain. Only a prompt's last row asks for logits. (With max_running_ capped, the row and logit
// budgets never cut a decode row; they are checked anyway, as exceeding them would break the
// engine's contract, not just slow a sequence down.)
void scheduler::build_batch() {
  batch_.clear();
  logit_owners_.clear();
  hidden_owners_.clear();
  int64_t rows_left = engine_->max_batch();
  int64_t logits_left = engine_->max_logit_rows();
  // Decode rows still to place: drafts never take a row or a logit row one of them needs.
  int64_t decoders_left = std::count_if(running_.begin(), running_.end(), [](const auto& q) {
    return q->runnable() && !q->prefilling();
  });
  for (auto& p : running_) {
    sequence& s = *p;
    s.n_in_batch = 0;
    s.draft.clear();
    if (!s.runnable() || s.prefilling()) continue;
    --decoders_left;
    if (s.rolling && s.n_fed >= context_length_) slide(s);
    if (s.prefilling() || rows_left == 0 || logits_left == 0) continue;
    if (!grow(s)) continue;
    batch_.push_back({s.last_token, s.n_fed, s.kv_seq, true});
    logit_owners_.push_back(&s);
    s.n_in_batch = 1;
    --rows_left;
    --logits_left;
    draft_tokens(s, std::min(rows_left, logits_left) - decoders_left, decoders_left);
    s.draft_row = static_cast<int32_t>(batch_.size());
    for (size_t i = 0; i < s.draft.size(); ++i) {
      batch_.push_back({s.draft[i], s.n_fed + 1 + static_cast<int32_t>(i), s.kv_seq, true});
      logit_owners_.push_back(&s);
    }
    const auto drafted = static_cast<int32_t>(s.draft.size());
    s.n_in_batch += drafted;
    rows_left -= drafted;
    logits_left -= drafted;
  }
  run_draft_model();  // the draft model's tokens into the rows drafted for them
  // While sequences decode, prompt rows get the budget (see the top).
  decode_rows_ = static_cast<int64_t>(batch_.size());
  const bool budgeted = decode_rows_ > 0 && options_.prefill_share < 100 && prefill_budget_ < rows_left;
  int64_t prompt_left = budgeted ? prefill_budget_ : rows_left;
  // Several clients prefilling share the prompt rows (see the top); an encoder takes inputs whole,
  // in admission order.
  std::map<std::string_view, int64_t> grants;
  if (engine_->generates()) grants = prompt_grants(prompt_left);
  for (auto& p : running_) {
    sequence& s = *p;
    if (!s.runnable() || !s.prefilling() || prompt_left == 0) continue;
    int64_t n = std::min<int64_t>(s.fill_left(), prompt_left);
    int64_t* grant = nullptr;
    if (!grants.empty()) {
      grant = &grants[s.client.id];
      n = std::min(n, *grant);
      if (n == 0) continue;
    }
    if (s.pool) {  // an embedding: hidden rows where the pooling wants them, no logits
      // An encoder takes each input whole: it waits for a batch with room for all of it.
      if (!engine_->generates() && n < s.prompt_size()) continue;
      for (int64_t i = 0; i < n; ++i) {
        const int32_t pos = s.n_fed + static_cast<int32_t>(i);
        const bool wanted = s.pool->wants(pos);
        batch_.push_back({s.prompt[pos], pos, s.kv_seq, false, wanted});
        if (wanted) hidden_owners_.push_back(&s);
      }
      s.n_in_batch = static_cast<int32_t>(n);
      rows_left -= n;
      prompt_left -= n;
      if (grant) *grant -= n;
      continue;
    }
    bool completes = s.n_fed + n == s.fill_end() && s.fill_samples();
    if (completes && logits_left == 0) {  // keep the last prompt row for a step with a logit row
      --n;
      completes = false;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int32_t pos = s.n_fed + static_cast<int32_t>(i);
      batch_.push_back({s.token_at(pos), pos, s.kv_seq, completes && i + 1 == n});
    }
    if (completes) {
      logit_owners_.push_back(&s);
      --logits_left;
    }
    s.n_in_batch = static_cast<int32_t>(n);
    rows_left -= n;
    prompt_left -= n;
    if (grant) *grant -= n;
  }
  prompt_rows_ = static_cast<int64_t>(batch_.size()) - decode_rows_;
  // The budget held prompt rows back: this step's time says whether it is right.
  prefill_capped_ = budgeted && prompt_left == 0 && std::any_of(running_.begin(), running_.end(), [](const auto& q) {
    return q->runnable() && q->n_fed + q->n_in_batch < q->fill_end();
  });
}

std::map<std::string_view, int64_t> scheduler::prompt_grants(int64_t rows) {
  struct flow {
    std::string_view id;
    int64_t weight;
    int64_t held = 0;    // decode rows in this step
    int64_t demand = 0;  // prompt rows it could take
    int64_t grant = 0;
  };
  std::vector<flow> flows;
  const auto flow_of = [&](const sequence& s) -> flow& {
    for (flow& f : flows) {
      if (f.id == s.client.id) return f;
    }
    return flows.emplace_back(flow{s.client.id, s.client.weight});
  };
  int64_t demanding = 0;
  for (const auto& p : running_) {
    const sequence& s = *p;
    if (!s.runnable()) continue;
    if (!s.prefilling()) {
      flow_of(s).held += s.n_in_batch;
    } else if (flow& f = flow_of(s); f.demand == 0) {
      f.demand = s.fill_left();
      ++demanding;
    } else {
      f.demand += s.fill_left();
    }
  }
  if (demanding < 2) return {};  // one client takes them all
  // Row by row to the client with the fewest rows for its weight, the turn rotating on ties.
  const size_t first = static_cast<size_t>(fair_turn_++ % static_cast<uint64_t>(flows.size()));
  for (; rows > 0; --rows) {
    flow* best = nullptr;
    for (size_t k = 0; k < flows.size(); ++k) {
      flow& f = flows[(first + k) % flows.size()];
      if (f.grant == f.demand) continue;
      if (!best || (f.held + f.grant + 1) * best->weight < (best->held + best->grant + 1) * f.weight) best = &f;
    }
    if (!best) break;
    ++best->grant;
  }
  std::map<std::string_view, int64_t> grants;
  for (const flow& f : flows) grants[f.id] = f.grant;
  return grants;
}

void scheduler::run_batch() {
  std::span<const float> logits;
  const clock::time_point started = clock::now();
  try {
    logits = engine_->forward(batch_);
  } catch (const std::exception& e) {
    fail_batch(std::string("the forward pass failed: ") + e.what());
    return;
  } catch (...) {
    fail_batch("the forward pass failed");
    return;
  }
  if (refuse_if_model_changed()) return;  // the logits were computed from vanished weights
  const clock::time_point now = clock::now();
  tune_prefill(decode_rows_, prompt_rows_, seconds_between(started, now));
  int64_t prompt_rows = 0, recomputed_rows = 0, sequences = 0;
  for (auto& s : running_) {
    if (s->prefilling()) (s->preemptions > 0 ? recomputed_rows : prompt_rows) += s->n_in_batch;
    sequences += s->n_in_batch > 0;
    // A drafted row's position counts once its token is verified (verify_drafts).
    s->n_fed += s->n_in_batch - static_cast<int32_t>(s->draft.size());
  }
  if (recomputed_rows > 0) {
    std::lock_guard lock(mu_);
    stats_.recomputed_tokens += recomputed_rows;
  }
  if (metrics_) {
    if (prompt_rows > 0) metrics_->add_prompt_tokens(prompt_rows);
    metrics_->observe_batch(static_cast<int64_t>(batch_.size()), sequences);
  }
  const size_t n_vocab = static_cast<size_t>(vocab_size_);
  if (logits.size() != logit_owners_.size() * n_vocab) {
    fail_batch("the engine returned " + std::to_string(logits.size()) + " logits for " +
               std::to_string(logit_owners_.size()) + " rows");
    return;
  }
  for (size_t r = 0; r < logit_owners_.size();) {
    sequence& s = *logit_owners_[r];
    const size_t rows = 1 + s.draft.size();  // a decode row and the rows of its drafts
    try {
      // The forks first: the first choice may finish (and free its blocks) on its own token.
      if (!s.forks.empty()) release_forks(s, logits.subspan(r * n_vocab, n_vocab), now);
      if (s.draft.empty()) {
        sample_row(s, logits.subspan(r * n_vocab, n_vocab), now);
      } else {
        verify_drafts(s, logits.subspan(r * n_vocab, rows * n_vocab), now);
      }
    } catch (const std::exception& e) {
      if (!s.done) finish(s, proto::finish_reason::error, std::string("sampling failed: ") + e.what());
    }
    r += rows;
  }
  if (drafted_step_ > 0) {
    if (metrics_) metrics_->add_speculative(drafted_step_, accepted_step_);
    std::lock_guard lock(mu_);
    stats_.drafted_tokens += drafted_step_;
    stats_.accepted_tokens += accepted_step_;
  }
  drafted_step_ = accepted_step_ = 0;
  pool_rows();
}

void scheduler::tune_prefill(int64_t decode_rows, int64_t prompt_rows, double seconds) {
  if (prompt_rows > 0 && (decode_rows == 0 || decode_step_s_ > 0)) {
    const double row = std::max(0.0, seconds - (decode_rows > 0 ? decode_step_s_ : 0.0)) / static_cast<double>(prompt_rows);
    prompt_row_s_ = prompt_row_s_ == 0 ? row : 0.8 * prompt_row_s_ + 0.2 * row;
  }
  if (decode_rows > 0 && prompt_rows == 0) {
    decode_step_s_ = decode_step_s_ == 0 ? seconds : 0.8 * decode_step_s_ + 0.2 * seconds;
  } else if (decode_rows > 0 && prefill_capped_ && decode_step_s_ > 0 && options_.prefill_share < 100 && seconds > 0) {
    // Only a step the budget limited says whether the budget is right.
    const double target = decode_step_s_ * 100.0 / (100.0 - options_.prefill_share);
    const double scale = std::clamp(target / seconds, 0.5, 1.25);  // shrink fast, grow gently: no overshoot spikes
    prefill_budget_ = std::clamp<int64_t>(std::llround(static_cast<double>(prefill_budget_) * scale),
                                          std::min(kMinPrefillBudget, engine_->max_batch()), engine_->max_batch());
  }
  std::lock_guard lock(mu_);
  stats_.prefill_budget = prefill_budget_;
  stats_.decode_step_ms = decode_step_s_ * 1000.0;
}

void scheduler::pool_rows() {
  const std::span<const float> hidden = engine_->hidden();
  const auto dim = static_cast<size_t>(engine_->hidden_dim());
  if (hidden.size() != hidden_owners_.size() * dim) {
    for (sequence* s : hidden_owners_) {
      finish(*s, proto::finish_reason::error,
             "the engine returned " + std::to_string(hidden.size()) + " hidden values for " +
                 std::to_string(hidden_owners_.size()) + " rows");
    }
    return;
  }
  for (size_t r = 0; r < hidden_owners_.size(); ++r) {
    sequence& s = *hidden_owners_[r];
    if (!s.done) s.pool->add(hidden.subspan(r * dim, dim));
  }
  for (auto& p : running_) {
    sequence& s = *p;
    if (!s.pool || s.done || s.n_in_batch == 0 || s.prefilling()) continue;
    if (s.cancel_requested()) {
      finish(s, proto::finish_reason::cancelled);
    } else if (!s.pool->complete()) {
      finish(s, proto::finish_reason::error, "the embedding's rows did not all arrive");
    } else {
      s.embedding = s.pool->finish();
      finish(s, proto::finish_reason::stop);
    }
  }
}

// A cancel that arrived during the forward pass ends the request before its token is decoded,
// so the client gets, and usage counts, nothing more. Otherwise decode, then the first of: end of
// generation (the EOG token is counted but never shown), a consumer that refuses the token (not
// counted), a stop string (never shown), max_tokens.
void scheduler::sample_row(sequence& s, std::span<const float> logits, time_point now) {
  if (s.cancel_requested()) return finish(s, proto::finish_reason::cancelled);
  const token_text& text = s.shown ? static_cast<const token_text&>(*s.shown) : *engine_;
  const decoded_token d = s.decoder.next(logits, text);
  if (d.token < 0) return finish(s, proto::finish_reason::stop);  // a complete grammar, no EOG token
  if (!d.end_of_generation && !deliver_token(*s.sink, {d.token, d.text, logprob_entry(d, text)})) {
    s.refused = true;
    return finish(s, proto::finish_reason::cancelled);
  }
  if (metrics_) {
    if (s.n_generated == 0) {
      metrics_->observe_time_to_first_token(seconds_between(s.submitted, now));
    } else {
      metrics_->observe_inter_token_latency(seconds_between(s.latest_token, now));
    }
    metrics_->add_generated_tokens(1);
  }
  s.record_token(d.token, now);
  if (d.end_of_generation || d.stopped) return finish(s, proto::finish_reason::stop);
  if (s.n_generated >= s.max_tokens) finish(s, proto::finish_reason::length);
}

// Each row's token is sampled exactly as a lone decode row's would be (the same sampler draw, on
// the same logits: batch invariance); the drafted token that row fed stands only if it is the
// token sampled, and the first one that is not ends the step with the sampled token as the next
// to feed. So the tokens are those of decoding without drafts, at any temperature and seed.
void scheduler::verify_drafts(sequence& s, std::span<const float> logits, time_point now) {
  const size_t n_vocab = static_cast<size_t>(vocab_size_);
  const auto m = static_cast<int32_t>(s.draft.size());
  s.drafted += m;
  const int32_t accepted_before = s.accepted;
  for (int32_t i = 0; i <= m; ++i) {
    const int32_t before = s.accepted;
    s.verify_row = i;  // record_token counts a token equal to the draft (before a finish)
    sample_row(s, logits.subspan(static_cast<size_t>(i) * n_vocab, n_vocab), now);
    s.verify_row = -1;
    if (s.done || s.accepted == before) break;
    ++s.n_fed;  // the drafted row fed the token sampled: its keys and values stand
  }
  const int32_t accepted = s.accepted - accepted_before;
  drafted_step_ += m;
  accepted_step_ += accepted;
  // The draft length follows how much of the recent drafts held (growing 3, 7, 15 while they all
  // do, tile_draft_length); a draft wholly rejected pauses drafting for 1, 4, 16, then 64 steps,
  // so text the drafts miss costs few verified rows and draft passes (a draft model then catches
  // up in one pass).
  const int32_t max = s.spec.max_tokens;
  if (accepted == m) {
    s.draft_cap = tile_draft_length(2 * s.draft_cap + 1, max);
    s.draft_misses = 0;
  } else if (accepted == 0) {
    s.draft_cap = tile_draft_length(s.draft_cap / 2, max);
    s.draft_pause = 1 << (2 * std::min(s.draft_misses, 3));
    ++s.draft_misses;
    // A draft model wholly wrong four times in a row is not this text's: each probe costs it a
    // pass over everything since the last, so it stops drafting for this request.
    if (s.draft_seq >= 0 && s.draft_misses >= 4) {
      s.spec.mode = proto::speculative_mode::off;
      draft_->seq_free(std::exchange(s.draft_seq, -1));
    }
  } else {
    s.draft_cap = tile_draft_length(accepted + 1, max);
    s.draft_misses = 0;
  }
  // The rejected rows' positions are dropped (their blocks released) before anything reads them;
  // the draft model keeps what it was fed of the tokens that stood.
  if (s.done) return;
  engine_->seq_truncate(s.kv_seq, s.n_fed);
  if (s.draft_seq >= 0 && s.draft_fed > s.n_fed) {
    s.draft_fed = s.n_fed;
    draft_->seq_truncate(s.draft_seq, s.draft_fed);
  }
}

void scheduler::fail_batch(const std::string& error) {
  for (auto& s : running_) {
    if (s->n_in_batch > 0) finish(*s, proto::finish_reason::error, error);
  }
}

// Last resort after an unexpected exception in a step: nothing is known to be consistent, so
// every running sequence ends with `error`; queued requests are untouched.
void scheduler::fail_running(const std::string& error) {
  for (auto& s : running_) finish(*s, proto::finish_reason::error, error);
  remove_finished();
  publish_stats(false);
}

bool scheduler::refuse_if_model_changed() {
  std::deque<pending> queued;
  std::string why;
  {
    std::lock_guard lock(mu_);
    if (!model_failure_) model_failure_ = engine_->model_changed();  // one fstat
    if (!model_failure_) return false;
    why = *model_failure_;
    queued.swap(queue_);
  }
  for (auto& s : running_) finish(*s, proto::finish_reason::error, why);
  for (pending& p : queued) finish_unadmitted(p, proto::finish_reason::error, why);
  return true;
}

std::optional<std::string> scheduler::model_failure() const {
  std::lock_guard lock(mu_);
  return model_failure_;
}

void scheduler::finish(sequence& s, proto::finish_reason reason, std::string error) {
  if (s.done) return;
  s.done = true;
  // Choices still waiting for this one's prompt end with it; one that ends alone leaves the list.
  for (sequence* c : std::exchange(s.forks, {})) {
    c->fork_parent = nullptr;
    finish(*c, reason, error);
  }
  if (s.fork_parent) std::erase(s.fork_parent->forks, &s);
  if (s.kv_seq >= 0 && !(reason != proto::finish_reason::error && cache_keep(s))) engine_->seq_free(s.kv_seq);
  if (s.draft_seq >= 0) draft_->seq_free(std::exchange(s.draft_seq, -1));
  if ((reason == proto::finish_reason::stop || reason == proto::finish_reason::length) && !s.pool) {
    mean_answer_ = mean_answer_ == 0 ? s.n_generated : 0.8 * mean_answer_ + 0.2 * s.n_generated;
  }
  sync_capacity();  // before the sink answers: a client may submit again at once
  const finish_event e = s.make_finish(reason, std::move(error), clock::now());
  if (metrics_) metrics_->count_finished(to_string(reason));
  deliver_finish(*s.sink, e);
}

void scheduler::finish_unadmitted(token_sink& sink, size_t prompt_tokens, time_point submitted,
                                  proto::finish_reason reason, std::string error) {
  finish_event e = unadmitted_finish(prompt_tokens, reason, submitted, clock::now());
  e.error = std::move(error);
  if (metrics_) metrics_->count_finished(to_string(reason));
  deliver_finish(sink, e);
}

void scheduler::finish_unadmitted(pending& p, proto::finish_reason reason, std::string error) {
  for (auto& f : p.forks) finish_unadmitted(*f, p.request.prompt.size(), p.submitted, reason, error);
  finish_unadmitted(*p.sink, p.request.prompt.size(), p.submitted, reason, std::move(error));
}

void scheduler::remove_finished() {
  std::erase_if(running_, [](const std::unique_ptr<sequence>& s) { return s->done; });
}

void scheduler::publish_stats(bool ran_batch) {
  const int64_t free = engine_->free_blocks();
  // Deadline estimates (see the top): when each running slot is expected to free.
  std::vector<double> slots;
  for (const auto& q : running_) {
    if (q->done || q->yielded) continue;
    // Its tokens left: at most max_tokens, and once answers were measured, what the mean answer
    // leaves (at least half the mean: an answer already past the mean goes on for a while).
    double tokens = q->max_tokens - q->n_generated;
    if (mean_answer_ > 0) tokens = std::min(tokens, std::max(mean_answer_ - q->n_generated, mean_answer_ / 2));
    const double row = prompt_row_s_ > 0 ? prompt_row_s_ : decode_step_s_;
    slots.push_back(static_cast<double>(q->fill_left()) * row + tokens * decode_step_s_);
  }
  std::sort(slots.begin(), slots.end());
  std::lock_guard lock(mu_);
  slot_free_s_ = std::move(slots);
  published_at_ = clock::now();
  est_decode_step_s_ = decode_step_s_;
  est_prompt_row_s_ = prompt_row_s_;
  mean_answer_pub_ = mean_answer_;
  stats_.running = std::count_if(running_.begin(), running_.end(), [](const auto& q) { return !q->yielded; });
  stats_.cache_entries = static_cast<int64_t>(cache_.size());
  stats_.cache_blocks = cache_blocks_;
  stats_.kv_blocks_free = free;
  // Held by sequences: the prefix cache's blocks are reported apart (cache_blocks), and blocks
  // entries share with each other are counted once per entry, hence the floor.
  stats_.kv_blocks_used = std::max<int64_t>(0, total_blocks_ - free - cache_blocks_);
  if (ran_batch) ++stats_.steps;
}

// After shutdown(): every request still here ends with `shutdown`, or `cancelled` if its client
// cancelled first. submit() refuses new ones once stopping_ is set, so the queue taken here is
// the last.
void scheduler::drain() {
  const auto reason = [](const cancel_flag& c) {
    return c && c->load(std::memory_order_relaxed) ? proto::finish_reason::cancelled : proto::finish_reason::shutdown;
  };
  for (auto& s : running_) finish(*s, reason(s->cancel));
  running_.clear();
  std::deque<pending> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(queue_);
  }
  for (pending& p : queued) finish_unadmitted(p, reason(p.request.cancel));
  evict_all();  // cached blocks are zeroed like every other freed block
  publish_stats(false);
}

}  // namespace hearth
