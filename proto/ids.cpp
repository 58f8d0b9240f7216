#include "proto/ids.h"

#include <chrono>
#include <random>

namespace hearth::proto {

namespace {

std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  return rng;
}

}  // namespace

uint64_t random_seed() { return thread_rng()(); }

std::string new_id(std::string_view prefix) {
  static constexpr std::string_view alphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  constexpr int n_chars = 24;
  std::string id(prefix);
  std::mt19937_64& rng = thread_rng();
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  for (int i = 0; i < n_chars; ++i) id += alphabet[pick(rng)];
  return id;
}

int64_t unix_time_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace hearth::proto
