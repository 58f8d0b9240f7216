// The BERT encoder (engine/encoder.h) against llama.cpp's pooled embeddings of the tiny BERT
// fixture: same tokens from the WordPiece tokenizer, cosine similarity >= 0.999 (the reference's
// stated bound), unit length.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "encoder.h"
#include "gguf/gguf_file.h"
#include "load_error.h"
#include "reference.h"
#include "tokenizer/vocab.h"

using namespace hearth;

TEST_CASE("encoder: tiny BERT embeddings match llama.cpp's", "[encoder]") {
  const gguf_file f = gguf_file::open(test::shared_path("models/arch/tiny-bert-f16.gguf"));
  const vocab v = vocab::from_gguf(f);
  const bert_encoder e = bert_encoder::load(f);
  CHECK(e.dim() == 256);
  CHECK(pooling_name(e.pooling()) == "mean");
  std::ifstream in(test::shared_path("reference/embeddings/tiny-bert-f16.jsonl"));
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json ref = nlohmann::json::parse(line);
    const std::string text = ref["input"];
    INFO(text);
    const std::vector<token_id> tokens = v.tokenize(text, true, false);
    CHECK(tokens == ref["tokens"].get<std::vector<token_id>>());
    const std::vector<float> got = e.embed(tokens);
    const std::vector<float> want = ref["embedding"].get<std::vector<float>>();
    REQUIRE(got.size() == want.size());
    const double cosine = test::cosine_similarity(got, want);
    double ng = 0;
    for (float g : got) ng += static_cast<double>(g) * g;
    INFO("cosine " << cosine);
    CHECK(cosine >= 0.999);
    CHECK(std::abs(ng - 1.0) < 1e-4);
    ++checked;
  }
  CHECK(checked == 4);
}

TEST_CASE("encoder: bad inputs and files are refused with what is wrong", "[encoder]") {
  const gguf_file f = gguf_file::open(test::shared_path("models/arch/tiny-bert-f16.gguf"));
  const bert_encoder e = bert_encoder::load(f);
  CHECK_THROWS_AS(e.embed({}), std::invalid_argument);
  const std::vector<token_id> out_of_range{101, 30522, 102};
  CHECK_THROWS_AS(e.embed(out_of_range), std::invalid_argument);
  const std::vector<token_id> too_long(513, 1037);
  CHECK_THROWS_AS(e.embed(too_long), std::invalid_argument);
  const gguf_file llama = gguf_file::open(test::shared_path("models/stories260K-f32.gguf"));
  try {
    bert_encoder::load(llama);
    FAIL("a llama file loaded as BERT");
  } catch (const load_error& err) {
    CHECK(std::string(err.what()).find("general.architecture") != std::string::npos);
  }
}
