#pragma once
// Holds back streamed text that could still be the start of a stop string; cuts at the first full
// match. Text arrives in token-sized pieces, so a stop string may span several pieces.
//
// Contract:
// - The stop string and everything after it are never emitted.
// - Text that cannot be the start of a stop string is emitted at once: only the longest suffix of
//   the text seen so far that is a proper prefix of some stop string is held back.
// - When several stop strings occur in the text seen so far (the held-back part plus the new
//   piece), the one starting earliest wins. Matching is byte-exact, no normalization.
// - Empty stop strings are ignored; with no stop strings every piece passes through unchanged.
//
// UTF-8: stop strings must be valid UTF-8 (checked). Then every cut is made just before a byte
// equal to the first byte of a stop string, which is never a continuation byte (10xxxxxx), so a
// cut never lands inside a multi-byte character that arrived whole, whatever the piece sizes.
// Pieces that end in the middle of a character are passed on as they are; joining those is the
// detokenizer's job.
//
// Cost: O(piece length x number of stops) per push (one KMP automaton per stop string), so a long
// or repetitive stop string cannot make a push quadratic. Not thread-safe; one per sequence.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

// An error message naming the offending stop string (by index), or nullopt if all are usable.
std::optional<std::string> validate_stops(const std::vector<std::string>& stops);

class stop_matcher {
 public:
  // Throws std::invalid_argument with validate_stops()'s message if a stop string is invalid.
  explicit stop_matcher(std::vector<std::string> stops);

  // Feeds the next piece; returns the text that is safe to emit now (possibly empty).
  // After a match, returns the text before the stop string, then "" forever.
  std::string push(std::string_view text);
  // End of generation without a match: returns the held-back text ("" after a match). Later
  // pushes start afresh, as if nothing had been pushed before.
  std::string flush();
  // A stop string matched: nothing more will be emitted.
  bool stopped() const { return matched_.has_value(); }
  // The stop string that matched (one of the constructor's strings); precondition: stopped().
  const std::string& matched() const { return stops_[*matched_].text; }

 private:
  struct stop {
    std::string text;
    std::vector<size_t> failure;  // KMP: failure[i] = longest proper border of text[0, i]
    size_t state = 0;             // length of the longest suffix seen that is a prefix of text
  };

  std::vector<stop> stops_;       // non-empty stop strings only
  std::string held_;              // the held-back suffix, always as long as the largest state
  std::optional<size_t> matched_; // index into stops_
};

}  // namespace hearth
