// SentencePiece BPE by score (tokenizer.ggml.model "llama"; the algorithm of llama.cpp's
// llm_tokenizer_spm): spaces become "▁", the text is cut into UTF-8 characters, then the
// adjacent pair whose concatenation is a vocabulary piece with the highest score is merged,
// leftmost first on ties, until no pair forms a piece. Symbols that are not pieces fall back to
// their <0xNN> byte tokens.
//
// Symbols live in a vector as a doubly linked list; candidate merges wait in a priority queue
// and are dropped when popped if either side has changed since they were queued. The cost is
// O(n log n) in the number of characters of a word (or of the text, see encode).
#include <array>
#include <bit>
#include <memory>
#include <queue>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth {

namespace {

constexpr std::string_view space_marker = "\xE2\x96\x81";  // U+2581 "▁"

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

uint64_t merge_key(float score, int32_t left) {
  if (score == 0.0f) score = 0.0f;  // -0 ties with +0, as in float comparison
  uint32_t bits = std::bit_cast<uint32_t>(score);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);  // NaN is rejected at load
  return (uint64_t{bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(left));
}

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

// SentencePiece merges only into pieces that stand for text: control, unknown and byte tokens
// are never formed from text (so a user typing "<s>" never gets BOS).
bool forms_from_text(token_type t) {
  return t != token_type::control && t != token_type::unknown && t != token_type::byte;
}

class spm_tokenizer final : public tokenizer {
 public:
  explicit spm_tokenizer(const vocab& v);
  void check(const gguf_file& f, const vocab& v) const override;
  void encode(const vocab& v, std::string_view text, bool at_start, std::vector<token_id>& out) const override;
  void decode(const vocab& v, token_id id, std::string& out) const override;

 private:
  // One call's working state: the escaped text, its symbols and the queue, reused across runs.
  struct merge_state {
    std::string text;
    std::vector<symbol> syms;
    std::priority_queue<merge_candidate> queue;
  };
  void merge_range(const vocab& v, merge_state& st, size_t begin, size_t end, std::vector<token_id>& out) const;
  static token_id mergeable(const vocab& v, std::string_view text) {
    token_id id = v.find(text);
    return id >= 0 && forms_from_text(v.type(id)) ? id : -1;
  }
  void byte_fallback(const vocab& v, std::string_view symbol, std::vector<token_id>& out) const;

  std::array<token_id, 256> byte_tokens_;  // <0xNN> ids, -1 if absent
  bool all_bytes_ = true;                  // every byte has its token
  // No mergeable piece has "▁" after anything but "▁": words can be merged one at a time.
  bool words_merge_alone_ = true;
};

spm_tokenizer::spm_tokenizer(const vocab& v) {
  // Looked up by text, whatever the type, as llama.cpp's byte_to_token does.
  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char text[] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    byte_tokens_[b] = v.find(std::string_view(text, sizeof text));
    all_bytes_ = all_bytes_ && byte_tokens_[b] >= 0;
  }
  for (token_id id = 0; id < v.size() && words_merge_alone_; ++id) {
    if (!forms_from_text(v.type(id))) continue;
    std::string_view p = v.piece(id);
    while (p.starts_with(space_marker)) p.remove_prefix(space_marker.size());
    words_merge_alone_ = p.find(space_marker) == std::string_view::npos;
  }
}

void spm_tokenizer::check(const gguf_file& f, const vocab& v) const {
  if (!all_bytes_ && v.unk() < 0) {
    throw f.error("metadata 'tokenizer.ggml.tokens': some bytes have no <0xNN> token and there is no unknown "
                  "token (tokenizer.ggml.unknown_token_id): some text could not be tokenized");
  }
}

void spm_tokenizer::byte_fallback(const vocab& v, std::string_view symbol, std::vector<token_id>& out) const {
  bool all_bytes = true;
  for (unsigned char c : symbol) all_bytes = all_bytes && byte_tokens_[c] >= 0;
  if (!all_bytes) {
    out.push_back(v.unk());  // check() guarantees one when byte tokens are missing
    return;
  }
  for (unsigned char c : symbol) out.push_back(byte_tokens_[c]);
}

void spm_tokenizer::encode(const vocab& v, std::string_view raw, bool at_start, std::vector<token_id>& out) const {
  merge_state st;
  // SentencePiece prefixes "▁" to the text (add_space_prefix), which llama.cpp repeats after
  // every special token.
  st.text = escape_spaces(raw, at_start && v.adds_space_prefix());
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
      merge_range(v, st, begin, i, out);
      begin = i;
    }
  }
  if (begin < st.syms.size()) merge_range(v, st, begin, st.syms.size(), out);
}

// Runs the merge over syms[begin, end), cut from its neighbours, and appends its tokens.
void spm_tokenizer::merge_range(const vocab& v, merge_state& st, size_t begin, size_t end,
                                std::vector<token_id>& out) const {
  std::vector<symbol>& syms = st.syms;
  syms[begin].prev = -1;
  syms[end - 1].next = -1;
  auto try_merge = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    std::string_view s(st.text.data() + syms[left].start, syms[left].length + syms[right].length);
    token_id id = mergeable(v, s);
    if (id >= 0) st.queue.push({merge_key(v.score(id), left), left, static_cast<uint32_t>(s.size())});
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
    token_id id = mergeable(v, s);
    if (id >= 0) out.push_back(id);
    else byte_fallback(v, s, out);
  }
}

void spm_tokenizer::decode(const vocab& v, token_id id, std::string& out) const {
  std::string_view p = v.piece(id);
  size_t pos = 0;
  for (size_t m; (m = p.find(space_marker, pos)) != std::string_view::npos; pos = m + space_marker.size()) {
    out.append(p, pos, m - pos);
    out += ' ';
  }
  out.append(p, pos);
}

}  // namespace

std::unique_ptr<tokenizer> load_spm_tokenizer(const gguf_file&, const vocab& v, tokenizer_defaults& d) {
  // llama.cpp's SentencePiece defaults.
  d.bos = 1;
  d.eos = 2;
  d.unk = 0;
  d.add_bos = true;
  d.add_space_prefix = true;
  return std::make_unique<spm_tokenizer>(v);
}

}  // namespace hearth
