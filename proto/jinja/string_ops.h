#pragma once
// Python's str operations on marked text (text.h), shared by the filters and the str methods.
// Each keeps the user marks of the characters it copies; characters it maps (case changes) keep
// their character's mark; text it inserts has the marks of where it came from.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "proto/jinja/text.h"

namespace hearth::jinja::strings {

// Byte offsets of the characters of s, plus s.size() at the end.
std::vector<size_t> char_offsets(std::string_view s);

// str.strip / lstrip / rstrip; chars: the characters to remove (nullopt: whitespace).
text strip(const text& s, const std::optional<std::string_view>& chars, bool left, bool right);

// str.split / rsplit; sep nullopt: runs of whitespace. maxsplit < 0: no limit. An empty sep is
// the caller's error to report.
std::vector<text> split(const text& s, const std::optional<std::string_view>& sep, int64_t maxsplit, bool from_right);
// str.splitlines.
std::vector<text> splitlines(const text& s, bool keepends);

// str.replace; count < 0: every occurrence. A replacement that stands where user text was
// matched is user text itself.
text replace(const text& s, std::string_view old, const text& with, int64_t count);

// str.upper / lower / title / capitalize.
text upper(const text& s);
text lower(const text& s);
text title(const text& s);
text capitalize(const text& s);
// Jinja2's title filter: words split at runs of "-", whitespace, "(", "{", "[", "<" get their
// first character upper-cased and the rest lower-cased.
text jinja_title(const text& s);

// s[start:stop:step] by characters, Python's slice rules (missing bounds are nullopt).
text slice(const text& s, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step);

// str.isupper() (upper) or str.islower(): some cased character, and all of them in that case.
bool all_cased_as(std::string_view s, bool upper);

// str.find / rfind: the character index of sub in s, or -1.
int64_t find(const text& s, std::string_view sub, bool from_right);
// str.count (non-overlapping).
int64_t count(const text& s, std::string_view sub);
// str.center / ljust / rjust with a one-character fill.
text pad(const text& s, int64_t width, std::string_view fill, int align /* -1 left, 0 center, 1 right */);

// markupsafe's escape: & < > " ' as HTML entities; the result is Markup. Escaped characters of
// user text stay user text.
text html_escape(const text& s);
// t with the Markup flag of `like` (for operations that return Markup when given Markup).
text keep_markup(text t, const text& like);

// Python's slice.indices(): resolves start/stop/step against a length.
struct slice_range {
  int64_t start, stop, step, count;
};
slice_range resolve_slice(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step);

}  // namespace hearth::jinja::strings
