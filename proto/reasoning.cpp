#include "proto/reasoning.h"

#include <algorithm>
#include <array>

namespace hearth::proto {

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> known = {{
    {"<think>", "</think>"},
    {"<seed:think>", "</seed:think>"},
    {"<|START_THINKING|>", "<|END_THINKING|>"},
    {"<thinking>", "</thinking>"},
}};

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim_left(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

// Length of the longest suffix of s that is a proper prefix of marker (it may yet become it).
size_t partial_suffix(std::string_view s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

std::optional<reasoning_markers> reasoning_markers_of(std::string_view source) {
  for (const auto& [open, close] : known) {
    if (source.find(open) != std::string_view::npos) return reasoning_markers{std::string(open), std::string(close)};
  }
  return std::nullopt;
}

bool prompt_opens_reasoning(std::string_view prompt, const reasoning_markers& m) {
  while (!prompt.empty() && is_space(prompt.back())) prompt.remove_suffix(1);
  return prompt.ends_with(m.open);
}

reasoning_splitter::reasoning_splitter(reasoning_markers m, bool starts_inside)
    : m_(std::move(m)), state_(starts_inside ? state::reasoning : state::start) {}

reasoning_splitter::parts reasoning_splitter::push(std::string_view text) {
  parts out;
  held_ += text;
  if (state_ == state::start) {
    const std::string_view rest = trim_left(held_);
    if (rest.size() < m_.open.size() && std::string_view(m_.open).starts_with(rest)) return out;  // may yet open
    if (rest.starts_with(m_.open)) {
      held_ = std::string(rest.substr(m_.open.size()));
      state_ = state::reasoning;
    } else {
      state_ = state::content;
    }
  }
  if (state_ == state::reasoning) {
    const size_t close = held_.find(m_.close);
    if (close == std::string::npos) {
      const size_t keep = partial_suffix(held_, m_.close);
      out.reasoning = held_.substr(0, held_.size() - keep);
      held_.erase(0, held_.size() - keep);
      return out;
    }
    out.reasoning = held_.substr(0, close);
    held_.erase(0, close + m_.close.size());
    state_ = state::content;
    trim_ = true;
  }
  if (trim_) {
    const std::string_view rest = trim_left(held_);
    if (rest.empty()) {
      held_.clear();
      return out;
    }
    held_ = std::string(rest);
    trim_ = false;
  }
  out.content = std::move(held_);
  held_.clear();
  return out;
}

reasoning_splitter::parts reasoning_splitter::finish() {
  parts out;
  if (state_ == state::reasoning) {
    out.reasoning = std::move(held_);
  } else if (!trim_) {
    out.content = std::move(held_);
  }
  held_.clear();
  return out;
}

}  // namespace hearth::proto
