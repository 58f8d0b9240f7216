#pragma once
// A model's vocabulary and tokenizer, from the `tokenizer.ggml.*` GGUF metadata.
// Supported: tokenizer.ggml.model == "llama" (SentencePiece BPE by score, byte fallback).
//
// Immutable after construction; safe to use from any thread.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/piece_index.h"

namespace hearth {

class gguf_file;

using token_id = int32_t;

// A byte range [begin, end) of a text.
struct text_range {
  size_t begin = 0;
  size_t end = 0;
};

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

  // These four take an id in [0, size()).
  std::string_view piece(token_id id) const { return pieces_[id]; }
  token_type type(token_id id) const { return types_[id]; }
  float score(token_id id) const { return scores_[id]; }
  bool is_control(token_id id) const { return types_[id] == token_type::control; }
  // End of generation: EOS, EOT, EOM and the end-of-turn markers of known chat formats.
  // False for ids out of range.
  bool is_eog(token_id id) const;

  // Text to token ids. add_special adds BOS (and EOS) as the model asks; parse_special lets
  // control (and unknown-type) token texts in `text` become those tokens (used for rendered
  // chat templates); without it they are tokenized as plain text. User-defined tokens are
  // atomic pieces of the vocabulary and are always split out, as in llama.cpp and HF tokenizers.
  // Throws std::length_error for texts over 1 GiB.
  // `literal`: sorted, disjoint ranges of `text` where control-token texts are not parsed even
  // with parse_special (a chat template's message text).
  std::vector<token_id> tokenize(std::string_view text, bool add_special,
                                 bool parse_special = false,
                                 std::span<const text_range> literal = {}) const;

  // The exact bytes a token stands for: "▁" becomes a space, <0xNN> the byte NN; control tokens
  // give "" unless render_special, when they give their text. Ids out of range give "".
  std::string token_to_bytes(token_id id, bool render_special = false) const;

  // Tokens back to text; drops the space the tokenizer prefixes to the first word when the
  // sequence starts at the beginning of the text (SentencePiece's add_space_prefix): the first
  // token, or the second if the first is BOS, loses one leading space.
  std::string detokenize(const std::vector<token_id>& tokens, bool render_special = false) const;

 private:
  // A run of the input: raw text (token == -1) or a token split out of it.
  struct fragment {
    token_id token;
    size_t offset, length;
  };

  // from_gguf() stages (vocab_load.cpp).
  void read_specials(const gguf_file& f);
  void build_byte_tokens(const gguf_file& f);
  void build_special_index();
  void check_word_merges();
  // The byte a "<0xNN>" piece stands for, or -1 if the piece is not of that form.
  static int byte_value(std::string_view piece);

  // tokenize() stages; their contracts are in vocab.cpp and spm.cpp.
  void split_special(std::string_view text, bool parse_special, std::span<const text_range> literal,
                     std::vector<fragment>& out) const;
  void split_on(token_id special, std::string_view text, std::span<const text_range> literal,
                std::vector<fragment>& frags) const;
  void tokenize_text(std::string_view text, bool add_prefix, std::vector<token_id>& out) const;
  struct merge_state;
  void merge_range(merge_state& st, size_t begin, size_t end, std::vector<token_id>& out) const;
  // SentencePiece merges only into pieces that stand for text: control, unknown and byte
  // tokens are never formed from text (so a user typing "<s>" never gets BOS).
  static bool forms_from_text(token_type t) {
    return t != token_type::control && t != token_type::unknown && t != token_type::byte;
  }
  token_id mergeable(std::string_view text) const;
  void byte_fallback(std::string_view symbol, std::vector<token_id>& out) const;
  void append_bytes(token_id id, bool render_special, std::string& out) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<token_type> types_;
  piece_index index_;  // every non-empty piece
  std::vector<token_id> eog_;
  token_id bos_ = -1, eos_ = -1, unk_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
  // No mergeable piece has "▁" after anything but "▁": words can be merged one at a time.
  bool words_merge_alone_ = false;
  static constexpr std::array<token_id, 256> no_byte_tokens() {
    std::array<token_id, 256> a{};
    for (token_id& id : a) id = -1;
    return a;
  }
  std::array<token_id, 256> byte_tokens_ = no_byte_tokens();  // <0xNN> ids, -1 if absent
  // Control / user-defined / unknown-type tokens, longest first, for splitting them out.
  std::vector<token_id> special_by_length_;
  // Byte trie over the texts of special_by_length_: transitions keyed (node << 8 | byte), and
  // the token ending at each node (-1 if none). Finds which special texts occur in an input.
  std::unordered_map<uint64_t, uint32_t> special_trie_;
  std::vector<token_id> special_trie_token_;
  bool special_first_byte_[256] = {};  // bytes that start some special text
  // Tokens whose match also swallows the whitespace after them (Phi-3's added tokens).
  std::vector<bool> rstrip_;
};

// Incremental decoding for streams: push a token's bytes, get back only complete UTF-8
// characters; the bytes of a character split across tokens are held until it completes.
// Invalid sequences are passed through as U+FFFD once they can no longer become valid.
// One stream per output; not thread-safe.
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
