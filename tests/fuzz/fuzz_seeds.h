#pragma once
// Seed corpora for the fuzz targets, made from ../shared and the test sources (nothing binary is
// committed): tiny models written with the stories260K vocabulary, the bundled quantized model,
// the vocab test inputs, the JSON request bodies of the tests, and the template test
// conversations. Deterministic: the same files on every run.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace hearth::fuzz {

// target name -> (seed name -> bytes). Throws on unreadable fixtures.
using seed_corpora = std::map<std::string, std::map<std::string, std::vector<uint8_t>>>;
seed_corpora make_seed_corpora();

// Writes each corpus to dir/<target>/<seed name>, replacing what was there.
void write_seed_corpora(const seed_corpora& corpora, const std::filesystem::path& dir);

}  // namespace hearth::fuzz
