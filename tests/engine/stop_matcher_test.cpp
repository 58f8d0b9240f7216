// Stop-string matcher tests: hand-worked streams, then a randomized comparison against a
// brute-force reference of the contract (earliest match, minimal hold-back, UTF-8 safe cuts).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "stop_matcher.h"

using namespace hearth;

namespace {

// Pushes every piece; returns what each push emitted.
std::vector<std::string> feed(stop_matcher& m, const std::vector<std::string>& pieces) {
  std::vector<std::string> out;
  for (const std::string& p : pieces) out.push_back(m.push(p));
  return out;
}

using strings = std::vector<std::string>;

}  // namespace

TEST_CASE("stop_matcher: a stop split across two pieces is cut, text before it emitted", "[stop]") {
  stop_matcher m({"</s>"});
  CHECK(feed(m, {"Hello </", "s> more"}) == strings{"Hello ", ""});
  CHECK(m.stopped());
  CHECK(m.matched() == "</s>");
  CHECK(m.push("anything") == "");
  CHECK(m.flush() == "");
}

TEST_CASE("stop_matcher: a stop split across three pieces", "[stop]") {
  stop_matcher m({"STOP"});
  CHECK(feed(m, {"xx ST", "O", "P yy"}) == strings{"xx ", "", ""});
  CHECK(m.stopped());
}

TEST_CASE("stop_matcher: a partial prefix that does not complete is released", "[stop]") {
  stop_matcher m({"STOP"});
  CHECK(m.push("ST") == "");
  CHECK(m.push("ART") == "START");
  CHECK_FALSE(m.stopped());
  // Only the longest suffix that can still start the stop is held: "S" of "SS".
  CHECK(m.push(" SS") == " S");
  CHECK(m.push("TOP") == "");
  CHECK(m.stopped());
}

TEST_CASE("stop_matcher: a failed partial match can overlap the real one", "[stop]") {
  stop_matcher m({"aab"});
  // "aa" could start the stop; "aaa" keeps only its last "aa"; "b" completes "aab" at offset 1.
  CHECK(feed(m, {"aa", "a", "b"}) == strings{"", "a", ""});
  CHECK(m.stopped());
  // "aabaaa" fails on "b", but its suffix "aab" still starts the stop (a shorter border than the
  // longest one must be tried); "aaaa" then completes it.
  stop_matcher n({"aabaaaa"});
  CHECK(feed(n, {"aabaaa", "b", "aaaa"}) == strings{"", "aaba", ""});
  CHECK(n.stopped());
}

TEST_CASE("stop_matcher: text before the stop is emitted, nothing after it", "[stop]") {
  stop_matcher m({"STOP"});
  CHECK(m.push("abc STOP def") == "abc ");
  CHECK(m.stopped());
  CHECK(m.push("more") == "");
  CHECK(m.flush() == "");
}

TEST_CASE("stop_matcher: text that cannot start a stop is emitted at once", "[stop]") {
  stop_matcher m({"###", "User:"});
  CHECK(m.push("Hello") == "Hello");
  CHECK(m.push(" there, ") == " there, ");
  CHECK(m.push("Use") == "");        // could be "User:"
  CHECK(m.push("d #") == "Used ");   // "#" could be "###"
  CHECK(m.push("# x") == "## x");
  CHECK_FALSE(m.stopped());
}

TEST_CASE("stop_matcher: with several stops the earliest match wins", "[stop]") {
  SECTION("overlapping prefixes, the shorter completes") {
    stop_matcher m({"abcd", "abx"});
    CHECK(feed(m, {"ab", "x"}) == strings{"", ""});
    CHECK(m.matched() == "abx");
  }
  SECTION("overlapping prefixes, neither completes") {
    stop_matcher m({"abcd", "abx"});
    CHECK(feed(m, {"ab", "c", "e"}) == strings{"", "", "abce"});
    CHECK_FALSE(m.stopped());
  }
  SECTION("a later stop in the list that starts earlier wins") {
    stop_matcher m({"c", "ab"});
    CHECK(m.push("xabc") == "x");
    CHECK(m.matched() == "ab");
  }
  SECTION("the longer stop starting earlier wins over one nested inside it") {
    stop_matcher m({"world", "hello world"});
    CHECK(feed(m, {"say hello wor", "ld!"}) == strings{"say ", ""});
    CHECK(m.matched() == "hello world");
  }
  SECTION("a stop complete in the text seen so far wins over one that might complete later") {
    stop_matcher m({"abcde", "bc"});
    CHECK(feed(m, {"ab", "c"}) == strings{"", "a"});
    CHECK(m.matched() == "bc");
  }
}

TEST_CASE("stop_matcher: flush releases the held text", "[stop]") {
  stop_matcher m({"</s>"});
  CHECK(m.push("foo </") == "foo ");
  CHECK(m.flush() == "</");
  CHECK_FALSE(m.stopped());
  // After a flush the matcher starts afresh: the released "</" is not part of a new match.
  CHECK(m.push("s>") == "s>");
  CHECK_FALSE(m.stopped());
}

TEST_CASE("stop_matcher: a stop at the very start emits nothing", "[stop]") {
  stop_matcher a({"STOP"});
  CHECK(a.push("STOP and more") == "");
  CHECK(a.stopped());
  stop_matcher b({"STOP"});
  CHECK(feed(b, {"S", "TOP"}) == strings{"", ""});
  CHECK(b.stopped());
  CHECK(b.flush() == "");
}

TEST_CASE("stop_matcher: empty stop strings are ignored, no stops pass everything", "[stop]") {
  stop_matcher none({});
  CHECK(none.push("abc") == "abc");
  CHECK(none.flush() == "");
  stop_matcher empty({""});
  CHECK(empty.push("abc") == "abc");
  CHECK_FALSE(empty.stopped());
  stop_matcher mixed({"", "c"});
  CHECK(mixed.push("abcd") == "ab");
  CHECK(mixed.matched() == "c");
}

TEST_CASE("stop_matcher: cuts never split a multi-byte character", "[stop]") {
  SECTION("held prefix is a whole character") {
    stop_matcher m({"\xC3\xA9!"});  // "é!"
    CHECK(feed(m, {"caf", "\xC3\xA9", "!"}) == strings{"caf", "", ""});
  }
  SECTION("a character sharing the stop's lead byte is not held") {
    stop_matcher m({"\xE2\x82\xAC"});  // "€" = E2 82 AC; "—" = E2 80 94
    CHECK(m.push("a") == "a");
    CHECK(m.push("\xE2\x80\x94") == "\xE2\x80\x94");
    CHECK(m.push("b\xE2\x82\xAC" "c") == "b");
  }
}

TEST_CASE("stop_matcher: stop strings must be valid UTF-8", "[stop]") {
  CHECK_FALSE(validate_stops({"ok", "\xC3\xA9", "\xF0\x9F\x98\x80", ""}));
  CHECK(validate_stops({"ok", "\xA9x"}) == "stop string 1 is not valid UTF-8 (byte 0)");
  CHECK(validate_stops({"a\xC0\xAF"}) == "stop string 0 is not valid UTF-8 (byte 1)");  // overlong
  CHECK(validate_stops({"\xED\xA0\x80"}).has_value());                               // surrogate
  CHECK(validate_stops({"\xF4\x90\x80\x80"}).has_value());                           // > U+10FFFF
  CHECK(validate_stops({"x\xE2\x82"}) == "stop string 0 is not valid UTF-8 (byte 1)");  // truncated
  CHECK_THROWS_AS(stop_matcher({"\xFF"}), std::invalid_argument);
}

namespace {

// Longest suffix of text that is a proper prefix of some stop: brute force.
size_t reference_hold(const std::string& text, const strings& stops) {
  size_t best = 0;
  for (const std::string& s : stops)
    for (size_t len = 1; len < s.size() && len <= text.size(); ++len)
      if (text.compare(text.size() - len, len, s, 0, len) == 0) best = std::max(best, len);
  return best;
}

bool continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Streams `pieces` through a matcher and checks, after every piece, the contract from first
// principles: if some stop occurs in the text so far, the output is that text up to the earliest
// occurrence; otherwise everything but the longest suffix that could still start a stop has been
// emitted. Every cut lies on a character boundary; flush releases the rest.
void check_stream(const strings& stops, const strings& pieces, const std::string& label) {
  stop_matcher m(stops);
  strings nonempty;
  for (const auto& s : stops)
    if (!s.empty()) nonempty.push_back(s);
  std::string seen, emitted;
  bool expect_stop = false;
  for (const std::string& piece : pieces) {
    seen += piece;
    emitted += m.push(piece);
    INFO(label << ": seen '" << seen << "' emitted '" << emitted << "'");
    if (emitted.size() < seen.size()) CHECK_FALSE(continuation_byte(seen[emitted.size()]));
    size_t first = std::string::npos;
    for (const auto& s : nonempty) first = std::min(first, seen.find(s));
    if (first != std::string::npos) {
      expect_stop = true;
      CHECK(emitted == seen.substr(0, first));
    } else {
      CHECK(emitted == seen.substr(0, seen.size() - reference_hold(seen, nonempty)));
    }
    CHECK(m.stopped() == expect_stop);
    if (expect_stop) break;
  }
  emitted += m.flush();
  if (!expect_stop) CHECK(emitted == seen);
}

}  // namespace

TEST_CASE("stop_matcher: random streams agree with a brute-force reference", "[stop]") {
  const strings alphabet = {"a", "b", "c", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
  std::mt19937 gen(2718);
  auto pick = [&](size_t lo, size_t hi) { return lo + gen() % (hi - lo + 1); };
  // Mostly "a" and "b", so that stops and text overlap with themselves in many ways (this is what
  // exercises the partial-match fallbacks); sometimes "c" or a multi-byte character.
  auto word = [&](size_t lo, size_t hi) {
    std::string w;
    for (size_t n = pick(lo, hi); n > 0; --n)
      w += alphabet[gen() % 5 == 0 ? 2 + gen() % 4 : gen() % 2];
    return w;
  };
  for (int round = 0; round < 5000; ++round) {
    strings stops, pieces;
    for (size_t n = pick(1, 3); n > 0; --n) stops.push_back(word(0, 7));
    for (size_t n = pick(1, 16); n > 0; --n) pieces.push_back(word(1, 3));
    check_stream(stops, pieces, "round " + std::to_string(round));
  }
}

TEST_CASE("stop_matcher: self-overlapping stops against a brute-force reference", "[stop]") {
  // Stops whose prefixes recur inside them: a partial match must fall back to the longest
  // shorter partial match, not restart from scratch.
  const strings candidates = {"aabaaab", "aabaaaa", "abab", "aaaa", "abaabab", "aabaabaaa", "baab"};
  std::mt19937 gen(31415);
  for (int round = 0; round < 3000; ++round) {
    strings stops = {candidates[gen() % candidates.size()]};
    if (gen() % 2) stops.push_back(candidates[gen() % candidates.size()]);
    strings pieces;
    for (size_t n = 1 + gen() % 20; n > 0; --n) {
      std::string piece;
      // 'a' twice as likely as 'b'
      for (size_t len = 1 + gen() % 3; len > 0; --len) piece += gen() % 3 ? 'a' : 'b';
      pieces.push_back(piece);
    }
    check_stream(stops, pieces, "round " + std::to_string(round));
  }
}
