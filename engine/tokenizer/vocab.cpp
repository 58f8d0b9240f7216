// vocab: splitting special tokens out of the text, handing the rest to the tokenizer, and
// decoding. The tokenizers are in spm.cpp and bpe.cpp, loading in vocab_load.cpp.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "tokenizer/tokenizer.h"

namespace hearth {

namespace {

// isspace() in the C locale, which llama.cpp's lstrip/rstrip use.
bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

int vocab::byte_value(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

bool vocab::is_eog(token_id id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

std::vector<token_id> vocab::tokenize(std::string_view text, bool add_special, bool parse_special,
                                      std::span<const text_range> literal) const {
  // Symbol indices and offsets into the escaped text (up to 3 bytes per input byte) are 32-bit.
  if (text.size() > (size_t{1} << 30)) throw std::length_error("tokenize: text over 1 GiB");
  std::vector<token_id> out;
  if (!tokenizer_) return out;  // an empty vocab
  std::vector<fragment> frags;
  split_special(text, parse_special, literal, frags);
  out.reserve(text.size() / 2 + 2);
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  // SentencePiece prefixes "▁" to the text; llama.cpp does so for the first fragment and for
  // every text fragment that follows a special token, so the tokenizer is told which those are.
  bool after_special = true;
  for (const fragment& fr : frags) {
    if (fr.token >= 0) {
      out.push_back(fr.token);
      after_special = true;
    } else {
      tokenizer_->encode(*this, text.substr(fr.offset, fr.length), after_special, out);
      after_special = false;
    }
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

// Splits the texts of special tokens out of `text` the way llama.cpp does: tokens in order of
// decreasing length, each taking all its leftmost non-overlapping matches in the remaining text
// fragments. Only tokens whose text occurs somewhere in `text` are tried (found with the trie),
// which gives the same result while keeping the cost independent of how many specials exist.
// Control and unknown-type tokens take part only with parse_special.
void vocab::split_special(std::string_view text, bool parse_special, std::span<const text_range> literal,
                          std::vector<fragment>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({-1, 0, text.size()});
  std::vector<token_id> present;
  for (size_t i = 0; i < text.size() && !special_trie_.empty(); ++i) {
    if (!special_first_byte_[static_cast<unsigned char>(text[i])]) continue;
    uint32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = special_trie_.find((uint64_t{node} << 8) | static_cast<unsigned char>(text[j]));
      if (it == special_trie_.end()) break;
      node = it->second;
      token_id t = special_trie_token_[node];
      if (t >= 0 && (parse_special || types_[t] == token_type::user_defined)) present.push_back(t);
    }
  }
  if (present.empty()) return;
  // The order of special_by_length_: longer first, then lower id.
  std::sort(present.begin(), present.end(), [&](token_id a, token_id b) {
    return pieces_[a].size() != pieces_[b].size() ? pieces_[a].size() > pieces_[b].size() : a < b;
  });
  present.erase(std::unique(present.begin(), present.end()), present.end());
  for (token_id t : present) split_on(t, text, literal, out);
}

namespace {

// Whether [begin, end) overlaps one of the sorted, disjoint ranges.
bool overlaps(std::span<const text_range> ranges, size_t begin, size_t end) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), begin,
                             [](size_t b, const text_range& r) { return b < r.end; });
  return it != ranges.end() && it->begin < end;
}

}  // namespace

void vocab::split_on(token_id special, std::string_view text, std::span<const text_range> literal,
                     std::vector<fragment>& frags) const {
  const std::string& p = pieces_[special];
  std::vector<fragment> next;
  next.reserve(frags.size() + 2);
  for (const fragment& fr : frags) {
    if (fr.token >= 0) {
      next.push_back(fr);
      continue;
    }
    size_t off = fr.offset;
    const size_t end = fr.offset + fr.length;
    // Only user-defined tokens are pieces of plain text; control tokens are not matched
    // inside literal ranges.
    const bool may_be_literal = !literal.empty() && types_[special] != token_type::user_defined;
    size_t from = off;
    while (off < end) {
      size_t m = text.substr(0, end).find(p, from);
      if (m != std::string_view::npos && may_be_literal && overlaps(literal, m, m + p.size())) {
        from = m + 1;
        continue;
      }
      if (m == std::string_view::npos) {
        next.push_back({-1, off, end - off});
        break;
      }
      if (m > off) next.push_back({-1, off, m - off});
      next.push_back({special, 0, 0});
      off = m + p.size();
      if (rstrip_[special]) {
        while (off < end && is_ascii_space(text[off])) ++off;
      }
      from = off;
    }
  }
  frags.swap(next);
}

void vocab::append_bytes(token_id id, bool render_special, std::string& out) const {
  if (id < 0 || id >= size()) return;
  const std::string& p = pieces_[id];
  switch (types_[id]) {
    case token_type::normal:
      tokenizer_->decode(*this, id, out);  // a vocab with tokens has a tokenizer
      return;
    case token_type::byte:
      out += static_cast<char>(byte_value(p));  // checked at load
      return;
    case token_type::user_defined:
      out += p;
      return;
    case token_type::control:
    case token_type::unknown:
      if (render_special) out += p;
      return;
    case token_type::unused:
    case token_type::undefined:
      return;  // as llama.cpp: they stand for no text
  }
}

std::string vocab::token_to_bytes(token_id id, bool render_special) const {
  std::string out;
  append_bytes(id, render_special, out);
  return out;
}

namespace {

// llama.cpp's clean-up of decoded text (llama_detokenize with clean_spaces), pass for pass:
// drop the space before ? ! . , ; turn " ' " into "'"; drop the space before 's 'm 're 've.
// Each pass reads the previous pass's output in place, as there.
void clean_up_spaces_in_place(std::string& text) {
  auto pass = [&text](auto&& step) {
    const size_t n = text.size();
    size_t total = n ? 1 : 0;
    for (size_t i = 1; i < n; ++i) step(i, n, total);
    text.resize(total);
  };
  pass([&text](size_t i, size_t, size_t& total) {
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    text[total++] = x;
  });
  pass([&text](size_t& i, size_t n, size_t& total) {
    const char x = text[i];
    if (x == '\'' && i + 1 < n && text[i - 1] == ' ' && text[i + 1] == ' ') {
      --total;          // the space before
      text[++i] = '\0';  // and, skipped, the one after
    }
    text[total++] = x;
  });
  pass([&text](size_t i, size_t n, size_t& total) {
    const char x = text[i];
    if (text[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = text[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (i + 2 < n && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e'))) {
        --total;
      }
    }
    text[total++] = x;
  });
}

}  // namespace

std::string vocab::detokenize(const std::vector<token_id>& tokens, bool render_special,
                              bool clean_up_spaces) const {
  std::string out;
  size_t i = 0;
  if (!tokens.empty() && bos_ >= 0 && tokens[0] == bos_) {
    append_bytes(bos_, render_special, out);
    i = 1;
  }
  if (i < tokens.size()) {
    // Only the first token after the start can carry the prefixed space.
    size_t before = out.size();
    append_bytes(tokens[i], render_special, out);
    if (add_space_prefix_ && out.size() > before && out[before] == ' ') out.erase(before, 1);
    ++i;
  }
  for (; i < tokens.size(); ++i) append_bytes(tokens[i], render_special, out);
  if (clean_up_spaces && clean_spaces_) clean_up_spaces_in_place(out);
  return out;
}

}  // namespace hearth
