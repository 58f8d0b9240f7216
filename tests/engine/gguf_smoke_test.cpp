#include <catch2/catch.hpp>

#include "gguf/gguf_file.h"

using namespace hearth;

TEST_CASE("stories260K parses", "[gguf]") {
  gguf_file f = gguf_file::open(HEARTH_SHARED_DIR "/models/stories260K-f32.gguf");
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_int("llama.embedding_length") == 64);
  const gguf_tensor* t = f.find_tensor("token_embd.weight");
  REQUIRE(t);
  CHECK(t->ne[0] == 64);
  CHECK(t->ne[1] == 512);
}
