#pragma once
// A model's vocabulary, from the `tokenizer.ggml.*` GGUF metadata: the pieces with their scores
// and types, the special tokens (BOS, EOS, the end-of-generation set) and the splitting of their
// texts out of a text. The text between special tokens is turned into ids by the tokenizer that
// `tokenizer.ggml.model` names (tokenizer.h): SentencePiece ("llama"), byte-level BPE ("gpt2").
//
// Immutable after construction; safe to use from any thread. Copies share the tokenizer, which
// holds no pointer into the vocab.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/piece_index.h"

namespace hearth {

class gguf_file;
class tokenizer;
struct tokenizer_defaults;
struct tokenizer_kind;

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
  // Throws load_error naming the key on missing, unknown or inconsistent metadata.
  static vocab from_gguf(const gguf_file& f);

  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  token_id bos() const { return bos_; }   // -1 if none
  token_id eos() const { return eos_; }   // -1 if none
  token_id unk() const { return unk_; }   // -1 if none
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // SentencePiece's add_space_prefix: a "▁" goes before the first word of the text (and, as in
  // llama.cpp, of every text fragment that follows a special token).
  bool adds_space_prefix() const { return add_space_prefix_; }
  // Which tokenizer: "SentencePiece", "byte-level BPE" ("" for an empty vocab), and for BPE the
  // pre-tokenizer (tokenizer.ggml.pre, e.g. "llama-bpe"; "" for the others).
  std::string_view tokenizer_name() const { return tokenizer_name_; }
  std::string_view pre_tokenizer() const { return pre_tokenizer_; }

  // These four take an id in [0, size()).
  std::string_view piece(token_id id) const { return pieces_[id]; }
  token_type type(token_id id) const { return types_[id]; }
  float score(token_id id) const { return scores_[id]; }
  bool is_control(token_id id) const { return types_[id] == token_type::control; }
  // The id whose piece is exactly `text` (any type), or -1.
  token_id find(std::string_view text) const { return index_.find(text, pieces_); }

  // End of generation: EOS, EOT, EOM and the end-of-turn tokens of known chat formats, found by
  // their text as llama.cpp does. False for ids out of range.
  bool is_eog(token_id id) const;
  std::span<const token_id> eog_tokens() const { return eog_; }  // sorted

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

  // The exact bytes a token stands for: SentencePiece's "▁" becomes a space, byte-level BPE's
  // characters their bytes, <0xNN> the byte NN; control tokens give "" unless render_special,
  // when they give their text. Ids out of range give "".
  std::string token_to_bytes(token_id id, bool render_special = false) const;

  // Tokens back to text: their bytes, except that the space the tokenizer prefixes to the first
  // word is dropped when the sequence starts at the beginning of the text (SentencePiece's
  // add_space_prefix): the first token, or the second if the first is BOS, loses one leading
  // space. With clean_up_spaces, and if the model asks for it (cleans_up_spaces()), also
  // llama.cpp's llama_detokenize clean-up (" ." -> ".", " 's" -> "'s", ...), which is lossy.
  std::string detokenize(const std::vector<token_id>& tokens, bool render_special = false,
                         bool clean_up_spaces = false) const;
  // Whether the model's tokenizer cleans up spaces when decoding (HF's
  // clean_up_tokenization_spaces, as llama.cpp sets it per pre-tokenizer).
  bool cleans_up_spaces() const { return clean_spaces_; }

 private:
  // A run of the input: raw text (token == -1) or a token split out of it.
  struct fragment {
    token_id token;
    size_t offset, length;
  };

  // from_gguf() stages (vocab_load.cpp).
  void read_pieces(const gguf_file& f);
  void read_specials(const gguf_file& f, const tokenizer_defaults& d, const tokenizer_kind& kind);
  void find_eog_tokens(const gguf_file& f, bool normal_pieces_are_text);
  void build_special_index();
  // The byte a "<0xNN>" piece stands for, or -1 if the piece is not of that form.
  static int byte_value(std::string_view piece);

  // tokenize() stages (vocab.cpp).
  void split_special(std::string_view text, bool parse_special, std::span<const text_range> literal,
                     std::vector<fragment>& out) const;
  void split_on(token_id special, std::string_view text, std::span<const text_range> literal,
                std::vector<fragment>& frags) const;
  void append_bytes(token_id id, bool render_special, std::string& out) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<token_type> types_;
  piece_index index_;  // every non-empty piece
  std::shared_ptr<const tokenizer> tokenizer_;  // null only in an empty vocab
  std::string_view tokenizer_name_;  // static text from the tokenizer table
  std::string pre_tokenizer_;
  std::vector<token_id> eog_;
  token_id bos_ = -1, eos_ = -1, unk_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true, clean_spaces_ = false;
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
