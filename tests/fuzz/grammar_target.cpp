// Structured-output grammars (engine/grammar.h) and the JSON Schema converter
// (proto/json_schema.h): what a request's "grammar", "json_schema" or "response_format" holds.
// Input: a grammar (GBNF text) or, if it starts with '{', a JSON Schema; then optionally a NUL
// byte and a text to match. A grammar is refused with grammar_error or compiles; a schema is
// refused with json_schema_error or gives a grammar that compiles (the converter's contract,
// the engine's size limit aside). Matching the text, the token masks over a small vocabulary and
// single-token checks agree, and never crash or run away (the matcher's work bound).
#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "grammar.h"
#include "proto/json_schema.h"

namespace hearth::fuzz {

namespace {

// Tokens of JSON-ish text and odd bytes, some sharing bytes (aliases), one EOG (the last, "").
struct fuzz_vocab {
  std::vector<std::string> tokens = {"{", "}", "[", "]", "\"", ":", ",", " ", "\n", "a", "ab", "abc", "0", "12",
                                     "-", ".", "e", "true", "false", "null", "\\", "\\n", "\\u", "\xC3", "\xA9",
                                     "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F", "\x98\x80", "{\"", "\":", "\",\"",
                                     "x", "yes", "no", "ab", "\x7F", "\x01", "2024-", "01", ""};
  token_trie trie{tokens, std::vector<token_id>{static_cast<token_id>(tokens.size() - 1)}};
};

const fuzz_vocab& vocab_for_masks() {
  static const fuzz_vocab v;
  return v;
}

}  // namespace

void grammar_input(fuzz_input input) {
  const std::string_view all(reinterpret_cast<const char*>(input.data()), input.size());
  const size_t nul = all.find('\0');
  const std::string_view spec = all.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view() : all.substr(nul + 1);

  std::string gbnf(spec);
  const bool schema = !spec.empty() && spec.front() == '{';
  if (schema) {
    const nlohmann::ordered_json j = nlohmann::ordered_json::parse(spec, nullptr, false);
    if (j.is_discarded()) return;
    try {
      gbnf = json_schema_to_gbnf(j);
    } catch (const json_schema_error&) {
      return;
    }
  }
  std::shared_ptr<const grammar> g;
  try {
    g = grammar::parse(gbnf);
  } catch (const grammar_error& e) {
    const std::string why = e.what();
    expect(!schema || why.find("too large") != std::string::npos,
           "a schema's grammar that does not compile: " + why + "\n" + gbnf);
    return;
  }
  try {
    grammar_matcher m(g);
    const fuzz_vocab& v = vocab_for_masks();
    const token_trie& trie = v.trie;
    std::vector<uint32_t> mask;
    // The text in pieces of up to 3 bytes, checking the mask against allows() before each.
    for (size_t at = 0; at <= text.size(); at += 3) {
      m.allowed_tokens(trie, mask);
      expect(mask.size() == (static_cast<size_t>(trie.n_vocab()) + 31) / 32, "a mask of the wrong size");
      for (token_id id = 0; id < trie.n_vocab(); ++id) {
        const bool in_mask = (mask[static_cast<size_t>(id) / 32] >> (id % 32)) & 1u;
        expect(in_mask == m.allows(trie, id, v.tokens[static_cast<size_t>(id)]),
               "the mask and allows() disagree on token " + std::to_string(id));
      }
      if (m.must_end()) expect(m.can_end(), "must end but cannot");
      const std::string_view piece = text.substr(at, 3);
      const bool can = m.can_end();
      if (!m.accept(piece)) {
        expect(m.can_end() == can, "a refused piece changed the state");
        break;
      }
    }
  } catch (const std::length_error&) {
    // the matcher's work bound: a refusal, the matcher intact
  }
}

}  // namespace hearth::fuzz
