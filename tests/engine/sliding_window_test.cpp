// Sliding-window attention from first principles. In a one-layer model whose layer slides with
// window w, the logits at position p depend on tokens p-w+1..p only, and (RoPE being relative)
// not on where those tokens sit: the last w tokens of a sequence run alone give the same logits
// as the whole sequence, up to the F16 rounding of keys and queries. The last w-1 tokens alone
// do not: the mask is exact to the position. The model is ../shared's tiny-gemma3 (window 16)
// cut to its first layer, rewritten with the project's GGUF writer.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "golden_check.h"
#include "greedy.h"
#include "model/model.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;

namespace {

// tiny-gemma3 with one layer; every layer slides (pattern 0) when `sliding`, else none does
// (no sliding_window key: global attention).
std::filesystem::path one_layer_gemma3(const temp_dir& dir, bool sliding) {
  gguf_file f = gguf_file::open(shared_path("models/arch/tiny-gemma3-f16.gguf"));
  gguf_writer w;
  for (const auto& [key, value] : f.metadata()) {
    if (key == "gemma3.block_count") {
      w.add_kv(std::string(key), gguf_meta_value::u32(1));
    } else if (key == "gemma3.attention.sliding_window_pattern") {
      w.add_kv(std::string(key), gguf_meta_value::u32(0));
    } else if (sliding || key != "gemma3.attention.sliding_window") {
      w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
    }
  }
  for (const gguf_tensor& t : f.tensors()) {
    if (t.name.starts_with("blk.") && !t.name.starts_with("blk.0.")) continue;
    w.add_tensor(std::string(t.name), t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims),
                 std::vector<uint8_t>(t.data, t.data + t.nbytes));
  }
  const auto path = dir.file(sliding ? "sliding.gguf" : "global.gguf");
  w.write(path);
  return path;
}

std::vector<token_id> last(const std::vector<token_id>& v, size_t n) {
  return std::vector<token_id>(v.end() - static_cast<std::ptrdiff_t>(n), v.end());
}

}  // namespace

TEST_CASE("sliding-window attention sees exactly the last n_swa positions", "[arch][swa]") {
  temp_dir dir;
  auto sliding = model::load(one_layer_gemma3(dir, true));
  auto global = model::load(one_layer_gemma3(dir, false));
  REQUIRE(sliding->hp().n_swa == 16);
  REQUIRE(sliding->hp().swa_layer(0));
  REQUIRE(!global->hp().swa_layer(0));
  std::mt19937 rng(16);
  std::uniform_int_distribution<token_id> tok(3, static_cast<token_id>(sliding->hp().n_vocab - 1));
  std::vector<token_id> seq;
  for (int i = 0; i < 40; ++i) seq.push_back(tok(rng));
  const std::vector<float> whole = run_greedy(*sliding, seq, 0).first_logits;
  const float tol = 3e-3f * largest_magnitude(whole);
  const float window = max_abs_diff(run_greedy(*sliding, last(seq, 16), 0).first_logits, whole);
  const float short_by_one = max_abs_diff(run_greedy(*sliding, last(seq, 15), 0).first_logits, whole);
  const float global_diff = max_abs_diff(run_greedy(*global, seq, 0).first_logits, whole);
  INFO("last 16 alone: " << window << ", last 15 alone: " << short_by_one << ", global attention: " << global_diff
                         << "; tolerance " << tol);
  CHECK(window <= tol);
  CHECK(short_by_one > 10 * tol);
  CHECK(global_diff > 10 * tol);
}
