// vocab::from_gguf: reads and validates the tokenizer.ggml.* metadata. After it returns, every
// id the vocab holds (special ids, byte tokens, EOG list, trie) is in range, so tokenize() and
// detokenize() index without further checks.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "gguf/gguf_file.h"
#include "tokenizer/vocab.h"

namespace hearth {

namespace {

const std::string key_model = "tokenizer.ggml.model";
const std::string key_tokens = "tokenizer.ggml.tokens";
const std::string key_scores = "tokenizer.ggml.scores";
const std::string key_types = "tokenizer.ggml.token_type";

std::string meta(const std::string& key) { return "metadata '" + key + "'"; }

// A piece or metadata string as it may appear in an error message: bounded, and printable.
std::string printable(std::string_view s) {
  constexpr size_t max_len = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789ABCDEF";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

void check_model(const gguf_file& f) {
  auto model = f.get_string(key_model);
  if (!model) throw f.error("missing " + meta(key_model) + " (expected \"llama\")");
  if (*model != "llama") {
    std::string m = printable(*model);
    throw f.error(meta(key_model) + ": \"" + m + "\" (expected \"llama\"): " + m +
                  " tokenizer is not supported yet");
  }
}

std::vector<float> read_scores(const gguf_file& f, size_t n) {
  const gguf_array* a = f.get_array(key_scores);
  if (!a) return std::vector<float>(n, 0.0f);
  std::vector<float> scores;
  if (a->elem_type == gguf_value_type::f32 || a->elem_type == gguf_value_type::f64) {
    scores = f.get_f32_array(key_scores);
  } else {
    std::vector<int32_t> ints = f.get_i32_array(key_scores);  // throws on non-numeric types
    scores.assign(ints.begin(), ints.end());
  }
  if (scores.size() != n) {
    throw f.error(meta(key_scores) + ": " + std::to_string(scores.size()) + " elements (expected " +
                  std::to_string(n) + ", one per entry of " + key_tokens + ")");
  }
  for (size_t i = 0; i < n; ++i) {
    // NaN would break the strict ordering the merge queue relies on.
    if (std::isnan(scores[i])) {
      throw f.error(meta(key_scores) + ": element " + std::to_string(i) + " is NaN (expected a number)");
    }
  }
  return scores;
}

std::vector<token_type> read_types(const gguf_file& f, size_t n) {
  if (!f.get_array(key_types)) return std::vector<token_type>(n, token_type::normal);
  std::vector<int32_t> raw = f.get_i32_array(key_types);
  if (raw.size() != n) {
    throw f.error(meta(key_types) + ": " + std::to_string(raw.size()) + " elements (expected " +
                  std::to_string(n) + ", one per entry of " + key_tokens + ")");
  }
  std::vector<token_type> types(n);
  for (size_t i = 0; i < n; ++i) {
    if (raw[i] < 0 || raw[i] > static_cast<int32_t>(token_type::byte)) {
      throw f.error(meta(key_types) + ": element " + std::to_string(i) + " is " +
                    std::to_string(raw[i]) + " (expected 0..6)");
    }
    types[i] = static_cast<token_type>(raw[i]);
  }
  return types;
}

// An absent key takes llama.cpp's SentencePiece default, or none if that is out of range; a
// present key must name a token.
token_id read_token_id(const gguf_file& f, const std::string& key, token_id fallback, size_t n) {
  auto v = f.get_int(key);
  if (!v) return fallback >= 0 && static_cast<size_t>(fallback) < n ? fallback : -1;
  if (*v < 0 || static_cast<uint64_t>(*v) >= n) {
    throw f.error(meta(key) + ": token id " + std::to_string(*v) + " is out of range (expected 0.." +
                  std::to_string(n - 1) + ")");
  }
  return static_cast<token_id>(*v);
}

// GGUF has no per-token lstrip/rstrip flags. Phi-3's tokenizer.json marks its added tokens
// rstrip (a match swallows the whitespace after it) and llama.cpp restores that by model name,
// so Phi-3 chat prompts only tokenize as they do there if we do the same.
std::vector<bool> phi3_rstrip(const gguf_file& f, const std::vector<std::string>& pieces,
                              const std::vector<token_type>& types) {
  std::vector<bool> rstrip(pieces.size(), false);
  std::string name(f.get_string("general.name").value_or(""));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return rstrip;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    bool special = types[i] == token_type::control || types[i] == token_type::user_defined ||
                   types[i] == token_type::unknown;
    rstrip[i] = (special || p == "</s>") && p != "<unk>" && p != "<s>" && p != "<|endoftext|>";
  }
  return rstrip;
}

// Chat formats whose end-of-turn token the GGUF often does not name in eot_token_id.
bool is_end_of_turn_text(std::string_view p) {
  return p == "<|eot_id|>" || p == "<|im_end|>" || p == "<|end|>" || p == "<end_of_turn>" ||
         p == "<|endoftext|>" || p == "<|eom_id|>" || p == "<|end_of_text|>" || p == "<EOT>";
}

}  // namespace

vocab vocab::from_gguf(const gguf_file& f) {
  check_model(f);
  if (!f.find(key_tokens)) throw f.error("missing " + meta(key_tokens));
  std::vector<std::string_view> toks = f.get_string_array(key_tokens);
  if (toks.empty() || toks.size() > static_cast<size_t>(std::numeric_limits<token_id>::max())) {
    throw f.error(meta(key_tokens) + ": " + std::to_string(toks.size()) +
                  " tokens (expected 1..2^31-1)");
  }
  const size_t n = toks.size();
  vocab v;
  v.pieces_.assign(toks.begin(), toks.end());
  v.scores_ = read_scores(f, n);
  v.types_ = read_types(f, n);
  v.index_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = v.pieces_[i];
    if (v.types_[i] == token_type::byte && byte_value(p) < 0) {
      throw f.error(meta(key_types) + ": element " + std::to_string(i) + " is 6 (byte) but its token \"" +
                    printable(p) + "\" is not of the form <0xNN>");
    }
    if (p.empty()) continue;  // matches no text; decodes to ""
    token_id existing = v.index_.insert(static_cast<token_id>(i), v.pieces_);
    if (existing >= 0) {
      throw f.error(meta(key_tokens) + ": entry " + std::to_string(i) + " duplicates entry " +
                    std::to_string(existing) + " (\"" + printable(p) + "\")");
    }
  }
  v.read_specials(f);
  v.build_byte_tokens(f);
  v.build_special_index();
  v.check_word_merges();
  v.rstrip_ = phi3_rstrip(f, v.pieces_, v.types_);
  return v;
}

void vocab::read_specials(const gguf_file& f) {
  const size_t n = pieces_.size();
  bos_ = read_token_id(f, "tokenizer.ggml.bos_token_id", 1, n);
  eos_ = read_token_id(f, "tokenizer.ggml.eos_token_id", 2, n);
  unk_ = read_token_id(f, "tokenizer.ggml.unknown_token_id", 0, n);
  token_id eot = read_token_id(f, "tokenizer.ggml.eot_token_id", -1, n);
  token_id eom = read_token_id(f, "tokenizer.ggml.eom_token_id", -1, n);
  add_bos_ = f.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
  add_eos_ = f.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  if (add_bos_ && bos_ < 0) {
    throw f.error("metadata 'tokenizer.ggml.add_bos_token' is true but there is no BOS token "
                  "(tokenizer.ggml.bos_token_id absent and the default 1 is out of range)");
  }
  if (add_eos_ && eos_ < 0) {
    throw f.error("metadata 'tokenizer.ggml.add_eos_token' is true but there is no EOS token "
                  "(tokenizer.ggml.eos_token_id absent and the default 2 is out of range)");
  }
  for (token_id id : {eos_, eot, eom}) {
    if (id >= 0) eog_.push_back(id);
  }
  for (size_t i = 0; i < n; ++i) {
    if (is_end_of_turn_text(pieces_[i])) eog_.push_back(static_cast<token_id>(i));
  }
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());
}

void vocab::build_byte_tokens(const gguf_file& f) {
  // Looked up by text, whatever the type, as llama.cpp's byte_to_token does.
  static const char hex[] = "0123456789ABCDEF";
  bool complete = true;
  for (int b = 0; b < 256; ++b) {
    const char text[] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    byte_tokens_[b] = index_.find(std::string_view(text, sizeof text), pieces_);
    complete = complete && byte_tokens_[b] >= 0;
  }
  if (!complete && unk_ < 0) {
    throw f.error(meta(key_tokens) + ": some bytes have no <0xNN> token and there is no unknown "
                  "token (tokenizer.ggml.unknown_token_id): some text could not be tokenized");
  }
}

void vocab::build_special_index() {
  for (size_t i = 0; i < pieces_.size(); ++i) {
    token_type t = types_[i];
    if ((t == token_type::control || t == token_type::user_defined || t == token_type::unknown) &&
        !pieces_[i].empty()) {
      special_by_length_.push_back(static_cast<token_id>(i));
    }
  }
  std::stable_sort(special_by_length_.begin(), special_by_length_.end(),
                   [&](token_id a, token_id b) { return pieces_[a].size() > pieces_[b].size(); });
  special_trie_token_.assign(1, -1);  // the root
  for (token_id id : special_by_length_) {
    special_first_byte_[static_cast<unsigned char>(pieces_[id][0])] = true;
    uint32_t node = 0;
    for (unsigned char c : pieces_[id]) {
      uint64_t key = (uint64_t{node} << 8) | c;
      auto [it, fresh] = special_trie_.emplace(key, static_cast<uint32_t>(special_trie_token_.size()));
      if (fresh) special_trie_token_.push_back(-1);
      node = it->second;
    }
    special_trie_token_[node] = id;  // pieces are unique, so each end node holds one token
  }
}

void vocab::check_word_merges() {
  constexpr std::string_view marker = "\xE2\x96\x81";  // "▁"
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (!forms_from_text(types_[i])) continue;
    std::string_view p = pieces_[i];
    while (p.starts_with(marker)) p.remove_prefix(marker.size());
    if (p.find(marker) != std::string_view::npos) {
      words_merge_alone_ = false;
      return;
    }
  }
  words_merge_alone_ = true;
}

}  // namespace hearth
