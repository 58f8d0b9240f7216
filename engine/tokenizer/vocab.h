#pragma once
// A model's vocabulary and tokenizer, from the `tokenizer.ggml.*` GGUF metadata.
// Supported: tokenizer.ggml.model == "llama" (SentencePiece BPE by score, byte fallback).
//
// Immutable after construction; safe to use from any thread.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hearth {

class gguf_file;

using token_id = int32_t;

// tokenizer.ggml.token_type values.
enum class token_type : uint8_t {
  undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

class vocab {
 public:
  // Throws load_error naming the key on missing or inconsistent metadata.
  static vocab from_gguf(const gguf_file& f);

  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  token_id bos() const { return bos_; }   // -1 if none
  token_id eos() const { return eos_; }   // -1 if none
  token_id unk() const { return unk_; }   // -1 if none
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }

  std::string_view piece(token_id id) const { return pieces_[id]; }
  token_type type(token_id id) const { return types_[id]; }
  float score(token_id id) const { return scores_[id]; }
  // End of generation: EOS, EOT and the like.
  bool is_eog(token_id id) const;
  bool is_control(token_id id) const { return types_[id] == token_type::control; }

  // Text to token ids. add_special adds BOS (and EOS) as the model asks; parse_special lets
  // control and user-defined token texts in `text` become those tokens (used for rendered chat
  // templates); without it they are tokenized as plain text.
  std::vector<token_id> tokenize(std::string_view text, bool add_special,
                                 bool parse_special = false) const;

  // The exact bytes a token stands for: "▁" becomes a space, <0xNN> the byte NN; control tokens
  // give "" unless render_special, when they give their text.
  std::string token_to_bytes(token_id id, bool render_special = false) const;

  // Tokens back to text; drops the space the tokenizer prefixes to the first word when the
  // sequence starts at the beginning of the text (SentencePiece's add_space_prefix).
  std::string detokenize(const std::vector<token_id>& tokens, bool render_special = false) const;

 private:
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<token_type> types_;
  std::unordered_map<std::string, token_id> index_;
  std::vector<token_id> eog_;
  token_id bos_ = -1, eos_ = -1, unk_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
  token_id byte_tokens_[256];  // <0xNN> ids, -1 if absent
  // Control / user-defined tokens, longest first, for parse_special.
  std::vector<token_id> special_by_length_;
};

// Incremental decoding for streams: push a token's bytes, get back only complete UTF-8
// characters; the bytes of a character split across tokens are held until it completes.
// Invalid sequences are passed through as U+FFFD once they can no longer become valid.
class utf8_stream {
 public:
  std::string push(std::string_view bytes);
  // Whatever is still held at the end of the stream (an incomplete character becomes U+FFFD).
  std::string flush();
  bool holding() const { return !pending_.empty(); }

 private:
  std::string pending_;
};

}  // namespace hearth
