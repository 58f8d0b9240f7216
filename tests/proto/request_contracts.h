#pragma once
// What the server relies on from every request parser (proto/*_api.h), for any input: a parse
// either fails with a well-formed 400 or yields a request that keeps these contracts. Shared by
// the randomized parse test (proto/parse_fuzz_test.cpp) and the libFuzzer targets (tests/fuzz).
#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "grammar.h"
#include "proto/anthropic_api.h"
#include "proto/embeddings_api.h"
#include "proto/json_schema.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "proto/responses_api.h"
#include "proto/tools.h"
#include "proto/ws_api.h"
#include "sampler.h"
#include "stop_matcher.h"

namespace hearth::proto::test {

inline bool tokens_ok(const std::vector<int32_t>& t, const limits& lim) {
  for (int32_t id : t)
    if (id < 0 || id >= lim.n_vocab) return false;
  return !t.empty();
}

inline bool stops_ok(const std::vector<std::string>& stop) {
  if (stop.size() > max_stop_strings) return false;
  for (const std::string& s : stop)
    if (s.empty()) return false;
  return true;
}

inline bool error_ok(const api_error& e) {
  return e.status == 400 && !e.message.empty() && e.type == "invalid_request_error" &&
         !serialize(to_json(e)).empty();
}

// Tools: named choices name an offered tool; the call grammar of a forced choice is refused as
// a schema error or compiles.
inline bool tools_ok(const tool_request& t) {
  if (t.mode == tool_mode::named) {
    bool found = false;
    for (const tool_definition& d : t.tools) found |= d.name == t.named;
    if (!found) return false;
  }
  if (!t.forced()) return true;
  std::string gbnf;
  try {
    gbnf = tool_call_gbnf(tool_dialect{tool_format::hermes}, t);
  } catch (const json_schema_error&) {
    return true;
  }
  try {
    grammar::parse(gbnf);
  } catch (const grammar_error& e) {
    const std::string_view what = e.what();  // only the size limits
    return what.find("too large") != std::string_view::npos || what.find("over 1 MiB") != std::string_view::npos;
  }
  return true;
}

// max_tokens within the context, unless the window rolls (request_fields.h context_overflow).
inline bool within_context(int64_t max_tokens, context_overflow o, const limits& lim) {
  return o == context_overflow::rolling || max_tokens <= lim.n_ctx;
}

// Speculative decoding within range, and mode draft only where a draft model is.
inline bool speculative_ok(const speculative_settings& s, const limits& lim) {
  return s.max_tokens >= 1 && s.max_tokens <= max_speculative_tokens &&
         (s.mode != speculative_mode::draft || lim.draft_model);
}

inline bool generate_ok(const generate_request& g, const limits& lim) {
  return g.prompt.has_value() != g.tokens.has_value() && (!g.tokens || tokens_ok(*g.tokens, lim)) &&
         !validate(g.sampling) && stops_ok(g.stop) &&
         (!g.max_tokens || (*g.max_tokens >= 1 && within_context(*g.max_tokens, g.overflow, lim))) &&
         speculative_ok(g.speculative, lim);
}

inline bool completion_ok(const completion_request& c, const limits& lim) {
  return c.prompt.has_value() != c.tokens.has_value() && (!c.tokens || tokens_ok(*c.tokens, lim)) &&
         !validate(c.sampling) && c.sampling.temperature <= 2.0f && stops_ok(c.stop) &&
         c.max_tokens >= 1 && (c.stream || !c.include_usage) && c.n >= 1 && c.n <= std::max(1, lim.max_choices) &&
         speculative_ok(c.speculative, lim);
}

inline bool chat_ok(const chat_request& c, const limits& lim) {
  return !c.messages.empty() && !validate(c.sampling) && c.sampling.temperature <= 2.0f &&
         stops_ok(c.stop) && (!c.max_tokens || *c.max_tokens >= 1) && tools_ok(c.tools) && c.n >= 1 &&
         c.n <= std::max(1, lim.max_choices) &&
         speculative_ok(c.speculative, lim);
}

inline bool messages_ok(const messages_request& m, const limits& lim, bool count_only) {
  return !m.messages.empty() && !validate(m.sampling) && m.sampling.temperature <= 1.0f && stops_ok(m.stop) &&
         (count_only || (m.max_tokens >= 1 && within_context(m.max_tokens, m.overflow, lim))) && tools_ok(m.tools) &&
         speculative_ok(m.speculative, lim);
}

inline bool responses_ok(const responses_request& r, const limits& lim) {
  return !r.messages.empty() && !validate(r.sampling) && r.sampling.temperature <= 2.0f &&
         (!r.max_output_tokens || (*r.max_output_tokens >= 1 && within_context(*r.max_output_tokens, r.overflow, lim))) &&
         tools_ok(r.tools) && !(r.constraint && r.tools.forced()) && r.echo.is_object() &&
         speculative_ok(r.speculative, lim);
}

inline bool embeddings_ok(const embeddings_request& e, const limits& lim) {
  if (e.inputs.empty() || e.inputs.size() > max_embedding_inputs || (e.dimensions && *e.dimensions < 1)) return false;
  for (const auto& in : e.inputs) {
    if (const std::string* s = std::get_if<std::string>(&in)) {
      if (s->empty()) return false;
    } else if (const auto& ids = std::get<std::vector<int32_t>>(in); ids.empty() || !tokens_ok(ids, lim)) {
      return false;
    }
  }
  return true;
}

inline bool detokenize_ok(const detokenize_request& d, const limits& lim) {
  return d.tokens.empty() || tokens_ok(d.tokens, lim);
}

inline bool ws_message_ok(const ws_message& m, const limits& lim) {
  if (const ws_error* e = std::get_if<ws_error>(&m)) return error_ok(e->error) && e->id.size() <= max_ws_id_bytes;
  if (const ws_generate* g = std::get_if<ws_generate>(&m)) {
    return !g->id.empty() && g->id.size() <= max_ws_id_bytes && g->request.stream && generate_ok(g->request, lim);
  }
  if (const ws_steer* st = std::get_if<ws_steer>(&m)) {
    if (st->id.empty() || st->id.size() > max_ws_id_bytes) return false;
    if (st->op == steer_kind::append) {
      // Exactly one input, not empty, ids in the vocabulary.
      if (st->text.has_value() == st->tokens.has_value()) return false;
      if (st->text) return !st->text->empty();
      return !st->tokens->empty() && std::all_of(st->tokens->begin(), st->tokens->end(),
                                                 [&](int32_t t) { return t >= 0 && t < lim.n_vocab; });
    }
    if (st->op != steer_kind::update) return true;
    // Something to change, every value in its range.
    sampling_params p;
    if (st->update.temperature) p.temperature = *st->update.temperature;
    if (st->update.top_k) p.top_k = *st->update.top_k;
    if (st->update.top_p) p.top_p = *st->update.top_p;
    if (st->update.min_p) p.min_p = *st->update.min_p;
    const bool any = st->update.temperature || st->update.top_k || st->update.top_p || st->update.min_p || st->update.stop || st->update.max_tokens;
    return any && !validate(p) && (!st->update.stop || (st->update.stop->size() <= max_stop_strings && !validate_stops(*st->update.stop))) &&
           (!st->update.max_tokens || *st->update.max_tokens >= 1);
  }
  const ws_cancel& c = std::get<ws_cancel>(m);
  return !c.id.empty() && c.id.size() <= max_ws_id_bytes;
}

// A parse result: the error keeps error_ok, the value keeps `check`.
template <class T, class Check>
bool result_ok(const result<T>& r, Check&& check) {
  if (const api_error* e = std::get_if<api_error>(&r)) return error_ok(*e);
  return check(std::get<T>(r));
}

}  // namespace hearth::proto::test
