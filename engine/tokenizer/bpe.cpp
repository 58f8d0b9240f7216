// Byte-level BPE (tokenizer.ggml.model "gpt2": GPT-2, Llama 3, Qwen, DeepSeek, SmolLM …).
// The text is cut into words by the pre-tokenizer that tokenizer.ggml.pre names; each word's
// bytes become the characters of GPT-2's byte-to-unicode table (printable bytes stand for
// themselves, the others for U+0100 onwards), one symbol per byte; then the adjacent pair with
// the lowest merge rank (its index in tokenizer.ggml.merges) is merged, leftmost first on ties,
// until no pair has a rank. That is llama.cpp's llm_tokenizer_bpe and HF tokenizers' BPE.
//
// Symbols are token ids, not strings: every side and result of a merge is a vocabulary piece
// (HF tokenizers refuses files where one is not; such merges are skipped here), so a merge is a
// lookup of an id pair in a flat hash table.
#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <memory>
#include <queue>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth {

namespace {

const std::string key_pre = "tokenizer.ggml.pre";
const std::string key_merges = "tokenizer.ggml.merges";

// GPT-2's bytes_to_unicode: bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' are their own code point;
// the other 68 take U+0100.. in byte order.
constexpr std::array<uint16_t, 256> byte_to_code_point = [] {
  std::array<uint16_t, 256> m{};
  uint16_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    m[b] = printable ? static_cast<uint16_t>(b) : next++;
  }
  return m;
}();
constexpr uint32_t mapped_limit = 0x100 + 68;  // code points below this may stand for a byte

constexpr std::array<int16_t, mapped_limit> code_point_to_byte = [] {
  std::array<int16_t, mapped_limit> m{};
  for (auto& x : m) x = -1;
  for (int b = 0; b < 256; ++b) m[byte_to_code_point[b]] = static_cast<int16_t>(b);
  return m;
}();

// The UTF-8 of the character standing for byte b (1 or 2 bytes).
std::string_view mapped_char(uint8_t b) {
  static const auto table = [] {
    std::array<std::array<char, 2>, 256> t{};
    for (int i = 0; i < 256; ++i) {
      const uint16_t c = byte_to_code_point[i];
      if (c < 0x80) t[i] = {static_cast<char>(c), 0};
      else t[i] = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    }
    return t;
  }();
  return {table[b].data(), byte_to_code_point[b] < 0x80 ? size_t{1} : size_t{2}};
}

// (left id, right id) -> (rank, merged id), open addressing over a power-of-two table.
class merge_table {
 public:
  struct entry {
    uint64_t key;  // left << 32 | right; empty_key when free
    int32_t rank;
    token_id result;
  };

  // Room for n entries at a load factor of at most 2/3 (Llama 3's 280k merges take 8 MiB).
  void reserve(size_t n) {
    const size_t cap = std::bit_ceil(n + n / 2 + 2);
    slots_.assign(cap, entry{empty_key, 0, -1});
    mask_ = cap - 1;
  }
  // Keeps the first rank given for a pair, as llama.cpp's map emplace does.
  void insert(token_id left, token_id right, int32_t rank, token_id result) {
    const uint64_t key = make_key(left, right);
    for (uint64_t i = slot(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return;
      if (slots_[i].key == empty_key) {
        slots_[i] = {key, rank, result};
        return;
      }
    }
  }
  const entry* find(token_id left, token_id right) const {
    const uint64_t key = make_key(left, right);
    for (uint64_t i = slot(key);; i = (i + 1) & mask_) {  // reserve() keeps a third of the slots free
      if (slots_[i].key == key) return &slots_[i];
      if (slots_[i].key == empty_key) return nullptr;
    }
  }
 private:
  static constexpr uint64_t empty_key = ~uint64_t{0};
  static uint64_t make_key(token_id l, token_id r) { return (uint64_t{static_cast<uint32_t>(l)} << 32) | static_cast<uint32_t>(r); }
  uint64_t slot(uint64_t key) const { return ((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }

  std::vector<entry> slots_;
  uint64_t mask_ = 0;
};

struct symbol {
  token_id id;             // -1: a byte whose character is no piece
  int32_t prev, next;      // neighbours, -1 at the ends
  uint32_t length;         // bytes; 0 once merged into prev
};

// A candidate merge of `left` with its right neighbour. Ordered by one integer, rank in the high
// half and position in the low, so the queue's top is the lowest rank, leftmost on ties.
struct merge_candidate {
  uint64_t key;
  uint32_t length;  // of both sides together: stale unless they still sum to it
  token_id result;

  int32_t left() const { return static_cast<int32_t>(key & 0xFFFFFFFFu); }
  bool operator>(const merge_candidate& o) const { return key > o.key; }
};

class bpe_tokenizer final : public tokenizer {
 public:
  bpe_tokenizer(const vocab& v, const pre_tokenizer& pre, const std::vector<std::string_view>& merges);

  void encode(const vocab& v, std::string_view text, bool at_start, std::vector<token_id>& out) const override;
  void decode(const vocab& v, token_id id, std::string& out) const override;
  std::string_view pre_tokenizer_name() const override { return pre_.name; }

 private:
  // One encode call's scratch space, reused across its words.
  struct scratch {
    code_points text;
    std::vector<uint32_t> word_ends;
    std::string encoded;
    std::vector<symbol> syms;
    std::priority_queue<merge_candidate, std::vector<merge_candidate>, std::greater<>> queue;
  };
  void encode_word(const vocab& v, std::string_view word, scratch& s, std::vector<token_id>& out) const;

  const pre_tokenizer& pre_;
  merge_table merges_;
  std::array<token_id, 256> byte_token_;  // the piece of each byte's character, or -1
  // What llama.cpp emits for a byte without a piece: the pieces of its character's single
  // UTF-8 bytes, where some exist.
  std::array<std::vector<token_id>, 256> byte_fallback_;
};

bpe_tokenizer::bpe_tokenizer(const vocab& v, const pre_tokenizer& pre, const std::vector<std::string_view>& merges)
    : pre_(pre) {
  for (int b = 0; b < 256; ++b) {
    std::string_view c = mapped_char(static_cast<uint8_t>(b));
    byte_token_[b] = v.find(c);
    if (byte_token_[b] >= 0) continue;
    for (char byte : c) {
      if (token_id id = v.find(std::string_view(&byte, 1)); id >= 0) byte_fallback_[b].push_back(id);
    }
  }
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    std::string_view m = merges[rank];
    // "left right", split at the first space after the first byte, as llama.cpp does.
    const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (sp == std::string_view::npos) continue;
    std::string_view left = m.substr(0, sp), right = m.substr(sp + 1);
    joined.assign(left);
    joined.append(right);
    const token_id l = v.find(left), r = v.find(right), result = v.find(joined);
    if (l < 0 || r < 0 || result < 0) continue;
    merges_.insert(l, r, static_cast<int32_t>(rank), result);
  }
}

void bpe_tokenizer::encode(const vocab& v, std::string_view text, bool, std::vector<token_id>& out) const {
  scratch s;
  hearth::pre_tokenize(pre_, text, s.text, s.word_ends);
  size_t begin = 0;
  for (uint32_t end : s.word_ends) {
    encode_word(v, text.substr(begin, end - begin), s, out);
    begin = end;
  }
}

void bpe_tokenizer::encode_word(const vocab& v, std::string_view word, scratch& s, std::vector<token_id>& out) const {
  auto push_byte = [&](uint8_t b) {
    if (byte_token_[b] >= 0) out.push_back(byte_token_[b]);
    else out.insert(out.end(), byte_fallback_[b].begin(), byte_fallback_[b].end());
  };
  if (word.size() == 1) {
    push_byte(static_cast<uint8_t>(word[0]));
    return;
  }
  if (pre_.ignore_merges) {
    s.encoded.clear();
    for (char c : word) s.encoded.append(mapped_char(static_cast<uint8_t>(c)));
    if (token_id id = v.find(s.encoded); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<symbol>& syms = s.syms;
  syms.clear();
  for (size_t i = 0; i < word.size(); ++i) {
    const auto index = static_cast<int32_t>(i);
    syms.push_back({byte_token_[static_cast<uint8_t>(word[i])], index - 1, index + 1, 1});
  }
  syms.back().next = -1;
  auto try_merge = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const merge_table::entry* e = merges_.find(syms[left].id, syms[right].id);
    if (!e) return;
    const uint64_t key = (uint64_t{static_cast<uint32_t>(e->rank)} << 32) | static_cast<uint32_t>(left);
    s.queue.push({key, syms[left].length + syms[right].length, e->result});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_merge(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (!s.queue.empty()) {
    const merge_candidate c = s.queue.top();
    s.queue.pop();
    symbol& left = syms[c.left()];
    // A symbol only grows by absorbing its right neighbour and is only absorbed by its left
    // one: if either side changed since the candidate was queued, the lengths no longer sum up.
    if (left.length == 0 || left.next < 0) continue;
    symbol& right = syms[left.next];
    if (left.length + right.length != c.length) continue;
    left.id = c.result;
    left.length = c.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left();
    try_merge(left.prev, c.left());
    try_merge(c.left(), left.next);
  }
  // The first symbol is never merged away.
  size_t offset = 0;
  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    if (syms[i].id >= 0) out.push_back(syms[i].id);
    else push_byte(static_cast<uint8_t>(word[offset]));  // an unmerged byte without a piece
    offset += syms[i].length;
  }
}

void bpe_tokenizer::decode(const vocab& v, token_id id, std::string& out) const {
  std::string_view p = v.piece(id);
  for (size_t pos = 0; pos < p.size();) {
    utf8_scan r = utf8_scan_one(p.substr(pos));
    const size_t len = r.kind == utf8_scan::complete ? r.length : 1;
    uint32_t c = static_cast<unsigned char>(p[pos]);
    if (len == 2) c = ((c & 0x1F) << 6) | (static_cast<unsigned char>(p[pos + 1]) & 0x3F);
    if (len <= 2 && c < mapped_limit && code_point_to_byte[c] >= 0) {
      out += static_cast<char>(code_point_to_byte[c]);
    } else {
      out.append(p.substr(pos, len));  // a character that stands for no byte: itself
    }
    pos += len;
  }
}

}  // namespace

std::unique_ptr<tokenizer> load_bpe_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d) {
  // An absent pre-tokenizer is GPT-2's original sequence, as in llama.cpp.
  const std::string_view name = f.get_string(key_pre).value_or("default");
  const pre_tokenizer* pre = find_pre_tokenizer(name);
  if (!pre) {
    const std::string n = printable_text(name);
    throw f.error("metadata '" + key_pre + "': \"" + n + "\" (expected one of " + pre_tokenizer_names() +
                  "): the " + n + " pre-tokenizer is not supported");
  }
  if (!f.find(key_merges)) throw f.error("missing metadata '" + key_merges + "' (byte-level BPE needs its merges)");
  const std::vector<std::string_view> merges = f.get_string_array(key_merges);
  if (merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw f.error("metadata '" + key_merges + "': " + std::to_string(merges.size()) + " merges (expected at most 2^31-1)");
  }
  d.add_bos = pre->add_bos;
  d.clean_spaces = pre->clean_spaces;
  d.normal_pieces_are_text = true;
  return std::make_unique<bpe_tokenizer>(v, *pre, merges);
}

}  // namespace hearth
