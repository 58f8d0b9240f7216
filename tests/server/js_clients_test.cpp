// Real-world clients against a real `hearth serve`: the official `openai` npm package and the
// page at / in headless Chromium (tests/clients/*.mjs, run with node). Each script checks its
// own expectations and exits 0 only when all hold.
//
// Their packages come from `npm ci` in tests/clients (scripts/test runs it). Without them these
// tests fail, saying so: a missing client must not pass as a skipped test.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "reference.h"
#include "server_process.h"

using namespace hearth::test;

namespace {

const std::filesystem::path clients_dir = std::filesystem::path(HEARTH_SOURCE_DIR) / "tests" / "clients";

// Runs `node tests/clients/<script> <server URL> <script_args>` against a fresh server of its own,
// started with `server_args` (the browser test reads the server's gauges, which must count its
// generations only).
void run_client(const std::string& script, const std::string& package, std::vector<std::string> server_args = {},
                const std::vector<std::string>& script_args = {}) {
  {
    INFO("tests/clients/node_modules/" << package << " is missing: run `npm ci` in tests/clients "
                                       << "(scripts/test does it)");
    REQUIRE(std::filesystem::is_directory(clients_dir / "node_modules" / package));
  }
  server_process server(std::move(server_args));
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  std::vector<std::string> argv = {"node", (clients_dir / script).string(), url};
  argv.insert(argv.end(), script_args.begin(), script_args.end());
  process_result r = run_process(argv);
  INFO("node " << script << " " << url << " exited with " << r.exit_code);
  INFO("stdout:\n" << r.out);
  INFO("stderr:\n" << r.err);
  INFO("server log:\n" << server.log());
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TEST_CASE("js clients: the openai npm package (completions, chat, streams, models, errors)", "[clients]") {
  run_client("openai_test.mjs", "openai");
}

TEST_CASE("js clients: the openai npm package calls tools through Qwen2.5's own template", "[clients]") {
  run_client("openai_tools_test.mjs", "openai", {"-m", shared_path("models/arch/tiny-qwen25-f16.gguf")});
}

TEST_CASE("js clients: Anthropic's SDK (messages, streams, stop sequences, tools, count_tokens, errors)", "[clients]") {
  run_client("anthropic_test.mjs", "@anthropic-ai/sdk",
             {"-m", shared_path("models/arch/tiny-qwen25-f16.gguf"), "--api-key", "sesame"}, {"sesame"});
}

TEST_CASE("js clients: the Responses API through the openai package and the Vercel AI SDK", "[clients]") {
  run_client("responses_test.mjs", "ai", {"-m", shared_path("models/arch/tiny-qwen25-f16.gguf")});
}

TEST_CASE("js clients: the openai npm package embeds with a BERT model", "[clients]") {
  run_client("embeddings_test.mjs", "openai", {"-m", shared_path("models/arch/tiny-bert-f16.gguf")},
             {shared_path("reference/embeddings/tiny-bert-f16.jsonl")});
}

TEST_CASE("js clients: the page in headless Chromium (stream, Stop, no external requests)", "[clients]") {
  run_client("browser_test.mjs", "playwright-core");
}

TEST_CASE("js clients: the page with API keys (a missing or refused key is named, a new key is used)", "[clients]") {
  run_client("browser_test.mjs", "playwright-core", {"--api-key", "sesame"}, {"--api-key", "sesame"});
}
