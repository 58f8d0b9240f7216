#pragma once
// Continuous batching. One thread owns the engine (model, KV cache, compute pool) and every
// sequence. Each step it: drops cancelled sequences; resumes preempted sequences, then admits
// queued requests whose prompt's KV blocks fit (fair shares between clients, first come first
// served within one); builds ONE batch of
// one decode token per running sequence plus prompt chunks of new ones, up to the engine's batch
// size; runs one forward pass; samples each sequence that produced logits; and hands tokens to
// each request's sink. Requests join at the next step and leave when done, without waiting for
// each other.
//
// KV blocks on demand: a request is admitted with blocks for its prompt and first token only,
// and each decode row takes a new block when its sequence crosses a block boundary. When no
// block is free, the most recently admitted sequence that can be is preempted (its blocks freed)
// until the older one fits; if the one that needs the block is itself the newest, it is the one
// preempted. A preempted sequence is parked, keeping its sampler, text pipeline and tokens, and
// resumes before any queued request is admitted, as soon as blocks for everything it had fed are
// free: it then recomputes those positions as a prompt (no logits: its next token was already
// sampled) and decodes on. Recompute rather than pausing with its blocks held: a paused
// sequence frees nothing, so pausing cannot make room, and recomputing a prefix costs a prefill,
// the cheapest work there is. No admitted request ever fails for memory: every request alone
// fits the pool (submit refuses others), and the oldest sequence can always take blocks from
// newer ones. Admission order is the priority: a resumed sequence keeps its place.
//
// Chunked prefill that respects running streams: while any sequence decodes, prompt rows (new
// prompts and recomputed ones) share a step with the decode rows only up to a budget, so a long
// prompt advances in chunks between the decode steps instead of stretching one of them to its
// whole prefill. The budget is sized from measured step times: a step that carries prompt rows
// should take decode_step / (1 - prefill_share), decode_step being the time of the recent steps
// that carried decode rows only. After each step in which the budget was used up, it is scaled
// by target / measured (at most x1.25 up or /2 down a step), never below 2 rows so a prompt always
// advances. prefill_share 60 (the default) gives the prompt 60% of every such step: running
// streams see their inter-token gap about 2.5x while a prompt is prefilled, and the prompt is
// prefilled at about half its solo rate (measured: docs/performance.md, "Scheduling"); 100 fills
// every batch with prompt rows as far as the engine's batch allows (the fastest prefill, the
// longest gaps). With no sequence decoding, prompts fill the batch.
//
// Prefix cache: when a sequence ends, the KV blocks it filled (prompt and generated tokens, whole
// blocks only) stay in the pool as a cache entry, indexed by a chain hash of their tokens (block i's
// hash covers blocks 0..i and the request's cache partition). A new request whose prompt starts
// with cached blocks shares them (reference-counted, read-only: it writes only positions past
// them) and computes only the rest; at least its last prompt token is always computed, for its
// logits. Entries are evicted least recently used first whenever blocks are needed (before any
// sequence is preempted), so the cache only ever holds blocks nobody else wants; evicted blocks
// that no sequence still holds are zeroed, as every freed block. Tokens are the same cached or
// not (batch invariance: a row's keys and values do not depend on the pass that computed them).
// Privacy: entries are shared only within one partition (the front end passes the API key, so
// clients with different keys never share), and a request with `cache` false neither reads nor
// fills it. Engines that cannot share blocks (batch_engine::shares_blocks) have no cache.
//
// Fair shares between clients (generation_request::client: the front end sets an API key, or a
// peer address and Origin, with a weight and a cap from the config). Running slots are what a
// client's decode tokens per second come from (one row per running sequence per step), so they
// are shared by weight: when a slot is free, the next request started is the head (its oldest
// waiting request) of the client with the fewest slots for its weight once started, the earliest
// on a tie; with one client this is first come first served. A client at its cap
// (max_running) starts nothing more, and its queue never holds others back. When every slot is
// taken, a client below its share takes one from the client furthest above it: that client's
// newest sequence yields (it is preempted as above, but gives its slot up and resumes when its
// client's turn comes again, recomputing what it had fed), as long as the yielding client keeps
// at least the newcomer's share, so slots never ping-pong. Two backlogged clients of equal weight
// thus decode at equal rates, and a newcomer starts within a step instead of behind another
// client's queue. Prompt rows are shared too: when several clients have prompts to fill, each of
// a step's prompt rows goes to the client with the fewest rows in that step for its weight (its
// decode rows count), the turn rotating on ties: a deficit round robin whose quantum is one row.
// A client's rows go to its sequences in admission order.
//
// Rolling context (generation_request::rolling): a sequence that reaches the end of the context
// keeps its first roll_keep positions (the prompt's head, at most a quarter of the context) and
// the newer half of the rest, and goes on: the window is recomputed as a prompt (as after a
// preemption, positions from 0) rather than shifted in place, so its keys and values are exactly
// those of a fresh request with that window (a shifted cache re-rotates stored keys, which in F16
// or quantized rows is not the same), at the cost of a prefill of at most 5/8 of the context
// every 3/8 of it generated. The dropped positions count in usage.truncated_tokens.
//
// Deadlines and honest queues: a request may carry a deadline. At submit its finish is estimated
// (estimate_locked): when a slot frees for it (the running sequences' expected remaining time,
// published every step: their prompt rows left at the measured cost of a prompt row, and their
// tokens left, at most the recent mean answer length, at the measured decode step; each request
// queued ahead takes the earliest slot for its own expected time), plus its prompt's prefill,
// plus deadline_tokens decode steps; one that cannot make it is refused (late) with the estimate, before it takes anything.
// Past its deadline a request ends with `deadline`: queued, with no tokens; running, after the
// tokens it had. Every queued request's sink hears its place (on_queued) when it changes, and
// every second otherwise.
//
// Steerable generations (generation_request::steer, steering.h): changes are applied at the start
// of a step, after admission and before the batch is built, so the step's rows and every token
// sampled from then on see them. An append feeds its tokens as a prompt chunk after the sequence's
// pending token (sharing the prompt budget and fair shares like any prompt), with logits on its
// last row only; it takes the KV blocks for them at once (evicting cache entries, and parking the
// sequence, as a preemption, if they are not free). It must leave room in the context for at least
// one more token: a rolling window slides first if that makes room; otherwise max_tokens is cut to
// what the context still holds. A paused sequence gets no rows and keeps its slot and blocks; when
// blocks run short it is the first preempted, and it resumes (recomputing) only once unpaused. While
// every running sequence is paused the thread sleeps until a submit, a change or 100 ms pass
// (cancels and deadlines are seen then).
//
// Speculative decoding (generation_request::speculative): a decode row may bring drafted tokens,
// fed at the positions after it in the same batch, each row asking for logits. Mode ngram drafts
// by prompt lookup (prompt_lookup.h) from the sequence's own context; mode draft by a draft model
// (the constructor's `draft` engine), greedily: each sequence has its own sequence in the draft
// engine, caught up to its pending token when it drafts, then one draft pass per drafted token
// carries every drafting sequence; after verification the draft sequence keeps only positions whose
// tokens stood (a sliding window starts it over). A draft engine that fails stops drafting for the
// sequences in that pass; their rows are verified (and rejected) as they are. Drafts take only
// rows, logit rows and free KV blocks that no other sequence's decode row of the step needs (they
// never evict nor preempt). After the pass the rows are sampled in order, each exactly as a lone
// decode row would be; a drafted token stands while it equals the token sampled before it, and the
// first that does not is replaced by that token and ends the sequence's step, its positions and
// those after dropped. So a request's tokens are the same with or without speculation, at any
// temperature and seed (batch invariance again); what changes is how many come out of one step.
// The draft length adapts per sequence: it starts at 2, doubles while drafts hold and shrinks when
// they fail, and a draft wholly rejected pauses drafting for 1, 4, 16, then 64 steps (a draft
// model's fourth wholly rejected draft in a row ends its drafting for the request: each probe
// costs it a pass over every token since the last). usage counts drafted_tokens
// and accepted_tokens.
//
// Embedding requests (generation_request::embed) share the queue, the KV blocks and the batches:
// their prompt rows ask the engine for hidden states instead of logits, and they finish when the
// prompt is in. They hold all their blocks from admission and are never preempted.
//
// Per request: tokens reach the sink as they are sampled. The end-of-generation token finishes
// with `stop` and is counted in usage.completion_tokens but never passed to on_token; a stop
// string finishes with `stop` and never reaches the sink; max_tokens finishes with `length`.
// usage.completion_tokens counts exactly the tokens the sink took, plus EOG: a cancel seen after
// the forward pass drops that pass's token, and a token the sink refuses is not counted.
// A request's tokens do not depend on what else runs, nor on whether it was preempted: each
// sequence has its own positions, sampler and text pipeline, and the engine computes a row the
// same whatever batch it is in (batch_engine.h), so recomputed keys and values equal the
// originals.
//
// Thread-safety: submit(), stats() and shutdown() may be called from any thread; everything
// else happens on the scheduler thread. No exception crosses threads: failures become finish
// events with reason `error`.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "batch_engine.h"
#include "grammar.h"
#include "sampler.h"
#include "token_sink.h"

namespace hearth {

class metrics;

// Set by whoever owns the request (a session whose client left, a WebSocket cancel message);
// the scheduler notices at its next step.
using cancel_flag = std::shared_ptr<std::atomic<bool>>;

// Who a request is for, in fair shares (see the top): requests with the same id are one client.
// The front end sets it (the API key when keys are configured, else the connection's peer address
// and Origin) and the weight and cap the config gives that client.
struct client_share {
  std::string id;
  int32_t weight = 1;       // 1..1000: slots and rows in proportion when clients compete
  int32_t max_running = 0;  // sequences it may run at once (choices count one each); 0: no cap
};

struct generation_request {
  std::vector<token_id> prompt;   // not empty, ids in [0, vocab_size); see submit()
  sampling_params sampling;       // already validated
  int32_t max_tokens = 16;        // >= 1
  std::vector<std::string> stop;  // already validated
  cancel_flag cancel;             // may be null
  int32_t top_logprobs = -1;      // -1: no log-probabilities; else 0..max_top_logprobs alternatives
  std::shared_ptr<const grammar> constraint;  // constrained decoding (grammar.h); null: none
  // Control tokens released as this text (showing_token_text): a chat format's tool-call markers.
  std::vector<std::pair<token_id, std::string>> shown_tokens;
  // An embedding instead of a generation: the prompt is prefilled (the whole input in one pass
  // on an encoder) and its hidden rows pooled as the engine's model says (batch_engine::pooling);
  // nothing is generated, sampling, stop, max_tokens and the rest are ignored, and the
  // L2-normalized vector arrives in finish_event::embedding with reason `stop`.
  bool embed = false;
  // Prefix cache (see the top): the partition its blocks may be shared in, and whether it may
  // use the cache at all.
  std::string cache_partition;
  bool cache = true;
  client_share client;
  // Context overflow (proto request_fields.h): with `rolling`, when the sequence reaches the end
  // of the context its window slides (see the top) and max_tokens may exceed the context.
  // truncated_tokens: prompt tokens the front end already dropped, reported in usage.
  bool rolling = false;
  int32_t truncated_tokens = 0;
  // Deadline (see the top): past it the request ends with `deadline`, waiting or generating.
  // deadline_tokens: the tokens its finish is estimated with at submit (the max_tokens the
  // client gave, else 1: its first token).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int32_t deadline_tokens = 1;
  // Steerable (see the top, and steering.h): the box the front end puts changes in (null: none).
  std::shared_ptr<steering_box> steer;
  // Speculative decoding (see the top): off, or how tokens are drafted and how many at most.
  proto::speculative_settings speculative;
};

struct scheduler_options {
  int32_t max_sequences = 8;      // sequences running at once (capped at the engine's max_batch
                                  // and max_logit_rows: each needs a logit row every step)
  int32_t queue_limit = 64;       // requests that may wait; one that would make more wait is
                                  // refused. A request that can start at once (a free running
                                  // slot, its KV blocks free, nobody queued ahead) never counts.
  bool prefix_cache = true;       // keep finished sequences' blocks for later prompts (see the top)
  int32_t prefill_share = 60;     // percent (1..100) of a step's time prompt rows may take while
                                  // sequences decode (see the top); 100: no limit
};

struct scheduler_stats {
  int64_t queued = 0;
  int64_t running = 0;
  int64_t parked = 0;              // preempted sequences waiting for blocks (counted in running)
  int64_t preemptions = 0;         // since start, to free KV blocks
  int64_t fair_preemptions = 0;    // since start, to give another client its share of slots
  int64_t yielded = 0;             // sequences preempted for fairness, waiting for a slot
  int64_t recomputed_tokens = 0;   // positions recomputed after preemptions, since start
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_free = 0;
  std::string kv_type;             // the cache's row type ("F16", "Q8_0", "Q4_0")
  uint64_t kv_bytes_per_token = 0;  // bytes of cache one position of context takes
  int64_t steps = 0;
  int64_t cache_entries = 0;       // prefix cache: entries, blocks they hold (shared ones once
  int64_t cache_blocks = 0;        // per entry), and prompt tokens read from it since start
  int64_t cache_hit_tokens = 0;
  int64_t drafted_tokens = 0;      // speculative decoding, since start: tokens drafted, and
  int64_t accepted_tokens = 0;     // those the model's own sampling agreed with
  int64_t prefill_budget = 0;      // prompt rows a step may carry while sequences decode
  double decode_step_ms = 0;       // recent steps with decode rows only (0: none yet)
};

enum class submit_status {
  accepted,       // the sink will see tokens and exactly one on_finish
  queue_full,     // refused: it would have to wait, and queue_limit requests already do (429)
  too_long,       // refused: prompt + max_tokens exceeds the context or the whole KV pool (400)
                  // (a request must fit alone: blocks are taken on demand, but a sequence
                  // must be able to finish once it is the oldest)
  shutting_down,  // refused: the daemon is stopping (503)
  late,           // refused: estimated to finish after its deadline (429; submit_estimate says when)
};

// What submit estimated for a request with a deadline, from the queue ahead of it and the
// measured step times (see the top); zeros when nothing was measured yet.
struct submit_estimate {
  double start_s = 0;   // until it starts
  double finish_s = 0;  // until its deadline_tokens are out
};

class scheduler {
 public:
  // Starts the scheduler thread. `m` may be null (no metrics).
  // `draft` (optional): a draft model's engine for speculative mode draft (see the top); it must
  // share the engine's vocabulary (the caller checks the tokens; this checks the size), hold its
  // context and take a logit row per running sequence, else std::invalid_argument.
  scheduler(std::unique_ptr<batch_engine> engine, const scheduler_options& o, metrics* m = nullptr,
            std::unique_ptr<batch_engine> draft = nullptr);
  ~scheduler();  // shutdown() then join
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Never blocks on the engine. On anything but `accepted`, the sink is not called.
  // too_long also covers caller bugs that no request could survive: an empty prompt,
  // max_tokens < 1, a null sink. Other invalid content (prompt ids outside the vocabulary,
  // invalid sampling or stop strings) is accepted and finishes with `error` and a message.
  submit_status submit(generation_request r, std::shared_ptr<token_sink> sink, submit_estimate* estimate = nullptr);
  // A request with several choices (OpenAI's n): choice i goes to sinks[i] and samples with
  // seed + i, so it gives what a lone request with that seed would. On an engine that shares
  // blocks (batch_engine::shares_blocks) the prompt is computed once and its KV blocks shared by
  // every choice: only the block the prompt ends in is copied, when the prompt is in. Each
  // sink gets exactly one on_finish; on anything but `accepted` none is called. too_long also
  // covers more choices than may run at once, and embedding requests with several sinks.
  submit_status submit(generation_request r, std::vector<std::shared_ptr<token_sink>> sinks,
                       submit_estimate* estimate = nullptr);

  // Stops accepting; queued and running requests finish with reason `shutdown` at the next step
  // (`cancelled` if their cancel flag is already set). Returns once the scheduler thread has
  // ended, i.e. after every sink got its on_finish. Idempotent. Called from a sink (the
  // scheduler thread), it only requests the stop; the destructor must not run there.
  void shutdown();

  // Puts a change in a running or queued request's box and wakes the scheduler thread, which
  // applies it at its next step (steering.h). Never blocks on the engine.
  void steer(steering_box& box, steer_op op);

  scheduler_stats stats() const;
  // Why every request now ends with an error, or nullopt: the engine's model file changed on
  // disk while in use (batch_engine::model_changed), seen before or after a forward pass. Every
  // running and queued request then finishes with `error` and that message, and so does every
  // later one: the weights cannot be trusted again.
  std::optional<std::string> model_failure() const;
  int64_t context_length() const { return context_length_; }
  int32_t vocab_size() const { return vocab_size_; }
  // The engine's (batch_engine::generates, pooling, hidden_dim): whether generation requests can
  // run, and how embedding requests pool (none: they cannot) into vectors of embedding_dim().
  bool generates() const { return generates_; }
  pooling_type pooling() const { return pooling_; }
  int64_t embedding_dim() const { return embedding_dim_; }

 private:
  struct sequence;  // server/sequence.h
  struct pending {
    generation_request request;
    std::shared_ptr<token_sink> sink;
    std::vector<std::shared_ptr<token_sink>> forks;  // the sinks of choices 1..n-1
    std::chrono::steady_clock::time_point submitted;
    int64_t told_position = -1;  // the place its sink last heard (on_queued), and when
    std::chrono::steady_clock::time_point told_at{};
  };
  using time_point = std::chrono::steady_clock::time_point;

  void run();
  // One continuous-batching step (see the top of this file).
  void step();
  void drop_cancelled();
  // Ends running and queued requests whose deadline passed.
  void drop_late();
  // Ends the queued requests `drop` picks with `reason`, outside mu_.
  void drop_queued(const std::function<bool(const pending&)>& drop, proto::finish_reason reason);
  // Tells queued requests' sinks their place and estimated start (see the top).
  void tell_queue();
  // Seconds until a request needing `slots` slots behind `ahead` queued requests starts, and
  // then finishes `prompt` prompt rows and `tokens` tokens; nullopt before any step was
  // measured. mu_ held.
  std::optional<submit_estimate> estimate_locked(int64_t ahead, bool starts_at_once, int64_t prompt, int64_t tokens) const;
  void admit();
  // Applies the changes waiting in running sequences' steering boxes (see the top).
  void steer_running();
  // One change to s; the reason it was refused, or an empty error.
  steer_result apply_steer(sequence& s, steer_op& op);
  steer_result append(sequence& s, const std::vector<token_id>& tokens);
  // Gives parked sequences their blocks back, oldest first; false while one still waits (and
  // the queue with it).
  bool resume_parked();
  // Gives a parked sequence blocks for everything it had fed and its next row; false if they
  // are not free yet (it waits), true once resumed or, if it never can be, finished.
  bool resume(sequence& s);
  // Preempts (yields) a newer sequence of a client above its share, so that client `c` may
  // start `slots` more sequences (see admit); false if no client may give one. `used`: slots
  // per client.
  bool yield_slot_for(const client_share& c, int64_t slots, const std::map<std::string_view, int64_t>& used);
  void start(pending&& p);
  // Makes room in s's KV sequence for its next decode row, preempting newer sequences (or s
  // itself, then false) when the pool is out of blocks.
  bool grow(sequence& s);
  // A rolling sequence at the end of the context: its window becomes the first roll_keep
  // positions and the newer half of the rest, recomputed from the next step (see the top).
  void slide(sequence& s);
  // Frees s's blocks and parks it until resume_parked, or (yield) until admit gives its client a
  // slot again.
  void preempt(sequence& s, bool yield = false);
  // Prefix cache (see the top). lookup: shares the longest cached prefix of `prompt` into the new,
  // empty kv sequence `kv`; returns the positions it covers. keep: makes a finishing sequence's
  // whole blocks a cache entry; true if it took over s's kv sequence. evict_one: drops the least
  // recently used entry; false if there is none.
  int32_t cache_lookup(const generation_request& r, int32_t kv);
  // The entry holding the longest cached prefix of r's prompt and its blocks ({-1, 0}: none);
  // marks it used, so eviction takes it last.
  std::pair<int32_t, int64_t> cache_match(const generation_request& r);
  bool cache_keep(sequence& s);
  bool evict_one();
  void evict_all();
  // Frees cache entries until `blocks` blocks are free or the cache is empty.
  void evict_for(int64_t blocks);
  void build_batch();
  // Fair shares of `rows` prompt rows between the clients with prompts to fill (see the top):
  // rows per client id; empty when fewer than two clients have any (no limit).
  std::map<std::string_view, int64_t> prompt_grants(int64_t rows);
  void run_batch();
  void sample_row(sequence& s, std::span<const float> logits, time_point now);
  // Speculative decoding (see the top): drafts for s's decode row into s.draft, at most `rows`
  // tokens, leaving `blocks_kept` free KV blocks for the decode rows still to place.
  void draft_tokens(sequence& s, int64_t rows, int64_t blocks_kept);
  // Samples s's decode row and its drafted rows (logits: 1 + s.draft.size() rows) in order, as
  // far as the drafts hold, and drops the positions of the rejected ones.
  void verify_drafts(sequence& s, std::span<const float> logits, time_point now);
  // Runs the draft model for the sequences draft_tokens listed (model_drafts_): catches each one's
  // draft sequence up to its pending token, then one pass per draft token, all of them batched;
  // writes the tokens into their rows of batch_.
  void run_draft_model();
  // Updates the decode step time and the prompt-row budget from a step that took `seconds`.
  void tune_prefill(int64_t decode_rows, int64_t prompt_rows, double seconds);
  // Pools the batch's hidden rows into their embeddings; finishes those whose input is all in.
  void pool_rows();
  void fail_batch(const std::string& error);
  void fail_running(const std::string& error);
  // Checks the engine's model; once it changed, fails every request and returns true.
  bool refuse_if_model_changed();
  // Exactly once per sequence: frees its KV blocks, then calls its sink's on_finish.
  void finish(sequence& s, proto::finish_reason reason, std::string error = {});
  // The same for a request that never ran, each of its choices' sinks (its sink alone if
  // `pending` was already moved from).
  void finish_unadmitted(pending& p, proto::finish_reason reason, std::string error = {});
  void finish_unadmitted(token_sink& sink, size_t prompt_tokens, time_point submitted,
                         proto::finish_reason reason, std::string error);
  void remove_finished();
  void publish_stats(bool ran_batch);
  void drain();
  // Requests that would wait if one needing `blocks` KV blocks and `slots` running sequences
  // joined the queue now. mu_ held.
  int64_t waiting_with(int64_t blocks, int64_t slots) const;
  // The KV blocks a queued request takes when it starts (its prompt and first token), all its
  // choices included.
  int64_t blocks_of(const pending& p) const;
  // Lets the choices waiting on `parent`'s prompt go on from the logits its last prompt row gave.
  void release_forks(sequence& parent, std::span<const float> logits, time_point now);
  // Starts a request's choices 1..n-1 beside its first, `parent` (see submit).
  void start_forks(pending& p, const generation_request& request, sequence& parent, int32_t parent_kv);
  // Publishes active_ and blocks_free_ after sequences started or finished.
  void sync_capacity();

  std::unique_ptr<batch_engine> engine_;
  std::unique_ptr<batch_engine> draft_;  // speculative mode draft's model (null: none)
  scheduler_options options_;
  metrics* metrics_;
  const int64_t context_length_;
  const int32_t vocab_size_;
  // Engine constants cached for submit(), which runs on other threads than the engine's.
  const int32_t block_size_;
  const int64_t total_blocks_;
  // Sequences running at once: max_sequences, capped so every running sequence's decode row
  // fits in one batch and may ask for logits.
  const int64_t max_running_;
  const bool generates_;
  const pooling_type pooling_;
  const int64_t embedding_dim_;
  const bool shares_blocks_;

  mutable std::mutex mu_;  // guards queue_, stopping_, active_, blocks_free_, stats_, model_failure_
  std::condition_variable wake_;
  std::deque<pending> queue_;
  bool stopping_ = false;
  bool poked_ = false;  // a submit or a change since the thread last slept while all are paused
  std::optional<std::string> model_failure_;  // written once, by the scheduler thread
  // For submit() to tell a request that can start at once from one that must wait: sequences
  // admitted and not finished, the KV blocks free (counting the prefix cache's, which are
  // evicted on demand; blocks an entry shares with running sequences make this an upper bound,
  // so a request counted as starting at once may wait a step, never the reverse), and sequences
  // parked (while any is, every queued request waits). Updated at every admission, finish and
  // preemption.
  int64_t active_ = 0;
  int64_t blocks_free_ = 0;
  int64_t parked_ = 0;
  // For deadline estimates (see the top), published every step: seconds until each running slot
  // frees (ascending), measured from published_at_, the decode step and a prompt row's cost.
  std::vector<double> slot_free_s_;
  time_point published_at_{};
  double est_decode_step_s_ = 0;
  double est_prompt_row_s_ = 0;
  double mean_answer_pub_ = 0;
  scheduler_stats stats_;
  std::once_flag joined_;

  // Scheduler thread only; reused every step.
  bool idle_ = false;  // the last step ran nothing, and every running sequence is paused
  std::vector<std::unique_ptr<sequence>> running_;  // in admission order
  std::vector<batch_entry> batch_;
  std::vector<sequence*> logit_owners_;  // the sequence of each logit row of batch_
  std::vector<sequence*> hidden_owners_;  // the sequence of each hidden row of batch_ (embeddings)
  std::vector<pending> dropped_;         // queued requests cancelled this step
  // The prefix cache: entries by the kv sequence holding their blocks, and the chain hash of
  // each cached block (0..i) to the newest entry holding it.
  struct cache_entry {
    std::vector<token_id> tokens;  // the positions its blocks hold
    std::vector<uint64_t> hashes;  // per block
    uint64_t last_used = 0;
  };
  std::map<int32_t, cache_entry> cache_;
  std::map<uint64_t, int32_t> cache_index_;
  uint64_t cache_clock_ = 0;
  int64_t cache_blocks_ = 0;
  // Chunked prefill (see the top): the batch's decode and prompt rows, whether the prompt rows
  // were cut by the budget, the recent decode-only step time (0: none measured yet), and the
  // budget of prompt rows per step while sequences decode.
  int64_t decode_rows_ = 0;
  int64_t prompt_rows_ = 0;
  bool prefill_capped_ = false;
  double decode_step_s_ = 0;
  double prompt_row_s_ = 0;      // recent cost of one prompt row beside decode rows (0: none yet)
  double mean_answer_ = 0;       // recent mean tokens of a finished answer (0: none yet)
  int64_t prefill_budget_ = 0;
  std::vector<sequence*> model_drafts_;  // sequences whose drafts the draft model writes this step
  std::vector<batch_entry> draft_batch_;  // run_draft_model's passes, and their logit rows' owners
  std::vector<sequence*> draft_owners_;
  int64_t drafted_step_ = 0;   // speculative decoding: this step's drafted and accepted tokens
  int64_t accepted_step_ = 0;
  uint64_t fair_turn_ = 0;  // rotates which client goes first on a tie (prompt_grants)
  std::shared_ptr<const token_trie> trie_;  // the vocabulary's trie, built for the first grammar
  // Tries with some control tokens shown (generation_request::shown_tokens), by that set: in
  // practice one, the model's tool-call markers.
  std::map<std::vector<std::pair<token_id, std::string>>, std::shared_ptr<const token_trie>> shown_tries_;
  std::shared_ptr<const token_trie> trie_for(const std::vector<std::pair<token_id, std::string>>& shown);

  std::thread thread_;
  std::thread::id thread_id_;  // set once in the constructor (thread_ changes when joined)
};

}  // namespace hearth
