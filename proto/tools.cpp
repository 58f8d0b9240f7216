#include "proto/tools.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "proto/constraint.h"
#include "proto/jinja/json_io.h"
#include "proto/json_schema.h"

namespace hearth::proto {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr size_t max_tools = 128;

// One entry of `tools`; false after recording an error.
bool read_tool(field_reader& r, const json& item, const ojson& ordered, size_t i, tool_request& out) {
  const std::string at = "tools[" + std::to_string(i) + "]";
  if (!r.check(item.is_object(), at, [&] { return at + " must be an object (got " + describe(item) + ")"; })) return false;
  field_reader tr(item, at + ".");
  const std::optional<std::string> type = tr.string("type");
  tr.check(type.has_value() || tr.failed(), "type", [&] { return at + ".type is required (\"function\")"; });
  tr.check(!type || *type == "function", "type",
           [&] { return at + ".type must be \"function\" (got \"" + type.value_or("") + "\")"; });
  const json* fn = tr.find("function");
  tr.check(tr.failed() || (fn && fn->is_object()), "function",
           [&] { return at + ".function must be an object with the function's name"; });
  if (tr.failed()) {
    r.fail(tr.error());
    return false;
  }
  field_reader fr(*fn, at + ".function.");
  const std::optional<std::string> name = fr.string("name");
  fr.check(fr.failed() || (name && valid_tool_name(*name)), "name", [&] {
    return at + ".function.name must be 1 to 64 letters, digits, '_' or '-' (got " +
           (name ? "\"" + *name + "\"" : std::string("none")) + ")";
  });
  fr.string("description");
  fr.boolean("strict");
  const json* params = fr.find("parameters");
  fr.check(fr.failed() || !params || params->is_object(), "parameters",
           [&] { return at + ".function.parameters must be a JSON Schema object (got " + describe(*params) + ")"; });
  if (fr.failed()) {
    r.fail(fr.error());
    return false;
  }
  const bool duplicate = std::any_of(out.tools.begin(), out.tools.end(), [&](const tool_definition& t) { return t.name == *name; });
  if (!r.check(!duplicate, at + ".function.name", [&] { return "two tools are named \"" + *name + "\""; })) return false;
  tool_definition t;
  t.name = *name;
  const ojson& ofn = ordered.is_object() && ordered.contains("function") ? ordered["function"] : ojson();
  if (params && ofn.is_object() && ofn.contains("parameters") && ofn["parameters"].is_object()) {
    t.parameters = ofn["parameters"];
  } else if (params) {
    t.parameters = ojson::parse(params->dump());
  } else {
    t.parameters = ojson{{"type", "object"}, {"properties", ojson::object()}};
  }
  out.tools.push_back(std::move(t));
  return true;
}

void read_tool_choice(field_reader& r, tool_request& t) {
  const json* c = r.find("tool_choice");
  if (!c || r.failed()) return;
  if (c->is_string()) {
    const std::string& s = c->get_ref<const std::string&>();
    if (s == "none") t.mode = tool_mode::none;
    else if (s == "auto") t.mode = tool_mode::automatic;
    else if (s == "required") t.mode = tool_mode::required;
    else return r.fail("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or a function (got \"" + s + "\")");
  } else {
    const json* fn = c->is_object() && c->contains("function") ? &(*c)["function"] : nullptr;
    const json* name = fn && fn->is_object() && fn->contains("name") ? &(*fn)["name"] : nullptr;
    const bool typed = c->is_object() && c->value("type", json()) == "function";
    if (!typed || !name || !name->is_string()) {
      return r.fail("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                                   "\"function\": {\"name\": ...}} (got " + describe(*c) + ")");
    }
    t.mode = tool_mode::named;
    t.named = name->get<std::string>();
    const bool known = std::any_of(t.tools.begin(), t.tools.end(), [&](const tool_definition& d) { return d.name == t.named; });
    if (!known) return r.fail("tool_choice", "tool_choice names \"" + t.named + "\", which is not one of the tools");
  }
  if (t.tools.empty() && (t.mode == tool_mode::required || t.mode == tool_mode::named)) {
    r.fail("tool_choice", "tool_choice \"required\" or a function needs tools");
  }
}

std::string lit(std::string_view s) { return gbnf_literal(s); }

// Rules of several schemas in one grammar: each line once (the built-in rules repeat).
class rule_set {
 public:
  void add(const std::string& rules) {
    size_t at = 0;
    while (at < rules.size()) {
      size_t end = rules.find('\n', at);
      if (end == std::string::npos) end = rules.size();
      std::string line = rules.substr(at, end - at);
      if (!line.empty() && seen_.insert(line).second) text_ += line + "\n";
      at = end + 1;
    }
  }
  const std::string& text() const { return text_; }

 private:
  std::set<std::string> seen_;
  std::string text_;
};

std::string schema_error_at(size_t i, std::string_view what) {
  return "tools[" + std::to_string(i) + "].function.parameters" + std::string(what.starts_with("(root)") ? what.substr(6) : what);
}

// The rule for a schema of tool i (start `start`, rules prefixed `prefix`).
std::string schema_rule(rule_set& rules, const ojson& schema, size_t i, const std::string& start, const std::string& prefix) {
  try {
    rules.add(json_schema_rules(schema, start, prefix));
  } catch (const json_schema_error& e) {
    throw json_schema_error(schema_error_at(i, e.what()));
  }
  return start;
}

// Formats that write each argument on its own (XML-like): the property's value as JSON (which
// parse_tool_calls reads back as JSON), required properties always, optional ones maybe, in the
// order the schema declares them.
template <class Write>
std::string xml_arguments(rule_set& rules, const ojson& params, size_t i, Write&& write) {
  if (params.contains("$ref") || params.contains("anyOf") || params.contains("oneOf") || params.contains("allOf")) {
    throw json_schema_error(schema_error_at(i, "(root): this model writes arguments one by one, so the parameters must be "
                                               "an object schema with properties (no $ref, anyOf, oneOf or allOf at the top)"));
  }
  const ojson props = params.value("properties", ojson::object());
  const ojson required = params.value("required", ojson::array());
  if (!props.is_object()) throw json_schema_error(schema_error_at(i, "/properties: must be an object"));
  std::string out;
  size_t j = 0;
  for (const auto& [key, schema] : props.items()) {
    ojson value = schema;
    if (value.is_object()) {  // $refs into the parameters' definitions still resolve
      for (const char* defs : {"$defs", "definitions"}) {
        if (params.contains(defs) && !value.contains(defs)) value[defs] = params[defs];
      }
    }
    const std::string id = std::to_string(i) + "-" + std::to_string(j++);
    std::string rule;
    try {
      rule = schema_rule(rules, value, i, "tool-value-" + id, "v" + id + "-");
    } catch (const json_schema_error& e) {
      const std::string what = e.what();
      const std::string head = schema_error_at(i, "");
      throw json_schema_error(head + "/properties/" + key + what.substr(std::min(what.size(), head.size())));
    }
    const bool is_required = std::find(required.begin(), required.end(), ojson(key)) != required.end();
    const std::string part = write(key, rule);
    out += is_required ? part + " " : "(" + part + ")? ";
  }
  return out;
}

// Arguments are a JSON object in every format: parameters of another type are refused, and a schema
// without a type (e.g. {} or only properties) is taken as an object's.
ojson object_parameters(const ojson& p, size_t i) {
  if (p.contains("type") && p["type"] != "object") {
    throw json_schema_error(schema_error_at(i, "/type: a tool's parameters must describe an object"));
  }
  ojson out = p;
  const bool composed = p.contains("$ref") || p.contains("anyOf") || p.contains("oneOf") || p.contains("allOf") ||
                        p.contains("enum") || p.contains("const");
  if (!p.contains("type") && !composed) out["type"] = "object";
  return out;
}

// One call of tool i in the dialect's format (the markup around calls excepted).
std::string call_alternative(rule_set& rules, const tool_dialect& d, const tool_definition& t, size_t i) {
  const auto args = [&] {
    return schema_rule(rules, object_parameters(t.parameters, i), i, "tool-args-" + std::to_string(i), "t" + std::to_string(i) + "-");
  };
  const std::string name = lit(t.name);
  switch (d.format) {
    case tool_format::hermes:
    case tool_format::nemotron:
      return lit("{\"name\": \"") + " " + name + " " + lit("\", \"arguments\": ") + " " + args() + " " + lit("}");
    case tool_format::mistral:
      if (d.mistral_args) return name + " " + lit("[ARGS]") + " " + args();
      return lit("{\"name\": \"") + " " + name + " " + lit("\", \"arguments\": ") + " " + args() + " " + lit("}");
    case tool_format::llama3_json:
      return lit("{\"name\": \"") + " " + name + " " + lit("\", \"parameters\": ") + " " + args() + " " + lit("}");
    case tool_format::command_r:
      return lit("{\"tool_name\": \"") + " " + name + " " + lit("\", \"parameters\": ") + " " + args() + " " + lit("}");
    case tool_format::kimi:
      return lit("functions.") + " " + name + " \":\" [0-9]{1,3} " + lit("<|tool_call_argument_begin|>") + " " + args();
    case tool_format::xml_function:
      return lit("<function=") + " " + name + " " + lit(">\n") + " " +
             xml_arguments(rules, t.parameters, i, [](const std::string& key, const std::string& rule) {
               return lit("<parameter=" + key + ">\n") + " " + rule + " " + lit("\n</parameter>\n");
             }) +
             lit("</function>");
    case tool_format::glm:
      return name + " " + lit("\n") + " " +
             xml_arguments(rules, t.parameters, i, [](const std::string& key, const std::string& rule) {
               return lit("<arg_key>" + key + "</arg_key>\n<arg_value>") + " " + rule + " " + lit("</arg_value>\n");
             });
    case tool_format::minimax:
      return lit("<invoke name=\"") + " " + name + " " + lit("\">\n") + " " +
             xml_arguments(rules, t.parameters, i, [](const std::string& key, const std::string& rule) {
               return lit("<parameter name=\"" + key + "\">") + " " + rule + " " + lit("</parameter>\n");
             }) +
             lit("</invoke>");
    case tool_format::none:
      break;
  }
  throw std::invalid_argument("this model's chat template has no tool-call format hearth can write");
}

// `one` once, or (parallel) once followed by any number of `sep one`.
std::string repeated(const std::string& one, const std::string& sep, bool parallel) {
  return parallel ? one + " (" + sep + " " + one + ")*" : one;
}

}  // namespace

bool valid_tool_name(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

tool_request read_tools(field_reader& r, std::string_view raw) {
  tool_request t;
  if (r.failed()) return t;
  if (const json* tools = r.find("tools")) {
    if (!r.check(tools->is_array(), "tools", [&] { return "tools must be an array (got " + describe(*tools) + ")"; })) return t;
    if (!r.check(tools->size() <= max_tools, "tools", [&] {
          return "tools has " + std::to_string(tools->size()) + " entries; at most " + std::to_string(max_tools) + " are allowed";
        })) {
      return t;
    }
    if (!r.check(widest_object(*tools) <= max_schema_keys, "tools", [] {
          return "tools has an object with more than " + std::to_string(max_schema_keys) + " keys";
        })) {
      return t;
    }
    t.template_value = in_written_order(raw, {"tools"}, *tools);
    for (size_t i = 0; i < tools->size(); ++i) {
      const ojson& ordered = t.template_value.is_array() && i < t.template_value.size() ? t.template_value[i] : ojson();
      if (!read_tool(r, (*tools)[i], ordered, i, t)) return t;
    }
  }
  read_tool_choice(r, t);
  if (const std::optional<bool> p = r.boolean("parallel_tool_calls")) t.parallel = *p;
  return t;
}

tool_dialect tool_dialect_of(std::string_view template_text) {
  tool_dialect d;
  d.format = detect_tool_format(template_text);
  if (d.format == tool_format::none && template_text.find("tools") == std::string_view::npos) {
    d.format = tool_format::hermes;
    d.taught = true;
  }
  d.mistral_args = template_text.find("[ARGS]") != std::string_view::npos;
  d.seed = template_text.find("<seed:tool_call>") != std::string_view::npos;
  return d;
}

std::vector<std::string_view> tool_markers(const tool_dialect& d) {
  switch (d.format) {
    case tool_format::hermes: return {"<tool_call>", "</tool_call>"};
    case tool_format::xml_function:
      return d.seed ? std::vector<std::string_view>{"<seed:tool_call>", "</seed:tool_call>"}
                    : std::vector<std::string_view>{"<tool_call>", "</tool_call>"};
    case tool_format::glm: return {"<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>"};
    case tool_format::llama3_json: return {"<|python_tag|>"};
    case tool_format::mistral: return {"[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"};
    case tool_format::nemotron: return {"<TOOLCALL>", "</TOOLCALL>"};
    case tool_format::kimi:
      return {"<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>",
              "<|tool_call_argument_begin|>", "<|tool_call_end|>"};
    case tool_format::minimax: return {"<minimax:tool_call>", "</minimax:tool_call>"};
    case tool_format::command_r: return {"<|START_ACTION|>", "<|END_ACTION|>"};
    case tool_format::none: break;
  }
  return {};
}

std::string hermes_tool_prompt(const tool_request& tools) {
  jinja::text listing;
  for (const ojson& t : tools.template_value) {
    jinja::append_json(listing, jinja::from_json(t, /*user_strings=*/false), jinja::json_format{});
    listing.append("\n", false);
  }
  return "You may call these functions:\n<tools>\n" + listing.str() +
         "</tools>\nTo call one, write <tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
         "</tool_call>";
}

std::string tool_call_gbnf(const tool_dialect& d, const tool_request& tools) {
  rule_set rules;
  std::string alternatives;
  for (size_t i = 0; i < tools.tools.size(); ++i) {
    if (tools.mode == tool_mode::named && tools.tools[i].name != tools.named) continue;
    if (!alternatives.empty()) alternatives += " | ";
    alternatives += "(" + call_alternative(rules, d, tools.tools[i], i) + ")";
  }
  const bool p = tools.parallel;
  const std::string call = "tool-call";
  std::string root;
  switch (d.format) {
    case tool_format::hermes:
      root = repeated(lit("<tool_call>\n") + " " + call + " " + lit("\n</tool_call>"), lit("\n"), p);
      break;
    case tool_format::xml_function: {
      const std::string open = d.seed ? "<seed:tool_call>" : "<tool_call>";
      const std::string close = d.seed ? "</seed:tool_call>" : "</tool_call>";
      root = repeated(lit(open + "\n") + " " + call + " " + lit("\n" + close), lit("\n"), p);
      break;
    }
    case tool_format::glm:
      root = repeated(lit("<tool_call>") + " " + call + " " + lit("</tool_call>"), lit("\n"), p);
      break;
    case tool_format::llama3_json:
      root = repeated(call, lit("; "), p);
      break;
    case tool_format::mistral:
      root = d.mistral_args ? repeated(lit("[TOOL_CALLS]") + " " + call, "", p)
                            : lit("[TOOL_CALLS][") + " " + repeated(call, lit(", "), p) + " " + lit("]");
      break;
    case tool_format::nemotron:
      root = lit("<TOOLCALL>[") + " " + repeated(call, lit(", "), p) + " " + lit("]</TOOLCALL>");
      break;
    case tool_format::kimi:
      root = lit("<|tool_calls_section_begin|>") + " " +
             repeated(lit("<|tool_call_begin|>") + " " + call + " " + lit("<|tool_call_end|>"), "", p) + " " +
             lit("<|tool_calls_section_end|>");
      break;
    case tool_format::minimax:
      root = lit("<minimax:tool_call>\n") + " " + repeated(call, lit("\n"), p) + " " + lit("\n</minimax:tool_call>");
      break;
    case tool_format::command_r:
      root = lit("<|START_ACTION|>[") + " " + repeated(call, lit(", "), p) + " " + lit("]<|END_ACTION|>");
      break;
    case tool_format::none:
      throw std::invalid_argument("this model's chat template has no tool-call format hearth can write");
  }
  return "root ::= " + root + "\n" + call + " ::= " + alternatives + "\n" + rules.text();
}

std::string tool_call_stream::push(std::string_view text) {
  held_ += text;
  if (in_call_) return {};
  if (format_ == tool_format::llama3_json) {
    // Calls are the whole output: hold while it may still begin with one.
    if (!released_any_) {
      const size_t b = held_.find_first_not_of(" \t\r\n");
      if (b == std::string::npos) return {};
      const std::string_view rest = std::string_view(held_).substr(b);
      constexpr std::string_view tag = "<|python_tag|>";
      if (rest.starts_with("{") || rest.starts_with(tag)) {
        in_call_ = true;
        return {};
      }
      if (tag.starts_with(rest)) return {};
    }
    released_any_ = true;
    return std::exchange(held_, {});
  }
  std::vector<std::string_view> openers;
  switch (format_) {
    case tool_format::hermes:
    case tool_format::glm: openers = {"<tool_call>"}; break;
    case tool_format::xml_function: openers = {"<tool_call>", "<seed:tool_call>"}; break;
    case tool_format::nemotron: openers = {"<TOOLCALL>"}; break;
    case tool_format::mistral: openers = {"[TOOL_CALLS]"}; break;
    case tool_format::kimi: openers = {"<|tool_calls_section_begin|>"}; break;
    case tool_format::minimax: openers = {"<minimax:tool_call>"}; break;
    case tool_format::command_r: openers = {"<|START_ACTION|>"}; break;
    case tool_format::none:
    case tool_format::llama3_json: break;
  }
  size_t first = std::string::npos;
  for (std::string_view o : openers) first = std::min(first, held_.find(o));
  std::string out;
  if (first != std::string::npos) {
    in_call_ = true;
    out = held_.substr(0, first);
    held_.erase(0, first);
  } else {
    size_t keep = 0;  // the longest tail that may begin an opener
    for (std::string_view o : openers) {
      for (size_t l = std::min(o.size() - 1, held_.size()); l > keep; --l) {
        if (std::string_view(held_).substr(held_.size() - l) == o.substr(0, l)) {
          keep = l;
          break;
        }
      }
    }
    out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
  }
  released_any_ = released_any_ || !out.empty();
  return out;
}

parsed_output tool_call_stream::finish(bool cut) {
  std::string rest = std::exchange(held_, {});
  if (!in_call_) return {std::move(rest), {}};
  return parse_tool_calls(format_, rest, cut);
}

}  // namespace hearth::proto
