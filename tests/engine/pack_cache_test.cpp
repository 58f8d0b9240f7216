// The pack cache (model/pack_cache.h, issue 12's fast start): the repacked weights kept beside
// the model and mapped at later starts. A cache is used only when it stands for exactly the
// model file, kernel set and packing at hand; anything else is refused with the reason.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/gguf_test_util.h"
#include "forward.h"
#include "kernels/kernels.h"
#include "kernels/packing.h"
#include "model/model.h"
#include "model/pack_cache.h"
#include "reference.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;

namespace {

pack_cache_key pc_sample_key() {
  pack_cache_key k;
  k.kernels = "avx512-vnni";
  k.model_size = 123456;
  k.model_mtime_ns = 1700000000123456789;
  k.model_hash = 0x0123456789abcdefull;
  k.layout_hash = 0xfedcba9876543210ull;
  k.matrices = {{ggml_type::q4_0, 16, 64, 0, 576}, {ggml_type::q8_0, 32, 64, 576, 2176}};
  k.payload_bytes = size_t{2} << 20;
  return k;
}

std::vector<uint8_t> pc_sample_payload(const pack_cache_key& k) {
  std::vector<uint8_t> p(k.payload_bytes, 0);
  for (const pack_cache_matrix& m : k.matrices) {
    for (uint64_t i = 0; i < m.bytes; ++i) p[m.offset + i] = static_cast<uint8_t>(i * 7 + m.offset);
  }
  return p;
}

// The sample key's cache, written to a fresh directory.
struct pc_written {
  temp_dir dir;
  pack_cache_key key = pc_sample_key();
  std::vector<uint8_t> payload = pc_sample_payload(key);
  fs::path path = dir.file("m.hearth-cache");
  pc_written() { REQUIRE(pack_cache::write(path, key, payload.data()).empty()); }
};

// Maps `path` with `key`: the reason when refused, "" when mapped.
std::string pc_refusal(const fs::path& path, const pack_cache_key& key) {
  std::string why;
  auto c = pack_cache::map(path, key, why);
  if (c) return "";
  REQUIRE_FALSE(why.empty());
  return why;
}

// A copy of stories260K-q4_0 (its Q4_0 matrices are repacked where the kernels read a packed
// layout), dated in the past so that a later write changes its modification time.
fs::path pc_model_copy(const temp_dir& dir) {
  const fs::path p = dir.file("model.gguf");
  fs::copy_file(shared_model("stories260K-q4_0.gguf"), p);
  fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(24));
  return p;
}

// Whether the active kernels repack Q4_0 (the model tests' file); else the test is skipped.
bool pc_kernels_pack_q4_0() {
  if (kernels::gemm_packed_for(kernels::active(), ggml_type::q4_0)) return true;
  WARN("HEARTH_TEST_SKIPPED: the active kernels read Q4_0 as stored: nothing is packed");
  return false;
}

struct pc_loaded {
  std::unique_ptr<model> m;
  std::vector<std::string> log;
};

pc_loaded pc_load(const fs::path& model_path) {
  pc_loaded l;
  pack_cache_options o;
  o.path = model_path.string() + ".hearth-cache";
  o.log = [&l](const std::string& line) { l.log.push_back(line); };  // this thread: finished below
  o.require_huge_pages = false;  // whatever file system the test's temp dir is on
  l.m = model::load(model_path, 1, o);
  l.m->finish_pack_cache();
  return l;
}

// Every packed matrix of a model, in load order.
std::vector<const weight*> pc_packed(const model& m) {
  std::vector<const weight*> out;
  if (m.output().packed) out.push_back(&m.output());
  for (const layer_weights& l : m.layers()) {
    for (const weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      if (w->packed) out.push_back(w);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("pack cache: written, then mapped with every byte as packed", "[model][pack_cache]") {
  temp_dir dir;
  const auto key = pc_sample_key();
  const auto payload = pc_sample_payload(key);
  const fs::path p = dir.file("m.hearth-cache");
  CHECK(pc_refusal(p, key) == "there is none");
  REQUIRE(pack_cache::write(p, key, payload.data()).empty());
  CHECK(fs::file_size(p) == pack_cache_payload_offset(key) + key.payload_bytes);
  CHECK(pack_cache_payload_offset(key) == (size_t{2} << 20));
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // the weights are the owner's
  // No temporary file is left beside it.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
  std::string why;
  const auto c = pack_cache::map(p, key, why);
  REQUIRE(c);
  CHECK(reinterpret_cast<uintptr_t>(c->payload()) % (size_t{2} << 20) == 0);
  CHECK(std::memcmp(c->payload(), payload.data(), payload.size()) == 0);
  CHECK_FALSE(c->change_on_disk());
}

TEST_CASE("pack cache: a header that differs in any field is refused", "[model][pack_cache]") {
  const pc_written w;
  const auto& [key, payload, p] = std::tie(w.key, w.payload, w.path);
  REQUIRE(pc_refusal(p, key).empty());
  const std::string stale = "it was made for another model file, kernel set or packing";
  auto k = key;
  k.kernels = "avx2";
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.model_size += 1;
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.model_mtime_ns += 1;
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.model_hash ^= 1;
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.layout_hash ^= 1;
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.matrices[1].rows = 31;
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.matrices[1].type = ggml_type::q4_0;
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.matrices.pop_back();
  CHECK(pc_refusal(p, k) == stale);
  k = key;
  k.payload_bytes = size_t{4} << 20;
  CHECK(pc_refusal(p, k) == stale);
  // A byte of the file's own header changed.
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(13);
    f.put('\x7f');
  }
  CHECK(pc_refusal(p, key) == stale);
}

TEST_CASE("pack cache: a file of the wrong length is refused", "[model][pack_cache]") {
  const pc_written w;
  const auto& [key, payload, p] = std::tie(w.key, w.payload, w.path);
  const uint64_t size = fs::file_size(p);
  fs::resize_file(p, size - 4096);
  CHECK(pc_refusal(p, key) == "it is " + std::to_string(size - 4096) + " bytes, expected " + std::to_string(size));
  fs::resize_file(p, size + 1);
  CHECK(pc_refusal(p, key) == "it is " + std::to_string(size + 1) + " bytes, expected " + std::to_string(size));
  fs::resize_file(p, 100);  // inside the header
  CHECK(pc_refusal(p, key) == "it was made for another model file, kernel set or packing");
}

TEST_CASE("pack cache: a cache truncated while mapped is reported", "[model][pack_cache]") {
  const pc_written w;
  const auto& [key, payload, p] = std::tie(w.key, w.payload, w.path);
  std::string why;
  const auto c = pack_cache::map(p, key, why);
  REQUIRE(c);
  fs::resize_file(p, pack_cache_payload_offset(key));  // the whole payload goes
  volatile uint8_t first = c->payload()[0];  // a vanished page: zeros, not SIGBUS (mapping_guard)
  CHECK(first == 0);
  const auto changed = c->change_on_disk();
  REQUIRE(changed);
  CHECK(*changed == "pages of it vanished: it was truncated");
}

TEST_CASE("pack cache: an unwritable place gives the reason and leaves nothing", "[model][pack_cache]") {
  temp_dir dir;
  const auto key = pc_sample_key();
  const auto payload = pc_sample_payload(key);
  const std::string error = pack_cache::write(dir.file("absent/m.hearth-cache"), key, payload.data());
  CHECK(error.find("cannot create " + dir.file("absent/m.hearth-cache").string() + ".tmp-") == 0);
  CHECK(error.find("No such file or directory") != std::string::npos);
  std::stop_source stop;
  stop.request_stop();
  CHECK(pack_cache::write(dir.file("m.hearth-cache"), key, payload.data(), stop.get_token()) == "stopped");
  CHECK(fs::is_empty(dir.path()));
}

// A writer killed before its rename (SIGKILL, a power cut) leaves a temporary file as large as the
// cache; the next write removes it once its process is gone and nothing wrote it for 10 minutes.
TEST_CASE("pack cache: a dead writer's temporary file is removed by the next write", "[model][pack_cache]") {
  temp_dir dir;
  const auto key = pc_sample_key();
  const auto payload = pc_sample_payload(key);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);  // a process id that is gone
  const auto old = fs::file_time_type::clock::now() - std::chrono::minutes(11);
  int made = 0;
  const auto temporary = [&](pid_t pid, bool stale) {
    const fs::path t = dir.file("m.hearth-cache.tmp-" + std::to_string(pid) + "-" + std::to_string(made++));
    write_bytes(t, std::vector<uint8_t>(100, 1));
    if (stale) fs::last_write_time(t, old);
    return t;
  };
  const fs::path dead = temporary(child, true);
  const fs::path dead_but_recent = temporary(child, false);
  const fs::path alive = temporary(::getpid(), true);  // a live writer that is slow
  const fs::path other = dir.file("other.hearth-cache.tmp-" + std::to_string(child) + "-0");  // another model's
  write_bytes(other, std::vector<uint8_t>(100, 1));
  fs::last_write_time(other, old);
  REQUIRE(pack_cache::write(dir.file("m.hearth-cache"), key, payload.data()).empty());
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(dead_but_recent));
  CHECK(fs::exists(alive));
  CHECK(fs::exists(other));
  CHECK(fs::exists(dir.file("m.hearth-cache")));
}

TEST_CASE("pack cache: the layout hash follows what packing makes of each type", "[model][pack_cache]") {
  const uint64_t q4 = pack_layout_hash({ggml_type::q4_0});
  const uint64_t q8 = pack_layout_hash({ggml_type::q8_0});
  CHECK(q4 == pack_layout_hash({ggml_type::q4_0}));  // deterministic
  CHECK(q4 != q8);
  CHECK(pack_layout_hash({ggml_type::q4_0, ggml_type::q8_0}) != q4);
  CHECK(pack_layout_hash({}) != q4);
}

TEST_CASE("pack cache: a model loads its packed weights from the cache, the same bytes as repacked",
          "[model][pack_cache]") {
  if (!pc_kernels_pack_q4_0()) return;
  temp_dir dir;
  const fs::path p = pc_model_copy(dir);
  const fs::path cache = p.string() + ".hearth-cache";
  const auto first = pc_load(p);
  CHECK_FALSE(first.m->packed_from_cache());
  REQUIRE(first.log.size() == 2);
  CHECK(first.log[0] == "pack cache " + cache.string() + ": not used: there is none; repacking, and writing it");
  CHECK(first.log[1].find("pack cache " + cache.string() + ": written (") == 0);
  REQUIRE(fs::exists(cache));

  const auto second = pc_load(p);
  REQUIRE(second.m->packed_from_cache());
  REQUIRE(second.log.size() == 1);
  CHECK(second.log[0].find("pack cache " + cache.string() + ": mapped (") == 0);
  const auto a = pc_packed(*first.m), b = pc_packed(*second.m);
  REQUIRE(a.size() == b.size());
  REQUIRE_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i]->packed_group_bytes == b[i]->packed_group_bytes);
    CHECK(std::memcmp(a[i]->packed, b[i]->packed, kernels::packed_bytes(a[i]->type, a[i]->rows, a[i]->cols)) == 0);
  }
  CHECK(second.m->packed_bytes() == first.m->packed_bytes());
  CHECK_FALSE(second.m->file_changed());
  fs::resize_file(cache, fs::file_size(cache) - 1);
  const auto why = second.m->file_changed();
  REQUIRE(why);
  CHECK(why->find("pack cache " + cache.string() + " changed on disk while in use; restart hearth (its size changed") ==
        0);
}

TEST_CASE("pack cache: a model file changed since the cache was written repacks and rewrites it",
          "[model][pack_cache]") {
  if (!pc_kernels_pack_q4_0()) return;
  temp_dir dir;
  const fs::path p = pc_model_copy(dir);
  const std::string stale = "pack cache " + p.string() + ".hearth-cache: not used: it was made for another model "
                            "file, kernel set or packing; repacking, and writing it";
  pc_load(p);
  SECTION("a newer modification time") {
    fs::last_write_time(p, fs::file_time_type::clock::now());
  }
  SECTION("a metadata byte, with the modification time put back") {
    const auto when = fs::last_write_time(p);
    size_t at = 0;
    {
      const gguf_file f = gguf_file::open(p);
      const std::span<const uint8_t> head = f.header_bytes();
      const std::string_view name = "general.name";  // a key to rename: same length, same parse
      const auto hit = std::search(head.begin(), head.end(), name.begin(), name.end());
      REQUIRE(hit != head.end());
      at = static_cast<size_t>(hit - head.begin());
    }
    {
      std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(at));
      f.put('G');
    }
    fs::last_write_time(p, when);
  }
  const auto again = pc_load(p);
  CHECK_FALSE(again.m->packed_from_cache());
  REQUIRE(again.log.size() == 2);
  CHECK(again.log[0] == stale);
  CHECK(again.log[1].find(": written (") != std::string::npos);
  CHECK(pc_load(p).m->packed_from_cache());  // the rewritten cache stands for the file now
}

// A cache's payload is weights: any bytes there must give numbers (perhaps garbage), never a
// read or write outside the engine's buffers. A cache with the right header and noise for its
// payload runs a forward pass (under ASan in the sanitizer build).
TEST_CASE("pack cache: noise for a payload gives a forward pass, not a fault", "[model][pack_cache]") {
  if (!pc_kernels_pack_q4_0()) return;
  temp_dir dir;
  const fs::path p = pc_model_copy(dir);
  const fs::path cache = p.string() + ".hearth-cache";
  pc_load(p);
  {
    std::fstream f(cache, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<uint64_t>(f.tellg());
    const uint64_t offset = size_t{2} << 20;  // the header of so small a model fits well inside
    uint32_t x = 12345;
    f.seekp(static_cast<std::streamoff>(offset));
    for (uint64_t i = offset; i < size; ++i) {
      x = x * 1664525u + 1013904223u;
      f.put(static_cast<char>(x >> 24));
    }
  }
  // The header still matches: the cache is mapped, noise and all.
  const auto l = pc_load(p);
  REQUIRE(l.m->packed_from_cache());
  thread_pool pool(2);
  kv_cache kv(l.m->hp(), 8);
  forward_pass fwd(*l.m, pool, 8, 1, l.m->hp().n_ctx_train);
  const int32_t seq = kv.seq_create();
  REQUIRE(kv.seq_reserve(seq, 5));
  std::vector<batch_entry> batch;
  for (int32_t i = 0; i < 5; ++i) batch.push_back({1 + 50 * i, i, seq, i == 4});
  const auto logits = fwd.run(kv, batch);
  CHECK(logits.size() == static_cast<size_t>(l.m->hp().n_vocab));
}
