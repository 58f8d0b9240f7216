#pragma once
// Constrained decoding: a GBNF grammar (llama.cpp's dialect) compiled to a pushdown matcher over
// bytes, and the per-step token mask computed from the matcher's state against a token trie.
//
// GBNF, as accepted here:
//   rule      ::= name "::=" alternatives        (name: [A-Za-z0-9_-]+; `root` starts unless told)
//   alternatives: sequences separated by "|"; a sequence of items, possibly empty
//   item      : "literal" | [class] | [^class] | . | name | ( alternatives ) , each optionally
//               followed by *, +, ?, {m}, {m,}, {m,n}
//   escapes   : \n \r \t \\ \" \] \[ \- \^ \xHH \uHHHH \UHHHHHHHH in literals and classes
//   comments  : # to the end of the line. A rule may span lines; a new rule starts at `name ::=`.
// Literals and classes match Unicode code points of UTF-8 text (never UTF-16 surrogates, overlong
// forms or values past U+10FFFF: those bytes are no text); `.` is any code point but "\n"
// is allowed by `.` too (as in llama.cpp). Left recursion (a rule that can reach itself before
// consuming a character) and references to undefined rules are parse errors.
//
// Thread-safety: a `grammar` is immutable and may be shared. A `grammar_matcher` is one
// sequence's state plus caches; one thread at a time.
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth {

// A grammar that does not parse or compile: what() says where ("line L, column C: ...") and why.
class grammar_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct grammar_rules;  // compiled form (grammar.cpp)

class grammar {
 public:
  // Parses GBNF text. Throws grammar_error. Limits: text up to 1 MiB, up to 65,536 compiled
  // elements, repetition bounds up to 10,000, parentheses nested up to 128 deep. Matching uses
  // no recursion, so neither a grammar nor a text can exhaust the stack.
  static std::shared_ptr<const grammar> parse(std::string_view gbnf, std::string_view root = "root");

  const grammar_rules& rules() const { return *rules_; }
  std::string_view root_name() const { return root_; }

 private:
  std::shared_ptr<const grammar_rules> rules_;
  std::string root_;
};

// Every token's bytes in a trie, built once per vocabulary (immutable, shareable). Tokens with no
// bytes (control tokens) are left out; end-of-generation tokens are kept apart (allowed exactly
// when the grammar can end). token_trie_of (token_decoder.h) builds it from a model's tokens.
class token_trie {
 public:
  // token_bytes[id]: the bytes of token id ("" for none); eog: the end-of-generation ids.
  token_trie(std::span<const std::string> token_bytes, std::span<const token_id> eog);

  int32_t n_vocab() const { return n_vocab_; }

  struct node {
    uint32_t first_child = 0;  // index into nodes_ of the first child; children are contiguous
    uint16_t n_children = 0;
    uint8_t byte = 0;          // the byte on the edge into this node
    token_id token = -1;       // the token whose bytes end here, or -1
  };
  std::span<const node> nodes() const { return nodes_; }  // nodes_[0] is the root
  std::span<const token_id> eog() const { return eog_; }
  // Tokens that share a byte string with an earlier token (same node): id -> the trie's token.
  std::span<const std::pair<token_id, token_id>> aliases() const { return aliases_; }

 private:
  void build(std::span<const std::string> token_bytes);
  int32_t n_vocab_ = 0;
  std::vector<node> nodes_;
  std::vector<token_id> eog_;
  std::vector<std::pair<token_id, token_id>> aliases_;
};

// One sequence's position in a grammar.
class grammar_matcher {
 public:
  explicit grammar_matcher(std::shared_ptr<const grammar> g);
  ~grammar_matcher();
  grammar_matcher(grammar_matcher&&) noexcept;
  grammar_matcher& operator=(grammar_matcher&&) noexcept;

  // Advances over `bytes` if the grammar allows them as a continuation (an unfinished UTF-8
  // character at the end is allowed if some continuation of it is); returns false and leaves the
  // state unchanged otherwise.
  // Work bound: accept, allowed_tokens and allows throw std::length_error if one byte would take
  // more than 2^18 expansion steps or one call more than 2^24 (a grammar whose nullable tails
  // nest as deep as the text costs its depth at every byte); the state is then unchanged and the
  // generation should fail. The constructor throws it too (a grammar too ambiguous to start).
  bool accept(std::string_view bytes);
  // The text matched so far is a complete sentence of the grammar (no unfinished character).
  bool can_end() const;
  // Nothing more may follow: the only way on is to end.
  bool must_end() const;

  // The mask for the next token: bit i of words[i / 32] set iff token i may come next (its bytes
  // continue the grammar; an EOG token iff can_end()). `words` is resized to (n_vocab + 31) / 32.
  // Masks are cached per matcher state, so a state seen before costs a copy.
  void allowed_tokens(const token_trie& trie, std::vector<uint32_t>& words);
  // Whether one token may come next (cheaper than the mask; agrees with it).
  bool allows(const token_trie& trie, token_id id, std::string_view bytes);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Whether `text` is a complete sentence of `g` (for tests and tools).
bool grammar_accepts(std::shared_ptr<const grammar> g, std::string_view text);

}  // namespace hearth
