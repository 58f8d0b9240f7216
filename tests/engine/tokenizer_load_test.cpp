// The tokenizer on small vocabularies written here: metadata validation, and the merge rules
// checked on inputs small enough to work out by hand.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "gguf/gguf_file.h"
#include "load_error.h"
#include "tokenizer/vocab.h"

using namespace hearth;

namespace {

// Writes GGUF v3 files with metadata only (no tensors).
class vocab_gguf_writer {
 public:
  void add_string(const std::string& key, const std::string& v) { header(key, 8); put_str(v); }
  void add_u32(const std::string& key, uint32_t v) { header(key, 4); put(v); }
  void add_i32(const std::string& key, int32_t v) { header(key, 5); put(v); }
  void add_bool(const std::string& key, bool v) { header(key, 7); put(static_cast<uint8_t>(v)); }
  void add_string_array(const std::string& key, const std::vector<std::string>& v) {
    array_header(key, 8, v.size());
    for (const auto& s : v) put_str(s);
  }
  void add_f32_array(const std::string& key, const std::vector<float>& v) {
    array_header(key, 6, v.size());
    for (float x : v) put(x);
  }
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    array_header(key, 5, v.size());
    for (int32_t x : v) put(x);
  }
  void write(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary);
    out.write("GGUF", 4);
    const uint32_t version = 3;
    const uint64_t n_tensors = 0;
    out.write(reinterpret_cast<const char*>(&version), 4);
    out.write(reinterpret_cast<const char*>(&n_tensors), 8);
    out.write(reinterpret_cast<const char*>(&n_kv_), 8);
    out.write(body_.data(), static_cast<std::streamsize>(body_.size()));
  }

 private:
  template <class T>
  void put(T v) { body_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void put_str(const std::string& s) {
    put(static_cast<uint64_t>(s.size()));
    body_ += s;
  }
  void header(const std::string& key, uint32_t type) {
    put_str(key);
    put(type);
    ++n_kv_;
  }
  void array_header(const std::string& key, uint32_t elem_type, size_t n) {
    header(key, 9);
    put(elem_type);
    put(static_cast<uint64_t>(n));
  }
  std::string body_;
  uint64_t n_kv_ = 0;
};

// A vocabulary under construction: <unk>, <s>, </s>, the 256 byte tokens, then what a test adds.
struct vocab_spec {
  std::vector<std::string> tokens{"<unk>", "<s>", "</s>"};
  std::vector<float> scores{0, 0, 0};
  std::vector<int32_t> types{2, 3, 3};

  vocab_spec() {
    for (int b = 0; b < 256; ++b) {
      char text[8];
      std::snprintf(text, sizeof text, "<0x%02X>", b);
      add(text, 0, 6);
    }
  }
  token_id add(const std::string& piece, float score, int32_t type = 1) {
    tokens.push_back(piece);
    scores.push_back(score);
    types.push_back(type);
    return static_cast<token_id>(tokens.size() - 1);
  }
  static token_id byte(int b) { return 3 + b; }

  // The standard keys; a test that wants its own scores or types leaves them out here (a key
  // written twice makes the file invalid) and adds them to the returned writer.
  vocab_gguf_writer writer(bool with_scores = true, bool with_types = true) const {
    vocab_gguf_writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    if (with_scores) w.add_f32_array("tokenizer.ggml.scores", scores);
    if (with_types) w.add_i32_array("tokenizer.ggml.token_type", types);
    return w;
  }
};

class temp_gguf {
 public:
  explicit temp_gguf(const vocab_gguf_writer& w) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("hearth-tokenizer-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++) + ".gguf");
    w.write(path_);
  }
  ~temp_gguf() { std::filesystem::remove(path_); }
  temp_gguf(const temp_gguf&) = delete;
  temp_gguf& operator=(const temp_gguf&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

vocab load(const vocab_gguf_writer& w) {
  temp_gguf file(w);
  gguf_file f = gguf_file::open(file.path());
  return vocab::from_gguf(f);
}

// The message of the load_error that loading throws; fails the test if it throws nothing else.
std::string load_error_message(const vocab_gguf_writer& w) {
  temp_gguf file(w);
  gguf_file f = gguf_file::open(file.path());
  try {
    vocab::from_gguf(f);
  } catch (const load_error& e) {
    return e.what();
  }
  FAIL("from_gguf did not throw load_error");
  return {};
}

using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("tokenizer: vocab load errors name the key", "[tokenizer]") {
  vocab_spec spec;

  SECTION("scores shorter than tokens") {
    vocab_gguf_writer w = spec.writer(false, true);
    std::vector<float> short_scores(spec.scores.begin(), spec.scores.end() - 1);
    w.add_f32_array("tokenizer.ggml.scores", short_scores);
    std::string msg = load_error_message(w);
    CHECK_THAT(msg, Contains("tokenizer.ggml.scores"));
    CHECK_THAT(msg, Contains(std::to_string(short_scores.size())));
    CHECK_THAT(msg, Contains("expected " + std::to_string(spec.tokens.size())));
  }
  SECTION("token types longer than tokens") {
    vocab_gguf_writer w = spec.writer(true, false);
    std::vector<int32_t> types = spec.types;
    types.push_back(1);
    w.add_i32_array("tokenizer.ggml.token_type", types);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.token_type"));
  }
  SECTION("unknown token type value") {
    vocab_gguf_writer w = spec.writer(true, false);
    std::vector<int32_t> types = spec.types;
    types[5] = 9;
    w.add_i32_array("tokenizer.ggml.token_type", types);
    std::string msg = load_error_message(w);
    CHECK_THAT(msg, Contains("tokenizer.ggml.token_type"));
    CHECK_THAT(msg, Contains("element 5 is 9"));
  }
  SECTION("scores of the wrong type") {
    vocab_gguf_writer w = spec.writer(false, true);
    w.add_string_array("tokenizer.ggml.scores", spec.tokens);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.scores"));
  }
  SECTION("NaN score") {
    vocab_gguf_writer w = spec.writer(false, true);
    std::vector<float> scores = spec.scores;
    scores[7] = std::numeric_limits<float>::quiet_NaN();
    w.add_f32_array("tokenizer.ggml.scores", scores);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.scores"));
  }
  SECTION("special token id out of range") {
    vocab_gguf_writer w = spec.writer();
    w.add_u32("tokenizer.ggml.bos_token_id", 100000);
    std::string msg = load_error_message(w);
    CHECK_THAT(msg, Contains("tokenizer.ggml.bos_token_id"));
    CHECK_THAT(msg, Contains("100000"));
    CHECK_THAT(msg, Contains("0.." + std::to_string(spec.tokens.size() - 1)));
  }
  SECTION("negative eot id") {
    vocab_gguf_writer w = spec.writer();
    w.add_i32("tokenizer.ggml.eot_token_id", -1);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.eot_token_id"));
  }
  SECTION("an unknown tokenizer model") {
    vocab_gguf_writer w;
    w.add_string("tokenizer.ggml.model", "rwkv");
    w.add_string_array("tokenizer.ggml.tokens", spec.tokens);
    std::string msg = load_error_message(w);
    CHECK_THAT(msg, Contains("tokenizer.ggml.model"));
    CHECK_THAT(msg, Contains("rwkv tokenizer is not supported"));
    CHECK_THAT(msg, Contains("expected one of llama, gpt2, bert"));
  }
  SECTION("no tokenizer model") {
    vocab_gguf_writer w;
    w.add_string_array("tokenizer.ggml.tokens", spec.tokens);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.model"));
  }
  SECTION("no tokens") {
    vocab_gguf_writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.tokens"));
  }
  SECTION("tokens of the wrong type") {
    vocab_gguf_writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_f32_array("tokenizer.ggml.tokens", spec.scores);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.tokens"));
  }
  SECTION("duplicate piece") {
    vocab_spec dup;
    dup.add("ab", 1);
    dup.add("ab", 2);
    CHECK_THAT(load_error_message(dup.writer()), Contains("duplicates"));
  }
  SECTION("byte token that is not <0xNN>") {
    vocab_spec bad;
    bad.add("<0xZZ>", 0, 6);
    std::string msg = load_error_message(bad.writer());
    CHECK_THAT(msg, Contains("tokenizer.ggml.token_type"));
    CHECK_THAT(msg, Contains("<0xZZ>"));
  }
  SECTION("add_bos_token without a BOS token") {
    vocab_gguf_writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});  // the default BOS id 1 is out of range
    w.add_bool("tokenizer.ggml.add_bos_token", true);
    CHECK_THAT(load_error_message(w), Contains("tokenizer.ggml.add_bos_token"));
  }
}

TEST_CASE("tokenizer: vocab defaults follow llama.cpp's SentencePiece defaults", "[tokenizer]") {
  vocab_spec spec;
  vocab v = load(spec.writer(false, false));  // no scores, no types: all normal, score 0
  CHECK(v.bos() == 1);
  CHECK(v.eos() == 2);
  CHECK(v.unk() == 0);
  CHECK(v.add_bos());
  CHECK_FALSE(v.add_eos());
  CHECK(v.type(5) == token_type::normal);
  CHECK(v.score(5) == 0.0f);
}

TEST_CASE("tokenizer: merges follow score, then position", "[tokenizer]") {
  vocab_spec spec;
  const token_id a = spec.add("a", 0), b = spec.add("b", 0), c = spec.add("c", 0), d = spec.add("d", 0);
  const token_id ab = spec.add("ab", 1), bc = spec.add("bc", 1), cd = spec.add("cd", 1);
  const token_id abcd = spec.add("abcd", 0.5f), aa = spec.add("aa", 1);
  vocab_gguf_writer w = spec.writer();
  w.add_bool("tokenizer.ggml.add_space_prefix", false);
  vocab v = load(w);

  // "ab" and "bc" score the same: the leftmost pair merges first, and then "bc" cannot.
  CHECK(v.tokenize("abc", false) == std::vector<token_id>{ab, c});
  CHECK(v.tokenize("aaa", false) == std::vector<token_id>{aa, a});
  // Merged symbols merge again: ab + cd -> abcd.
  CHECK(v.tokenize("abcd", false) == std::vector<token_id>{abcd});
  CHECK(v.tokenize("bcd", false) == std::vector<token_id>{bc, d});
  CHECK(v.tokenize("dcd", false) == std::vector<token_id>{d, cd});
  // No prefix space when add_space_prefix is false, so nothing to strip either.
  CHECK(v.detokenize({ab, c}) == "abc");
  CHECK(v.tokenize("", true) == std::vector<token_id>{1});
  (void)b;
}

TEST_CASE("tokenizer: a higher score wins over position", "[tokenizer]") {
  vocab_spec spec;
  const token_id a = spec.add("a", 0), c = spec.add("c", 0);
  spec.add("ab", 1);
  const token_id bc = spec.add("bc", 2);
  spec.add("b", 0);
  vocab_gguf_writer w = spec.writer();
  w.add_bool("tokenizer.ggml.add_space_prefix", false);
  vocab v = load(w);
  CHECK(v.tokenize("abc", false) == std::vector<token_id>{a, bc});
  (void)c;
}

TEST_CASE("tokenizer: spaces become the prefix marker and unknown text falls back to bytes", "[tokenizer]") {
  vocab_spec spec;
  const token_id marker = spec.add("\xE2\x96\x81", 0);  // "▁"
  const token_id a = spec.add("a", 0), b = spec.add("b", 0);
  const token_id marker_a = spec.add("\xE2\x96\x81" "a", 1);
  vocab v = load(spec.writer());  // add_space_prefix defaults to true

  CHECK(v.tokenize("a b", false) == std::vector<token_id>{marker_a, marker, b});
  CHECK(v.detokenize({marker_a, marker, b}) == "a b");
  CHECK(v.tokenize("a b", true) == std::vector<token_id>{1, marker_a, marker, b});
  // "é" has no piece: its two UTF-8 bytes.
  CHECK(v.tokenize("\xC3\xA9", false) ==
        std::vector<token_id>{marker, vocab_spec::byte(0xC3), vocab_spec::byte(0xA9)});
  // Invalid or truncated UTF-8 goes byte by byte and comes back unchanged.
  const std::string broken = "a\xFF" "b\xE2\x96";
  std::vector<token_id> ids = v.tokenize(broken, false);
  CHECK(ids == std::vector<token_id>{marker_a, vocab_spec::byte(0xFF), b, vocab_spec::byte(0xE2),
                                     vocab_spec::byte(0x96)});
  CHECK(v.detokenize(ids) == broken);
  (void)a;
}

TEST_CASE("tokenizer: pieces with an inner space marker merge across words", "[tokenizer]") {
  // Llama's pieces only ever start with "▁", so words can be merged one by one; this vocab
  // has "a▁" and "a▁b", and must see the whole text at once.
  vocab_spec spec;
  const token_id marker = spec.add("\xE2\x96\x81", 0);
  const token_id a = spec.add("a", 0), b = spec.add("b", 0);
  spec.add("a\xE2\x96\x81", 1);
  const token_id a_marker_b = spec.add("a\xE2\x96\x81" "b", 2);
  vocab_gguf_writer w = spec.writer();
  w.add_bool("tokenizer.ggml.add_space_prefix", false);
  vocab v = load(w);
  CHECK(v.tokenize("a b", false) == std::vector<token_id>{a_marker_b});
  CHECK(v.tokenize("b a b", false) == std::vector<token_id>{b, marker, a_marker_b});
  CHECK(v.detokenize({b, marker, a_marker_b}) == "b a b");
  (void)a;
}

TEST_CASE("tokenizer: control tokens are never formed by merging", "[tokenizer]") {
  vocab_spec spec;
  const token_id lt = spec.add("<", 0), s = spec.add("s", 0), gt = spec.add(">", 0);
  const token_id lt_s = spec.add("<s", 1);
  vocab_gguf_writer w = spec.writer();
  w.add_bool("tokenizer.ggml.add_space_prefix", false);
  vocab v = load(w);
  // "<s" + ">" would be "<s>", which is BOS (control): not a merge.
  CHECK(v.tokenize("<s>", false) == std::vector<token_id>{lt_s, gt});
  CHECK(v.tokenize("<s>", false, true) == std::vector<token_id>{1});
  (void)lt;
  (void)s;
}

TEST_CASE("tokenizer: user-defined tokens are always split out, control ones only on request",
          "[tokenizer]") {
  vocab_spec spec;
  const token_id a = spec.add("a", 0), b = spec.add("b", 0);
  const token_id xyz = spec.add("xyz", 0, 4);
  const token_id ctl = spec.add("<|c|>", 0, 3);
  const token_id longer = spec.add("<|c|>x", 0, 3);
  const token_id mn = spec.add("mn", 0, 4), nop = spec.add("nop", 0, 4);
  vocab_gguf_writer w = spec.writer();
  w.add_bool("tokenizer.ggml.add_space_prefix", false);
  vocab v = load(w);
  CHECK(v.tokenize("axyzb", false) == std::vector<token_id>{a, xyz, b});
  CHECK(v.token_to_bytes(xyz) == "xyz");
  std::vector<token_id> plain = v.tokenize("a<|c|>b", false);
  CHECK(std::find(plain.begin(), plain.end(), ctl) == plain.end());
  CHECK(v.tokenize("a<|c|>b", false, true) == std::vector<token_id>{a, ctl, b});
  // Longer special texts are split out first, over the whole text (llama.cpp's order), not by
  // longest match from the left: in "mnop", "nop" is taken before "mn" is looked for.
  CHECK(v.tokenize("<|c|>xyz<|c|>", false, true) ==
        std::vector<token_id>{longer, vocab_spec::byte('y'), vocab_spec::byte('z'), ctl});
  CHECK(v.tokenize("<|c|>x<|c|>", false, true) == std::vector<token_id>{longer, ctl});
  CHECK(v.tokenize("mnop", false) == std::vector<token_id>{vocab_spec::byte('m'), nop});
  CHECK(v.tokenize("mnmn", false) == std::vector<token_id>{mn, mn});
}

TEST_CASE("tokenizer: eot and end-of-turn tokens end generation", "[tokenizer]") {
  vocab_spec spec;
  const token_id im_end = spec.add("<|im_end|>", 0, 3);
  const token_id other = spec.add("<|other|>", 0, 3);
  const token_id eot = spec.add("<|stop|>", 0, 3);
  vocab_gguf_writer w = spec.writer();
  w.add_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(eot));
  vocab v = load(w);
  CHECK(v.is_eog(2));
  CHECK(v.is_eog(im_end));
  CHECK(v.is_eog(eot));
  CHECK_FALSE(v.is_eog(other));
  CHECK_FALSE(v.is_eog(1));
}
