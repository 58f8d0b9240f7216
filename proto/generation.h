#pragma once
// The vocabulary shared by every API and the scheduler: why a generation ended, what it used,
// how long it took. (The JSON mappings of each API live beside their request types.)
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::proto {

// The changes a running generation takes (the WebSocket's steering messages, the scheduler's
// steering box): new settings, input appended, pause, resume.
enum class steer_kind { update, append, pause, resume };
std::string_view to_string(steer_kind k);  // "update", "append", "pause", "resume"

// A change to a running generation's settings (the WebSocket's `update`): the fields given change
// from its next token on, the others stay.
struct generation_update {
  std::optional<float> temperature;
  std::optional<int32_t> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<std::vector<std::string>> stop;
  std::optional<int32_t> max_tokens;
};

// stop: end of text or a stop string; length: max_tokens or the context; cancelled: the client
// cancelled or left; shutdown: the daemon is stopping (not the client's doing: the client should
// retry elsewhere or later); error: the generation failed; deadline: the request's deadline
// passed (while it waited, or while it generated: the text so far is the answer).
enum class finish_reason { stop, length, cancelled, shutdown, error, deadline };
std::string_view to_string(finish_reason r);

// Speculative decoding (the request's "speculative" field, or the server's default): how the
// scheduler drafts tokens that one forward pass of the model then verifies. off: none; ngram:
// prompt lookup, the continuation of the latest earlier occurrence of the context's last tokens;
// draft: a smaller draft model (--draft-model). max_tokens: the most drafted per step.
enum class speculative_mode { off, ngram, draft };
std::string_view to_string(speculative_mode m);
std::optional<speculative_mode> speculative_mode_from(std::string_view name);
inline constexpr int32_t max_speculative_tokens = 16;
struct speculative_settings {
  speculative_mode mode = speculative_mode::off;
  int32_t max_tokens = 8;  // 1..max_speculative_tokens
};

struct usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  // Speculative decoding: tokens drafted, and of those the ones the model's own sampling agreed
  // with (of completion_tokens, produced without a forward pass of their own).
  int32_t drafted_tokens = 0;
  int32_t accepted_tokens = 0;
  int32_t cached_tokens = 0;  // of prompt_tokens, read from the prefix cache instead of computed
  // Tokens dropped to fit the context (context_overflow truncate_middle or rolling): the prompt's
  // and, with a rolling window, those that slid out during generation.
  int32_t truncated_tokens = 0;
};

// A generated token's log-probability (log-softmax of the logits the sampler saw) and the most
// likely alternatives at its step, with their exact bytes (possibly partial UTF-8).
struct logprob_token {
  int32_t id = 0;
  std::string bytes;
  float logprob = 0;
};
struct token_logprobs_entry {
  logprob_token token;
  std::vector<logprob_token> top;  // most likely first
};

struct timings {
  double queue_ms = 0;            // submitted -> admitted to the batch
  double prompt_ms = 0;           // admitted -> prompt processed (first token sampled)
  double prompt_per_second = 0;
  double predicted_ms = 0;        // first token -> last token
  double predicted_per_second = 0;
};

}  // namespace hearth::proto
