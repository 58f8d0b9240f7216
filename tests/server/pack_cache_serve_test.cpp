// `hearth serve --pack-cache` (issue 12, fast start): the first start repacks and writes
// MODEL.hearth-cache beside the model; the next maps it, and generates the same tokens.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "reference.h"
#include "server_process.h"
#include "temp_dir.h"

using namespace hearth::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json pcs_greedy(server_process& s) {
  auto r = curl_json(s.url("/v1/generate"), json{{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}}.dump());
  REQUIRE(r.status == 200);
  return json::parse(r.body)["tokens"];
}

}  // namespace

TEST_CASE("serve --pack-cache: written at the first start, mapped at the next, same tokens", "[serve][pack_cache]") {
  temp_dir dir;
  const fs::path model = dir.file("model.gguf");
  fs::copy_file(shared_path("models/stories260K-q4_0.gguf"), model);
  const std::string cache = model.string() + ".hearth-cache";
  json first;
  {
    server_process s({"-m", model.string(), "--pack-cache", "--parallel", "1"});
    first = pcs_greedy(s);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const auto settled = [&] {
      const std::string l = s.log();
      return l.find(": written (") != std::string::npos || l.find(": not written") != std::string::npos ||
             l.find("weights as stored") != std::string::npos;
    };
    while (!settled() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string log = s.log();
    INFO(log);
    if (log.find("kernels read this model's weights as stored") != std::string::npos) {
      WARN("HEARTH_TEST_SKIPPED: the active kernels pack nothing of this model");
      return;
    }
    CHECK(log.find("pack cache " + cache + ": not used: there is none; repacking, and writing it") != std::string::npos);
    REQUIRE(log.find("pack cache " + cache + ": written (") != std::string::npos);
    CHECK(s.terminate() == 0);
  }
  REQUIRE(fs::exists(cache));
  server_process s({"-m", model.string(), "--pack-cache", "--parallel", "1"});
  const std::string log = s.log();
  INFO(log);
  if (log.find("pack cache " + cache + ": not used: the page cache maps only") != std::string::npos) {
    WARN("HEARTH_TEST_SKIPPED: this file system's page cache has no 2 MiB pages for the cache");
    return;
  }
  CHECK(log.find("pack cache " + cache + ": mapped (") != std::string::npos);
  CHECK(pcs_greedy(s) == first);
}

TEST_CASE("serve --pack-cache with --quantize is refused at start", "[serve][pack_cache]") {
  const auto r = run_process({hearth_bin, "serve", "--port", "0", "--pack-cache", "--quantize", "q8_0"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--pack-cache keeps a model file's repacked weights; --quantize makes new ones at each start") !=
        std::string::npos);
}

TEST_CASE("run --pack-cache: the run writes the cache whole before it exits, the next maps it, same text",
          "[run][pack_cache]") {
  temp_dir dir;
  const fs::path model = dir.file("model.gguf");
  fs::copy_file(shared_path("models/stories260K-q4_0.gguf"), model);
  const std::string cache = model.string() + ".hearth-cache";
  const std::vector<std::string> args = {hearth_bin, "run", "-m", model.string(), "-p", "Once upon a time", "-n", "12",
                                         "--temp", "0", "--pack-cache"};
  const auto first = run_process(args);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  if (first.err.find("weights as stored") != std::string::npos) {
    WARN("HEARTH_TEST_SKIPPED: the active kernels pack nothing of this model");
    return;
  }
  // Written by the time the process is gone: the run waits for the writer rather than stop it
  // (on this 2 MiB model the write also ends before the run would; on the 1.1B files it did not:
  // docs/performance.md).
  CHECK(first.err.find("pack cache " + cache + ": written (") != std::string::npos);
  REQUIRE(fs::exists(cache));
  const auto second = run_process(args);
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  if (second.err.find("pack cache " + cache + ": not used: the page cache maps only") != std::string::npos) {
    WARN("HEARTH_TEST_SKIPPED: this file system's page cache has no 2 MiB pages for the cache");
    return;
  }
  CHECK(second.err.find("pack cache " + cache + ": mapped (") != std::string::npos);
  CHECK(second.out == first.out);
  CHECK(first.out.rfind("Once upon a time", 0) == 0);
  CHECK(first.out.size() > std::string("Once upon a time").size());

  const auto both = run_process({hearth_bin, "run", "-m", model.string(), "-p", "x", "--pack-cache", "--quantize", "q8_0"});
  CHECK(both.exit_code == 2);
  CHECK(both.err.find("--pack-cache keeps a model file's repacked weights; --quantize makes new ones at each start") !=
        std::string::npos);
}
