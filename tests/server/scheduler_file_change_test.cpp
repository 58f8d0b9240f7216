// Issue 7, hole 3, at the scheduler: when the model file changes on disk while a request runs,
// that request, the queued ones and every later one finish with an error naming the file,
// instead of the process dying by SIGBUS or sampling from vanished weights.
#include <catch2/catch.hpp>

#include <filesystem>

#include "reference.h"
#include "scheduler_test_util.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;

TEST_CASE("scheduler: a model file truncated mid-generation fails its requests and refuses new ones",
          "[scheduler][file_change]") {
  temp_dir dir;
  const fs::path p = dir.file("model.gguf");
  fs::copy_file(shared_path("models/stories260K-f32.gguf"), p);
  const auto m = model::load(p);
  model_engine_options eo{.threads = 1, .kv_blocks = 64, .block_size = 16, .max_batch = 32, .max_logit_rows = 1};
  scheduler sch(std::make_unique<model_engine>(*m, eo), scheduler_options{.max_sequences = 1});
  const std::vector<token_id> prompt = {1, 403, 407, 261, 378};

  gate g;
  auto running = std::make_shared<recording_sink>();
  running->hook = g.at(3);
  REQUIRE(sch.submit(greedy_request(prompt, 200), running) == submit_status::accepted);
  g.entered.wait();  // the scheduler thread is between forward passes, inside the sink
  auto queued = std::make_shared<recording_sink>();
  REQUIRE(sch.submit(greedy_request(prompt, 10), queued) == submit_status::accepted);
  CHECK_FALSE(sch.model_failure());
  fs::resize_file(p, 4096);
  g.release.open();

  const std::string why = "model file " + p.string() + " changed on disk while in use; restart hearth";
  const sink_record r = running->wait_finish();
  CHECK(r.finish.reason == proto::finish_reason::error);
  CHECK(r.finish.error.starts_with(why));
  CHECK(r.tokens.size() == 3);  // nothing sampled from the pass that read vanished weights
  const sink_record q = queued->wait_finish();
  CHECK(q.finish.reason == proto::finish_reason::error);
  CHECK(q.finish.error.starts_with(why));
  CHECK(q.tokens.empty());
  REQUIRE(sch.model_failure());
  CHECK(sch.model_failure()->starts_with(why));

  auto later = std::make_shared<recording_sink>();
  REQUIRE(sch.submit(greedy_request(prompt, 10), later) == submit_status::accepted);
  const sink_record l = later->wait_finish();
  CHECK(l.finish.reason == proto::finish_reason::error);
  CHECK(l.finish.error.starts_with(why));
  CHECK(l.tokens.empty());
}
