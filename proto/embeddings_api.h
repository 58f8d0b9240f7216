#pragma once
// OpenAI's embeddings API, POST /v1/embeddings: the request (input as a string, an array of
// strings, an array of token ids or an array of such arrays; encoding_format float or base64;
// dimensions) and the response ({"object": "list", "data": [{"object": "embedding", "index",
// "embedding"}], "model", "usage"}).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/api_error.h"
#include "proto/request_fields.h"

namespace hearth::proto {

// OpenAI's limit on inputs per request.
inline constexpr size_t max_embedding_inputs = 2048;

struct embeddings_request {
  // Each input: text to tokenize (with the model's special tokens), or token ids as given.
  std::vector<std::variant<std::string, std::vector<int32_t>>> inputs;
  bool base64 = false;             // encoding_format "base64": little-endian float32 bytes
  std::optional<int64_t> dimensions;  // keep this many components (>= 1), normalized again
};

// 400s name the field: input missing, empty (an empty string or array), of the wrong type, more
// than max_embedding_inputs entries, token ids outside [0, n_vocab); encoding_format other than
// "float" or "base64"; dimensions not an integer >= 1. `model` and `user` are accepted and
// ignored (a single-model daemon).
result<embeddings_request> parse_embeddings(std::string_view body, const limits& lim);

// The response for the vectors in input order; prompt_tokens counts every input's tokens.
nlohmann::json embeddings_response(const std::string& model, const std::vector<std::vector<float>>& vectors,
                                   bool base64, int64_t prompt_tokens);

// Standard base64 (RFC 4648, with padding) of the floats' little-endian bytes.
std::string floats_base64(const std::vector<float>& v);

}  // namespace hearth::proto
