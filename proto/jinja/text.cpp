#include "proto/jinja/text.h"

#include <algorithm>

namespace hearth::jinja {

text::text(std::string bytes, bool user) : bytes_(std::move(bytes)) {
  if (user) mark_all_user();
}

bool text::user_within(size_t begin, size_t end) const {
  if (begin >= end) return false;
  // The first range that ends after `begin`.
  auto it = std::upper_bound(user_.begin(), user_.end(), begin,
                             [](size_t pos, const byte_span& s) { return pos < s.end; });
  return it != user_.end() && it->begin < end;
}

void text::mark_user(size_t begin, size_t end) {
  end = std::min(end, bytes_.size());
  if (begin >= end) return;
  // Fast path: appending at or after the last range.
  if (user_.empty() || begin > user_.back().end) {
    user_.push_back({begin, end});
    return;
  }
  if (begin >= user_.back().begin) {
    user_.back().end = std::max(user_.back().end, end);
    return;
  }
  // General case: merge every range that touches [begin, end).
  std::vector<byte_span> merged;
  merged.reserve(user_.size() + 1);
  byte_span cur{begin, end};
  bool placed = false;
  for (const byte_span& s : user_) {
    if (s.end < cur.begin) {
      merged.push_back(s);
    } else if (s.begin > cur.end) {
      if (!placed) merged.push_back(cur), placed = true;
      merged.push_back(s);
    } else {
      cur.begin = std::min(cur.begin, s.begin);
      cur.end = std::max(cur.end, s.end);
    }
  }
  if (!placed) merged.push_back(cur);
  user_ = std::move(merged);
}

void text::append(std::string_view bytes, bool user) {
  const size_t at = bytes_.size();
  bytes_.append(bytes);
  if (user) mark_user(at, bytes_.size());
}

void text::append(const text& t, size_t begin, size_t end) {
  end = std::min(end, t.size());
  if (begin >= end) return;
  const size_t at = bytes_.size();
  bytes_.append(t.bytes_, begin, end - begin);
  if (t.user_.empty()) return;
  auto it = std::upper_bound(t.user_.begin(), t.user_.end(), begin,
                             [](size_t pos, const byte_span& s) { return pos < s.end; });
  for (; it != t.user_.end() && it->begin < end; ++it) {
    const size_t b = std::max(it->begin, begin), e = std::min(it->end, end);
    mark_user(at + (b - begin), at + (e - begin));
  }
}

void text::erase_prefix(size_t n) {
  n = std::min(n, bytes_.size());
  bytes_.erase(0, n);
  std::vector<byte_span> kept;
  for (const byte_span& s : user_) {
    if (s.end <= n) continue;
    kept.push_back({s.begin > n ? s.begin - n : 0, s.end - n});
  }
  user_ = std::move(kept);
}

void text::clear() {
  bytes_.clear();
  user_.clear();
  markup_ = false;
}

}  // namespace hearth::jinja
