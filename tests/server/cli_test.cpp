// The `hearth` CLI as a user runs it: a real process, its stdout, stderr and exit code.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth::test;

namespace {
const std::string stories_f32 = shared_path("models/stories260K-f32.gguf");
}  // namespace

TEST_CASE("run: 200 greedy tokens equal llama.cpp's, printed after the prompt", "[cli]") {
  auto ref = read_reference("stories260K-f32.greedy200.jsonl").at(0);
  auto r = run_process({hearth_bin, "run", "-m", stories_f32, "-p", ref.prompt, "-n", "200", "--temp", "0"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == ref.prompt + ref.greedy_text);
}

TEST_CASE("bench: each test as a JSON line, the cache sized to what the tests feed", "[cli][bench]") {
  const auto lines = [](const std::string& out) {
    std::vector<nlohmann::json> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
    return v;
  };
  // tg alone: its steps use exactly the n positions the cache was sized for (16: a whole KV
  // block, so one position more would need a second).
  auto tg = run_process({hearth_bin, "bench", "-m", stories_f32, "-p", "0", "-n", "16", "-r", "1", "-o", "json"});
  INFO(tg.err);
  REQUIRE(tg.exit_code == 0);
  auto t = lines(tg.out);
  REQUIRE(t.size() == 1);
  CHECK(t[0]["test"] == "tg16");
  CHECK(t[0]["tok_s"].get<double>() > 0);
  // With drafts: the steps of 1 + 2 rows, every draft kept and none.
  auto all = run_process({hearth_bin, "bench", "-m", stories_f32, "-p", "4", "-n", "8", "-d", "2", "-r", "1", "-o", "json"});
  INFO(all.err);
  REQUIRE(all.exit_code == 0);
  std::vector<std::string> names;
  for (const auto& j : lines(all.out)) {
    names.push_back(j["test"]);
    CHECK(j["tok_s"].get<double>() > 0);
  }
  CHECK(names == std::vector<std::string>{"pp4", "tg8", "tg8-d2-all", "tg8-d2-none"});
}

TEST_CASE("run: the same seed gives the same text, another seed other text", "[cli]") {
  auto gen = [](const char* seed) {
    return run_process({hearth_bin, "run", "-m", stories_f32, "-p", "Once upon a time", "-n", "48",
                        "--temp", "1.0", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", seed});
  };
  auto a = gen("42"), b = gen("42"), c = gen("43");
  REQUIRE(a.exit_code == 0);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
}

TEST_CASE("run: out-of-range sampling parameters are rejected, not clamped", "[cli]") {
  for (auto [flag, value, field] : {std::tuple{"--temp", "-1", "temperature"}, {"--top-p", "1.5", "top_p"},
                                    {"--top-k", "-3", "top_k"}, {"--min-p", "2", "min_p"}}) {
    auto r = run_process({hearth_bin, "run", "-m", stories_f32, "-p", "x", flag, value});
    INFO(flag << " " << value << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(field) != std::string::npos);
    CHECK(r.out.empty());
  }
}

TEST_CASE("tokenize: prompt tokens equal llama.cpp's", "[cli]") {
  for (const auto& c : read_reference("stories260K-f32.greedy.jsonl", 6)) {
    auto r = run_process({hearth_bin, "tokenize", "-m", stories_f32, c.prompt});
    REQUIRE(r.exit_code == 0);
    std::string expected;
    for (size_t i = 0; i < c.prompt_tokens.size(); ++i) expected += (i ? " " : "") + std::to_string(c.prompt_tokens[i]);
    CHECK(r.out == expected + "\n");
  }
  auto nobos = run_process({hearth_bin, "tokenize", "-m", stories_f32, "--no-bos", "Once upon a time"});
  CHECK(nobos.out == "403 407 261 378\n");
}

TEST_CASE("embed: the tiny BERT's embeddings are llama.cpp's, one JSON line per text", "[cli]") {
  const std::string bert = shared_path("models/arch/tiny-bert-f16.gguf");
  std::vector<nlohmann::json> refs;
  std::istringstream lines(read_text(shared_path("reference/embeddings/tiny-bert-f16.jsonl")));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) refs.push_back(nlohmann::json::parse(line));
  }
  REQUIRE(refs.size() == 4);
  auto r = run_process({hearth_bin, "embed", "-m", bert, refs[0]["input"], refs[1]["input"]});
  REQUIRE(r.exit_code == 0);
  std::istringstream out(r.out);
  for (int i = 0; i < 2; ++i) {
    std::string line;
    REQUIRE(std::getline(out, line));
    const nlohmann::json got = nlohmann::json::parse(line);
    CHECK(got["input"] == refs[i]["input"]);
    CHECK(got["tokens"] == refs[i]["tokens"]);
    double dot = 0;  // both unit length
    for (size_t k = 0; k < got["embedding"].size(); ++k) dot += got["embedding"][k].get<double>() * refs[i]["embedding"][k].get<double>();
    CHECK(dot >= 0.999);
  }
  auto decoder = run_process({hearth_bin, "embed", "-m", stories_f32, "x"});
  CHECK(decoder.exit_code == 1);
  CHECK(decoder.err.find("general.architecture") != std::string::npos);
  auto served = run_process({hearth_bin, "info", "-m", bert});
  CHECK(served.err.find("hearth embed") != std::string::npos);
}

TEST_CASE("tokenize: vocab-only files of every tokenizer", "[cli]") {
  // Ids from llama.cpp's vectors for "Hello world" (../shared/vocab/*.out); BOS as each file asks.
  struct want {
    const char* vocab;
    const char* with_bos;
    const char* without;
  };
  for (const want& w : {want{"llama-spm", "1 15043 3186\n", "15043 3186\n"},
                        want{"llama-bpe", "128000 9906 1917\n", "9906 1917\n"},
                        want{"qwen2", "9707 1879\n", "9707 1879\n"},
                        want{"gpt-2", "15496 995\n", "15496 995\n"},
                        want{"deepseek-coder", "32013 17535 1835\n", "17535 1835\n"}}) {
    const std::string path = shared_path(std::string("vocab/ggml-vocab-") + w.vocab + ".gguf");
    auto r = run_process({hearth_bin, "tokenize", "-m", path, "Hello world"});
    INFO(w.vocab << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == w.with_bos);
    CHECK(run_process({hearth_bin, "tokenize", "-m", path, "--no-bos", "Hello world"}).out == w.without);
  }
}

TEST_CASE("info: architecture, hyperparameters, vocabulary and tensors", "[cli]") {
  auto r = run_process({hearth_bin, "info", "-m", shared_path("models/stories260K-q4_0.gguf")});
  REQUIRE(r.exit_code == 0);
  for (const char* want : {"architecture: llama", "layers          5", "8 (4 KV heads, head dim 8)",
                           "feed-forward    172", "vocabulary: 512 tokens (SentencePiece)", "end of generation 2 </s>", "tensors: 47", "Q4_0", "Q8_0"}) {
    INFO(want << "\n" << r.out);
    CHECK(r.out.find(want) != std::string::npos);
  }
}

TEST_CASE("info: each architecture's family, tensor-type mix and chat-template family", "[cli]") {
  struct want {
    const char* file;
    const char* arch;
    const char* mix;
  };
  for (const want& w : {want{"tiny-phi3-f16", "architecture: phi3", "tensor types    F16: 10, F32: 5"},
                        want{"tiny-gemma2-f16", "architecture: gemma2", "tensor types    F16: 29, F32: 17"},
                        want{"tiny-llama-q4_k_m", "architecture: llama", "Q4_K: "}}) {
    auto r = run_process({hearth_bin, "info", "-m", shared_path(std::string("models/arch/") + w.file + ".gguf")});
    INFO(w.file << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find(w.arch) != std::string::npos);
    CHECK(r.out.find(w.mix) != std::string::npos);
    CHECK(r.out.find("chat template: ") != std::string::npos);
  }
}

TEST_CASE("every command has --help, and errors go to stderr with a non-zero exit", "[cli]") {
  for (const char* cmd : {"run", "info", "tokenize", "perplexity", "quantize", "prune", "imatrix"}) {
    auto h = run_process({hearth_bin, cmd, "--help"});
    CHECK(h.exit_code == 0);
    CHECK(h.out.find("usage: hearth " + std::string(cmd)) != std::string::npos);
    auto bad = run_process({hearth_bin, cmd, "--no-such-flag"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--no-such-flag") != std::string::npos);
  }
  auto missing = run_process({hearth_bin, "run", "-m", "/nonexistent/model.gguf", "-p", "x"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("/nonexistent/model.gguf") != std::string::npos);
  // An architecture the engine does not run (BERT is an encoder) is named in the error.
  auto unsupported = run_process({hearth_bin, "info", "-m", shared_path("models/arch/tiny-bert-f16.gguf")});
  CHECK(unsupported.exit_code == 1);
  CHECK(unsupported.err.find("bert") != std::string::npos);
  CHECK(run_process({hearth_bin, "frobnicate"}).exit_code == 2);
}

TEST_CASE("run: a stop string ends the text before it, across token boundaries", "[cli]") {
  auto ref = read_reference("stories260K-f32.greedy200.jsonl").at(0);
  for (std::string stop : {"Lily", "park.", "ball. She"}) {
    auto cut = ref.greedy_text.find(stop);
    REQUIRE(cut != std::string::npos);
    auto r = run_process({hearth_bin, "run", "-m", stories_f32, "-p", ref.prompt, "-n", "200", "--temp", "0",
                          "--stop", stop, "--stop", "never appears"});
    INFO("stop: " << stop);
    CHECK(r.out == ref.prompt + ref.greedy_text.substr(0, cut));
  }
}

TEST_CASE("run --json-schema / --grammar: the output after the prompt is what they allow", "[cli][structured]") {
  temp_dir dir;
  const std::string schema = (dir.path() / "schema.json").string(), gbnf = (dir.path() / "g.gbnf").string();
  std::ofstream(schema) << R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 10},
      "n": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["name", "n"]})";
  std::ofstream(gbnf) << "root ::= (\"yes\" | \"no\") \"!\"\n";
  for (const char* seed : {"1", "2", "3"}) {
    auto r = run_process({hearth_bin, "run", "-m", stories_f32, "-p", "Once", "-n", "300", "--seed", seed,
                          "--json-schema", schema});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.out.starts_with("Once"));
    const auto j = nlohmann::json::parse(r.out.substr(4), nullptr, false);
    INFO(r.out);
    REQUIRE(j.is_object());
    CHECK(j.size() == 2);
    CHECK(j["name"].is_string());
    CHECK((j["n"].is_number_integer() && j["n"] >= 1 && j["n"] <= 9));
  }
  auto yes_no = run_process({hearth_bin, "run", "-m", stories_f32, "-p", "Once", "--grammar", gbnf});
  CHECK((yes_no.out == "Onceyes!" || yes_no.out == "Onceno!"));
  std::ofstream(gbnf) << "root ::= undefined\n";
  auto bad = run_process({hearth_bin, "run", "-m", stories_f32, "-p", "Once", "--grammar", gbnf});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--grammar " + gbnf + ": line 1, column 10: rule 'undefined' is used but not defined") !=
        std::string::npos);
  std::ofstream(schema) << R"({"type": "object", "not": {}})";
  auto unsupported = run_process({hearth_bin, "run", "-m", stories_f32, "-p", "Once", "--json-schema", schema});
  CHECK(unsupported.exit_code == 2);
  CHECK(unsupported.err.find("unsupported keyword \"not\"") != std::string::npos);
}

namespace {

// The value after "PPL = " in `hearth perplexity`'s output, or -1.
double printed_ppl(const std::string& out) {
  const size_t at = out.find("PPL = ");
  return at == std::string::npos ? -1 : std::stod(out.substr(at + 6));
}

}  // namespace

TEST_CASE("perplexity: llama.cpp's figure, with a progress bar and the standard error", "[cli][perplexity]") {
  const std::string text = shared_path("text/little-stories.txt");
  auto r = run_process({hearth_bin, "perplexity", "-m", stories_f32, "-f", text, "-c", "128", "-t", "2"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::abs(printed_ppl(r.out) - 4.3339) <= 0.005);  // llama-perplexity, ../shared/README.md
  CHECK(r.out.find("+/- 0.28") != std::string::npos);      // its standard error: 0.28712
  CHECK(r.out.find("11 chunks of 128 tokens, 693 predictions scored") != std::string::npos);
  CHECK(r.err.find("11/11 chunks") != std::string::npos);  // the progress bar's last state
}

TEST_CASE("perplexity: saved log-probabilities, then KL divergence of a 4-bit copy", "[cli][perplexity]") {
  temp_dir dir;
  const std::string text = shared_path("text/little-stories.txt"), base = dir.file("f32.logits").string();
  auto save = run_process({hearth_bin, "perplexity", "-m", stories_f32, "-f", text, "--save-logits", base});
  INFO(save.err);
  REQUIRE(save.exit_code == 0);
  CHECK(std::filesystem::file_size(base) > 11 * 63 * 512 * 2);
  auto kl = run_process({hearth_bin, "perplexity", "-m", shared_path("models/stories260K-q4_0.gguf"), "-f", text,
                         "--kl-divergence", base});
  INFO(kl.out << kl.err);
  REQUIRE(kl.exit_code == 0);
  CHECK(std::abs(printed_ppl(kl.out) - 4.6576) <= 0.005);
  for (const char* line : {"PPL(base)        4.33", "PPL(this)        4.6", "mean KLD", "99% KLD", "same top token"}) {
    CHECK(kl.out.find(line) != std::string::npos);
  }

  // Another text, a missing file, too short a text: refused, naming the problem.
  const std::string other = dir.file("other.txt").string(), shorter = dir.file("short.txt").string();
  std::ofstream(other) << read_text(text).substr(40);
  std::ofstream(shorter) << "Once upon a time there was a cat.";
  auto mismatch = run_process({hearth_bin, "perplexity", "-m", stories_f32, "-f", other, "--kl-divergence", base});
  CHECK(mismatch.exit_code == 2);
  CHECK(mismatch.err.find("does not tokenize into the tokens") != std::string::npos);
  auto missing = run_process({hearth_bin, "perplexity", "-m", stories_f32, "-f", text, "--kl-divergence",
                              dir.file("none.logits").string()});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("none.logits") != std::string::npos);
  auto too_short = run_process({hearth_bin, "perplexity", "-m", stories_f32, "-f", shorter});
  CHECK(too_short.exit_code == 2);
  CHECK(too_short.err.find("needs at least 256") != std::string::npos);
}

TEST_CASE("quantize: a model in a smaller type, its sizes, and refusals that name the problem", "[cli][quantize]") {
  temp_dir dir;
  const std::string out = dir.file("stories-q4_0.gguf").string();
  auto r = run_process({hearth_bin, "quantize", stories_f32, out, "Q4_0", "-t", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("1.0 MiB -> 0.3 MiB (10.90 bits per weight") != std::string::npos);
  CHECK(r.out.find("bits per weight") != std::string::npos);
  CHECK(r.err.find("blk.0.ffn_down.weight: rows of 172 do not fit Q4_0") != std::string::npos);
  CHECK(r.err.find("47/47 tensors") != std::string::npos);  // the progress bar's last state
  auto info = run_process({hearth_bin, "info", "-m", out});
  CHECK(info.out.find("Q4_0: 30") != std::string::npos);

  auto requant = run_process({hearth_bin, "quantize", out, dir.file("again.gguf").string(), "q4_k_m"});
  CHECK(requant.exit_code == 0);
  CHECK(requant.err.find("warning: 30 tensors are already quantized") != std::string::npos);

  auto unknown = run_process({hearth_bin, "quantize", stories_f32, dir.file("x.gguf").string(), "q3_q"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("unknown quantization type 'q3_q'") != std::string::npos);
  CHECK(unknown.err.find("q4_k_m") != std::string::npos);
  auto onto_itself = run_process({hearth_bin, "quantize", out, out, "q8_0"});
  CHECK(onto_itself.exit_code == 2);
  auto missing = run_process({hearth_bin, "quantize", "/nonexistent/in.gguf", dir.file("y.gguf").string(), "q8_0"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("/nonexistent/in.gguf") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("y.gguf")));
}

TEST_CASE("run --quantize: the same text as llama-quantize's file, and no file left behind", "[cli][quantize]") {
  temp_dir tmp;
  const std::string prompt = "Once upon a time";
  auto quantized = run_process({"/usr/bin/env", "TMPDIR=" + tmp.file("").string(), hearth_bin, "run", "-m",
                                shared_path("models/arch/tiny-llama-f16.gguf"), "--quantize", "q4_k_m", "-p", prompt,
                                "-n", "24", "--temp", "0"});
  INFO(quantized.err);
  REQUIRE(quantized.exit_code == 0);
  CHECK(quantized.err.find("quantizing") != std::string::npos);
  auto reference = run_process({hearth_bin, "run", "-m", shared_path("models/arch/tiny-llama-q4_k_m.gguf"), "-p", prompt,
                                "-n", "24", "--temp", "0"});
  CHECK(quantized.out == reference.out);
  CHECK(std::filesystem::is_empty(tmp.file("")));
  auto bad = run_process({hearth_bin, "run", "-m", stories_f32, "--quantize", "q9", "-p", "x"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("unknown quantization type 'q9'") != std::string::npos);
}

TEST_CASE("prune: block scores, a loadable smaller model, perplexity before and after, refusals", "[cli][prune]") {
  temp_dir dir;
  const std::string text = shared_path("text/little-stories.txt");
  const std::string out = dir.file("stories-pruned.gguf").string();
  auto r = run_process({hearth_bin, "prune", "-m", stories_f32, "-f", text, "--drop", "1", "-o", out, "--eval", text,
                        "-t", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("block  BI score") != std::string::npos);
  for (const char* block : {"\n      0  0.", "\n      1  0.", "\n      2  0.", "\n      3  0.", "\n      4  0."}) {
    CHECK(r.out.find(block) != std::string::npos);
  }
  size_t dropped = 0;
  for (size_t at = r.out.find("  dropped\n"); at != std::string::npos; at = r.out.find("  dropped\n", at + 1)) ++dropped;
  CHECK(dropped == 1);
  CHECK(r.out.find("5 -> 4 blocks") != std::string::npos);
  // Before: the F32 model's own perplexity (llama-perplexity's 4.3339, ../shared/README.md).
  const size_t before = r.out.find("before  ");
  const size_t after = r.out.find("after   ");
  REQUIRE(before != std::string::npos);
  REQUIRE(after != std::string::npos);
  const double ppl_before = std::stod(r.out.substr(before + 8));
  const double ppl_after = std::stod(r.out.substr(after + 8));
  CHECK(std::abs(ppl_before - 4.3339) <= 0.005);
  CHECK(ppl_after > ppl_before);
  CHECK(!std::filesystem::exists(out + ".tmp"));

  auto info = run_process({hearth_bin, "info", "-m", out});
  INFO(info.out << info.err);
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("layers          4") != std::string::npos);
  CHECK(info.out.find("tensors: 38") != std::string::npos);  // 47 less one block's 9

  for (const char* n : {"0", "5", "-1"}) {
    const std::string bad_out = dir.file(std::string("bad") + n + ".gguf").string();
    auto bad = run_process({hearth_bin, "prune", "-m", stories_f32, "-f", text, "--drop", n, "-o", bad_out});
    INFO("--drop " << n << ": " << bad.err);
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--drop") != std::string::npos);
    CHECK(!std::filesystem::exists(bad_out));
  }
  const std::string shorter = dir.file("short.txt").string();
  std::ofstream(shorter) << "Once upon a time, there was a cat.";
  auto too_short = run_process({hearth_bin, "prune", "-m", stories_f32, "-f", shorter, "--drop", "1", "-o", out + "2"});
  CHECK(too_short.exit_code == 2);
  CHECK(too_short.err.find("calibration text is") != std::string::npos);
}

namespace {

// The number after `label` in a command's output (NaN when absent).
double imatrix_cli_figure(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  return at == std::string::npos ? std::nan("") : std::stod(out.substr(at + label.size()));
}

// Mean KL divergence of `model` from the saved base log-probabilities on the text.
double imatrix_cli_kld(const std::string& model, const std::string& base, const std::string& text) {
  auto r = run_process({hearth_bin, "perplexity", "-m", model, "-f", text, "-c", "128", "--kl-divergence", base, "-t", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return imatrix_cli_figure(r.out, "mean KLD");
}

}  // namespace

TEST_CASE("imatrix: computed on a text, it brings Q4_0/Q4_1 and Q2_K closer to the original", "[cli][imatrix]") {
  temp_dir dir;
  const std::string text = shared_path("text/little-stories.txt");
  struct case_t {
    std::string model, name;
    std::vector<std::string> types;
  };
  // stories260K's rows (64, 172) fit only 32-element blocks; tiny-llama's (256, 512) fit K blocks.
  for (const case_t& c : {case_t{stories_f32, "stories", {"q4_0", "q4_1"}},
                          case_t{shared_path("models/arch/tiny-llama-f16.gguf"), "tiny-llama", {"q2_k", "q4_k_m"}}}) {
    const std::string im = dir.file(c.name + ".imatrix.gguf").string();
    auto r = run_process({hearth_bin, "imatrix", "-m", c.model, "-f", text, "-c", "128", "-o", im, "-t", "2"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("11 chunks of 128 tokens") != std::string::npos);
    CHECK(r.err.find("11/11 chunks") != std::string::npos);
    auto info = run_process({hearth_bin, "info", "-m", im, "--metadata"});
    INFO(info.out << info.err);
    CHECK(info.exit_code == 0);
    CHECK(info.out.find("importance matrix: ") != std::string::npos);
    CHECK(info.out.find("general.type") != std::string::npos);

    const std::string base = dir.file(c.name + ".logits").string();
    REQUIRE(run_process({hearth_bin, "perplexity", "-m", c.model, "-f", text, "-c", "128", "--save-logits", base, "-t", "2"})
                .exit_code == 0);
    for (const std::string& type : c.types) {
      const std::string plain = dir.file(c.name + "-" + type + ".gguf").string();
      const std::string weighted = dir.file(c.name + "-" + type + "-im.gguf").string();
      REQUIRE(run_process({hearth_bin, "quantize", c.model, plain, type, "-t", "2"}).exit_code == 0);
      auto q = run_process({hearth_bin, "quantize", c.model, weighted, type, "--imatrix", im, "-t", "2"});
      INFO(type << ": " << q.out << q.err);
      REQUIRE(q.exit_code == 0);
      CHECK(q.err.find("tensors weighted by it") != std::string::npos);
      auto meta = run_process({hearth_bin, "info", "-m", weighted, "--metadata"});
      CHECK(meta.out.find("quantize.imatrix.file") != std::string::npos);
      CHECK(meta.out.find("quantize.imatrix.entries_count") != std::string::npos);
      const double kld_plain = imatrix_cli_kld(plain, base, text);
      const double kld_weighted = imatrix_cli_kld(weighted, base, text);
      INFO("mean KLD from the original: " << kld_plain << " without, " << kld_weighted << " with the imatrix");
      // Measured (docs/quantization.md): stories260K Q4_0 0.0791 -> 0.0682, Q4_1 0.0594 -> 0.0393;
      // tiny-llama (random weights: little for an imatrix to find) Q2_K 0.0947 -> 0.0848, Q4_K_M
      // 0.00716 -> 0.00718 (equal within its standard error, 0.00006).
      if (type == "q4_k_m") {
        CHECK(kld_weighted <= 1.05 * kld_plain);
      } else {
        CHECK(kld_weighted < 0.92 * kld_plain);
      }
    }
  }
  auto missing = run_process({hearth_bin, "quantize", stories_f32, dir.file("x.gguf").string(), "q4_0", "--imatrix", stories_f32});
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("not an importance matrix") != std::string::npos);

  // Quantizing at start-up takes the same matrix: `run --quantize q4_1 --imatrix` writes what the
  // file `quantize --imatrix` wrote does (q4_1: the type the imatrix moved most).
  const std::string im = dir.file("stories.imatrix.gguf").string();
  const std::string prompt = "Once upon a time";
  auto from_file = run_process({hearth_bin, "run", "-m", dir.file("stories-q4_1-im.gguf").string(), "-p", prompt, "-n", "24",
                                "--temp", "0"});
  auto at_start = run_process({hearth_bin, "run", "-m", stories_f32, "-p", prompt, "-n", "24", "--temp", "0", "--quantize",
                               "q4_1", "--imatrix", im});
  auto unweighted = run_process({hearth_bin, "run", "-m", dir.file("stories-q4_1.gguf").string(), "-p", prompt, "-n", "24",
                                 "--temp", "0"});
  INFO(at_start.err);
  REQUIRE(at_start.exit_code == 0);
  CHECK(at_start.out == from_file.out);
  CHECK(at_start.out != unweighted.out);  // the matrix did change the tensors
  auto alone = run_process({hearth_bin, "run", "-m", stories_f32, "-p", prompt, "--imatrix", im});
  CHECK(alone.exit_code == 2);
  CHECK(alone.err.find("--imatrix weighs --quantize: give both") != std::string::npos);
  auto serve_alone = run_process({hearth_bin, "serve", "--port", "0", "--imatrix", im});
  CHECK(serve_alone.exit_code == 2);
  CHECK(serve_alone.err.find("--imatrix weighs --quantize: give both") != std::string::npos);
}
