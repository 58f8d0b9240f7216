// The daemon over real loopback sockets, driven by curl: every endpoint and every class of bad
// input. Expected generations come from llama.cpp's reference outputs.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "temp_dir.h"
#include "reference.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {

server_process& shared_server() {
  static server_process server({"--parallel", "4"});
  return server;
}

reference_case first_reference() { return read_reference("stories260K-f32.greedy.jsonl").at(0); }

void check_error(const http_result& r, int status, const std::string& param, const std::string& message_part) {
  INFO("status " << r.status << " body " << r.body);
  CHECK(r.status == status);
  json j = json::parse(r.body, nullptr, false);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  const json& e = j["error"];
  CHECK(e["message"].get<std::string>().find(message_part) != std::string::npos);
  CHECK(e["type"].is_string());
  CHECK(e.contains("code"));
  if (param.empty()) {
    CHECK(e["param"].is_null());
  } else {
    CHECK(e["param"] == param);
  }
}

}  // namespace

TEST_CASE("health, models and metrics", "[http]") {
  auto& s = shared_server();
  auto h = curl(s.url("/health"));
  CHECK(h.status == 200);
  CHECK(json::parse(h.body)["status"] == "ok");
  auto m = curl(s.url("/v1/models"));
  REQUIRE(m.status == 200);
  json models = json::parse(m.body);
  CHECK(models["object"] == "list");
  CHECK(models["data"][0]["id"] == "stories260K-f32.gguf");
  CHECK(models["data"][0]["object"] == "model");
  auto metrics = curl(s.url("/metrics"));
  CHECK(metrics.status == 200);
  for (const char* name : {"hearth_requests_total", "hearth_prompt_tokens_total", "hearth_generated_tokens_total",
                           "hearth_queue_depth", "hearth_running_sequences", "hearth_kv_blocks_used",
                           "hearth_kv_blocks_free", "hearth_time_to_first_token_seconds_bucket",
                           "hearth_inter_token_latency_seconds_bucket"}) {
    INFO(name);
    CHECK(metrics.body.find(name) != std::string::npos);
  }
}

TEST_CASE("generate: greedy text and tokens equal llama.cpp's", "[http]") {
  auto& s = shared_server();
  auto ref = first_reference();
  json req = {{"prompt", ref.prompt}, {"max_tokens", 64}, {"temperature", 0}};
  auto r = curl_json(s.url("/v1/generate"), req.dump());
  REQUIRE(r.status == 200);
  json j = json::parse(r.body);
  CHECK(j["text"] == ref.greedy_text);
  CHECK(j["tokens"].get<std::vector<int>>() == ref.greedy_tokens);
  CHECK(j["finish_reason"] == "length");
  CHECK(j["usage"]["prompt_tokens"] == ref.prompt_tokens.size());
  CHECK(j["usage"]["completion_tokens"] == 64);
  for (const char* k : {"queue_ms", "prompt_ms", "prompt_per_second", "predicted_ms", "predicted_per_second"}) {
    CHECK(j["timings"][k].is_number());
  }
  // The same by token ids.
  json by_tokens = {{"tokens", ref.prompt_tokens}, {"max_tokens", 64}, {"temperature", 0}};
  auto t = curl_json(s.url("/v1/generate"), by_tokens.dump());
  REQUIRE(t.status == 200);
  CHECK(json::parse(t.body)["text"] == ref.greedy_text);
}

TEST_CASE("generate: a stream has one event per token, then the final event", "[http]") {
  auto& s = shared_server();
  auto ref = first_reference();
  json req = {{"prompt", ref.prompt}, {"max_tokens", 64}, {"temperature", 0}, {"stream", true}};
  auto r = curl_json(s.url("/v1/generate"), req.dump(), {"-N"});
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "text/event-stream");
  auto events = sse_payloads(r.body);
  REQUIRE(events.size() == 65);
  std::string text;
  std::vector<int> ids;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json e = json::parse(events[i]);
    ids.push_back(e["token"]["id"]);
    text += e["token"]["text"].get<std::string>();
  }
  CHECK(ids == ref.greedy_tokens);
  CHECK(text == ref.greedy_text);
  json last = json::parse(events.back());
  CHECK(last["finish_reason"] == "length");
  CHECK(last["usage"]["completion_tokens"] == 64);
  CHECK(last["timings"]["predicted_per_second"].is_number());
}

TEST_CASE("generate: a stop string ends the text before it", "[http]") {
  auto& s = shared_server();
  auto ref = first_reference();
  json req = {{"prompt", ref.prompt}, {"max_tokens", 64}, {"temperature", 0}, {"stop", {"Lily"}}};
  auto r = curl_json(s.url("/v1/generate"), req.dump());
  REQUIRE(r.status == 200);
  json j = json::parse(r.body);
  CHECK(j["text"] == ref.greedy_text.substr(0, ref.greedy_text.find("Lily")));
  CHECK(j["finish_reason"] == "stop");
}

TEST_CASE("completions: the OpenAI shape, whole and streamed", "[http]") {
  auto& s = shared_server();
  auto ref = first_reference();
  json req = {{"model", "anything"}, {"prompt", ref.prompt}, {"max_tokens", 64}, {"temperature", 0}};
  auto r = curl_json(s.url("/v1/completions"), req.dump());
  REQUIRE(r.status == 200);
  json j = json::parse(r.body);
  CHECK(j["id"].get<std::string>().starts_with("cmpl-"));
  CHECK(j["object"] == "text_completion");
  CHECK(j["created"].is_number_integer());
  CHECK(j["model"].is_string());
  CHECK(j["choices"][0]["index"] == 0);
  CHECK(j["choices"][0]["text"] == ref.greedy_text);
  CHECK(j["choices"][0]["finish_reason"] == "length");
  CHECK(j["choices"][0]["logprobs"].is_null());
  CHECK(j["usage"]["prompt_tokens"] == ref.prompt_tokens.size());
  CHECK(j["usage"]["completion_tokens"] == 64);
  CHECK(j["usage"]["total_tokens"] == ref.prompt_tokens.size() + 64);

  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto st = curl_json(s.url("/v1/completions"), req.dump(), {"-N"});
  REQUIRE(st.status == 200);
  auto events = sse_payloads(st.body);
  REQUIRE(events.size() >= 4);
  CHECK(events.back() == "[DONE]");
  std::string text;
  json usage_chunk = json::parse(events[events.size() - 2]);
  CHECK(usage_chunk["choices"].empty());
  CHECK(usage_chunk["usage"]["completion_tokens"] == 64);
  json finish_chunk = json::parse(events[events.size() - 3]);
  CHECK(finish_chunk["choices"][0]["finish_reason"] == "length");
  for (size_t i = 0; i + 3 < events.size(); ++i) {
    json c = json::parse(events[i]);
    CHECK(c["object"] == "text_completion");
    CHECK(c["choices"][0]["finish_reason"].is_null());
    text += c["choices"][0]["text"].get<std::string>();
  }
  text += finish_chunk["choices"][0]["text"].get<std::string>();
  CHECK(text == ref.greedy_text);
}

TEST_CASE("chat completions: the OpenAI shape, whole and streamed", "[http]") {
  auto& s = shared_server();
  json req = {{"model", "x"},
              {"messages", {{{"role", "system"}, {"content", "You tell stories."}}, {{"role", "user"}, {"content", "Tell one."}}}},
              {"max_tokens", 16},
              {"temperature", 0}};
  auto r = curl_json(s.url("/v1/chat/completions"), req.dump());
  REQUIRE(r.status == 200);
  json j = json::parse(r.body);
  CHECK(j["id"].get<std::string>().starts_with("chatcmpl-"));
  CHECK(j["object"] == "chat.completion");
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  CHECK(j["choices"][0]["message"]["content"].is_string());
  CHECK(j["choices"][0]["finish_reason"] == "length");
  CHECK(j["usage"]["completion_tokens"] == 16);
  const std::string whole = j["choices"][0]["message"]["content"];

  req["stream"] = true;
  auto st = curl_json(s.url("/v1/chat/completions"), req.dump(), {"-N"});
  REQUIRE(st.status == 200);
  auto events = sse_payloads(st.body);
  REQUIRE(events.size() >= 3);
  CHECK(events.back() == "[DONE]");
  json first = json::parse(events.front());
  CHECK(first["object"] == "chat.completion.chunk");
  CHECK(first["choices"][0]["delta"]["role"] == "assistant");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json c = json::parse(events[i]);
    if (c["choices"][0]["delta"].contains("content")) text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  CHECK(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"] == "length");
  CHECK(text == whole);
}

TEST_CASE("tokenize and detokenize", "[http]") {
  auto& s = shared_server();
  auto t = curl_json(s.url("/v1/tokenize"), R"({"content":"Once upon a time","add_special":true})");
  REQUIRE(t.status == 200);
  CHECK(json::parse(t.body)["tokens"] == json::array({1, 403, 407, 261, 378}));
  auto d = curl_json(s.url("/v1/detokenize"), R"({"tokens":[1,403,407,261,378]})");
  REQUIRE(d.status == 200);
  CHECK(json::parse(d.body)["content"] == "Once upon a time");
}

TEST_CASE("bad input gets a 4xx naming the problem", "[http]") {
  auto& s = shared_server();
  const std::string gen = s.url("/v1/generate");
  check_error(curl_json(gen, R"({"prompt": "x", )"), 400, "", "malformed JSON");
  check_error(curl_json(gen, R"(["prompt"])"), 400, "", "object");
  check_error(curl_json(gen, R"({"prompt": 5})"), 400, "prompt", "prompt");
  check_error(curl_json(gen, R"({"prompt": "x", "max_tokens": "ten"})"), 400, "max_tokens", "integer");
  check_error(curl_json(gen, R"({"prompt": "x", "temperature": -1})"), 400, "temperature", "temperature");
  check_error(curl_json(gen, R"({"prompt": "x", "top_p": 1.5})"), 400, "top_p", "top_p");
  check_error(curl_json(gen, R"({"prompt": "x", "max_tokens": 0})"), 400, "max_tokens", "max_tokens");
  check_error(curl_json(gen, R"({"prompt": "x", "stop": ["a","b","c","d","e"]})"), 400, "stop", "stop");
  check_error(curl_json(gen, "{\"prompt\": \"\xff\xfe\"}"), 400, "", "UTF-8");
  check_error(curl_json(gen, R"({"prompt": "x", "max_tokens": 100000})"), 400, "max_tokens", "512");
  check_error(curl_json(s.url("/v1/completions"), R"({"prompt": "x", "temperature": 3})"), 400, "temperature", "temperature");
  check_error(curl_json(s.url("/v1/chat/completions"), R"({"messages": []})"), 400, "messages", "messages");
  check_error(curl(s.url("/v1/generate")), 405, "", "GET");
  check_error(curl(s.url("/v1/nothing-here")), 404, "", "/v1/nothing-here");
  // Unknown fields are ignored, as OpenAI does.
  auto ok = curl_json(gen, R"({"prompt": "x", "max_tokens": 2, "frobnicate": {"a": 1}})");
  CHECK(ok.status == 200);
}

TEST_CASE("a body over the limit gets 413", "[http]") {
  auto& s = shared_server();
  std::string path = "/tmp/hearth-big-body-" + std::to_string(getpid()) + ".json";
  {
    FILE* f = std::fopen(path.c_str(), "w");
    std::string big = R"({"prompt": ")" + std::string((1 << 20) + 100, 'a') + "\"}";
    std::fwrite(big.data(), 1, big.size(), f);
    std::fclose(f);
  }
  auto r = curl(s.url("/v1/generate"), {"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@" + path});
  std::remove(path.c_str());
  check_error(r, 413, "body", "limit");
}

TEST_CASE("API keys: missing or wrong key is 401, the right one passes", "[http]") {
  server_process s({"--api-key", "sesame", "--api-key", "second"});
  check_error(curl(s.url("/v1/models")), 401, "", "API key");
  check_error(curl(s.url("/v1/models"), {"-H", "Authorization: Bearer nope"}), 401, "", "API key");
  CHECK(curl(s.url("/v1/models"), {"-H", "Authorization: Bearer sesame"}).status == 200);
  CHECK(curl(s.url("/v1/models"), {"-H", "Authorization: Bearer second"}).status == 200);
  CHECK(curl(s.url("/health")).status == 200);
  CHECK(s.terminate() == 0);
}

TEST_CASE("browsers: foreign origins and rebinding host names are refused", "[http]") {
  auto& s = shared_server();
  check_error(curl(s.url("/v1/models"), {"-H", "Origin: http://evil.example"}), 403, "", "origin");
  check_error(curl(s.url("/v1/models"), {"-H", "Host: evil.example"}), 403, "", "Host");
  auto same = curl(s.url("/v1/models"), {"-H", "Origin: http://127.0.0.1:" + std::to_string(s.port())});
  CHECK(same.status == 200);
}

TEST_CASE("health is 503 while the model loads, and a bad model file ends the daemon with its name", "[http]") {
  // A FIFO as the model: opening it blocks the loader until a writer appears, so the daemon is
  // deterministically "loading"; then it is not a regular file, so loading fails.
  const std::string fifo = "/tmp/hearth-loading-" + std::to_string(getpid()) + ".gguf";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  server_process s({"-m", fifo}, /*wait_ready=*/false);
  auto h = curl(s.url("/health"));
  CHECK(h.status == 503);
  CHECK(json::parse(h.body)["status"] == "loading");
  check_error(curl_json(s.url("/v1/generate"), R"({"prompt": "x"})"), 503, "", "loading");
  int fd = open(fifo.c_str(), O_WRONLY);  // lets the loader's open() return
  REQUIRE(fd >= 0);
  close(fd);
  CHECK(s.terminate(30) == 1);
  CHECK(s.log().find(fifo) != std::string::npos);
  std::remove(fifo.c_str());
}

TEST_CASE("serve --quantize: the F16 file quantized at start-up serves what llama-quantize's file gives", "[http][quantize]") {
  // ../shared's tiny-llama-q8_0 was written by llama-quantize from tiny-llama-f16; hearth's
  // quantizer writes the same tensors, so the same greedy request gives the same text.
  const std::string prompt = "Once upon a time";
  server_process s({"-m", shared_path("models/arch/tiny-llama-f16.gguf"), "--quantize", "Q8_0"});
  CHECK(s.log().find("quantizing") != std::string::npos);
  auto r = curl_json(s.url("/v1/completions"), json{{"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}}.dump());
  REQUIRE(r.status == 200);
  const std::string text = json::parse(r.body)["choices"][0]["text"];
  auto expected = run_process({hearth_bin, "run", "-m", shared_path("models/arch/tiny-llama-q8_0.gguf"), "-p", prompt,
                               "-n", "16", "--temp", "0"});
  REQUIRE(expected.exit_code == 0);
  CHECK(prompt + text == expected.out);

  auto bad = run_process({hearth_bin, "serve", "--port", "0", "--quantize", "q9_9"});  // refused before it listens
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("unknown quantization type 'q9_9'") != std::string::npos);
}

TEST_CASE("serve --kv-type: a quantized cache serves, and /metrics reports its bytes per token", "[http][kv_quant]") {
  const std::string model_path = shared_path("models/arch/tiny-llama-f16.gguf");
  const auto m = hearth::model::load(model_path);
  const hearth::hparams& hp = m->hp();
  // Every layer's keys and values: n_head_kv rows of head_dim, in 32-element blocks of 34 bytes
  // (Q8_0) or 18 (Q4_0), or 2 bytes an element (F16).
  const auto per_token = [&](int64_t row_bytes) { return hp.n_layer * 2 * hp.n_head_kv * row_bytes; };
  const std::string prompt = "Once upon a time";
  for (auto [type, label, row] : {std::tuple{"q8_0", "Q8_0", hp.head_dim / 32 * 34},
                                  {"q4_0", "Q4_0", hp.head_dim / 32 * 18},
                                  {"f16", "F16", hp.head_dim * 2}}) {
    INFO(type);
    server_process s({"-m", model_path, "--kv-type", type});
    const double bytes = metric(s, std::string("hearth_kv_cache_bytes_per_token{type=\"") + label + "\"}");
    CHECK(bytes == static_cast<double>(per_token(row)));
    auto r = curl_json(s.url("/v1/completions"), json{{"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}}.dump());
    REQUIRE(r.status == 200);
    // The scheduler's batched steps and the CLI's single sequence read the cache alike.
    auto cli = run_process({hearth_bin, "run", "-m", model_path, "-p", prompt, "-n", "16", "--temp", "0", "--kv-type", type});
    REQUIRE(cli.exit_code == 0);
    CHECK(prompt + json::parse(r.body)["choices"][0]["text"].get<std::string>() == cli.out);
  }
  // `hearth info` says the same before anything runs (both are under 1 KiB for this model).
  auto info = run_process({hearth_bin, "info", "-m", model_path});
  REQUIRE(per_token(hp.head_dim / 32 * 34) < 1024);
  CHECK(info.out.find("KV cache        per token: F16 ") != std::string::npos);
  CHECK(info.out.find("Q8_0 " + std::to_string(per_token(hp.head_dim / 32 * 34)) + " bytes") != std::string::npos);
  CHECK(info.out.find("Q4_0 " + std::to_string(per_token(hp.head_dim / 32 * 18)) + " bytes") != std::string::npos);
  auto bad = run_process({hearth_bin, "serve", "--port", "0", "--kv-type", "q5_0"});  // refused before it listens
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--kv-type must be one of f16, q8_0, q4_0 (got 'q5_0')") != std::string::npos);
  // stories260K's heads are 8 wide: no 32-element block fits; the load fails naming the field.
  server_process narrow({"--kv-type", "q8_0"}, /*wait_ready=*/false);
  CHECK(narrow.wait_exit(60) == 1);
  const std::string log = narrow.log();
  INFO(log);
  CHECK(log.find("llama.attention.key_length (the head dimension) is 8") != std::string::npos);
}

TEST_CASE("logprobs: llama.cpp's first logits, log-softmaxed, in every API's shape", "[http][logprobs]") {
  // ../shared/reference holds llama.cpp's logits for the first generated token: its log-softmax
  // (in double, here) is what every API must report for that token and its alternatives.
  auto& s = shared_server();
  const auto ref = first_reference();
  std::vector<std::pair<double, int>> ranked;
  double max = -INFINITY, sum = 0;
  for (float l : ref.first_logits) max = std::max(max, static_cast<double>(l));
  for (float l : ref.first_logits) sum += std::exp(l - max);
  for (size_t i = 0; i < ref.first_logits.size(); ++i) {
    ranked.push_back({ref.first_logits[i] - max - std::log(sum), static_cast<int>(i)});
  }
  std::sort(ranked.begin(), ranked.end(), [](auto a, auto b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  REQUIRE(ranked[0].second == ref.greedy_tokens[0]);
  const double tolerance = 2e-3;  // llama.cpp's logits as printed, and hearth's within the golden bound

  // Native: ids, so every alternative is checked by id.
  auto g = curl_json(s.url("/v1/generate"), json{{"prompt", ref.prompt}, {"max_tokens", 3}, {"temperature", 0}, {"logprobs", 5}}.dump());
  REQUIRE(g.status == 200);
  const json native = json::parse(g.body)["logprobs"];
  REQUIRE(native.size() == 3);
  CHECK(native[0]["id"] == ref.greedy_tokens[0]);
  CHECK(native[0]["logprob"].get<double>() == Approx(ranked[0].first).margin(tolerance));
  REQUIRE(native[0]["top_logprobs"].size() == 5);
  for (int i = 0; i < 5; ++i) {
    INFO("alternative " << i);
    CHECK(native[0]["top_logprobs"][i]["id"] == ranked[i].second);
    CHECK(native[0]["top_logprobs"][i]["logprob"].get<double>() == Approx(ranked[i].first).margin(tolerance));
  }
  for (int t = 0; t < 3; ++t) CHECK(native[t]["id"] == ref.greedy_tokens[t]);

  // Chat shape (the chat template changes the prompt, so only the shape and self-consistency).
  auto c = curl_json(s.url("/v1/chat/completions"),
                     json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}, {"temperature", 0},
                          {"logprobs", true}, {"top_logprobs", 3}}.dump());
  REQUIRE(c.status == 200);
  const json chat = json::parse(c.body)["choices"][0];
  const json& content = chat["logprobs"]["content"];
  REQUIRE(content.size() == 4);
  std::string joined;
  for (const json& e : content) {
    joined += e["token"].get<std::string>();
    CHECK(e["bytes"].size() == e["token"].get<std::string>().size());  // ASCII here
    REQUIRE(e["top_logprobs"].size() == 3);
    CHECK(e["top_logprobs"][0]["logprob"] == e["logprob"]);  // greedy: the chosen token is the likeliest
    CHECK(e["logprob"].get<double>() <= 0.0);
  }
  CHECK(joined == chat["message"]["content"]);
  CHECK(chat["logprobs"]["refusal"].is_null());

  // Completions (legacy shape), whole and streamed: the same figures.
  auto whole = curl_json(s.url("/v1/completions"),
                         json{{"prompt", ref.prompt}, {"max_tokens", 3}, {"temperature", 0}, {"logprobs", 2}}.dump());
  REQUIRE(whole.status == 200);
  const json lp = json::parse(whole.body)["choices"][0]["logprobs"];
  REQUIRE(lp["tokens"].size() == 3);
  CHECK(lp["token_logprobs"][0].get<double>() == Approx(ranked[0].first).margin(tolerance));
  CHECK(lp["text_offset"][0] == 0);
  CHECK(lp["text_offset"][1] == lp["tokens"][0].get<std::string>().size());
  CHECK(lp["top_logprobs"][0].size() == 2);
  auto streamed = curl_json(s.url("/v1/completions"), json{{"prompt", ref.prompt}, {"max_tokens", 3}, {"temperature", 0},
                                                           {"logprobs", 2}, {"stream", true}}.dump(), {"-N"});
  REQUIRE(streamed.status == 200);
  json tokens = json::array(), values = json::array();
  for (const std::string& p : sse_payloads(streamed.body)) {
    if (p == "[DONE]") continue;
    const json chunk = json::parse(p);
    const json& l = chunk["choices"][0]["logprobs"];
    if (l.is_null()) continue;
    for (const json& t : l["tokens"]) tokens.push_back(t);
    for (const json& v : l["token_logprobs"]) values.push_back(v);
  }
  CHECK(tokens == lp["tokens"]);
  CHECK(values == lp["token_logprobs"]);

  // Out of range: a 400 naming the field, the server alive.
  auto bad = curl_json(s.url("/v1/chat/completions"),
                       json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"logprobs", true}, {"top_logprobs", 21}}.dump());
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["param"] == "top_logprobs");
  CHECK(curl(s.url("/health")).status == 200);
}

TEST_CASE("models/{id}: the served model, a 404 for any other id, one metrics label", "[http]") {
  auto& s = shared_server();
  auto m = curl(s.url("/v1/models/stories260K-f32.gguf"));
  REQUIRE(m.status == 200);
  const json model = json::parse(m.body);
  CHECK(model["id"] == "stories260K-f32.gguf");
  CHECK(model["object"] == "model");
  CHECK(model["owned_by"] == "hearth");
  CHECK(model == json::parse(curl(s.url("/v1/models")).body)["data"][0]);
  check_error(curl(s.url("/v1/models/gpt-4o")), 404, "model", "The model 'gpt-4o' does not exist");
  CHECK(curl(s.url("/v1/models/stories260K-f32.gguf/extra")).status == 404);  // one segment only
  CHECK(curl(s.url("/v1/models/stories260K-f32.gguf"), {"-X", "POST"}).status == 405);
  const std::string metrics = curl(s.url("/metrics")).body;
  CHECK(metrics.find("endpoint=\"/v1/models/{id}\"") != std::string::npos);
  CHECK(metrics.find("endpoint=\"/v1/models/gpt-4o\"") == std::string::npos);
}

TEST_CASE("reasoning: a template that opens a thinking block puts the output in reasoning_content", "[http][reasoning]") {
  // The template's generation prompt ends with "<think>": everything the model writes until
  // "</think>" is its thinking. stories260K never writes "</think>", so all of it is reasoning.
  temp_dir dir;
  const auto tpl = dir.file("think.jinja");
  std::ofstream(tpl) << "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
                        "{% if add_generation_prompt %}assistant: <think>\n{% endif %}";
  server_process s({"--chat-template", tpl.string()});
  const json request = {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}}, {"max_tokens", 24},
                        {"temperature", 0}};
  auto whole = curl_json(s.url("/v1/chat/completions"), request.dump());
  REQUIRE(whole.status == 200);
  const json message = json::parse(whole.body)["choices"][0]["message"];
  INFO(message.dump());
  json inline_request = request;
  inline_request["reasoning_format"] = "none";
  auto plain = curl_json(s.url("/v1/chat/completions"), inline_request.dump());
  REQUIRE(plain.status == 200);
  const json plain_message = json::parse(plain.body)["choices"][0]["message"];
  CHECK_FALSE(plain_message.contains("reasoning_content"));
  const std::string text = plain_message["content"];
  REQUIRE_FALSE(text.empty());
  CHECK(message["reasoning_content"] == text);
  CHECK(message["content"] == "");

  json streamed_request = request;
  streamed_request["stream"] = true;
  auto streamed = curl_json(s.url("/v1/chat/completions"), streamed_request.dump(), {"-N"});
  std::string reasoning, content;
  for (const std::string& p : sse_payloads(streamed.body)) {
    if (p == "[DONE]") continue;
    const json delta = json::parse(p)["choices"][0]["delta"];
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"].get<std::string>();
    if (delta.contains("content")) content += delta["content"].get<std::string>();
  }
  CHECK(reasoning == text);
  CHECK(content == "");
  check_error(curl_json(s.url("/v1/chat/completions"), json{{"messages", request["messages"]}, {"reasoning_format", "x"}}.dump()),
              400, "reasoning_format", "reasoning_format must be");
}

TEST_CASE("chat_template_kwargs: QwQ's enable_thinking opens the thinking block, its absence closes it", "[http][reasoning]") {
  // QwQ's template ends the generation prompt with "<think>\n" and, unless enable_thinking, "</think>".
  server_process s({"--chat-template", shared_path("templates/Qwen-QwQ-32B.jinja")});
  json request = {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}}, {"max_tokens", 8}, {"temperature", 0}};
  const json answer = json::parse(curl_json(s.url("/v1/chat/completions"), request.dump()).body)["choices"][0]["message"];
  CHECK_FALSE(answer.contains("reasoning_content"));
  CHECK_FALSE(answer["content"].get<std::string>().empty());
  request["chat_template_kwargs"] = {{"enable_thinking", true}};
  const json thinking = json::parse(curl_json(s.url("/v1/chat/completions"), request.dump()).body)["choices"][0]["message"];
  INFO(thinking.dump());
  CHECK_FALSE(thinking["reasoning_content"].get<std::string>().empty());
  CHECK(thinking["content"] == "");
  check_error(curl_json(s.url("/v1/chat/completions"), json{{"messages", request["messages"]},
                                                            {"chat_template_kwargs", {{"bos_token", "x"}}}}.dump()),
              400, "chat_template_kwargs.bos_token", "would replace a variable the server sets");
  check_error(curl_json(s.url("/v1/chat/completions"), json{{"messages", request["messages"]}, {"chat_template_kwargs", 1}}.dump()),
              400, "chat_template_kwargs", "must be an object");
}

TEST_CASE("chat: a conversation re-sending its history reads it from the prefix cache", "[http]") {
  // A server of its own: the shared one's cache holds other tests' prompts.
  server_process s;
  json req = {{"messages", json::array({{{"role", "system"}, {"content", "You tell short stories about animals who live in the forest."}},
                                        {{"role", "user"}, {"content", "Tell me about a fox."}}})},
              {"max_tokens", 24}, {"temperature", 0}};
  auto first = curl_json(s.url("/v1/chat/completions"), req.dump());
  REQUIRE(first.status == 200);
  json a = json::parse(first.body);
  CHECK_FALSE(a["usage"].contains("prompt_tokens_details"));  // nothing read from the cache
  // The same request again: every whole block of its prompt but the last token's is cached.
  auto again = curl_json(s.url("/v1/chat/completions"), req.dump());
  REQUIRE(again.status == 200);
  json b = json::parse(again.body);
  const int prompt = a["usage"]["prompt_tokens"];
  CHECK(b["usage"]["prompt_tokens_details"]["cached_tokens"] == (prompt - 1) / 16 * 16);
  CHECK(b["choices"][0]["message"]["content"] == a["choices"][0]["message"]["content"]);
  // The next turn: the history (with the answer) is read, only the new turn computed.
  req["messages"].push_back({{"role", "assistant"}, {"content", a["choices"][0]["message"]["content"]}});
  req["messages"].push_back({{"role", "user"}, {"content", "And then?"}});
  auto next = curl_json(s.url("/v1/chat/completions"), req.dump());
  REQUIRE(next.status == 200);
  json c = json::parse(next.body);
  CHECK(c["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>() >= prompt / 16 * 16);
  auto metrics = curl(s.url("/metrics"));
  CHECK(metrics.body.find("hearth_prefix_cache_hit_tokens_total") != std::string::npos);
  // Anthropic's Messages API reports the cache its way: input_tokens computed, the rest read.
  const json msg = {{"system", "You tell short stories about animals who live in the mountains."},
                    {"messages", json::array({{{"role", "user"}, {"content", "Tell me about a goat."}}})},
                    {"max_tokens", 8}, {"temperature", 0}};
  json m1 = json::parse(curl_json(s.url("/v1/messages"), msg.dump()).body);
  json m2 = json::parse(curl_json(s.url("/v1/messages"), msg.dump()).body);
  INFO(m1.dump() << "\n" << m2.dump());
  // The first shares the chat's template and the start of its system prompt (whole blocks of it).
  const int whole = m1["usage"]["input_tokens"].get<int>() + m1["usage"]["cache_read_input_tokens"].get<int>();
  CHECK(m1["usage"]["input_tokens"].get<int>() >= whole / 2);
  CHECK(m2["usage"]["cache_read_input_tokens"] == (whole - 1) / 16 * 16);
  CHECK(m2["usage"]["input_tokens"].get<int>() + m2["usage"]["cache_read_input_tokens"].get<int>() == whole);
  CHECK(m2["usage"]["cache_creation_input_tokens"] == 0);
  // "cache": false: a prompt sent twice is computed twice.
  json priv = {{"prompt", "Once upon a time there was a little owl who lived in a tall old oak tree in the woods."},
               {"max_tokens", 4}, {"temperature", 0}, {"cache", false}};
  for (int i = 0; i < 2; ++i) {
    auto r = curl_json(s.url("/v1/completions"), priv.dump());
    REQUIRE(r.status == 200);
    CHECK_FALSE(json::parse(r.body)["usage"].contains("prompt_tokens_details"));
  }
  priv["cache"] = "no";
  auto bad = curl_json(s.url("/v1/completions"), priv.dump());
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["param"] == "cache");
}

TEST_CASE("fair shares: another key's request takes a slot from a client that holds them all", "[http][fair]") {
  // Two slots; key a keeps four long completions in (two run, two wait), then key b asks.
  server_process s({"--parallel", "2", "--api-key", "key-a", "--api-key", "key-b"});
  // stories260K writes 400 tokens from this prompt without an end of text.
  const json long_request = {{"prompt", "Once upon a time"}, {"max_tokens", 400}, {"temperature", 0}};
  const std::vector<std::string> as_a = {"-H", "Authorization: Bearer key-a"};
  std::vector<std::future<http_result>> a;
  for (int i = 0; i < 4; ++i) {
    a.push_back(std::async(std::launch::async, [&] { return curl_json(s.url("/v1/completions"), long_request.dump(), as_a); }));
  }
  const auto a_fills_both_slots = [&] {
    return metric(s, "hearth_queue_depth", as_a) == 2 && metric(s, "hearth_running_sequences", as_a) == 2;
  };
  bool filled = false;
  for (int i = 0; i < 2000 && !(filled = a_fills_both_slots()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(filled);
  auto b = curl_json(s.url("/v1/completions"), json{{"prompt", "The cat"}, {"max_tokens", 4}, {"temperature", 0}}.dump(),
                     {"-H", "Authorization: Bearer key-b"});
  CHECK(b.status == 200);
  // b did not wait for a's queue: one of a's sequences yielded its slot, while a's first two still ran.
  CHECK(metric(s, "hearth_fair_preemptions_total", as_a) == 1);
  CHECK(metric(s, "hearth_generations_total{reason=\"length\"}", as_a) < 2);
  for (auto& f : a) {
    const http_result r = f.get();
    CHECK(r.status == 200);
    CHECK(json::parse(r.body)["usage"]["completion_tokens"] == 400);
  }
  // The same key never yields to itself.
  CHECK(metric(s, "hearth_fair_preemptions_total", as_a) == 1);
}

TEST_CASE("context_overflow: error, truncate_middle (a prompt's middle, a chat's oldest turns) and rolling",
          "[http][overflow]") {
  server_process& s = shared_server();  // stories260K: a context of 512
  std::string text;
  for (int i = 0; i < 120; ++i) text += "the cat sat on the mat. ";
  const json tok = json::parse(curl_json(s.url("/v1/tokenize"), json{{"content", text}, {"add_special", true}}.dump()).body);
  const int full = static_cast<int>(tok["tokens"].size());
  REQUIRE(full > 512);
  json req = {{"prompt", text}, {"max_tokens", 50}, {"temperature", 0}};
  auto refused = curl_json(s.url("/v1/completions"), req.dump());
  CHECK(refused.status == 400);
  CHECK(json::parse(refused.body)["error"]["code"] == "context_length_exceeded");
  req["context_overflow"] = "truncate_middle";
  auto cut = curl_json(s.url("/v1/completions"), req.dump());
  REQUIRE(cut.status == 200);
  const json u = json::parse(cut.body)["usage"];
  CHECK(u["prompt_tokens"] == 512 - 50);
  CHECK(u["prompt_tokens_details"]["truncated_tokens"] == full - (512 - 50));

  // A chat loses whole turns, oldest first: it answers as the conversation with only the newest
  // turns that fit, and reports the tokens the dropped turns held.
  json messages = json::array({{{"role", "system"}, {"content", "You write short stories about animals."}}});
  for (int i = 0; i < 12; ++i) {
    messages.push_back({{"role", "user"}, {"content", "Tell me about animal number " + std::to_string(i) + " in the big forest."}});
    messages.push_back({{"role", "assistant"}, {"content", "Once upon a time there was a little fox who lived in the big forest with a bird."}});
  }
  messages.push_back({{"role", "user"}, {"content", "And then what happened?"}});
  json chat = {{"messages", messages}, {"max_tokens", 200}, {"temperature", 0}};
  auto too_long = curl_json(s.url("/v1/chat/completions"), chat.dump());
  REQUIRE(too_long.status == 400);
  const std::string why = json::parse(too_long.body)["error"]["message"];
  const int full_chat = std::stoi(why.substr(why.find_first_of("0123456789")));  // "the prompt is N tokens, ..."
  json kept;  // the newest turns that fit, by hand
  for (size_t turns = 12; turns-- > 0;) {
    json m = json::array({messages[0]});
    for (size_t i = messages.size() - 1 - 2 * turns; i < messages.size(); ++i) m.push_back(messages[i]);
    auto r = curl_json(s.url("/v1/chat/completions"), json{{"messages", m}, {"max_tokens", 200}, {"temperature", 0}}.dump());
    if (r.status == 200) {
      kept = json::parse(r.body);
      break;
    }
  }
  REQUIRE_FALSE(kept.is_null());
  chat["context_overflow"] = "truncate_middle";
  auto fitted = curl_json(s.url("/v1/chat/completions"), chat.dump());
  REQUIRE(fitted.status == 200);
  const json got = json::parse(fitted.body);
  CHECK(got["usage"]["prompt_tokens"] == kept["usage"]["prompt_tokens"]);
  CHECK(got["usage"]["prompt_tokens_details"]["truncated_tokens"] == full_chat - kept["usage"]["prompt_tokens"].get<int>());
  CHECK(got["choices"][0]["message"]["content"] == kept["choices"][0]["message"]["content"]);

  // Rolling: 1,200 tokens from a context of 512, the window sliding as it goes.
  json roll = {{"prompt", "Once upon a time"}, {"max_tokens", 1200}, {"temperature", 0}, {"context_overflow", "rolling"}};
  auto rolled = curl_json(s.url("/v1/completions"), roll.dump());
  REQUIRE(rolled.status == 200);
  const json ru = json::parse(rolled.body)["usage"];
  CHECK(ru["completion_tokens"] == 1200);
  CHECK(ru["prompt_tokens_details"]["truncated_tokens"].get<int>() > 1200 - 512);
  roll.erase("context_overflow");
  CHECK(curl_json(s.url("/v1/completions"), roll.dump()).status == 400);  // max_tokens beyond the context
}

TEST_CASE("context_overflow: --context-overflow sets the server's default", "[http][overflow]") {
  server_process s({"--context-overflow", "truncate_middle"});
  std::string text;
  for (int i = 0; i < 120; ++i) text += "the dog ran in the park. ";
  auto r = curl_json(s.url("/v1/completions"), json{{"prompt", text}, {"max_tokens", 12}, {"temperature", 0}}.dump());
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["usage"]["prompt_tokens"] == 512 - 12);
  auto e = curl_json(s.url("/v1/completions"),
                     json{{"prompt", text}, {"max_tokens", 12}, {"context_overflow", "error"}}.dump());
  CHECK(e.status == 400);
}

TEST_CASE("deadlines: deadline_ms or X-Request-Deadline-Ms ends a late answer, refuses a hopeless one, and a waiting stream hears its place",
          "[http][deadline]") {
  server_process s({"--parallel", "1"});
  const auto long_story = [&] {
    return curl_json(s.url("/v1/completions"), json{{"prompt", "Once upon a time"}, {"max_tokens", 480}, {"temperature", 0}}.dump());
  };
  // The step times are measured (a few prompts, so one cold first step does not set the prompt
  // row's cost), and how long 480 tokens take on this build (sanitizers are slow).
  for (int i = 0; i < 6; ++i) {
    const json warm = {{"prompt", "Tom and Sue went to see animal " + std::to_string(i)}, {"max_tokens", 2}, {"cache", false}};
    REQUIRE(curl_json(s.url("/v1/completions"), warm.dump()).status == 200);
  }
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(long_story().status == 200);
  const auto full_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  // No max_tokens: estimated by its prompt and first token, so it starts. With a rolling window
  // it never reaches the end of the context, and from this prompt stories260K writes no end of
  // text for 1,200 tokens (the context_overflow test), more than twice what fits in the deadline
  // (half the time 480 tokens took, whatever the load): it can only end by its deadline.
  const int64_t deadline = std::max<int64_t>(1, full_ms / 2);
  const json endless = {{"prompt", "Once upon a time"}, {"temperature", 0}, {"context_overflow", "rolling"}};
  json late = endless;
  late["deadline_ms"] = deadline;
  auto r = curl_json(s.url("/v1/generate"), late.dump());
  REQUIRE(r.status == 200);
  json body = json::parse(r.body);
  CHECK(body["finish_reason"] == "deadline");
  CHECK(body["usage"]["completion_tokens"].get<int>() > 0);
  CHECK(body["usage"]["completion_tokens"].get<int>() < 1200);
  auto h = curl_json(s.url("/v1/generate"), endless.dump(), {"-H", "X-Request-Deadline-Ms: " + std::to_string(deadline)});
  REQUIRE(h.status == 200);
  CHECK(json::parse(h.body)["finish_reason"] == "deadline");
  const json chat = {{"messages", json::array({{{"role", "user"}, {"content", "Tell me a story."}}})}, {"max_tokens", 4}};
  check_error(curl_json(s.url("/v1/chat/completions"), chat.dump(), {"-H", "X-Request-Deadline-Ms: soon"}), 400,
              "X-Request-Deadline-Ms", "must be an integer");
  check_error(curl_json(s.url("/v1/completions"), json{{"prompt", "x"}, {"deadline_ms", 0}}.dump()), 400, "deadline_ms",
              "deadline_ms must be in [1, 86400000]");

  // While four long requests hold the only slot and the queue: a stream waits and hears its
  // place as SSE comments (down to 0, next); 400 tokens due within 20 ms are refused at once
  // with the estimate.
  std::vector<std::future<http_result>> busy;
  for (int i = 0; i < 4; ++i) busy.push_back(std::async(std::launch::async, long_story));
  for (int i = 0; i < 500 && metric(s, "hearth_queue_depth") < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto refused = curl_json(s.url("/v1/completions"),
                           json{{"prompt", "Once upon a time"}, {"max_tokens", 400}, {"deadline_ms", 20}}.dump());
  INFO(refused.body);
  CHECK(refused.status == 429);
  CHECK(std::stoi(refused.headers["retry-after"]) >= 1);
  const json why = json::parse(refused.body)["error"];
  CHECK(why["code"] == "deadline_unmeetable");
  CHECK(why["param"] == "deadline_ms");
  CHECK(why["message"].get<std::string>().find("estimated to finish in") != std::string::npos);
  auto waited = curl_json(s.url("/v1/completions"),
                          json{{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}, {"stream", true}}.dump());
  CHECK(waited.status == 200);
  CHECK(waited.body.find(": queued position=0 estimated_start_ms=") != std::string::npos);
  for (auto& b : busy) CHECK(b.get().status == 200);
}
