#pragma once
// Chat prompts in the model's own format: the model's `tokenizer.chat_template` (or a template
// given with --chat-template) rendered by the Jinja interpreter (proto/jinja) the way Hugging
// Face renders it. A model without a template gets ChatML.
//
// Variables: messages (role, content; name, tool_call_id, reasoning_content and tool_calls
// where the request has them, with each call's JSON arguments as an object when they parse as
// one; "developer" is passed as "system"), add_generation_prompt, bos_token and eos_token (the
// vocabulary's texts), and raise_exception(msg) and strftime_now(fmt) (the local clock).
//
// Message text cannot forge control tokens: every byte the rendering took from a message
// (content, names, arguments ...) is marked, and tokenize() keeps control-token texts in marked
// ranges as plain text. Roles are not marked: they are one of a fixed set, and templates build
// markers from them ("<|" + role + "|>").
//
// BOS: a template that writes bos_token first gets it as one BOS token, never twice; the text is
// dropped from the rendering and tokenize() adds BOS (as llama.cpp does).
//
// Immutable; safe to use from many threads at once.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/api_error.h"
#include "proto/chat_message.h"
#include "proto/jinja/jinja.h"
#include "proto/reasoning.h"
#include "proto/tools.h"
#include "tokenizer/vocab.h"

namespace hearth {
class gguf_file;
}

namespace hearth::proto {

// A rendered prompt and the byte ranges that came from message text.
struct prompt_text {
  std::string text;
  std::vector<text_range> literal;  // sorted, disjoint
  bool bos = false;                 // the template began with bos_token (dropped from `text`)
};

class chat_template {
 public:
  // The model's template (none: ChatML). Throws load_error naming the key, line and column when
  // the template cannot be parsed, or when the key is not a string.
  static chat_template from_gguf(const gguf_file& f, const vocab& v);
  // Template text ("" means ChatML); `origin` names it in errors (a file name). bos_token and
  // eos_token are the vocabulary's texts. Throws load_error as from_gguf does.
  static chat_template from_text(std::string_view jinja, const vocab& v, const std::string& origin);
  // `options`: the render limits and the clock strftime_now() reads (default: the system's).
  static chat_template from_text(std::string_view jinja, std::string bos_text, std::string eos_text,
                                 const std::string& origin = "chat template", jinja::render_options options = {});

  // The prompt for `messages`, ending with the assistant's turn opener when
  // add_generation_prompt. `extra` adds variables (tools, enable_thinking ...; mark request
  // strings as user text). A template that refuses the conversation (raise_exception, or any
  // other error on these messages) gives a 400 naming "messages" with its message.
  result<prompt_text> render(const std::vector<chat_message>& messages, bool add_generation_prompt,
                             const jinja::variables& extra = {}) const;

  // The prompt's token ids: BOS (when the template began with it or the vocabulary adds it, and
  // the vocabulary has one), then the rendering tokenized with control tokens parsed, except in
  // message text.
  result<std::vector<token_id>> tokenize(const vocab& v, const std::vector<chat_message>& messages,
                                         bool add_generation_prompt) const;
  // The same for a prompt render() made.
  static std::vector<token_id> tokenize(const vocab& v, const prompt_text& p);
  // The markers around the thinking of a reasoning model, when the template writes some
  // (reasoning.h); nullopt otherwise (and for ChatML).
  const std::optional<reasoning_markers>& reasoning() const { return reasoning_; }

  // How the template shows tool calls (tools.h): its format, or Hermes's taught in a system
  // message when it knows no tools (ChatML included).
  const tool_dialect& tools() const { return tools_; }

  // For display: the format the template's markers suggest ("chatml", "llama3", "llama2",
  // "mistral", "phi3", "gemma"), "custom", or "chatml (default)" when the model has none.
  const std::string& family() const { return family_; }

 private:
  chat_template() = default;

  jinja::program program_;
  jinja::render_options options_;
  std::string bos_text_, eos_text_;
  std::string family_;
  std::optional<reasoning_markers> reasoning_;
  tool_dialect tools_;
};

}  // namespace hearth::proto
