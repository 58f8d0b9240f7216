#pragma once
// The global functions a template can call without being given them: range, dict, namespace
// (Jinja2's), raise_exception(message) and strftime_now(format) (Hugging Face's).
#include <ctime>
#include <string>
#include <string_view>

#include "proto/jinja/value.h"

namespace hearth::jinja {

// The built-in bound to `name`, or undefined.
value builtin_global(std::string_view name);

// Python's time.strftime in the C locale: %a %A %b %B %c %C %d %D %e %f %F %g %G %h %H %I %j %k
// %l %m %M %n %p %r %R %S %t %T %u %U %V %w %W %x %X %y %Y %z %Z %%; other directives are
// copied as written. %z and %Z are empty (the time has no zone, as datetime.now()'s has none).
std::string format_time(std::string_view format, const std::tm& t);

}  // namespace hearth::jinja
