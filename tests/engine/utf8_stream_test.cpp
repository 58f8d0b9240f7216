#include <catch2/catch.hpp>

#include <string>

#include "tokenizer/vocab.h"

using namespace hearth;

namespace {
const std::string fffd = "\xEF\xBF\xBD";
}  // namespace

TEST_CASE("tokenizer: utf8_stream holds a 4-byte emoji until it is complete", "[tokenizer]") {
  const std::string emoji = "\xF0\x9F\xA6\x99";  // U+1F999
  utf8_stream s;
  CHECK(s.push(emoji.substr(0, 1)) == "");
  CHECK(s.holding());
  CHECK(s.push(emoji.substr(1, 1)) == "");
  CHECK(s.push(emoji.substr(2, 1)) == "");
  CHECK(s.push(emoji.substr(3, 1)) == emoji);
  CHECK_FALSE(s.holding());
  CHECK(s.flush() == "");
}

TEST_CASE("tokenizer: utf8_stream passes complete text through and splits around a partial character",
          "[tokenizer]") {
  utf8_stream s;
  CHECK(s.push("Hello") == "Hello");
  CHECK(s.push(" caf\xC3") == " caf");  // é split after its lead byte
  CHECK(s.push("\xA9!") == "\xC3\xA9!");
  CHECK(s.push("") == "");
  CHECK(s.flush() == "");
}

TEST_CASE("tokenizer: utf8_stream replaces invalid bytes with U+FFFD", "[tokenizer]") {
  SECTION("lone continuation byte") {
    utf8_stream s;
    CHECK(s.push("a\x80z") == "a" + fffd + "z");
  }
  SECTION("bytes that never start a character") {
    utf8_stream s;
    CHECK(s.push("\xC0\xC1\xF5\xFF") == fffd + fffd + fffd + fffd);
  }
  SECTION("a lead byte followed by a non-continuation, across pushes") {
    utf8_stream s;
    CHECK(s.push("\xE2\x96") == "");  // valid prefix of a 3-byte character: held
    CHECK(s.push("A") == fffd + "A");  // can no longer become valid: one U+FFFD for the prefix
  }
  SECTION("surrogates and overlongs are invalid") {
    utf8_stream s;
    // ED A0 80 would be U+D800; E0 80 80 an overlong NUL. Unicode's maximal-subpart rule gives
    // one U+FFFD per byte here, since no second byte is allowed after ED/E0 in these ranges.
    CHECK(s.push("\xED\xA0\x80") == fffd + fffd + fffd);
    CHECK(s.push("\xE0\x80\x80") == fffd + fffd + fffd);
  }
  SECTION("above U+10FFFF") {
    utf8_stream s;
    CHECK(s.push("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);
  }
}

TEST_CASE("tokenizer: utf8_stream flush releases an incomplete character as U+FFFD", "[tokenizer]") {
  utf8_stream s;
  CHECK(s.push("ok\xF0\x9F\xA6") == "ok");
  CHECK(s.holding());
  CHECK(s.flush() == fffd);
  CHECK_FALSE(s.holding());
  CHECK(s.flush() == "");
  CHECK(s.push("x") == "x");  // usable again after flush
}

TEST_CASE("tokenizer: utf8_stream output is the same however the input is cut", "[tokenizer]") {
  const std::string text = "a\xC3\xA9\xE2\x96\x81\xF0\x9F\x98\x81z\x80\xE2\x82";
  const std::string expected = "a\xC3\xA9\xE2\x96\x81\xF0\x9F\x98\x81z" + fffd + fffd;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    utf8_stream s;
    std::string out = s.push(text.substr(0, cut));
    out += s.push(text.substr(cut));
    out += s.flush();
    INFO("cut at " << cut);
    CHECK(out == expected);
  }
  utf8_stream bytewise;
  std::string out;
  for (char c : text) out += bytewise.push(std::string(1, c));
  out += bytewise.flush();
  CHECK(out == expected);
}
