// The tokenizer table: one row per supported `tokenizer.ggml.model` value. Each loader lives in
// the file that implements its tokenizer.
#include <array>

#include "tokenizer/tokenizer.h"

namespace hearth {

std::unique_ptr<tokenizer> load_spm_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d);  // spm.cpp
std::unique_ptr<tokenizer> load_bpe_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d);  // bpe.cpp

namespace {

constexpr std::array<tokenizer_kind, 2> kinds = {{
    {"llama", "SentencePiece", load_spm_tokenizer},
    {"gpt2", "byte-level BPE", load_bpe_tokenizer},
}};

}  // namespace

const tokenizer_kind* find_tokenizer_kind(std::string_view model) {
  for (const tokenizer_kind& k : kinds) {
    if (k.model == model) return &k;
  }
  return nullptr;
}

std::string tokenizer_kind_names() {
  std::string out;
  for (const tokenizer_kind& k : kinds) {
    if (!out.empty()) out += ", ";
    out += k.model;
  }
  return out;
}

}  // namespace hearth
