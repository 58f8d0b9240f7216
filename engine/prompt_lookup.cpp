#include "prompt_lookup.h"

namespace hearth {

namespace {

// Whether the n tokens at `at` equal the context's last n (at + n < size).
bool matches_suffix(const token_context& c, size_t at, size_t n) {
  const size_t key = c.size() - n;
  for (size_t k = n; k-- > 0;) {  // last token first: the cheapest miss
    if (c[at + k] != c[key + k]) return false;
  }
  return true;
}

}  // namespace

void prompt_lookup(const token_context& context, int32_t max_tokens, std::vector<token_id>& out,
                   const prompt_lookup_options& o) {
  out.clear();
  if (max_tokens < 1) return;
  const size_t size = context.size();
  for (int32_t n = o.max_ngram; n >= o.min_ngram; --n) {
    const size_t len = static_cast<size_t>(n);
    if (size < len + 1) continue;
    // The latest earlier occurrence: it starts at most at size - len - 1, so a token follows it.
    for (size_t at = size - len; at-- > 0;) {
      if (!matches_suffix(context, at, len)) continue;
      const size_t start = at + len;
      for (size_t k = 0; k < static_cast<size_t>(max_tokens); ++k) {
        const size_t idx = start + k;
        out.push_back(idx < size ? context[idx] : out[idx - size]);
      }
      return;
    }
  }
}

}  // namespace hearth
