#pragma once
// One turn of a conversation, as /v1/chat/completions receives it and chat templates render it.
#include <string>
#include <vector>

namespace hearth::proto {

// A call an assistant message made (OpenAI's tool_calls[i], type "function").
struct tool_call {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text, as the API carries it

  bool operator==(const tool_call&) const = default;
};

struct chat_message {
  // One of: system, developer (OpenAI's newer name for system), user, assistant, tool.
  std::string role;
  // Text parts already joined; "" for an assistant message whose content was null.
  std::string content;
  std::string name;               // the participant's or tool's name; "" if not given
  std::string tool_call_id;       // tool messages: the call this answers; "" if not given
  std::string reasoning_content;  // assistant messages: their reasoning, if the client sent it back
  std::vector<tool_call> tool_calls;

  bool operator==(const chat_message&) const = default;
};

}  // namespace hearth::proto
