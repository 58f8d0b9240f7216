// `hearth quantize` against llama-quantize: ../shared's quantized files were written by
// llama.cpp's llama-quantize from the F32 / F16 files beside them, so quantizing the same inputs
// must give the same tensors, byte for byte (same type per tensor, same reference rounding), and
// the same perplexity. Plus what the tool promises around that: fallbacks reported, requantizing
// flagged, the output a standard GGUF, a bad input refused without leaving a file behind.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <string>

#include "gguf/gguf_file.h"
#include "load_error.h"
#include "model/model.h"
#include "model/quantize.h"
#include "perplexity.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;

namespace {

quantize_report quantize_to(const std::string& in, const std::filesystem::path& out, std::string_view type) {
  quantize_options o;
  o.mix = find_quant_mix(type).value();
  o.threads = 2;
  return quantize_model(shared_path("models/" + in), out, o);
}

// Every tensor of `reference` is in `ours` with the same type, shape and bytes; both have the same
// tensors and file type.
void check_same_tensors(const std::filesystem::path& ours_path, const std::string& reference) {
  const gguf_file ours = gguf_file::open(ours_path);
  const gguf_file ref = gguf_file::open(shared_path("models/" + reference));
  CHECK(ours.tensors().size() == ref.tensors().size());
  CHECK(ours.get_int("general.file_type") == ref.get_int("general.file_type"));
  CHECK(ours.get_int("general.quantization_version") == 2);
  size_t identical = 0;
  for (const gguf_tensor& r : ref.tensors()) {
    INFO(reference << ": " << r.name);
    const gguf_tensor* t = ours.find_tensor(r.name);
    REQUIRE(t != nullptr);
    CHECK(ggml_type_name(t->type) == ggml_type_name(r.type));
    CHECK(t->shape_string() == r.shape_string());
    REQUIRE(t->nbytes == r.nbytes);
    const bool same = std::memcmp(t->data, r.data, r.nbytes) == 0;
    CHECK(same);
    identical += same;
  }
  CHECK(identical == ref.tensors().size());
}

double perplexity_of_file(const std::filesystem::path& path) {
  auto m = model::load(path);
  perplexity_options o;
  o.threads = 2;
  return measure_perplexity(*m, m->vocab().tokenize(read_text(shared_path("text/little-stories.txt")), true), o).ppl();
}

}  // namespace

TEST_CASE("quantize writes llama-quantize's tensors for every type the shared files cover", "[quantize]") {
  temp_dir dir;
  for (const char* type : {"q8_0", "q4_0", "q4_1", "q5_0", "q2_k", "q4_k_m", "q5_k_m", "q6_k", "iq4_nl", "iq4_xs"}) {
    INFO("type " << type);
    const auto out = dir.file(std::string("tiny-llama-") + type + ".gguf");
    const quantize_report r = quantize_to("arch/tiny-llama-f16.gguf", out, type);
    CHECK(r.fallbacks.empty());
    CHECK(r.requantized.empty());
    check_same_tensors(out, std::string("arch/tiny-llama-") + type + ".gguf");
  }
}

TEST_CASE("quantize: stories260K as llama-quantize wrote it, perplexity within 1%", "[quantize]") {
  temp_dir dir;
  // ../shared/README.md: llama-perplexity of llama-quantize's files, -c 128.
  for (const auto& [type, ppl] : {std::pair{"q8_0", 4.3443}, std::pair{"q4_0", 4.6576}}) {
    INFO("type " << type);
    const auto out = dir.file(std::string("stories-") + type + ".gguf");
    const quantize_report r = quantize_to("stories260K-f32.gguf", out, type);
    check_same_tensors(out, std::string("stories260K-") + type + ".gguf");
    // ffn_down's rows of 172 fit no 32-element block: they stay F32, and the tool says so.
    CHECK(r.fallbacks.size() == (std::string(type) == "q4_0" ? 6u : 5u));
    CHECK_THAT(r.fallbacks.back(), Catch::Contains("blk.4.ffn_down.weight: rows of 172") && Catch::Contains("F32"));
    const double measured = perplexity_of_file(out);
    INFO("perplexity " << measured << ", llama.cpp's file " << ppl);
    CHECK(std::abs(measured - ppl) <= 0.01 * ppl);
  }
}

TEST_CASE("quantize: sizes, bits per weight and the tied output's type", "[quantize]") {
  temp_dir dir;
  const auto out = dir.file("q4_0.gguf");
  const quantize_report r = quantize_to("stories260K-f32.gguf", out, "q4_0");
  CHECK(r.tensors == 47);
  CHECK(r.quantized == 31);  // token_embd and 30 attention/FFN matrices; norms and ffn_down unchanged
  uint64_t in_bytes = 0;
  const gguf_file in = gguf_file::open(shared_path("models/stories260K-f32.gguf"));
  for (const gguf_tensor& t : in.tensors()) in_bytes += t.nbytes;
  CHECK(r.bytes_in == in_bytes);
  // tied embeddings get the output's rule: Q6_K, which 64-element rows do not fit: Q8_0.
  CHECK_THAT(r.fallbacks.front(), Catch::Contains("token_embd.weight") && Catch::Contains("Q8_0 instead"));
  uint64_t sum = 0;
  const gguf_file written = gguf_file::open(out);
  for (const gguf_tensor& t : written.tensors()) sum += t.nbytes;
  CHECK(r.bytes_out == sum);
  CHECK(r.bits_per_weight() == Approx(8.0 * static_cast<double>(sum) / static_cast<double>(r.weights)));
  auto m = model::load(out);  // a standard file the engine loads
  CHECK(m->hp().n_layer == 5);
}

TEST_CASE("quantize: requantizing is flagged, a bad input leaves nothing behind", "[quantize]") {
  temp_dir dir;
  const quantize_report r = quantize_to("stories260K-q8_0.gguf", dir.file("re.gguf"), "q4_0");
  CHECK(r.requantized.size() == 30);  // every Q8_0 matrix but token_embd, which stays Q8_0
  CHECK_THAT(r.requantized.front(), Catch::Contains("(Q8_0)"));

  const auto bad_in = dir.file("not-a-model.gguf"), out = dir.file("out.gguf");
  std::ofstream(bad_in) << "GGUF but not really";
  quantize_options o;
  o.mix = find_quant_mix("q4_0").value();
  CHECK_THROWS_WITH(quantize_model(bad_in, out, o), Catch::Contains("not-a-model.gguf"));
  CHECK(!std::filesystem::exists(out));
  CHECK(!std::filesystem::exists(out.string() + ".tmp"));
}
