#include "config/server_config.h"

#include <arpa/inet.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hearth {

namespace {

template <class T>
T parse_int(const std::string& v, T lo, T hi) {
  T out{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) {
    throw config_error("'" + v + "' is not an integer");
  }
  if (out < lo || out > hi) {
    throw config_error(v + " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
  }
  return out;
}

bool parse_bool(const std::string& v) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw config_error("'" + v + "' is not a boolean (true/false)");
}

template <class T>
setting int_setting(std::string_view name, std::string_view value_name, std::string_view help, T server_config::*m,
                    T lo, T hi) {
  return {name, value_name, help, false,
          [m, lo, hi](server_config& c, const std::string& v) { c.*m = parse_int<T>(v, lo, hi); },
          [m](const server_config& c) { return std::to_string(c.*m); }};
}

setting string_setting(std::string_view name, std::string_view value_name, std::string_view help,
                       std::string server_config::*m) {
  return {name, value_name, help, false, [m](server_config& c, const std::string& v) { c.*m = v; },
          [m](const server_config& c) { return (c.*m).empty() ? std::string("none") : c.*m; }};
}

setting bool_setting(std::string_view name, std::string_view help, bool server_config::*m) {
  return {name, "", help, false, [m](server_config& c, const std::string& v) { c.*m = parse_bool(v); },
          [m](const server_config& c) { return std::string(c.*m ? "true" : "false"); }};
}

setting list_setting(std::string_view name, std::string_view value_name, std::string_view help,
                     std::vector<std::string> server_config::*m) {
  return {name, value_name, help, true,
          [m](server_config& c, const std::string& v) {
            if (v.empty()) throw config_error("an empty value is not allowed");
            (c.*m).push_back(v);
          },
          [m](const server_config& c) {
            std::string s;
            for (const auto& v : c.*m) s += (s.empty() ? "" : ",") + v;
            return s.empty() ? std::string("none") : s;
          },
          [m](server_config& c) { (c.*m).clear(); },
          [m](const server_config& c) { return (c.*m).size(); }};
}

// "CLIENT=N": the client and N; throws config_error if malformed or N is outside [lo, hi].
std::pair<std::string_view, int32_t> split_client_rule(std::string_view v, int32_t lo, int32_t hi) {
  const size_t eq = v.rfind('=');
  if (eq == std::string_view::npos || eq == 0) throw config_error("'" + std::string(v) + "' is not CLIENT=N");
  return {v.substr(0, eq), parse_int<int32_t>(std::string(v.substr(eq + 1)), lo, hi)};
}

setting client_rule_setting(std::string_view name, std::string_view help, std::vector<std::string> server_config::*m,
                            int32_t lo, int32_t hi) {
  setting s = list_setting(name, "CLIENT=N", help, m);
  s.apply = [m, lo, hi](server_config& c, const std::string& v) {
    split_client_rule(v, lo, hi);
    (c.*m).push_back(v);
  };
  return s;
}

std::string env_name(std::string_view name) {
  std::string e = "HEARTH_";
  for (char ch : name) e += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return e;
}

const setting* find_setting(std::string_view name) {
  for (const setting& s : server_settings()) if (s.name == name) return &s;
  return nullptr;
}

void apply_from(server_config& c, const setting& s, const std::string& value, const std::string& source) {
  try {
    s.apply(c, value);
  } catch (const config_error& e) {
    throw config_error(source + ": " + e.what());
  }
}

// JSON values become the same strings a flag would carry; arrays feed repeatable settings.
void apply_json(server_config& c, const setting& s, const nlohmann::json& v, const std::string& source) {
  if (v.is_array()) {
    if (!s.repeatable) throw config_error(source + ": expected a single value, not an array");
    for (const auto& e : v) apply_json(c, s, e, source);
  } else if (v.is_string()) {
    apply_from(c, s, v.get<std::string>(), source);
  } else if (v.is_boolean()) {
    apply_from(c, s, v.get<bool>() ? "true" : "false", source);
  } else if (v.is_number_integer()) {
    apply_from(c, s, v.dump(), source);
  } else {
    throw config_error(source + ": expected a string, integer or boolean");
  }
}

// Where each list setting's values came from, so that a source replacing them says so.
class list_sources {
 public:
  list_sources() : from_(server_settings().size()) {}

  // `source` is about to set list `s`: empties it first when it holds values from another
  // (lower) source, and notes that it does. A source adding to its own values keeps them.
  void replace(server_config& c, const setting& s, const std::string& source, std::vector<std::string>* notices) {
    std::string& from = from_[index(s)];
    if (from == source) return;
    const size_t held = s.count(c);
    if (held > 0 && notices) {
      notices->push_back(source + " replaces the " + std::to_string(held) + " " + std::string(s.name) + " value" +
                         (held == 1 ? "" : "s") + " from " + from);
    }
    s.clear(c);
    from = source;
  }

 private:
  static size_t index(const setting& s) { return static_cast<size_t>(&s - server_settings().data()); }

  std::vector<std::string> from_;
};

// Comma-separated parts, empty ones included ("" is one empty part): each must be checked.
std::vector<std::string> split_commas(const std::string& v) {
  std::vector<std::string> parts(1);
  for (char ch : v) {
    if (ch == ',') parts.emplace_back();
    else parts.back() += ch;
  }
  return parts;
}

void load_file(server_config& c, const std::string& path, list_sources& lists, std::vector<std::string>* notices) {
  std::ifstream in(path);
  if (!in) throw config_error("config file " + path + ": cannot be read");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw config_error("config file " + path + ": malformed JSON: " + e.what());
  }
  if (!j.is_object()) throw config_error("config file " + path + ": expected a JSON object");
  for (const auto& [key, value] : j.items()) {
    const setting* s = find_setting(key);
    if (!s) throw config_error("config file " + path + ": unknown setting '" + key + "'");
    if (s->repeatable) lists.replace(c, *s, "config file " + path, notices);
    apply_json(c, *s, value, "config file " + path + ", '" + key + "'");
  }
}

}  // namespace

const std::vector<setting>& server_settings() {
  static const std::vector<setting> table = {
      string_setting("model", "FILE", "GGUF model to serve; none: the bundled ../shared/models/stories260K-f32.gguf",
                     &server_config::model),
      string_setting("chat-template", "FILE", "Jinja chat template to use instead of the model's own",
                     &server_config::chat_template),
      string_setting("quantize", "TYPE",
                     "quantize the model to TYPE (q8_0, q4_0, q4_k_m, ... as hearth quantize) in memory at start-up",
                     &server_config::quantize),
      string_setting("imatrix", "FILE",
                     "importance matrix (from hearth imatrix) that --quantize weighs the error by, as quantize --imatrix",
                     &server_config::imatrix),
      bool_setting("pack-cache",
                   "keep the weights as repacked for this CPU in MODEL.hearth-cache beside the model (about the "
                   "model's size again on disk, mode 0600) and map them at later starts instead of repacking",
                   &server_config::pack_cache),
      string_setting("kv-type", "TYPE",
                     "the KV cache's row type: f16, q8_0 (half the memory of f16) or q4_0 (under a third); "
                     "quantized rows need a head dimension that is a multiple of 32",
                     &server_config::kv_type),
      string_setting("pooling", "TYPE",
                     "how /v1/embeddings pools a model's hidden states: mean, cls, last or none; unset: as the "
                     "GGUF's pooling_type says (an embedding model's own; a text-generation model has none)",
                     &server_config::pooling),
      string_setting("host", "HOST", "address to listen on; anything but loopback exposes the API",
                     &server_config::host),
      int_setting("port", "N", "TCP port; 0 picks a free one", &server_config::port, 0, 65535),
      int_setting("io-threads", "N", "threads for HTTP and WebSocket I/O", &server_config::io_threads, 1, 64),
      int_setting("threads", "N", "compute threads; 0 uses every core", &server_config::threads, 0, 256),
      int_setting("parallel", "N", "sequences generating at once (continuous batching)",
                  &server_config::parallel, 1, 256),
      int_setting<int64_t>("ctx", "N", "positions per sequence; 0 uses the model's context length",
                           &server_config::ctx, 0, int64_t{1} << 24),
      int_setting<int64_t>("kv-budget-mib", "MIB", "KV cache memory; 0 fits `parallel` full contexts",
                           &server_config::kv_budget_mib, 0, int64_t{1} << 22),
      int_setting("batch", "N", "tokens per forward pass (prompt chunks plus one per running sequence)",
                  &server_config::batch, 1, 8192),
      int_setting("prefill-share", "PERCENT",
                  "while sequences decode, the share of each step's time prompt chunks may take (1-100): "
                  "lower keeps streams smoother, higher prefills long prompts faster; 100: no limit",
                  &server_config::prefill_share, 1, 100),
      {"context-overflow", "POLICY",
       "when a prompt plus max_tokens exceeds the context: error (400), truncate_middle (drop the middle: a "
       "chat's oldest turns after its system prompt) or rolling (slide the window as it generates); a request's "
       "\"context_overflow\" overrides it",
       false,
       [](server_config& c, const std::string& v) {
         if (v != "error" && v != "truncate_middle" && v != "rolling") {
           throw config_error("'" + v + "' is not error, truncate_middle or rolling");
         }
         c.context_overflow = v;
       },
       [](const server_config& c) { return c.context_overflow; }},
      {"speculative", "MODE",
       "speculative decoding for requests that do not ask otherwise: off, ngram (draft tokens by prompt lookup: "
       "what followed the latest earlier occurrence of the context's last tokens) or draft (a smaller model, "
       "--draft-model); a request's \"speculative\" overrides it",
       false,
       [](server_config& c, const std::string& v) {
         if (v != "off" && v != "ngram" && v != "draft") throw config_error("'" + v + "' is not off, ngram or draft");
         c.speculative = v;
       },
       [](const server_config& c) { return c.speculative; }},
      // 16: proto::max_speculative_tokens (generation_setup.cpp checks they agree).
      int_setting("draft-max", "N",
                  "most tokens speculative decoding drafts per step (1-16); a request's \"speculative\": "
                  "{\"max_tokens\"} overrides it",
                  &server_config::draft_max, 1, 16),
      string_setting("draft-model", "FILE",
                     "GGUF draft model for speculative mode draft (a smaller model with the served model's "
                     "vocabulary); without it, requests for mode draft get 400",
                     &server_config::draft_model),
      int_setting("max-choices", "N", "most choices one request may ask for (OpenAI's n); they run at once, so "
                  "also at most --parallel", &server_config::max_choices, 1, 256),
      int_setting("queue-limit", "N", "requests that may wait; more are refused with 429",
                  &server_config::queue_limit, 0, 1 << 20),
      int_setting<int64_t>("body-limit", "BYTES", "largest request body; larger ones get 413",
                           &server_config::body_limit, 1024, int64_t{1} << 30),
      int_setting("header-timeout", "SECONDS", "time to receive a request's headers",
                  &server_config::header_timeout_s, 1, 3600),
      int_setting("idle-timeout", "SECONDS", "keep-alive connections idle longer are closed",
                  &server_config::idle_timeout_s, 1, 86400),
      int_setting("body-timeout", "SECONDS", "time to receive a request's body once its headers are in; late: 408",
                  &server_config::body_timeout_s, 1, 3600),
      int_setting("max-connections", "N", "client connections open at once; more get 503; 0: the open-file limit less 64",
                  &server_config::max_connections, 0, 1 << 20),
      int_setting("max-connections-per-peer", "N", "connections open at once from one client address; more get 503; 0: no limit",
                  &server_config::max_connections_per_peer, 0, 1 << 20),
      int_setting("max-stream-backlog", "N", "undelivered events a slow stream may hold before it is ended",
                  &server_config::max_stream_backlog, 16, 1 << 20),
      int_setting<int64_t>("max-stream-backlog-bytes", "BYTES",
                           "undelivered bytes a slow stream (or WebSocket) may hold before it is ended",
                           &server_config::max_stream_backlog_bytes, 4096, int64_t{1} << 30),
      int_setting("send-buffer", "BYTES", "kernel send buffer per connection; 0 lets the kernel size it",
                  &server_config::send_buffer, 0, 64 << 20),
      list_setting("api-key", "KEY", "require 'Authorization: Bearer KEY' (repeatable; env: comma-separated)",
                   &server_config::api_keys),
      bool_setting("insecure-public", "serve a non-loopback host without an API key (anyone who can reach it may use it)",
                   &server_config::insecure_public),
      list_setting("cors-origin", "ORIGIN", "another origin allowed to call the API from a browser (repeatable)",
                   &server_config::cors_origins),
      client_rule_setting("client-weight",
                          "fair shares: CLIENT (an API key, an origin, a peer address or *) gets N (1-1000) "
                          "running sequences and prompt rows for each one a weight-1 client gets (repeatable)",
                          &server_config::client_weights, 1, 1000),
      client_rule_setting("client-max-running",
                          "CLIENT (an API key, an origin, a peer address or *) runs at most N sequences at once; "
                          "0: no cap (repeatable)",
                          &server_config::client_max_running, 0, 256),
      bool_setting("log-requests", "log one line per request (no prompt text)", &server_config::log_requests),
      bool_setting("log-prompts", "also log prompts and outputs (off by default: privacy)",
                   &server_config::log_prompts),
  };
  return table;
}

int32_t client_rule(const std::vector<std::string>& rules, std::initializer_list<std::string_view> names,
                    int32_t fallback) {
  for (std::string_view want : names) {
    if (want.empty()) continue;
    for (const std::string& r : rules) {
      const auto [client, n] = split_client_rule(r, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
      if (client == want) return n;
    }
  }
  for (const std::string& r : rules) {
    const auto [client, n] = split_client_rule(r, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
    if (client == "*") return n;
  }
  return fallback;
}

std::string server_config_help() {
  std::ostringstream out;
  out << "usage: hearth serve [-m MODEL] [options]\n\n"
         "Serve a model over HTTP and WebSocket: OpenAI-compatible /v1/completions and\n"
         "/v1/chat/completions, native /v1/generate, /v1/ws, and a page at /.\n\n"
         "Each setting comes from (lowest to highest precedence): its default, the JSON file given\n"
         "by --config (keys are the names below), the environment variable shown, the flag.\n\n"
         "options:\n"
         "  -m FILE                    the same as --model FILE\n"
         "  -c, --config FILE          JSON config file\n"
         "  -h, --help                 show this help and exit\n\n";
  server_config defaults;
  for (const setting& s : server_settings()) {
    std::string left = "  --" + std::string(s.name) + (s.value_name.empty() ? "" : " " + std::string(s.value_name));
    if (left.size() < 29) left.resize(29, ' '); else left += "\n" + std::string(29, ' ');
    out << left << s.help << "\n" << std::string(29, ' ') << "default: " << s.show(defaults)
        << ", env: " << env_name(s.name) << "\n";
  }
  return out.str();
}

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

std::optional<server_config> load_server_config(std::span<const std::string> args,
                                                const std::function<const char*(const char*)>& env,
                                                std::string* help_out, std::vector<std::string>* notices) {
  // First pass over the flags: --help and --config, which decide what else is read.
  std::optional<std::string> config_file;
  if (const char* e = env("HEARTH_CONFIG")) config_file = e;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      if (help_out) *help_out = server_config_help();
      return std::nullopt;
    }
    if ((args[i] == "--config" || args[i] == "-c") && i + 1 < args.size()) config_file = args[i + 1];
    if (args[i].starts_with("--config=")) config_file = args[i].substr(9);
  }
  server_config c;
  list_sources lists;
  if (config_file) load_file(c, *config_file, lists, notices);
  for (const setting& s : server_settings()) {
    const std::string name = env_name(s.name);
    const char* v = env(name.c_str());
    if (!v) continue;
    const std::string source = "environment " + name;
    if (s.repeatable) {
      // Every comma-separated part must be a value: "" or "a,,b" is a mistake to report, not an
      // empty list (for api-key that would silently turn authentication off).
      lists.replace(c, s, source, notices);
      for (const std::string& part : split_commas(v)) apply_from(c, s, part, source);
    } else {
      apply_from(c, s, v, source);
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--config" || a == "-c") { ++i; continue; }
    if (a.starts_with("--config=")) continue;
    if (a == "-m") a = "--model";
    if (!a.starts_with("--")) throw config_error("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const setting* s = find_setting(name);
    if (!s) throw config_error("unknown option '--" + name + "' (see hearth serve --help)");
    if (!has_value) {
      if (s->value_name.empty()) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) throw config_error("option '--" + name + "' needs a value (" + std::string(s->value_name) + ")");
        value = args[++i];
      }
    }
    // A list given on the command line replaces what the file or environment said.
    if (s->repeatable) lists.replace(c, *s, "the command line", notices);
    apply_from(c, *s, value, "option --" + name);
  }
  if (!c.insecure_public && c.api_keys.empty() && !is_loopback_host(c.host)) {
    throw config_error("host " + c.host + " is reachable from other machines, and no API key is set: give one " +
                       "(--api-key, HEARTH_API_KEY or \"api-key\" in the config file), or pass --insecure-public " +
                       "to serve without one");
  }
  if (c.speculative == "draft" && c.draft_model.empty()) {
    throw config_error("speculative mode draft needs a draft model: give --draft-model FILE (HEARTH_DRAFT_MODEL or "
                       "\"draft-model\" in the config file), or choose --speculative ngram or off");
  }
  return c;
}

}  // namespace hearth
