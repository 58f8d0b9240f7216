// The tokenizer table: one row per supported `tokenizer.ggml.model` value. Each loader lives in
// the file that implements its tokenizer.
#include "tokenizer/named_rows.h"
#include "tokenizer/tokenizer.h"

namespace hearth {

std::unique_ptr<tokenizer> load_spm_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d);  // spm.cpp
std::unique_ptr<tokenizer> load_bpe_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d);  // bpe.cpp
std::unique_ptr<tokenizer> load_wpm_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d);  // wpm.cpp

namespace {

const tokenizer_kind kinds[] = {
    {"llama", "SentencePiece", load_spm_tokenizer},
    {"gpt2", "byte-level BPE", load_bpe_tokenizer},
    {"bert", "WordPiece", load_wpm_tokenizer},
};

}  // namespace

const tokenizer_kind* find_tokenizer_kind(std::string_view model) {
  return find_row(kinds, &tokenizer_kind::model, model);
}

std::string tokenizer_kind_names() { return row_names(kinds, &tokenizer_kind::model); }

}  // namespace hearth
