#pragma once
// Every setting of `hearth serve`, in one table of (name, default, help). Each setting is read,
// in increasing precedence, from: its default < the JSON config file (--config FILE, keys are the
// setting names) < the environment (HEARTH_<NAME>, dashes as underscores) < the command line
// (--name VALUE). `hearth serve --help` prints the table.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

struct server_config {
  std::string model;                    // GGUF file; empty: the bundled default
  std::string chat_template;            // Jinja file used instead of the model's template; empty: the model's
  std::string kv_type = "f16";          // the KV cache's row type: f16, q8_0 or q4_0
  std::string pooling;                  // embeddings' pooling: "", mean, cls, last or none
  std::string quantize;                 // llama-quantize type ("q4_k_m") to quantize the model to at start-up; empty: none
  std::string imatrix;                  // importance matrix weighing `quantize`; empty: none
  bool pack_cache = false;              // keep the repacked weights in MODEL.hearth-cache (model/pack_cache.h)
  std::string host = "127.0.0.1";       // loopback only unless asked
  int port = 8080;                      // 0: any free port (printed at start)
  int io_threads = 2;                   // HTTP/WebSocket threads (parse, tokenize, write)
  int threads = 0;                      // compute threads; 0: all cores
  int parallel = 8;                     // sequences generating at once
  int64_t ctx = 0;                      // positions per sequence; 0: the model's context length
  int64_t kv_budget_mib = 0;            // KV cache memory; 0: enough for `parallel` full contexts
  int batch = 256;                      // rows (tokens) per forward pass
  std::string context_overflow = "error";  // a request's prompt + max_tokens beyond the context:
                                          // error, truncate_middle or rolling (proto request_fields.h)
  int prefill_share = 60;               // percent of a step's time prompt rows may take while others decode
  // Speculative decoding for requests that do not say (proto generation.h): off, ngram or draft
  // (needs draft_model), drafting at most draft_max tokens (1..16) per step.
  std::string speculative = "off";
  int draft_max = 8;
  std::string draft_model;              // GGUF draft model for speculative mode draft; empty: none
  int queue_limit = 64;                 // requests waiting beyond `parallel`; more get 429
  int max_choices = 8;                  // OpenAI's n: choices per request (also at most `parallel`)
  int64_t body_limit = 1 << 20;         // bytes of a request body; more get 413
  int header_timeout_s = 10;            // to receive a request's headers
  int idle_timeout_s = 60;              // a keep-alive connection with no request
  int body_timeout_s = 30;              // to receive a request's body, once its headers are in
  int max_connections = 0;              // open at once; 0: the open-file limit less 64
  int max_connections_per_peer = 0;     // open at once from one client address; 0: no own limit
  int max_stream_backlog = 4096;        // undelivered events per stream before it is dropped
  int64_t max_stream_backlog_bytes = 1 << 20;  // undelivered bytes likewise (and per WebSocket)
  int send_buffer = 0;                  // bytes of kernel send buffer per connection; 0: automatic
  std::vector<std::string> api_keys;    // non-empty: require "Authorization: Bearer <key>"
  bool insecure_public = false;         // allow a non-loopback host without API keys
  std::vector<std::string> cors_origins;  // origins besides the page's own that may call the API
  // Fair shares between clients (a client: its API key when keys are set, else its address and
  // Origin): "CLIENT=N" rules, CLIENT an API key, an origin, a peer address, or * for any.
  std::vector<std::string> client_weights;      // N 1..1000 (default 1)
  std::vector<std::string> client_max_running;  // N 0..256, sequences at once (default 0: no cap)
  bool log_requests = true;             // one line per request (method, path, status, timings)
  bool log_prompts = false;             // also log prompt and output text (off: privacy)
};

// A bad value: names the setting, its source and what was expected.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct setting {
  std::string_view name;        // flag --name, JSON key, env HEARTH_NAME
  std::string_view value_name;  // e.g. "N", "HOST"; empty for a boolean flag
  std::string_view help;
  bool repeatable = false;      // lists: the flag may be given several times; env is comma-separated
  // Parses `value` into the config; throws config_error (without the source; the caller adds it).
  std::function<void(server_config&, const std::string& value)> apply;
  std::function<std::string(const server_config&)> show;  // current value, for --help
  // Repeatable settings: empties the list, so a higher-precedence source replaces it.
  std::function<void(server_config&)> clear;
  // Repeatable settings: how many values the list holds.
  std::function<size_t(const server_config&)> count;
};

const std::vector<setting>& server_settings();

// Builds the config from all sources. `args` are the command-line arguments after `serve`;
// `env` looks up an environment variable (injectable for tests). Returns nullopt if --help was
// given (the help text was written to `help_out`). Throws config_error naming the source (and
// the setting) of a bad value. Every source is held to the same rules: an empty value of a list
// (an empty flag value, an empty JSON string, an empty or empty-part environment variable) is an
// error, never an empty list. A source that replaces a list's values from a lower source adds a
// line saying so to `notices` (counts only: values may be secret). A non-loopback host without
// API keys is refused unless insecure_public; so is speculative "draft" without a draft_model.
std::optional<server_config> load_server_config(
    std::span<const std::string> args, const std::function<const char*(const char*)>& env,
    std::string* help_out, std::vector<std::string>* notices = nullptr);

// 127.0.0.0/8, ::1, ::ffff:127.x.x.x, "localhost" and *.localhost (brackets allowed). Anything
// else, names included, counts as reachable from other machines.
bool is_loopback_host(std::string_view host);

// The value of the first "CLIENT=N" rule (client_weights, client_max_running) whose CLIENT is one
// of `names`, tried in that order, then "*"; `fallback` if none matches. Rules were checked when
// the config was loaded.
int32_t client_rule(const std::vector<std::string>& rules, std::initializer_list<std::string_view> names,
                    int32_t fallback);

std::string server_config_help();

}  // namespace hearth
