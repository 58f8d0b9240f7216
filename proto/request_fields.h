#pragma once
// Fields several APIs share, read with a field_reader: sampling parameters, stop strings,
// max_tokens, token id arrays, and the OpenAI options this server refuses rather than ignores.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/generation.h"
#include "proto/json_body.h"
#include "sampler.h"  // sampling_params, max_top_logprobs

namespace hearth::proto {

// What happens when a prompt plus max_tokens exceeds the context ("context_overflow"):
// - error: 400 with code context_length_exceeded, naming both numbers;
// - truncate_middle: the prompt loses tokens from its middle until it fits (a chat loses whole
//   turns after its system prompt, oldest first, keeping the newest);
// - rolling: the prompt is cut as by truncate_middle only if it alone leaves no room; then when
//   the generation reaches the end of the context, the window slides (the oldest half after the
//   prompt's head is dropped), so max_tokens may exceed the context: endless generation.
enum class context_overflow { error, truncate_middle, rolling };
std::string_view to_string(context_overflow o);
std::optional<context_overflow> context_overflow_from(std::string_view name);

// What validation needs to know about the loaded model.
struct limits {
  int32_t n_vocab = 0;  // token ids must lie in [0, n_vocab)
  int64_t n_ctx = 0;    // max_tokens must be <= n_ctx (unless rolling); <= 0: not checked
  int32_t max_choices = 1;  // OpenAI's n may be 1..max_choices
  context_overflow overflow = context_overflow::error;  // the server's default policy
  speculative_settings speculative;  // the server's default (--speculative, --draft-max)
  bool draft_model = false;          // the server has a draft model (--draft-model): mode draft may run
};

// OpenAI's limit on stop strings, applied to every API.
inline constexpr size_t max_stop_strings = 4;

enum class api_flavor {
  native,  // /v1/generate and WebSocket: llama-server's ranges
  openai,  // /v1/completions and /v1/chat/completions: temperature also capped at 2, as OpenAI does
};

// Reads temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, presence_penalty,
// frequency_penalty and seed into p; fields the request leaves out keep p's values (the
// caller's per-endpoint defaults). Ranges are sampler.h's validate(), whose message is used
// as is. seed: any uint64; absent, null or -1 (llama-server's "random") draw random_seed(),
// so every request has a concrete seed from here on.
void read_sampling(field_reader& r, sampling_params& p, api_flavor flavor);
// validate(p) as a 400 whose param is the field it names, or nullopt if p is usable.
std::optional<api_error> sampling_error(const sampling_params& p);

// "stop": a string or an array of at most max_stop_strings strings. Empty strings are dropped
// (they could never match); absent or null gives none.
std::vector<std::string> read_stop(field_reader& r);

// An integer in [1, n_ctx] under `key`, or nullopt if absent (or on error).
std::optional<int32_t> read_max_tokens(field_reader& r, std::string_view key, const limits& lim);

// `array` (which the caller found under `key`) as token ids, each an integer in [0, n_vocab).
// `shown` names the array in messages ("tokens", "prompt[0]"); the error's param is `key`.
std::optional<std::vector<int32_t>> read_token_ids(field_reader& r, std::string_view key,
                                                   const nlohmann::json& array,
                                                   std::string_view shown, int32_t n_vocab);

// OpenAI options that would change the response's shape, refused with "<field> is not
// supported" instead of being silently ignored. Each accepts its neutral values.
// "n": the choices wanted, 1..max_choices (1 when absent or null).
int32_t read_n(field_reader& r, int32_t max_choices);
void refuse_flag(field_reader& r, std::string_view key);  // logprobs, echo: false
void refuse_best_of(field_reader& r);                   // best_of: 1
void refuse_suffix(field_reader& r);                    // suffix: ""
void refuse_nonempty_object(field_reader& r, std::string_view key);  // logit_bias: {}
void refuse_nonempty_array(field_reader& r, std::string_view key);   // tools: []
// Log-probabilities asked for, as the number of alternatives per token (0..max_top_logprobs),
// or -1 for none:
// - chat (OpenAI): "logprobs": bool, "top_logprobs": 0..20 (only with logprobs true);
// - completions (OpenAI legacy) and /v1/generate: "logprobs": an integer 0..20 (the
//   alternatives); false, null or absent for none, true for 0 alternatives.
int32_t read_chat_logprobs(field_reader& r);
int32_t read_count_logprobs(field_reader& r);

// "stream_options": {"include_usage": bool}, allowed only with stream true (as OpenAI).
bool read_include_usage(field_reader& r, bool stream);
// "cache": false keeps a request out of the prefix cache (neither read nor filled); default true.
bool read_cache(field_reader& r);
// "deadline_ms": milliseconds from the request's arrival within which it must finish (1 to
// 86,400,000); absent or null: none.
std::optional<int64_t> read_deadline_ms(field_reader& r);
// "context_overflow": "error", "truncate_middle" or "rolling"; absent or null: lim.overflow.
context_overflow read_context_overflow(field_reader& r, const limits& lim);
// The limits max_tokens is read with under policy o: a rolling window has no upper bound.
limits overflow_limits(limits lim, context_overflow o);
// "speculative" (generation.h speculative_settings): an object {"mode": "off" | "ngram" |
// "draft", "max_tokens": 1..max_speculative_tokens}, either key optional, or the mode alone as a
// string ("speculative": "ngram"). What the request leaves out is lim.speculative's (absent or
// null: all of it). A resolved mode "draft" without lim.draft_model is a 400 naming
// "speculative", whether the request or the default asked for it.
speculative_settings read_speculative(field_reader& r, const limits& lim);

}  // namespace hearth::proto
