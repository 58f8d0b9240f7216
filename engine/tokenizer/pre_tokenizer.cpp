// The pre-tokenizer table (which regexes each tokenizer.ggml.pre value runs, after llama.cpp's
// llama-vocab.cpp) and the driver that applies them in turn.
#include "tokenizer/pre_tokenizer.h"

#include <array>

#include "tokenizer/named_rows.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace hearth {

namespace {

namespace sp = split_patterns;

constexpr uint32_t replacement_char = 0xFFFD;

// Regex sequences shared by several models.
const split_pattern* const gpt2_passes[] = {&sp::gpt2};
const split_pattern* const default_passes[] = {&sp::punctuation, &sp::gpt2, &sp::digits, &sp::three_digits};
const split_pattern* const falcon_passes[] = {&sp::punctuation_falcon, &sp::gpt2, &sp::three_digits};
const split_pattern* const starcoder_passes[] = {&sp::digit, &sp::gpt2};
const split_pattern* const llama3_passes[] = {&sp::llama3};
const split_pattern* const qwen2_passes[] = {&sp::qwen2};
const split_pattern* const gpt4o_passes[] = {&sp::gpt4o};
const split_pattern* const tekken_passes[] = {&sp::tekken};
const split_pattern* const deepseek_llm_passes[] = {&sp::newline, &sp::space_cased_letters, &sp::space_ascii_cjk_punctuation,
                                             &sp::trailing_space, &sp::cjk_hangul, &sp::digits};
const split_pattern* const deepseek_coder_passes[] = {&sp::newline, &sp::space_letters, &sp::space_punctuation,
                                               &sp::cjk_hangul, &sp::digit};

// name, passes, ignore_merges, clean_spaces, add_bos: llama.cpp's settings for each name (its
// default for clean_spaces is on for byte-level BPE, off where a model says so).
const pre_tokenizer pre_tokenizers[] = {
    {"default", default_passes, false, true, false},
    {"gpt-2", gpt2_passes, false, true, false},
    {"phi-2", gpt2_passes, false, true, false},
    {"mpt", gpt2_passes, false, true, false},
    {"olmo", gpt2_passes, false, true, false},
    {"exaone4", gpt2_passes, false, true, false},
    {"llama3", llama3_passes, true, true, true},
    {"llama-v3", llama3_passes, true, true, true},
    {"llama-bpe", llama3_passes, true, true, true},
    {"falcon3", llama3_passes, true, true, true},
    {"pixtral", llama3_passes, true, true, true},
    {"dbrx", llama3_passes, false, true, false},
    {"smaug-bpe", llama3_passes, false, true, false},
    {"chatglm-bpe", llama3_passes, false, true, false},
    {"glm4", llama3_passes, false, true, false},
    {"qwen2", qwen2_passes, false, false, false},
    {"deepseek-r1-qwen", qwen2_passes, false, false, false},
    {"megrez", qwen2_passes, false, true, false},
    {"stablelm2", qwen2_passes, false, true, false},
    {"deepseek-llm", deepseek_llm_passes, false, false, false},
    {"deepseek-coder", deepseek_coder_passes, false, false, false},
    {"falcon", falcon_passes, false, true, false},
    {"starcoder", starcoder_passes, false, true, false},
    {"refact", starcoder_passes, false, true, false},
    {"codeshell", starcoder_passes, false, true, false},
    {"exaone", starcoder_passes, false, true, false},
    {"minerva-7b", starcoder_passes, false, true, false},
    {"command-r", starcoder_passes, false, false, false},
    {"smollm", starcoder_passes, false, false, false},
    {"gpt-4o", gpt4o_passes, false, false, false},
    {"llama4", gpt4o_passes, false, false, false},
    {"tekken", tekken_passes, true, false, true},
};

// Classes of the ASCII characters, looked up without the tables (most text is ASCII).
const std::array<uint32_t, 128>& ascii_classes() {
  static const std::array<uint32_t, 128> a = [] {
    std::array<uint32_t, 128> c{};
    for (uint32_t i = 0; i < 128; ++i) c[i] = unicode_classes(i);
    return c;
  }();
  return a;
}

}  // namespace

void code_points::assign(std::string_view text) {
  const auto& ascii = ascii_classes();
  const uint32_t invalid_classes = unicode_classes(replacement_char);
  cp.clear();
  cls.clear();
  offset.clear();
  cp.reserve(text.size());
  cls.reserve(text.size());
  offset.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    offset.push_back(static_cast<uint32_t>(pos));
    const auto b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      cp.push_back(b);
      cls.push_back(ascii[b]);
      ++pos;
      continue;
    }
    utf8_scan r = utf8_scan_one(text.substr(pos));
    if (r.kind != utf8_scan::complete) {
      cp.push_back(replacement_char);
      cls.push_back(invalid_classes);
      ++pos;
      continue;
    }
    uint32_t c = b & (0x7F >> r.length);
    for (size_t i = 1; i < r.length; ++i) c = (c << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
    cp.push_back(c);
    cls.push_back(unicode_classes(c));
    pos += r.length;
  }
  offset.push_back(static_cast<uint32_t>(text.size()));
}

const pre_tokenizer* find_pre_tokenizer(std::string_view name) {
  return find_row(pre_tokenizers, &pre_tokenizer::name, name);
}

std::string pre_tokenizer_names() { return row_names(pre_tokenizers, &pre_tokenizer::name); }

void pre_tokenize(const pre_tokenizer& p, std::string_view text, code_points& t, std::vector<uint32_t>& word_ends) {
  word_ends.clear();
  if (text.empty()) return;
  t.assign(text);
  // Pieces as their end positions (in code points); each pass cuts every piece into its matches
  // and the text between them.
  std::vector<uint32_t> ends{static_cast<uint32_t>(t.size())}, next;
  for (const split_pattern* pass : p.passes) {
    next.clear();
    size_t begin = 0;
    for (uint32_t end : ends) {
      size_t pos = begin, mb, me;
      while (pos < end && pass->find(t, pos, end, mb, me)) {
        if (mb > pos) next.push_back(static_cast<uint32_t>(mb));
        next.push_back(static_cast<uint32_t>(me));
        pos = me;
      }
      if (pos < end) next.push_back(end);
      begin = end;
    }
    ends.swap(next);
  }
  word_ends.reserve(ends.size());
  for (uint32_t e : ends) word_ends.push_back(t.offset[e]);
}

}  // namespace hearth
