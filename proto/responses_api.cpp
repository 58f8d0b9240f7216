#include "proto/responses_api.h"

#include "proto/constraint.h"
#include "proto/generation_json.h"
#include "proto/json_body.h"
#include "proto/openai_api.h"

namespace hearth::proto {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// v["type"] when v is an object whose type is a string, else "" (json::value with a string
// default throws when the type is a number or an object).
template <class J>
std::string type_of(const J& v) {
  if (!v.is_object()) return "";
  const auto it = v.find("type");
  return it != v.end() && it->is_string() ? it->template get<std::string>() : "";
}

// A message item's content: a string, or input_text / output_text parts joined.
bool item_text(field_reader& r, const json& content, const std::string& key, std::string& out) {
  const std::string at = r.param(key);
  if (content.is_string()) {
    out = content.get<std::string>();
    return true;
  }
  if (!content.is_array()) {
    r.fail(key, at + " must be a string or an array of input_text parts (got " + describe(content) + ")");
    return false;
  }
  for (size_t k = 0; k < content.size(); ++k) {
    const json& p = content[k];
    const std::string type = type_of(p);
    const bool text_part = type == "input_text" || type == "output_text" || type == "text";
    if (!text_part || !p.contains("text") || !p["text"].is_string()) {
      r.fail(key, at + "[" + std::to_string(k) + "] must be an input_text part with a text" +
                     (type.empty() ? "" : " (type \"" + type + "\" is not supported)"));
      return false;
    }
    out += p["text"].get<std::string>();
  }
  return true;
}

bool read_item(field_reader& r, const json& item, size_t i, std::vector<chat_message>& out) {
  const std::string at = "input[" + std::to_string(i) + "]";
  if (!item.is_object()) {
    r.fail(at, at + " must be an object (got " + describe(item) + ")");
    return false;
  }
  field_reader ir(item, at + ".");
  const std::string type = ir.string("type").value_or("message");
  if (type == "message") {
    const std::optional<std::string> role = ir.string("role");
    const bool known = role && (*role == "user" || *role == "assistant" || *role == "system" || *role == "developer");
    ir.check(ir.failed() || known, "role", [&] { return at + ".role must be user, assistant, system or developer"; });
    const json* content = ir.find("content");
    ir.check(ir.failed() || content, "content", [&] { return at + ".content is required"; });
    chat_message m;
    if (!ir.failed()) {
      m.role = *role;
      item_text(ir, *content, "content", m.content);
    }
    if (ir.failed()) return r.fail(ir.error()), false;
    out.push_back(std::move(m));
  } else if (type == "function_call") {
    tool_call c;
    c.id = ir.string("call_id").value_or("");
    c.name = ir.string("name").value_or("");
    c.arguments = ir.string("arguments").value_or("{}");
    ir.check(ir.failed() || (!c.id.empty() && !c.name.empty()), "call_id",
             [&] { return at + " (a function_call) needs call_id and name"; });
    if (ir.failed()) return r.fail(ir.error()), false;
    if (out.empty() || out.back().role != "assistant") out.push_back(chat_message{"assistant", ""});
    out.back().tool_calls.push_back(std::move(c));
  } else if (type == "function_call_output") {
    chat_message m{"tool", ""};
    m.tool_call_id = ir.string("call_id").value_or("");
    const json* output = ir.find("output");
    ir.check(ir.failed() || !m.tool_call_id.empty(), "call_id", [&] { return at + ".call_id is required"; });
    if (!ir.failed() && output) item_text(ir, *output, "output", m.content);
    if (ir.failed()) return r.fail(ir.error()), false;
    out.push_back(std::move(m));
  } else if (type != "reasoning") {
    r.fail(at + ".type", at + ".type \"" + type + "\" is not supported (message, function_call, function_call_output)");
    return false;
  }
  return true;
}

// An error found reading the converted fields, named as the Responses API names them.
api_error renamed(api_error e) {
  const auto rename = [](std::string& s) {
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"response_format.json_schema.", "text.format."},
                                   {"response_format", "text.format"},
                                   {".function.", "."}}) {
      for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    }
  };
  rename(e.param);
  rename(e.message);
  return e;
}

// tools, tool_choice, parallel_tool_calls and text.format, read as chat's fields (tools.h,
// constraint.h) from their chat-shaped equivalents; key order kept.
void read_converted(field_reader& r, std::string_view raw, responses_request& req) {
  ojson chat = ojson::object();
  if (const json* tools = r.find("tools")) {
    if (!r.check(tools->is_array(), "tools", [&] { return "tools must be an array (got " + describe(*tools) + ")"; })) return;
    if (!r.check(widest_object(*tools) <= max_schema_keys, "tools",
                 [] { return "tools has an object with more than " + std::to_string(max_schema_keys) + " keys"; })) {
      return;
    }
    ojson list = ojson::array();
    for (ojson t : in_written_order(raw, {"tools"}, *tools)) {
      if (type_of(t) == "function") {
        ojson fn = t;
        fn.erase("type");
        list.push_back(ojson{{"type", "function"}, {"function", std::move(fn)}});
      } else {
        list.push_back(std::move(t));  // read_tools names what is wrong with it
      }
    }
    chat["tools"] = std::move(list);
  }
  if (const json* c = r.find("tool_choice")) {
    if (type_of(*c) == "function" && c->contains("name")) {
      chat["tool_choice"] = ojson{{"type", "function"}, {"function", {{"name", (*c)["name"]}}}};
    } else {
      chat["tool_choice"] = ojson::parse(c->dump());
    }
  }
  if (const json* p = r.find("parallel_tool_calls")) chat["parallel_tool_calls"] = ojson::parse(p->dump());
  if (const json* text = r.find("text"); text && text->is_object() && text->contains("format")) {
    const ojson format = in_written_order(raw, {"text", "format"}, (*text)["format"]);
    if (type_of(format) == "json_schema") {
      ojson js = format;
      js.erase("type");
      chat["response_format"] = ojson{{"type", "json_schema"}, {"json_schema", std::move(js)}};
    } else {
      chat["response_format"] = format;
    }
  }
  if (r.failed() || chat.empty()) return;
  const std::string text = chat.dump();
  const json plain = json::parse(text);
  field_reader cr(plain);
  req.tools = read_tools(cr, text);
  req.constraint = read_constraint(cr, text, api_flavor::openai);
  if (!cr.failed() && req.constraint && req.tools.forced()) {
    cr.fail("tool_choice", "tool_choice \"required\" or a function cannot be combined with text.format");
  }
  if (cr.failed()) r.fail(renamed(cr.error()));
}

}  // namespace

result<responses_request> parse_responses(std::string_view body, const limits& lim) {
  result<json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  const json& root = std::get<json>(j);
  field_reader r(root);
  responses_request req;
  req.model = r.string("model").value_or("");
  if (r.find("previous_response_id")) {
    r.fail("previous_response_id", "previous_response_id is not supported: hearth stores no responses; send the "
                                   "conversation in input");
  }
  if (r.boolean("store").value_or(false)) {
    r.fail("store", "store: true is not supported: hearth stores no responses (send store: false, or leave it out)");
  }
  if (r.boolean("background").value_or(false)) r.fail("background", "background responses are not supported");
  if (const std::optional<std::string> s = r.string("instructions"); s && !s->empty()) {
    req.messages.push_back(chat_message{"system", *s});
  }
  const json* input = r.find("input");
  if (!r.failed() && !input) r.fail("input", "input is required");
  if (!r.failed() && input->is_string()) {
    req.messages.push_back(chat_message{"user", input->get<std::string>()});
  } else if (!r.failed() && input->is_array() && !input->empty()) {
    for (size_t i = 0; i < input->size(); ++i) {
      if (!read_item(r, (*input)[i], i, req.messages)) break;
    }
  } else if (!r.failed()) {
    r.fail("input", "input must be a string or a non-empty array of items (got " + describe(*input) + ")");
  }
  req.overflow = read_context_overflow(r, lim);
  req.deadline_ms = read_deadline_ms(r);
  req.speculative = read_speculative(r, lim);
  req.max_output_tokens = read_max_tokens(r, "max_output_tokens", overflow_limits(lim, req.overflow));
  req.sampling = openai_sampling_defaults();
  read_sampling(r, req.sampling, api_flavor::openai);
  req.cache = read_cache(r);
  req.stream = r.boolean("stream").value_or(false);
  read_converted(r, body, req);
  if (r.failed()) return r.error();
  const auto given = [&](const char* key, json fallback) { return root.contains(key) && !root[key].is_null() ? root[key] : fallback; };
  req.echo = {{"instructions", given("instructions", nullptr)},
              {"max_output_tokens", given("max_output_tokens", nullptr)},
              {"parallel_tool_calls", given("parallel_tool_calls", true)},
              {"temperature", req.sampling.temperature},
              {"top_p", req.sampling.top_p},
              {"text", given("text", {{"format", {{"type", "text"}}}})},
              {"tool_choice", given("tool_choice", "auto")},
              {"tools", given("tools", json::array())},
              {"metadata", given("metadata", json::object())},
              {"store", false},
              {"truncation", "disabled"}};
  return req;
}

std::string message_item_id(std::string_view response_id) { return "msg_" + std::string(response_id.substr(5)); }
std::string reasoning_item_id(std::string_view response_id) { return "rs_" + std::string(response_id.substr(5)); }
std::string function_item_id(std::string_view response_id, size_t index) {
  return "fc_" + std::string(response_id.substr(5)) + "_" + std::to_string(index);
}

json message_item(std::string_view item_id, std::string_view text, bool done) {
  json content = json::array();
  if (done) content.push_back({{"type", "output_text"}, {"text", text}, {"annotations", json::array()}, {"logprobs", json::array()}});
  return {{"type", "message"},
          {"id", item_id},
          {"status", done ? "completed" : "in_progress"},
          {"role", "assistant"},
          {"content", std::move(content)}};
}

json reasoning_item(std::string_view item_id, std::string_view text) {
  json content = json::array();
  if (!text.empty()) content.push_back({{"type", "reasoning_text"}, {"text", text}});
  return {{"type", "reasoning"}, {"id", item_id}, {"summary", json::array()}, {"content", std::move(content)}};
}

json function_call_item(std::string_view item_id, const tool_call& call) {
  return {{"type", "function_call"},
          {"id", item_id},
          {"call_id", call.id},
          {"name", call.name},
          {"arguments", call.arguments},
          {"status", "completed"}};
}

json response_object(std::string_view id, int64_t created, std::string_view model, const json& echo,
                     const responses_output* out) {
  json r = {{"id", id}, {"object", "response"}, {"created_at", created}, {"model", model}};
  r.update(echo);
  r["error"] = nullptr;
  r["incomplete_details"] = nullptr;
  r["output"] = json::array();
  r["usage"] = nullptr;
  if (!out) {
    r["status"] = "in_progress";
    return r;
  }
  const bool cut = (out->reason == finish_reason::length || out->reason == finish_reason::deadline) && out->calls.empty();
  r["status"] = cut ? "incomplete" : "completed";
  if (cut) r["incomplete_details"] = {{"reason", out->reason == finish_reason::deadline ? "deadline" : "max_output_tokens"}};
  if (!out->reasoning.empty()) r["output"].push_back(reasoning_item(reasoning_item_id(id), out->reasoning));
  if (!out->text.empty() || out->calls.empty()) r["output"].push_back(message_item(message_item_id(id), out->text, true));
  for (size_t i = 0; i < out->calls.size(); ++i) r["output"].push_back(function_call_item(function_item_id(id, i), out->calls[i]));
  r["usage"] = {{"input_tokens", out->tokens.prompt_tokens},
                {"input_tokens_details", {{"cached_tokens", out->tokens.cached_tokens}}},
                {"output_tokens", out->tokens.completion_tokens},
                {"output_tokens_details", {{"reasoning_tokens", 0}}},
                {"total_tokens", out->tokens.prompt_tokens + out->tokens.completion_tokens}};
  add_prediction_tokens(r["usage"]["output_tokens_details"], out->tokens);
  add_speculative_usage(r["usage"], out->tokens);
  return r;
}

std::string responses_event(std::string_view type, int64_t sequence_number, json fields) {
  fields["type"] = type;
  fields["sequence_number"] = sequence_number;
  return "event: " + std::string(type) + "\ndata: " + fields.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace hearth::proto
