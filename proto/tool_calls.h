#pragma once
// Tool calls in a model's output: which format a chat template teaches its model (found from the
// template's text), and a finished output split into its text and the calls it makes, in
// OpenAI's shape (name, arguments as a JSON text).
//
// Formats (the families of ../shared/templates):
//   hermes        <tool_call>{"name": N, "arguments": {...}}</tool_call>, repeated
//                 (Hermes 2/3, Qwen 2.5/3, QwQ, SmolLM3, Granite 4, Bielik, MiMo, Apriel)
//   xml_function  <tool_call><function=N><parameter=K>V</parameter>...</function></tool_call>
//                 (Qwen3-Coder; ByteDance Seed-OSS writes <seed:tool_call>)
//   glm           <tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value>...</tool_call>
//                 (GLM-4.5/4.6, Laguna)
//   llama3_json   the whole output {"name": N, "parameters": {...}}, optionally after
//                 <|python_tag|>, several joined by ";" (Llama 3.1/3.2/3.3)
//   mistral       [TOOL_CALLS][{"name": N, "arguments": {...}, "id": I}, ...] (Nemo) or
//                 [TOOL_CALLS]N[ARGS]{...} repeated (Small 3.2, Devstral, Ministral 3)
//   nemotron      <TOOLCALL>[{"name": N, "arguments": {...}}, ...]</TOOLCALL>
//   kimi          <|tool_calls_section_begin|><|tool_call_begin|>functions.N:0
//                 <|tool_call_argument_begin|>{...}<|tool_call_end|>...<|tool_calls_section_end|>
//   minimax       <minimax:tool_call><invoke name="N"><parameter name="K">V</parameter>
//                 </invoke></minimax:tool_call>
//   command_r     <|START_ACTION|>[{"tool_name": N, "parameters": {...}}]<|END_ACTION|>
// XML-style parameter values are JSON when they parse as JSON, else strings.
//
// Contract of parse_tool_calls: text outside the call markup is `content` (trimmed of the
// whitespace that separated it from the calls); if any call in the output is malformed (bad
// JSON, an unclosed tag, a missing name), there are no calls and the whole output is content, so
// a model's stray markup never becomes an error. Ids are left empty unless the format carries one.
#include <string>
#include <string_view>
#include <vector>

#include "proto/chat_message.h"

namespace hearth::proto {

enum class tool_format { none, hermes, xml_function, glm, llama3_json, mistral, nemotron, kimi, minimax, command_r };

std::string_view to_string(tool_format f);

// The format a chat template's text teaches (none if it shows no tool calls).
tool_format detect_tool_format(std::string_view template_text);

struct parsed_output {
  std::string content;
  std::vector<tool_call> calls;
};
parsed_output parse_tool_calls(tool_format format, std::string_view text);
// The same for an output cut short (at max_tokens or the context's end): if the whole text holds
// no calls, the complete calls before the cut are kept and the unfinished one after them dropped
// (formats whose calls end with a closing tag: hermes, xml_function, glm, kimi, minimax).
parsed_output parse_tool_calls(tool_format format, std::string_view text, bool cut);

}  // namespace hearth::proto
