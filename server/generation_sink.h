#pragma once
// Turns a generation's events into one API's answer: a whole JSON response, or a stream of
// server-sent events, for the native, OpenAI completions and chat, and Anthropic Messages
// endpoints.
//
// The scheduler thread calls it: it only formats (cheap) and hands bytes to the exchange, which
// posts them to the connection. A stream whose client falls more than max_stream_backlog events
// behind is ended with an error instead of buffering without bound.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app.h"
#include "proto/reasoning.h"
#include "proto/request_fields.h"
#include "proto/tools.h"
#include "http_exchange.h"
#include "token_sink.h"

namespace hearth {

enum class api_kind { native, completion, chat, anthropic, responses };

struct generation_context {
  api_kind kind = api_kind::native;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  std::string endpoint;        // for metrics and logs
  std::string id;              // cmpl-... / chatcmpl-...
  int64_t created = 0;         // unix seconds
  std::string model;
  std::string prompt_text;     // only kept when prompts may be logged
  std::string cache_partition;  // the prefix cache partition (routes.h cache_partition)
  bool cache = true;            // the request lets the prefix cache read and keep its blocks
  client_share client;          // who it is for, in fair shares (routes.h client_of)
  proto::context_overflow overflow = proto::context_overflow::error;  // the request's policy
  int32_t truncated_tokens = 0;  // prompt tokens a chat's dropped turns held (truncate_middle)
  // The request's deadline: "deadline_ms" in its body, else the X-Request-Deadline-Ms header
  // (the earlier of the two when both are given); raw header text until start() reads it.
  std::optional<int64_t> deadline_ms;
  std::string deadline_header;
  // Speculative decoding: the request's "speculative", the server's default filled in.
  proto::speculative_settings speculative;
  bool logprobs = false;       // the request asked for log-probabilities
  int32_t prompt_tokens = 0;   // the prompt's length (Anthropic's message_start reports it)
  nlohmann::json echo;         // Responses API: the request's settings the response object repeats
  // Chat with a reasoning model's template: its thinking goes to reasoning_content (reasoning.h);
  // reasoning_open: the prompt already opened the block.
  std::optional<proto::reasoning_markers> reasoning;
  bool reasoning_open = false;
  // Chat with tools: the format calls are parsed from (none: no tools, all content).
  proto::tool_format tools = proto::tool_format::none;
  std::chrono::steady_clock::time_point received;
};

class generation_sink final : public token_sink {
 public:
  generation_sink(app& a, std::shared_ptr<answer_channel> ex, generation_context ctx);

  // Sends the stream's header at once (the first event would also send it: whichever comes
  // first). Call after submit succeeded.
  void begin();

  bool on_token(const token_event& e) override;
  // Streams: an SSE comment with the place and estimated start (proto sse_queued_comment).
  void on_queued(int64_t position, double estimated_start_s) override;
  void on_finish(const finish_event& e) override;

 private:
  std::string token_chunk(const token_event& e);
  proto::reasoning_splitter::parts split(std::string_view text, bool last);
  void take_calls(proto::parsed_output parsed, std::string& content);
  proto::reasoning_splitter::parts stream_parts(const token_event& e);
  std::string anthropic_chunk(const proto::reasoning_splitter::parts& p);
  std::string anthropic_block(std::string_view type, std::string_view text);
  void finish_anthropic_stream(const finish_event& e);
  std::string whole_content(const finish_event& e);
  std::string responses_event(std::string_view type, nlohmann::json fields);
  std::string responses_piece(std::string_view item, std::string_view text);
  std::string close_responses_item();
  void finish_responses_stream(const finish_event& e);
  void finish_stream(const finish_event& e);
  void finish_whole(const finish_event& e);
  bool whole_is_error(const finish_event& e) const;

  app& app_;
  std::shared_ptr<answer_channel> ex_;
  generation_context ctx_;
  std::string text_;                // the text so far (reasoning included: for the log)
  std::optional<proto::reasoning_splitter> splitter_;  // with ctx_.reasoning
  std::optional<proto::tool_call_stream> tool_stream_;  // streamed chat with tools
  std::vector<proto::tool_call> calls_;                  // the calls the answer made
  std::string content_, reasoning_;  // non-streaming chat: the answer and the thinking, split
  std::vector<token_id> tokens_;    // every generated token
  std::vector<proto::token_logprobs_entry> logprobs_;  // non-streaming, with logprobs: every token's
  size_t logprob_offset_ = 0;       // completions streams: bytes of the tokens reported so far
  bool overflowed_ = false;
  bool cut_ = false;                // the generation ended at max_tokens or the context's end
  bool role_sent_ = false;          // chat streams open with a {"role":"assistant"} delta
  // Anthropic streams: the content block being written ("text" or "thinking"; "" none yet) and
  // the index of the last block opened.
  std::string block_;
  int block_index_ = -1;
  // Responses API streams: the output item being written ("reasoning" or "message"; "" none),
  // its index, the event sequence number, and the text so far (for the done events).
  std::string item_;
  int output_index_ = -1;
  int64_t sequence_ = 0;
  std::string item_text_, stream_reasoning_, stream_text_;
};

}  // namespace hearth
