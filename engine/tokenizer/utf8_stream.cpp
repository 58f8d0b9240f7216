#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace hearth {

namespace {
constexpr std::string_view replacement_utf8 = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace

std::string utf8_stream::push(std::string_view bytes) {
  // Only a valid but incomplete prefix is ever held, so rescanning it with the new bytes
  // decides it exactly as if the whole stream had arrived at once.
  std::string joined;
  std::string_view in = bytes;
  if (!pending_.empty()) {
    joined = std::move(pending_);
    joined.append(bytes);
    in = joined;
    pending_.clear();
  }
  std::string out;
  out.reserve(in.size());
  size_t run = 0;  // start of the run of complete characters not yet copied to out
  size_t i = 0;
  while (i < in.size()) {
    utf8_scan r = utf8_scan_one(in.substr(i));
    if (r.kind == utf8_scan::complete) {
      i += r.length;
      continue;
    }
    out.append(in.substr(run, i - run));
    if (r.kind == utf8_scan::invalid) {
      out.append(replacement_utf8);
      i += r.length;
      run = i;
    } else {
      pending_.assign(in.substr(i));
      return out;
    }
  }
  out.append(in.substr(run));
  return out;
}

std::string utf8_stream::flush() {
  // What is held is one valid prefix, i.e. one maximal subpart: one U+FFFD.
  if (pending_.empty()) return {};
  pending_.clear();
  return std::string(replacement_utf8);
}

}  // namespace hearth
