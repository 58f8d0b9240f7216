// SentencePiece BPE by score (the algorithm of llama.cpp's llm_tokenizer_spm): the text is cut
// into UTF-8 characters, then the adjacent pair whose concatenation is a vocabulary piece with
// the highest score is merged, leftmost first on ties, until no pair forms a piece. Symbols
// that are not pieces fall back to their <0xNN> byte tokens.
//
// Symbols live in a vector as a doubly linked list; candidate merges wait in a priority queue
// and are dropped when popped if either side has changed since they were queued. The cost is
// O(n log n) in the number of characters.
#include <queue>
#include <vector>

#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace hearth {

namespace {

constexpr std::string_view space_marker = "\xE2\x96\x81";  // U+2581 "▁"

struct symbol {
  int32_t prev, next;       // neighbours in the list, -1 at the ends
  uint32_t start, length;   // bytes of the escaped text; length 0 once merged into prev
};

struct merge_candidate {
  float score;
  int32_t left, right;
  uint32_t length;  // of the merged text, to recognise a stale candidate
};

// The top of the queue is the highest score, and among equal scores the leftmost pair.
struct lower_priority {
  bool operator()(const merge_candidate& a, const merge_candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// SentencePiece's whitespace escaping: every space becomes "▁", and with add_prefix the text
// gets one in front.
std::string escape_spaces(std::string_view raw, bool add_prefix) {
  std::string text;
  text.reserve(raw.size() + (add_prefix ? space_marker.size() : 0) + 8);
  if (add_prefix) text += space_marker;
  for (char c : raw) {
    if (c == ' ') text += space_marker;
    else text += c;
  }
  return text;
}

// One symbol per valid UTF-8 character; each byte of an invalid or truncated sequence is a
// symbol of its own (it can only leave as a byte token).
std::vector<symbol> split_characters(std::string_view text) {
  std::vector<symbol> syms;
  syms.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    utf8_scan r = utf8_scan_one(text.substr(pos));
    size_t len = r.kind == utf8_scan::complete ? r.length : 1;
    auto index = static_cast<int32_t>(syms.size());
    syms.push_back({index - 1, index + 1, static_cast<uint32_t>(pos), static_cast<uint32_t>(len)});
    pos += len;
  }
  if (!syms.empty()) syms.back().next = -1;
  return syms;
}

}  // namespace

// SentencePiece only merges into pieces that stand for text: control, unknown and byte tokens
// are never formed from text (so "<s>" typed by a user is never BOS).
token_id vocab::mergeable(std::string_view text) const {
  auto it = index_.find(text);
  if (it == index_.end()) return -1;
  token_type t = types_[it->second];
  if (t == token_type::control || t == token_type::unknown || t == token_type::byte) return -1;
  return it->second;
}

void vocab::byte_fallback(std::string_view symbol, std::vector<token_id>& out) const {
  bool all_bytes = true;
  for (unsigned char c : symbol) all_bytes = all_bytes && byte_tokens_[c] >= 0;
  if (!all_bytes) {
    out.push_back(unk_);  // from_gguf guarantees an unknown token when byte tokens are missing
    return;
  }
  for (unsigned char c : symbol) out.push_back(byte_tokens_[c]);
}

void vocab::tokenize_text(std::string_view raw, bool add_prefix, std::vector<token_id>& out) const {
  const std::string text = escape_spaces(raw, add_prefix);
  std::vector<symbol> syms = split_characters(text);
  std::priority_queue<merge_candidate, std::vector<merge_candidate>, lower_priority> queue;
  auto try_merge = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    std::string_view s(text.data() + syms[left].start, syms[left].length + syms[right].length);
    token_id id = mergeable(s);
    if (id >= 0) queue.push({scores_[id], left, right, static_cast<uint32_t>(s.size())});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_merge(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    merge_candidate c = queue.top();
    queue.pop();
    symbol& left = syms[c.left];
    symbol& right = syms[c.right];
    if (left.length == 0 || right.length == 0 || left.next != c.right ||
        left.length + right.length != c.length) {
      continue;  // stale: one side has been merged since
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left;
    try_merge(left.prev, c.left);
    try_merge(c.left, left.next);
  }

  // The first symbol is never merged away (merges absorb the right side), so the list starts at 0.
  for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    std::string_view s(text.data() + syms[i].start, syms[i].length);
    token_id id = mergeable(s);
    if (id >= 0) out.push_back(id);
    else byte_fallback(s, out);
  }
}

}  // namespace hearth
