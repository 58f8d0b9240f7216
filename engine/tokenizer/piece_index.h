#pragma once
// Piece text -> token id, as a flat open-addressing table. The merge loop looks up every
// adjacent pair of symbols, most of which are not pieces; a flat table answers those from one
// cache line without touching the pieces, where a node-based map costs several misses.
//
// The index stores ids only; lookups take the vocab's piece list, so copying or moving the
// vocab never leaves the index pointing at old strings. Immutable after construction.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class piece_index {
 public:
  // Empties the index and makes room for n pieces; at most n may be inserted after it.
  void reserve(size_t n);
  // Adds pieces[id] (not empty). Returns -1, or the id already holding the same text (then
  // nothing is added).
  int32_t insert(int32_t id, const std::vector<std::string>& pieces);
  // The id whose piece is `text`, or -1.
  int32_t find(std::string_view text, const std::vector<std::string>& pieces) const;

 private:
  struct slot {
    uint32_t tag;  // the hash's high half, to skip most mismatches without reading the piece
    int32_t id;    // -1 when empty
  };
  static uint64_t hash(std::string_view s);

  std::vector<slot> slots_;
  uint64_t mask_ = 0;
};

}  // namespace hearth
