#include "reference.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "tokenizer/utf8.h"

namespace hearth::test {

namespace {

// The gibberish of random-weight models is not always valid UTF-8, which JSON parsers reject:
// replace each invalid byte by U+FFFD before parsing.
std::string sanitize_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    utf8_scan c = utf8_scan_one(std::string_view(s).substr(i));
    if (c.kind == utf8_scan::complete) {
      out.append(s, i, c.length);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += c.length;
  }
  return out;
}

}  // namespace

std::string shared_path(const std::string& relative) { return std::string(HEARTH_SHARED_DIR) + "/" + relative; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<reference_case> read_reference(const std::string& name) {
  std::ifstream in(shared_path("reference/" + name));
  if (!in) throw std::runtime_error("cannot open reference " + name);
  std::vector<reference_case> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(sanitize_utf8(line));
    out.push_back({j.at("prompt"), j.at("prompt_tokens"), j.at("greedy_tokens"), j.value("greedy_text", ""),
                   j.value("first_logits", std::vector<float>{})});
  }
  if (out.empty()) throw std::runtime_error("reference " + name + " holds no case");
  return out;
}

std::vector<reference_case> read_reference(const std::string& name, size_t expected_cases) {
  std::vector<reference_case> out = read_reference(name);
  INFO("reference " << name);
  REQUIRE(out.size() == expected_cases);
  return out;
}

double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("cosine_similarity: vectors of different lengths");
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace hearth::test
