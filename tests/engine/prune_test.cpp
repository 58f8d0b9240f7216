// `hearth prune` from first principles. A block whose two output projections (attn_output and
// ffn_down) are zero adds nothing to the residual stream: it is the identity, exactly (x + 0 is x,
// and a post-norm of zero is zero). So
//   - its block influence is 0, the least of all, and the blocks before it score as before;
//   - the original model with blocks D zeroed computes what a model without D computes: a file
//     pruned of D must give the same logits (and hold the kept blocks' tensors byte for byte,
//     renumbered densely). Dropping D is chosen explicitly here, not by score.
// Sliding-window files refuse drops that would change a kept block's kind of attention.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "forward.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "golden_check.h"
#include "greedy.h"
#include "kv_cache.h"
#include "model/model.h"
#include "prune.h"
#include "reference.h"
#include "temp_dir.h"
#include "thread_pool.h"

using namespace hearth;
using namespace hearth::test;

namespace {

bool output_projection_of(std::string_view name, const std::set<int64_t>& blocks) {
  for (int64_t b : blocks) {
    const std::string p = "blk." + std::to_string(b) + ".";
    if (name == p + "attn_output.weight" || name == p + "ffn_down.weight") return true;
  }
  return false;
}

// `in` rewritten with the output projections of `zeroed` blocks all zeros, plus `extra` metadata.
std::filesystem::path rewrite_model(const std::string& in, const std::filesystem::path& out,
                                    const std::set<int64_t>& zeroed,
                                    std::vector<std::pair<std::string, gguf_meta_value>> extra = {}) {
  const gguf_file f = gguf_file::open(in);
  gguf_writer w;
  for (const auto& [key, value] : f.metadata()) w.add_kv(std::string(key), gguf_meta_value::copy_of(value));
  for (auto& [key, value] : extra) w.add_kv(key, std::move(value));
  for (const gguf_tensor& t : f.tensors()) {
    std::vector<uint8_t> bytes(t.data, t.data + t.nbytes);
    if (output_projection_of(t.name, zeroed)) std::fill(bytes.begin(), bytes.end(), 0);
    w.add_tensor(std::string(t.name), t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), std::move(bytes));
  }
  w.write(out);
  return out;
}

std::vector<double> influence_of(const model& m) {
  block_influence_options o;
  o.threads = 2;
  return block_influence(m, m.vocab().tokenize(read_text(shared_path("text/little-stories.txt")), true), o);
}

// Every tensor of `orig` is in `pruned` under its new name (blk.K renumbered, dropped blocks
// absent) with the same type, shape and bytes, and `pruned` holds nothing else.
void check_renumbered(const gguf_file& orig, const gguf_file& pruned, const std::vector<int64_t>& kept) {
  size_t expected = 0;
  for (const gguf_tensor& t : orig.tensors()) {
    std::string name(t.name);
    if (name.starts_with("blk.")) {
      const size_t dot = name.find('.', 4);
      const int64_t k = std::stoll(name.substr(4, dot - 4));
      const auto it = std::find(kept.begin(), kept.end(), k);
      if (it == kept.end()) continue;
      name = "blk." + std::to_string(it - kept.begin()) + name.substr(dot);
    }
    ++expected;
    INFO(t.name << " -> " << name);
    const gguf_tensor* p = pruned.find_tensor(name);
    REQUIRE(p != nullptr);
    CHECK(p->type == t.type);
    CHECK(p->shape_string() == t.shape_string());
    REQUIRE(p->nbytes == t.nbytes);
    CHECK(std::memcmp(p->data, t.data, t.nbytes) == 0);
  }
  CHECK(pruned.tensors().size() == expected);
}

std::vector<token_id> prompt_of(const model& m) {
  return m.vocab().tokenize("Once upon a time, there was a little girl named Lily. She loved to play outside", true);
}

}  // namespace

TEST_CASE("prune: stories260K without blocks D gives the logits of the model whose blocks D are the identity",
          "[prune]") {
  const std::string in = shared_path("models/stories260K-f32.gguf");
  const auto original = model::load(in);
  const gguf_file orig = gguf_file::open(in);
  const std::vector<float> original_logits = run_greedy(*original, prompt_of(*original), 0).first_logits;
  for (const std::set<int64_t>& drop : {std::set<int64_t>{1}, std::set<int64_t>{1, 3}, std::set<int64_t>{0, 4}}) {
    const std::vector<int64_t> drop_list(drop.begin(), drop.end());
    INFO("drop " << Catch::Detail::stringify(drop_list));
    temp_dir dir;
    const prune_report r = prune_model(in, dir.file("pruned.gguf"), drop_list);
    CHECK(r.blocks_in == 5);
    CHECK(r.blocks_out == 5 - static_cast<int64_t>(drop.size()));
    CHECK(r.per_block_arrays.empty());
    CHECK(!std::filesystem::exists(dir.file("pruned.gguf.tmp")));

    const gguf_file pruned_file = gguf_file::open(dir.file("pruned.gguf"));
    CHECK(pruned_file.get_int("llama.block_count") == 5 - static_cast<int64_t>(drop.size()));
    CHECK(pruned_file.metadata().size() == orig.metadata().size());
    std::vector<int64_t> kept;
    for (int64_t k = 0; k < 5; ++k) {
      if (!drop.count(k)) kept.push_back(k);
    }
    check_renumbered(orig, pruned_file, kept);

    const auto pruned = model::load(dir.file("pruned.gguf"));
    CHECK(pruned->hp().n_layer == 5 - static_cast<int64_t>(drop.size()));
    const auto identity = model::load(rewrite_model(in, dir.file("identity.gguf"), drop));
    const greedy_run want = run_greedy(*identity, prompt_of(*identity), 16);
    const greedy_run got = run_greedy(*pruned, prompt_of(*pruned), 16);
    const float diff = max_abs_diff(got.first_logits, want.first_logits);
    const float changed = max_abs_diff(original_logits, want.first_logits);
    INFO("pruned vs identity blocks: " << diff << "; identity blocks vs original: " << changed);
    CHECK(diff <= 1e-5f * largest_magnitude(want.first_logits));
    CHECK(changed > 0.1f);  // the blocks mattered: the comparison above can tell
    CHECK(got.tokens == want.tokens);
  }
}

TEST_CASE("prune: a block that adds nothing has influence 0 and is the one dropped", "[prune]") {
  const std::string in = shared_path("models/stories260K-f32.gguf");
  const auto original = model::load(in);
  const std::vector<double> base = influence_of(*original);
  REQUIRE(base.size() == 5);
  temp_dir dir;
  for (int64_t z : {0, 2, 4}) {
    INFO("block " << z << " zeroed; scores before: " << Catch::Detail::stringify(base));
    const auto zeroed = model::load(rewrite_model(in, dir.file("zeroed.gguf"), {z}));
    const std::vector<double> s = influence_of(*zeroed);
    INFO("scores after: " << Catch::Detail::stringify(s));
    REQUIRE(s.size() == 5);
    for (double v : s) {
      CHECK(v >= 0);
      CHECK(v <= 2);
    }
    CHECK(s[static_cast<size_t>(z)] <= 1e-12);
    for (int64_t l = 0; l < 5; ++l) {
      if (l != z) CHECK(s[static_cast<size_t>(l)] > 1e-3);
      // Blocks before the zeroed one see the same inputs: the same scores, exactly.
      if (l < z) CHECK(s[static_cast<size_t>(l)] == base[static_cast<size_t>(l)]);
    }
    CHECK(least_influential(s, 1) == std::vector<int64_t>{z});
  }
}

TEST_CASE("prune: the zeroed block's residual stream leaves it unchanged (the observer's view)", "[prune]") {
  temp_dir dir;
  const auto m = model::load(rewrite_model(shared_path("models/stories260K-f32.gguf"), dir.file("z.gguf"), {3}));
  const std::vector<token_id> prompt = prompt_of(*m);
  thread_pool pool(2);
  kv_cache kv(m->hp(), 8, 16);
  forward_pass fwd(*m, pool, static_cast<int64_t>(prompt.size()), 1, 128);
  std::vector<int64_t> seen;
  fwd.set_block_observer([&](int64_t layer, std::span<const float> x_in, std::span<const float> x_out) {
    seen.push_back(layer);
    REQUIRE(x_in.size() == prompt.size() * static_cast<size_t>(m->hp().n_embd));
    REQUIRE(x_out.size() == x_in.size());
    const bool same = std::equal(x_in.begin(), x_in.end(), x_out.begin());
    CHECK(same == (layer == 3));
  });
  const int32_t seq = kv.seq_create();
  REQUIRE(kv.seq_reserve(seq, static_cast<int64_t>(prompt.size())));
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < prompt.size(); ++i) batch.push_back({prompt[i], static_cast<int32_t>(i), seq, i + 1 == prompt.size()});
  fwd.run(kv, batch);
  CHECK(seen == std::vector<int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("prune: per-block metadata arrays keep the kept blocks' entries", "[prune]") {
  temp_dir dir;
  std::vector<std::pair<std::string, gguf_meta_value>> extra;
  extra.emplace_back("llama.test.per_block", gguf_meta_value::array(std::vector<uint32_t>{10, 11, 12, 13, 14}));
  extra.emplace_back("llama.test.names", gguf_meta_value::string_array(std::vector<std::string>{"a", "b", "c", "d", "e"}));
  extra.emplace_back("llama.test.other", gguf_meta_value::array(std::vector<float>{1, 2, 3}));
  extra.emplace_back("tokenizer.test.five", gguf_meta_value::array(std::vector<int32_t>{0, 1, 2, 3, 4}));
  const auto in = rewrite_model(shared_path("models/stories260K-f32.gguf"), dir.file("in.gguf"), {}, std::move(extra));
  const std::vector<int64_t> drop = {1, 3};
  const prune_report r = prune_model(in, dir.file("out.gguf"), drop);
  CHECK(r.per_block_arrays == std::vector<std::string>{"llama.test.per_block", "llama.test.names"});
  const gguf_file f = gguf_file::open(dir.file("out.gguf"));
  CHECK(f.get_i32_array("llama.test.per_block") == std::vector<int32_t>{10, 12, 14});
  const std::vector<std::string_view> names = f.get_string_array("llama.test.names");
  CHECK(names == std::vector<std::string_view>{"a", "c", "e"});
  CHECK(f.get_f32_array("llama.test.other") == std::vector<float>{1, 2, 3});
  CHECK(f.get_i32_array("tokenizer.test.five") == std::vector<int32_t>{0, 1, 2, 3, 4});
}

TEST_CASE("prune: refuses drops that leave nothing, name no block, or repeat one", "[prune]") {
  temp_dir dir;
  const std::string in = shared_path("models/stories260K-f32.gguf");
  const auto out = dir.file("out.gguf");
  using v = std::vector<int64_t>;
  CHECK_THROWS_WITH(prune_model(in, out, v{}), Catch::Contains("no blocks"));
  CHECK_THROWS_WITH(prune_model(in, out, v{0, 1, 2, 3, 4}), Catch::Contains("leaves none"));
  CHECK_THROWS_WITH(prune_model(in, out, v{5}), Catch::Contains("block 5 does not exist"));
  CHECK_THROWS_WITH(prune_model(in, out, v{-1}), Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(prune_model(in, out, v{2, 2}), Catch::Contains("twice"));
  CHECK(!std::filesystem::exists(out));
  const std::vector<double> scores = {0.3, 0.1, 0.2, 0.1, 0.5};
  CHECK(least_influential(scores, 2) == v{1, 3});
  CHECK(least_influential(scores, 3) == v{1, 2, 3});
  CHECK_THROWS_AS(least_influential(scores, 0), std::invalid_argument);
  CHECK_THROWS_AS(least_influential(scores, 5), std::invalid_argument);
  const auto m = model::load(in);
  block_influence_options o;
  CHECK_THROWS_WITH(block_influence(*m, m->vocab().tokenize("Once upon a time", true), o),
                    Catch::Contains("calibration text is"));
}

TEST_CASE("prune: sliding-window models keep every block's kind of attention or refuse", "[prune][swa]") {
  // tiny-gemma2: 4 blocks, window 16 on blocks 0 and 2 (pattern 2).
  temp_dir dir;
  const std::string in = shared_path("models/arch/tiny-gemma2-f16.gguf");
  const auto original = model::load(in);
  REQUIRE(original->hp().n_layer == 4);
  REQUIRE(original->hp().swa_layer(0));
  REQUIRE(!original->hp().swa_layer(1));
  CHECK_THROWS_WITH(prune_model(in, dir.file("bad.gguf"), std::vector<int64_t>{1}),
                    Catch::Contains("block 2 is a sliding-window block but would become block 1"));
  CHECK(!std::filesystem::exists(dir.file("bad.gguf")));
  // Blocks 0 and 3 (sliding, global) become 0 and 1 (sliding, global): allowed, and still exact.
  const std::vector<int64_t> drop = {1, 2};
  prune_model(in, dir.file("pruned.gguf"), drop);
  const auto pruned = model::load(dir.file("pruned.gguf"));
  CHECK(pruned->hp().n_layer == 2);
  const auto identity = model::load(rewrite_model(in, dir.file("identity.gguf"), {1, 2}));
  // Longer than the window, so the sliding block's mask matters.
  std::vector<token_id> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(static_cast<token_id>(3 + (i * 37) % 500));
  const std::vector<float> want = run_greedy(*identity, prompt, 0).first_logits;
  const std::vector<float> got = run_greedy(*pruned, prompt, 0).first_logits;
  CHECK(max_abs_diff(got, want) <= 1e-5f * largest_magnitude(want));
}
