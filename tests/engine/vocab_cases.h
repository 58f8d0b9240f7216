#pragma once
// llama.cpp's tokenizer test vectors in ../shared/vocab: loading a vocab-only GGUF and reading
// its .inp/.out pairs.
#include <string>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::test {

struct vocab_case {
  std::string input;
  std::vector<token_id> expected;
};

std::string read_file(const std::string& path);
// path is a GGUF file; throws load_error as vocab::from_gguf does.
vocab load_vocab(const std::string& path);
// ../shared/vocab/ggml-vocab-NAME.gguf
std::string vocab_path(const std::string& name);
// The cases of NAME's .inp/.out files (the Catch2 checks inside fail the test on a malformed pair).
std::vector<vocab_case> read_vocab_cases(const std::string& gguf_path);

}  // namespace hearth::test
