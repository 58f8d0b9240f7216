#pragma once
// Errors of the Jinja interpreter.
//
// A template that cannot be parsed is a syntax_error (thrown by program::parse). A render that
// fails is a render_error: a template that refused (raise_exception), a limit hit, or what Jinja2
// raises at run time (using an undefined value, a type error). The interpreter throws `failure`
// internally and returns render_error at its API; nothing escapes a render but std::bad_alloc.
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>

namespace hearth::jinja {

class syntax_error : public std::runtime_error {
 public:
  syntax_error(size_t line, size_t column, const std::string& message)
      : std::runtime_error("line " + std::to_string(line) + ", column " + std::to_string(column) +
                           ": " + message),
        line_(line), column_(column), message_(message) {}
  size_t line() const { return line_; }
  size_t column() const { return column_; }
  const std::string& message() const { return message_; }

 private:
  size_t line_, column_;  // 1-based; the column counts characters
  std::string message_;
};

struct render_error {
  // The Python exception Jinja2 would raise: "TemplateError" for raise_exception(),
  // "UndefinedError", "SecurityError", "TypeError", "ValueError", ..., and "LimitError" when
  // the render went past a limit of render_limits.
  std::string type;
  std::string message;

  bool raised_by_template() const { return type == "TemplateError"; }
  std::string describe() const { return type + ": " + message; }
};

// Thrown inside the interpreter; caught at its API.
class failure : public std::exception {
 public:
  explicit failure(render_error e) : error_(std::move(e)) {}
  const render_error& error() const { return error_; }
  const char* what() const noexcept override { return error_.message.c_str(); }

 private:
  render_error error_;
};

[[noreturn]] inline void fail(std::string type, std::string message) {
  throw failure(render_error{std::move(type), std::move(message)});
}
[[noreturn]] inline void type_error(std::string message) { fail("TypeError", std::move(message)); }

}  // namespace hearth::jinja
