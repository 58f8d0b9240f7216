// The fuzz targets in the normal suite: every seed (valid inputs from ../shared and the tests)
// and every input a fuzzer once crashed on (regressions/<target>/, each kept with its fix) must
// run through its target clean. Under the asan preset this is the sanitized replay.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "fuzz_seeds.h"
#include "fuzz_target.h"

using namespace hearth::fuzz;
namespace fs = std::filesystem;

namespace {

const fs::path regressions_dir = fs::path(HEARTH_SOURCE_DIR) / "tests" / "fuzz" / "regressions";

const seed_corpora& seeds() {
  static const seed_corpora s = make_seed_corpora();
  return s;
}

std::vector<uint8_t> read_input(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void run_clean(const fuzz_target& t, const std::string& what, const std::vector<uint8_t>& input) {
  INFO("target " << t.name << ", input " << what << " (" << input.size() << " bytes)");
  try {
    t.run(input);
  } catch (const std::exception& e) {
    FAIL("escaped: " << e.what());
  }
}

// Runs the target's seeds and recorded crash inputs; returns how many of each ran.
std::pair<size_t, size_t> replay(std::string_view name) {
  const fuzz_target& t = find_fuzz_target(name);
  t.init();
  const auto& corpus = seeds().at(std::string(name));
  for (const auto& [seed, input] : corpus) run_clean(t, "seed " + seed, input);
  size_t crashes = 0;
  const fs::path dir = regressions_dir / std::string(name);
  if (fs::exists(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      run_clean(t, e.path().string(), read_input(e.path()));
      ++crashes;
    }
  }
  return {corpus.size(), crashes};
}

// Replays one target; its seed corpus must hold at least `min_seeds` inputs (a fixture that
// went missing must not leave a target replaying nothing).
void replay_target(std::string_view name, size_t min_seeds) {
  auto [n_seeds, n_crashes] = replay(name);
  INFO(n_seeds << " seeds, " << n_crashes << " recorded crash inputs");
  CHECK(n_seeds >= min_seeds);
}

}  // namespace

// Three tiny models and one file of every value type.
TEST_CASE("fuzz gguf: seeds and recorded crash inputs", "[fuzz]") { replay_target("gguf", 4); }
// The tiny models and the bundled Q4_0 model.
TEST_CASE("fuzz model: seeds and recorded crash inputs", "[fuzz]") { replay_target("model", 4); }
// Six vocabularies' test inputs (two SentencePiece, four byte-level BPE).
TEST_CASE("fuzz tokenizer: seeds and recorded crash inputs", "[fuzz]") { replay_target("tokenizer", 6 * 46); }
// The request tests' JSON bodies.
TEST_CASE("fuzz requests: seeds and recorded crash inputs", "[fuzz]") { replay_target("requests", 60); }
TEST_CASE("fuzz ws_message: seeds and recorded crash inputs", "[fuzz]") { replay_target("ws_message", 60); }
// Six conversations under each of the ~55 templates.
TEST_CASE("fuzz chat_template: seeds and recorded crash inputs", "[fuzz]") { replay_target("chat_template", 6 * 50); }
// Every real template's text with each conversation, and the interpreter tests' templates.
TEST_CASE("fuzz jinja: seeds and recorded crash inputs", "[fuzz]") { replay_target("jinja", 6 * 50); }
// Log-probability files of a few shapes, written by logprob_writer.
TEST_CASE("fuzz logprobs: seeds and recorded crash inputs", "[fuzz]") { replay_target("logprobs", 3); }
// The grammar tests' grammars and the structured-output tests' schemas, each with a matching text.
TEST_CASE("fuzz grammar: seeds and recorded crash inputs", "[fuzz]") { replay_target("grammar", 8); }

TEST_CASE("fuzz: every target is replayed and every regression directory names a target", "[fuzz]") {
  const std::set<std::string_view> replayed = {"gguf",          "model", "tokenizer", "requests", "ws_message",
                                                "chat_template", "jinja", "logprobs",  "grammar"};
  for (const fuzz_target& t : fuzz_targets()) CHECK(replayed.count(t.name) == 1);
  for (const auto& [name, corpus] : seeds()) CHECK(replayed.count(name) == 1);
  if (fs::exists(regressions_dir)) {
    for (const auto& e : fs::directory_iterator(regressions_dir)) {
      if (!e.is_directory()) continue;  // the README
      INFO(e.path());
      CHECK(replayed.count(e.path().filename().string()) == 1);
    }
  }
}
