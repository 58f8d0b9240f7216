// The embeddings API's request and response (proto/embeddings_api.h): every input form, the
// errors naming their field, and base64 checked against bytes worked out by hand.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "proto/embeddings_api.h"

using hearth::proto::api_error;
using hearth::proto::embeddings_request;
using hearth::proto::parse_embeddings;
using json = nlohmann::json;

namespace {

const hearth::proto::limits embed_limits{1000, 512};

embeddings_request embed_parsed(const json& body) {
  auto r = parse_embeddings(body.dump(), embed_limits);
  if (auto* e = std::get_if<api_error>(&r)) FAIL(e->message);
  return std::get<embeddings_request>(r);
}

api_error embed_refused(const json& body) {
  auto r = parse_embeddings(body.dump(), embed_limits);
  REQUIRE(std::holds_alternative<api_error>(r));
  const api_error e = std::get<api_error>(r);
  CHECK(e.status == 400);
  return e;
}

}  // namespace

TEST_CASE("embeddings api: input as a string, strings, ids or arrays of ids", "[embeddings]") {
  embeddings_request r = embed_parsed({{"input", "hello"}});
  REQUIRE(r.inputs.size() == 1);
  CHECK(std::get<std::string>(r.inputs[0]) == "hello");
  CHECK_FALSE(r.base64);
  CHECK_FALSE(r.dimensions);
  r = embed_parsed({{"input", {"a", "b", "c"}}, {"model", "x"}, {"user", "u"}});
  REQUIRE(r.inputs.size() == 3);
  CHECK(std::get<std::string>(r.inputs[2]) == "c");
  r = embed_parsed({{"input", {5, 6, 7}}});  // one input of ids
  REQUIRE(r.inputs.size() == 1);
  CHECK(std::get<std::vector<int32_t>>(r.inputs[0]) == std::vector<int32_t>{5, 6, 7});
  r = embed_parsed({{"input", {json::array({1, 2}), json::array({3})}}, {"encoding_format", "base64"}, {"dimensions", 8}});
  REQUIRE(r.inputs.size() == 2);
  CHECK(std::get<std::vector<int32_t>>(r.inputs[1]) == std::vector<int32_t>{3});
  CHECK(r.base64);
  CHECK(r.dimensions == 8);
  r = embed_parsed({{"input", {"text", json::array({4})}}});  // mixed
  CHECK(r.inputs.size() == 2);
}

TEST_CASE("embeddings api: bad input names the field", "[embeddings]") {
  CHECK(embed_refused(json::object()).param == "input");
  CHECK(embed_refused({{"input", nullptr}}).param == "input");
  CHECK(embed_refused({{"input", ""}}).message == "input is an empty string");
  CHECK(embed_refused({{"input", json::array()}}).message == "input is an empty array");
  CHECK(embed_refused({{"input", {"a", ""}}}).message == "input[1] is an empty string");
  CHECK(embed_refused({{"input", {"a", json::array()}}}).message == "input[1] is an empty array");
  CHECK(embed_refused({{"input", 3.5}}).param == "input");
  CHECK(embed_refused({{"input", {1, 1000}}}).param == "input");    // outside the vocabulary
  CHECK(embed_refused({{"input", {1, -1}}}).param == "input");
  CHECK(embed_refused({{"input", {"a", {{"k", 1}}}}}).message.starts_with("input[1] must be"));
  CHECK(embed_refused({{"input", std::vector<std::string>(2049, "a")}}).message ==
        "input has 2049 entries; at most 2048 are allowed");
  CHECK(embed_refused({{"input", "a"}, {"encoding_format", "int8"}}).param == "encoding_format");
  CHECK(embed_refused({{"input", "a"}, {"encoding_format", 1}}).param == "encoding_format");
  CHECK(embed_refused({{"input", "a"}, {"dimensions", 0}}).param == "dimensions");
  CHECK(embed_refused({{"input", "a"}, {"dimensions", "8"}}).param == "dimensions");
  CHECK(embed_refused({{"input", "a"}, {"dimensions", 1.5}}).param == "dimensions");
}

TEST_CASE("embeddings api: the response shape and base64 of little-endian floats", "[embeddings]") {
  // 1.0f is 0x3F800000: bytes 00 00 80 3F, "AACAPw==". -2.0f is 0xC0000000: 00 00 00 C0.
  CHECK(hearth::proto::floats_base64({1.0f}) == "AACAPw==");
  CHECK(hearth::proto::floats_base64({1.0f, -2.0f}) == "AACAPwAAAMA=");
  CHECK(hearth::proto::floats_base64({1.0f, -2.0f, 0.0f}) == "AACAPwAAAMAAAAAA");
  CHECK(hearth::proto::floats_base64({}).empty());
  const json j = hearth::proto::embeddings_response("m.gguf", {{1.0f, 0.0f}, {0.0f, 1.0f}}, false, 7);
  CHECK(j == json::parse(R"({"object": "list", "model": "m.gguf",
    "data": [{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
             {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]}],
    "usage": {"prompt_tokens": 7, "total_tokens": 7}})"));
  const json b = hearth::proto::embeddings_response("m.gguf", {{1.0f}}, true, 1);
  CHECK(b["data"][0]["embedding"] == "AACAPw==");
}
