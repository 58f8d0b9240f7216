// GBNF parsing and matching (engine/grammar.h): sentences accepted and rejected as the grammar's
// text says, errors that name the place, and token masks that agree with feeding each token's
// bytes to a fresh matcher.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar.h"
#include "token_decoder.h"
#include "reference.h"
#include "tokenizer/vocab.h"
#include "gguf/gguf_file.h"

using namespace hearth;

namespace {

bool accepts(std::string_view gbnf, std::string_view text) { return grammar_accepts(grammar::parse(gbnf), text); }

std::string parse_error(std::string_view gbnf) {
  try {
    grammar::parse(gbnf);
  } catch (const grammar_error& e) {
    return e.what();
  }
  return "";
}

// JSON (RFC 8259), written for these tests from the RFC's grammar.
constexpr std::string_view json_gbnf = R"(
root   ::= ws value ws
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( ws "," ws member )* )? ws "}"
member ::= string ws ":" ws value
array  ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]{1,2} )?  # short exponents: the parser the tests use overflows doubles
ws     ::= [ \t\n\r]*   # whitespace
)";

}  // namespace

TEST_CASE("grammar: literals, alternatives, classes and repetition", "[grammar]") {
  CHECK(accepts(R"(root ::= "yes" | "no")", "yes"));
  CHECK(accepts(R"(root ::= "yes" | "no")", "no"));
  CHECK_FALSE(accepts(R"(root ::= "yes" | "no")", "ye"));
  CHECK_FALSE(accepts(R"(root ::= "yes" | "no")", "yess"));
  CHECK(accepts(R"(root ::= [a-c]+ [^a-c])", "abcabx"));
  CHECK_FALSE(accepts(R"(root ::= [a-c]+ [^a-c])", "abca"));
  CHECK_FALSE(accepts(R"(root ::= [a-c]+ [^a-c])", "x"));
  CHECK(accepts(R"(root ::= "a"? "b")", "b"));
  CHECK(accepts(R"(root ::= "a"? "b")", "ab"));
  CHECK_FALSE(accepts(R"(root ::= "a"? "b")", "aab"));
  CHECK(accepts(R"(root ::= . . .)", "x\n\xC3\xA9"));  // any code point, newline included
  CHECK(accepts("root ::= \"\"", ""));
  CHECK_FALSE(accepts("root ::= \"\"", "a"));
  // Bounded repetition counts exactly.
  const std::string rep = R"(root ::= "ab"{2,4} "c"{3} [0-9]{1,})";
  CHECK_FALSE(accepts(rep, "abccc1"));
  CHECK(accepts(rep, "ababccc1"));
  CHECK(accepts(rep, "abababab" "ccc" "123"));
  CHECK_FALSE(accepts(rep, "ababababab" "ccc" "1"));
  CHECK_FALSE(accepts(rep, "ababcc1"));
  CHECK_FALSE(accepts(rep, "ababccc"));
  // Rules, recursion (balanced parentheses), comments, rules spanning lines.
  const std::string bal = "root ::= pair*  # any number\npair ::=\n  \"(\" pair* \")\"\n";
  CHECK(accepts(bal, "(()())()"));
  CHECK(accepts(bal, ""));
  CHECK_FALSE(accepts(bal, "(()"));
  CHECK_FALSE(accepts(bal, "())"));
  // Escapes.
  CHECK(accepts(R"(root ::= "\x41\u00e9\U0001F600\n\"\\")", "A\xC3\xA9\xF0\x9F\x98\x80\n\"\\"));
  CHECK(accepts(R"(root ::= [\]\-]+)", "]-]"));
}

TEST_CASE("grammar: JSON text", "[grammar]") {
  const auto g = grammar::parse(json_gbnf);
  for (const char* ok : {"{}", "[]", "0", "-1.5e+3", R"({"a": [1, 2, {"b": null}], "c\"d": "\u00e9x"})", " true ",
                         "\"\xE6\x97\xA5\xE6\x9C\xAC\""}) {
    INFO(ok);
    CHECK(grammar_accepts(g, ok));
  }
  for (const char* bad : {"{", "[1,]", "01", "1.", R"({"a" 1})", R"({a: 1})", "\"\x01\"", "nul", "{}}", "\"\\x\""}) {
    INFO(bad);
    CHECK_FALSE(grammar_accepts(g, bad));
  }
}

TEST_CASE("grammar: a stack as deep as the text pops without recursion, within a work bound", "[grammar]") {
  // Each "a" leaves an optional "b" to come; ending pops every level at once, without recursion.
  const auto g = grammar::parse(R"(root ::= "a" root? "b"?)");
  grammar_matcher m(g);
  REQUIRE(m.accept(std::string(500, 'a')));
  CHECK(m.can_end());
  CHECK(m.accept("bb"));
  CHECK(m.can_end());
  CHECK(grammar_accepts(g, "aab"));
  CHECK_FALSE(grammar_accepts(g, "abb"));
  // The same shape costs the depth at every step: past the bound, a clear error, state kept.
  grammar_matcher deep(grammar::parse(R"(root ::= "a" root? e
e ::= "")"));
  CHECK_THROWS_AS(deep.accept(std::string(8000, 'a')), std::length_error);  // ~ 8000^2 / 2 steps
  CHECK(deep.accept(""));
  CHECK_FALSE(deep.can_end());  // unchanged: nothing accepted yet
  CHECK(deep.accept("a"));
  CHECK(deep.can_end());
}

TEST_CASE("grammar: unfinished UTF-8 characters are accepted only if some character can finish them",
          "[grammar]") {
  grammar_matcher m(grammar::parse(R"(root ::= [\u00e0-\u00ff] "!")"));  // à..ÿ: C3 A0..C3 BF
  CHECK_FALSE(m.accept("\xC4"));      // C4 starts U+0100..U+013F
  CHECK(m.accept("\xC3"));            // could be U+00C0..U+00FF
  CHECK_FALSE(m.can_end());
  CHECK_FALSE(m.accept("\x80"));      // U+00C0 is below the range
  CHECK(m.accept("\xA9"));            // é
  CHECK(m.accept("!"));
  CHECK(m.can_end());
  CHECK(m.must_end());
  CHECK_FALSE(m.accept("!"));
  // A negated class excludes a partial character only if every completion is excluded.
  grammar_matcher n(grammar::parse(R"(root ::= [^\u0080-\u00bf\u00c0-\u00ff])"));  // C2 xx and C3 xx all out
  CHECK_FALSE(n.accept("\xC2"));
  CHECK_FALSE(n.accept("\xC3"));
  CHECK(n.accept("\xC4"));
  // UTF-16 surrogates (U+D800..U+DFFF, ED A0..ED BF xx) are not characters, even for `.`: JSON
  // parsers refuse them. ED 9F BF is U+D7FF, the last code point before them.
  grammar_matcher any(grammar::parse(R"(root ::= .)"));
  CHECK(any.accept("\xED"));
  CHECK_FALSE(any.accept("\xA0"));
  CHECK_FALSE(any.accept("\xBF"));
  CHECK(any.accept("\x9F\xBF"));
  CHECK(any.can_end());
  CHECK_FALSE(grammar_accepts(grammar::parse(R"(root ::= [^a])"), "\xED\xB0\x80"));
  CHECK(grammar_accepts(grammar::parse(R"(root ::= [^a])"), "\xEE\x80\x80"));  // U+E000
}

TEST_CASE("grammar: errors name the place and the problem", "[grammar]") {
  CHECK(parse_error("root ::= foo") == "line 1, column 10: rule 'foo' is used but not defined");
  CHECK(parse_error("root ::= \"a\"\nroot ::= \"b\"") == "line 2, column 1: rule 'root' is defined twice");
  CHECK(parse_error("start ::= \"a\"") == "line 1, column 14: no rule named 'root'");
  CHECK(parse_error("root ::= \"abc") == "line 1, column 10: an unterminated string literal");
  CHECK(parse_error("root ::= [a-") == "line 1, column 10: an unterminated character class");
  CHECK(parse_error("root ::= (\"a\"") == "line 1, column 10: an unclosed (");
  CHECK(parse_error("root ::= \"a\"{3,1}") == "line 1, column 13: a repetition {m,n} with n < m");
  CHECK(parse_error("root ::= \"a\"{10001}") == "line 1, column 14: a repetition count above 10000");
  CHECK(parse_error("root ::= [z-a]") == "line 1, column 10: a character range whose end is below its start");
  CHECK(parse_error("root ::= \"\\q\"") == "line 1, column 11: unknown escape \\q");
  CHECK(parse_error("root ::= @") == "line 1, column 10: unexpected '@'");
  CHECK(parse_error("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"") ==
        "rule 'expr' is left-recursive (it can reach itself before matching a character; a repetition of something "
        "that can match nothing is too)");
  CHECK(parse_error("root ::= a\na ::= b? \"x\" | \"y\"\nb ::= \"\" | a") ==
        "rule 'a' is left-recursive (it can reach itself before matching a character; a repetition of something "
        "that can match nothing is too)");
  CHECK(parse_error("root ::= x (\"b\"*)*\nx ::= \"a\"").starts_with(
      "a group or repetition in rule 'root' is left-recursive"));
  std::string huge = "root ::=";
  for (int i = 0; i < 8; ++i) huge += " \"a\"{9000}";
  CHECK(parse_error(huge).find("too large (over 65536 elements)") != std::string::npos);
  CHECK(parse_error(std::string(2u << 20, ' ')) == "the grammar is over 1 MiB");
  CHECK(parse_error("root ::= " + std::string(129, '(') + "\"a\"" + std::string(129, ')')) ==
        "line 1, column 138: parentheses nested deeper than 128 levels");
  CHECK(parse_error("root ::= " + std::string(128, '(') + "\"a\"" + std::string(128, ')')).empty());
}

namespace {

// The mask as `allowed_tokens` gives it, and as feeding each token's bytes to a fresh matcher
// that has seen `prefix` says it should be.
void check_masks(std::string_view gbnf, const std::vector<std::string>& tokens, const std::vector<token_id>& eog,
                 const std::vector<std::string>& prefixes) {
  const auto g = grammar::parse(gbnf);
  const token_trie trie(tokens, eog);
  for (const std::string& prefix : prefixes) {
    INFO("prefix '" << prefix << "'");
    grammar_matcher m(g);
    REQUIRE(m.accept(prefix));
    std::vector<uint32_t> words;
    m.allowed_tokens(trie, words);
    std::vector<uint32_t> again;
    m.allowed_tokens(trie, again);  // the cached mask
    CHECK(again == words);
    for (size_t id = 0; id < tokens.size(); ++id) {
      const bool is_eog = std::find(eog.begin(), eog.end(), static_cast<token_id>(id)) != eog.end();
      grammar_matcher fresh(g);
      bool expected = false;
      if (is_eog) {
        expected = fresh.accept(prefix) && fresh.can_end();
      } else if (!tokens[id].empty()) {
        expected = fresh.accept(prefix + tokens[id]);
      }
      INFO("token " << id << " '" << tokens[id] << "'");
      CHECK(((words[id / 32] >> (id % 32)) & 1u) == static_cast<uint32_t>(expected));
      CHECK(m.allows(trie, static_cast<token_id>(id), is_eog ? "" : tokens[id]) == expected);
    }
  }
}

}  // namespace

TEST_CASE("grammar: token masks from the trie, worked by hand", "[grammar]") {
  // root ::= "ab" [0-9]+ "c"
  const std::vector<std::string> tokens = {"a", "ab", "abc", "b", "1", "12", "1c", "c", "x", "", "ab", "\xC3"};
  const std::vector<token_id> eog = {9};
  const auto g = grammar::parse(R"(root ::= "ab" [0-9]+ "c")");
  const token_trie trie(tokens, eog);
  auto allowed = [&](std::string_view prefix) {
    grammar_matcher m(g);
    REQUIRE(m.accept(prefix));
    std::vector<uint32_t> w;
    m.allowed_tokens(trie, w);
    std::vector<std::string> out;
    for (size_t id = 0; id < tokens.size(); ++id) {
      if ((w[id / 32] >> (id % 32)) & 1u) out.push_back(std::to_string(id));
    }
    return out;
  };
  CHECK(allowed("") == std::vector<std::string>{"0", "1", "10"});  // "a", "ab" and its twin
  CHECK(allowed("a") == std::vector<std::string>{"3"});
  CHECK(allowed("ab") == std::vector<std::string>{"4", "5", "6"});
  CHECK(allowed("ab1") == std::vector<std::string>{"4", "5", "6", "7"});
  CHECK(allowed("ab1c") == std::vector<std::string>{"9"});  // only the end
}

TEST_CASE("grammar: token masks agree with feeding each token to a fresh matcher", "[grammar]") {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":, 0123456789-.eEtrufalsn\\abc\n\xC3\xA9\xE6\x97\xA5";
  std::vector<std::string> tokens;
  for (int i = 0; i < 400; ++i) {
    std::string t;
    const int len = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < len; ++k) t.push_back(alphabet[rng() % alphabet.size()]);
    tokens.push_back(t);
  }
  tokens.push_back("");  // the EOG token
  check_masks(json_gbnf, tokens, {400},
              {"", "{", "{\"", "{\"a", "{\"a\":", "{\"a\": [1", "{\"a\": [1, \"\xC3", "{\"a\": 1}", "[\"\\", "-0.", "[[[["});
}

TEST_CASE("grammar: constrained greedy decoding over stories260K's vocabulary always gives JSON", "[grammar]") {
  const gguf_file f = gguf_file::open(test::shared_path("models/stories260K-f32.gguf"));
  const vocab v = vocab::from_gguf(f);
  const token_trie trie = token_trie_of(vocab_text(v), v.size());
  const auto g = grammar::parse(json_gbnf);
  std::mt19937 rng(1);
  for (int run = 0; run < 20; ++run) {
    grammar_matcher m(g);
    std::string out;
    std::vector<uint32_t> words;
    bool ended = false;
    for (int step = 0; step < 400 && !ended; ++step) {
      m.allowed_tokens(trie, words);
      // A random token among the allowed ones, the end weighted up so the runs finish.
      std::vector<token_id> ok;
      for (token_id id = 0; id < v.size(); ++id) {
        if ((words[static_cast<size_t>(id) / 32] >> (id % 32)) & 1u) ok.push_back(id);
      }
      REQUIRE_FALSE(ok.empty());
      token_id pick = ok[rng() % ok.size()];
      if (m.can_end() && rng() % 3 == 0) pick = v.eos();
      if (v.is_eog(pick)) {
        REQUIRE(m.can_end());
        ended = true;
        break;
      }
      const std::string bytes = v.token_to_bytes(pick);
      REQUIRE(m.accept(bytes));
      out += bytes;
    }
    if (!ended) continue;  // ran out of steps mid-value: a prefix, nothing to parse
    INFO(out);
    CHECK_NOTHROW(nlohmann::json::parse(out));
  }
}
