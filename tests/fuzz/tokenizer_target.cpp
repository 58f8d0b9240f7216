// The tokenizers, on real vocabularies from ../shared/vocab. Input: one byte of flags, then the
// text. Beyond "never crashes", each vocabulary states the round trip it promises.
#include "fuzz_fixtures.h"
#include "fuzz_target.h"
#include "tokenizer/utf8.h"

namespace hearth::fuzz {

namespace {

// What detokenize(tokenize(text)) == text promises (without special-token parsing).
enum class round_trip {
  // SentencePiece writes spaces as U+2581, so text holding that character reads back changed.
  except_u2581,
  // Byte-level BPE: exact for any valid UTF-8 text, U+2581 included.
  valid_utf8,
  // WordPiece normalizes (case, accents, whitespace, unknown words): no round trip.
  none,
};

struct vocab_case {
  const char* file;  // under ../shared/vocab
  round_trip promise;
};

// Indexed by bits 2.. of the flags byte; fuzz_seeds.cpp seeds each with its .inp file.
const vocab_case vocab_cases[] = {
    {"ggml-vocab-llama-spm.gguf", round_trip::except_u2581},
    {"ggml-vocab-phi-3.gguf", round_trip::except_u2581},
    {"ggml-vocab-gpt-2.gguf", round_trip::valid_utf8},
    {"ggml-vocab-deepseek-coder.gguf", round_trip::valid_utf8},
    {"ggml-vocab-qwen2.gguf", round_trip::valid_utf8},
    {"ggml-vocab-llama-bpe.gguf", round_trip::valid_utf8},
    {"ggml-vocab-bert-bge.gguf", round_trip::none},
};
constexpr size_t n_vocabs = sizeof(vocab_cases) / sizeof(vocab_cases[0]);

void check_ids(const vocab& v, const std::vector<token_id>& ids) {
  for (token_id id : ids) expect(id >= 0 && id < v.size(), "token id " + std::to_string(id) + " out of range");
}

bool valid_utf8(std::string_view s) {
  while (!s.empty()) {
    const utf8_scan c = utf8_scan_one(s);
    if (c.kind != utf8_scan::complete) return false;
    s.remove_prefix(c.length);
  }
  return true;
}

bool promises_round_trip(round_trip promise, std::string_view text) {
  if (promise == round_trip::none) return false;
  if (promise == round_trip::valid_utf8) return valid_utf8(text);
  return text.find("\xE2\x96\x81") == std::string_view::npos;
}

}  // namespace

void tokenizer_init() {
  for (const vocab_case& c : vocab_cases) shared_vocab(c.file);
}

// Flags byte: bit 0 add_special, bit 1 parse_special, bits 2.. the vocabulary.
void tokenizer_input(fuzz_input input) {
  if (input.empty()) return;
  const uint8_t flags = input[0];
  const size_t which = (flags >> 2) % n_vocabs;
  const vocab& v = shared_vocab(vocab_cases[which].file);
  const bool add_special = flags & 1, parse_special = flags & 2;
  const std::string_view text(reinterpret_cast<const char*>(input.data() + 1), input.size() - 1);

  const std::vector<token_id> ids = v.tokenize(text, add_special, parse_special);
  check_ids(v, ids);
  (void)v.detokenize(ids, parse_special);
  if (add_special) {
    // The same tokens as without specials, with BOS (EOS) around them as the vocabulary asks.
    std::vector<token_id> expected;
    if (v.add_bos() && v.bos() >= 0) expected.push_back(v.bos());
    const std::vector<token_id> plain = v.tokenize(text, false, parse_special);
    expected.insert(expected.end(), plain.begin(), plain.end());
    if (v.add_eos() && v.eos() >= 0) expected.push_back(v.eos());
    expect(ids == expected, "add_special changed more than BOS/EOS");
  } else if (!parse_special && promises_round_trip(vocab_cases[which].promise, text)) {
    expect(v.detokenize(ids) == text, std::string("round trip through ") + vocab_cases[which].file +
                                          " changed the text");
  }
}

}  // namespace hearth::fuzz
