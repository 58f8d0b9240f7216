#include "proto/embeddings_api.h"

#include <bit>
#include <cstring>

namespace hearth::proto {

namespace {

// One input: a non-empty string or a non-empty array of token ids.
bool read_input(field_reader& r, const nlohmann::json& v, std::string_view shown, const limits& lim,
                embeddings_request& req) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (!r.check(!s.empty(), "input", [&] { return std::string(shown) + " is an empty string"; })) return false;
    req.inputs.emplace_back(s);
    return true;
  }
  if (!r.check(v.is_array(), "input", [&] {
        return std::string(shown) + " must be a string or an array of token ids (got " + describe(v) + ")";
      })) {
    return false;
  }
  if (!r.check(!v.empty(), "input", [&] { return std::string(shown) + " is an empty array"; })) return false;
  std::optional<std::vector<int32_t>> ids = read_token_ids(r, "input", v, shown, lim.n_vocab);
  if (!ids) return false;
  req.inputs.emplace_back(std::move(*ids));
  return true;
}

}  // namespace

result<embeddings_request> parse_embeddings(std::string_view body, const limits& lim) {
  result<nlohmann::json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  field_reader r(std::get<nlohmann::json>(j));
  embeddings_request req;
  const nlohmann::json* in = r.find("input");
  if (!in) {
    r.fail("input", "input (a string, an array of strings or of token ids) is required");
  } else if (in->is_array() && !in->empty() && !in->front().is_number()) {
    // An array of inputs: strings or arrays of ids.
    if (r.check(in->size() <= max_embedding_inputs, "input", [&] {
          return "input has " + std::to_string(in->size()) + " entries; at most " +
                 std::to_string(max_embedding_inputs) + " are allowed";
        })) {
      for (size_t i = 0; i < in->size(); ++i) {
        if (!read_input(r, (*in)[i], "input[" + std::to_string(i) + "]", lim, req)) break;
      }
    }
  } else {
    read_input(r, *in, "input", lim, req);  // a string, or one array of ids
  }
  if (const std::optional<std::string> f = r.string("encoding_format")) {
    r.check(*f == "float" || *f == "base64", "encoding_format",
            [&] { return "encoding_format must be 'float' or 'base64' (got '" + *f + "')"; });
    req.base64 = *f == "base64";
  }
  if (const nlohmann::json* d = r.find("dimensions")) {
    const std::optional<int64_t> v = integral_value(*d);
    if (r.check(v && *v >= 1, "dimensions",
                [&] { return "dimensions must be an integer >= 1 (got " + describe(*d) + ")"; })) {
      req.dimensions = *v;
    }
  }
  r.string("model");  // any name: one model is served
  r.string("user");
  if (r.failed()) return r.error();
  return req;
}

std::string floats_base64(const std::vector<float>& v) {
  static_assert(std::endian::native == std::endian::little, "base64 embeddings are written as little-endian floats");
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * sizeof(float), '\0');
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += rest == 2 ? alphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

nlohmann::json embeddings_response(const std::string& model, const std::vector<std::vector<float>>& vectors,
                                   bool base64, int64_t prompt_tokens) {
  nlohmann::json data = nlohmann::json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    nlohmann::json e = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      e["embedding"] = floats_base64(vectors[i]);
    } else {
      e["embedding"] = vectors[i];
    }
    data.push_back(std::move(e));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace hearth::proto
