#include "fuzz_fixtures.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "gguf/gguf_file.h"

namespace hearth::fuzz {

const vocab& shared_vocab(std::string_view file) {
  static std::map<std::string, std::unique_ptr<vocab>, std::less<>> loaded;
  auto it = loaded.find(file);
  if (it == loaded.end()) {
    gguf_file f = gguf_file::open(std::string(HEARTH_SHARED_DIR) + "/vocab/" + std::string(file));
    it = loaded.emplace(std::string(file), std::make_unique<vocab>(vocab::from_gguf(f))).first;
  }
  return *it->second;
}

const std::vector<std::string>& shared_chat_templates() {
  static const std::vector<std::string> templates = [] {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(std::string(HEARTH_SHARED_DIR) + "/templates"))
      if (e.path().extension() == ".jinja") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> out = {""};
    for (const auto& p : files) {
      std::ifstream in(p, std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      out.push_back(s.str());
    }
    return out;
  }();
  return templates;
}

}  // namespace hearth::fuzz
