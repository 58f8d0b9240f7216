#include "vocab_cases.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <sstream>

#include "gguf/gguf_file.h"

namespace hearth::test {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

vocab load_vocab(const std::string& path) {
  gguf_file f = gguf_file::open(path);
  return vocab::from_gguf(f);
}

std::string vocab_path(const std::string& name) {
  return std::string(HEARTH_SHARED_DIR) + "/vocab/ggml-vocab-" + name + ".gguf";
}

// llama.cpp's test-tokenizer-0 convention: the .inp content is cut at every
// "\n__ggml_vocab_test__\n"; the text after the last separator (empty here) is not a case, an
// empty text between two separators is. The .out has one line of ids per case.
std::vector<vocab_case> read_vocab_cases(const std::string& gguf_path) {
  const std::string raw = read_file(gguf_path + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(gguf_path + ".out");
  REQUIRE(out);
  std::vector<vocab_case> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    REQUIRE(i < inputs.size());
    std::istringstream ids(line);
    vocab_case c{inputs[i], {}};
    for (token_id id; ids >> id;) c.expected.push_back(id);
    REQUIRE(ids.eof());  // the whole line was ids
    cases.push_back(std::move(c));
  }
  REQUIRE(cases.size() == inputs.size());
  return cases;
}

}  // namespace hearth::test
