#include "sampler.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "row_ops.h"

namespace hearth {

namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();
constexpr float max_finite = std::numeric_limits<float>::max();

// top_p over the whole vocabulary first buckets tokens by distance below the max logit, 1/32 of a
// logit wide; the last bucket also takes everything further down (weights below 1.3e-14).
constexpr size_t n_buckets = 1024;
constexpr float buckets_per_logit = 32.0f;

// Monotone in l (every step is), so a lower bucket never holds a smaller logit, and equal logits
// share a bucket. d is never NaN: max_l is finite and l <= max_l.
size_t bucket_of(float l, float max_l) {
  const float d = std::min((max_l - l) * buckets_per_logit, static_cast<float>(n_buckets - 1));
  return static_cast<size_t>(static_cast<int32_t>(d));  // float -> int32 is one instruction
}

// The total order of the contract: higher logit first, then lower id.
bool before(const auto& a, const auto& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Shortest text that reads back as v ("-1", "1.5", "nan", "inf").
std::string to_text(float v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

// "<field> must be <range> (got <v>)"; non-finite values get "a finite number" in front of the
// range, since "temperature must be >= 0 (got inf)" would read as a contradiction.
std::string range_error(const char* field, const char* range, float v) {
  std::string msg = std::string(field) + " must be ";
  if (!std::isfinite(v)) msg += "a finite number ";
  return msg + range + " (got " + to_text(v) + ")";
}

std::string range_error(const char* field, const char* range, int32_t v) {
  return std::string(field) + " must be " + range + " (got " + std::to_string(v) + ")";
}

// NaN would break the strict weak ordering the sorts rely on (undefined behaviour), and +inf would
// turn the softmax into inf - inf = NaN; both are mapped to values with the obvious meaning.
// Branch-free so the load loop vectorizes.
float sanitize(float l) {
  l = std::isnan(l) ? neg_inf : l;
  return l > max_finite ? max_finite : l;
}

// A double in [0, 1) from the top 53 bits: fully defined by the standard, unlike
// std::uniform_real_distribution whose algorithm is left to the implementation.
double unit_interval(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

}  // namespace

std::optional<std::string> validate(const sampling_params& p) {
  if (!(std::isfinite(p.temperature) && p.temperature >= 0.0f))
    return range_error("temperature", ">= 0", p.temperature);
  if (p.top_k < 0) return range_error("top_k", ">= 0", p.top_k);
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return range_error("top_p", "in (0, 1]", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return range_error("min_p", "in [0, 1]", p.min_p);
  if (!(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0.0f))
    return range_error("repeat_penalty", "> 0", p.repeat_penalty);
  if (p.repeat_last_n < -1) return range_error("repeat_last_n", ">= -1", p.repeat_last_n);
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f))
    return range_error("presence_penalty", "in [-2, 2]", p.presence_penalty);
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f))
    return range_error("frequency_penalty", "in [-2, 2]", p.frequency_penalty);
  return std::nullopt;
}

sampler::sampler(const sampling_params& p, int32_t n_vocab)
    : params_(p), n_vocab_(n_vocab), rng_(p.seed) {
  if (auto err = validate(p)) throw std::invalid_argument("sampling params: " + *err);
  if (n_vocab <= 0) throw std::invalid_argument("sampler: n_vocab must be > 0 (got " +
                                                std::to_string(n_vocab) + ")");
  const bool any_penalty = p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f ||
                           p.frequency_penalty != 0.0f;
  track_history_ = any_penalty && p.repeat_last_n != 0;
  if (track_history_) counts_.assign(static_cast<size_t>(n_vocab), 0);
  logits_.assign(static_cast<size_t>(n_vocab), 0.0f);
  if (p.top_p < 1.0f) bucket_mass_.assign(n_buckets, 0.0);
}

void sampler::retune(const sampling_params& p) {
  if (auto err = validate(p)) throw std::invalid_argument("sampling params: " + *err);
  if (p.repeat_penalty != params_.repeat_penalty || p.repeat_last_n != params_.repeat_last_n ||
      p.presence_penalty != params_.presence_penalty || p.frequency_penalty != params_.frequency_penalty ||
      p.seed != params_.seed) {
    throw std::invalid_argument("sampling params: only temperature, top_k, top_p and min_p can change while generating");
  }
  params_ = p;
  if (p.top_p < 1.0f && bucket_mass_.empty()) bucket_mass_.assign(n_buckets, 0.0);
}

checked_size sampler::max_bytes(int64_t n_vocab, int64_t positions) {
  const checked_size per_token = sizeof(int32_t) /* counts_ */ + sizeof(float) /* logits_ */ +
                                 sizeof(candidate) /* cand_ */ + sizeof(float) /* weights_ */;
  return per_token * n_vocab + checked_size(n_buckets) * sizeof(double) + checked_size(positions) * sizeof(int32_t);
}

void sampler::accept(int32_t token) {
  if (token < 0 || token >= n_vocab_)
    throw std::out_of_range("sampler::accept: token " + std::to_string(token) +
                            " outside [0, " + std::to_string(n_vocab_) + ")");
  if (!track_history_) return;
  const int32_t cap = params_.repeat_last_n;  // -1: unbounded
  if (cap < 0 || window_.size() < static_cast<size_t>(cap)) {
    window_.push_back(token);
  } else {
    --counts_[static_cast<size_t>(window_[window_head_])];
    window_[window_head_] = token;
    window_head_ = (window_head_ + 1) % window_.size();
  }
  ++counts_[static_cast<size_t>(token)];
}

int32_t sampler::sample(std::span<const float> logits, std::span<const uint32_t> allowed) {
  if (logits.size() != static_cast<size_t>(n_vocab_))
    throw std::invalid_argument("sampler::sample: got " + std::to_string(logits.size()) +
                                " logits, n_vocab is " + std::to_string(n_vocab_));
  if (!allowed.empty() && allowed.size() != (static_cast<size_t>(n_vocab_) + 31) / 32)
    throw std::invalid_argument("sampler::sample: a mask of " + std::to_string(allowed.size()) + " words for " +
                                std::to_string(n_vocab_) + " tokens");
  load_logits(logits, allowed);
  apply_penalties();
  if (params_.temperature == 0.0f) return static_cast<int32_t>(argmax(logits_));

  // Drawn first so that every path below, including the degenerate ones, consumes one output.
  const double u = unit_interval(rng_());
  select_top_k();
  if (!listed_ && cand_.capacity() < logits_.size()) {
    // Without top_k the survivors can be any part of the vocabulary: size the buffers for all of
    // it once, rather than growing them whenever a call keeps more tokens than any before.
    cand_.reserve(logits_.size());
    weights_.reserve(logits_.size());
  }
  const float max_l = listed_ ? cand_.front().logit : max_value(logits_);
  if (max_l == neg_inf) return static_cast<int32_t>(argmax(logits_));  // nothing has any probability: deterministic fallback

  if (params_.top_p < 1.0f) {
    if (listed_) top_p_listed(max_l);
    else top_p_all(max_l);
  }
  if (params_.min_p > 0.0f) min_p(max_l);
  list_all();
  return draw(max_l, u);
}

token_logprobs sampler::logprobs(int32_t chosen, int32_t top_n) const {
  // log-softmax: l - max - log(sum exp(l - max)), the sum in double. -inf stays -inf.
  const float max = *std::max_element(logits_.begin(), logits_.end());
  if (max == -std::numeric_limits<float>::infinity()) {  // nothing possible: every token alike
    token_logprobs out{{chosen, -std::log(static_cast<float>(n_vocab_))}, {}};
    for (int32_t id = 0; id < std::min({top_n, n_vocab_, max_top_logprobs}); ++id) out.top.push_back({id, out.chosen.logprob});
    return out;
  }
  double sum = 0;
  for (float l : logits_) sum += std::exp(static_cast<double>(l) - max);
  const double log_sum = std::log(sum);
  auto lp = [&](int32_t id) {
    return token_logprob{id, static_cast<float>(static_cast<double>(logits_[static_cast<size_t>(id)]) - max - log_sum)};
  };
  token_logprobs out;
  out.chosen = lp(chosen);
  const auto n = static_cast<size_t>(std::clamp<int32_t>(top_n, 0, std::min(n_vocab_, max_top_logprobs)));
  // The n best in total order (higher logit, then lower id), by a bounded insertion.
  std::vector<int32_t> best;
  best.reserve(n + 1);
  auto before = [&](int32_t a, int32_t b) {
    const float la = logits_[static_cast<size_t>(a)], lb = logits_[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  for (int32_t id = 0; id < n_vocab_ && n > 0; ++id) {
    if (best.size() == n && !before(id, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), id, before), id);
    if (best.size() > n) best.pop_back();
  }
  for (int32_t id : best) {
    if (logits_[static_cast<size_t>(id)] == neg_inf) break;  // impossible (masked): not an alternative
    out.top.push_back(lp(id));
  }
  return out;
}

void sampler::load_logits(std::span<const float> logits, std::span<const uint32_t> allowed) {
  if (allowed.empty()) {
    for (size_t i = 0; i < logits.size(); ++i) logits_[i] = sanitize(logits[i]);
  } else {
    for (size_t i = 0; i < logits.size(); ++i) logits_[i] = (allowed[i / 32] >> (i % 32)) & 1u ? sanitize(logits[i]) : neg_inf;
  }
  listed_ = false;
  sorted_ = false;
}

// llama.cpp's repetition rule (positive logits divided, others multiplied), then OpenAI's
// presence/frequency rule, once per distinct token of the window.
void sampler::apply_penalties() {
  if (!track_history_) return;
  const float rep = params_.repeat_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  // A token appears in window_ once per occurrence; its count is negated once it has been
  // penalized so repeats are skipped, then restored. O(window), no extra memory.
  for (int32_t t : window_) {
    int32_t& count = counts_[static_cast<size_t>(t)];
    if (count <= 0) continue;
    float& l = logits_[static_cast<size_t>(t)];
    l = l > 0.0f ? l / rep : l * rep;
    l -= presence + frequency * static_cast<float>(count);
    l = sanitize(l);  // a penalty can overflow a huge finite logit to +-inf
    count = -count;
  }
  for (int32_t t : window_) {
    int32_t& count = counts_[static_cast<size_t>(t)];
    if (count < 0) count = -count;
  }
}

// The k best in total order, sorted, in one pass: a heap of the best so far with the worst on
// top. Scanning in id order, a newcomer equal to the worst has the higher id and so loses; only a
// strictly larger logit gets in. O(n) compares plus O(k log k log(n/k)) expected heap work.
void sampler::select_top_k() {
  const size_t k = static_cast<size_t>(params_.top_k);
  const size_t n = logits_.size();
  if (k == 0 || k >= n) return;
  auto less = [](const candidate& a, const candidate& b) { return before(a, b); };
  cand_.clear();
  for (size_t i = 0; i < k; ++i) cand_.push_back(candidate{static_cast<int32_t>(i), logits_[i]});
  std::make_heap(cand_.begin(), cand_.end(), less);
  float worst = cand_.front().logit;  // kept in a register: the scan is one compare per token
  const float* logits = logits_.data();
  for (size_t i = k; i < n; ++i) {
    if (!(logits[i] > worst)) continue;
    std::pop_heap(cand_.begin(), cand_.end(), less);
    cand_.back() = candidate{static_cast<int32_t>(i), logits[i]};
    std::push_heap(cand_.begin(), cand_.end(), less);
    worst = cand_.front().logit;
  }
  std::sort_heap(cand_.begin(), cand_.end(), less);  // best first
  listed_ = true;
  sorted_ = true;
}

// top_p on a list sorted by select_top_k: the shortest prefix whose softmax mass (temperature 1,
// over the list) reaches top_p; at least one token.
void sampler::top_p_listed(float max_l) {
  double total = 0.0;
  for (const candidate& c : cand_) total += std::exp(c.logit - max_l);
  const double target = static_cast<double>(params_.top_p) * total;
  double cum = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    cum += std::exp(cand_[i].logit - max_l);
    if (cum >= target) {
      cand_.resize(i + 1);
      return;
    }
  }
  // Rounding kept the sum just short of the target: keep everything.
}

// top_p over the whole vocabulary without sorting it: a histogram of the mass by bucket locates
// the bucket where the cumulative mass crosses top_p; only that bucket is sorted. Expected O(n)
// (the crossing bucket is small unless the logits are nearly flat, then it degrades to a sort).
// The survivors are listed in id order.
void sampler::top_p_all(float max_l) {
  std::fill(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
  for (float l : logits_) {
    const size_t b = bucket_of(l, max_l);
    bucket_mass_[b] += std::exp(l - max_l);
  }
  // Summed per bucket rather than in the loop: one running sum is a chain of dependent adds.
  const double total = std::accumulate(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
  const double target = static_cast<double>(params_.top_p) * total;
  double cum = 0.0;  // mass of the buckets above the crossing one
  size_t cross = 0;
  while (cross < n_buckets && cum + bucket_mass_[cross] < target) cum += bucket_mass_[cross++];
  if (cross == n_buckets) return;  // rounding kept the sum just short of the target: keep all

  cand_.clear();
  for (size_t i = 0; i < logits_.size(); ++i)
    if (bucket_of(logits_[i], max_l) == cross)
      cand_.push_back(candidate{static_cast<int32_t>(i), logits_[i]});
  std::sort(cand_.begin(), cand_.end(),
            [](const candidate& a, const candidate& b) { return before(a, b); });
  candidate last = cand_.back();  // the last survivor in total order
  for (const candidate& c : cand_) {
    cum += std::exp(c.logit - max_l);
    if (cum >= target) {
      last = c;
      break;
    }
  }
  cand_.clear();
  for (size_t i = 0; i < logits_.size(); ++i) {
    const candidate c{static_cast<int32_t>(i), logits_[i]};
    if (!before(last, c)) cand_.push_back(c);
  }
  listed_ = true;
  sorted_ = false;
}

// Keeps tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p); p_max itself always
// stays. A ratio test, so it does not matter that earlier stages changed the normalization.
void sampler::min_p(float max_l) {
  const double floor = static_cast<double>(max_l) + std::log(static_cast<double>(params_.min_p));
  if (!listed_) {
    cand_.clear();
    for (size_t i = 0; i < logits_.size(); ++i)
      if (static_cast<double>(logits_[i]) >= floor)
        cand_.push_back(candidate{static_cast<int32_t>(i), logits_[i]});
    listed_ = true;
    return;
  }
  size_t kept = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {  // stable compaction: keeps the order defined
    if (static_cast<double>(cand_[i].logit) >= floor) {
      cand_[kept++] = cand_[i];
    } else if (sorted_) {
      break;  // sorted: everything after is smaller
    }
  }
  cand_.resize(kept);
}

// No stage truncated: every token survives, in id order.
void sampler::list_all() {
  if (listed_) return;
  cand_.resize(logits_.size());
  for (size_t i = 0; i < logits_.size(); ++i)
    cand_[i] = candidate{static_cast<int32_t>(i), logits_[i]};
  listed_ = true;
}

// Softmax at the temperature over the survivors, in their current (defined) order, and the
// inverse-CDF pick of u. The exponent is formed in double: with a tiny temperature, 1/T may
// overflow float and 0 * inf would be NaN.
int32_t sampler::draw(float max_l, double u) {
  const double inv_t = 1.0 / static_cast<double>(params_.temperature);
  weights_.resize(cand_.size());
  double total = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    const double z = (static_cast<double>(cand_[i].logit) - max_l) * inv_t;
    weights_[i] = std::exp(static_cast<float>(z));
    total += weights_[i];
  }
  const double target = u * total;
  double cum = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    if (weights_[i] <= 0.0f) continue;
    cum += weights_[i];
    last_positive = i;
    if (target < cum) return cand_[i].id;
  }
  return cand_[last_positive].id;  // u * total rounded up to total
}

}  // namespace hearth
