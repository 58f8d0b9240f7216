#pragma once
// The repacked weights (kernels/packing.h) kept in a file, `MODEL.hearth-cache` beside the
// model, so that a later start maps them from the page cache instead of taking fresh memory
// for them (which the kernel must zero) and repacking the file into it.
//
// A cache stands for exactly one (model file, kernel set, packed layout). Its header holds the
// model file's size and modification time, a hash of the file's metadata and tensor-info bytes,
// the kernel set's name, a hash of what packing makes of a fixed sample of each packed type
// (so a change to a packed layout makes old caches stale without anyone bumping a version), and
// the packed matrices' list: type, rows, columns, offset and bytes. map() uses a cache only when
// its header equals the header computed from the model being loaded, byte for byte, and the
// file is exactly as long as that header says: no size or offset is ever read from a cache.
// The rest is packed weights, for which every byte value is valid (fp16 scales included, as in
// a GGUF file), so a crafted cache can change a model's outputs, as a crafted model file can,
// but cannot make the engine read or write outside its buffers.
//
// A cache is written (mode 0600: it holds the model's weights) under a temporary name in the
// model's directory, synced, then renamed into place: a reader never sees part of one, a crash leaves no cache rather than a torn one, and a
// process that has the old cache mapped keeps its bytes. A cache that is truncated or rewritten
// in place while mapped reads as zeros where pages vanished (mapping_guard) and change_on_disk()
// says so, as for the model file.
//
// Layout: the header at offset 0, then zeros up to the payload at a 2 MiB boundary (so the page
// cache can map it with 2 MiB pages), then the payload: the packed matrices at their offsets.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "gguf/ggml_type.h"
#include "gguf/mapping_guard.h"

namespace hearth {

struct pack_cache_matrix {
  ggml_type type = ggml_type::f32;
  int64_t rows = 0, cols = 0;
  uint64_t offset = 0;  // in the payload
  uint64_t bytes = 0;   // kernels::packed_bytes(type, rows, cols)
};

// Everything a cache must match. Built by the loader from the model file and the kernel set.
struct pack_cache_key {
  std::string kernels;          // the kernel set's name
  uint64_t model_size = 0;      // bytes of the model file
  int64_t model_mtime_ns = 0;   // its modification time
  uint64_t model_hash = 0;      // fnv1a64 (fnv1a.h) of its bytes before the tensor data (metadata, tensor infos)
  uint64_t layout_hash = 0;     // pack_layout_hash() of the types packed
  std::vector<pack_cache_matrix> matrices;
  uint64_t payload_bytes = 0;   // the payload's length (the matrices lie inside it)
};

// A hash of what kernels::pack_weights makes of a fixed pseudo-random sample of each type in
// `types` (17 rows of 512 columns: one whole group of 16 rows and one partial group).
// Precondition: kernels::packable(t) for each.
uint64_t pack_layout_hash(const std::vector<ggml_type>& types);

// The serialized header of `key` (what a cache file starts with).
std::vector<uint8_t> pack_cache_header(const pack_cache_key& key);
// Where the payload starts in a cache file: the header's length rounded up to 2 MiB.
uint64_t pack_cache_payload_offset(const pack_cache_key& key);

class pack_cache {
 public:
  // The cache file at `path` mapped read-only, if it holds `key`'s packed weights; otherwise
  // nullopt, with `why` saying why not ("there is none", "it was made for another model file,
  // kernel set or packing", "it is N bytes, expected M", or the system error). The payload is
  // mapped at a 2 MiB-aligned address, asked for huge pages and read in (a cache whose pages are
  // in the page cache maps in milliseconds). When the page cache holds some of it in pages under
  // 2 MiB, those are dropped and read once more, which brings them in as 2 MiB pages where the
  // kernel can (huge_mapped_bytes() says how much it could).
  static std::optional<pack_cache> map(const std::filesystem::path& path, const pack_cache_key& key, std::string& why);

  // Writes a cache of `key` whose payload is `payload` (key.payload_bytes long): a temporary file
  // in the same directory, synced, then renamed to `path`. Returns an empty string on success,
  // else why it was not written (the system error, or too little disk space: it leaves at least
  // 1 GiB free); the temporary file is removed. Temporary files that dead writers left beside
  // `path` (a process gone, nothing written for 10 minutes) are removed first. Stops early
  // (returning "stopped") once `stop` is requested. Reads `payload` only; any thread.
  static std::string write(const std::filesystem::path& path, const pack_cache_key& key, const uint8_t* payload,
                           std::stop_token stop = {});

  pack_cache(pack_cache&& o) noexcept;
  pack_cache& operator=(pack_cache&& o) noexcept;
  pack_cache(const pack_cache&) = delete;
  pack_cache& operator=(const pack_cache&) = delete;
  ~pack_cache();

  const std::string& path() const { return path_; }
  const uint8_t* payload() const { return base_; }
  // Bytes of the payload the page tables map with 2 MiB pages (FilePmdMapped in
  // /proc/self/smaps; 0 when that cannot be read). Decode streams every weight once per step,
  // so 4 KiB pages there cost a TLB miss every 4 KiB.
  size_t huge_mapped_bytes() const;
  // As gguf_file::change_on_disk, for the cache file.
  std::optional<std::string> change_on_disk() const;

 private:
  pack_cache() = default;
  // Maps `n` bytes of the file from `offset` at a 2 MiB-aligned address, asks for huge pages and
  // reads them in. False with `why` on failure.
  bool map_payload(uint64_t offset, size_t n, std::string& why);
  void unmap();
  void close();

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;  // of the file
  int64_t mtime_ns_ = 0;
  const uint8_t* base_ = nullptr;  // the payload's mapping
  size_t mapped_ = 0;
  mapping_guard guard_;
};

}  // namespace hearth
