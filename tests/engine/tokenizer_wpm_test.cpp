// WordPiece (BERT) against llama.cpp's test vectors for the bge vocabulary.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tokenizer/vocab.h"
#include "vocab_cases.h"

using namespace hearth;
using namespace hearth::test;

TEST_CASE("tokenizer: WordPiece (bge) passes llama.cpp's tokenizer vectors", "[tokenizer][wpm]") {
  const std::string path = vocab_path("bert-bge");
  const vocab v = load_vocab(path);
  CHECK(v.size() == 30522);
  CHECK(v.tokenizer_name() == "WordPiece");
  CHECK(v.bos() == 101);  // [CLS]
  CHECK(v.eos() == 102);  // [SEP]
  CHECK(v.unk() == 100);
  CHECK(v.add_bos());
  CHECK(v.add_eos());
  const std::vector<vocab_case> cases = read_vocab_cases(path);
  REQUIRE(cases.size() == 46);
  for (size_t i = 0; i < cases.size(); ++i) {
    const vocab_case& c = cases[i];
    INFO("case " << i << ": \"" << c.input << "\"");
    CHECK(v.tokenize(c.input, false, false) == c.expected);
    // With the special tokens: [CLS] ... [SEP].
    std::vector<token_id> with_special = c.expected;
    with_special.insert(with_special.begin(), 101);
    with_special.push_back(102);
    CHECK(v.tokenize(c.input, true, false) == with_special);
  }
}

TEST_CASE("tokenizer: WordPiece lowercases, strips accents, splits punctuation and decodes words", "[tokenizer][wpm]") {
  const vocab v = load_vocab(vocab_path("bert-bge"));
  // Worked by hand from the vocabulary: "▁hello" 7592, "▁world" 2088, "▁," 1010, "▁!" 999.
  CHECK(v.tokenize("Hello, WORLD!", false, false) == std::vector<token_id>{7592, 1010, 2088, 999});
  CHECK(v.tokenize("Héllo", false, false) == v.tokenize("hello", false, false));
  // Each word's first piece starts with "▁": decoded, a space before every word, the first too
  // (llama.cpp's detokenize keeps it: BERT has no space prefix to remove).
  CHECK(v.detokenize(v.tokenize("hello world", false, false)) == " hello world");
  // A word with a character no piece starts with: one [UNK] for the whole word.
  CHECK(v.tokenize("\xF0\x9F\x98\x80", false, false) == std::vector<token_id>{100});
}
