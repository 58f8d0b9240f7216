// The sandbox's bounds: templates that would run away (output, work, recursion, nesting,
// memory) end in a render error, never a crash or a hang; hostile input never escapes
// render_string as an exception.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "jinja_test_util.h"
#include "proto/jinja/jinja.h"

using namespace hearth::jinja;

namespace {

render_outcome run(const std::string& tmpl, const render_limits& limits = {}) {
  render_options o = hearth::test::fixed_time_options();
  o.limits = limits;
  return render_string(tmpl, "{}", o);
}

void check_limit(const std::string& tmpl, const std::string& says, const render_limits& limits = {}) {
  INFO(tmpl);
  const render_outcome r = run(tmpl, limits);
  INFO(r.error);
  CHECK_FALSE(r.ok);
  CHECK(r.error.find(says) != std::string::npos);
}

}  // namespace

TEST_CASE("jinja limits: output, strings and work are bounded", "[jinja]") {
  check_limit("{% for i in range(100000) %}0123456789abcdefghij{% endfor %}", "LimitError: the output grew past 1048576 bytes");
  check_limit("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
              "LimitError: a string grew past");
  check_limit("{{ 'x' * 1000000000 }}", "LimitError: a string grew past");
  check_limit("{{ ([1] * 1000000000)|length }}", "LimitError: a list grew past 262144 elements");
  check_limit("{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
              "LimitError: a list grew past");
  check_limit("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% for j in range(100000) %}{% set ns.l = ns.l + [1] %}{% endfor %}{% endfor %}",
              "LimitError: the template did more work");
  check_limit("{{ '{:>999999999}'.format(1) }}", "LimitError: format field too wide");
  check_limit("{{ range(100001)|length }}", "OverflowError: Range too big");
  render_limits small;
  small.max_work = 100000;
  check_limit("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "the template did more work", small);
  small.max_output = 100;
  check_limit("{{ 'x' * 200 }}", "a string grew past 100 bytes", small);
  // Within the limits nothing is refused.
  CHECK(run("{% for i in range(1000) %}{{ i }}{% endfor %}").ok);
}

TEST_CASE("jinja limits: recursion and nesting are bounded", "[jinja]") {
  check_limit("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "LimitError: macro calls nest deeper than 64");
  check_limit("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}",
              "LimitError: a value nests deeper than 128");
  // A namespace holding itself is refused when printed, not followed forever.
  check_limit("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", "LimitError");
  // Recursion through a macro and deep expressions together stays under the evaluation limit.
  render_limits shallow;
  shallow.max_depth = 50;
  check_limit("{% macro r(n) %}{% if n %}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(40) }}", "recursed deeper than 50", shallow);
  CHECK(run("{% macro r(n) %}{% if n %}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(40) }}").ok);
  // A template nesting deeper than the parser allows is a syntax error (see jinja_test.cpp); a
  // long flat chain is fine.
  std::string chain = "{{ 0";
  for (int i = 0; i < 150; ++i) chain += " ~ " + std::to_string(i);
  CHECK(run(chain + " }}").ok);
}

TEST_CASE("jinja limits: hostile text never escapes render_string", "[jinja]") {
  // Fragments of the template language shuffled at random: each render returns (ok or not).
  const char* pieces[] = {"{{", "}}", "{%", "%}", "{#", "#}", " for ", " in ", " if ", " endif ", " endfor ", " set ",
                          "x", "ns.a", "=", "(", ")", "[", "]", "{", "}", "'s'", "\"", "1", "2.5", "|", "trim",
                          " is ", "defined", ",", ":", "-", "+", "*", "**", "~", "loop", "macro", "m(", "namespace(",
                          "range(9)", "raw", "endraw", "\\", "\n", "\xC3", "\xA9", "-%}", "{{-", "caller()", "."};
  std::mt19937 rng(1234);
  size_t ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string t;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) t += pieces[rng() % std::size(pieces)];
    const render_outcome r = render_string(t, R"({"x": [1, {"a": "b"}], "ns": null})");
    ok += r.ok;
    CHECK((r.ok || !r.error.empty()));
  }
  CHECK(ok > 0);
  CHECK_FALSE(render_string("{{ x }}", "not json").ok);
  CHECK_FALSE(render_string("{{ x }}", "[1, 2]").ok);
  CHECK_FALSE(render_string("{{ x }}", "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}").ok);
}
