// SentencePiece BPE by score (the algorithm of llama.cpp's llm_tokenizer_spm): the text is cut
// into UTF-8 characters, then the adjacent pair whose concatenation is a vocabulary piece with
// the highest score is merged, leftmost first on ties, until no pair forms a piece. Symbols
// that are not pieces fall back to their <0xNN> byte tokens.
//
// Symbols live in a vector as a doubly linked list; candidate merges wait in a priority queue
// and are dropped when popped if either side has changed since they were queued. The cost is
// O(n log n) in the number of characters of a word (or of the text, see tokenize_text).
#include <bit>
#include <queue>
#include <vector>

#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace hearth {

namespace {
constexpr std::string_view space_marker = "\xE2\x96\x81";  // U+2581 "▁"
}  // namespace

// Named, not anonymous: vocab::merge_state holds these.
namespace spm {

struct symbol {
  int32_t prev, next;       // neighbours in the list, -1 at the ends
  uint32_t start, length;   // bytes of the escaped text; length 0 once merged into prev
};

// A candidate merge of the symbol `left` with its right neighbour. The queue orders by one
// integer key, which keeps the heap's comparisons branch-free: the score mapped to an unsigned
// integer of the same order in the high half, the left index inverted in the low half, so the
// top is the highest score and, among equal scores, the leftmost pair.
struct merge_candidate {
  uint64_t key;
  int32_t left;
  uint32_t length;  // of the merged text: a candidate is stale unless the two sides still sum to it

  bool operator<(const merge_candidate& o) const { return key < o.key; }
};

inline uint64_t merge_key(float score, int32_t left) {
  if (score == 0.0f) score = 0.0f;  // -0 ties with +0, as in float comparison
  uint32_t bits = std::bit_cast<uint32_t>(score);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);  // NaN is rejected at load
  return (uint64_t{bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(left));
}

}  // namespace spm

namespace {

using spm::merge_candidate;
using spm::merge_key;
using spm::symbol;

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
// symbol of its own, so a stray byte never swallows the character after it.
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

token_id vocab::mergeable(std::string_view text) const {
  token_id id = index_.find(text, pieces_);
  return id >= 0 && forms_from_text(types_[id]) ? id : -1;
}

void vocab::byte_fallback(std::string_view symbol, std::vector<token_id>& out) const {
  bool all_bytes = true;
  for (unsigned char c : symbol) all_bytes = all_bytes && byte_tokens_[c] >= 0;
  if (!all_bytes) {
    // from_gguf guarantees an unknown token when byte tokens are missing; only an empty,
    // default-constructed vocab has neither, and it drops the text.
    if (unk_ >= 0) out.push_back(unk_);
    return;
  }
  for (unsigned char c : symbol) out.push_back(byte_tokens_[c]);
}

// One call's working state: the escaped text, its symbols and the queue, reused across runs.
struct vocab::merge_state {
  std::string text;
  std::vector<spm::symbol> syms;
  std::priority_queue<spm::merge_candidate> queue;
};

void vocab::tokenize_text(std::string_view raw, bool add_prefix, std::vector<token_id>& out) const {
  merge_state st;
  st.text = escape_spaces(raw, add_prefix);
  st.syms = split_characters(st.text);
  // When no piece has "▁" after anything but "▁" (SentencePiece's whitespace splitting, true
  // of Llama's vocabularies), no merge can join a symbol to a following "▁": each word merges
  // on its own, with a small queue instead of one over the whole text. Same result, faster.
  auto is_marker = [&](size_t i) {
    return std::string_view(st.text).substr(st.syms[i].start, st.syms[i].length) == space_marker;
  };
  size_t begin = 0;
  for (size_t i = 1; i < st.syms.size(); ++i) {
    if (words_merge_alone_ && is_marker(i) && !is_marker(i - 1)) {
      merge_range(st, begin, i, out);
      begin = i;
    }
  }
  if (begin < st.syms.size()) merge_range(st, begin, st.syms.size(), out);
}

// Runs the merge over syms[begin, end), cut from its neighbours, and appends its tokens.
void vocab::merge_range(merge_state& st, size_t begin, size_t end, std::vector<token_id>& out) const {
  std::vector<symbol>& syms = st.syms;
  syms[begin].prev = -1;
  syms[end - 1].next = -1;
  auto try_merge = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    std::string_view s(st.text.data() + syms[left].start, syms[left].length + syms[right].length);
    token_id id = mergeable(s);
    if (id >= 0) st.queue.push({merge_key(scores_[id], left), left, static_cast<uint32_t>(s.size())});
  };
  for (size_t i = begin + 1; i < end; ++i) try_merge(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!st.queue.empty()) {
    merge_candidate c = st.queue.top();
    st.queue.pop();
    symbol& left = syms[c.left];
    // A symbol only grows by absorbing its right neighbour, and is only absorbed by its left
    // one: if either side changed since the candidate was queued, the lengths no longer sum up.
    if (left.length == 0 || left.next < 0) continue;
    symbol& right = syms[left.next];
    if (left.length + right.length != c.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left;
    try_merge(left.prev, c.left);
    try_merge(c.left, left.next);
  }

  // The first symbol is never merged away (merges absorb the right side): the run starts there.
  for (auto i = static_cast<int32_t>(begin); i >= 0; i = syms[i].next) {
    std::string_view s(st.text.data() + syms[i].start, syms[i].length);
    token_id id = mergeable(s);
    if (id >= 0) out.push_back(id);
    else byte_fallback(s, out);
  }
}

}  // namespace hearth
