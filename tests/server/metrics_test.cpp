// metrics::render's own series: speculative decoding's counters.
#include <catch2/catch.hpp>

#include <string>

#include "metric_reader.h"
#include "metrics.h"
#include "scheduler.h"

using namespace hearth;
using namespace hearth::test;

TEST_CASE("metrics: speculative decoding counts drafted and accepted tokens", "[metrics]") {
  metrics m;
  std::string body = m.render(scheduler_stats{});
  for (const char* name : {"hearth_speculative_drafted_tokens_total", "hearth_speculative_accepted_tokens_total"}) {
    INFO(name);
    const std::string n = name;
    CHECK(body.find("\n# HELP " + n + " ") != std::string::npos);
    CHECK(body.find("\n# TYPE " + n + " counter\n") != std::string::npos);
    CHECK(find_sample(body, n) == 0.0);  // present before the first draft
  }
  m.add_speculative(5, 3);
  m.add_speculative(8, 8);
  m.add_speculative(0, 0);
  body = m.render(scheduler_stats{});
  CHECK(find_sample(body, "hearth_speculative_drafted_tokens_total") == 13.0);
  CHECK(find_sample(body, "hearth_speculative_accepted_tokens_total") == 11.0);
}
