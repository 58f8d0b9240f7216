// Chat templates from the outside: `hearth template` renders ../shared/templates' cases as
// Jinja2 did; `hearth serve --chat-template FILE` uses the file, a template's refusal is a 400
// carrying its message, and a template that cannot be parsed stops the daemon naming the line.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "process.h"
#include "reference.h"
#include "server_process.h"

using namespace hearth::test;
using ojson = nlohmann::ordered_json;

namespace {


std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// cases.json's globals and case `name`'s variables, as one JSON object.
std::string case_variables(const std::string& name) {
  const ojson cases = ojson::parse(read_all(shared_path("templates/cases.json")));
  ojson vars = cases["globals"];
  for (const ojson& c : cases["cases"]) {
    if (c["name"] == name) vars.update(c["vars"]);
  }
  return vars.dump();
}

std::string expected(const std::string& tmpl, size_t case_index, const char* field) {
  return ojson::parse(read_all(shared_path("templates/" + tmpl + ".renders.json")))[case_index][field].get<std::string>();
}

std::string temp_file(const std::string& name, const std::string& contents) {
  const std::string path = "/tmp/hearth-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

}  // namespace

TEST_CASE("template: renders a shared case byte for byte, refuses with the template's message", "[cli]") {
  const std::string llama = shared_path("templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
  auto r = run_process({hearth_bin, "template", llama, "--now", "2026-01-15 09:30:00"}, case_variables("tools"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == expected("meta-llama-Llama-3.1-8B-Instruct", 4, "output"));

  const std::string gemma = shared_path("templates/google-gemma-2-2b-it.jinja");
  auto refused = run_process({hearth_bin, "template", gemma}, case_variables("system-user-assistant-user"));
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.empty());
  CHECK(refused.err.find("TemplateError: System role not supported") != std::string::npos);

  const std::string broken = temp_file("broken.jinja", "fine\n{% for x in y %}\n{{ x }\n");
  auto bad = run_process({hearth_bin, "template", broken}, "{}");
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find(broken + ": line 3, column 6") != std::string::npos);
  std::remove(broken.c_str());

  CHECK(run_process({hearth_bin, "template"}, "{}").exit_code == 2);
  CHECK(run_process({hearth_bin, "template", gemma}, "[1, 2]").exit_code == 2);
  CHECK(run_process({hearth_bin, "template", gemma, "--now", "yesterday"}, "{}").exit_code == 2);
  CHECK(run_process({hearth_bin, "template", "/nonexistent.jinja"}, "{}").exit_code == 1);
  auto help = run_process({hearth_bin, "template", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: hearth template") != std::string::npos);
}

TEST_CASE("info: names the chat template's format", "[cli]") {
  auto r = run_process({hearth_bin, "info", "-m", shared_path("models/stories260K-f32.gguf")});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("chat template: chatml (default)\n") != std::string::npos);  // the file has none
}

TEST_CASE("serve --chat-template: the file's template is used, and its refusals are 400s", "[http]") {
  server_process s({"--chat-template", shared_path("templates/google-gemma-2-2b-it.jinja")});
  const auto chat = [&](const nlohmann::json& messages) {
    return curl_json(s.url("/v1/chat/completions"),
                     nlohmann::json{{"messages", messages}, {"max_tokens", 2}}.dump());
  };
  auto ok = chat({{{"role", "user"}, {"content", "Hi"}}});
  CHECK(ok.status == 200);
  auto refused = chat({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}});
  INFO(refused.body);
  CHECK(refused.status == 400);
  const nlohmann::json e = nlohmann::json::parse(refused.body)["error"];
  CHECK(e["message"] == "System role not supported");
  CHECK(e["param"] == "messages");
  CHECK(e["type"] == "invalid_request_error");
}

TEST_CASE("serve: a chat template that cannot be parsed stops the daemon, naming file and line", "[http]") {
  const std::string broken = temp_file("serve-broken.jinja", "{% for m in messages %}\n{{ m.content\n");
  server_process s({"--chat-template", broken}, /*wait_ready=*/false);
  // The daemon ends by itself once the load fails. (Polling /health until it stops answering
  // raced a slow start: "not answering yet" looked the same, and SIGTERM ended it with 143.)
  CHECK(s.wait_exit(60) == 1);
  const std::string log = s.log();
  INFO(log);
  CHECK(log.find(broken) != std::string::npos);
  CHECK(log.find("line 2, column 1") != std::string::npos);
  std::remove(broken.c_str());
}
