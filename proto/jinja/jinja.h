#pragma once
// A sandboxed, bounded interpreter of the Jinja2 template language, for chat templates.
//
// It renders what Python's Jinja2 3.1 renders in the environment Hugging Face uses for chat
// templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loop controls, default
// Undefined): expressions with Python's semantics, the built-in filters and tests templates use,
// str/dict/list methods, macros, call/filter/set blocks, `{% generation %}`, and the globals
// range, dict, namespace, raise_exception(msg) and strftime_now(fmt).
//
// Sandbox: no file, environment or network access (include/import/extends are refused);
// attributes starting with "__" and methods that mutate lists or dicts are refused as Jinja2's
// sandbox refuses them; every render is bounded by render_limits (output size, work, recursion),
// and a limit hit is a render_error, never a crash.
//
// A program is immutable after parse(): render() may run concurrently from many threads.
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "proto/jinja/error.h"
#include "proto/jinja/text.h"
#include "proto/jinja/value.h"

namespace hearth::jinja {

struct program_data;

struct render_limits {
  size_t max_output = size_t{1} << 20;  // bytes of output, and of any one string
  size_t max_items = size_t{1} << 18;   // elements of a list built by + or *
  // Loop iterations, macro calls, container elements and string bytes (per 8) built. A chat
  // template spends a few thousand units on a conversation.
  uint64_t max_work = 10'000'000;
  uint32_t max_call_depth = 64;  // nested macro calls
  uint32_t max_depth = 1500;     // nested evaluation: expressions, statements and calls together
};

struct render_options {
  render_limits limits;
  // The local time strftime_now() formats. Empty: the system clock.
  std::function<std::tm()> clock;
};

using variables = std::vector<std::pair<std::string, value>>;

class program {
 public:
  // Throws syntax_error naming the line and column.
  static program parse(std::string_view source);

  // The output (with the user ranges of the strings it came from), or why the template refused.
  // Never throws but std::bad_alloc. Later variables of the same name win.
  std::variant<text, render_error> render(const variables& vars, const render_options& options = {}) const;

 private:
  std::shared_ptr<const program_data> data_;
};

// The whole pipeline on untrusted text, for tools and fuzzing: parses template_text, reads
// variables_json (a JSON object; its members become the variables), renders with `options`.
// Never throws (out of memory included): any failure is ok == false with a message.
struct render_outcome {
  bool ok = false;
  std::string output;  // ok: the rendering
  std::string error;   // !ok: "line 3, column 5: ..." for a syntax error, "TypeError: ..." etc.
};
render_outcome render_string(std::string_view template_text, std::string_view variables_json,
                             const render_options& options = {}) noexcept;

}  // namespace hearth::jinja
