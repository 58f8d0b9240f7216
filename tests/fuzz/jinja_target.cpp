// The Jinja interpreter (proto/jinja) on template text that is itself the fuzzed input: what a
// model file's tokenizer.chat_template may hold. Input: template text, then optionally a NUL byte
// and a JSON object whose members become the variables (without it, a short conversation).
// Whatever the text, render_string must return (never throw, crash or run away): an output within
// the limits, or an error that says why. A render is deterministic: the same text twice renders
// the same.
#include <algorithm>
#include <cstring>
#include <ctime>

#include "fuzz_target.h"
#include "proto/jinja/jinja.h"

namespace hearth::fuzz {

namespace {

constexpr std::string_view default_variables = R"({"messages": [
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "Hi <b>there</b> {{ 1 }}"},
  {"role": "assistant", "content": "Hello."},
  {"role": "user", "content": "Bye"}],
  "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})";

// Tighter than a chat request's limits, so that runaway loops end in milliseconds.
jinja::render_options fuzz_options() {
  jinja::render_options o;
  o.limits.max_output = 64 * 1024;
  o.limits.max_items = 4096;
  o.limits.max_work = 200'000;
  o.clock = [] {
    std::tm t{};
    t.tm_year = 126;  // 2026-11-30 12:00:00: strftime_now() must not make renders differ
    t.tm_mon = 10;
    t.tm_mday = 30;
    t.tm_hour = 12;
    return t;
  };
  return o;
}

}  // namespace

void jinja_input(fuzz_input input) {
  const std::string_view all(reinterpret_cast<const char*>(input.data()), input.size());
  const size_t nul = all.find('\0');
  const std::string_view text = all.substr(0, nul);
  const std::string_view vars = nul == std::string_view::npos ? default_variables : all.substr(nul + 1);
  static const jinja::render_options options = fuzz_options();

  const jinja::render_outcome first = jinja::render_string(text, vars, options);
  if (first.ok) {
    expect(first.error.empty(), "a successful render carries an error: " + first.error);
    expect(first.output.size() <= options.limits.max_output,
           "output of " + std::to_string(first.output.size()) + " bytes passed the limit");
  } else {
    expect(!first.error.empty(), "a failed render says nothing about why");
  }
  const jinja::render_outcome second = jinja::render_string(text, vars, options);
  expect(second.ok == first.ok && second.output == first.output && second.error == first.error,
         "the same template and variables rendered differently twice");
}

}  // namespace hearth::fuzz
