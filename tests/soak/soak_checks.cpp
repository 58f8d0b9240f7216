#include "soak_checks.h"

namespace hearth::soak {

namespace {

using nlohmann::json;

bool is_finish(const json& v, bool cancelled = false) {
  return v.is_string() && (v == "stop" || v == "length" || (cancelled && v == "cancelled"));
}

// usage: prompt_tokens > 0, completion_tokens in [0, max_tokens] (== expected when given),
// total the sum.
std::string check_usage(const json& u, int max_tokens, int expected_completion = -1) {
  if (!u.is_object()) return "usage is not an object";
  const json &p = u.value("prompt_tokens", json()), &c = u.value("completion_tokens", json()),
             &t = u.value("total_tokens", json());
  if (!p.is_number_integer() || !c.is_number_integer() || !t.is_number_integer()) return "usage fields not integers";
  if (p.get<int>() <= 0) return "usage.prompt_tokens " + p.dump();
  if (c.get<int>() < 0 || c.get<int>() > max_tokens) return "usage.completion_tokens " + c.dump();
  if (t.get<int>() != p.get<int>() + c.get<int>()) return "usage.total_tokens is not the sum";
  if (expected_completion >= 0 && c.get<int>() != expected_completion) {
    return "usage.completion_tokens " + c.dump() + " but " + std::to_string(expected_completion) + " tokens sent";
  }
  return "";
}

std::string check_openai_body(const request_shape& r, const json& j) {
  const bool chat = r.kind == api::chat;
  if (j.value("object", "") != (chat ? "chat.completion" : "text_completion")) return "wrong object: " + j.dump();
  if (!j["id"].is_string() || !j["created"].is_number_integer()) return "id/created missing";
  const json& ch = j["choices"];
  if (!ch.is_array() || ch.size() != 1) return "choices is not one element";
  if (!is_finish(ch[0]["finish_reason"])) return "finish_reason " + ch[0]["finish_reason"].dump();
  if (chat) {
    const json& m = ch[0]["message"];
    if (m.value("role", "") != "assistant" || !m["content"].is_string()) return "message malformed";
  } else if (!ch[0]["text"].is_string()) {
    return "text is not a string";
  }
  return check_usage(j["usage"], r.max_tokens);
}

std::string check_generate_body(const request_shape& r, const json& j) {
  if (!j["text"].is_string() || !j["tokens"].is_array()) return "text/tokens missing";
  for (const json& t : j["tokens"])
    if (!t.is_number_integer()) return "a token id is not an integer";
  if (!is_finish(j["finish_reason"])) return "finish_reason " + j["finish_reason"].dump();
  if (!j["timings"].is_object()) return "timings missing";
  return check_usage(j["usage"], r.max_tokens, static_cast<int>(j["tokens"].size()));
}

// OpenAI chunks: one object per event, exactly one finish_reason, [DONE] last.
std::string check_openai_stream(const request_shape& r, const std::vector<json>& ev) {
  const bool chat = r.kind == api::chat;
  if (ev.empty() || ev.back() != "[DONE]") return "stream does not end with [DONE]";
  int finishes = 0, usage_chunks = 0;
  for (size_t i = 0; i + 1 < ev.size(); ++i) {
    const json& e = ev[i];
    if (!e.is_object()) return "event " + std::to_string(i) + " is not an object";
    if (e.value("object", "") != (chat ? "chat.completion.chunk" : "text_completion")) return "wrong chunk object";
    const json& ch = e["choices"];
    if (!ch.is_array()) return "chunk without choices";
    if (ch.empty()) {  // the usage chunk
      if (!r.include_usage) return "usage chunk without include_usage";
      if (std::string u = check_usage(e["usage"], r.max_tokens); !u.empty()) return u;
      ++usage_chunks;
      continue;
    }
    if (!ch[0]["finish_reason"].is_null()) {
      if (!is_finish(ch[0]["finish_reason"])) return "finish_reason " + ch[0]["finish_reason"].dump();
      ++finishes;
    }
    if (chat) {
      const json& d = ch[0]["delta"];
      if (!d.is_object()) return "delta is not an object";
      if (i == 0 && d.value("role", "") != "assistant") return "first chat chunk is not the role";
      if (d.contains("content") && !d["content"].is_string()) return "delta.content not a string";
    } else if (!ch[0]["text"].is_string()) {
      return "chunk text not a string";
    }
  }
  if (finishes != 1) return std::to_string(finishes) + " chunks with a finish_reason";
  if (r.include_usage && usage_chunks != 1) return "no usage chunk";
  return "";
}

// Native: {"token": {...}} events, then one {"done": true, ...}.
std::string check_generate_stream(const request_shape& r, const std::vector<json>& ev) {
  if (ev.empty()) return "empty stream";
  for (size_t i = 0; i + 1 < ev.size(); ++i) {
    const json& t = ev[i].is_object() ? ev[i]["token"] : json();
    if (!t.is_object() || !t["id"].is_number_integer() || !t["text"].is_string()) return "malformed token event";
  }
  const json& done = ev.back();
  if (!done.is_object() || done.value("done", false) != true) return "last event is not done";
  if (!is_finish(done["finish_reason"])) return "finish_reason " + done["finish_reason"].dump();
  return check_usage(done["usage"], r.max_tokens, static_cast<int>(ev.size() - 1));
}

}  // namespace

std::vector<json> sse_events(std::string_view stream, std::string* error) {
  std::vector<json> out;
  size_t at = 0;
  while (at < stream.size()) {
    const size_t end = stream.find("\n\n", at);
    if (end == std::string_view::npos) {
      *error = "stream ends inside an event";
      return out;
    }
    std::string_view ev = stream.substr(at, end - at);
    at = end + 2;
    // A waiting request's place (a comment, before any data): skipped, as SSE clients do.
    if (ev.starts_with(": queued position=") && ev.find('\n') == std::string_view::npos) {
      if (!out.empty()) {
        *error = "a queue comment after data: " + std::string(ev.substr(0, 80));
        return out;
      }
      continue;
    }
    if (!ev.starts_with("data: ") || ev.find('\n') != std::string_view::npos) {
      *error = "not a single data line: " + std::string(ev.substr(0, 80));
      return out;
    }
    ev.remove_prefix(6);
    if (ev == "[DONE]") {
      out.emplace_back("[DONE]");
      continue;
    }
    json j = json::parse(ev, nullptr, false);
    if (j.is_discarded()) {
      *error = "event is not JSON: " + std::string(ev.substr(0, 80));
      return out;
    }
    out.push_back(std::move(j));
  }
  return out;
}

std::string check_body(const request_shape& r, std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "body is not a JSON object: " + std::string(body.substr(0, 80));
  return r.kind == api::generate ? check_generate_body(r, j) : check_openai_body(r, j);
}

std::string check_stream(const request_shape& r, std::string_view stream) {
  std::string error;
  const std::vector<json> ev = sse_events(stream, &error);
  if (!error.empty()) return error;
  return r.kind == api::generate ? check_generate_stream(r, ev) : check_openai_stream(r, ev);
}

std::string check_ws_generation(const std::vector<json>& tokens, const json& done, int max_tokens, bool cancelled) {
  for (const json& t : tokens) {
    if (!t["text"].is_string() || !t["token_id"].is_number_integer()) return "malformed ws token event";
  }
  if (!is_finish(done["finish_reason"], cancelled)) return "ws finish_reason " + done["finish_reason"].dump();
  return check_usage(done["usage"], max_tokens, static_cast<int>(tokens.size()));
}

}  // namespace hearth::soak
