#include "proto/request_fields.h"

#include <algorithm>

#include <charconv>
#include <cmath>

#include "proto/ids.h"
#include "stop_matcher.h"

namespace hearth::proto {

namespace {

// validate() names the field as the first word of its message ("top_p must be in (0, 1] ...").
std::string field_of(const std::string& message) {
  return message.substr(0, message.find(' '));
}

// Shortest text that reads back as v ("3", "2.5"), as sampler.h's messages print numbers.
std::string shortest(float v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

uint64_t read_seed(field_reader& r) {
  const nlohmann::json* v = r.find("seed");
  if (r.failed() || !v) return random_seed();
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (const std::optional<int64_t> i = integral_value(*v)) {
    if (*i == -1) return random_seed();
    if (*i >= 0) return static_cast<uint64_t>(*i);
  } else if (is_integral_number(*v)) {  // integral values in [2^63, 2^64) arrive as doubles
    const double d = v->get<double>();
    if (d >= 0 && d < 0x1p64) return static_cast<uint64_t>(d);
  }
  r.fail("seed", "seed must be an integer in [0, 18446744073709551615], or -1 for a random "
                 "seed (got " + describe(*v) + ")");
  return 0;
}

}  // namespace

std::optional<api_error> sampling_error(const sampling_params& p) {
  if (std::optional<std::string> err = validate(p)) return bad_request(field_of(*err), *err);
  return std::nullopt;
}

void read_sampling(field_reader& r, sampling_params& p, api_flavor flavor) {
  if (auto v = r.real("temperature")) p.temperature = *v;
  if (auto v = r.int32("top_k")) p.top_k = *v;
  if (auto v = r.real("top_p")) p.top_p = *v;
  if (auto v = r.real("min_p")) p.min_p = *v;
  if (auto v = r.real("repeat_penalty")) p.repeat_penalty = *v;
  if (auto v = r.int32("repeat_last_n")) p.repeat_last_n = *v;
  if (auto v = r.real("presence_penalty")) p.presence_penalty = *v;
  if (auto v = r.real("frequency_penalty")) p.frequency_penalty = *v;
  p.seed = read_seed(r);
  if (r.failed()) return;
  if (std::optional<api_error> err = sampling_error(p)) {
    r.fail(std::move(*err));
    return;
  }
  if (flavor == api_flavor::openai) {
    r.check(p.temperature <= 2.0f, "temperature", [&] {
      return "temperature must be in [0, 2] (got " + shortest(p.temperature) + ")";
    });
  }
}

std::vector<std::string> read_stop(field_reader& r) {
  const nlohmann::json* v = r.find("stop");
  std::vector<std::string> out;
  if (r.failed() || !v) return out;
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (!r.check(v->size() <= max_stop_strings, "stop", [&] {
          return "too many stop strings: at most " + std::to_string(max_stop_strings) +
                 " are allowed (got " + std::to_string(v->size()) + ")";
        }))
      return {};
    for (size_t i = 0; i < v->size(); ++i) {
      const nlohmann::json& s = (*v)[i];
      if (!r.check(s.is_string(), "stop", [&] {
            return "stop[" + std::to_string(i) + "] must be a string (got " + describe(s) + ")";
          }))
        return {};
      if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
    }
  } else {
    r.fail("stop", "stop must be a string or an array of strings (got " + describe(*v) + ")");
    return {};
  }
  if (std::optional<std::string> err = validate_stops(out)) r.fail("stop", *err);
  return out;
}

std::optional<int32_t> read_max_tokens(field_reader& r, std::string_view key, const limits& lim) {
  const std::optional<int32_t> v = r.int32(key);
  if (!v) return std::nullopt;
  const std::string name(key);
  if (!r.check(*v >= 1, key,
               [&] { return name + " must be >= 1 (got " + std::to_string(*v) + ")"; }))
    return std::nullopt;
  if (!r.check(lim.n_ctx <= 0 || *v <= lim.n_ctx, key, [&] {
        return name + " must be <= " + std::to_string(lim.n_ctx) +
               ", the model's context length (got " + std::to_string(*v) + ")";
      }))
    return std::nullopt;
  return v;
}

std::optional<std::vector<int32_t>> read_token_ids(field_reader& r, std::string_view key,
                                                   const nlohmann::json& array,
                                                   std::string_view shown, int32_t n_vocab) {
  if (r.failed()) return std::nullopt;
  const std::string name(shown);
  if (!r.check(array.is_array(), key, [&] {
        return name + " must be an array of token ids (got " + describe(array) + ")";
      }))
    return std::nullopt;
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const nlohmann::json& t = array[i];
    const auto at = [&] { return name + "[" + std::to_string(i) + "]"; };
    if (!r.check(is_integral_number(t), key,
                 [&] { return at() + " must be an integer (got " + describe(t) + ")"; }))
      return std::nullopt;
    const std::optional<int64_t> id = integral_value(t);  // nullopt: beyond int64
    if (!r.check(id && *id >= 0 && *id < n_vocab, key, [&] {
          return at() + " must be a token id in [0, " + std::to_string(n_vocab) + ") (got " +
                 describe(t) + ")";
        }))
      return std::nullopt;
    ids.push_back(static_cast<int32_t>(*id));
  }
  return ids;
}

int32_t read_n(field_reader& r, int32_t max_choices) {
  const std::optional<int32_t> n = r.int32("n");
  if (!n) return 1;
  const int32_t most = std::max(1, max_choices);
  r.check(*n >= 1 && *n <= most, "n", [&] {
    return "n must be between 1 and " + std::to_string(most) + " (got " + std::to_string(*n) +
           "); the server's --max-choices and --parallel bound it";
  });
  return *n;
}

void refuse_flag(field_reader& r, std::string_view key) {
  const nlohmann::json* v = r.find(key);
  r.check(!v || *v == false, key,
          [&] { return std::string(key) + " is not supported (got " + describe(*v) + ")"; });
}

void refuse_best_of(field_reader& r) {
  const std::optional<int32_t> b = r.int32("best_of");
  r.check(!b || *b == 1, "best_of", [&] {
    return "best_of is not supported: only 1 is accepted (got " + std::to_string(*b) + ")";
  });
}

void refuse_suffix(field_reader& r) {
  const std::optional<std::string> s = r.string("suffix");
  r.check(!s || s->empty(), "suffix", [&] { return std::string("suffix is not supported"); });
}

void refuse_nonempty_object(field_reader& r, std::string_view key) {
  const nlohmann::json* v = r.find(key);
  if (r.failed() || !v) return;
  const std::string name(key);
  if (!r.check(v->is_object(), key,
               [&] { return name + " must be an object (got " + describe(*v) + ")"; }))
    return;
  r.check(v->empty(), key, [&] { return name + " is not supported"; });
}

void refuse_nonempty_array(field_reader& r, std::string_view key) {
  const nlohmann::json* v = r.find(key);
  if (r.failed() || !v) return;
  const std::string name(key);
  if (!r.check(v->is_array(), key,
               [&] { return name + " must be an array (got " + describe(*v) + ")"; }))
    return;
  r.check(v->empty(), key, [&] { return name + " is not supported"; });
}

namespace {

bool top_in_range(field_reader& r, std::string_view key, int32_t n) {
  return r.check(n >= 0 && n <= max_top_logprobs, key, [&] {
    return std::string(key) + " must be an integer from 0 to " + std::to_string(max_top_logprobs) + " (got " +
           std::to_string(n) + ")";
  });
}

}  // namespace

int32_t read_chat_logprobs(field_reader& r) {
  const bool wanted = r.boolean("logprobs").value_or(false);
  const std::optional<int32_t> top = r.int32("top_logprobs");
  if (r.failed()) return -1;
  if (top && !top_in_range(r, "top_logprobs", *top)) return -1;
  if (top && !r.check(wanted, "top_logprobs", [] { return std::string("top_logprobs requires logprobs: true"); })) {
    return -1;
  }
  return wanted ? top.value_or(0) : -1;
}

int32_t read_count_logprobs(field_reader& r) {
  const nlohmann::json* v = r.find("logprobs");
  if (r.failed() || !v) return -1;
  if (v->is_boolean()) return v->get<bool>() ? 0 : -1;
  const std::optional<int32_t> n = r.int32("logprobs");
  if (!n || !top_in_range(r, "logprobs", *n)) return -1;
  return *n;
}

bool read_cache(field_reader& r) { return r.boolean("cache").value_or(true); }

std::optional<int64_t> read_deadline_ms(field_reader& r) {
  const std::optional<int32_t> v = r.int32("deadline_ms");
  if (!v) return std::nullopt;
  if (!r.check(*v >= 1 && *v <= 86'400'000, "deadline_ms", [&] {
        return "deadline_ms must be in [1, 86400000] (got " + std::to_string(*v) + ")";
      }))
    return std::nullopt;
  return v;
}

std::string_view to_string(context_overflow o) {
  switch (o) {
    case context_overflow::truncate_middle: return "truncate_middle";
    case context_overflow::rolling: return "rolling";
    case context_overflow::error: break;
  }
  return "error";
}

std::optional<context_overflow> context_overflow_from(std::string_view name) {
  for (context_overflow o : {context_overflow::error, context_overflow::truncate_middle, context_overflow::rolling}) {
    if (name == to_string(o)) return o;
  }
  return std::nullopt;
}

context_overflow read_context_overflow(field_reader& r, const limits& lim) {
  const std::optional<std::string> v = r.string("context_overflow");
  if (!v) return lim.overflow;
  const std::optional<context_overflow> o = context_overflow_from(*v);
  r.check(o.has_value(), "context_overflow", [&] {
    return "context_overflow must be \"error\", \"truncate_middle\" or \"rolling\" (got \"" + *v + "\")";
  });
  return o.value_or(lim.overflow);
}

limits overflow_limits(limits lim, context_overflow o) {
  if (o == context_overflow::rolling) lim.n_ctx = 0;
  return lim;
}

namespace {

constexpr std::string_view speculative_mode_names = "\"off\", \"ngram\" or \"draft\"";

// The mode `name` names; records why not under `key` if it names none (`also`: the other forms
// the field takes, for the message).
std::optional<speculative_mode> read_mode_name(field_reader& r, std::string_view key, const std::string& name,
                                               std::string_view also = {}) {
  const std::optional<speculative_mode> m = speculative_mode_from(name);
  r.check(m.has_value(), key, [&] {
    return r.param(key) + " must be " + std::string(speculative_mode_names) + std::string(also) + " (got " +
           describe(nlohmann::json(name)) + ")";
  });
  return m;
}

// The object form's keys over `s`; errors are recorded in r, naming "speculative.<key>".
void read_speculative_object(field_reader& r, const nlohmann::json& object, speculative_settings& s) {
  field_reader fields(object, "speculative.");
  // hearth's own object: a misspelt key would silently leave the server's default in place.
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    fields.check(key == "mode" || key == "max_tokens", key, [&] {
      return "speculative has no field " + describe(nlohmann::json(key)) + " (its fields are \"mode\" and \"max_tokens\")";
    });
  }
  if (const std::optional<std::string> name = fields.string("mode")) {
    if (const auto m = read_mode_name(fields, "mode", *name)) s.mode = *m;
  }
  if (const std::optional<int32_t> k = fields.int32("max_tokens")) {
    fields.check(*k >= 1 && *k <= max_speculative_tokens, "max_tokens", [&] {
      return "speculative.max_tokens must be an integer from 1 to " + std::to_string(max_speculative_tokens) +
             " (got " + std::to_string(*k) + ")";
    });
    s.max_tokens = *k;
  }
  if (fields.failed()) r.fail(fields.error());
}

}  // namespace

speculative_settings read_speculative(field_reader& r, const limits& lim) {
  speculative_settings s = lim.speculative;
  const nlohmann::json* v = r.find("speculative");
  if (r.failed()) return lim.speculative;
  if (v && v->is_string()) {
    const auto m = read_mode_name(r, "speculative", v->get<std::string>(), ", or an object {\"mode\", \"max_tokens\"}");
    if (m) s.mode = *m;
  } else if (v && v->is_object()) {
    read_speculative_object(r, *v, s);
  } else if (v) {
    r.fail("speculative", "speculative must be a string (the mode) or an object {\"mode\", \"max_tokens\"} (got " +
                              describe(*v) + ")");
  }
  if (r.failed()) return lim.speculative;
  r.check(s.mode != speculative_mode::draft || lim.draft_model, "speculative", [] {
    return std::string("speculative mode \"draft\" needs a draft model: the server was started without --draft-model");
  });
  return s;
}

bool read_include_usage(field_reader& r, bool stream) {
  const nlohmann::json* v = r.find("stream_options");
  if (r.failed() || !v) return false;
  if (!r.check(v->is_object(), "stream_options", [&] {
        return "stream_options must be an object (got " + describe(*v) + ")";
      }))
    return false;
  if (!r.check(stream, "stream_options",
               [] { return std::string("stream_options is only allowed when stream is true"); }))
    return false;
  field_reader options(*v, "stream_options.");
  const bool include = options.boolean("include_usage").value_or(false);
  if (options.failed()) r.fail(options.error());
  return include;
}

}  // namespace hearth::proto
