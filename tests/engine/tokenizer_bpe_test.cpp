// Byte-level BPE against llama.cpp's test vectors and the reference outputs of the two end-to-end
// fixtures that carry the real Llama 3 and Qwen vocabularies.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "reference.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"
#include "vocab_cases.h"

using namespace hearth;
using namespace hearth::test;

namespace {

struct bpe_vocab {
  const char* name;      // ggml-vocab-NAME.gguf
  int32_t n_tokens;      // as the file's tokenizer.ggml.tokens says
  const char* pre;       // tokenizer.ggml.pre
  bool add_bos;          // the file's add_bos_token, or llama.cpp's default for the pre-tokenizer
  token_id bos;
  bool clean_spaces;     // llama.cpp's clean_spaces for the pre-tokenizer
  std::vector<token_id> eog;  // what llama.cpp's vocab load marks end-of-generation
};

// Ids and flags read from the files with an independent GGUF reader; the EOG sets follow
// llama.cpp's rules (eos id, tokens with end-of-turn texts, FIM pad/repo/file-separator texts).
const std::vector<bpe_vocab> bpe_vocabs = {
    {"gpt-2", 50257, "gpt-2", false, 50256, true, {50256}},
    {"deepseek-coder", 32256, "deepseek-coder", true, 32013, false, {32014}},
    {"qwen2", 151669, "qwen2", false, -1, false, {151643, 151645, 151662, 151663, 151664}},
    {"llama-bpe", 128256, "llama-bpe", true, 128000, true, {128001, 128009}},
};

// The concatenated bytes of the tokens: what a stream of them prints.
std::string token_bytes(const vocab& v, const std::vector<token_id>& ids) {
  std::string out;
  for (token_id id : ids) out += v.token_to_bytes(id);
  return out;
}

// Invalid UTF-8 as the reference reader shows it: each maximal invalid subpart as U+FFFD.
std::string as_reference_text(const std::string& bytes) {
  utf8_stream s;
  return s.push(bytes) + s.flush();
}

}  // namespace

TEST_CASE("tokenizer: byte-level BPE vocabs pass llama.cpp's tokenizer vectors", "[tokenizer][bpe]") {
  size_t checked = 0;
  for (const bpe_vocab& b : bpe_vocabs) {
    const std::string path = vocab_path(b.name);
    vocab v = load_vocab(path);
    INFO(b.name);
    CHECK(v.size() == b.n_tokens);
    CHECK(v.tokenizer_name() == "byte-level BPE");
    CHECK(v.pre_tokenizer() == b.pre);
    CHECK(v.add_bos() == b.add_bos);
    CHECK_FALSE(v.add_eos());
    CHECK(v.cleans_up_spaces() == b.clean_spaces);
    if (b.bos >= 0) CHECK(v.bos() == b.bos);
    CHECK(std::vector<token_id>(v.eog_tokens().begin(), v.eog_tokens().end()) == b.eog);
    const std::vector<vocab_case> cases = read_vocab_cases(path);
    CHECK(cases.size() == 46);
    for (size_t i = 0; i < cases.size(); ++i) {
      const vocab_case& c = cases[i];
      INFO(b.name << " case " << i << ": \"" << c.input << "\"");
      CHECK(v.tokenize(c.input, false, false) == c.expected);
      // Byte-level BPE loses nothing: the tokens' bytes are the text.
      CHECK(token_bytes(v, c.expected) == c.input);
      CHECK(v.detokenize(c.expected) == c.input);
      std::vector<token_id> with_special = c.expected;
      if (b.add_bos) with_special.insert(with_special.begin(), v.bos());
      CHECK(v.tokenize(c.input, true, false) == with_special);
      CHECK(v.detokenize(with_special) == c.input);
      ++checked;
    }
  }
  CHECK(checked == 4 * 46);
}

TEST_CASE("tokenizer: Llama 3 and Qwen 2.5 fixtures tokenize their prompts as llama.cpp did", "[tokenizer][bpe]") {
  int prompts = 0, texts = 0;
  for (const std::string model : {"tiny-llama3-f16", "tiny-qwen25-f16"}) {
    vocab v = load_vocab(shared_path("models/arch/" + model + ".gguf"));
    CHECK(v.tokenizer_name() == "byte-level BPE");
    for (const reference_case& c : read_reference("arch/" + model + ".greedy.jsonl")) {
      INFO(model << ": \"" << c.prompt << "\"");
      CHECK(v.tokenize(c.prompt, true) == c.prompt_tokens);
      CHECK(v.detokenize(c.prompt_tokens) == c.prompt);
      // The generated text is the concatenation of the generated tokens' bytes (the reader
      // shows invalid UTF-8 as U+FFFD, so the bytes are compared the same way).
      const std::string bytes = token_bytes(v, c.greedy_tokens);
      CHECK(as_reference_text(bytes) == c.greedy_text);
      texts += bytes == c.greedy_text;  // texts that are valid UTF-8 match byte for byte
      ++prompts;
    }
  }
  CHECK(prompts == 6);
  CHECK(texts >= 1);
}

TEST_CASE("tokenizer: Llama 3 adds BOS, Qwen adds none", "[tokenizer][bpe]") {
  vocab llama3 = load_vocab(vocab_path("llama-bpe"));
  vocab qwen = load_vocab(vocab_path("qwen2"));
  CHECK(llama3.tokenize("", true) == std::vector<token_id>{128000});
  CHECK(qwen.tokenize("", true).empty());
  CHECK(llama3.tokenize("Hello", true).front() == 128000);
  CHECK(qwen.tokenize("Hello", true) == qwen.tokenize("Hello", false));
}

TEST_CASE("tokenizer: BPE special tokens split out with parse_special only", "[tokenizer][bpe]") {
  vocab qwen = load_vocab(vocab_path("qwen2"));
  const std::vector<vocab_case> cases = read_vocab_cases(vocab_path("qwen2"));
  auto hello = std::find_if(cases.begin(), cases.end(), [](const vocab_case& c) { return c.input == "Hello world"; });
  REQUIRE(hello != cases.end());
  const token_id im_start = 151644, im_end = 151645, think = 151667;
  REQUIRE(qwen.piece(im_start) == "<|im_start|>");
  REQUIRE(qwen.piece(think) == "<think>");

  std::vector<token_id> expected{im_start};
  expected.insert(expected.end(), hello->expected.begin(), hello->expected.end());
  expected.push_back(im_end);
  CHECK(qwen.tokenize("<|im_start|>Hello world<|im_end|>", false, true) == expected);
  // Without parse_special the control texts are plain text, which comes back unchanged.
  std::vector<token_id> plain = qwen.tokenize("<|im_start|>Hello world<|im_end|>", false, false);
  CHECK(std::find(plain.begin(), plain.end(), im_start) == plain.end());
  CHECK(std::find(plain.begin(), plain.end(), im_end) == plain.end());
  CHECK(qwen.detokenize(plain) == "<|im_start|>Hello world<|im_end|>");
  // User-defined tokens (Qwen 3's <think>) are pieces of plain text: always split out, always
  // rendered.
  std::vector<token_id> t = qwen.tokenize("<think>Hello world", false, false);
  REQUIRE(!t.empty());
  CHECK(t.front() == think);
  CHECK(qwen.detokenize(t) == "<think>Hello world");
  // Control tokens render only on request.
  CHECK(qwen.detokenize(expected) == "Hello world");
  CHECK(qwen.detokenize(expected, true) == "<|im_start|>Hello world<|im_end|>");
  CHECK(qwen.token_to_bytes(im_end) == "");
  CHECK(qwen.token_to_bytes(im_end, true) == "<|im_end|>");
}

TEST_CASE("tokenizer: every end-of-turn token ends generation", "[tokenizer][bpe]") {
  vocab llama3 = load_vocab(vocab_path("llama-bpe"));
  CHECK(llama3.eos() == 128001);
  CHECK(llama3.is_eog(128009));  // <|eot_id|>, which the file does not name
  CHECK_FALSE(llama3.is_eog(128008));  // Llama 3.0: <|reserved_special_token_4|>, 3.1's <|eom_id|>
  CHECK_FALSE(llama3.is_eog(128000));
  CHECK_FALSE(llama3.is_eog(128006));  // <|start_header_id|>
  vocab qwen = load_vocab(vocab_path("qwen2"));
  CHECK(qwen.is_eog(151645));  // <|im_end|>, the file's eos
  CHECK(qwen.is_eog(151643));  // <|endoftext|>
  CHECK_FALSE(qwen.is_eog(151644));
  // Qwen's "</s>" (128247) is a normal piece, HTML text: it neither ends generation nor turns
  // into a control token (llama.cpp makes it both by its text).
  REQUIRE(qwen.piece(128247) == "</s>");
  CHECK_FALSE(qwen.is_eog(128247));
  CHECK(qwen.type(128247) == token_type::normal);
  CHECK(qwen.token_to_bytes(128247) == "</s>");
  CHECK_FALSE(qwen.is_eog(-1));
  CHECK_FALSE(qwen.is_eog(qwen.size()));
}

TEST_CASE("tokenizer: llama.cpp's clean-up of spaces applies on request where the model asks",
          "[tokenizer][bpe]") {
  vocab gpt2 = load_vocab(vocab_path("gpt-2"));
  vocab qwen = load_vocab(vocab_path("qwen2"));
  const std::string text = "Hello , world . Isn 't it ? I 'm sure ' you 're right ! He 'll go";
  // Worked out by hand from llama.cpp's three passes: no space before , . ? !; " ' " -> "'";
  // no space before 's 'm 're 've (but before 'll, 't, 'd).
  const std::string cleaned = "Hello, world. Isn 't it? I'm sure'you're right! He 'll go";
  CHECK(gpt2.detokenize(gpt2.tokenize(text, false)) == text);
  CHECK(gpt2.detokenize(gpt2.tokenize(text, false), false, true) == cleaned);
  CHECK(qwen.detokenize(qwen.tokenize(text, false), false, true) == text);  // Qwen does not clean
}

TEST_CASE("tokenizer: BPE round-trips any UTF-8 text", "[tokenizer][bpe]") {
  // Pieces chosen to meet every branch of the pre-tokenizers: words in several scripts and
  // cases, contractions, digits, punctuation runs, every kind of whitespace (including non-ASCII
  // and runs before newlines), marks, emoji, CJK, special-token texts, and arbitrary code points.
  const std::vector<std::string> parts = {
      " ", "  ", "\n", "\r\n", "\t", "\xC2\xA0", "\xE3\x80\x80", "\xE2\x80\xA8", "a", "The", "HELLO", "don",
      "'s", "'RE", "'ll", "'", "0", "12345", "3.14", "!!", "...", "=>", "```", "/", "\xC3\xA9", "e\xCC\x81",
      "\xD0\xBD\xD0\xB5\xD1\x89\xD0\xBE", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xEA\xB0\x80", "\xE0\xA4\xB9\xE0\xA4\xBF",
      "\xF0\x9F\xA6\x99", "\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F", "\xE2\x85\xAB",
      "<|im_end|>", "<|eot_id|>", "<think>", "<|endoftext|>", "\xEF\xBD\x9C", std::string(1, '\0')};
  std::mt19937 rng(20250807);
  auto random_code_point = [&] {
    for (;;) {
      uint32_t c = std::uniform_int_distribution<uint32_t>(0, 0x10FFFF)(rng);
      if (c < 0xD800 || c > 0xDFFF) return c;
    }
  };
  auto utf8 = [](uint32_t c) {
    std::string s;
    append_utf8(s, c);
    return s;
  };
  int checked = 0;
  for (const bpe_vocab& b : bpe_vocabs) {
    vocab v = load_vocab(vocab_path(b.name));
    for (int iter = 0; iter < 300; ++iter) {
      std::string text;
      for (int k = std::uniform_int_distribution<int>(0, 14)(rng); k > 0; --k) {
        if (std::uniform_int_distribution<int>(0, 5)(rng) == 0) text += utf8(random_code_point());
        else text += parts[std::uniform_int_distribution<size_t>(0, parts.size() - 1)(rng)];
      }
      INFO(b.name << ": \"" << text << "\"");
      const std::vector<token_id> ids = v.tokenize(text, false);
      CHECK(token_bytes(v, ids) == text);
      CHECK(v.detokenize(ids) == text);
      CHECK(v.detokenize(v.tokenize(text, true)) == text);
      for (token_id id : v.tokenize(text, true, true)) {
        CHECK(id >= 0);
        CHECK(id < v.size());
      }
      ++checked;
    }
  }
  CHECK(checked == 4 * 300);
}

TEST_CASE("tokenizer: streamed BPE tokens come out as whole characters", "[tokenizer][bpe]") {
  // Byte-level tokens often hold part of a character (an emoji's four bytes over two tokens):
  // utf8_stream holds the part back, so a stream never shows U+FFFD for valid text.
  int split_characters = 0;
  for (const char* name : {"qwen2", "llama-bpe"}) {
    vocab v = load_vocab(vocab_path(name));
    for (const vocab_case& c : read_vocab_cases(vocab_path(name))) {
      utf8_stream stream;
      std::string text;
      for (token_id id : c.expected) {
        const std::string bytes = v.token_to_bytes(id);
        std::string out = stream.push(bytes);
        split_characters += out != bytes;
        CHECK(out.find("\xEF\xBF\xBD") == std::string::npos);
        text += out;
      }
      text += stream.flush();
      CHECK(text == c.input);
    }
  }
  CHECK(split_characters > 0);  // the vectors do split characters across tokens
}

TEST_CASE("tokenizer: BPE keeps invalid UTF-8 bytes", "[tokenizer][bpe]") {
  // llama.cpp turns each invalid byte into U+FFFD; hearth encodes the byte itself, so nothing is
  // lost. (Not DeepSeek Coder: its vocabulary has user-defined tokens for some bytes' characters,
  // which decode as those characters.)
  for (const char* name : {"gpt-2", "qwen2", "llama-bpe"}) {
    vocab v = load_vocab(vocab_path(name));
    for (const std::string& text : {std::string("a\xFF" "b"), std::string("\xE2\x96"), std::string("x \x80\x80 y"),
                                   std::string("\xC0\xAF\xED\xA0\x80"), std::string("caf\xC3")}) {
      INFO(name << ": " << text);
      CHECK(token_bytes(v, v.tokenize(text, false)) == text);
    }
  }
}
