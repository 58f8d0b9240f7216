#pragma once
// Survives a mapped model file that shrinks while in use.
//
// Model weights are read straight from a read-only mmap of the file (shared page cache, fast
// start). If the file is truncated or rewritten in place while mapped, reading a page that no
// longer has file bytes behind it raises SIGBUS, which by default kills the process. A
// mapping_guard registers one mapping with a process-wide SIGBUS handler (installed on first
// use, SA_SIGINFO). When a fault's address lies inside a registered mapping, the handler maps
// an anonymous zero page over the faulting page (mmap MAP_FIXED, a plain system call) and marks
// the mapping as faulted; the faulting instruction then retries and reads zeros. The computation
// that read them produces garbage, which is why callers must check faulted() (see
// gguf_file::change_on_disk) after each unit of work and discard its results.
//
// Faults anywhere else go to the handler that was installed before ours (ASan's, for one), or
// get the default action (the process dies by SIGBUS, as it would without the guard).
//
// Replacing a file by rename (write a new file, then mv it over the old name) never faults: the
// mapping keeps the old inode, whose bytes stay intact until the last mapping of it goes away.
//
// Thread-safety: any thread may construct, destroy and query guards; the handler reads the
// registry lock-free. At most `max_guarded` mappings are guarded at once; beyond that a guard
// is inactive (guarded() is false) and the mapping behaves as an unguarded one.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

struct stat;

namespace hearth {

class mapping_guard {
 public:
  static constexpr int max_guarded = 64;

  mapping_guard() = default;
  // Registers [base, base + size). `base` must be page-aligned (an mmap result).
  mapping_guard(const void* base, size_t size);
  ~mapping_guard();
  mapping_guard(mapping_guard&& o) noexcept;
  mapping_guard& operator=(mapping_guard&& o) noexcept;
  mapping_guard(const mapping_guard&) = delete;
  mapping_guard& operator=(const mapping_guard&) = delete;

  bool guarded() const { return slot_ >= 0; }
  // Whether a page of the mapping vanished (and now reads as zeros). Never resets.
  bool faulted() const;

 private:
  void release();
  int slot_ = -1;
};

// A file's modification time in nanoseconds.
int64_t stat_mtime_ns(const struct stat& st);

// Why the bytes of a guarded mapping of the file open as `fd` can no longer be trusted, or
// nullopt: a page of it vanished (the file was truncated: those pages now read as zeros), or the
// file's size or modification time differs from `size` and `mtime_ns`, taken when it was opened
// (rewritten in place). Costs one fstat. (gguf_file::change_on_disk, pack_cache::change_on_disk)
std::optional<std::string> mapped_file_change(const mapping_guard& guard, int fd, uint64_t size, int64_t mtime_ns);

}  // namespace hearth
