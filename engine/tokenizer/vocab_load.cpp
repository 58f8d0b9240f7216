// vocab::from_gguf: reads and validates the tokenizer.ggml.* metadata and loads the tokenizer the
// file names. After it returns, every id the vocab holds (special ids, EOG list, trie) is in
// range, so tokenize() and detokenize() index without further checks.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace hearth {

namespace {

const std::string key_model = "tokenizer.ggml.model";
const std::string key_tokens = "tokenizer.ggml.tokens";
const std::string key_scores = "tokenizer.ggml.scores";
const std::string key_types = "tokenizer.ggml.token_type";
const std::string key_bos = "tokenizer.ggml.bos_token_id";
const std::string key_eos = "tokenizer.ggml.eos_token_id";
const std::string key_add_bos = "tokenizer.ggml.add_bos_token";
const std::string key_add_eos = "tokenizer.ggml.add_eos_token";

std::string meta(const std::string& key) { return "metadata '" + key + "'"; }

}  // namespace

std::string printable_text(std::string_view s) {
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

namespace {

std::string printable(std::string_view s) { return printable_text(s); }

const tokenizer_kind& read_kind(const gguf_file& f) {
  auto model = f.get_string(key_model);
  if (!model) throw f.error("missing " + meta(key_model) + " (expected one of " + tokenizer_kind_names() + ")");
  const tokenizer_kind* kind = find_tokenizer_kind(*model);
  if (!kind) {
    std::string m = printable(*model);
    throw f.error(meta(key_model) + ": \"" + m + "\" (expected one of " + tokenizer_kind_names() + "): the " + m +
                  " tokenizer is not supported");
  }
  return *kind;
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

// An absent key takes the tokenizer's default (llama.cpp's), or none if that is out of range; a
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

}  // namespace

vocab vocab::from_gguf(const gguf_file& f) {
  const tokenizer_kind& kind = read_kind(f);
  vocab v;
  v.read_pieces(f);
  tokenizer_defaults defaults;
  std::unique_ptr<tokenizer> t = kind.load(f, v, defaults);
  v.read_specials(f, defaults, kind);
  v.find_eog_tokens(f, defaults.normal_pieces_are_text);  // may retype tokens: before the index
  v.build_special_index();
  v.rstrip_ = phi3_rstrip(f, v.pieces_, v.types_);
  t->check(f, v);
  v.tokenizer_name_ = kind.name;
  v.pre_tokenizer_ = std::string(t->pre_tokenizer_name());
  v.tokenizer_ = std::move(t);
  return v;
}

void vocab::read_pieces(const gguf_file& f) {
  if (!f.find(key_tokens)) throw f.error("missing " + meta(key_tokens));
  std::vector<std::string_view> toks = f.get_string_array(key_tokens);
  if (toks.empty() || toks.size() > static_cast<size_t>(std::numeric_limits<token_id>::max())) {
    throw f.error(meta(key_tokens) + ": " + std::to_string(toks.size()) +
                  " tokens (expected 1..2^31-1)");
  }
  const size_t n = toks.size();
  pieces_.assign(toks.begin(), toks.end());
  scores_ = read_scores(f, n);
  types_ = read_types(f, n);
  index_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = pieces_[i];
    if (types_[i] == token_type::byte && byte_value(p) < 0) {
      throw f.error(meta(key_types) + ": element " + std::to_string(i) + " is 6 (byte) but its token \"" +
                    printable(p) + "\" is not of the form <0xNN>");
    }
    if (p.empty()) continue;  // matches no text; decodes to ""
    token_id existing = index_.insert(static_cast<token_id>(i), pieces_);
    if (existing >= 0) {
      throw f.error(meta(key_tokens) + ": entry " + std::to_string(i) + " duplicates entry " +
                    std::to_string(existing) + " (\"" + printable(p) + "\")");
    }
  }
}

void vocab::read_specials(const gguf_file& f, const tokenizer_defaults& d, const tokenizer_kind& kind) {
  const size_t n = pieces_.size();
  bos_ = read_token_id(f, key_bos, d.bos, n);
  eos_ = read_token_id(f, key_eos, d.eos, n);
  unk_ = read_token_id(f, "tokenizer.ggml.unknown_token_id", d.unk, n);
  auto add_bos = f.get_bool(key_add_bos), add_eos = f.get_bool(key_add_eos);
  add_bos_ = add_bos.value_or(d.add_bos);
  add_eos_ = add_eos.value_or(d.add_eos);
  add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(d.add_space_prefix);
  clean_spaces_ = d.clean_spaces;
  auto missing = [&](const std::string& flag, bool from_key, const std::string& id_key, token_id fallback) {
    std::string why = from_key ? " is true" : " is absent (true by default for the " + std::string(kind.name) + " tokenizer)";
    std::string dflt = fallback >= 0 ? " and the default " + std::to_string(fallback) + " is out of range" : "";
    return f.error(meta(flag) + why + " but there is no such token (" + id_key + " absent" + dflt + ")");
  };
  if (add_bos_ && bos_ < 0) throw missing(key_add_bos, add_bos.has_value(), key_bos, d.bos);
  if (add_eos_ && eos_ < 0) throw missing(key_add_eos, add_eos.has_value(), key_eos, d.eos);
}

namespace {

// Tokens llama.cpp recognizes by their text when loading a vocabulary (llama-vocab.cpp), because
// converters often leave them out of the tokenizer.ggml.*_token_id keys. Each ends generation
// and is made a control token if the file typed it otherwise (except, unlike llama.cpp, a
// byte-level BPE piece typed normal, which is text: see tokenizer_defaults).
constexpr std::string_view eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>",  // DeepSeek
    "[e~[",
};

// Fill-in-the-middle markers, recognized by text when their key is absent: made control tokens;
// those that pad or separate files also end generation.
struct fim_marker {
  const char* key;
  bool ends_generation;
  std::initializer_list<std::string_view> texts;
};
const fim_marker fim_markers[] = {
    {"tokenizer.ggml.fim_pre_token_id", false,
     {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
      "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}},
    {"tokenizer.ggml.fim_suf_token_id", false,
     {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
      "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}},
    {"tokenizer.ggml.fim_mid_token_id", false,
     {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
      "▁<MID>", "<|code_middle|>", "<|middle|>"}},
    {"tokenizer.ggml.fim_pad_token_id", true, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
    {"tokenizer.ggml.fim_rep_token_id", true, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
    {"tokenizer.ggml.fim_sep_token_id", true, {"<|file_sep|>"}},
};

}  // namespace

void vocab::find_eog_tokens(const gguf_file& f, bool normal_pieces_are_text) {
  const size_t n = pieces_.size();
  auto find = [&](std::string_view text) {
    token_id id = this->find(text);
    return id >= 0 && normal_pieces_are_text && types_[id] == token_type::normal ? -1 : id;
  };
  auto make_control = [&](token_id id) { types_[id] = token_type::control; };
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    if (token_id id = read_token_id(f, key, -1, n); id >= 0) eog_.push_back(id);
  }
  if (eos_ >= 0) eog_.push_back(eos_);
  for (const fim_marker& m : fim_markers) {
    if (token_id id = read_token_id(f, m.key, -1, n); id >= 0) {
      if (m.ends_generation) eog_.push_back(id);
      continue;
    }
    for (std::string_view text : m.texts) {
      if (token_id id = find(text); id >= 0) {
        make_control(id);
        if (m.ends_generation) eog_.push_back(id);
      }
    }
  }
  for (std::string_view text : eog_texts) {
    if (token_id id = find(text); id >= 0) {
      make_control(id);
      eog_.push_back(id);
    }
  }
  // llama.cpp's exceptions: in gpt-oss's (and Solar Open's) vocabulary "<|end|>" ends a message,
  // not the generation; with Gemma 4's "<|tool_response>", "</s>" is text.
  auto in_eog = [&](std::string_view text) {
    token_id id = find(text);
    return id >= 0 && std::find(eog_.begin(), eog_.end(), id) != eog_.end() ? id : -1;
  };
  auto drop = [&](token_id id, token_type as) {
    eog_.erase(std::remove(eog_.begin(), eog_.end(), id), eog_.end());
    types_[id] = as;
  };
  if (token_id end = in_eog("<|end|>");
      end >= 0 && ((in_eog("<|return|>") >= 0 && in_eog("<|call|>") >= 0) ||
                   (in_eog("<|calls|>") >= 0 && in_eog("<|flush|>") >= 0))) {
    drop(end, token_type::user_defined);
  }
  if (token_id s = in_eog("</s>"); s >= 0 && in_eog("<|tool_response>") >= 0) drop(s, token_type::normal);
  // gpt-oss's channel markers are always rendered (llama.cpp types them user-defined).
  for (std::string_view text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    if (token_id id = find(text); id >= 0) types_[id] = token_type::user_defined;
  }
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());
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

}  // namespace hearth
