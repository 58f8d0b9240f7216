#include "fuzz_seeds.h"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <tuple>

#include "fuzz_fixtures.h"
#include "gguf/gguf_writer.h"
#include "model/quant_mix.h"
#include "model/synth.h"
#include "perplexity.h"

namespace hearth::fuzz {

namespace {

namespace fs = std::filesystem;
using bytes = std::vector<uint8_t>;

const fs::path shared_dir = HEARTH_SHARED_DIR;
const fs::path source_dir = HEARTH_SOURCE_DIR;

bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return bytes(std::istreambuf_iterator<char>(in), {});
}

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

// A model small enough to mutate quickly (~20 KB besides its 512-token vocabulary): one layer,
// 32-dim (Q8_0/Q4_0 blocks are 32 wide), 2 heads sharing 1 KV head, 64 positions.
// `mix`: a whole-file type whose blocks are 32 wide ("f16", "q8_0", "q4_0").
bytes tiny_model(std::string_view mix, const fs::path& scratch) {
  synth_options o;
  o.shape = {"fuzz-seed", 32, 1, 2, 1, 32, 64};
  o.mix = *find_quant_mix(mix);
  const ggml_type type = o.mix.base;
  o.vocab_file = shared_dir / "models" / "stories260K-f32.gguf";
  o.seed = 7;
  const fs::path out = scratch / ("tiny-" + std::string(ggml_type_name(type)) + ".gguf");
  write_synth_model(o, out);
  bytes b = read_file(out);
  fs::remove(out);
  return b;
}

// Log-probability files (perplexity --save-logits) of three shapes, rows of seeded random logits.
void add_logprob_files(std::map<std::string, bytes>& corpus, const fs::path& scratch) {
  std::mt19937 rng(11);
  std::normal_distribution<float> logit(0.0f, 4.0f);
  for (const auto& [n_vocab, n_ctx, n_chunks] : {std::tuple{16u, 8u, 2u}, std::tuple{512u, 8u, 1u}, std::tuple{5u, 4u, 3u}}) {
    const uint32_t rows = n_ctx - n_ctx / 2 - 1;
    const fs::path out = scratch / "seed.logits";
    logprob_writer w(out, logprob_header{n_vocab, n_ctx, n_chunks, rows, std::vector<token_id>(n_chunks * n_ctx, 1)});
    std::vector<float> row(n_vocab);
    for (uint32_t r = 0; r < n_chunks * rows; ++r) {
      for (float& x : row) x = logit(rng);
      w.add_row(row);
    }
    w.finish();
    corpus["vocab" + std::to_string(n_vocab) + "-ctx" + std::to_string(n_ctx) + "-chunks" + std::to_string(n_chunks)] =
        read_file(out);
    fs::remove(out);
  }
}

// Every metadata value type, nested arrays and a non-default alignment: the parser's branches.
bytes every_value_type(const fs::path& scratch) {
  gguf_writer w;
  w.add_kv("general.alignment", gguf_meta_value::u32(64));
  w.add_kv("u8", gguf_meta_value::u8(1));
  w.add_kv("i8", gguf_meta_value::i8(-1));
  w.add_kv("u16", gguf_meta_value::u16(2));
  w.add_kv("i16", gguf_meta_value::i16(-2));
  w.add_kv("u32", gguf_meta_value::u32(3));
  w.add_kv("i32", gguf_meta_value::i32(-3));
  w.add_kv("u64", gguf_meta_value::u64(4));
  w.add_kv("i64", gguf_meta_value::i64(-4));
  w.add_kv("f32", gguf_meta_value::f32(0.5f));
  w.add_kv("f64", gguf_meta_value::f64(0.25));
  w.add_kv("bool", gguf_meta_value::boolean(true));
  w.add_kv("string", gguf_meta_value::string("text"));
  w.add_kv("i32s", gguf_meta_value::array(std::vector<int32_t>{1, -2, 3}));
  w.add_kv("f32s", gguf_meta_value::array(std::vector<float>{1.5f, -2.5f}));
  w.add_kv("u8s", gguf_meta_value::array(std::vector<uint8_t>{1, 2}));
  w.add_kv("bools", gguf_meta_value::bool_array({true, false}));
  w.add_kv("strings", gguf_meta_value::string_array(std::vector<std::string>{"a", "bc"}));
  const gguf_meta_value inner[] = {gguf_meta_value::array(std::vector<int16_t>{1, 2}),
                                   gguf_meta_value::string_array(std::vector<std::string>{"x"})};
  w.add_kv("nested", gguf_meta_value::array_of_arrays(inner));
  w.add_tensor("f32", ggml_type::f32, {4, 2}, bytes(32, 0x3f));
  w.add_tensor("q8_0", ggml_type::q8_0, {32}, bytes(34, 1));
  w.add_tensor("f16", ggml_type::f16, {2, 1, 1, 2}, bytes(8, 0x3c));
  const fs::path out = scratch / "every-value-type.gguf";
  w.write(out);
  bytes b = read_file(out);
  fs::remove(out);
  return b;
}

// The raw-string JSON objects of the request tests ("R\"(" ... ")\"").
std::vector<std::string> test_request_bodies() {
  std::vector<std::string> out;
  for (const char* sub : {"tests/proto", "tests/server"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(source_dir / sub))
      if (e.path().extension() == ".cpp") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& p : files) {
      const bytes b = read_file(p);
      const std::string src(b.begin(), b.end());
      for (size_t at = src.find("R\"("); at != std::string::npos; at = src.find("R\"(", at + 3)) {
        const size_t end = src.find(")\"", at + 3);
        if (end == std::string::npos) break;
        std::string body = src.substr(at + 3, end - at - 3);
        if (nlohmann::json::accept(body) && nlohmann::json::parse(body).is_object()) out.push_back(body);
      }
    }
  }
  return out;
}

void add_vocab_inputs(std::map<std::string, bytes>& corpus) {
  // The flags byte's bits 2.. pick the vocabulary (tokenizer_target.cpp's table order).
  const std::pair<const char*, uint8_t> files[] = {
      {"ggml-vocab-llama-spm.gguf.inp", 0 << 2},      {"ggml-vocab-phi-3.gguf.inp", 1 << 2},
      {"ggml-vocab-gpt-2.gguf.inp", 2 << 2},          {"ggml-vocab-deepseek-coder.gguf.inp", 3 << 2},
      {"ggml-vocab-qwen2.gguf.inp", 4 << 2},          {"ggml-vocab-llama-bpe.gguf.inp", 5 << 2},
      {"ggml-vocab-bert-bge.gguf.inp", 6 << 2}};
  for (const auto& [file, vocab_flag] : files) {
    const bytes b = read_file(shared_dir / "vocab" / file);
    const std::string all(b.begin(), b.end());
    const std::string sep = "\n__ggml_vocab_test__\n";
    size_t at = 0, n = 0;
    while (at <= all.size()) {
      size_t end = all.find(sep, at);
      if (end == std::string::npos) end = all.size();
      // Flags cycle through add_special / parse_special so every path starts seeded.
      bytes seed = {static_cast<uint8_t>(vocab_flag | (n % 4))};
      seed.insert(seed.end(), all.begin() + static_cast<std::ptrdiff_t>(at), all.begin() + static_cast<std::ptrdiff_t>(end));
      corpus[std::string(file) + "-" + std::to_string(n++)] = std::move(seed);
      at = end + sep.size();
    }
  }
}

void add_chat_cases(std::map<std::string, bytes>& corpus) {
  const bytes b = read_file(shared_dir / "templates" / "cases.json");
  const nlohmann::json cases = nlohmann::json::parse(b.begin(), b.end())["cases"];
  const size_t n_templates = shared_chat_templates().size();
  for (size_t c = 0; c < cases.size(); ++c) {
    const nlohmann::json& vars = cases[c]["vars"];
    const std::string body = nlohmann::json{{"messages", vars["messages"]}}.dump();
    const uint8_t gen = vars.value("add_generation_prompt", false) ? 1 : 0;
    // Each conversation under every template, alternating the two vocabularies.
    for (size_t t = 0; t < n_templates; ++t) {
      bytes seed = {static_cast<uint8_t>(t), static_cast<uint8_t>(gen | ((t & 1) << 1))};
      seed.insert(seed.end(), body.begin(), body.end());
      corpus[cases[c]["name"].get<std::string>() + "-t" + std::to_string(t)] = std::move(seed);
    }
  }
}

// Every template's text (the "" of a model without one skipped) with each conversation of
// cases.json and its globals, separated by a NUL byte as jinja_target.cpp reads them.
// Grammars and schemas with a text each grammar accepts, separated by a NUL byte as
// grammar_target.cpp reads them.
void add_grammar_inputs(std::map<std::string, bytes>& corpus) {
  const std::pair<std::string, std::string> inputs[] = {
      {R"(root ::= "yes" | "no")", "yes"},
      {R"(root ::= [a-c]+ [^a-c] "x"{2,4} .?)", "abcdxxx\xC3\xA9"},
      {"root ::= pair*  # comment\npair ::=\n  \"(\" pair* \")\"\n", "(()())"},
      {R"(root ::= "a" root? "b"?)", "aaab"},
      {R"(root   ::= ws value ws
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"
array  ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= [ \t\n\r]*)",
       R"({"a": [1, -2.5e3, "\u00e9", {"b": null}], "c": true})"},
      {R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer",
          "minimum": 0, "maximum": 120}}, "required": ["name", "age"]})",
       R"({"name":"Ann","age":31})"},
      {R"({"type": "array", "items": {"enum": ["a", 1, null]}, "minItems": 1, "maxItems": 3})", R"(["a",1])"},
      {R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf":
          [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"]}}, "$ref": "#/$defs/node"})",
       R"({"v":1,"next":{"v":2,"next":null}})"},
      {R"({"type": "string", "format": "date"})", R"("2024-02-29")"},
      {R"({"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"})", R"("AB-123")"},
  };
  int i = 0;
  for (const auto& [spec, text] : inputs) {
    std::string all = spec;
    all.push_back('\0');
    all += text;
    corpus["case-" + std::to_string(i++)] = to_bytes(all);
  }
}

void add_jinja_cases(std::map<std::string, bytes>& corpus) {
  const bytes b = read_file(shared_dir / "templates" / "cases.json");
  const nlohmann::json all = nlohmann::json::parse(b.begin(), b.end());
  const std::vector<std::string>& templates = shared_chat_templates();
  for (const nlohmann::json& c : all["cases"]) {
    nlohmann::json vars = all.value("globals", nlohmann::json::object());
    vars.update(c["vars"]);
    const std::string json = vars.dump();
    for (size_t t = 1; t < templates.size(); ++t) {
      bytes seed = to_bytes(templates[t]);
      seed.push_back(0);
      seed.insert(seed.end(), json.begin(), json.end());
      corpus[c["name"].get<std::string>() + "-t" + std::to_string(t)] = std::move(seed);
    }
  }
}

}  // namespace

seed_corpora make_seed_corpora() {
  seed_corpora c;
  const fs::path scratch = fs::temp_directory_path() / ("hearth-fuzz-seeds-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  for (std::string_view mix : {"f16", "q8_0", "q4_0"}) {
    const bytes m = tiny_model(mix, scratch);
    const std::string name = "tiny-" + std::string(ggml_type_name(find_quant_mix(mix)->base));
    c["model"][name] = m;
    c["gguf"][name] = m;
  }
  c["model"]["stories260K-q4_0"] = read_file(shared_dir / "models" / "stories260K-q4_0.gguf");
  c["gguf"]["every-value-type"] = every_value_type(scratch);
  add_logprob_files(c["logprobs"], scratch);
  fs::remove_all(scratch);

  add_vocab_inputs(c["tokenizer"]);
  const std::vector<std::string> bodies = test_request_bodies();
  for (size_t i = 0; i < bodies.size(); ++i) {
    c["requests"]["test-body-" + std::to_string(i)] = to_bytes(bodies[i]);
    c["ws_message"]["test-body-" + std::to_string(i)] = to_bytes(bodies[i]);
  }
  add_chat_cases(c["chat_template"]);
  add_jinja_cases(c["jinja"]);
  add_grammar_inputs(c["grammar"]);
  return c;
}

void write_seed_corpora(const seed_corpora& corpora, const std::filesystem::path& dir) {
  for (const auto& [target, seeds] : corpora) {
    const fs::path d = dir / target;
    fs::remove_all(d);
    fs::create_directories(d);
    for (const auto& [name, data] : seeds) {
      std::ofstream out(d / name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
      if (!out) throw std::runtime_error("cannot write " + (d / name).string());
    }
  }
}

}  // namespace hearth::fuzz
