#include "proto/context_overflow.h"

#include <algorithm>

namespace hearth::proto {

bool drop_oldest_turn(std::vector<chat_message>& messages) {
  size_t first = 0;
  while (first < messages.size() && (messages[first].role == "system" || messages[first].role == "developer")) ++first;
  size_t newest = messages.size();  // the newest user message
  for (size_t i = messages.size(); i > first; --i) {
    if (messages[i - 1].role == "user") {
      newest = i - 1;
      break;
    }
  }
  if (newest == messages.size() || first >= newest) return false;
  // The turn: its opening message, then everything up to the next user message.
  size_t end = first + 1;
  while (end < newest && messages[end].role != "user") ++end;
  messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first), messages.begin() + static_cast<std::ptrdiff_t>(end));
  return true;
}

int32_t truncate_middle(std::vector<int32_t>& prompt, int64_t room) {
  const auto n = static_cast<int64_t>(prompt.size());
  if (n <= room) return 0;
  room = std::max<int64_t>(room, 2);
  const int64_t head = room / 4;
  const int64_t dropped = n - room;
  prompt.erase(prompt.begin() + head, prompt.begin() + head + dropped);
  return static_cast<int32_t>(dropped);
}

}  // namespace hearth::proto
