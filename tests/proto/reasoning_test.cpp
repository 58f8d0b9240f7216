// Splitting a reasoning model's thinking from its answer: which markers each real template uses,
// and the streaming splitter, whose result must not depend on how the text arrives.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/reasoning.h"
#include "reference.h"

using namespace hearth::proto;

namespace {

// The splitter fed `text` cut at the given positions, then finished; parts joined.
reasoning_splitter::parts split_at(const reasoning_markers& m, bool inside, const std::string& text,
                                   const std::vector<size_t>& cuts) {
  reasoning_splitter s(m, inside);
  reasoning_splitter::parts all;
  size_t from = 0;
  auto add = [&](const reasoning_splitter::parts& p) {
    all.reasoning += p.reasoning;
    all.content += p.content;
  };
  for (size_t cut : cuts) {
    add(s.push(std::string_view(text).substr(from, cut - from)));
    from = cut;
  }
  add(s.push(std::string_view(text).substr(from)));
  add(s.finish());
  return all;
}

const reasoning_markers think{"<think>", "</think>"};

}  // namespace

TEST_CASE("reasoning: the markers of the real templates", "[proto][reasoning]") {
  const struct {
    const char* file;
    const char* open;  // "" for none
  } cases[] = {
      {"Qwen-Qwen3-0.6B.jinja", "<think>"},
      {"Qwen-QwQ-32B.jinja", "<think>"},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "<think>"},
      {"ByteDance-Seed-OSS.jinja", "<seed:think>"},
      {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "<|START_THINKING|>"},
      {"chatml.jinja", ""},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ""},
      {"TinyLlama-1.1B-Chat-v1.0.jinja", ""},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    const auto m = reasoning_markers_of(hearth::test::read_text(hearth::test::shared_path(std::string("templates/") + c.file)));
    if (std::string(c.open).empty()) {
      CHECK_FALSE(m.has_value());
    } else {
      REQUIRE(m.has_value());
      CHECK(m->open == c.open);
    }
  }
  CHECK(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n", think));
  CHECK_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n</think>", think));
  CHECK_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n", think));
}

TEST_CASE("reasoning: thinking at the start is split off, whatever the pieces", "[proto][reasoning]") {
  const struct {
    std::string text;
    bool inside;
    std::string reasoning, content;
  } cases[] = {
      {"<think>Let me see.</think>\n\nThe answer is 4.", false, "Let me see.", "The answer is 4."},
      {"  \n<think>a</think>b", false, "a", "b"},                             // leading whitespace
      {"Let me see.</think>The answer.", true, "Let me see.", "The answer."},  // the prompt opened it
      {"thinking that never ends", true, "thinking that never ends", ""},
      {"<think>unclosed", false, "unclosed", ""},
      {"No thinking here.", false, "", "No thinking here."},
      {"Answer: <think>x</think>", false, "", "Answer: <think>x</think>"},  // not at the start: text
      {"<thi", false, "", "<thi"},                                         // an unfinished marker is text
      {"<think></think>", false, "", ""},
      {"a </thin", true, "a </thin", ""},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto whole = split_at(think, c.inside, c.text, {});
    CHECK(whole.reasoning == c.reasoning);
    CHECK(whole.content == c.content);
    // Every single cut and every pair of cuts gives the same parts.
    for (size_t i = 0; i <= c.text.size(); ++i) {
      for (size_t j = i; j <= c.text.size(); ++j) {
        const auto parts = split_at(think, c.inside, c.text, {i, j});
        INFO("cut at " << i << ", " << j);
        REQUIRE(parts.reasoning == c.reasoning);
        REQUIRE(parts.content == c.content);
      }
    }
  }
  // Other markers work alike.
  const auto seed = split_at({"<seed:think>", "</seed:think>"}, false, "<seed:think>x</seed:think> y", {3, 15});
  CHECK(seed.reasoning == "x");
  CHECK(seed.content == "y");
}
