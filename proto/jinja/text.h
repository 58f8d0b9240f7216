#pragma once
// A string that remembers which of its bytes came from user input.
//
// Chat templates mix their own markup (control-token texts such as "<|im_start|>") with text a
// request supplied (message content, tool arguments, names). The tokenizer must parse control
// tokens in the markup only, so every string the interpreter builds carries the byte ranges that
// derive from user input, and every operation that makes a string from strings (concatenation,
// slicing, filters, methods, serialization) carries them over. An operation that cannot say which
// output bytes came from which input marks its whole output as user text when any input was.
//
// A value type; not thread-safe for concurrent mutation.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::jinja {

// A byte range [begin, end).
struct byte_span {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const byte_span&) const = default;
};

class text {
 public:
  text() = default;
  explicit text(std::string bytes, bool user = false);

  const std::string& str() const { return bytes_; }
  std::string_view view() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // The user ranges: sorted, disjoint, non-empty, never adjacent to each other.
  std::span<const byte_span> user() const { return user_; }
  bool has_user() const { return !user_.empty(); }
  // Some byte of [begin, end) is user text.
  bool user_within(size_t begin, size_t end) const;

  void append(std::string_view bytes, bool user = false);
  void append(const text& t) { append(t, 0, t.size()); }
  // t's bytes [begin, end) with their marks.
  void append(const text& t, size_t begin, size_t end);
  void push_back(char c, bool user = false) { append(std::string_view(&c, 1), user); }

  // Marks [begin, end) of this text as user text.
  void mark_user(size_t begin, size_t end);
  void mark_all_user() { mark_user(0, bytes_.size()); }
  // Drops the first n bytes (and the marks' share of them).
  void erase_prefix(size_t n);
  void reserve(size_t n) { bytes_.reserve(n); }
  void clear();

  // Jinja2's Markup: a string marked safe (by the safe or escape filters). Adding a plain
  // string to it HTML-escapes the plain one; Python's str() and ~ drop the mark. Operations that
  // build a new text start unmarked; the few that keep Markup copy the flag themselves.
  bool markup() const { return markup_; }
  void set_markup(bool m) { markup_ = m; }

  bool operator==(const text& o) const = default;

 private:
  std::string bytes_;
  std::vector<byte_span> user_;
  bool markup_ = false;
};

}  // namespace hearth::jinja
