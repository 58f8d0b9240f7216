// POST /v1/embeddings through the daemon: the tiny BERT fixture's vectors against llama.cpp's
// (cosine >= 0.999), several inputs in one request and across concurrent requests, token-id
// inputs, base64 (little-endian float32) equal to the float form, `dimensions` (prefix,
// renormalized); an encoder refuses generation with a 400; a text-generation model without a
// pooling type refuses embeddings with a 400 until --pooling is given; then it embeds through the
// same scheduler as generations, with vectors that do not depend on what else runs.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference.h"
#include "server_process.h"

using hearth::test::curl_json;
using hearth::test::http_result;
using hearth::test::server_process;
using hearth::test::shared_path;
using json = nlohmann::json;

namespace {

server_process& bert_server() {
  static server_process server({"-m", shared_path("models/arch/tiny-bert-f16.gguf")});
  return server;
}

struct embedding_ref {
  std::string input;
  std::vector<int32_t> tokens;
  std::vector<float> embedding;
};

std::vector<embedding_ref> embedding_refs() {
  std::ifstream in(shared_path("reference/embeddings/tiny-bert-f16.jsonl"));
  std::vector<embedding_ref> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    out.push_back({j["input"], j["tokens"], j["embedding"]});
  }
  REQUIRE(out.size() == 4);
  return out;
}

double cosine_of(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  return hearth::test::cosine_similarity(a, b);
}

double norm_of(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  return std::sqrt(n);
}

// Base64 decoded by hand (RFC 4648), then read as little-endian float32.
std::vector<float> floats_from_base64(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int v = value(c);
    REQUIRE(v >= 0);
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>(acc >> bits & 0xFF);
    }
  }
  REQUIRE(bytes.size() % 4 == 0);
  std::vector<float> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + i * 4);
    const uint32_t u = p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

json embed_ok(const server_process& s, const json& body) {
  const http_result r = curl_json(s.url("/v1/embeddings"), body.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  const json j = json::parse(r.body);
  CHECK(j["object"] == "list");
  CHECK(j["usage"]["prompt_tokens"] == j["usage"]["total_tokens"]);
  return j;
}

json embed_error(const server_process& s, const json& body, int status) {
  const http_result r = curl_json(s.url("/v1/embeddings"), body.dump());
  INFO(r.body);
  CHECK(r.status == status);
  return json::parse(r.body)["error"];
}

}  // namespace

TEST_CASE("embeddings: a BERT model's vectors match llama.cpp's, several inputs in one request", "[embeddings]") {
  server_process& s = bert_server();
  const std::vector<embedding_ref> refs = embedding_refs();
  json inputs = json::array();
  size_t tokens = 0;
  for (const auto& r : refs) {
    inputs.push_back(r.input);
    tokens += r.tokens.size();
  }
  const json j = embed_ok(s, {{"input", inputs}, {"model", "anything"}});
  CHECK(j["model"] == "tiny-bert-f16.gguf");
  CHECK(j["usage"]["prompt_tokens"] == tokens);
  REQUIRE(j["data"].size() == refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    INFO(refs[i].input);
    const json& d = j["data"][i];
    CHECK(d["object"] == "embedding");
    CHECK(d["index"] == i);
    const std::vector<float> v = d["embedding"];
    CHECK(cosine_of(v, refs[i].embedding) >= 0.999);
    CHECK(std::abs(norm_of(v) - 1.0) < 1e-4);
  }
}

TEST_CASE("embeddings: token ids, base64 and dimensions", "[embeddings]") {
  server_process& s = bert_server();
  const std::vector<embedding_ref> refs = embedding_refs();
  const json by_text = embed_ok(s, {{"input", refs[1].input}});
  const std::vector<float> v = by_text["data"][0]["embedding"];
  // The same tokens given as ids give the same vector; one array of ids is one input, an array
  // of arrays is several.
  const json by_ids = embed_ok(s, {{"input", refs[1].tokens}});
  CHECK(by_ids["data"].size() == 1);
  CHECK(by_ids["data"][0]["embedding"].get<std::vector<float>>() == v);
  const json two = embed_ok(s, {{"input", json::array({refs[0].tokens, refs[1].tokens})}});
  REQUIRE(two["data"].size() == 2);
  CHECK(two["data"][1]["embedding"].get<std::vector<float>>() == v);
  CHECK(two["usage"]["prompt_tokens"] == refs[0].tokens.size() + refs[1].tokens.size());
  // base64: the same floats, bit for bit.
  const json b64 = embed_ok(s, {{"input", refs[1].input}, {"encoding_format", "base64"}});
  REQUIRE(b64["data"][0]["embedding"].is_string());
  CHECK(floats_from_base64(b64["data"][0]["embedding"]) == v);
  // dimensions: the first components, normalized again.
  const json cut = embed_ok(s, {{"input", refs[1].input}, {"dimensions", 32}});
  const std::vector<float> c = cut["data"][0]["embedding"];
  REQUIRE(c.size() == 32);
  CHECK(std::abs(norm_of(c) - 1.0) < 1e-5);
  const double head = norm_of(std::vector<float>(v.begin(), v.begin() + 32));
  for (size_t i = 0; i < c.size(); ++i) CHECK(c[i] == Approx(v[i] / head).margin(1e-6));
}

TEST_CASE("embeddings: concurrent requests each get their own vectors", "[embeddings]") {
  server_process& s = bert_server();
  const std::vector<embedding_ref> refs = embedding_refs();
  std::vector<std::future<http_result>> answers;
  for (int i = 0; i < 8; ++i) {
    const json body = {{"input", json::array({refs[i % 4].input, refs[(i + 1) % 4].input})}};
    answers.push_back(std::async(std::launch::async, [&s, body] { return curl_json(s.url("/v1/embeddings"), body.dump()); }));
  }
  for (int i = 0; i < 8; ++i) {
    const http_result r = answers[i].get();
    INFO(r.body);
    REQUIRE(r.status == 200);
    const json j = json::parse(r.body);
    CHECK(cosine_of(j["data"][0]["embedding"], refs[i % 4].embedding) >= 0.999);
    CHECK(cosine_of(j["data"][1]["embedding"], refs[(i + 1) % 4].embedding) >= 0.999);
  }
}

TEST_CASE("embeddings: bad requests are 400s naming the field", "[embeddings]") {
  server_process& s = bert_server();
  CHECK(embed_error(s, json::object(), 400)["param"] == "input");
  CHECK(embed_error(s, {{"input", ""}}, 400)["message"] == "input is an empty string");
  CHECK(embed_error(s, {{"input", json::array()}}, 400)["param"] == "input");
  CHECK(embed_error(s, {{"input", json::array({"a", 3})}}, 400)["message"].get<std::string>().starts_with("input[1]"));
  CHECK(embed_error(s, {{"input", json::array({1, 999999})}}, 400)["param"] == "input");
  CHECK(embed_error(s, {{"input", "a"}, {"encoding_format", "int8"}}, 400)["param"] == "encoding_format");
  CHECK(embed_error(s, {{"input", "a"}, {"dimensions", 0}}, 400)["param"] == "dimensions");
  CHECK(embed_error(s, {{"input", "a"}, {"dimensions", 257}}, 400)["message"] ==
        "dimensions is 257; this model's embeddings have 256");
  const json too_long = embed_error(s, {{"input", std::vector<int32_t>(513, 1037)}}, 400);
  CHECK(too_long["code"] == "context_length_exceeded");
  CHECK(too_long["message"] == "input is 513 tokens; the model embeds at most 512");
}

TEST_CASE("embeddings: an encoder cannot generate", "[embeddings]") {
  server_process& s = bert_server();
  for (const char* path : {"/v1/completions", "/v1/chat/completions", "/v1/generate", "/v1/messages", "/v1/responses"}) {
    INFO(path);
    const http_result r = curl_json(s.url(path), R"({"prompt": "hi", "messages": [{"role": "user", "content": "hi"}]})");
    CHECK(r.status == 400);
    CHECK(json::parse(r.body)["error"]["code"] == "model_not_generative");
  }
  // Tokenizing still works (the model's WordPiece vocabulary).
  const http_result t = curl_json(s.url("/v1/tokenize"), R"({"content": "a cat", "add_special": true})");
  REQUIRE(t.status == 200);
  CHECK(json::parse(t.body)["tokens"] == json::array({101, 1037, 4937, 102}));
}

TEST_CASE("embeddings: a text-generation model embeds only with --pooling, batched with generations", "[embeddings]") {
  {
    server_process plain;  // stories260K: no pooling_type in its GGUF
    const json e = embed_error(plain, {{"input", "Once upon a time"}}, 400);
    CHECK(e["code"] == "model_cannot_embed");
    CHECK(e["message"].get<std::string>().find("--pooling") != std::string::npos);
  }
  server_process s({"--pooling", "last"});
  const json alone = embed_ok(s, {{"input", json::array({"Once upon a time", "The dog ran"})}});
  const std::vector<float> a = alone["data"][0]["embedding"], b = alone["data"][1]["embedding"];
  REQUIRE(a.size() == 64);  // stories260K's n_embd
  CHECK(std::abs(norm_of(a) - 1.0) < 1e-5);
  CHECK(a != b);
  // The same input while generations share the batches: the same vector, bit for bit.
  std::vector<std::future<http_result>> gens;
  for (int i = 0; i < 3; ++i) {
    gens.push_back(std::async(std::launch::async, [&s] {
      return curl_json(s.url("/v1/completions"), R"({"prompt": "Once upon a time", "max_tokens": 64, "temperature": 0})");
    }));
  }
  for (int i = 0; i < 3; ++i) {
    const json again = embed_ok(s, {{"input", json::array({"The dog ran", "Once upon a time"})}});
    CHECK(again["data"][0]["embedding"].get<std::vector<float>>() == b);
    CHECK(again["data"][1]["embedding"].get<std::vector<float>>() == a);
  }
  for (auto& g : gens) CHECK(g.get().status == 200);
}
