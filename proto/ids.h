#pragma once
// Randomness and clocks for requests: seeds for requests that give none, response ids.
//
// Each thread draws from its own std::mt19937_64 seeded once from std::random_device, so these
// are safe to call from any thread without locks and two threads never share a stream.
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::proto {

// A fresh 64-bit seed (parse_* fill sampling_params::seed with one when the request has none).
uint64_t random_seed();

// prefix + 24 random characters from [0-9A-Za-z], e.g. new_id("chatcmpl-").
std::string new_id(std::string_view prefix);
inline std::string new_completion_id() { return new_id("cmpl-"); }
inline std::string new_chat_id() { return new_id("chatcmpl-"); }

// Seconds since the Unix epoch, for the "created" fields.
int64_t unix_time_now();

}  // namespace hearth::proto
