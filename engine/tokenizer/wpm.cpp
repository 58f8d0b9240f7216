// WordPiece (tokenizer.ggml.model "bert"; the algorithm of llama.cpp's llm_tokenizer_wpm, as
// BERT-style embedding models such as bge, all-MiniLM and nomic-embed use it):
//
// 1. Normalize and split into words: whitespace ends a word; NUL, U+FFFD (invalid UTF-8 included)
//    and control/format characters (category C) are dropped; with accents stripped, each
//    character is decomposed (canonical NFD; Hangul syllables are kept whole, as the reference
//    does) and combining marks (category M) are dropped; with lowercase, the simple lowercase
//    mapping applies. Punctuation (P), ASCII symbols and CJK ideographs are words of their own.
// 2. Each word, with "▁" in front (how the GGUF conversion marks a word's first piece; "##"
//    continuation pieces lose their prefix), is cut greedily into the longest pieces of the
//    vocabulary from the left. A word that cannot be cut completely is one [UNK].
// Decoding turns "▁" back into a space.
//
// Normalizer options: tokenizer.ggml.normalizer.lowercase (default true: the BERT vocabularies
// hearth has seen are uncased, and llama.cpp's reference vectors for bge were made lowercasing)
// and tokenizer.ggml.normalizer.strip_accents (default: as lowercase).
#include <algorithm>
#include <memory>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace hearth {

namespace {

constexpr std::string_view word_marker = "\xE2\x96\x81";  // U+2581 "▁"

// BERT's "Chinese character" ranges (CJK ideographs; the reference keeps Hugging Face's 0x2B920
// start of Extension E).
bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

class wpm_tokenizer final : public tokenizer {
 public:
  wpm_tokenizer(const vocab& v, bool lowercase, bool strip_accents) : lowercase_(lowercase), strip_accents_(strip_accents) {
    for (token_id id = 0; id < v.size(); ++id) max_piece_ = std::max(max_piece_, v.piece(id).size());
  }

  void encode(const vocab& v, std::string_view text, bool, std::vector<token_id>& out) const override {
    for (const std::string& word : words(text)) {
      const std::string w = std::string(word_marker) + word;
      const size_t first = out.size();
      for (size_t i = 0; i < w.size();) {
        size_t matched = 0;
        for (size_t len = std::min(w.size() - i, max_piece_); len > 0; --len) {
          const token_id id = v.find(std::string_view(w).substr(i, len));
          if (id >= 0) {
            out.push_back(id);
            matched = len;
            break;
          }
        }
        if (matched == 0) {  // the word cannot be cut into pieces: all of it is unknown
          out.resize(first);
          break;
        }
        i += matched;
      }
      if (out.size() == first && v.unk() >= 0) out.push_back(v.unk());
    }
  }

  void decode(const vocab& v, token_id id, std::string& out) const override {
    const std::string_view p = v.piece(id);
    size_t pos = 0;
    for (size_t m; (m = p.find(word_marker, pos)) != std::string_view::npos; pos = m + word_marker.size()) {
      out.append(p, pos, m - pos);
      out += ' ';
    }
    out.append(p, pos);
  }

 private:
  // Step 1 of the header comment.
  std::vector<std::string> words(std::string_view text) const {
    std::vector<std::string> out(1);
    const auto end_word = [&out] {
      if (!out.back().empty()) out.emplace_back();
    };
    const auto take = [&](uint32_t cp) {
      if (cp == 0 || cp == 0xFFFD) return;
      const uint32_t classes = unicode_classes(cp);
      if (classes & unicode_class::space) return end_word();
      if (classes & unicode_class::other & ~unicode_class::bit(unicode_category::Cn)) return;  // control, format, private, surrogate
      if (strip_accents_ && (classes & unicode_class::mark)) return;
      const uint32_t c = lowercase_ ? unicode_to_lower(cp) : cp;
      if ((classes & unicode_class::punctuation) || (cp < 0x7F && (classes & unicode_class::symbol)) || is_cjk(cp)) {
        end_word();
        append_utf8(out.back(), c);
        out.emplace_back();
      } else {
        append_utf8(out.back(), c);
      }
    };
    for (size_t i = 0; i < text.size();) {
      const utf8_scan s = utf8_scan_one(text.substr(i));
      uint32_t cp = 0xFFFD;
      if (s.kind == utf8_scan::complete) cp = utf8_decode_one(text.substr(i, s.length));
      i += s.length;
      const bool hangul = cp >= 0xAC00 && cp <= 0xD7A3;
      if (!strip_accents_ || hangul) {
        take(cp);
        continue;
      }
      uint32_t buffer[4];
      for (uint32_t d : unicode_decompose(cp, buffer)) take(d);
    }
    if (out.back().empty()) out.pop_back();
    return out;
  }

  bool lowercase_, strip_accents_;
  size_t max_piece_ = 0;
};

}  // namespace

std::unique_ptr<tokenizer> load_wpm_tokenizer(const gguf_file& f, const vocab& v, tokenizer_defaults& d) {
  // llama.cpp's BERT defaults: [CLS] (101) first, [UNK] 100, [SEP] (102) last, taken as the end
  // token; the conversion's cls/seperator keys name them.
  const auto id_or = [&f](std::string_view key, int64_t fallback) {
    return static_cast<token_id>(f.get_int(key).value_or(fallback));
  };
  d.bos = id_or("tokenizer.ggml.cls_token_id", 101);
  d.eos = id_or("tokenizer.ggml.seperator_token_id", 102);
  d.unk = 100;
  d.add_bos = true;
  d.add_eos = true;
  d.clean_spaces = true;
  const bool lowercase = f.get_bool("tokenizer.ggml.normalizer.lowercase").value_or(true);
  const bool strip = f.get_bool("tokenizer.ggml.normalizer.strip_accents").value_or(lowercase);
  return std::make_unique<wpm_tokenizer>(v, lowercase, strip);
}

}  // namespace hearth
