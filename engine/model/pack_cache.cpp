#include "model/pack_cache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "fnv1a.h"
#include "kernels/packing.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

namespace hearth {

namespace {

constexpr char cache_magic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'P', 'K'};
constexpr uint32_t cache_format_version = 1;
constexpr uint64_t payload_alignment = uint64_t{2} << 20;  // a 2 MiB page
constexpr uint64_t min_free_after_write = uint64_t{1} << 30;

struct header_writer {
  std::vector<uint8_t> out;
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
};

std::string errno_text() { return std::strerror(errno); }

bool write_all(int fd, const uint8_t* p, size_t n, uint64_t at) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
  }
  return true;
}

bool read_all(int fd, uint8_t* p, size_t n, uint64_t at) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(at));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    at += static_cast<uint64_t>(r);
  }
  return true;
}

// The value of `field` (in kB) in /proc/self/smaps for the mapping that starts at `start`.
size_t smaps_field_kb(const void* start, const std::string& field) {
  std::ifstream in("/proc/self/smaps");
  const auto want = reinterpret_cast<uintptr_t>(start);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    // A mapping's first line: "start-end perms offset dev inode [path]", addresses in hex.
    const size_t dash = line.find('-');
    if (dash != std::string::npos && dash > 0 && std::all_of(line.begin(), line.begin() + static_cast<long>(dash), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      if (inside) return 0;
      inside = std::stoull(line.substr(0, dash), nullptr, 16) == want;
      continue;
    }
    if (inside && line.compare(0, field.size(), field) == 0 && line.size() > field.size() && line[field.size()] == ':') {
      return std::stoull(line.substr(field.size() + 1));
    }
  }
  return 0;
}

// Removes the temporary files that writers of `path` left when they died before the rename (a
// SIGKILL, a power cut): "<path>.tmp-PID-N" whose process is gone from this PID namespace and
// which nothing has written for 10 minutes (a writer in another namespace sharing the directory
// writes more often than that).
void remove_orphaned_temporaries(const std::filesystem::path& path, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const std::string prefix = path.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos ||
        !std::all_of(rest.begin(), rest.begin() + static_cast<long>(dash), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code time_ec;
    const auto written = fs::last_write_time(it->path(), time_ec);
    if (time_ec || fs::file_time_type::clock::now() - written < std::chrono::minutes(10)) continue;
    std::error_code rm_ec;
    fs::remove(it->path(), rm_ec);
  }
}

// Where the payload starts after a header of `header_bytes`: the next 2 MiB boundary.
uint64_t payload_offset_after(uint64_t header_bytes) {
  return (header_bytes + payload_alignment - 1) / payload_alignment * payload_alignment;
}

}  // namespace

uint64_t pack_layout_hash(const std::vector<ggml_type>& types) {
  constexpr int64_t rows = 17, cols = 512;
  uint64_t h = fnv1a64_basis;
  for (const ggml_type t : types) {
    const size_t row_bytes = ggml_row_size(t, cols);
    std::vector<uint8_t> src(row_bytes * rows);
    uint32_t x = 0x9e3779b9u ^ static_cast<uint32_t>(t);
    for (uint8_t& b : src) {  // xorshift32: the same sample on every machine
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      b = static_cast<uint8_t>(x);
    }
    std::vector<uint8_t> packed(kernels::packed_bytes(t, rows, cols));
    kernels::pack_weights(t, src.data(), row_bytes, rows, cols, packed.data(), 0, (rows + 15) / 16);
    const auto id = static_cast<uint32_t>(t);
    h = fnv1a64(reinterpret_cast<const uint8_t*>(&id), sizeof id, h);
    h = fnv1a64(packed.data(), packed.size(), h);
  }
  return h;
}

std::vector<uint8_t> pack_cache_header(const pack_cache_key& key) {
  header_writer w;
  w.bytes(cache_magic, sizeof cache_magic);
  w.u32(cache_format_version);
  w.u32(static_cast<uint32_t>(key.kernels.size()));
  w.bytes(key.kernels.data(), key.kernels.size());
  w.u64(key.model_size);
  w.u64(static_cast<uint64_t>(key.model_mtime_ns));
  w.u64(key.model_hash);
  w.u64(key.layout_hash);
  w.u64(key.payload_bytes);
  w.u64(key.matrices.size());
  for (const pack_cache_matrix& m : key.matrices) {
    w.u32(static_cast<uint32_t>(m.type));
    w.u64(static_cast<uint64_t>(m.rows));
    w.u64(static_cast<uint64_t>(m.cols));
    w.u64(m.offset);
    w.u64(m.bytes);
  }
  return std::move(w.out);
}

uint64_t pack_cache_payload_offset(const pack_cache_key& key) { return payload_offset_after(pack_cache_header(key).size()); }

std::optional<pack_cache> pack_cache::map(const std::filesystem::path& path, const pack_cache_key& key,
                                          std::string& why) {
  pack_cache c;
  c.path_ = path.string();
  c.fd_ = ::open(c.path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (c.fd_ < 0) {
    why = errno == ENOENT ? "there is none" : "cannot open it: " + errno_text();
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(c.fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    why = "it is not a regular file";
    return std::nullopt;
  }
  c.size_ = static_cast<uint64_t>(st.st_size);
  c.mtime_ns_ = stat_mtime_ns(st);
  const std::vector<uint8_t> want = pack_cache_header(key);
  std::vector<uint8_t> have(want.size());
  if (c.size_ < want.size() || !read_all(c.fd_, have.data(), have.size(), 0) || have != want) {
    why = "it was made for another model file, kernel set or packing";
    return std::nullopt;
  }
  const uint64_t offset = payload_offset_after(want.size());
  if (c.size_ != offset + key.payload_bytes) {
    why = "it is " + std::to_string(c.size_) + " bytes, expected " + std::to_string(offset + key.payload_bytes);
    return std::nullopt;
  }
  if (key.payload_bytes == 0) {
    why = "it holds no weights";
    return std::nullopt;
  }
  if (!c.map_payload(offset, key.payload_bytes, why)) return std::nullopt;
  // Pages the page cache holds in folios under 2 MiB (writing a file leaves some so) are mapped
  // with 4 KiB entries. Drop them once and read them again: read through a mapping that asked
  // for huge pages, the kernel brings them in as 2 MiB folios where it can. (Where none came in
  // as 2 MiB pages, the file system likely keeps no large folios at all: no second read.)
  if (const size_t huge_bytes = c.huge_mapped_bytes(); huge_bytes > 0 && huge_bytes < c.mapped_) {
    c.unmap();
    ::posix_fadvise(c.fd_, 0, 0, POSIX_FADV_DONTNEED);
    if (!c.map_payload(offset, key.payload_bytes, why)) return std::nullopt;
  }
  return c;
}

std::string pack_cache::write(const std::filesystem::path& path, const pack_cache_key& key, const uint8_t* payload,
                              std::stop_token stop) {
  const std::vector<uint8_t> header = pack_cache_header(key);
  const uint64_t offset = payload_offset_after(header.size()), size = offset + key.payload_bytes;
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  remove_orphaned_temporaries(path, dir);  // before the free space is counted
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) == 0) {
    const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes < size + min_free_after_write) {
      return "it needs " + std::to_string(size >> 20) + " MiB and would leave less than 1 GiB free on the disk (" +
             std::to_string(free_bytes >> 20) + " MiB free)";
    }
  }
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);  // the weights: the owner's only
  if (fd < 0) return "cannot create " + tmp + ": " + errno_text();
  std::string failed;
  const auto fail = [&](const std::string& what) {
    if (failed.empty()) failed = what;
  };
  if (!write_all(fd, header.data(), header.size(), 0)) fail("cannot write " + tmp + ": " + errno_text());
  constexpr size_t chunk = size_t{64} << 20;
  for (const pack_cache_matrix& m : key.matrices) {
    for (uint64_t done = 0; failed.empty() && done < m.bytes; done += chunk) {
      if (stop.stop_requested()) fail("stopped");
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, m.bytes - done));
      if (failed.empty() && !write_all(fd, payload + m.offset + done, n, offset + m.offset + done)) {
        fail("cannot write " + tmp + ": " + errno_text());
      }
    }
  }
  // The gaps between matrices and the payload's tail are holes: zeros, as the format says.
  if (failed.empty() && ::ftruncate(fd, static_cast<off_t>(size)) != 0) fail("cannot size " + tmp + ": " + errno_text());
  if (failed.empty() && ::fsync(fd) != 0) fail("cannot sync " + tmp + ": " + errno_text());
  if (::close(fd) != 0) fail("cannot write " + tmp + ": " + errno_text());
  if (failed.empty() && ::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + ": " + errno_text());
  if (!failed.empty()) {
    ::unlink(tmp.c_str());
    return failed;
  }
  // Writing leaves the file's pages in the page cache in folios of all sizes, and the arena holds
  // the same bytes meanwhile: drop them (they are clean, synced), and map() reads them back in as
  // 2 MiB folios.
  if (const int r = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); r >= 0) {
    ::posix_fadvise(r, 0, 0, POSIX_FADV_DONTNEED);
    ::close(r);
  }
  if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    ::fsync(d);  // the rename itself
    ::close(d);
  }
  return {};
}

bool pack_cache::map_payload(uint64_t offset, size_t n, std::string& why) {
  // A 2 MiB-aligned address: reserve 2 MiB more than the payload needs, map the file over the
  // aligned part, and give back the rest.
  void* r = ::mmap(nullptr, n + payload_alignment, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) {
    why = "cannot reserve " + std::to_string(n) + " bytes of address space: " + errno_text();
    return false;
  }
  const auto lo = reinterpret_cast<uintptr_t>(r);
  const uintptr_t aligned = (lo + payload_alignment - 1) / payload_alignment * payload_alignment;
  const uintptr_t end = aligned + (n + 4095) / 4096 * 4096, hi = lo + n + payload_alignment;
  if (aligned > lo) ::munmap(r, aligned - lo);
  if (hi > end) ::munmap(reinterpret_cast<void*>(end), hi - end);
  void* m = ::mmap(reinterpret_cast<void*>(aligned), n, PROT_READ, MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(offset));
  if (m == MAP_FAILED) {
    why = "cannot map it: " + errno_text();
    ::munmap(reinterpret_cast<void*>(aligned), end - aligned);
    return false;
  }
  base_ = static_cast<const uint8_t*>(m);
  mapped_ = n;
  guard_ = mapping_guard(base_, n);
  ::madvise(m, n, MADV_HUGEPAGE);
  if (::madvise(m, n, MADV_POPULATE_READ) != 0) {
    if (errno != EINVAL) {
      why = "cannot read it: " + errno_text();
      return false;
    }
    // Before Linux 5.14: a read of every page.
    std::atomic<uint8_t> sink{0};
    for (size_t i = 0; i < n; i += 4096) sink.fetch_xor(base_[i], std::memory_order_relaxed);
  }
  return true;
}

void pack_cache::unmap() {
  guard_ = mapping_guard();
  if (base_) ::munmap(const_cast<uint8_t*>(base_), mapped_);
  base_ = nullptr;
  mapped_ = 0;
}

pack_cache::pack_cache(pack_cache&& o) noexcept { *this = std::move(o); }

pack_cache& pack_cache::operator=(pack_cache&& o) noexcept {
  if (this != &o) {
    close();
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
    mtime_ns_ = o.mtime_ns_;
    base_ = std::exchange(o.base_, nullptr);
    mapped_ = std::exchange(o.mapped_, 0);
    guard_ = std::move(o.guard_);
  }
  return *this;
}

pack_cache::~pack_cache() { close(); }

void pack_cache::close() {
  unmap();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

size_t pack_cache::huge_mapped_bytes() const {
  if (!base_) return 0;
  try {
    return smaps_field_kb(base_, "FilePmdMapped") << 10;
  } catch (const std::exception&) {  // an unreadable number
    return 0;
  }
}

std::optional<std::string> pack_cache::change_on_disk() const {
  return mapped_file_change(guard_, fd_, size_, mtime_ns_);
}

}  // namespace hearth
