#pragma once
// The conversations of ../shared/templates/cases.json with what Python's Jinja2 rendered from
// one template (templates/<name>.renders.json): the independent reference for chat prompts.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace hearth::test {

struct chat_case {
  std::string name;
  nlohmann::json messages;  // as a client sends them (extra fields such as tool_calls included)
  bool add_generation_prompt = false;
  std::optional<std::string> render;  // Jinja2's output, byte for byte
  std::optional<std::string> error;   // or the error Jinja2 raised for this conversation
};

// Every case of cases.json, in its order, with `template_name`'s render of it. Fails the test if
// the files do not hold exactly the six conversations ../shared/templates/README.md describes,
// each rendered or refused.
std::vector<chat_case> template_cases(const std::string& template_name);

// template_cases("chatml"), each of which must have rendered.
std::vector<chat_case> chatml_cases();

}  // namespace hearth::test
