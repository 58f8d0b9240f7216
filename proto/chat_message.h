#pragma once
// One turn of a conversation, as /v1/chat/completions receives it and chat templates render it.
#include <string>

namespace hearth::proto {

struct chat_message {
  // One of: system, developer (OpenAI's newer name for system), user, assistant, tool.
  std::string role;
  // Text parts already joined; "" for an assistant message whose content was null.
  std::string content;

  bool operator==(const chat_message&) const = default;
};

}  // namespace hearth::proto
