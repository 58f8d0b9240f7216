// The tests' /metrics reader against what the daemon renders (metrics::render): present
// samples read their value, and only Prometheus's own absences read as 0.
#include <catch2/catch.hpp>

#include "metric_reader.h"
#include "metrics.h"
#include "scheduler.h"

using namespace hearth;
using namespace hearth::test;

TEST_CASE("metric reader: a missing sample is 0 only for an unseen label of a declared counter") {
  metrics m;
  m.count_finished("length");
  m.observe_batch(3, 2);
  const std::string body = m.render(scheduler_stats{.queued = 1, .running = 2, .kv_blocks_used = 5});
  CHECK(find_sample(body, "hearth_kv_blocks_used") == 5.0);
  CHECK(find_sample(body, "hearth_running_sequences") == 2.0);
  CHECK(find_sample(body, "hearth_generations_total{reason=\"length\"}") == 1.0);
  CHECK(find_sample(body, "hearth_batch_sequences_bucket{le=\"2\"}") == 1.0);
  // A prefix of a sample's name is not that sample.
  CHECK_FALSE(find_sample(body, "hearth_kv_blocks").has_value());
  // Renamed or dropped: missing, and not 0.
  CHECK_FALSE(find_sample(body, "hearth_kv_blocks_in_use").has_value());
  CHECK_FALSE(absent_reads_zero(body, "hearth_kv_blocks_in_use"));
  CHECK_FALSE(absent_reads_zero(body, "hearth_finishes_total{reason=\"length\"}"));
  // A gauge or histogram sample that gained a label is not its unlabelled self.
  CHECK_FALSE(absent_reads_zero(body, "hearth_batch_sequences_bucket{le=\"3\"}"));
  // A counter's label value that never counted: Prometheus reads 0.
  CHECK_FALSE(find_sample(body, "hearth_generations_total{reason=\"cancelled\"}").has_value());
  CHECK(absent_reads_zero(body, "hearth_generations_total{reason=\"cancelled\"}"));
  CHECK(sample_value(body, "hearth_generations_total{reason=\"cancelled\"}") == 0);
}
