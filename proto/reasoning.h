#pragma once
// Reasoning models think before they answer, between markers their chat template knows
// ("<think>" … "</think>" for DeepSeek-R1, Qwen3, QwQ, GLM, SmolLM3 …; "<seed:think>",
// "<|START_THINKING|>", "<thinking>" for others). The chat endpoint reports that text apart from
// the answer: `message.reasoning_content` / `delta.reasoning_content` (as llama-server and
// DeepSeek's API do), the rest as `content`; a request's "reasoning_format": "none" keeps it
// inline.
//
// Only a block at the very start of the output counts (leading whitespace allowed), or the one
// the prompt already opened (templates whose generation prompt ends with the opening marker): a
// marker later in an answer is the answer's text. Whitespace right after the closing marker is
// dropped. A block never closed is all reasoning.
#include <optional>
#include <string>
#include <string_view>

namespace hearth::proto {

struct reasoning_markers {
  std::string open, close;
};

// The markers a chat template writes, or nullopt: the first known pair whose opening marker
// occurs in the template's source.
std::optional<reasoning_markers> reasoning_markers_of(std::string_view template_source);

// Whether a rendered prompt ends inside a reasoning block: its last non-whitespace text is the
// opening marker.
bool prompt_opens_reasoning(std::string_view prompt, const reasoning_markers& m);

// Splits a generation's text, released piece by piece, into reasoning and content. Bytes that
// could still be the start of a marker are held back until they are known. Not thread-safe.
class reasoning_splitter {
 public:
  reasoning_splitter(reasoning_markers m, bool starts_inside);

  struct parts {
    std::string reasoning, content;
  };
  parts push(std::string_view text);
  // What is still held back at the end (an unfinished marker is text).
  parts finish();

 private:
  enum class state { start, reasoning, content };
  reasoning_markers m_;
  state state_;
  bool trim_ = false;  // drop whitespace at the start of content (after the closing marker)
  std::string held_;
};

}  // namespace hearth::proto
