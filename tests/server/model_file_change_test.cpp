// Issue 7, hole 3, end to end: `hearth serve` whose model file is truncated mid-generation used
// to die by SIGBUS. Now the request in flight ends with an error naming the file, /health is
// 503 with the reason, later requests are refused, and the daemon still exits cleanly. A file
// replaced by rename (a new inode) is not a change: the daemon keeps serving the old one.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "reference.h"
#include "server_process.h"
#include "temp_dir.h"

using namespace hearth::test;
namespace fs = std::filesystem;

namespace {


int64_t generated_tokens(const server_process& s) {
  const std::string body = curl(s.url("/metrics")).body;
  const std::string name = "\nhearth_generated_tokens_total ";  // the sample, not its # HELP line
  const auto at = body.find(name);
  return at == std::string::npos ? -1 : std::stoll(body.substr(at + name.size()));
}

}  // namespace

TEST_CASE("serve: a model file truncated mid-generation fails the request and /health, not the daemon",
          "[http][file_change]") {
  temp_dir dir;
  const fs::path model = dir.file("model.gguf");
  fs::copy_file(slow_model, model);
  server_process s({"-m", model.string(), "--parallel", "2"});
  std::future<http_result> streamed = std::async(std::launch::async, [&] {
    return curl_json(s.url("/v1/completions"), R"({"prompt": "Once upon a time", "max_tokens": 1500, "stream": true})");
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (generated_tokens(s) < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(generated_tokens(s) >= 3);
  fs::resize_file(model, 4096);
  const http_result stream = streamed.get();
  const std::string why = "model file " + model.string() + " changed on disk while in use; restart hearth";
  INFO(s.log());
  CHECK(stream.status == 200);
  CHECK(stream.body.find(why) != std::string::npos);
  CHECK(stream.body.find("\"finish_reason\":\"length\"") == std::string::npos);  // it did not run to the end

  const http_result health = curl(s.url("/health"));
  CHECK(health.status == 503);
  CHECK(health.body.find(why) != std::string::npos);
  const http_result later = curl_json(s.url("/v1/completions"), R"({"prompt": "Once", "max_tokens": 4})");
  CHECK(later.status == 500);
  CHECK(later.body.find(why) != std::string::npos);
  CHECK(s.terminate() == 0);  // exited by itself: not 128 + SIGBUS
}

TEST_CASE("serve: a model file replaced by rename keeps serving the old file", "[http][file_change]") {
  temp_dir dir;
  const fs::path model = dir.file("model.gguf");
  fs::copy_file(shared_path("models/stories260K-f32.gguf"), model);
  server_process s({"-m", model.string()});
  const std::string request = R"({"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0})";
  const http_result before = curl_json(s.url("/v1/completions"), request);
  REQUIRE(before.status == 200);
  const fs::path next = dir.file("model.gguf.tmp");
  fs::copy_file(shared_path("models/stories260K-q4_0.gguf"), next);
  fs::rename(next, model);  // cp new tmp && mv tmp model.gguf
  const http_result after = curl_json(s.url("/v1/completions"), request);
  CHECK(after.status == 200);
  const auto text = [](const http_result& r) { return nlohmann::json::parse(r.body)["choices"][0]["text"]; };
  CHECK(text(after) == text(before));
  CHECK(curl(s.url("/health")).status == 200);
  CHECK(s.terminate() == 0);
}
