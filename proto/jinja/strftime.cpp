// strftime_now's formatting: time.strftime in the C locale, written out so that no locale or
// environment setting can change it.
#include <cstdio>

#include "proto/jinja/globals.h"

namespace hearth::jinja {

namespace {

constexpr const char* weekdays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
constexpr const char* months[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};

int weeks_in_year(int year) {
  const auto p = [](int y) { return (y + y / 4 - y / 100 + y / 400) % 7; };
  return 52 + (p(year) == 4 || p(year - 1) == 3 ? 1 : 0);
}

// ISO 8601 week number and week-based year.
void iso_week(const std::tm& t, int& week, int& year) {
  year = t.tm_year + 1900;
  const int iso_weekday = (t.tm_wday + 6) % 7 + 1;
  week = (t.tm_yday + 1 - iso_weekday + 10) / 7;  // from the 1-based day of the year
  if (week < 1) {
    --year;
    week = weeks_in_year(year);
  } else if (week > weeks_in_year(year)) {
    ++year;
    week = 1;
  }
}

// A number with the directive's padding: '0' (zeros), '_' (spaces) or '-' (none).
void number(std::string& out, long v, int width, char pad) {
  char buf[32];
  if (pad == '-') {
    std::snprintf(buf, sizeof buf, "%ld", v);
  } else if (pad == '_') {
    std::snprintf(buf, sizeof buf, "%*ld", width, v);
  } else {
    std::snprintf(buf, sizeof buf, "%0*ld", width, v);
  }
  out += buf;
}

// One directive (without the '%' and flag); false if unknown.
bool directive(std::string& out, char c, char flag, const std::tm& t) {
  const int hour12 = t.tm_hour % 12 == 0 ? 12 : t.tm_hour % 12;
  const auto pad_or = [&](char dflt) { return flag ? flag : dflt; };
  const int wday = ((t.tm_wday % 7) + 7) % 7, mon = ((t.tm_mon % 12) + 12) % 12;
  int week = 0, week_year = 0;
  switch (c) {
    case 'a': out.append(weekdays[wday], 3); return true;
    case 'A': out += weekdays[wday]; return true;
    case 'b': case 'h': out.append(months[mon], 3); return true;
    case 'B': out += months[mon]; return true;
    case 'c': out += format_time("%a %b %e %H:%M:%S %Y", t); return true;
    case 'C': number(out, (t.tm_year + 1900) / 100, 2, pad_or('0')); return true;
    case 'd': number(out, t.tm_mday, 2, pad_or('0')); return true;
    case 'D': case 'x': out += format_time("%m/%d/%y", t); return true;
    case 'e': number(out, t.tm_mday, 2, pad_or('_')); return true;
    case 'f': out += "000000"; return true;
    case 'F': out += format_time("%Y-%m-%d", t); return true;
    case 'g': iso_week(t, week, week_year); number(out, week_year % 100, 2, pad_or('0')); return true;
    case 'G': iso_week(t, week, week_year); number(out, week_year, 1, pad_or('0')); return true;
    case 'H': number(out, t.tm_hour, 2, pad_or('0')); return true;
    case 'I': number(out, hour12, 2, pad_or('0')); return true;
    case 'j': number(out, t.tm_yday + 1, 3, pad_or('0')); return true;
    case 'k': number(out, t.tm_hour, 2, pad_or('_')); return true;
    case 'l': number(out, hour12, 2, pad_or('_')); return true;
    case 'm': number(out, t.tm_mon + 1, 2, pad_or('0')); return true;
    case 'M': number(out, t.tm_min, 2, pad_or('0')); return true;
    case 'n': out += '\n'; return true;
    case 'p': out += t.tm_hour < 12 ? "AM" : "PM"; return true;
    case 'r': out += format_time("%I:%M:%S %p", t); return true;
    case 'R': out += format_time("%H:%M", t); return true;
    case 'S': number(out, t.tm_sec, 2, pad_or('0')); return true;
    case 't': out += '\t'; return true;
    case 'T': case 'X': out += format_time("%H:%M:%S", t); return true;
    case 'u': number(out, (wday + 6) % 7 + 1, 1, pad_or('0')); return true;
    case 'U': number(out, (t.tm_yday + 7 - wday) / 7, 2, pad_or('0')); return true;
    case 'V': iso_week(t, week, week_year); number(out, week, 2, pad_or('0')); return true;
    case 'w': number(out, wday, 1, pad_or('0')); return true;
    case 'W': number(out, (t.tm_yday + 7 - (wday + 6) % 7) / 7, 2, pad_or('0')); return true;
    case 'y': number(out, (t.tm_year + 1900) % 100, 2, pad_or('0')); return true;
    case 'Y': number(out, t.tm_year + 1900, 1, pad_or('0')); return true;
    case 'z': case 'Z': return true;
    case '%': out += '%'; return true;
    default: return false;
  }
}

}  // namespace

std::string format_time(std::string_view format, const std::tm& t) {
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    size_t j = i + 1;
    char flag = 0;
    if (format[j] == '-' || format[j] == '_' || format[j] == '0') flag = format[j++];
    if (j < format.size() && directive(out, format[j], flag, t)) {
      i = j;
    } else {
      out += '%';  // unknown: copied as written
    }
  }
  return out;
}

}  // namespace hearth::jinja
