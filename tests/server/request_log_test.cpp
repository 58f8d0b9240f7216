// What the server logs and counts equals what the client got: one log line per HTTP request
// (4xx, /v1/models and generations included) with the status actually sent and the request id
// the client saw in x-request-id; prompt text only with --log-prompts.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "raw_client.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {


// The log line of the request with this id ("" if none). Waits a little: the line is written
// when the response has gone out, which may be just after the client read it.
std::string log_line(server_process& s, const std::string& id) {
  std::string found;
  poll_until(
      [&] {
        std::istringstream lines(s.log());
        std::string line;
        while (std::getline(lines, line)) {
          if (line.find(" id=" + id + " ") != std::string::npos || line.ends_with(" id=" + id)) found = line;
        }
        return !found.empty();
      },
      5);
  return found;
}

std::string with_id(const std::string& id) { return "X-Request-Id: " + id + "\r\n"; }

}  // namespace

TEST_CASE("every request is logged with the status sent and its x-request-id", "[hostile][http][log]") {
  server_process s;
  const int port = s.port();
  struct sent {
    std::string id, request, expected_start;
    int status;
  };
  const std::string marker = "zebra-marker-2718";
  const std::vector<sent> requests = {
      {"t-404", simple_request("GET", "/nowhere", with_id("t-404")), "GET /nowhere 404 ", 404},
      {"t-405", simple_request("GET", "/v1/generate", with_id("t-405")), "GET /v1/generate 405 ", 405},
      {"t-400", post_request("/v1/generate", "{", with_id("t-400")), "POST /v1/generate 400 ", 400},
      {"t-models", simple_request("GET", "/v1/models", with_id("t-models")), "GET /v1/models 200 ", 200},
      {"t-health", simple_request("HEAD", "/health", with_id("t-health")), "HEAD /health 200 ", 200},
      {"t-gen", post_request("/v1/completions", R"({"prompt": ")" + marker + R"(", "max_tokens": 4})", with_id("t-gen")),
       "POST /v1/completions 200 ", 200},
      {"t-stream",
       post_request("/v1/chat/completions",
                    R"({"messages": [{"role": "user", "content": ")" + marker + R"("}], "max_tokens": 4, "stream": true})",
                    with_id("t-stream")),
       "POST /v1/chat/completions 200 ", 200},
      {"t-spec",
       post_request("/v1/completions",
                    R"({"prompt": "the dog ran in the park. the dog ran in the park. the dog ran in the park.", )"
                    R"("max_tokens": 40, "temperature": 0, "speculative": "ngram"})",
                    with_id("t-spec")),
       "POST /v1/completions 200 ", 200},
      {"t-431", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + with_id("t-431") + "X: " + std::string(70000, 'a') + "\r\n\r\n",
       "GET /health 431 ", 431},
  };
  for (const sent& q : requests) {
    INFO(q.id);
    raw_connection c(port);
    c.send(q.request);
    raw_response r = c.read_response(30, q.request.starts_with("HEAD"));
    CHECK(r.status == q.status);
    // A head refused before it was read through (431) keeps no client id: the answer's id is new.
    const std::string id = q.status == 431 ? r.header("x-request-id") : q.id;
    CHECK(r.header("x-request-id") == id);
    const std::string line = log_line(s, id);
    INFO("log line: " << line);
    CHECK(line.find(q.expected_start) != std::string::npos);
  }
  // Generations say how they ended; prompts never appear.
  CHECK(log_line(s, "t-gen").find("finish=length") != std::string::npos);
  CHECK(log_line(s, "t-stream").find("finish=length") != std::string::npos);
  // With speculative decoding, how many tokens were drafted and accepted (none without it).
  CHECK(log_line(s, "t-spec").find(" drafted=") != std::string::npos);
  CHECK(log_line(s, "t-spec").find(" accepted=") != std::string::npos);
  CHECK(log_line(s, "t-gen").find(" drafted=") == std::string::npos);
  CHECK(s.log().find(marker) == std::string::npos);

  SECTION("ids that are not sane are replaced") {
    for (const std::string& bad : {std::string("has space"), std::string(200, 'x'), std::string("quote\"")}) {
      raw_response r = raw_exchange(port, simple_request("GET", "/health", "X-Request-Id: " + bad + "\r\n"));
      CHECK(r.status == 200);
      CHECK_FALSE(r.header("x-request-id").empty());
      CHECK(r.header("x-request-id") != bad);
      CHECK(r.header("x-request-id").size() <= 64);
    }
    // Generated ids are unique.
    CHECK(raw_exchange(port, simple_request("GET", "/health")).header("x-request-id") !=
          raw_exchange(port, simple_request("GET", "/health")).header("x-request-id"));
  }
  SECTION("the count in /metrics follows the status sent") {
    auto n404 = read_metric(port, "hearth_requests_total{endpoint=\"other\",status=\"404\"}");
    REQUIRE(n404);
    CHECK(*n404 == 1);
    auto models = read_metric(port, "hearth_requests_total{endpoint=\"/v1/models\",status=\"200\"}");
    REQUIRE(models);
    CHECK(*models == 1);
  }
}

TEST_CASE("log prompts: the server logs prompt and output text", "[http][log]") {
  server_process s({"--log-prompts"});
  const std::string marker = "zebra-marker-3141";
  raw_response r = raw_exchange(s.port(), post_request("/v1/generate", R"({"prompt": ")" + marker + R"(", "max_tokens": 2})",
                                                       with_id("t-prompt")));
  CHECK(r.status == 200);
  CHECK(log_line(s, "t-prompt").find("POST /v1/generate 200 ") != std::string::npos);
  CHECK(s.log().find(marker) != std::string::npos);
}

TEST_CASE("a whole answer ended by shutdown is logged with the status the client got", "[http][log]") {
  server_process s({"-m", slow_model, "--parallel", "1"});
  raw_connection c(s.port());
  c.send(post_request("/v1/completions", R"({"prompt": "Hello", "max_tokens": 1000})", with_id("t-shutdown")));
  REQUIRE(poll_until([&] { return read_metric(s.port(), "hearth_running_sequences").value_or(0) == 1; }));
  std::thread stopper([&] { s.terminate(30); });
  raw_response r = c.read_response(30);
  stopper.join();
  REQUIRE(r.status >= 500);
  const std::string line = log_line(s, "t-shutdown");
  INFO("log line: " << line);
  CHECK(line.find("POST /v1/completions " + std::to_string(r.status) + " ") != std::string::npos);
}
