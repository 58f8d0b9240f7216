// POST /v1/generate, /v1/completions, /v1/chat/completions, /v1/responses, /v1/messages (and its
// count_tokens):
// parse and validate on the I/O
// thread, tokenize, check the context, submit to the scheduler with a sink that answers.
#include <charconv>
#include <chrono>
#include <cmath>

#include "choice_group.h"
#include "generation_setup.h"
#include "generation_sink.h"
#include "proto/anthropic_api.h"
#include "proto/context_overflow.h"
#include "proto/ids.h"
#include "proto/jinja/json_io.h"
#include "proto/native_api.h"
#include "proto/json_schema.h"
#include "proto/openai_api.h"
#include "proto/responses_api.h"
#include "routes.h"

namespace hearth {

namespace {

using request = http::request<http::string_body>;

// Errors in the endpoint's API's shape: Anthropic's for /v1/messages..., OpenAI's otherwise.
// `retry_after`: seconds for a 429's Retry-After.
void reply_error(app&, const std::shared_ptr<http_exchange>& ex, const std::string& endpoint, const proto::api_error& e,
                 int64_t retry_after = 1) {
  auto res = endpoint.starts_with("/v1/messages") ? json_response(e.status, proto::anthropic_error(e)) : error_response(e);
  if (e.status == 429) res.set(http::field::retry_after, std::to_string(std::max<int64_t>(1, retry_after)));
  ex->respond(std::move(res));
}

// A request that would finish after its deadline: 429, retry once the queue ahead has started.
void reply_late(app& a, const std::shared_ptr<http_exchange>& ex, const std::string& endpoint, const proto::api_error& e,
                const submit_estimate& est) {
  reply_error(a, ex, endpoint, e, static_cast<int64_t>(std::ceil(est.start_s)));
}

// The deadline of a request (generation_context::deadline_ms): its body's and its header's, the
// earlier; a malformed header is a 400 naming it.
std::variant<std::optional<int64_t>, proto::api_error> deadline_of(const generation_context& ctx) {
  std::optional<int64_t> ms = ctx.deadline_ms;
  if (!ctx.deadline_header.empty()) {
    int64_t h = 0;
    const char* end = ctx.deadline_header.data() + ctx.deadline_header.size();
    const auto [p, ec] = std::from_chars(ctx.deadline_header.data(), end, h);
    if (ec != std::errc() || p != end || h < 1 || h > 86'400'000) {
      return proto::bad_request("X-Request-Deadline-Ms", "the X-Request-Deadline-Ms header must be an integer in [1, 86400000] (got '" +
                                                             ctx.deadline_header + "')");
    }
    ms = ms ? std::min(*ms, h) : h;
  }
  return ms;
}

// Checks the prompt against the context, submits, and answers refusals. The sink answers the
// rest; with n > 1 choices, a sink per choice, merged by a choice_group.
void start(app& a, const std::shared_ptr<http_exchange>& ex, generation_context ctx, std::vector<token_id> prompt,
           std::optional<int32_t> max_tokens, const sampling_params& sampling, std::vector<std::string> stop,
           int32_t top_logprobs, std::shared_ptr<const grammar> constraint,
           std::vector<std::pair<token_id, std::string>> shown_tokens = {}, int32_t n = 1) {
  auto made = make_generation(a, std::move(prompt), max_tokens, sampling, std::move(stop), ex->cancel(), ctx.overflow);
  if (auto* e = std::get_if<proto::api_error>(&made)) return reply_error(a, ex, ctx.endpoint, *e);
  generation_request& r = std::get<generation_request>(made);
  r.truncated_tokens += ctx.truncated_tokens;
  auto deadline = deadline_of(ctx);
  if (auto* e = std::get_if<proto::api_error>(&deadline)) return reply_error(a, ex, ctx.endpoint, *e);
  const std::optional<int64_t> deadline_ms = std::get<std::optional<int64_t>>(deadline);
  if (deadline_ms) {
    r.deadline = ctx.received + std::chrono::milliseconds(*deadline_ms);
    r.deadline_tokens = max_tokens.value_or(1);
  }
  r.top_logprobs = top_logprobs;
  r.constraint = std::move(constraint);
  r.shown_tokens = std::move(shown_tokens);
  r.cache_partition = ctx.cache_partition;
  r.cache = ctx.cache;
  r.speculative = ctx.speculative;
  r.client = ctx.client;
  ctx.logprobs = top_logprobs >= 0;
  ctx.prompt_tokens = static_cast<int32_t>(r.prompt.size());
  const size_t n_prompt = r.prompt.size();
  const int32_t n_gen = r.max_tokens;
  std::vector<std::shared_ptr<generation_sink>> sinks;
  if (n == 1) {
    sinks.push_back(std::make_shared<generation_sink>(a, ex, ctx));
  } else {
    auto group = std::make_shared<choice_group>(ex, n);
    for (int32_t i = 0; i < n; ++i) sinks.push_back(std::make_shared<generation_sink>(a, group->channel(i), ctx));
  }
  submit_estimate estimate;
  const submit_status s =
      a.engine_scheduler->submit(std::move(r), std::vector<std::shared_ptr<token_sink>>(sinks.begin(), sinks.end()), &estimate);
  if (s == submit_status::accepted) return sinks.front()->begin();
  if (s == submit_status::late) return reply_late(a, ex, ctx.endpoint, late_error(estimate, *deadline_ms), estimate);
  reply_error(a, ex, ctx.endpoint, refusal(a, s, n_prompt, n_gen, n));
}

generation_context make_context(app& a, const request& req, const http_exchange& ex, api_kind kind, std::string endpoint, bool stream,
                                bool include_usage) {
  generation_context ctx;
  ctx.cache_partition = cache_partition(a, req);
  ctx.client = client_of(a, req, ex.peer());
  ctx.deadline_header = std::string(to_std(req["X-Request-Deadline-Ms"]));
  ctx.kind = kind;
  ctx.stream = stream;
  ctx.include_usage = include_usage;
  ctx.endpoint = std::move(endpoint);
  ctx.id = kind == api_kind::chat        ? proto::new_chat_id()
           : kind == api_kind::anthropic ? proto::new_id("msg_")
           : kind == api_kind::responses ? proto::new_id("resp_")
                                         : proto::new_completion_id();
  ctx.created = proto::unix_time_now();
  ctx.model = a.model_id;
  ctx.received = std::chrono::steady_clock::now();
  return ctx;
}

// Shows the request's tools to the model (as the template's `tools`, or in a system message for a
// template that knows none) and, for tool_choice "required" or a function, constrains the
// output to calls with the grammar of the template's format.
std::optional<proto::api_error> offer_tools(const proto::chat_template& chat, std::vector<proto::chat_message>& m,
                                            const proto::tool_request& tools, std::shared_ptr<const grammar>& constraint,
                                            jinja::variables& kwargs) {
  const proto::tool_dialect& d = chat.tools();
  if (d.taught) {
    const std::string prompt = proto::hermes_tool_prompt(tools);
    if (m.front().role == "system" || m.front().role == "developer") {
      m.front().content += (m.front().content.empty() ? "" : "\n\n") + prompt;
    } else {
      m.insert(m.begin(), proto::chat_message{"system", prompt});
    }
  } else {
    kwargs.emplace_back("tools", jinja::from_json(tools.template_value, /*user_strings=*/true));
  }
  if (!tools.forced()) return std::nullopt;
  if (d.format == proto::tool_format::none) {
    return proto::bad_request("tool_choice", "this model's chat template writes tool calls in a format hearth does not "
                                             "parse, so a call cannot be required");
  }
  try {
    constraint = grammar::parse(proto::tool_call_gbnf(d, tools));
    grammar_matcher probe(constraint);  // too ambiguous to start: refused now, not while decoding
  } catch (const json_schema_error& e) {
    return proto::bad_request("tools", std::string("a tool's parameters are not supported: ") + e.what());
  } catch (const grammar_error& e) {
    return proto::bad_request("tools", std::string("the tools' call grammar is not usable: ") + e.what());
  } catch (const std::length_error& e) {
    return proto::bad_request("tools", std::string("the tools' call grammar is not usable: ") + e.what());
  }
  return std::nullopt;
}

// The dialect's call markers that the vocabulary holds as control tokens (whose text decoding
// would drop), with their text.
std::vector<std::pair<token_id, std::string>> shown_markers(const vocab& v, const proto::tool_dialect& d) {
  std::vector<std::pair<token_id, std::string>> out;
  for (std::string_view marker : proto::tool_markers(d)) {
    const token_id id = v.find(marker);
    if (id >= 0 && v.is_control(id)) out.emplace_back(id, std::string(marker));
  }
  return out;
}

// A chat's prompt: the messages (tools offered, template variables set) rendered by the model's
// template and tokenized. Sets ctx's reasoning markers and tool format, the constraint of a
// required call, and the control tokens to show. Under ctx.overflow truncate_middle, the oldest
// turns after the system prompt are dropped (proto/context_overflow.h) while the prompt leaves
// the answer less than `max_tokens` (absent: a quarter of the context), counted in
// ctx.truncated_tokens; what still does not fit is cut later, from the middle of its tokens.
struct chat_prompt {
  std::vector<token_id> tokens;
  std::vector<std::pair<token_id, std::string>> shown;
};
std::variant<chat_prompt, proto::api_error> render_chat(app& a, std::vector<proto::chat_message>& messages,
                                                        const proto::tool_request& tools,
                                                        const nlohmann::json& template_kwargs, bool split_reasoning,
                                                        std::shared_ptr<const grammar>& constraint,
                                                        generation_context& ctx, std::optional<int32_t> max_tokens = {}) {
  jinja::variables kwargs;
  for (const auto& [key, value] : template_kwargs.items()) {
    kwargs.emplace_back(key, jinja::from_json(value, /*user_strings=*/true));  // text from the request
  }
  chat_prompt out;
  if (tools.active()) {
    if (auto e = offer_tools(*a.chat, messages, tools, constraint, kwargs)) return *e;
    ctx.tools = a.chat->tools().format;
    out.shown = shown_markers(*a.vocabulary, a.chat->tools());
  }
  const int64_t n_ctx = a.engine_scheduler->context_length();
  const int64_t room = n_ctx - (max_tokens ? *max_tokens : std::max<int64_t>(1, n_ctx / 4));
  const bool fit = ctx.overflow == proto::context_overflow::truncate_middle;
  size_t first_size = 0;
  for (;;) {
    auto rendered = a.chat->render(messages, true, kwargs);
    if (auto* e = std::get_if<proto::api_error>(&rendered)) return *e;
    const proto::prompt_text& text = std::get<proto::prompt_text>(rendered);
    out.tokens = proto::chat_template::tokenize(*a.vocabulary, text);
    if (first_size == 0) first_size = out.tokens.size();
    if (fit && static_cast<int64_t>(out.tokens.size()) > room && proto::drop_oldest_turn(messages)) continue;
    if (split_reasoning && a.chat->reasoning()) {
      ctx.reasoning = *a.chat->reasoning();
      ctx.reasoning_open = proto::prompt_opens_reasoning(text.text, *ctx.reasoning);
    }
    break;
  }
  ctx.truncated_tokens = static_cast<int32_t>(first_size - std::min(first_size, out.tokens.size()));
  if (a.config.log_prompts) {
    for (const auto& m : messages) ctx.prompt_text += "[" + m.role + "] " + m.content + "\n";
  }
  return out;
}

}  // namespace

void handle_generate(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  auto parsed = proto::parse_generate(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, "/v1/generate", *e);
  auto& g = std::get<proto::generate_request>(parsed);
  generation_context ctx = make_context(a, req, *ex, api_kind::native, "/v1/generate", g.stream, false);
  ctx.cache = g.cache;
  ctx.overflow = g.overflow;
  ctx.deadline_ms = g.deadline_ms;
  ctx.speculative = g.speculative;
  if (a.config.log_prompts && g.prompt) ctx.prompt_text = *g.prompt;
  start(a, ex, std::move(ctx), tokenize_prompt(a, g.prompt, g.tokens), g.max_tokens, g.sampling, std::move(g.stop),
        g.top_logprobs, std::move(g.constraint));
}

void handle_completions(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  auto parsed = proto::parse_completion(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, "/v1/completions", *e);
  auto& c = std::get<proto::completion_request>(parsed);
  generation_context ctx = make_context(a, req, *ex, api_kind::completion, "/v1/completions", c.stream, c.include_usage);
  ctx.cache = c.cache;
  ctx.overflow = c.overflow;
  ctx.deadline_ms = c.deadline_ms;
  ctx.speculative = c.speculative;
  if (a.config.log_prompts && c.prompt) ctx.prompt_text = *c.prompt;
  start(a, ex, std::move(ctx), tokenize_prompt(a, c.prompt, c.tokens), c.max_tokens, c.sampling, std::move(c.stop),
        c.top_logprobs, std::move(c.constraint), {}, c.n);
}

void handle_chat(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  auto parsed = proto::parse_chat(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, "/v1/chat/completions", *e);
  auto& c = std::get<proto::chat_request>(parsed);
  generation_context ctx = make_context(a, req, *ex, api_kind::chat, "/v1/chat/completions", c.stream, c.include_usage);
  ctx.cache = c.cache;
  ctx.overflow = c.overflow;
  ctx.deadline_ms = c.deadline_ms;
  ctx.speculative = c.speculative;
  auto prompt = render_chat(a, c.messages, c.tools, c.template_kwargs, c.split_reasoning, c.constraint, ctx, c.max_tokens);
  if (auto* e = std::get_if<proto::api_error>(&prompt)) return reply_error(a, ex, "/v1/chat/completions", *e);
  chat_prompt& p = std::get<chat_prompt>(prompt);
  start(a, ex, std::move(ctx), std::move(p.tokens), c.max_tokens, c.sampling, std::move(c.stop), c.top_logprobs,
        std::move(c.constraint), std::move(p.shown), c.n);
}

void handle_messages(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  const std::string endpoint = "/v1/messages";
  auto parsed = proto::parse_messages(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, endpoint, *e);
  auto& m = std::get<proto::messages_request>(parsed);
  generation_context ctx = make_context(a, req, *ex, api_kind::anthropic, endpoint, m.stream, false);
  ctx.cache = m.cache;
  ctx.overflow = m.overflow;
  ctx.deadline_ms = m.deadline_ms;
  ctx.speculative = m.speculative;
  std::shared_ptr<const grammar> constraint;
  auto prompt = render_chat(a, m.messages, m.tools, nlohmann::json::object(), true, constraint, ctx, m.max_tokens);
  if (auto* e = std::get_if<proto::api_error>(&prompt)) return reply_error(a, ex, endpoint, *e);
  chat_prompt& p = std::get<chat_prompt>(prompt);
  start(a, ex, std::move(ctx), std::move(p.tokens), m.max_tokens, m.sampling, std::move(m.stop), -1,
        std::move(constraint), std::move(p.shown));
}

void handle_responses(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  const std::string endpoint = "/v1/responses";
  auto parsed = proto::parse_responses(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, endpoint, *e);
  auto& r = std::get<proto::responses_request>(parsed);
  generation_context ctx = make_context(a, req, *ex, api_kind::responses, endpoint, r.stream, false);
  ctx.cache = r.cache;
  ctx.overflow = r.overflow;
  ctx.deadline_ms = r.deadline_ms;
  ctx.speculative = r.speculative;
  ctx.echo = std::move(r.echo);
  auto prompt = render_chat(a, r.messages, r.tools, nlohmann::json::object(), true, r.constraint, ctx, r.max_output_tokens);
  if (auto* e = std::get_if<proto::api_error>(&prompt)) return reply_error(a, ex, endpoint, *e);
  chat_prompt& p = std::get<chat_prompt>(prompt);
  start(a, ex, std::move(ctx), std::move(p.tokens), r.max_output_tokens, r.sampling, {}, -1, std::move(r.constraint),
        std::move(p.shown));
}

void handle_count_tokens(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  const std::string endpoint = "/v1/messages/count_tokens";
  auto parsed = proto::parse_count_tokens(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return reply_error(a, ex, endpoint, *e);
  auto& m = std::get<proto::messages_request>(parsed);
  generation_context ctx;
  std::shared_ptr<const grammar> constraint;
  auto prompt = render_chat(a, m.messages, m.tools, nlohmann::json::object(), false, constraint, ctx);
  if (auto* e = std::get_if<proto::api_error>(&prompt)) return reply_error(a, ex, endpoint, *e);
  ex->respond(json_response(200, {{"input_tokens", std::get<chat_prompt>(prompt).tokens.size()}}));
}

}  // namespace hearth
