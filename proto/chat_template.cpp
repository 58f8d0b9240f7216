#include "proto/chat_template.h"

#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "load_error.h"
#include "proto/jinja/json_io.h"

namespace hearth::proto {

namespace {

// What llama.cpp falls back to for a model without a template.
constexpr std::string_view chatml_template =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

// Display only: which known format a template's markers suggest.
std::string family_of(std::string_view t) {
  const auto has = [t](std::string_view marker) { return t.find(marker) != std::string_view::npos; };
  if (has("<|im_start|>")) return "chatml";
  if (has("<|start_header_id|>")) return "llama3";
  if (has("[INST]")) return has("[SYSTEM_PROMPT]") || has("[AVAILABLE_TOOLS]") ? "mistral" : "llama2";
  if (has("<|assistant|>") && has("<|end|>")) return "phi3";
  if (has("<start_of_turn>")) return "gemma";
  return "custom";
}

jinja::value user_string(const std::string& s) { return jinja::value::string(s, /*user=*/true); }

// OpenAI sends a call's arguments as JSON text; templates expect the object (as Hugging Face
// passes it), so text that parses as a JSON object becomes one, with the key order it had.
jinja::value arguments_value(const std::string& arguments) {
  const auto j = nlohmann::ordered_json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) return jinja::from_json(j, /*user_strings=*/true);
  return user_string(arguments);
}

jinja::value tool_calls_value(const std::vector<tool_call>& calls) {
  using jinja::value;
  std::vector<value> out;
  out.reserve(calls.size());
  for (const tool_call& c : calls) {
    value function = value::dict({{value::string("name"), user_string(c.name)},
                                  {value::string("arguments"), arguments_value(c.arguments)}},
                                 true);
    out.push_back(value::dict({{value::string("id"), user_string(c.id)},
                               {value::string("type"), value::string("function")},
                               {value::string("function"), std::move(function)}},
                              true));
  }
  return value::list(std::move(out));
}

jinja::value message_value(const chat_message& m) {
  using jinja::value;
  std::vector<std::pair<value, value>> fields;
  fields.emplace_back(value::string("role"), value::string(m.role == "developer" ? "system" : m.role));
  fields.emplace_back(value::string("content"), user_string(m.content));
  if (!m.name.empty()) fields.emplace_back(value::string("name"), user_string(m.name));
  if (!m.tool_call_id.empty()) fields.emplace_back(value::string("tool_call_id"), user_string(m.tool_call_id));
  if (!m.reasoning_content.empty()) {
    fields.emplace_back(value::string("reasoning_content"), user_string(m.reasoning_content));
  }
  if (!m.tool_calls.empty()) fields.emplace_back(value::string("tool_calls"), tool_calls_value(m.tool_calls));
  return value::dict(std::move(fields), true);
}

}  // namespace

chat_template chat_template::from_gguf(const gguf_file& f, const vocab& v) {
  const std::optional<std::string_view> text = f.get_string("tokenizer.chat_template");
  return from_text(text.value_or(""), v, f.path() + ": tokenizer.chat_template");
}

chat_template chat_template::from_text(std::string_view jinja, const vocab& v, const std::string& origin) {
  const auto piece = [&v](token_id id) { return id >= 0 && id < v.size() ? std::string(v.piece(id)) : std::string(); };
  return from_text(jinja, piece(v.bos()), piece(v.eos()), origin);
}

chat_template chat_template::from_text(std::string_view jinja, std::string bos_text, std::string eos_text,
                                       const std::string& origin, jinja::render_options options) {
  chat_template c;
  c.options_ = std::move(options);
  c.bos_text_ = std::move(bos_text);
  c.eos_text_ = std::move(eos_text);
  c.family_ = jinja.empty() ? "chatml (default)" : family_of(jinja);
  c.reasoning_ = reasoning_markers_of(jinja);
  c.tools_ = tool_dialect_of(jinja.empty() ? chatml_template : jinja);
  try {
    c.program_ = jinja::program::parse(jinja.empty() ? chatml_template : jinja);
  } catch (const jinja::syntax_error& e) {
    throw load_error(origin + ": cannot parse the chat template: " + e.what());
  }
  return c;
}

result<prompt_text> chat_template::render(const std::vector<chat_message>& messages, bool add_generation_prompt,
                                          const jinja::variables& extra) const {
  using jinja::value;
  std::vector<value> list;
  list.reserve(messages.size());
  for (const chat_message& m : messages) list.push_back(message_value(m));
  jinja::variables vars = {{"messages", value::list(std::move(list))},
                           {"add_generation_prompt", value::boolean(add_generation_prompt)},
                           {"bos_token", value::string(bos_text_)},
                           {"eos_token", value::string(eos_text_)}};
  vars.insert(vars.end(), extra.begin(), extra.end());
  auto r = program_.render(vars, options_);
  if (const auto* e = std::get_if<jinja::render_error>(&r)) {
    return bad_request("messages", e->raised_by_template()
                                       ? e->message
                                       : "the model's chat template cannot render these messages: " + e->describe());
  }
  jinja::text& out = std::get<jinja::text>(r);
  prompt_text p;
  if (!bos_text_.empty() && out.view().starts_with(bos_text_) && !out.user_within(0, bos_text_.size())) {
    out.erase_prefix(bos_text_.size());
    p.bos = true;
  }
  for (const jinja::byte_span& s : out.user()) p.literal.push_back({s.begin, s.end});
  p.text = out.str();
  return p;
}

result<std::vector<token_id>> chat_template::tokenize(const vocab& v, const std::vector<chat_message>& messages,
                                                      bool add_generation_prompt) const {
  result<prompt_text> rendered = render(messages, add_generation_prompt);
  if (auto* e = std::get_if<api_error>(&rendered)) return *e;
  return tokenize(v, std::get<prompt_text>(rendered));
}

std::vector<token_id> chat_template::tokenize(const vocab& v, const prompt_text& p) {
  std::vector<token_id> ids;
  if ((p.bos || v.add_bos()) && v.bos() >= 0) ids.push_back(v.bos());
  const std::vector<token_id> body = v.tokenize(p.text, /*add_special=*/false, /*parse_special=*/true, p.literal);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

}  // namespace hearth::proto
