#include "stop_matcher.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>

namespace hearth {

namespace {

// Index of the first byte that makes s ill-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or nullopt if s is well-formed.
std::optional<size_t> utf8_error(std::string_view s) {
  static constexpr uint32_t min_code[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t code = 0;
    if (lead < 0x80) { ++i; continue; }
    if ((lead & 0xE0) == 0xC0) { len = 2; code = lead & 0x1Fu; }
    else if ((lead & 0xF0) == 0xE0) { len = 3; code = lead & 0x0Fu; }
    else if ((lead & 0xF8) == 0xF0) { len = 4; code = lead & 0x07u; }
    else return i;
    if (s.size() - i < len) return i;
    for (size_t j = 1; j < len; ++j) {
      const auto cont = static_cast<unsigned char>(s[i + j]);
      if ((cont & 0xC0) != 0x80) return i;
      code = (code << 6) | (cont & 0x3Fu);
    }
    if (code < min_code[len] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += len;
  }
  return std::nullopt;
}

// KMP prefix function: failure[i] = length of the longest proper prefix of p[0, i] that is also
// a suffix of it.
std::vector<size_t> build_failure(std::string_view p) {
  std::vector<size_t> failure(p.size(), 0);
  size_t k = 0;
  for (size_t i = 1; i < p.size(); ++i) {
    while (k > 0 && p[i] != p[k]) k = failure[k - 1];
    if (p[i] == p[k]) ++k;
    failure[i] = k;
  }
  return failure;
}

}  // namespace

std::optional<std::string> validate_stops(const std::vector<std::string>& stops) {
  for (size_t i = 0; i < stops.size(); ++i) {
    if (auto at = utf8_error(stops[i]))
      return "stop string " + std::to_string(i) + " is not valid UTF-8 (byte " +
             std::to_string(*at) + ")";
  }
  return std::nullopt;
}

stop_matcher::stop_matcher(std::vector<std::string> stops) {
  if (auto err = validate_stops(stops)) throw std::invalid_argument(*err);
  for (std::string& s : stops) {
    if (s.empty()) continue;
    std::vector<size_t> failure = build_failure(s);
    stops_.push_back(stop{std::move(s), std::move(failure), 0});
  }
}

// Runs every stop's automaton over the new piece. held_ + text is the text still in play; each
// automaton's state is at most held_.size() (invariant), so a match found here starts inside it.
std::string stop_matcher::push(std::string_view text) {
  if (stopped()) return {};
  if (stops_.empty()) return std::string(text);

  const size_t base = held_.size();  // text[i] sits at position base + i of held_ + text
  size_t best_start = std::numeric_limits<size_t>::max();
  for (size_t k = 0; k < stops_.size(); ++k) {
    stop& s = stops_[k];
    const size_t m = s.text.size();
    size_t q = s.state;
    for (size_t i = 0; i < text.size(); ++i) {
      while (q > 0 && s.text[q] != text[i]) q = s.failure[q - 1];
      if (s.text[q] == text[i]) ++q;
      if (q == m) {  // first completion of this stop = its earliest start
        const size_t start = base + i + 1 - m;
        if (start < best_start) {
          best_start = start;
          matched_ = k;
        }
        break;
      }
    }
    s.state = q;
  }

  held_.append(text);
  if (matched_) {
    std::string out = held_.substr(0, best_start);
    held_.clear();
    return out;
  }
  size_t keep = 0;
  for (const stop& s : stops_) keep = std::max(keep, s.state);
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string stop_matcher::flush() {
  for (stop& s : stops_) s.state = 0;
  return std::exchange(held_, std::string());
}

}  // namespace hearth
