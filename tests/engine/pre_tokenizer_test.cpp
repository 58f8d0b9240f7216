// The pre-tokenizers that the vocab vectors do not cover, on inputs worked out by hand from
// their regexes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tokenizer/pre_tokenizer.h"

using namespace hearth;

namespace {

std::vector<std::string> words(const char* pre, const std::string& text) {
  const pre_tokenizer* p = find_pre_tokenizer(pre);
  REQUIRE(p != nullptr);
  code_points scratch;
  std::vector<uint32_t> ends;
  pre_tokenize(*p, text, scratch, ends);
  std::vector<std::string> out;
  size_t begin = 0;
  for (uint32_t e : ends) {
    out.push_back(text.substr(begin, e - begin));
    begin = e;
  }
  return out;
}

using w = std::vector<std::string>;

}  // namespace

TEST_CASE("pre-tokenizer: GPT-2 and its multi-pass variants", "[tokenizer][pre]") {
  CHECK(words("gpt-2", "Hello world's 12 ab!!  x") == w{"Hello", " world", "'s", " 12", " ab", "!!", " ", " x"});
  // \s+(?!\S) leaves the last space to the word; a lone tab before a word is a word of its own.
  CHECK(words("gpt-2", "a   b\tc  ") == w{"a", "  ", " b", "\t", "c", "  "});
  CHECK(words("gpt-2", "'S") == w{"'", "S"});  // case-sensitive contractions
  // default: punctuation runs first, then GPT-2, then digit runs, then groups of three digits.
  CHECK(words("default", "Hello, world!! 12345") == w{"Hello", ",", " world", "!!", " ", "123", "45"});
  // starcoder family: every digit alone, then GPT-2.
  CHECK(words("starcoder", "ab12 c") == w{"ab", "1", "2", " c"});
  CHECK(words("smollm", "x 2024") == w{"x", " ", "2", "0", "2", "4"});
  // falcon: the backquote joins the punctuation run.
  CHECK(words("falcon", "x=`y` 1234") == w{"x", "=`", "y", "`", " ", "123", "4"});
}

TEST_CASE("pre-tokenizer: Llama 3 and Qwen 2", "[tokenizer][pre]") {
  CHECK(words("llama3", "I'M 1234567 \n\n  x") == w{"I", "'M", " ", "123", "456", "7", " \n\n", " ", " x"});
  CHECK(words("qwen2", "1234 ab") == w{"1", "2", "3", "4", " ab"});
  // A non-letter, non-digit, non-newline character may lead a word; a newline may not.
  CHECK(words("llama3", "(x\ny") == w{"(x", "\n", "y"});
  CHECK(words("llama3", "..\n\nz") == w{"..\n\n", "z"});
}

TEST_CASE("pre-tokenizer: GPT-4o and Tekken split cased words", "[tokenizer][pre]") {
  CHECK(words("gpt-4o", "HelloWorld HELLOworld don't I'VE") ==
        w{"Hello", "World", " HELLOworld", " don't", " I'VE"});
  // Marks belong to the word (the regex's [\p{M}] in both classes).
  CHECK(words("gpt-4o", "e\xCC\x81t\xC3\xA9") == w{"e\xCC\x81t\xC3\xA9"});
  CHECK(words("gpt-4o", "123456") == w{"123", "456"});
  CHECK(words("tekken", "123") == w{"1", "2", "3"});
  CHECK(words("tekken", "a/b//\nc") == w{"a", "/b", "//\n", "c"});
  CHECK(words("tekken", "don't") == w{"don", "'t"});  // Tekken has no contractions
}

TEST_CASE("pre-tokenizer: DeepSeek's regex sequences", "[tokenizer][pre]") {
  CHECK(words("deepseek-llm", "Hello, \xE4\xB8\x96\xE7\x95\x8C!\n  123") ==
        w{"Hello", ",", " ", "\xE4\xB8\x96\xE7\x95\x8C", "!", "\n", "  ", "123"});
  CHECK(words("deepseek-llm", "ab  ") == w{"ab", "  "});  // \s+$
  CHECK(words("deepseek-coder", "x = foo(1, 22);\n") == w{"x", " =", " foo", "(", "1", ",", " ", "2", "2", ");", "\n"});
}

TEST_CASE("pre-tokenizer: unknown names and exact coverage", "[tokenizer][pre]") {
  CHECK(find_pre_tokenizer("no-such-pre") == nullptr);
  CHECK(pre_tokenizer_names().find("llama-bpe") != std::string::npos);
  // Invalid bytes are one character each, and the words still cover the text exactly.
  const std::string text = "a\xFF\xFE b\xE2\x96";
  std::string joined;
  for (const std::string& s : words("llama3", text)) joined += s;
  CHECK(joined == text);
  CHECK(words("llama3", "").empty());
}
