#include "proto/tool_calls.h"

#include <optional>

#include <nlohmann/json.hpp>

namespace hearth::proto {

namespace {

using json = nlohmann::json;

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::optional<json> parse_json(std::string_view s) {
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// Where the JSON object or array starting at s[at] ends (one past its closing bracket), or npos.
size_t json_value_end(std::string_view s, size_t at) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = at; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// Arguments as a JSON text: an object, or a string holding one (some models quote them).
std::optional<std::string> arguments_text(const json& v) {
  if (v.is_object()) return v.dump();
  if (v.is_string()) {
    const std::optional<json> inner = parse_json(v.get<std::string>());
    if (inner && inner->is_object()) return inner->dump();
  }
  return std::nullopt;
}

// {"name": N, "<args_key>": {...}} (or "arguments"/"parameters" either way) as a call.
std::optional<tool_call> call_from_object(const json& o, std::string_view name_key = "name") {
  if (!o.is_object()) return std::nullopt;
  const auto name = o.find(std::string(name_key));
  if (name == o.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  tool_call c;
  c.name = name->get<std::string>();
  const json* args = nullptr;
  for (const char* key : {"arguments", "parameters"}) {
    if (o.contains(key)) args = &o.at(key);
  }
  if (!args) {
    c.arguments = "{}";
  } else if (std::optional<std::string> a = arguments_text(*args)) {
    c.arguments = *a;
  } else {
    return std::nullopt;
  }
  if (o.contains("id") && o["id"].is_string()) c.id = o["id"].get<std::string>();
  if (o.contains("tool_call_id") && o["tool_call_id"].is_string()) c.id = o["tool_call_id"].get<std::string>();
  return c;
}

// A JSON array of call objects.
bool calls_from_array(std::string_view text, std::vector<tool_call>& out, std::string_view name_key = "name") {
  const std::optional<json> j = parse_json(trim(text));
  if (!j || !j->is_array() || j->empty()) return false;
  for (const json& o : *j) {
    std::optional<tool_call> c = call_from_object(o, name_key);
    if (!c) return false;
    out.push_back(std::move(*c));
  }
  return true;
}

// An XML-style parameter value: JSON if it parses, else the text itself.
json parameter_value(std::string_view v) {
  if (v.starts_with("\n")) v.remove_prefix(1);
  if (v.ends_with("\n")) v.remove_suffix(1);
  if (std::optional<json> j = parse_json(v)) return *j;
  return std::string(v);
}

// Every `open`...`close` span of `text`: the bodies go to `body`, the text around them (joined)
// to `outside`. False if a span is left open.
bool spans(std::string_view text, std::string_view open, std::string_view close, std::vector<std::string_view>& body,
           std::string& outside) {
  size_t at = 0;
  for (;;) {
    const size_t b = text.find(open, at);
    if (b == std::string_view::npos) {
      outside += text.substr(at);
      return true;
    }
    outside += text.substr(at, b - at);
    const size_t e = text.find(close, b + open.size());
    if (e == std::string_view::npos) return false;
    body.push_back(text.substr(b + open.size(), e - b - open.size()));
    at = e + close.size();
  }
}

// The text between `open` and `close` after `at`, moving `at` past it; nullopt if absent.
std::optional<std::string_view> between(std::string_view s, size_t& at, std::string_view open, std::string_view close) {
  const size_t b = s.find(open, at);
  if (b == std::string_view::npos) return std::nullopt;
  const size_t e = s.find(close, b + open.size());
  if (e == std::string_view::npos) return std::nullopt;
  at = e + close.size();
  return s.substr(b + open.size(), e - b - open.size());
}

// Parses the calls of `bodies` with `one`; false if any is malformed.
template <class F>
bool each_body(const std::vector<std::string_view>& bodies, std::vector<tool_call>& out, F&& one) {
  for (std::string_view b : bodies) {
    if (!one(b, out)) return false;
  }
  return !out.empty();
}

bool hermes_call(std::string_view body, std::vector<tool_call>& out) {
  const std::optional<json> j = parse_json(trim(body));
  std::optional<tool_call> c = j ? call_from_object(*j) : std::nullopt;
  if (!c) return false;
  out.push_back(std::move(*c));
  return true;
}

// <function=N><parameter=K>V</parameter>...</function>
bool xml_function_call(std::string_view body, std::vector<tool_call>& out) {
  size_t at = 0;
  const size_t f = body.find("<function=");
  if (f == std::string_view::npos) return false;
  const size_t name_end = body.find('>', f);
  const size_t fn_end = body.find("</function>", f);
  if (name_end == std::string_view::npos || fn_end == std::string_view::npos || name_end > fn_end) return false;
  tool_call c;
  c.name = std::string(trim(body.substr(f + 10, name_end - f - 10)));
  if (c.name.empty()) return false;
  const std::string_view params = body.substr(name_end + 1, fn_end - name_end - 1);
  json args = json::object();
  at = 0;
  for (;;) {
    const size_t p = params.find("<parameter=", at);
    if (p == std::string_view::npos) break;
    const size_t key_end = params.find('>', p);
    const size_t close = params.find("</parameter>", p);
    if (key_end == std::string_view::npos || close == std::string_view::npos || key_end > close) return false;
    args[std::string(trim(params.substr(p + 11, key_end - p - 11)))] =
        parameter_value(params.substr(key_end + 1, close - key_end - 1));
    at = close + 12;
  }
  c.arguments = args.dump();
  out.push_back(std::move(c));
  return true;
}

// N<arg_key>K</arg_key><arg_value>V</arg_value>...
bool glm_call(std::string_view body, std::vector<tool_call>& out) {
  const size_t first = body.find("<arg_key>");
  tool_call c;
  c.name = std::string(trim(body.substr(0, first)));
  if (c.name.empty() || contains(c.name, "<")) return false;
  json args = json::object();
  size_t at = first == std::string_view::npos ? body.size() : first;
  while (at < body.size()) {
    const std::optional<std::string_view> key = between(body, at, "<arg_key>", "</arg_key>");
    if (!key) break;
    const std::optional<std::string_view> value = between(body, at, "<arg_value>", "</arg_value>");
    if (!value) return false;
    args[std::string(trim(*key))] = parameter_value(*value);
  }
  c.arguments = args.dump();
  out.push_back(std::move(c));
  return true;
}

// <invoke name="N"><parameter name="K">V</parameter>...</invoke>, repeated
bool minimax_calls(std::string_view body, std::vector<tool_call>& out) {
  size_t at = 0;
  bool any = false;
  for (;;) {
    const size_t inv = body.find("<invoke name=\"", at);
    if (inv == std::string_view::npos) break;
    const size_t name_end = body.find("\">", inv + 14);
    const size_t inv_end = body.find("</invoke>", inv);
    if (name_end == std::string_view::npos || inv_end == std::string_view::npos || name_end > inv_end) return false;
    tool_call c;
    c.name = std::string(body.substr(inv + 14, name_end - inv - 14));
    if (c.name.empty()) return false;
    json args = json::object();
    const std::string_view params = body.substr(name_end + 2, inv_end - name_end - 2);
    size_t p = 0;
    for (;;) {
      const size_t k = params.find("<parameter name=\"", p);
      if (k == std::string_view::npos) break;
      const size_t key_end = params.find("\">", k + 17);
      const size_t close = params.find("</parameter>", k);
      if (key_end == std::string_view::npos || close == std::string_view::npos || key_end > close) return false;
      args[std::string(params.substr(k + 17, key_end - k - 17))] = parameter_value(params.substr(key_end + 2, close - key_end - 2));
      p = close + 12;
    }
    c.arguments = args.dump();
    out.push_back(std::move(c));
    any = true;
    at = inv_end + 9;
  }
  return any;
}

// functions.N:0<|tool_call_argument_begin|>{...}, inside each <|tool_call_begin|>...<|tool_call_end|>
bool kimi_call(std::string_view body, std::vector<tool_call>& out) {
  const size_t sep = body.find("<|tool_call_argument_begin|>");
  if (sep == std::string_view::npos) return false;
  const std::string_view id = trim(body.substr(0, sep));
  std::string_view name = id;
  if (name.starts_with("functions.")) name.remove_prefix(10);
  if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) name = name.substr(0, colon);
  const std::optional<json> args = parse_json(trim(body.substr(sep + 28)));
  if (name.empty() || !args) return false;
  const std::optional<std::string> a = arguments_text(*args);
  if (!a) return false;
  out.push_back(tool_call{std::string(id), std::string(name), *a});
  return true;
}

// After [TOOL_CALLS]: a JSON array, or N[ARGS]{...}.
bool mistral_call(std::string_view body, std::vector<tool_call>& out) {
  const std::string_view t = trim(body);
  if (t.starts_with("[")) return calls_from_array(t, out);
  const size_t args = t.find("[ARGS]");
  if (args == std::string_view::npos) return false;
  tool_call c;
  c.name = std::string(trim(t.substr(0, args)));
  const std::string_view rest = trim(t.substr(args + 6));
  const size_t end = rest.starts_with("{") ? json_value_end(rest, 0) : std::string_view::npos;
  if (c.name.empty() || end == std::string_view::npos || !trim(rest.substr(end)).empty()) return false;
  const std::optional<json> j = parse_json(rest.substr(0, end));
  if (!j || !j->is_object()) return false;
  c.arguments = j->dump();
  out.push_back(std::move(c));
  return true;
}

parsed_output as_content(std::string_view text) { return {std::string(text), {}}; }

parsed_output with_calls(std::string outside, std::vector<tool_call> calls) {
  return {std::string(trim(outside)), std::move(calls)};
}

}  // namespace

std::string_view to_string(tool_format f) {
  switch (f) {
    case tool_format::none: return "none";
    case tool_format::hermes: return "hermes";
    case tool_format::xml_function: return "xml_function";
    case tool_format::glm: return "glm";
    case tool_format::llama3_json: return "llama3_json";
    case tool_format::mistral: return "mistral";
    case tool_format::nemotron: return "nemotron";
    case tool_format::kimi: return "kimi";
    case tool_format::minimax: return "minimax";
    case tool_format::command_r: return "command_r";
  }
  return "none";
}

tool_format detect_tool_format(std::string_view t) {
  if (contains(t, "<minimax:tool_call>")) return tool_format::minimax;
  if (contains(t, "<|tool_calls_section_begin|>")) return tool_format::kimi;
  if (contains(t, "<seed:tool_call>") || (contains(t, "<tool_call>") && contains(t, "<function="))) {
    return tool_format::xml_function;
  }
  if (contains(t, "<arg_key>")) return tool_format::glm;
  if (contains(t, "<TOOLCALL>")) return tool_format::nemotron;
  if (contains(t, "[TOOL_CALLS]")) return tool_format::mistral;
  if (contains(t, "<|START_ACTION|>")) return tool_format::command_r;
  if (contains(t, "<tool_call>")) return tool_format::hermes;
  if (contains(t, "<function=")) return tool_format::none;  // functionary's own format: not parsed
  if (contains(t, "<|python_tag|>") || (contains(t, "\"parameters\"") && contains(t, "ipython"))) {
    return tool_format::llama3_json;
  }
  return tool_format::none;
}

parsed_output parse_tool_calls(tool_format format, std::string_view text, bool cut) {
  parsed_output whole = parse_tool_calls(format, text);
  if (!cut || !whole.calls.empty()) return whole;
  // The complete calls before the cut: the text up to the last call's end, with the closing
  // markup of a section the cut left open. The unfinished call after it is dropped.
  struct ending {
    std::string_view call_end, section_end;
  };
  ending e;
  switch (format) {
    case tool_format::hermes:
    case tool_format::glm: e = {"</tool_call>", ""}; break;
    case tool_format::xml_function: e = {contains(text, "<seed:tool_call>") ? "</seed:tool_call>" : "</tool_call>", ""}; break;
    case tool_format::kimi: e = {"<|tool_call_end|>", "<|tool_calls_section_end|>"}; break;
    case tool_format::minimax: e = {"</invoke>", "</minimax:tool_call>"}; break;
    default: return whole;
  }
  const size_t end = text.rfind(e.call_end);
  if (end == std::string_view::npos) return whole;
  const std::string kept = std::string(text.substr(0, end + e.call_end.size())) + std::string(e.section_end);
  parsed_output salvaged = parse_tool_calls(format, kept);
  return salvaged.calls.empty() ? whole : salvaged;
}

parsed_output parse_tool_calls(tool_format format, std::string_view text) {
  std::vector<std::string_view> bodies;
  std::string outside;
  std::vector<tool_call> calls;
  switch (format) {
    case tool_format::none:
      return as_content(text);
    case tool_format::hermes:
      if (!spans(text, "<tool_call>", "</tool_call>", bodies, outside) || !each_body(bodies, calls, hermes_call)) break;
      return with_calls(std::move(outside), std::move(calls));
    case tool_format::xml_function: {
      const bool seed = contains(text, "<seed:tool_call>");
      if (!spans(text, seed ? "<seed:tool_call>" : "<tool_call>", seed ? "</seed:tool_call>" : "</tool_call>", bodies,
                 outside) ||
          !each_body(bodies, calls, xml_function_call)) {
        break;
      }
      return with_calls(std::move(outside), std::move(calls));
    }
    case tool_format::glm:
      if (!spans(text, "<tool_call>", "</tool_call>", bodies, outside) || !each_body(bodies, calls, glm_call)) break;
      return with_calls(std::move(outside), std::move(calls));
    case tool_format::nemotron:
      if (!spans(text, "<TOOLCALL>", "</TOOLCALL>", bodies, outside) ||
          !each_body(bodies, calls, [](std::string_view b, std::vector<tool_call>& out) { return calls_from_array(b, out); })) {
        break;
      }
      return with_calls(std::move(outside), std::move(calls));
    case tool_format::command_r:
      if (!spans(text, "<|START_ACTION|>", "<|END_ACTION|>", bodies, outside) ||
          !each_body(bodies, calls,
                     [](std::string_view b, std::vector<tool_call>& out) { return calls_from_array(b, out, "tool_name"); })) {
        break;
      }
      return with_calls(std::move(outside), std::move(calls));
    case tool_format::minimax:
      if (!spans(text, "<minimax:tool_call>", "</minimax:tool_call>", bodies, outside) ||
          !each_body(bodies, calls, minimax_calls)) {
        break;
      }
      return with_calls(std::move(outside), std::move(calls));
    case tool_format::kimi: {
      std::vector<std::string_view> sections;
      if (!spans(text, "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", sections, outside)) break;
      bool ok = !sections.empty();
      for (std::string_view s : sections) {
        std::string between_calls;
        std::vector<std::string_view> call_bodies;
        ok = ok && spans(s, "<|tool_call_begin|>", "<|tool_call_end|>", call_bodies, between_calls) &&
             trim(between_calls).empty() && each_body(call_bodies, calls, kimi_call);
      }
      if (!ok) break;
      return with_calls(std::move(outside), std::move(calls));
    }
    case tool_format::mistral: {
      const size_t first = text.find("[TOOL_CALLS]");
      if (first == std::string_view::npos) break;
      std::string_view rest = text.substr(first + 12);
      bool ok = true;
      while (ok) {  // each [TOOL_CALLS] starts one call (or an array of them)
        const size_t next = rest.find("[TOOL_CALLS]");
        ok = mistral_call(rest.substr(0, next), calls);
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 12);
      }
      if (!ok) break;
      return with_calls(std::string(text.substr(0, first)), std::move(calls));
    }
    case tool_format::llama3_json: {
      std::string_view t = trim(text);
      if (t.starts_with("<|python_tag|>")) t = trim(t.substr(14));
      if (!t.starts_with("{")) break;
      bool ok = true;
      while (ok && !t.empty()) {  // {...}; {...}
        const size_t end = json_value_end(t, 0);
        if (end == std::string_view::npos) {
          ok = false;
          break;
        }
        const std::optional<json> j = parse_json(t.substr(0, end));
        std::optional<tool_call> c = j ? call_from_object(*j) : std::nullopt;
        ok = c && (j->contains("parameters") || j->contains("arguments"));
        if (ok) calls.push_back(std::move(*c));
        t = trim(t.substr(end));
        if (t.starts_with(";")) t = trim(t.substr(1));
      }
      if (!ok || calls.empty()) break;
      return with_calls("", std::move(calls));
    }
  }
  return as_content(text);
}

}  // namespace hearth::proto
