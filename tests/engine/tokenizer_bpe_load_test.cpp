// Byte-level BPE on small vocabularies written here: load errors, and the merge rules on inputs
// small enough to work out by hand.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "load_error.h"
#include "tokenizer/vocab.h"

using namespace hearth;
using namespace hearth::test;
using Catch::Matchers::Contains;

namespace {

// GPT-2's byte-level characters for the bytes used below: ' ' is "Ġ", '\n' is "Ċ".
const std::string space = "\xC4\xA0", newline = "\xC4\x8A";

struct bpe_spec {
  std::vector<std::string> tokens{"a", "b", "c", "d", space, newline};
  std::vector<std::string> merges;
  std::string pre = "gpt-2";

  token_id add(const std::string& t) {
    tokens.push_back(t);
    return static_cast<token_id>(tokens.size() - 1);
  }
  static token_id id(char c) { return c - 'a'; }
  gguf_writer writer(bool with_merges = true, bool with_pre = true) const {
    gguf_writer w;
    w.add_kv("tokenizer.ggml.model", gguf_meta_value::string("gpt2"));
    if (with_pre) w.add_kv("tokenizer.ggml.pre", gguf_meta_value::string(pre));
    w.add_kv("tokenizer.ggml.tokens", gguf_meta_value::string_array(tokens));
    if (with_merges) w.add_kv("tokenizer.ggml.merges", gguf_meta_value::string_array(merges));
    return w;
  }
};

vocab load(const gguf_writer& w) {
  temp_dir dir;
  w.write(dir.file("v.gguf"));
  gguf_file f = gguf_file::open(dir.file("v.gguf"));
  return vocab::from_gguf(f);
}

std::string load_error_message(const gguf_writer& w) {
  try {
    load(w);
  } catch (const load_error& e) {
    return e.what();
  }
  FAIL("from_gguf did not throw load_error");
  return {};
}

using ids = std::vector<token_id>;

}  // namespace

TEST_CASE("bpe: load errors name the key and the value", "[tokenizer][bpe]") {
  bpe_spec spec;
  SECTION("unknown pre-tokenizer") {
    spec.pre = "no-such-pre";
    std::string msg = load_error_message(spec.writer());
    CHECK_THAT(msg, Contains("tokenizer.ggml.pre"));
    CHECK_THAT(msg, Contains("\"no-such-pre\""));
    CHECK_THAT(msg, Contains("llama-bpe"));  // what is supported
  }
  SECTION("no merges") {
    CHECK_THAT(load_error_message(spec.writer(false)), Contains("missing metadata 'tokenizer.ggml.merges'"));
  }
  SECTION("merges of the wrong type") {
    gguf_writer w = spec.writer(false);
    w.add_kv("tokenizer.ggml.merges", gguf_meta_value::array(std::vector<int32_t>{1, 2}));
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.merges"));
  }
  SECTION("Llama 3's pre-tokenizer adds BOS by default, so it needs one") {
    spec.pre = "llama-bpe";
    std::string msg = load_error_message(spec.writer());
    CHECK_THAT(msg, Contains("tokenizer.ggml.add_bos_token"));
    CHECK_THAT(msg, Contains("tokenizer.ggml.bos_token_id"));
  }
}

TEST_CASE("bpe: an absent pre-tokenizer is llama.cpp's default", "[tokenizer][bpe]") {
  bpe_spec spec;
  vocab v = load(spec.writer(true, false));
  CHECK(v.pre_tokenizer() == "default");
  CHECK(v.bos() == -1);  // no SentencePiece defaults for byte-level BPE
  CHECK(v.eos() == -1);
  CHECK_FALSE(v.add_bos());
}

TEST_CASE("bpe: merges go by rank, leftmost first on ties", "[tokenizer][bpe]") {
  bpe_spec spec;
  const token_id ab = spec.add("ab"), bc = spec.add("bc"), abc = spec.add("abc"), aa = spec.add("aa");
  spec.merges = {"b c", "a b", "a bc", "a a"};
  vocab v = load(spec.writer());
  CHECK(v.tokenize("abc", false) == ids{abc});  // b+c (rank 0) first, then a+bc
  CHECK(v.tokenize("ab", false) == ids{ab});
  CHECK(v.tokenize("abab", false) == ids{ab, ab});
  CHECK(v.tokenize("aaa", false) == ids{aa, bpe_spec::id('a')});  // the leftmost pair merges first
  CHECK(v.tokenize("cbc", false) == ids{bpe_spec::id('c'), bc});
  CHECK(v.detokenize({abc, aa}) == "abcaa");

  bpe_spec other;
  const token_id ab2 = other.add("ab"), abc2 = other.add("abc");
  other.add("bc");
  other.merges = {"a b", "b c", "ab c"};  // a+b wins now, and "ab c" completes it
  vocab w = load(other.writer());
  CHECK(w.tokenize("abc", false) == ids{abc2});
  CHECK(w.tokenize("abd", false) == ids{ab2, bpe_spec::id('d')});
}

TEST_CASE("bpe: spaces and newlines are byte-level characters", "[tokenizer][bpe]") {
  bpe_spec spec;
  const token_id sp_a = spec.add(space + "a");
  spec.merges = {space + " a"};
  vocab v = load(spec.writer());
  // GPT-2's pre-tokenizer keeps the space with the word after it.
  CHECK(v.tokenize("a a\n", false) == ids{bpe_spec::id('a'), sp_a, 5});
  CHECK(v.token_to_bytes(sp_a) == " a");
  CHECK(v.token_to_bytes(5) == "\n");
  CHECK(v.detokenize(v.tokenize("a a\n", false)) == "a a\n");
}

TEST_CASE("bpe: merges with a side or result outside the vocabulary are skipped", "[tokenizer][bpe]") {
  bpe_spec spec;
  const token_id cd = spec.add("cd");
  spec.merges = {"a b", "c d", "x y"};  // "ab" is no token, nor "x" or "y"
  vocab v = load(spec.writer());
  CHECK(v.tokenize("ab", false) == ids{bpe_spec::id('a'), bpe_spec::id('b')});
  CHECK(v.tokenize("cd", false) == ids{cd});
}

TEST_CASE("bpe: Llama 3's ignore_merges takes a word that is a token whole", "[tokenizer][bpe]") {
  bpe_spec spec;
  const token_id abcd = spec.add("abcd");
  const token_id ab = spec.add("ab");
  spec.merges = {"a b"};  // no merge path reaches "abcd"
  gguf_writer w = spec.writer();
  w.add_kv("tokenizer.ggml.add_bos_token", gguf_meta_value::boolean(false));
  vocab gpt2 = load(w);
  CHECK(gpt2.tokenize("abcd", false) == ids{ab, bpe_spec::id('c'), bpe_spec::id('d')});

  spec.pre = "llama-bpe";
  gguf_writer w3 = spec.writer();
  w3.add_kv("tokenizer.ggml.add_bos_token", gguf_meta_value::boolean(false));
  vocab llama3 = load(w3);
  CHECK_FALSE(llama3.add_bos());
  CHECK(llama3.tokenize("abcd", false) == ids{abcd});
  CHECK(llama3.tokenize("abc", false) == ids{ab, bpe_spec::id('c')});
}

TEST_CASE("bpe: a byte without a character token is dropped, as in llama.cpp", "[tokenizer][bpe]") {
  bpe_spec spec;
  vocab v = load(spec.writer());
  CHECK(v.tokenize("aze", false) == ids{bpe_spec::id('a')});
}
