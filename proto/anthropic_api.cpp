#include "proto/anthropic_api.h"

#include <algorithm>

#include "proto/constraint.h"
#include "proto/generation_json.h"
#include "proto/json_body.h"

namespace hearth::proto {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// The text of a string or an array of text blocks; `what` names the field in errors.
std::optional<std::string> text_of(field_reader& r, const json& v, const std::string& what) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) {
    r.fail(what, what + " must be a string or an array of text blocks (got " + describe(v) + ")");
    return std::nullopt;
  }
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& b = v[i];
    const std::string at = what + "[" + std::to_string(i) + "]";
    if (!b.is_object() || b.value("type", json()) != "text" || !b.contains("text") || !b["text"].is_string()) {
      r.fail(what, at + " must be a text block {\"type\": \"text\", \"text\": ...} (got " + describe(b) + ")");
      return std::nullopt;
    }
    out += b["text"].get<std::string>();
  }
  return out;
}

// One message of `messages`, as one or more chat messages (a user turn's tool results come first,
// each its own `tool` message).
bool read_message(field_reader& r, const json& m, size_t i, std::vector<chat_message>& out) {
  const std::string at = "messages[" + std::to_string(i) + "]";
  if (!m.is_object()) {
    r.fail(at, at + " must be an object (got " + describe(m) + ")");
    return false;
  }
  field_reader mr(m, at + ".");
  const std::optional<std::string> role = mr.string("role");
  if (!mr.failed() && (!role || (*role != "user" && *role != "assistant"))) {
    mr.fail("role", at + ".role must be \"user\" or \"assistant\"");
  }
  const json* content = mr.find("content");
  if (!mr.failed() && !content) mr.fail("content", at + ".content is required");
  if (mr.failed()) {
    r.fail(mr.error());
    return false;
  }
  chat_message msg{*role, ""};
  if (content->is_string()) {
    msg.content = content->get<std::string>();
    out.push_back(std::move(msg));
    return true;
  }
  if (!content->is_array()) {
    r.fail(at + ".content", at + ".content must be a string or an array of content blocks (got " + describe(*content) + ")");
    return false;
  }
  std::vector<chat_message> results;
  for (size_t j = 0; j < content->size(); ++j) {
    const json& b = (*content)[j];
    const std::string bat = at + ".content[" + std::to_string(j) + "]";
    const std::string type = b.is_object() && b.contains("type") && b["type"].is_string() ? b["type"].get<std::string>() : "";
    static const json not_an_object = json::object();
    field_reader br(b.is_object() ? b : not_an_object, bat + ".");
    if (type == "text") {
      const std::optional<std::string> t = br.string("text");
      if (!br.failed() && !t) br.fail("text", bat + ".text is required");
      if (t) msg.content += *t;
    } else if (type == "tool_use" && *role == "assistant") {
      tool_call c;
      c.id = br.string("id").value_or("");
      c.name = br.string("name").value_or("");
      const json* input = br.find("input");
      if (!br.failed() && c.name.empty()) br.fail("name", bat + ".name is required");
      if (!br.failed() && input && !input->is_object()) br.fail("input", bat + ".input must be an object");
      c.arguments = input ? input->dump() : "{}";
      msg.tool_calls.push_back(std::move(c));
    } else if (type == "tool_result" && *role == "user") {
      chat_message result{"tool", ""};
      result.tool_call_id = br.string("tool_use_id").value_or("");
      if (!br.failed() && result.tool_call_id.empty()) br.fail("tool_use_id", bat + ".tool_use_id is required");
      if (const json* c = br.find("content"); c && !br.failed()) {
        if (std::optional<std::string> t = text_of(br, *c, bat + ".content")) result.content = std::move(*t);
      }
      br.boolean("is_error");
      results.push_back(std::move(result));
    } else if ((type == "thinking" || type == "redacted_thinking") && *role == "assistant") {
      if (type == "thinking") msg.reasoning_content += br.string("thinking").value_or("");
    } else {
      r.fail(bat, bat + " has type " + (type.empty() ? describe(b) : "\"" + type + "\"") +
                      (type == "image" || type == "document" ? ", which this server does not support"
                                                             : ", which a " + *role + " message cannot hold"));
      return false;
    }
    if (br.failed()) {
      r.fail(br.error());
      return false;
    }
  }
  out.insert(out.end(), std::make_move_iterator(results.begin()), std::make_move_iterator(results.end()));
  if (!msg.content.empty() || !msg.tool_calls.empty() || !msg.reasoning_content.empty() || results.empty()) {
    out.push_back(std::move(msg));
  }
  return true;
}

// tools and tool_choice, in OpenAI's shape for read_tools (input_schema's key order kept).
void read_anthropic_tools(field_reader& r, std::string_view raw, tool_request& out) {
  const json* tools = r.find("tools");
  const json* choice = r.find("tool_choice");
  if (r.failed() || (!tools && !choice)) return;
  ojson converted = ojson::object();
  if (tools) {
    if (!r.check(tools->is_array(), "tools", [&] { return "tools must be an array (got " + describe(*tools) + ")"; })) return;
    if (!r.check(widest_object(*tools) <= max_schema_keys, "tools",
                 [] { return "tools has an object with more than " + std::to_string(max_schema_keys) + " keys"; })) {
      return;
    }
    const ojson ordered = in_written_order(raw, {"tools"}, *tools);
    ojson list = ojson::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string at = "tools[" + std::to_string(i) + "]";
      if (!r.check(t.is_object(), at, [&] { return at + " must be an object (got " + describe(t) + ")"; })) return;
      field_reader tr(t, at + ".");
      const std::optional<std::string> name = tr.string("name");
      tr.check(tr.failed() || (name && valid_tool_name(*name)), "name",
               [&] { return at + ".name must be 1 to 64 letters, digits, '_' or '-'"; });
      tr.string("description");
      const json* schema = tr.find("input_schema");
      tr.check(tr.failed() || (schema && schema->is_object()), "input_schema",
               [&] { return at + ".input_schema (a JSON Schema object) is required"; });
      if (tr.failed()) return r.fail(tr.error());
      ojson fn = ojson::object();
      fn["name"] = *name;
      if (t.contains("description")) fn["description"] = t["description"];
      fn["parameters"] = ordered.is_array() && i < ordered.size() && ordered[i].contains("input_schema")
                             ? ordered[i]["input_schema"]
                             : ojson::parse(schema->dump());
      list.push_back(ojson{{"type", "function"}, {"function", std::move(fn)}});
    }
    converted["tools"] = std::move(list);
  }
  if (choice) {
    const std::string type = choice->is_object() && choice->contains("type") && (*choice)["type"].is_string()
                                 ? (*choice)["type"].get<std::string>()
                                 : "";
    if (type == "auto" || type == "none") {
      converted["tool_choice"] = type;
    } else if (type == "any") {
      converted["tool_choice"] = "required";
    } else if (type == "tool") {
      const json name = choice->value("name", json());
      if (!name.is_string()) return r.fail("tool_choice", "tool_choice of type \"tool\" needs the tool's name");
      converted["tool_choice"] = ojson{{"type", "function"}, {"function", {{"name", name.get<std::string>()}}}};
    } else {
      return r.fail("tool_choice", "tool_choice.type must be \"auto\", \"any\", \"tool\" or \"none\" (got " +
                                       describe(*choice) + ")");
    }
    const json parallel = choice->value("disable_parallel_tool_use", json());
    if (parallel.is_boolean()) converted["parallel_tool_calls"] = !parallel.get<bool>();
  }
  const std::string text = converted.dump();
  const json plain = json::parse(text);
  field_reader tools_reader(plain);
  out = read_tools(tools_reader, text);
  if (tools_reader.failed()) r.fail(tools_reader.error());
}

result<messages_request> parse(std::string_view body, const limits& lim, bool count_only) {
  result<json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  field_reader r(std::get<json>(j));
  messages_request req;
  req.model = r.string("model").value_or("");
  if (!count_only) {
    req.overflow = read_context_overflow(r, lim);
    req.deadline_ms = read_deadline_ms(r);
    req.speculative = read_speculative(r, lim);
    if (const std::optional<int32_t> m = read_max_tokens(r, "max_tokens", overflow_limits(lim, req.overflow))) {
      req.max_tokens = *m;
    } else if (!r.failed()) {
      r.fail("max_tokens", "max_tokens is required");
    }
  }
  if (const json* system = r.find("system"); system && !r.failed()) {
    if (std::optional<std::string> s = text_of(r, *system, "system"); s && !s->empty()) {
      req.messages.push_back(chat_message{"system", std::move(*s)});
    }
  }
  const json* messages = r.find("messages");
  if (!r.failed() && !messages) r.fail("messages", "messages is required");
  if (!r.failed() && (!messages->is_array() || messages->empty())) {
    r.fail("messages", "messages must be a non-empty array");
  }
  if (!r.failed()) {
    for (size_t i = 0; i < messages->size(); ++i) {
      if (!read_message(r, (*messages)[i], i, req.messages)) break;
    }
  }
  req.sampling.temperature = 1.0f;
  req.sampling.top_p = 1.0f;
  req.sampling.top_k = 0;
  req.sampling.min_p = 0.0f;
  req.sampling.repeat_penalty = 1.0f;
  read_sampling(r, req.sampling, api_flavor::openai);
  req.cache = read_cache(r);
  r.check(r.failed() || req.sampling.temperature <= 1.0f, "temperature",
          [] { return std::string("temperature must be in [0, 1]"); });
  if (const json* stops = r.find("stop_sequences"); stops && !r.failed()) {
    const bool ok = stops->is_array() && stops->size() <= max_stop_strings &&
                    std::all_of(stops->begin(), stops->end(), [](const json& s) { return s.is_string(); });
    if (r.check(ok, "stop_sequences", [] {
          return "stop_sequences must be an array of at most " + std::to_string(max_stop_strings) + " strings";
        })) {
      for (const json& s : *stops) {
        if (!s.get_ref<const std::string&>().empty()) req.stop.push_back(s.get<std::string>());
      }
    }
  }
  req.stream = r.boolean("stream").value_or(false);
  read_anthropic_tools(r, body, req.tools);
  if (r.failed()) return r.error();
  return req;
}

}  // namespace

result<messages_request> parse_messages(std::string_view body, const limits& lim) { return parse(body, lim, false); }
result<messages_request> parse_count_tokens(std::string_view body, const limits& lim) { return parse(body, lim, true); }

json anthropic_error(const api_error& e) {
  std::string type;
  switch (e.status) {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 413: type = "request_too_large"; break;
    case 429: type = "rate_limit_error"; break;
    case 503: type = "overloaded_error"; break;
    default: type = "api_error"; break;
  }
  return {{"type", "error"}, {"error", {{"type", type}, {"message", e.message}}}};
}

json anthropic_stop_reason(finish_reason r, std::string_view stop_sequence, bool made_calls) {
  switch (r) {
    case finish_reason::stop:
      if (made_calls) return "tool_use";
      return stop_sequence.empty() ? "end_turn" : "stop_sequence";
    case finish_reason::length: return made_calls ? "tool_use" : "max_tokens";
    case finish_reason::deadline: return "deadline";  // hearth's: the request's deadline_ms passed
    case finish_reason::cancelled:
    case finish_reason::shutdown:
    case finish_reason::error: break;
  }
  return nullptr;
}

namespace {

json tool_use_block(const tool_call& c) {
  json input = json::parse(c.arguments, nullptr, false);
  if (!input.is_object()) input = json::object();
  return {{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", std::move(input)}};
}

json stop_sequence_json(std::string_view s) { return s.empty() ? json(nullptr) : json(s); }

// Anthropic's usage at the end of a message: the prompt as input_tokens computed plus
// cache_read_input_tokens (the prefix cache's share; hearth writes the cache on its own, so nothing
// counts as cache_creation_input_tokens), then output_tokens; the speculative counts when drafted.
json final_usage(const usage& u) {
  json out = {{"input_tokens", u.prompt_tokens - u.cached_tokens},
              {"cache_creation_input_tokens", 0},
              {"cache_read_input_tokens", u.cached_tokens},
              {"output_tokens", u.completion_tokens}};
  add_speculative_usage(out, u);
  return out;
}

}  // namespace

json messages_response(std::string_view id, std::string_view model, std::string_view reasoning, std::string_view text,
                       const std::vector<tool_call>& calls, finish_reason reason, std::string_view stop_sequence,
                       const usage& u) {
  json content = json::array();
  if (!reasoning.empty()) content.push_back({{"type", "thinking"}, {"thinking", reasoning}, {"signature", ""}});
  if (!text.empty() || calls.empty()) content.push_back({{"type", "text"}, {"text", text}});
  for (const tool_call& c : calls) content.push_back(tool_use_block(c));
  json out = {{"id", id},
              {"type", "message"},
              {"role", "assistant"},
              {"model", model},
              {"content", std::move(content)},
              {"stop_reason", anthropic_stop_reason(reason, stop_sequence, !calls.empty())},
              {"stop_sequence", stop_sequence_json(calls.empty() ? stop_sequence : "")},
              {"usage", final_usage(u)}};
  return out;
}

std::string anthropic_event(std::string_view name, const json& data) {
  return "event: " + std::string(name) + "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

json message_start_event(std::string_view id, std::string_view model, int32_t input_tokens) {
  return {{"type", "message_start"},
          {"message",
           {{"id", id},
            {"type", "message"},
            {"role", "assistant"},
            {"model", model},
            {"content", json::array()},
            {"stop_reason", nullptr},
            {"stop_sequence", nullptr},
            {"usage", {{"input_tokens", input_tokens}, {"output_tokens", 0}}}}}};
}

json block_start_event(int index, std::string_view type) {
  json block = {{"type", type}};
  if (type == "thinking") {
    block["thinking"] = "";
    block["signature"] = "";
  } else {
    block["text"] = "";
  }
  return {{"type", "content_block_start"}, {"index", index}, {"content_block", std::move(block)}};
}

json tool_use_start_event(int index, const tool_call& call) {
  return {{"type", "content_block_start"},
          {"index", index},
          {"content_block", {{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", json::object()}}}};
}

json block_delta_event(int index, std::string_view type, std::string_view text) {
  json delta = {{"type", type}};
  delta[type == "text_delta" ? "text" : type == "thinking_delta" ? "thinking" : "partial_json"] = text;
  return {{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(delta)}};
}

json block_stop_event(int index) { return {{"type", "content_block_stop"}, {"index", index}}; }

json message_delta_event(const json& stop_reason, std::string_view stop_sequence, const usage& u) {
  json out = {{"type", "message_delta"},
              {"delta", {{"stop_reason", stop_reason}, {"stop_sequence", stop_sequence_json(stop_sequence)}}},
              {"usage", final_usage(u)}};
  return out;
}

}  // namespace hearth::proto
