#pragma once
// The fuzz targets: each takes arbitrary bytes, drives one parser or loader with them, and checks
// the contracts the daemon relies on. A target returns normally on any input the code handles as
// documented (parsed, or refused with load_error / a 400 api_error); anything else escapes:
// contract_breach for a broken promise, or whatever the code under test let out (bad_alloc,
// out_of_range, ...), and the sanitizers catch memory errors and undefined behaviour.
//
// The same functions run under libFuzzer (fuzz_entry.cpp, built with the `asan` preset) and in
// the normal test suite (replay_test.cpp: every seed and every input in regressions/<name>/).
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::fuzz {

// A broken contract, named.
class contract_breach : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

using fuzz_input = std::span<const uint8_t>;

struct fuzz_target {
  std::string_view name;  // fuzz_<name> is the libFuzzer binary; regressions/<name>/ its crashes
  // Loads what every input shares (vocabularies, templates); called once, may throw.
  void (*init)();
  void (*run)(fuzz_input input);
};

// Every target, in the order scripts/fuzz runs them.
const std::vector<fuzz_target>& fuzz_targets();
const fuzz_target& find_fuzz_target(std::string_view name);  // throws std::invalid_argument

// The targets (one file each).
void gguf_input(fuzz_input input);            // engine/gguf: the GGUF parser
void model_input(fuzz_input input);           // metadata -> hparams -> sizes -> vocab -> one token
void tokenizer_init();
void tokenizer_input(fuzz_input input);       // vocab::tokenize / detokenize
void requests_input(fuzz_input input);        // JSON body -> proto, every HTTP endpoint
void ws_message_input(fuzz_input input);      // proto::parse_ws_message
void chat_template_init();
void chat_template_input(fuzz_input input);   // parse_chat -> chat_template render + tokenize
void jinja_input(fuzz_input input);           // template text (+ variables) -> proto/jinja render
void logprobs_input(fuzz_input input);
void grammar_input(fuzz_input input);         // GBNF / JSON Schema (+ text) -> grammar, matcher, masks        // perplexity --kl-divergence's log-probability files

// Throws contract_breach(what) unless ok.
inline void expect(bool ok, const std::string& what) {
  if (!ok) throw contract_breach(what);
}

}  // namespace hearth::fuzz
