#pragma once
// Byte-level BPE pre-tokenizers: how the text is cut into words before the merges, as
// `tokenizer.ggml.pre` selects. Each is the sequence of regex splits of the model's
// tokenizer.json (llama.cpp lists which model uses which), where every pass cuts each piece of
// the previous pass into its matches and the text between them. The regexes are a handful of
// shapes (GPT-2's, Llama 3's, GPT-4o's, DeepSeek's, digit groups …), written here as
// hand-made matchers over the Unicode classes of unicode.h: no regex engine.
//
// Everything here is immutable and thread-safe.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

// A text cut into code points, with each one's Unicode classes (unicode_classes) and byte
// offset. A byte that is not part of valid UTF-8 is a code point of its own, U+FFFD, as
// llama.cpp reads it, but keeps its one byte: the words cover the text exactly.
struct code_points {
  std::vector<uint32_t> cp;
  std::vector<uint32_t> cls;
  std::vector<uint32_t> offset;  // size() + 1 entries: the last is the text's length

  void assign(std::string_view text);
  size_t size() const { return cp.size(); }
};

// One regex of a pre-tokenizer: finds its leftmost match in [from, end) of a piece that ends at
// `end` (lookarounds see nothing past it). Returns false if there is none.
struct split_pattern {
  const char* regex;  // the tokenizer.json regex it implements, for people
  bool (*find)(const code_points& t, size_t from, size_t end, size_t& match_begin, size_t& match_end);
};

struct pre_tokenizer {
  std::string_view name;                  // the tokenizer.ggml.pre value
  std::span<const split_pattern* const> passes;  // applied in turn
  bool ignore_merges;  // a word that is a vocabulary piece becomes that token unmerged (HF's ignore_merges)
  bool clean_spaces;   // llama.cpp's clean_spaces for this model
  bool add_bos;        // llama.cpp's default for tokenizer.ggml.add_bos_token
};

// The pre-tokenizer named `name`, or nullptr.
const pre_tokenizer* find_pre_tokenizer(std::string_view name);
// "default, gpt-2, …": the supported names, for error messages.
std::string pre_tokenizer_names();

// Cuts `text` into words, appending the byte offset where each ends (the last is text.size()).
// `t` is scratch space, reused across calls.
void pre_tokenize(const pre_tokenizer& p, std::string_view text, code_points& t, std::vector<uint32_t>& word_ends);

// The patterns (pre_tokenizer_patterns.cpp).
namespace split_patterns {
extern const split_pattern gpt2;            // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
extern const split_pattern llama3;          // (?i:'s|…)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
extern const split_pattern qwen2;           // llama3 with \p{N} one digit at a time
extern const split_pattern gpt4o;           // cased words with optional contractions, \p{N}{1,3}
extern const split_pattern tekken;          // cased words, \p{N}
extern const split_pattern digit;           // \p{N}
extern const split_pattern digits;          // \p{N}+
extern const split_pattern three_digits;    // [0-9][0-9][0-9]
extern const split_pattern punctuation;     // [\p{P}\$\+<=>\^~\|]+
extern const split_pattern punctuation_falcon;  // [\p{P}\$\+<=>\^~\|`]+
extern const split_pattern newline;         // [\r\n]
extern const split_pattern space_letters;   // \s?\p{L}+
extern const split_pattern space_punctuation;  // \s?\p{P}+
extern const split_pattern cjk_hangul;      // [一-龥ࠀ-一가-퟿]+
extern const split_pattern space_cased_letters;  // \s?[A-Za-zµÀ-ÖØ-öø-ƺ…]+ (deepseek-llm)
extern const split_pattern space_ascii_cjk_punctuation;  // \s?[!-/:-~！-／：-～‘-‟　-。]+
extern const split_pattern trailing_space;  // \s+$
}  // namespace split_patterns

}  // namespace hearth
