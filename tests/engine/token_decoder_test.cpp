// The decoding step every generation loop shares: greedy picks, EOG, UTF-8 reassembly and stop
// strings, on a made-up five-token vocabulary with one-hot logits.
#include <catch2/catch.hpp>

#include "token_decoder.h"

using namespace hearth;

namespace {

// 0: EOG, 1: "Hel", 2: "lo", 3: first byte of "é", 4: its second byte.
class toy_text final : public token_text {
 public:
  std::string token_bytes(token_id id) const override {
    static const char* bytes[] = {"", "Hel", "lo", "\xC3", "\xA9"};
    return bytes[id];
  }
  bool is_eog(token_id id) const override { return id == 0; }
};

std::vector<float> pick(token_id t) {
  std::vector<float> logits(5, 0.0f);
  logits[t] = 5.0f;
  return logits;
}

token_decoder greedy(std::vector<std::string> stops = {}) {
  sampling_params p;
  p.temperature = 0;
  return token_decoder(p, 5, std::move(stops));
}

}  // namespace

TEST_CASE("token_decoder: text passes through, and a split character arrives whole", "[decoder]") {
  const toy_text vocab;
  token_decoder d = greedy();
  decoded_token a = d.next(pick(1), vocab);
  CHECK(a.token == 1);
  CHECK(a.text == "Hel");
  CHECK_FALSE(a.stopped);
  CHECK_FALSE(a.end_of_generation);
  CHECK(d.next(pick(3), vocab).text.empty());  // half a character is held
  CHECK(d.next(pick(4), vocab).text == "\xC3\xA9");
  CHECK(d.next(pick(3), vocab).text.empty());
  CHECK(d.finish() == "\xEF\xBF\xBD");  // the unfinished character ends as U+FFFD
}

TEST_CASE("token_decoder: EOG releases no text and leaves held text for finish", "[decoder]") {
  const toy_text vocab;
  token_decoder d = greedy({"Hello"});
  CHECK(d.next(pick(1), vocab).text.empty());  // "Hel" may start "Hello"
  const decoded_token e = d.next(pick(0), vocab);
  CHECK(e.end_of_generation);
  CHECK(e.token == 0);
  CHECK(e.text.empty());
  CHECK(d.finish() == "Hel");
}

TEST_CASE("token_decoder: a stop string across tokens is never released", "[decoder]") {
  const toy_text vocab;
  token_decoder d = greedy({"lo"});
  CHECK(d.next(pick(1), vocab).text == "He");  // "l" may start "lo"
  const decoded_token s = d.next(pick(2), vocab);
  CHECK(s.stopped);
  CHECK(s.text == "l");  // the text before the stop string, and nothing of it
  CHECK(d.stopped());
  CHECK(d.finish().empty());
}

TEST_CASE("token_decoder: the penalties see the prompt and every decoded token", "[decoder]") {
  const toy_text vocab;
  sampling_params p;
  p.temperature = 0;
  p.presence_penalty = 2;  // a token seen once loses to the next best (1 below it)
  token_decoder d(p, 5, {});
  d.accept_prompt(std::vector<token_id>{1});
  std::vector<float> logits = {0, 5, 4.5f, 3.2f, 2};  // 1 is best, but was in the prompt
  CHECK(d.next(logits, vocab).token == 2);
  CHECK(d.next(logits, vocab).token == 3);  // 2 was just decoded
}

TEST_CASE("token_decoder: invalid parameters are refused at construction", "[decoder]") {
  sampling_params p;
  p.temperature = -1;
  CHECK_THROWS_AS(token_decoder(p, 5, {}), std::invalid_argument);
  CHECK_THROWS_AS(token_decoder(sampling_params{}, 5, {"\xC3"}), std::invalid_argument);
}

TEST_CASE("token_decoder: a control token shown as text passes through, also under a grammar", "[decoder]") {
  // A six-token vocabulary whose token 5 is a control token (no bytes) that a chat format's tool
  // calls begin with.
  class with_control final : public token_text {
   public:
    std::string token_bytes(token_id id) const override { return id == 5 ? "" : toy_text().token_bytes(id); }
    bool is_eog(token_id id) const override { return id == 0; }
  };
  const with_control base;
  const showing_token_text shown(base, {{5, "[CALL]"}});
  CHECK(base.token_bytes(5).empty());
  CHECK(shown.token_bytes(5) == "[CALL]");
  CHECK(shown.token_bytes(1) == "Hel");
  CHECK(shown.is_eog(0));

  sampling_params p;
  p.temperature = 0;
  std::vector<float> logits(6, 0.0f);
  logits[5] = 5.0f;
  token_decoder plain(p, 6, {});
  CHECK(plain.next(logits, base).text.empty());
  token_decoder showing(p, 6, {});
  CHECK(showing.next(logits, shown).text == "[CALL]");

  // A grammar that wants the marker: only the shown vocabulary's trie can spell it.
  const auto g = grammar::parse(R"(root ::= "[CALL]" "Hel")");
  const auto shown_trie = std::make_shared<const token_trie>(token_trie_of(shown, 6));
  token_decoder constrained(p, 6, {}, -1, {g, shown_trie});
  std::vector<float> prefer_text(6, 0.0f);
  prefer_text[1] = 9.0f;  // "Hel" is likelier, but the grammar wants the marker first
  const decoded_token first = constrained.next(prefer_text, shown);
  CHECK(first.token == 5);
  CHECK(first.text == "[CALL]");
  const decoded_token second = constrained.next(prefer_text, shown);
  CHECK(second.token == 1);
  const auto plain_trie = std::make_shared<const token_trie>(token_trie_of(base, 6));
  token_decoder cannot(p, 6, {}, -1, {g, plain_trie});
  CHECK_THROWS_AS(cannot.next(prefer_text, base), std::runtime_error);  // nothing can spell "[CALL]"
}

TEST_CASE("token_decoder: new stop strings take over the held-back text", "[decoder]") {
  const toy_text vocab;
  SECTION("text held for an old stop string is released with the next step") {
    token_decoder d = greedy({"Hello"});
    CHECK(d.next(pick(1), vocab).text.empty());  // "Hel" may start "Hello"
    CHECK_FALSE(d.set_stops({"xyz"}));
    CHECK(d.next(pick(2), vocab).text == "Hello");
  }
  SECTION("held text that a new stop string completes ends the generation") {
    token_decoder d = greedy({"Hello"});
    CHECK(d.next(pick(1), vocab).text.empty());
    CHECK(d.set_stops({"el"}));
    CHECK(d.stopped());
    CHECK(d.matched_stop() == "el");
    CHECK(d.finish() == "H");  // the text before the stop string, nothing of it
  }
  SECTION("new stop strings see only text from the change on") {
    token_decoder d = greedy();
    CHECK(d.next(pick(1), vocab).text == "Hel");
    CHECK_FALSE(d.set_stops({"lo"}));
    CHECK(d.next(pick(1), vocab).text == "He");  // this "l" may start "lo"; the first was shown
    const decoded_token s = d.next(pick(2), vocab);
    CHECK(s.stopped);
    CHECK(s.text == "l");
  }
  SECTION("an invalid stop string changes nothing") {
    token_decoder d = greedy({"Hello"});
    CHECK(d.next(pick(1), vocab).text.empty());
    CHECK_THROWS_AS(d.set_stops({std::string("\xC3")}), std::invalid_argument);
    CHECK(d.next(pick(2), vocab).text.empty());  // "Hello" still held: it is the stop string
    CHECK(d.stopped());
  }
}

TEST_CASE("token_decoder: break_text releases what was held, and matching starts afresh", "[decoder]") {
  const toy_text vocab;
  token_decoder d = greedy({"Hello"});
  CHECK(d.next(pick(3), vocab).text.empty());  // half a character
  d.break_text();
  CHECK(d.next(pick(1), vocab).text == "\xEF\xBF\xBD");  // U+FFFD; "Hel" is held for "Hello"
  d.break_text();
  // "Hel" + (outside text) + "lo" is not "Hello": the stop string does not match across it.
  const decoded_token t = d.next(pick(2), vocab);
  CHECK_FALSE(t.stopped);
  CHECK(t.text == "Hello");
  d.break_text();
  CHECK(d.next(pick(0), vocab).end_of_generation);
  CHECK(d.finish().empty());
}

TEST_CASE("token_decoder: released text no step took comes out at finish", "[decoder]") {
  const toy_text vocab;
  token_decoder d = greedy({"Hello"});
  CHECK(d.next(pick(1), vocab).text.empty());
  CHECK_FALSE(d.set_stops({}));
  CHECK(d.next(pick(0), vocab).end_of_generation);  // EOG releases nothing
  CHECK(d.finish() == "Hel");
}
