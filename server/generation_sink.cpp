#include "generation_sink.h"

#include <cstdio>

#include "http_util.h"
#include "proto/anthropic_api.h"
#include "proto/generation_json.h"
#include "proto/ids.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "proto/responses_api.h"
#include "proto/sse.h"
#include "request_log.h"

namespace hearth {

generation_sink::generation_sink(app& a, std::shared_ptr<answer_channel> ex, generation_context ctx)
    : app_(a), ex_(std::move(ex)), ctx_(std::move(ctx)) {
  if (ctx_.reasoning) splitter_.emplace(*ctx_.reasoning, ctx_.reasoning_open);
  if (ctx_.tools != proto::tool_format::none && ctx_.stream) tool_stream_.emplace(ctx_.tools);
}

// Keeps the calls (each with an id: OpenAI's clients match results to calls by it) and adds the
// rest of the text to `content`.
void generation_sink::take_calls(proto::parsed_output parsed, std::string& content) {
  content += parsed.content;
  for (proto::tool_call& c : parsed.calls) {
    if (c.id.empty()) c.id = proto::new_id(ctx_.kind == api_kind::anthropic ? "toolu_" : "call_");
    calls_.push_back(std::move(c));
  }
}

// Chat text as reasoning and content (all content without a reasoning template); `last`
// releases what the splitter still holds.
proto::reasoning_splitter::parts generation_sink::split(std::string_view text, bool last) {
  proto::reasoning_splitter::parts p;
  if (!splitter_) {
    p.content = text;
  } else {
    p = splitter_->push(text);
    if (last) {
      proto::reasoning_splitter::parts rest = splitter_->finish();
      p.reasoning += rest.reasoning;
      p.content += rest.content;
    }
  }
  if (!ctx_.stream) {
    reasoning_ += p.reasoning;
    content_ += p.content;
  }
  return p;
}

// A streamed chat's released text as reasoning and content; with tools, content that may be call
// markup waits for the end (id < 0), where the calls are taken out of it.
proto::reasoning_splitter::parts generation_sink::stream_parts(const token_event& e) {
  proto::reasoning_splitter::parts p = split(e.text, e.id < 0);
  if (tool_stream_) {
    p.content = tool_stream_->push(p.content);
    if (e.id < 0) take_calls(tool_stream_->finish(cut_), p.content);
  }
  return p;
}

void generation_sink::begin() {
  if (!ctx_.stream) return;
  ex_->stream_begin(sse_header());
  if (ctx_.kind == api_kind::anthropic) {
    ex_->stream_write(proto::anthropic_event("message_start", proto::message_start_event(ctx_.id, ctx_.model, ctx_.prompt_tokens)));
  }
  if (ctx_.kind == api_kind::responses) {
    const nlohmann::json head = proto::response_object(ctx_.id, ctx_.created, ctx_.model, ctx_.echo, nullptr);
    ex_->stream_write(responses_event("response.created", {{"response", head}}) +
                      responses_event("response.in_progress", {{"response", head}}));
  }
}

std::string generation_sink::responses_event(std::string_view type, nlohmann::json fields) {
  return proto::responses_event(type, sequence_++, std::move(fields));
}

// Responses API: the done events of the output item being written.
std::string generation_sink::close_responses_item() {
  std::string out;
  if (item_ == "message") {
    const std::string id = proto::message_item_id(ctx_.id);
    const nlohmann::json part = {{"type", "output_text"}, {"text", item_text_}, {"annotations", nlohmann::json::array()}};
    out += responses_event("response.output_text.done", {{"item_id", id}, {"output_index", output_index_}, {"content_index", 0},
                                                         {"text", item_text_}, {"logprobs", nlohmann::json::array()}});
    out += responses_event("response.content_part.done",
                           {{"item_id", id}, {"output_index", output_index_}, {"content_index", 0}, {"part", part}});
    out += responses_event("response.output_item.done",
                           {{"output_index", output_index_}, {"item", proto::message_item(id, item_text_, true)}});
  } else if (item_ == "reasoning") {
    const std::string id = proto::reasoning_item_id(ctx_.id);
    out += responses_event("response.reasoning_text.done",
                           {{"item_id", id}, {"output_index", output_index_}, {"content_index", 0}, {"text", item_text_}});
    out += responses_event("response.output_item.done",
                           {{"output_index", output_index_}, {"item", proto::reasoning_item(id, item_text_)}});
  }
  item_.clear();
  item_text_.clear();
  return out;
}

// Responses API: `text` of a reasoning or message item, opening the item (and closing the one
// before) if it is not the one being written.
std::string generation_sink::responses_piece(std::string_view item, std::string_view text) {
  if (text.empty()) return {};
  std::string out;
  const bool message = item == "message";
  const std::string id = message ? proto::message_item_id(ctx_.id) : proto::reasoning_item_id(ctx_.id);
  if (item_ != item) {
    out += close_responses_item();
    item_ = item;
    ++output_index_;
    out += responses_event("response.output_item.added",
                           {{"output_index", output_index_},
                            {"item", message ? proto::message_item(id, "", false) : proto::reasoning_item(id, "")}});
    if (message) {
      out += responses_event("response.content_part.added",
                             {{"item_id", id}, {"output_index", output_index_}, {"content_index", 0},
                              {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", nlohmann::json::array()}}}});
    }
  }
  item_text_ += text;
  (message ? stream_text_ : stream_reasoning_) += text;
  nlohmann::json delta = {{"item_id", id}, {"output_index", output_index_}, {"content_index", 0}, {"delta", text}};
  if (message) delta["logprobs"] = nlohmann::json::array();
  return out + responses_event(message ? "response.output_text.delta" : "response.reasoning_text.delta", std::move(delta));
}

// Anthropic: `text` in a content block of `type` ("text" or "thinking"), opening it (and closing
// the one before) if it is not the block being written.
std::string generation_sink::anthropic_block(std::string_view type, std::string_view text) {
  if (text.empty()) return {};
  std::string out;
  if (block_ != type) {
    if (!block_.empty()) out += proto::anthropic_event("content_block_stop", proto::block_stop_event(block_index_));
    block_ = type;
    out += proto::anthropic_event("content_block_start", proto::block_start_event(++block_index_, type));
  }
  const std::string delta = std::string(type) + "_delta";
  return out + proto::anthropic_event("content_block_delta", proto::block_delta_event(block_index_, delta, text));
}

std::string generation_sink::anthropic_chunk(const proto::reasoning_splitter::parts& p) {
  return anthropic_block("thinking", p.reasoning) + anthropic_block("text", p.content);
}

// The SSE chunk for released text (empty: nothing to send). Chat streams open with a role delta.
// With logprobs, every token gets its chunk, even one whose text is still held back.
std::string generation_sink::token_chunk(const token_event& e) {
  const proto::token_logprobs_entry* lp = e.logprobs ? &*e.logprobs : nullptr;
  switch (ctx_.kind) {
    case api_kind::native:
      return proto::sse_data(proto::generate_token_event(e.id, e.text, lp));
    case api_kind::completion: {
      if (e.text.empty() && !lp) return {};
      nlohmann::json logprobs = nullptr;
      if (lp) {
        logprobs = proto::completion_logprobs_json({*lp}, logprob_offset_);
        logprob_offset_ += lp->token.bytes.size();
      }
      return proto::sse_data(proto::completion_chunk(ctx_.id, ctx_.created, ctx_.model, e.text, std::nullopt,
                                                     ctx_.include_usage, std::move(logprobs)));
    }
    case api_kind::anthropic:
    case api_kind::responses: {
      const proto::reasoning_splitter::parts p = stream_parts(e);
      if (ctx_.kind == api_kind::anthropic) return anthropic_chunk(p);
      return responses_piece("reasoning", p.reasoning) + responses_piece("message", p.content);
    }
    case api_kind::chat: {
      std::string out;
      if (!role_sent_) {
        role_sent_ = true;
        out = proto::sse_data(proto::chat_role_chunk(ctx_.id, ctx_.created, ctx_.model, ctx_.include_usage));
      }
      const proto::reasoning_splitter::parts p = stream_parts(e);
      // The token's log-probabilities ride on its last chunk (a content chunk of its own if none).
      const bool content_chunk = !p.content.empty() || (lp && p.reasoning.empty());
      if (!p.reasoning.empty()) {
        out += proto::sse_data(proto::chat_reasoning_chunk(ctx_.id, ctx_.created, ctx_.model, p.reasoning,
                                                           ctx_.include_usage,
                                                           lp && !content_chunk ? proto::chat_logprobs_json({*lp}) : nullptr));
      }
      if (content_chunk) {
        out += proto::sse_data(proto::chat_content_chunk(ctx_.id, ctx_.created, ctx_.model, p.content, ctx_.include_usage,
                                                         lp ? proto::chat_logprobs_json({*lp}) : nullptr));
      }
      return out;
    }
  }
  return {};
}

// A token is refused (not kept, not sent) once the client is gone or a stream is too far behind.
void generation_sink::on_queued(int64_t position, double estimated_start_s) {
  if (ctx_.stream && !ex_->cancel()->load(std::memory_order_relaxed)) {
    ex_->stream_write(proto::sse_queued_comment(position, estimated_start_s));
  }
}

bool generation_sink::on_token(const token_event& e) {
  if (ex_->cancel()->load(std::memory_order_relaxed)) return false;
  if (ctx_.stream && ex_->backlog() > app_.config.max_stream_backlog) {
    overflowed_ = true;
    return false;
  }
  tokens_.push_back(e.id);
  text_ += e.text;
  if (e.logprobs && !ctx_.stream) logprobs_.push_back(*e.logprobs);
  if ((ctx_.kind == api_kind::chat || ctx_.kind == api_kind::anthropic || ctx_.kind == api_kind::responses) &&
      !ctx_.stream) {
    split(e.text, false);
  }
  if (ctx_.stream) {
    std::string chunk = token_chunk(e);
    if (!chunk.empty()) ex_->stream_write(std::move(chunk));
  }
  return true;
}

void generation_sink::finish_stream(const finish_event& e) {
  if (overflowed_) {
    proto::api_error err{500,
                         "the client read the stream too slowly; it was ended after " +
                             std::to_string(app_.config.max_stream_backlog) + " undelivered events",
                         "server_error", "", "stream_backlog"};
    if (ctx_.kind == api_kind::anthropic) {
      ex_->stream_write(proto::anthropic_event("error", proto::anthropic_error(err)));
      return ex_->stream_end();
    }
    ex_->stream_write(proto::sse_data(proto::to_json(err)));
    if (ctx_.kind != api_kind::native) ex_->stream_write(std::string(proto::sse_done));
    return ex_->stream_end();
  }
  if (ctx_.kind == api_kind::anthropic) return finish_anthropic_stream(e);
  if (ctx_.kind == api_kind::responses) return finish_responses_stream(e);
  if (ctx_.kind == api_kind::native) {
    ex_->stream_write(proto::sse_data(proto::generate_final_event(e.reason, e.usage, e.timings, e.text, e.error)));
    return ex_->stream_end();
  }
  std::string out = token_chunk({-1, e.text});  // held-back text, and chat's role delta if nothing came yet
  if (auto reason = proto::openai_finish_reason(e.reason)) {
    if (!calls_.empty()) {
      out += proto::sse_data(proto::chat_tool_calls_chunk(ctx_.id, ctx_.created, ctx_.model, calls_, ctx_.include_usage));
    }
    out += proto::sse_data(ctx_.kind == api_kind::chat
                               ? proto::chat_finish_chunk(ctx_.id, ctx_.created, ctx_.model, e.reason, ctx_.include_usage,
                                                          !calls_.empty())
                               : proto::completion_chunk(ctx_.id, ctx_.created, ctx_.model, "", e.reason,
                                                         ctx_.include_usage));
    if (ctx_.include_usage) {
      out += proto::sse_data(ctx_.kind == api_kind::chat
                                 ? proto::chat_usage_chunk(ctx_.id, ctx_.created, ctx_.model, e.usage)
                                 : proto::completion_usage_chunk(ctx_.id, ctx_.created, ctx_.model, e.usage));
    }
  } else {
    out += proto::sse_data(proto::to_json(proto::openai_error_for(e.reason, e.error)));
  }
  out += proto::sse_done;
  ex_->stream_write(std::move(out));
  ex_->stream_end();
}

// Anthropic: the held-back text, the open block closed, each call as a tool_use block whose input
// comes in one input_json_delta, then message_delta and message_stop; or an error event.
void generation_sink::finish_anthropic_stream(const finish_event& e) {
  std::string out = token_chunk({-1, e.text});
  const nlohmann::json stop_reason = proto::anthropic_stop_reason(e.reason, e.stop_sequence, !calls_.empty());
  if (stop_reason.is_null()) {
    out += proto::anthropic_event("error", proto::anthropic_error(proto::openai_error_for(e.reason, e.error)));
    ex_->stream_write(std::move(out));
    return ex_->stream_end();
  }
  if (!block_.empty()) out += proto::anthropic_event("content_block_stop", proto::block_stop_event(block_index_));
  for (const proto::tool_call& c : calls_) {
    out += proto::anthropic_event("content_block_start", proto::tool_use_start_event(++block_index_, c));
    out += proto::anthropic_event("content_block_delta", proto::block_delta_event(block_index_, "input_json_delta", c.arguments));
    out += proto::anthropic_event("content_block_stop", proto::block_stop_event(block_index_));
  }
  out += proto::anthropic_event("message_delta", proto::message_delta_event(stop_reason, calls_.empty() ? e.stop_sequence : "",
                                                                            e.usage));
  out += proto::anthropic_event("message_stop", {{"type", "message_stop"}});
  ex_->stream_write(std::move(out));
  ex_->stream_end();
}

// Responses API: the held-back text, the open item closed, each call as a function_call item
// whose arguments come in one delta, then response.completed (or .incomplete); or an error event.
void generation_sink::finish_responses_stream(const finish_event& e) {
  std::string out = token_chunk({-1, e.text});
  if (!proto::openai_finish_reason(e.reason)) {
    const proto::api_error err = proto::openai_error_for(e.reason, e.error);
    out += responses_event("error", {{"code", err.code.empty() ? err.type : err.code}, {"message", err.message}, {"param", nullptr}});
    ex_->stream_write(std::move(out));
    return ex_->stream_end();
  }
  out += close_responses_item();
  for (size_t i = 0; i < calls_.size(); ++i) {
    const std::string id = proto::function_item_id(ctx_.id, i);
    nlohmann::json item = proto::function_call_item(id, calls_[i]);
    ++output_index_;
    nlohmann::json added = item;
    added["arguments"] = "";
    added["status"] = "in_progress";
    out += responses_event("response.output_item.added", {{"output_index", output_index_}, {"item", added}});
    out += responses_event("response.function_call_arguments.delta",
                           {{"item_id", id}, {"output_index", output_index_}, {"delta", calls_[i].arguments}});
    out += responses_event("response.function_call_arguments.done",
                           {{"item_id", id}, {"output_index", output_index_}, {"arguments", calls_[i].arguments}});
    out += responses_event("response.output_item.done", {{"output_index", output_index_}, {"item", item}});
  }
  const proto::responses_output whole{stream_reasoning_, stream_text_, calls_, e.reason, e.usage};
  const nlohmann::json response = proto::response_object(ctx_.id, ctx_.created, ctx_.model, ctx_.echo, &whole);
  out += responses_event(response["status"] == "incomplete" ? "response.incomplete" : "response.completed", {{"response", response}});
  ex_->stream_write(std::move(out));
  ex_->stream_end();
}

// A whole chat answer's content: the text after its reasoning, less the calls (kept in calls_).
std::string generation_sink::whole_content(const finish_event& e) {
  split(e.text, true);
  if (ctx_.tools == proto::tool_format::none) return content_;
  std::string content;
  take_calls(proto::parse_tool_calls(ctx_.tools, content_, cut_), content);
  return content;
}

// Whether a whole (non-streamed) answer is an error response rather than a generation.
bool generation_sink::whole_is_error(const finish_event& e) const {
  return e.reason == proto::finish_reason::error || e.reason == proto::finish_reason::shutdown ||
         (ctx_.kind != api_kind::native && e.reason == proto::finish_reason::cancelled);
}

void generation_sink::finish_whole(const finish_event& e) {
  if (whole_is_error(e)) {
    const proto::api_error err = proto::openai_error_for(e.reason, e.error);
    return ex_->respond(ctx_.kind == api_kind::anthropic ? json_response(err.status, proto::anthropic_error(err))
                                                         : error_response(err));
  }
  nlohmann::json body;
  switch (ctx_.kind) {
    case api_kind::native:
      body = proto::generate_response(text_, tokens_, e.reason, e.usage, e.timings, ctx_.logprobs ? &logprobs_ : nullptr);
      break;
    case api_kind::completion:
      body = proto::completion_response(ctx_.id, ctx_.created, ctx_.model, text_, e.reason, e.usage,
                                        ctx_.logprobs ? proto::completion_logprobs_json(logprobs_, 0) : nullptr);
      break;
    case api_kind::responses: {
      const std::string content = whole_content(e);
      const proto::responses_output whole{reasoning_, content, calls_, e.reason, e.usage};
      body = proto::response_object(ctx_.id, ctx_.created, ctx_.model, ctx_.echo, &whole);
      break;
    }
    case api_kind::anthropic: {
      const std::string content = whole_content(e);
      body = proto::messages_response(ctx_.id, ctx_.model, reasoning_, content, calls_, e.reason, e.stop_sequence, e.usage);
      break;
    }
    case api_kind::chat: {
      const std::string content = whole_content(e);
      body = proto::chat_response(ctx_.id, ctx_.created, ctx_.model, content, e.reason, e.usage,
                                  ctx_.logprobs ? proto::chat_logprobs_json(logprobs_) : nullptr, reasoning_, calls_);
      break;
    }
  }
  ex_->respond(json_response(200, body));
}

void generation_sink::on_finish(const finish_event& e) {
  text_ += e.text;
  cut_ = e.reason == proto::finish_reason::length;
  // The session logs and counts the request once its answer is written, with the status sent.
  ex_->log_detail(generation_summary(app_, e, ctx_.prompt_text, text_) + (overflowed_ ? " (stream backlog)" : ""));
  if (ctx_.stream) {
    finish_stream(e);
  } else {
    finish_whole(e);
  }
}

}  // namespace hearth
