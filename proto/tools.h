#pragma once
// Tools in chat requests (OpenAI's `tools`, `tool_choice`, `parallel_tool_calls`): what a request
// offers, how the model is told of them, the grammar that makes a required call well-formed, and
// calls taken out of a stream of text.
//
// How the model learns of the tools: a template that writes tool calls (tool_calls.h's formats)
// gets them as the Jinja variable `tools`, exactly as Hugging Face passes them. A template that
// knows no tools (ChatML, Llama 2, ...) is taught Hermes's format: a system message listing the
// tools (hermes_tool_prompt), and the output parsed as Hermes's <tool_call> markup. A template that
// renders `tools` in a format hearth does not parse (functionary's, LFM2's Python calls) gets them,
// but its calls stay content and `required` is refused.
//
// tool_choice: "auto" (default) lets the model choose; "none" neither shows the tools nor parses
// calls; "required" and {"type": "function", "function": {"name": N}} constrain the whole output
// with a grammar (tool_call_gbnf) to one call (or several, with parallel_tool_calls) in the
// template's format, each of a given tool with arguments valid against its parameters schema.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/json_body.h"
#include "proto/tool_calls.h"

namespace hearth::proto {

struct tool_definition {
  std::string name;                   // [A-Za-z0-9_-]{1,64}, as OpenAI requires
  nlohmann::ordered_json parameters;  // a JSON Schema object, in the order the client wrote it
};

enum class tool_mode { none, automatic, required, named };

struct tool_request {
  std::vector<tool_definition> tools;  // empty: none offered
  // `tools` as the template gets it: the request's array, key order kept.
  nlohmann::ordered_json template_value = nlohmann::ordered_json::array();
  tool_mode mode = tool_mode::automatic;
  std::string named;      // mode named: the function's name (one of tools)
  bool parallel = true;   // parallel_tool_calls
  // Whether calls are shown to the model and parsed out of its output.
  bool active() const { return !tools.empty() && mode != tool_mode::none; }
  bool forced() const { return active() && (mode == tool_mode::required || mode == tool_mode::named); }
};

// A name OpenAI (and Anthropic) accept for a function: 1 to 64 letters, digits, '_' or '-'.
bool valid_tool_name(std::string_view name);

// tools: [{"type": "function", "function": {"name", "description"?, "parameters"?, "strict"?}}]
// (at most 128); tool_choice; parallel_tool_calls. `raw`: the body's text, for key order
// (constraint.h). Errors are recorded in `r` with the field's path as param.
tool_request read_tools(field_reader& r, std::string_view raw);

// How a chat template shows calls: the format, and which of its spellings the grammar writes.
struct tool_dialect {
  tool_format format = tool_format::none;
  bool taught = false;       // the template knows no tools: hearth teaches Hermes's format
  bool mistral_args = false; // mistral: [TOOL_CALLS]name[ARGS]{...} (else a JSON array)
  bool seed = false;         // xml_function: <seed:tool_call> (ByteDance Seed-OSS)
};
tool_dialect tool_dialect_of(std::string_view template_text);

// The markup texts of the dialect's calls that a vocabulary may hold as single control tokens
// ([TOOL_CALLS], <|python_tag|>, <|tool_call_begin|> ...): a chat with tools shows those tokens
// as text, or the calls could not be found in the output.
std::vector<std::string_view> tool_markers(const tool_dialect& dialect);

// The system-message text that teaches a model Hermes's format for `tools` (dialect.taught).
std::string hermes_tool_prompt(const tool_request& tools);

// The GBNF grammar (start `root`) whose sentences are the calls the request allows in the
// dialect's format: of the named function or any tool, one or (with parallel) several.
// Throws json_schema_error naming "tools[i].function.parameters..." for a schema the grammar
// cannot honour, and std::invalid_argument for a dialect without a format.
std::string tool_call_gbnf(const tool_dialect& dialect, const tool_request& tools);

// Streams a chat answer's content while calls may be in it: text is released as it comes except
// what may be call markup (a tail that could begin a call opener, and from a complete opener on,
// everything), which is parsed at the end.
class tool_call_stream {
 public:
  explicit tool_call_stream(tool_format format) : format_(format) {}
  // Text that can be sent now as content.
  std::string push(std::string_view text);
  // At the end: the calls in what was held back, and what of it is content after all. `cut`: the
  // output was cut short (parse_tool_calls's cut).
  parsed_output finish(bool cut = false);

 private:
  tool_format format_;
  std::string held_;
  bool released_any_ = false;  // content was sent (llama3_json calls must be the whole output)
  bool in_call_ = false;       // an opener was seen: hold everything to the end
};

}  // namespace hearth::proto
