#pragma once
// Shared by the Jinja tests: the clock ../shared/templates was rendered with.
#include <ctime>

#include "proto/jinja/jinja.h"

namespace hearth::test {

// strftime_now() sees 2026-01-15 09:30:00, a Thursday (as in ../shared/templates/README.md).
inline std::tm fixed_time() {
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 0;
  t.tm_mday = 15;
  t.tm_hour = 9;
  t.tm_min = 30;
  t.tm_wday = 4;
  t.tm_yday = 14;
  return t;
}

inline jinja::render_options fixed_time_options() {
  jinja::render_options o;
  o.clock = fixed_time;
  return o;
}

}  // namespace hearth::test
