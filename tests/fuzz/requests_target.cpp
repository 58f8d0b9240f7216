// Request bodies -> proto, for every HTTP endpoint that takes one (/v1/generate,
// /v1/completions, /v1/chat/completions, /v1/responses, /v1/messages and its count_tokens, /v1/embeddings, /v1/tokenize,
// /v1/detokenize). Each parser must return
// a request keeping its contract or a well-formed 400, and never throw.
#include "fuzz_target.h"
#include "proto/request_contracts.h"

namespace hearth::fuzz {

namespace {
// The bundled model's: 512 tokens, 512 positions.
const proto::limits lim{512, 512, 4};
}  // namespace

void requests_input(fuzz_input input) {
  using namespace proto;
  using namespace proto::test;
  const std::string_view body(reinterpret_cast<const char*>(input.data()), input.size());
  expect(result_ok(parse_generate(body, lim), [](const generate_request& g) { return generate_ok(g, lim); }),
         "parse_generate broke its contract");
  expect(result_ok(parse_completion(body, lim), [](const completion_request& c) { return completion_ok(c, lim); }),
         "parse_completion broke its contract");
  expect(result_ok(parse_chat(body, lim), [](const chat_request& c) { return chat_ok(c, lim); }),
         "parse_chat broke its contract");
  expect(result_ok(parse_responses(body, lim), [](const responses_request& r) { return responses_ok(r, lim); }),
         "parse_responses broke its contract");
  expect(result_ok(parse_messages(body, lim), [](const messages_request& m) { return messages_ok(m, lim, false); }),
         "parse_messages broke its contract");
  expect(result_ok(parse_count_tokens(body, lim), [](const messages_request& m) { return messages_ok(m, lim, true); }),
         "parse_count_tokens broke its contract");
  expect(result_ok(parse_tokenize(body), [](const tokenize_request&) { return true; }),
         "parse_tokenize broke its contract");
  expect(result_ok(parse_embeddings(body, lim), [](const embeddings_request& e) { return embeddings_ok(e, lim); }),
         "parse_embeddings broke its contract");
  expect(result_ok(parse_detokenize(body, lim), [](const detokenize_request& d) { return detokenize_ok(d, lim); }),
         "parse_detokenize broke its contract");
}

}  // namespace hearth::fuzz
