// Parsing and validation of /v1/completions and /v1/chat/completions requests.
#include <array>

#include "proto/constraint.h"
#include "proto/json_body.h"
#include "proto/openai_api.h"

namespace hearth::proto {

namespace {

// prompt: "text" | [ids] | ["text"] | [[ids]].
void read_completion_prompt(field_reader& r, completion_request& req, const limits& lim) {
  const nlohmann::json* p = r.find("prompt");
  if (r.failed()) return;
  if (!p) return r.fail("prompt", "prompt is required");
  if (p->is_string()) {
    req.prompt = p->get<std::string>();
    return;
  }
  if (!r.check(p->is_array(), "prompt", [&] {
        return "prompt must be a string or an array of token ids (got " + describe(*p) + ")";
      }))
    return;
  if (!r.check(!p->empty(), "prompt", [] { return std::string("prompt must not be empty"); }))
    return;
  const nlohmann::json& first = (*p)[0];
  if (!first.is_string() && !first.is_array()) {  // a flat array of ids
    req.tokens = read_token_ids(r, "prompt", *p, "prompt", lim.n_vocab);
    return;
  }
  if (!r.check(p->size() == 1, "prompt", [&] {
        return "prompt holds " + std::to_string(p->size()) +
               " prompts; only one prompt per request is supported";
      }))
    return;
  if (first.is_string()) {
    req.prompt = first.get<std::string>();
    return;
  }
  req.tokens = read_token_ids(r, "prompt", first, "prompt[0]", lim.n_vocab);
  r.check(!req.tokens || !req.tokens->empty(), "prompt",
          [] { return std::string("prompt[0] must not be empty"); });
}

bool known_role(const std::string& role) {
  static constexpr std::array<std::string_view, 5> roles = {"system", "developer", "user",
                                                            "assistant", "tool"};
  for (std::string_view r : roles)
    if (role == r) return true;
  return false;
}

// content: "text" | [{"type": "text", "text": "..."}, ...] | null (assistant only).
std::optional<std::string> read_content(field_reader& mr, const std::string& role) {
  const nlohmann::json* c = mr.find("content");
  if (mr.failed()) return std::nullopt;
  const std::string name = mr.param("content");
  if (!c) {
    if (role == "assistant") return std::string();
    mr.fail("content", name + " is required (null is allowed only for assistant messages)");
    return std::nullopt;
  }
  if (c->is_string()) return c->get<std::string>();
  if (!mr.check(c->is_array(), "content", [&] {
        return name + " must be a string or an array of text parts (got " + describe(*c) + ")";
      }))
    return std::nullopt;
  std::string text;
  for (size_t j = 0; j < c->size(); ++j) {
    const nlohmann::json& part = (*c)[j];
    const std::string at = name + "[" + std::to_string(j) + "]";
    const nlohmann::json* type = part.is_object() && part.contains("type") ? &part["type"] : nullptr;
    if (!mr.check(type && type->is_string(), "content", [&] {
          return at + " must be an object with a string \"type\" (got " + describe(part) + ")";
        }))
      return std::nullopt;
    if (!mr.check(*type == "text", "content", [&] {
          return at + " has type " + describe(*type) + "; only text parts are supported";
        }))
      return std::nullopt;
    const nlohmann::json* t = part.contains("text") ? &part["text"] : nullptr;
    if (!mr.check(t && t->is_string(), "content", [&] {
          return at + ".text must be a string (got " + (t ? describe(*t) : "nothing") + ")";
        }))
      return std::nullopt;
    text += t->get_ref<const std::string&>();
  }
  return text;
}

// tool_calls: [{"id": str, "type": "function", "function": {"name": str, "arguments": str | object}}],
// assistant messages only.
void read_tool_calls(field_reader& mr, const std::string& role, std::vector<tool_call>& out) {
  const nlohmann::json* calls = mr.find("tool_calls");
  if (!calls || mr.failed()) return;
  const std::string name = mr.param("tool_calls");
  if (!mr.check(role == "assistant", "tool_calls", [&] { return name + " is allowed on assistant messages only"; })) return;
  if (!mr.check(calls->is_array(), "tool_calls", [&] { return name + " must be an array (got " + describe(*calls) + ")"; }))
    return;
  for (size_t j = 0; j < calls->size(); ++j) {
    const nlohmann::json& c = (*calls)[j];
    const std::string at = name + "[" + std::to_string(j) + "]";
    const nlohmann::json* fn = c.is_object() && c.contains("function") ? &c["function"] : nullptr;
    if (!mr.check(fn && fn->is_object(), "tool_calls", [&] {
          return at + " must be an object with a \"function\" object (got " + describe(c) + ")";
        }))
      return;
    field_reader cr(c, at + ".");
    field_reader fr(*fn, at + ".function.");
    tool_call call;
    call.id = cr.string("id").value_or("");
    const std::optional<std::string> type = cr.string("type");
    cr.check(!type || *type == "function", "type", [&] { return at + ".type must be \"function\""; });
    const std::optional<std::string> fn_name = fr.string("name");
    if (!fn_name && !fr.failed()) fr.fail("name", at + ".function.name is required");
    call.name = fn_name.value_or("");
    // OpenAI sends arguments as JSON text; Hugging Face chat templates and some clients use the
    // object itself, which is taken as its JSON text.
    if (const nlohmann::json* args = fr.find("arguments"); args && args->is_object()) {
      call.arguments = args->dump();
    } else {
      call.arguments = fr.string("arguments").value_or("{}");
    }
    if (cr.failed()) return mr.fail(cr.error());
    if (fr.failed()) return mr.fail(fr.error());
    out.push_back(std::move(call));
  }
}

std::optional<chat_message> read_message(field_reader& r, const nlohmann::json& m, size_t i) {
  const std::string at = "messages[" + std::to_string(i) + "]";
  if (!m.is_object()) {
    r.fail(at, at + " must be an object (got " + describe(m) + ")");
    return std::nullopt;
  }
  field_reader mr(m, at + ".");
  const std::optional<std::string> role = mr.string("role");
  if (!role && !mr.failed()) mr.fail("role", at + ".role is required");
  if (role)
    mr.check(known_role(*role), "role", [&] {
      return at + ".role must be one of system, developer, user, assistant, tool (got " +
             describe(m.at("role")) + ")";
    });
  std::optional<std::string> content;
  if (role && !mr.failed()) content = read_content(mr, *role);
  if (mr.failed()) {
    r.fail(mr.error());
    return std::nullopt;
  }
  chat_message msg{*role, std::move(*content)};
  msg.name = mr.string("name").value_or("");
  msg.tool_call_id = mr.string("tool_call_id").value_or("");
  msg.reasoning_content = mr.string("reasoning_content").value_or("");
  read_tool_calls(mr, *role, msg.tool_calls);
  if (mr.failed()) {
    r.fail(mr.error());
    return std::nullopt;
  }
  return msg;
}

void read_messages(field_reader& r, std::vector<chat_message>& out) {
  const nlohmann::json* m = r.find("messages");
  if (r.failed()) return;
  if (!m) return r.fail("messages", "messages is required");
  if (!r.check(m->is_array(), "messages",
               [&] { return "messages must be an array (got " + describe(*m) + ")"; }))
    return;
  if (!r.check(!m->empty(), "messages",
               [] { return std::string("messages must not be empty"); }))
    return;
  out.reserve(m->size());
  for (size_t i = 0; i < m->size(); ++i) {
    std::optional<chat_message> msg = read_message(r, (*m)[i], i);
    if (!msg) return;
    out.push_back(std::move(*msg));
  }
}

// max_completion_tokens is OpenAI's current name, max_tokens the deprecated one.
std::optional<int32_t> read_chat_max_tokens(field_reader& r, const limits& lim) {
  const std::optional<int32_t> legacy = read_max_tokens(r, "max_tokens", lim);
  const std::optional<int32_t> current = read_max_tokens(r, "max_completion_tokens", lim);
  if (legacy && current && *legacy != *current) {
    r.fail("max_completion_tokens",
           "max_tokens (" + std::to_string(*legacy) + ") and max_completion_tokens (" +
               std::to_string(*current) + ") disagree; give one of them");
    return std::nullopt;
  }
  return current ? current : legacy;
}

}  // namespace

sampling_params openai_sampling_defaults() {
  sampling_params p;
  p.temperature = 1.0f;
  p.top_p = 1.0f;
  p.top_k = 0;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.0f;
  return p;
}

result<completion_request> parse_completion(std::string_view body, const limits& lim) {
  result<nlohmann::json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  field_reader r(std::get<nlohmann::json>(j));
  completion_request req;
  req.model = r.string("model").value_or("");
  read_completion_prompt(r, req, lim);
  req.overflow = read_context_overflow(r, lim);
  req.deadline_ms = read_deadline_ms(r);
  req.speculative = read_speculative(r, lim);
  if (std::optional<int32_t> m = read_max_tokens(r, "max_tokens", overflow_limits(lim, req.overflow))) req.max_tokens = *m;
  read_sampling(r, req.sampling, api_flavor::openai);
  req.cache = read_cache(r);
  req.stop = read_stop(r);
  req.stream = r.boolean("stream").value_or(false);
  req.include_usage = read_include_usage(r, req.stream);
  req.n = read_n(r, lim.max_choices);
  req.top_logprobs = read_count_logprobs(r);
  req.constraint = read_constraint(r, body, api_flavor::openai);
  refuse_flag(r, "echo");
  refuse_suffix(r);
  refuse_best_of(r);
  refuse_nonempty_object(r, "logit_bias");
  if (r.failed()) return r.error();
  return req;
}

result<chat_request> parse_chat(std::string_view body, const limits& lim) {
  result<nlohmann::json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  field_reader r(std::get<nlohmann::json>(j));
  chat_request req;
  req.model = r.string("model").value_or("");
  read_messages(r, req.messages);
  req.overflow = read_context_overflow(r, lim);
  req.deadline_ms = read_deadline_ms(r);
  req.speculative = read_speculative(r, lim);
  req.max_tokens = read_chat_max_tokens(r, overflow_limits(lim, req.overflow));
  read_sampling(r, req.sampling, api_flavor::openai);
  req.cache = read_cache(r);
  req.stop = read_stop(r);
  req.stream = r.boolean("stream").value_or(false);
  req.include_usage = read_include_usage(r, req.stream);
  req.n = read_n(r, lim.max_choices);
  req.top_logprobs = read_chat_logprobs(r);
  if (const std::optional<std::string> f = r.string("reasoning_format")) {
    r.check(*f == "auto" || *f == "deepseek" || *f == "none", "reasoning_format",
            [&] { return "reasoning_format must be \"auto\", \"deepseek\" or \"none\" (got \"" + *f + "\")"; });
    req.split_reasoning = *f != "none";
  }
  if (const nlohmann::json* kw = r.find("chat_template_kwargs"); kw && !r.failed()) {
    if (r.check(kw->is_object(), "chat_template_kwargs", [] { return std::string("chat_template_kwargs must be an object"); })) {
      for (const auto& item : kw->items()) {
        const std::string key = item.key();  // a named copy: lambdas below capture it
        const bool reserved = key == "messages" || key == "add_generation_prompt" || key == "bos_token" ||
                              key == "eos_token" || key == "raise_exception" || key == "strftime_now";
        if (!r.check(!reserved, "chat_template_kwargs." + key, [&] {
              return "chat_template_kwargs." + key + " would replace a variable the server sets";
            })) {
          break;
        }
      }
      req.template_kwargs = *kw;
    }
  }
  refuse_nonempty_object(r, "logit_bias");
  req.tools = read_tools(r, body);
  refuse_nonempty_array(r, "functions");
  req.constraint = read_constraint(r, body, api_flavor::openai);
  if (req.constraint && req.tools.forced()) {
    r.fail("tool_choice", "tool_choice \"required\" or a function constrains the output to calls; it cannot be "
                          "combined with response_format, grammar or json_schema");
  }
  if (r.failed()) return r.error();
  return req;
}

}  // namespace hearth::proto
