// A real model cut short at every section boundary and at every byte of its header: each cut
// must give a load_error (never a crash, never another exception) that names the field being
// read and says what went wrong. Expectations come from an independent walk of the fixture
// (gguf_test_map), not from the reader.
#include <catch2/catch.hpp>

#include <typeinfo>

#include "engine/gguf_test_map.h"
#include "engine/gguf_test_util.h"
#include "gguf/gguf_file.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;

namespace {

const char* const problem_words[] = {"truncated", "exceeds", "cannot fit", "needs at least",
                                     "shorter than"};

// Opens `p` (the fixture cut to `len` bytes) and compares the outcome with the prediction.
// Returns an empty string when it matches, else what went wrong.
std::string check_cut(const fs::path& p, const gguf_map& m, size_t len) {
  const std::optional<std::string> subject = truncation_subject(m, len);
  std::string msg;
  try {
    gguf_file f = gguf_file::open(p);
    touch_everything(f);
  } catch (const load_error& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    return std::string("threw ") + typeid(e).name() + " instead of load_error: " + e.what();
  }
  if (!subject) return msg.empty() ? "" : "expected to open, got: " + msg;
  if (msg.empty()) return "opened; expected an error naming " + *subject;
  if (msg.rfind(p.string() + ": ", 0) != 0) return "message does not start with the path: " + msg;
  if (msg.find(*subject) == std::string::npos) {
    return "message does not name " + *subject + ": " + msg;
  }
  for (const char* word : problem_words) {
    if (msg.find(word) != std::string::npos) return "";
  }
  return "message states no problem: " + msg;
}

struct fixture {
  std::vector<uint8_t> bytes = read_bytes(shared_model("stories260K-q8_0.gguf"));
  gguf_map map = map_gguf(bytes);
};

}  // namespace

TEST_CASE("gguf truncation: the map of the fixture matches its known layout", "[gguf]") {
  fixture fx;
  const gguf_map& m = fx.map;
  REQUIRE(m.kvs.size() == 23);
  REQUIRE(m.tensor_infos.size() == 47);
  CHECK(m.kvs.front().subject == "general.architecture");
  CHECK(m.kvs.front().begin == 24);
  CHECK(m.tensor_infos.front().begin == m.kvs.back().end);
  CHECK(m.data_offset % 32 == 0);
  CHECK(m.data_offset - m.header_end < 32);
  // The last tensor, blk.4.ffn_up.weight, is Q8_0 [64, 172]: 172 rows of 2 blocks of 34 bytes.
  CHECK(m.tensor_data.back().subject == "blk.4.ffn_up.weight");
  CHECK(m.tensor_data.back().end - m.tensor_data.back().begin == 172 * 2 * 34);
  CHECK(m.data_end == m.tensor_data.back().end);
  CHECK(fx.bytes.size() == (m.data_end + 31) / 32 * 32);  // ggml pads the last tensor too
  gguf_file f = gguf_file::open(shared_model("stories260K-q8_0.gguf"));
  CHECK(f.data_offset() == m.data_offset);
}

TEST_CASE("gguf truncation: at each section boundary", "[gguf]") {
  fixture fx;
  const gguf_map& m = fx.map;
  struct cut {
    size_t len;
    std::string where;
  };
  std::vector<cut> cuts = {{0, "empty file"},
                           {4, "after magic"},
                           {8, "after version"},
                           {16, "after the tensor count"},
                           {24, "after the counts"}};
  for (size_t k = 0; k < m.kvs.size(); ++k) {
    const gguf_span& kv = m.kvs[k];
    std::string name = "kv " + std::to_string(k) + " '" + kv.subject + "'";
    cuts.push_back({kv.begin + 4, "inside the key length of " + name});
    cuts.push_back({kv.begin + 9, "inside the key of " + name});
    cuts.push_back({kv.begin + 8 + kv.subject.size() + 2, "inside the type of " + name});
    cuts.push_back({kv.end - 1, "one byte short of the end of " + name});
    cuts.push_back({kv.end, "after " + name});
  }
  for (size_t k = 0; k < m.tensor_infos.size(); ++k) {
    const gguf_span& ti = m.tensor_infos[k];
    std::string name = "tensor info " + std::to_string(k) + " '" + ti.subject + "'";
    cuts.push_back({ti.begin + 3, "inside the name length of " + name});
    cuts.push_back({ti.begin + 8 + ti.subject.size() / 2, "inside the name of " + name});
    cuts.push_back({ti.begin + 8 + ti.subject.size() + 2, "inside n_dims of " + name});
    cuts.push_back({ti.end - 4, "inside the offset of " + name});
    cuts.push_back({ti.end, "after " + name});
  }
  const gguf_span& last = m.tensor_data.back();
  cuts.push_back({m.data_offset - 1, "one byte before the data section"});
  cuts.push_back({m.data_offset, "at the start of the data section"});
  cuts.push_back({(last.begin + last.end) / 2, "inside the last tensor's data"});
  cuts.push_back({m.data_end - 1, "one byte short of the last tensor's end"});

  temp_dir dir;
  const fs::path p = dir.file("cut.gguf");
  for (const cut& c : cuts) {
    INFO("cut at " << c.len << ": " << c.where);
    write_bytes(p, std::vector<uint8_t>(fx.bytes.begin(), fx.bytes.begin() + c.len));
    REQUIRE(truncation_subject(m, c.len).has_value());
    CHECK(check_cut(p, m, c.len) == "");
  }
}

TEST_CASE("gguf truncation: full messages at a few cuts", "[gguf]") {
  fixture fx;
  const gguf_map& m = fx.map;
  const gguf_span& last = m.tensor_data.back();
  temp_dir dir;
  const fs::path p = dir.file("cut.gguf");
  auto cut_to = [&](size_t len) {
    write_bytes(p, std::vector<uint8_t>(fx.bytes.begin(), fx.bytes.begin() + len));
    return open_error(p);
  };
  const std::string path = p.string() + ": ";
  CHECK(cut_to(4) == path + "file is 4 bytes, shorter than a GGUF header (24 bytes)");
  CHECK(cut_to(24) == path + "metadata count 23 cannot fit in the 0 bytes left");
  CHECK(cut_to(24 + 23 * 13) == path + "tensor count 47 cannot fit in the 299 bytes left");
  CHECK(cut_to(m.data_offset - 1) == path + "truncated before the data section: it starts at " +
                                         std::to_string(m.data_offset) + ", file has " +
                                         std::to_string(m.data_offset - 1));
  const size_t data_size = m.data_end - 1 - m.data_offset;
  CHECK(cut_to(m.data_end - 1) ==
        path + "tensor 'blk.4.ffn_up.weight': offset " +
            std::to_string(last.begin - m.data_offset) +
            " + size 11696 exceeds the data section of " + std::to_string(data_size) +
            " bytes (expected offset + size <= " + std::to_string(data_size) + ")");

  // Cutting only the padding after the last tensor leaves a valid file.
  write_bytes(p, std::vector<uint8_t>(fx.bytes.begin(), fx.bytes.begin() + m.data_end));
  CHECK(gguf_file::open(p).tensors().size() == 47);
}

TEST_CASE("gguf truncation: every length through the header and into the data", "[gguf]") {
  fixture fx;
  const gguf_map& m = fx.map;
  temp_dir dir;
  const fs::path p = dir.file("cut.gguf");
  write_bytes(p, fx.bytes);
  // Past the header, the first tensor (256 bytes of F32) and into the second.
  const size_t longest = m.data_offset + 300;
  REQUIRE(longest < m.data_end);
  std::vector<std::string> failures;
  for (size_t len = longest + 1; len-- > 0;) {  // longest first: each cut shortens the same file
    fs::resize_file(p, len);
    std::string why = check_cut(p, m, len);
    if (!why.empty()) failures.push_back("cut at " + std::to_string(len) + ": " + why);
  }
  for (size_t k = 0; k < std::min<size_t>(failures.size(), 10); ++k) UNSCOPED_INFO(failures[k]);
  CHECK(failures.size() == 0);
}
