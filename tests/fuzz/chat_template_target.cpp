// Chat-template rendering of parsed chat messages (proto/chat_template), with the real templates
// of ../shared/templates. Input: a byte choosing the template, a byte of flags, then a
// /v1/chat/completions body. Whatever parse_chat accepts must render, and message text must
// never become control tokens: users cannot forge turns.
//
#include "fuzz_fixtures.h"
#include "fuzz_target.h"
#include "proto/chat_template.h"
#include "proto/openai_api.h"

namespace hearth::fuzz {

namespace {

const proto::limits lim{512, 512};
const char* const vocab_files[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"};

std::vector<proto::chat_template>& templates() {
  static std::vector<proto::chat_template> t;
  return t;
}

int count_control(const vocab& v, const std::vector<token_id>& ids) {
  int n = 0;
  for (token_id id : ids) {
    expect(id >= 0 && id < v.size(), "token id " + std::to_string(id) + " out of range");
    n += v.is_control(id);
  }
  return n;
}

void check_marked(const proto::prompt_text& p) {
  size_t end = 0;
  for (const text_range& r : p.literal) {
    expect(r.begin >= end && r.begin <= r.end && r.end <= p.text.size(),
           "message ranges not sorted, disjoint and inside the prompt");
    end = r.end;
  }
}

// The markup alone: the prompt with every message's text taken out.
std::string markup_of(const proto::prompt_text& p) {
  std::string out;
  size_t at = 0;
  for (const text_range& r : p.literal) {
    out.append(p.text, at, r.begin - at);
    at = r.end;
  }
  out.append(p.text, at);
  return out;
}

}  // namespace

void chat_template_init() {
  if (!templates().empty()) return;
  for (const std::string& text : shared_chat_templates()) templates().push_back(proto::chat_template::from_text(text, "<s>", "</s>"));
  for (const char* f : vocab_files) shared_vocab(f);
}

// Byte 0: template; byte 1: bit 0 add_generation_prompt, bit 1 the vocabulary; then the body.
void chat_template_input(fuzz_input input) {
  if (input.size() < 2) return;
  chat_template_init();
  const proto::chat_template& t = templates()[input[0] % templates().size()];
  const bool gen = input[1] & 1;
  const vocab& v = shared_vocab(vocab_files[(input[1] >> 1) & 1]);
  const std::string_view body(reinterpret_cast<const char*>(input.data() + 2), input.size() - 2);
  const auto parsed = proto::parse_chat(body, lim);
  if (proto::is_error(parsed)) return;
  const std::vector<proto::chat_message>& messages = std::get<proto::chat_request>(parsed).messages;

  // A template may refuse a conversation (raise_exception): that is a 400, not a failure.
  const proto::result<proto::prompt_text> rendered = t.render(messages, gen);
  if (proto::is_error(rendered)) return;
  const proto::prompt_text& p = std::get<proto::prompt_text>(rendered);
  check_marked(p);
  const proto::result<std::vector<token_id>> tokenized = t.tokenize(v, messages, gen);
  expect(!proto::is_error(tokenized), "render() accepted what tokenize() refused");
  const std::vector<token_id>& ids = std::get<std::vector<token_id>>(tokenized);
  const std::vector<token_id> body_ids = v.tokenize(p.text, false, true, p.literal);
  const int bos = (ids.size() > body_ids.size() && ids.front() == v.bos()) ? 1 : 0;
  expect(ids.size() == body_ids.size() + bos && std::equal(body_ids.begin(), body_ids.end(), ids.begin() + bos),
         "tokenize() is not BOS + the marked prompt's tokens");
  expect(count_control(v, body_ids) == count_control(v, v.tokenize(markup_of(p), false, true)),
         "message text became control tokens (template " + t.family() + ")");
}

}  // namespace hearth::fuzz
