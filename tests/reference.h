#pragma once
// Reading llama.cpp's reference outputs (../shared/reference/*.jsonl) for golden tests.
#include <string>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::test {

struct reference_case {
  std::string prompt;
  std::vector<token_id> prompt_tokens;
  std::vector<token_id> greedy_tokens;
  std::string greedy_text;  // invalid UTF-8 in the file is replaced by U+FFFD
  std::vector<float> first_logits;
};

// name is relative to ../shared/reference, e.g. "stories260K-f32.greedy.jsonl". Throws if
// the file is missing, has no case, or has a malformed line.
std::vector<reference_case> read_reference(const std::string& name);
// The same, for a caller that goes through every case: fails the test unless the file holds
// exactly `expected_cases` (a truncated or emptied file must not pass by checking less).
std::vector<reference_case> read_reference(const std::string& name, size_t expected_cases);

std::string shared_path(const std::string& relative);
// The cosine similarity of two vectors of the same length (sums in double): how embeddings are
// compared with llama.cpp's.
double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b);
// A whole file's bytes; throws std::runtime_error naming it when it cannot be read.
std::string read_text(const std::string& path);

}  // namespace hearth::test
