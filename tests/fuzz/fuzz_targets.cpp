#include <stdexcept>
#include <string>

#include "fuzz_target.h"

namespace hearth::fuzz {

namespace {
void no_init() {}
}  // namespace

const std::vector<fuzz_target>& fuzz_targets() {
  // New parsers get a target here as they arrive.
  static const std::vector<fuzz_target> targets = {
      {"gguf", no_init, gguf_input},
      {"model", no_init, model_input},
      {"tokenizer", tokenizer_init, tokenizer_input},
      {"requests", no_init, requests_input},
      {"ws_message", no_init, ws_message_input},
      {"chat_template", chat_template_init, chat_template_input},
      {"jinja", no_init, jinja_input},
      {"logprobs", no_init, logprobs_input},
      {"grammar", no_init, grammar_input},
  };
  return targets;
}

const fuzz_target& find_fuzz_target(std::string_view name) {
  for (const fuzz_target& t : fuzz_targets())
    if (t.name == name) return t;
  throw std::invalid_argument("no fuzz target named " + std::string(name));
}

}  // namespace hearth::fuzz
