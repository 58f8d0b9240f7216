#include "checked_size.h"

#include <cstdio>

namespace hearth {

std::string format_bytes(checked_size bytes) {
  if (bytes.overflowed()) return "more than 16 EiB";
  const uint64_t b = bytes.value();
  if (b < 1024) return std::to_string(b) + " bytes";
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(b) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace hearth
