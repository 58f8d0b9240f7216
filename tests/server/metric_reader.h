#pragma once
// Reading samples of the daemon's GET /metrics (Prometheus text format) in tests.
//
// A sample the daemon does not render fails the test: a renamed or dropped metric must not read
// as 0 and pass an `== 0` check. The one absence that means 0 is Prometheus's own: a labelled
// sample of a counter family that is declared ("# TYPE <family> counter") but has not counted
// that label set yet, e.g. hearth_generations_total{reason="cancelled"} before any cancel.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "server_process.h"

namespace hearth::test {

// The value of the line "<sample> <value>" in a /metrics body, if there is one.
inline std::optional<double> find_sample(const std::string& body, const std::string& sample) {
  const std::string key = sample + " ";
  for (size_t at = 0; (at = body.find(key, at)) != std::string::npos; at += key.size()) {
    if (at == 0 || body[at - 1] == '\n') return std::stod(body.substr(at + key.size()));
  }
  return std::nullopt;
}

// Whether `sample`, missing from `body`, reads as 0 by Prometheus's rule: a labelled sample of
// a declared counter family.
inline bool absent_reads_zero(const std::string& body, const std::string& sample) {
  const size_t brace = sample.find('{');
  if (brace == std::string::npos) return false;
  const std::string type_line = "# TYPE " + sample.substr(0, brace) + " counter\n";
  return body.starts_with(type_line) || body.find("\n" + type_line) != std::string::npos;
}

// As find_sample, but a missing sample fails the test unless it reads as 0 (see the top of
// this file).
inline double sample_value(const std::string& body, const std::string& sample) {
  if (std::optional<double> v = find_sample(body, sample)) return *v;
  if (!absent_reads_zero(body, sample)) {
    FAIL("/metrics has no sample " << sample << " (renamed or dropped?); it has:\n" << body);
  }
  return 0;
}

// sample_value() of a fresh GET /metrics.
inline double metric(server_process& s, const std::string& sample) {
  const http_result r = curl(s.url("/metrics"));
  REQUIRE(r.status == 200);
  return sample_value(r.body, sample);
}

}  // namespace hearth::test
