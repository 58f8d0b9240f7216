// fuzz_seeds DIR: writes every target's seed corpus to DIR/<target>/ (scripts/fuzz runs it).
#include <cstdio>
#include <exception>

#include "fuzz_seeds.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  try {
    const auto corpora = hearth::fuzz::make_seed_corpora();
    hearth::fuzz::write_seed_corpora(corpora, argv[1]);
    for (const auto& [target, seeds] : corpora) std::printf("%s: %zu seeds\n", target.c_str(), seeds.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
