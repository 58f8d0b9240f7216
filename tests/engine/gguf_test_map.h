#pragma once
// An independent walk over a valid GGUF file that records, for every byte range the reader
// needs, what a load_error must name when the file is cut inside that range. Used to predict
// the reader's error for every truncation length of a real file.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::test {

struct gguf_span {
  size_t begin = 0;
  size_t end = 0;       // the reader needs the file to reach at least here
  std::string subject;  // a substring a load_error for a cut before `end` must contain
};

struct gguf_map {
  // In the order the reader checks them. Besides the fields themselves this holds the up-front
  // bounds the reader applies (metadata and tensor counts, array element counts), each as
  // [where the count was read, that plus the minimal bytes the elements take).
  std::vector<gguf_span> spans;
  std::vector<gguf_span> kvs;           // whole key/value pairs; subject: the key
  std::vector<gguf_span> tensor_infos;  // whole tensor infos; subject: the tensor name
  std::vector<gguf_span> tensor_data;   // each tensor's bytes (absolute); subject: its name
  size_t header_end = 0;                // end of the last tensor info
  size_t data_offset = 0;
  size_t data_end = 0;  // end of the last byte any tensor uses
};

// Walks `bytes`, which must be a valid GGUF v2/v3 file (throws std::runtime_error otherwise).
gguf_map map_gguf(const std::vector<uint8_t>& bytes);

// What a load_error for the file cut to `len` bytes must name, or nullopt if the cut file is
// still valid (only the padding after the last tensor was cut).
std::optional<std::string> truncation_subject(const gguf_map& m, size_t len);

}  // namespace hearth::test
