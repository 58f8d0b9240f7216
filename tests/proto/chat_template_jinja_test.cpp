// Chat prompts against what Python's Jinja2 renders from the real template (../shared/templates):
// byte for byte, and as token ids. ChatML is what the bundled stories260K model gets (it has no
// template of its own), and what "<|im_start|>" templates are rendered as.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "chat_cases.h"
#include "gguf/gguf_file.h"
#include "proto/chat_template.h"
#include "proto/openai_api.h"
#include "reference.h"
#include "tokenizer/vocab.h"

using namespace hearth;
using namespace hearth::proto;
using hearth::test::chat_case;

namespace {

// The conversation as /v1/chat/completions parses it from a client's JSON.
std::vector<chat_message> parsed_messages(const chat_case& c) {
  auto parsed = parse_chat(nlohmann::json{{"messages", c.messages}}.dump(), limits{.n_vocab = 512, .n_ctx = 512});
  REQUIRE(std::holds_alternative<chat_request>(parsed));
  return std::get<chat_request>(parsed).messages;
}

std::string read_text(const std::string& relative) {
  std::ifstream in(hearth::test::shared_path(relative), std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("chat template: ChatML renders every conversation as Jinja2 does", "[proto][chat]") {
  const chat_template none = chat_template::from_text("", "<s>", "</s>");
  const chat_template chatml = chat_template::from_text(read_text("templates/chatml.jinja"), "<s>", "</s>");
  REQUIRE(none.family() == "chatml (default)");
  REQUIRE(chatml.family() == "chatml");
  int checked = 0;
  for (const chat_case& c : hearth::test::chatml_cases()) {
    INFO("case " << c.name);
    const std::vector<chat_message> messages = parsed_messages(c);
    for (const chat_template* t : {&none, &chatml}) {
      const result<prompt_text> r = t->render(messages, c.add_generation_prompt);
      REQUIRE(std::holds_alternative<prompt_text>(r));
      CHECK(std::get<prompt_text>(r).text == *c.render);
    }
    ++checked;
  }
  CHECK(checked == 6);
}

TEST_CASE("chat template: the bundled model's chat prompt is BOS and the Jinja2 render's tokens", "[proto][chat]") {
  const gguf_file f = gguf_file::open(hearth::test::shared_path("models/stories260K-f32.gguf"));
  const vocab v = vocab::from_gguf(f);
  const chat_template t = chat_template::from_gguf(f, v);
  REQUIRE(t.family() == "chatml (default)");
  REQUIRE(v.add_bos());
  int checked = 0;
  for (const chat_case& c : hearth::test::chatml_cases()) {
    INFO("case " << c.name);
    std::vector<token_id> expected = {v.bos()};
    const std::vector<token_id> body = v.tokenize(*c.render, /*add_special=*/false, /*parse_special=*/true);
    expected.insert(expected.end(), body.begin(), body.end());
    const result<std::vector<token_id>> got = t.tokenize(v, parsed_messages(c), c.add_generation_prompt);
    REQUIRE(std::holds_alternative<std::vector<token_id>>(got));
    CHECK(std::get<std::vector<token_id>>(got) == expected);
    ++checked;
  }
  CHECK(checked == 6);
}
