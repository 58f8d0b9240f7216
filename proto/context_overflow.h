#pragma once
// Fitting a prompt into the context (request_fields.h context_overflow, truncate_middle): a chat
// loses whole turns from its middle, a token prompt loses tokens from its middle. Pure functions.
#include <cstdint>
#include <vector>

#include "proto/chat_message.h"

namespace hearth::proto {

// Drops the oldest turn after the leading system (and developer) messages: a user message and the
// assistant and tool messages that answer it, up to the next user message (or, if the
// conversation after the system messages starts with an answer, those answers). The newest user
// message and everything after it are never dropped. False, with nothing changed, when only
// they remain.
bool drop_oldest_turn(std::vector<chat_message>& messages);

// Cuts `prompt` to `room` tokens (room >= 2) by dropping from its middle: the first room / 4
// stay (the instructions a prompt usually starts with, and BOS), then the newest tokens. Returns
// how many were dropped (0 if it already fits).
int32_t truncate_middle(std::vector<int32_t>& prompt, int64_t room);

}  // namespace hearth::proto
