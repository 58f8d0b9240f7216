#pragma once
// Chat prompts in the model's own format.
//
// A model's `tokenizer.chat_template` is a Jinja program; we do not interpret it. Instead the
// family is recognized from markers that only that family's templates contain (the approach of
// llama.cpp's llm_chat_detect_template), and the family's documented format is rendered here.
// Checked in order, first match wins:
//   "<|im_start|>"                                  -> chatml
//   "[INST]" with "[SYSTEM_PROMPT]"                  -> mistral-v7
//   "[INST]" otherwise                               -> llama2 (+ "-sys" if "<<SYS>>", "-bos" if
//                                                      "bos_token + '[INST]", "-strip" if
//                                                      "content.strip()")
//   "<|assistant|>" and "<|end|>"                    -> phi3
//   "<start_of_turn>"                                -> gemma
//   "<|start_header_id|>" and "<|end_header_id|>"    -> llama3
// Anything else renders as ChatML, named "chatml-fallback"; no template at all renders as
// ChatML named "chatml-default".
//
// Formats (S system, U user, A assistant; every family leaves out the leading BOS, see
// tokenize()):
//   chatml      <|im_start|>{role}\n{content}<|im_end|>\n ...  gen: <|im_start|>assistant\n
//   llama3      <|start_header_id|>{role}<|end_header_id|>\n\n{trim(content)}<|eot_id|> ...
//               gen: <|start_header_id|>assistant<|end_header_id|>\n\n
//   phi3        <|{role}|>\n{content}<|end|>\n ...              gen: <|assistant|>\n
//   gemma       <start_of_turn>{user|model}\n{trim(content)}<end_of_turn>\n ...
//               gen: <start_of_turn>model\n; system text + "\n\n" opens the next user turn
//   llama2      [INST] <<SYS>>\n{S}\n<</SYS>>\n\n{U} [/INST] {A} </s><s>[INST] {U} [/INST]
//               (the official Llama 2 format); without -sys, "{S}\n\n" opens the user turn;
//               without -bos, no "<s>" before later turns; -strip trims each turn's text.
//               No generation prompt: "[/INST]" already hands over to the assistant.
//   mistral-v7  [SYSTEM_PROMPT]{S}[/SYSTEM_PROMPT][INST]{U}[/INST]{A}</s>  (no generation prompt)
// Roles: "developer" is rendered as "system". Families without a system role (gemma, llama2)
// fold each system message into the next user turn (a system message with no user turn after
// it becomes a user turn of its own). Families without a tool role (phi3, gemma, llama2,
// mistral-v7) render "tool" as "user". trim() removes ASCII whitespace at both ends.
//
// Immutable; safe to use from any thread.
#include <string>
#include <string_view>
#include <vector>

#include "proto/chat_message.h"
#include "tokenizer/vocab.h"

namespace hearth {
class gguf_file;
}

namespace hearth::proto {

enum class chat_family { chatml, llama2, llama3, phi3, gemma, mistral_v7 };

// A rendered prompt and the byte ranges that hold message text (as opposed to the format's
// markup): control-token texts inside those ranges stay plain text when tokenized.
struct prompt_text {
  std::string text;
  std::vector<text_range> literal;
  void markup(std::string_view s);
  void content(std::string_view s);
};

class chat_template {
 public:
  // From the model's tokenizer.chat_template (absent: ChatML). Throws load_error if the key
  // holds something other than a string.
  static chat_template from_gguf(const gguf_file& f);
  // From template text ("" means no template).
  static chat_template from_text(std::string_view jinja);

  // The prompt text for `messages`, ending with the assistant's turn opener when
  // add_generation_prompt. Never includes the leading BOS.
  std::string render(const std::vector<chat_message>& messages, bool add_generation_prompt) const;

  // render(), with the message text marked.
  prompt_text render_marked(const std::vector<chat_message>& messages, bool add_generation_prompt) const;

  // The prompt's token ids: BOS (if adds_bos() or the vocab asks for one, and the vocab has
  // one) followed by render() tokenized with parse_special, so the format's markers become
  // their control tokens. A message that contains a marker's text (say "<|im_end|>") gets it as
  // plain text: users cannot forge turns.
  std::vector<token_id> tokenize(const vocab& v, const std::vector<chat_message>& messages,
                                 bool add_generation_prompt) const;

  // The model's template starts the prompt with BOS (it mentions bos_token, or begins with a
  // literal BOS text); render() leaves it out and tokenize() adds it as a token.
  bool adds_bos() const { return adds_bos_; }
  chat_family family() const { return family_; }
  // The detected format, e.g. "phi3", "llama2-sys-bos-strip", "chatml-fallback".
  std::string_view name() const { return name_; }

 private:
  chat_template() = default;

  void render_llama2(const std::vector<chat_message>& messages, prompt_text& out) const;
  void render_gemma(const std::vector<chat_message>& messages, bool gen, prompt_text& out) const;

  chat_family family_ = chat_family::chatml;
  std::string name_ = "chatml-default";
  bool adds_bos_ = false;
  // llama2 variants.
  bool llama2_sys_ = false;    // <<SYS>> block for the system message
  bool llama2_bos_ = false;    // "<s>" before every [INST] but the first
  bool llama2_strip_ = false;  // turn texts trimmed
};

}  // namespace hearth::proto
