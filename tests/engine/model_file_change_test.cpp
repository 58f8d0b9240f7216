// Issue 7, hole 3: a model file truncated or rewritten while mapped used to kill the process
// with SIGBUS. Now the vanished pages read as zeros, the model reports the change, and faults
// anywhere else keep their default action.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "engine/gguf_test_util.h"
#include "forward.h"
#include "reference.h"
#include "sanitizers.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;

namespace {

// The logits after `tokens` (a fresh sequence), one forward pass.
std::vector<float> logits_after(const model& m, const std::vector<token_id>& tokens) {
  thread_pool pool(1);
  kv_cache kv(m.hp(), 8);
  forward_pass fwd(m, pool, 64, 1, m.hp().n_ctx_train);
  const int32_t seq = kv.seq_create();
  REQUIRE(kv.seq_reserve(seq, static_cast<int64_t>(tokens.size())));
  std::vector<batch_entry> batch;
  for (size_t i = 0; i < tokens.size(); ++i) {
    batch.push_back({tokens[i], static_cast<int32_t>(i), seq, i + 1 == tokens.size()});
  }
  auto out = fwd.run(kv, batch);
  return {out.begin(), out.end()};
}

// A copy of stories260K-f32 (its weights are read from the mapping: nothing is repacked),
// dated in the past so that any later write changes its modification time.
fs::path fresh_copy(const temp_dir& dir) {
  const fs::path p = dir.file("model.gguf");
  fs::copy_file(shared_model("stories260K-f32.gguf"), p);
  fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(24));
  return p;
}

const std::vector<token_id> prompt = {1, 403, 407, 261, 378};  // "Once upon a time"

}  // namespace

TEST_CASE("model file truncated while mapped: the forward pass survives and the change is reported",
          "[model][file_change]") {
  temp_dir dir;
  const fs::path p = fresh_copy(dir);
  const auto m = model::load(p);
  REQUIRE_FALSE(m->file_changed());
  const auto before = logits_after(*m, prompt);
  REQUIRE(before.size() == 512);
  fs::resize_file(p, 4096);  // the header's first page stays; every weight vanishes
  const auto after = logits_after(*m, prompt);  // reads vanished pages: SIGBUS without the guard
  CHECK(after.size() == 512);
  const auto why = m->file_changed();
  REQUIRE(why);
  CHECK(*why == "model file " + p.string() + " changed on disk while in use; restart hearth (pages of it vanished: it "
                "was truncated)");
}

TEST_CASE("model file shrunk without a fault: the size check reports it", "[model][file_change]") {
  temp_dir dir;
  const fs::path p = fresh_copy(dir);
  const auto m = model::load(p);
  fs::resize_file(p, fs::file_size(p) - 1);  // only the last byte's page goes, and nothing reads it yet
  const auto why = m->file_changed();
  REQUIRE(why);
  CHECK(why->find("changed on disk while in use; restart hearth (its size changed from " +
                  std::to_string(fs::file_size(p) + 1) + " to " + std::to_string(fs::file_size(p)) + " bytes)") !=
        std::string::npos);
}

TEST_CASE("model file rewritten in place: reported although no page vanished", "[model][file_change]") {
  temp_dir dir;
  const fs::path p = fresh_copy(dir);
  const auto m = model::load(p);
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(m->file().data_offset()));
    f.put('\x7f');
  }
  const auto why = m->file_changed();
  REQUIRE(why);
  CHECK(why->find("(it was modified in place)") != std::string::npos);
}

TEST_CASE("model file replaced by rename: the old file keeps serving, unchanged", "[model][file_change]") {
  temp_dir dir;
  const fs::path p = fresh_copy(dir);
  const auto m = model::load(p);
  const auto before = logits_after(*m, prompt);
  const fs::path next = dir.file("next.gguf");
  fs::copy_file(shared_model("stories260K-q8_0.gguf"), next);
  fs::rename(next, p);  // what `cp new tmp && mv tmp model.gguf` does
  CHECK_FALSE(m->file_changed());
  CHECK(logits_after(*m, prompt) == before);  // bit for bit: the old inode is intact
}

// The guard acts only inside registered mappings: elsewhere SIGBUS keeps its default action
// (or the handler installed before, e.g. AddressSanitizer's, which reports and exits non-zero).
TEST_CASE("a SIGBUS outside model mappings still ends the process", "[model][file_change]") {
  temp_dir dir;
  const auto m = model::load(fresh_copy(dir));  // installs the handler
  const fs::path other = dir.file("other.bin");
  write_bytes(other, std::vector<uint8_t>(1 << 16, 1));
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(other.c_str(), O_RDWR);
    auto* bytes = static_cast<volatile uint8_t*>(mmap(nullptr, 1 << 16, PROT_READ, MAP_SHARED, fd, 0));
    if (fd < 0 || bytes == MAP_FAILED || ftruncate(fd, 0) != 0) _exit(3);
    _exit(bytes[1 << 15] == 1 ? 4 : 5);  // the read faults: it must not return
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
#if defined(HEARTH_ASAN)
  CHECK(((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) || (WIFEXITED(status) && WEXITSTATUS(status) == 1)));
#else
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGBUS);
#endif
}
