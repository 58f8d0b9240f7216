#pragma once
// The tokenizer interface: how a vocabulary turns the text between special tokens into ids, and
// a normal token back into bytes. One implementation per `tokenizer.ggml.model` value, each in
// its own file, listed in the table of tokenizer_kinds.cpp; adding one is a file and a row.
//
// A tokenizer is immutable after loading and thread-safe. It keeps no pointer into the vocab:
// the vocab passes itself to every call, so vocabs can be moved and copied freely.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth {

// What a tokenizer kind decides for the vocab before the file's own keys override it:
// default special ids (-1: none) and flags.
struct tokenizer_defaults {
  token_id bos = -1, eos = -1, unk = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SentencePiece's "▁" before the first word
  bool clean_spaces = false;      // see vocab::cleans_up_spaces
  // Pieces typed normal are merge products learned from text, never a special token a converter
  // mistyped (converters type every added token control or user-defined): the end-of-turn texts
  // are not looked for among them. Qwen's "</s>" is HTML.
  bool normal_pieces_are_text = false;
};

class tokenizer {
 public:
  virtual ~tokenizer() = default;

  // Checks what needs the finished vocab (special ids read); throws load_error naming the key.
  virtual void check(const gguf_file& f, const vocab& v) const { (void)f, (void)v; }
  // Appends the ids of `text`, a fragment with no special-token text split out of it.
  // `at_start`: the fragment begins the text or follows a special token.
  virtual void encode(const vocab& v, std::string_view text, bool at_start, std::vector<token_id>& out) const = 0;
  // Appends the bytes that `id`, a token of type normal, stands for.
  virtual void decode(const vocab& v, token_id id, std::string& out) const = 0;
  // The pre-tokenizer's name for `hearth info` ("" if the kind has none).
  virtual std::string_view pre_tokenizer_name() const { return {}; }
};

struct tokenizer_kind {
  std::string_view model;  // the tokenizer.ggml.model value
  std::string_view name;   // for people: "SentencePiece"
  // Reads what the kind needs beyond the pieces, scores and types that `v` already holds, and
  // sets its defaults. Throws load_error naming the file and key.
  std::unique_ptr<tokenizer> (*load)(const gguf_file& f, const vocab& v, tokenizer_defaults& d);
};

// The row for a tokenizer.ggml.model value, or nullptr.
const tokenizer_kind* find_tokenizer_kind(std::string_view model);
// "llama, gpt2, bert": the supported values, for error messages.
std::string tokenizer_kind_names();

// A piece or metadata string as it may appear in an error message: bounded, and printable.
std::string printable_text(std::string_view s);

}  // namespace hearth
