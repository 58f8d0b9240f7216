// POST /v1/generate, /v1/completions, /v1/chat/completions: parse and validate on the I/O
// thread, tokenize, check the context, submit to the scheduler with a sink that answers.
#include <chrono>

#include "generation_sink.h"
#include "proto/ids.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "routes.h"

namespace hearth {

namespace {

using request = http::request<http::string_body>;

struct prepared {
  std::vector<token_id> prompt;
  std::optional<int32_t> max_tokens;  // absent: until the end of the context
  sampling_params sampling;
  std::vector<std::string> stop;
};

void reply_error(app& a, const std::shared_ptr<http_exchange>& ex, const std::string& endpoint, int status,
                 const std::string& message, const std::string& param = "", const std::string& code = "") {
  a.stats.count_request(endpoint, status);
  ex->respond(error_response(status, message, param, code));
}

void reply_error(app& a, const std::shared_ptr<http_exchange>& ex, const std::string& endpoint,
                 const proto::api_error& e) {
  a.stats.count_request(endpoint, e.status);
  ex->respond(error_response(e));
}

// Checks the prompt against the context, submits, and answers refusals. The sink answers the rest.
void start(app& a, const std::shared_ptr<http_exchange>& ex, generation_context ctx, prepared p) {
  const int64_t n_ctx = a.engine_scheduler->context_length();
  const int64_t n_prompt = static_cast<int64_t>(p.prompt.size());
  if (n_prompt == 0) return reply_error(a, ex, ctx.endpoint, 400, "the prompt is empty", "prompt");
  if (n_prompt >= n_ctx) {
    return reply_error(a, ex, ctx.endpoint, 400,
                       "the prompt is " + std::to_string(n_prompt) + " tokens, the context length is " +
                           std::to_string(n_ctx),
                       "prompt", "context_length_exceeded");
  }
  const int64_t max_tokens = p.max_tokens ? *p.max_tokens : n_ctx - n_prompt;
  if (n_prompt + max_tokens > n_ctx) {
    return reply_error(a, ex, ctx.endpoint, 400,
                       "the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                           std::to_string(max_tokens) + ") exceeds the context length (" + std::to_string(n_ctx) + ")",
                       "max_tokens", "context_length_exceeded");
  }
  generation_request r;
  r.prompt = std::move(p.prompt);
  r.sampling = p.sampling;
  r.max_tokens = static_cast<int32_t>(max_tokens);
  r.stop = std::move(p.stop);
  r.cancel = ex->cancel();
  auto sink = std::make_shared<generation_sink>(a, ex, ctx);
  switch (a.engine_scheduler->submit(std::move(r), sink)) {
    case submit_status::accepted:
      sink->begin();
      return;
    case submit_status::queue_full: {
      a.stats.count_request(ctx.endpoint, 429);
      auto res = error_response(429, "the server is busy: " + std::to_string(a.config.queue_limit) +
                                         " requests are already waiting; retry shortly",
                                "", "queue_full");
      res.set(http::field::retry_after, "1");
      return ex->respond(std::move(res));
    }
    case submit_status::too_long:
      return reply_error(a, ex, ctx.endpoint, 400,
                         "the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                             std::to_string(max_tokens) + ") does not fit in the KV cache; lower max_tokens",
                         "max_tokens", "context_length_exceeded");
    case submit_status::shutting_down:
      return reply_error(a, ex, ctx.endpoint, 503, "the server is shutting down");
  }
}

generation_context make_context(app& a, api_kind kind, std::string endpoint, bool stream, bool include_usage) {
  generation_context ctx;
  ctx.kind = kind;
  ctx.stream = stream;
  ctx.include_usage = include_usage;
  ctx.endpoint = std::move(endpoint);
  ctx.id = kind == api_kind::chat ? proto::new_chat_id() : proto::new_completion_id();
  ctx.created = proto::unix_time_now();
  ctx.model = a.model_id;
  ctx.received = std::chrono::steady_clock::now();
  return ctx;
}

std::vector<token_id> tokenize_prompt(const app& a, const std::optional<std::string>& text,
                                      const std::optional<std::vector<int32_t>>& tokens) {
  if (tokens) return *tokens;
  return a.loaded_model->vocab().tokenize(*text, true, false);
}

proto::limits model_limits(const app& a) {
  return {a.loaded_model->vocab().size(), a.engine_scheduler->context_length()};
}

}  // namespace

void handle_generate(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  auto parsed = proto::parse_generate(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, "/v1/generate", *e);
  auto& g = std::get<proto::generate_request>(parsed);
  generation_context ctx = make_context(a, api_kind::native, "/v1/generate", g.stream, false);
  if (a.config.log_prompts && g.prompt) ctx.prompt_text = *g.prompt;
  start(a, ex, std::move(ctx), {tokenize_prompt(a, g.prompt, g.tokens), g.max_tokens, g.sampling, std::move(g.stop)});
}

void handle_completions(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  auto parsed = proto::parse_completion(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, "/v1/completions", *e);
  auto& c = std::get<proto::completion_request>(parsed);
  generation_context ctx = make_context(a, api_kind::completion, "/v1/completions", c.stream, c.include_usage);
  if (a.config.log_prompts && c.prompt) ctx.prompt_text = *c.prompt;
  start(a, ex, std::move(ctx), {tokenize_prompt(a, c.prompt, c.tokens), c.max_tokens, c.sampling, std::move(c.stop)});
}

void handle_chat(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  auto parsed = proto::parse_chat(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, "/v1/chat/completions", *e);
  auto& c = std::get<proto::chat_request>(parsed);
  generation_context ctx = make_context(a, api_kind::chat, "/v1/chat/completions", c.stream, c.include_usage);
  std::vector<token_id> prompt = a.chat->tokenize(a.loaded_model->vocab(), c.messages, true);
  if (a.config.log_prompts) {
    for (const auto& m : c.messages) ctx.prompt_text += "[" + m.role + "] " + m.content + "\n";
  }
  start(a, ex, std::move(ctx), {std::move(prompt), c.max_tokens, c.sampling, std::move(c.stop)});
}

}  // namespace hearth
