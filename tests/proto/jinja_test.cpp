// The Jinja interpreter against Python's Jinja2: every case of jinja_cases.inc was rendered by
// Jinja2 3.1 set up as Hugging Face renders chat templates (tests/proto/jinja_cases.py), and
// must come out byte for byte the same, refusals with the same exception and message. Then what
// Jinja2 cannot tell us: syntax errors name line and column, and user text keeps its marks.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "jinja_test_util.h"
#include "proto/jinja/jinja.h"

using namespace hearth::jinja;
using hearth::test::fixed_time_options;

namespace {

struct jinja_case {
  const char* name;
  const char* tmpl;
  const char* vars;
  const char* expected;  // the output, or "ExceptionType: message"
};

#include "jinja_cases.inc"

// The text with its user ranges shown as «...».
std::string show_marks(const text& t) {
  std::string s;
  size_t pos = 0;
  for (const byte_span& u : t.user()) {
    s += t.str().substr(pos, u.begin - pos) + "«" + t.str().substr(u.begin, u.end - u.begin) + "»";
    pos = u.end;
  }
  return s + t.str().substr(pos);
}

std::string marked(const char* tmpl, const std::string& user) {
  const program p = program::parse(tmpl);
  auto r = p.render({{"u", value::string(user, true)}, {"m", value::string("M")}}, fixed_time_options());
  if (auto* e = std::get_if<render_error>(&r)) return "error: " + e->describe();
  return show_marks(std::get<text>(r));
}

}  // namespace

TEST_CASE("jinja: renders every case as Jinja2 does", "[jinja]") {
  CHECK(std::size(render_cases) == 31);  // a lost case fails here
  for (const jinja_case& c : render_cases) {
    INFO(c.name << "\n" << c.tmpl);
    const render_outcome r = render_string(c.tmpl, c.vars, fixed_time_options());
    INFO(r.error);
    CHECK(r.ok);
    CHECK(r.output == c.expected);
  }
}

TEST_CASE("jinja: refuses every case Jinja2 refuses, with its exception and message", "[jinja]") {
  CHECK(std::size(error_cases) == 21);
  for (const jinja_case& c : error_cases) {
    INFO(c.name << "\n" << c.tmpl);
    const render_outcome r = render_string(c.tmpl, c.vars, fixed_time_options());
    CHECK_FALSE(r.ok);
    CHECK(r.error == c.expected);
  }
}

TEST_CASE("jinja: a template that cannot be parsed names the line and column", "[jinja]") {
  struct bad {
    const char* tmpl;
    size_t line, column;
    const char* says;
  };
  const std::string deep = "{{ " + std::string(200, '(') + "1" + std::string(200, ')') + " }}";
  for (const bad& b : {bad{"line one\n{{ x + }}", 2, 8, "unexpected '}}'"},
                       bad{"{% if x %}\nabc", 2, 4, "expected 'elif' or 'else' or 'endif'"},
                       bad{"a\n  {% endfor %}", 2, 6, "unexpected 'endfor'"},
                       bad{"{{ 'abc }}", 1, 4, "unterminated string"},
                       bad{"{% include 'other.jinja' %}", 1, 4, "cannot load other templates"},
                       bad{"ok\n{# open comment", 2, 1, "missing end of comment"},
                       bad{"{{ 1 +\n  ) }}", 2, 3, "unexpected ')'"},
                       bad{"\xC3\xA9{{ } }}", 1, 5, "unexpected '}'"},  // columns count characters
                       bad{"{% for x in y %}{% break %}{% endfor %}{% continue %}", 1, 43, "outside of a loop"},
                       bad{"{% macro m(a=1, b) %}{% endmacro %}", 1, 17, "non-default argument"},
                       bad{"{% frobnicate %}", 1, 4, "unknown tag 'frobnicate'"},
                       bad{deep.c_str(), 1, 0, "nests deeper than"}}) {
    INFO(b.tmpl);
    try {
      program::parse(b.tmpl);
      FAIL("parsed");
    } catch (const syntax_error& e) {
      INFO(e.what());
      CHECK(e.line() == b.line);
      if (b.column) CHECK(e.column() == b.column);
      CHECK(e.message().find(b.says) != std::string::npos);
    }
  }
}

TEST_CASE("jinja: text derived from user strings stays marked as user text", "[jinja]") {
  CHECK(marked("<{{ u }}>{{ m }}", "hi") == "<«hi»>M");
  CHECK(marked("{{ '<' + u + '>' }}", "hi") == "<«hi»>");
  CHECK(marked("{{ u ~ '!' ~ 1 }}", "hi") == "«hi»!1");
  CHECK(marked("[{{ u|trim }}]", "  hi ") == "[«hi»]");
  CHECK(marked("[{{ u.strip() }}]", " hi ") == "[«hi»]");
  CHECK(marked("{{ u[1:] }}|{{ u[0] }}|{{ u[::-1] }}", "abc") == "«bc»|«a»|«cba»");
  CHECK(marked("{{ u|upper }}-{{ u.lower() }}", "Hi") == "«HI»-«hi»");
  // A replacement standing where user text matched is user text; elsewhere it is markup.
  CHECK(marked("{{ u.replace('i', '<|x|>') }}", "hi") == "«h<|x|>»");
  CHECK(marked("{{ ('a' ~ u).replace('a', '<|x|>') }}", "b") == "<|x|>«b»");
  CHECK(marked("{{ 'x'.replace('x', u) }}", "hi") == "«hi»");
  CHECK(marked("{{ u.split(',')|join('|') }}", "a,b") == "«a»|«b»");
  CHECK(marked("{% for c in u %}{{ c }}-{% endfor %}", "ab") == "«a»-«b»-");
  CHECK(marked("{{ '%s!' % u }}|{{ '{}!'.format(u) }}|{{ '%s'|format(u) }}", "hi") == "«hi»!|«hi»!|«hi»");
  CHECK(marked("{% macro q(x) %}<{{ x }}>{% endmacro %}{{ q(u) }}", "hi") == "<«hi»>");
  CHECK(marked("{% set s %}({{ u }}){% endset %}{{ s|upper }}", "hi") == "(«HI»)");
  CHECK(marked("{{ u|indent(2, true) }}", "a\nb") == "  «a»\n  «b»");
  CHECK(marked("{{ u|e }}", "<b>") == "«&lt;b&gt;»");
  // Serialized values holding user text are user text as a whole (quotes and brackets too).
  CHECK(marked("{{ u|tojson }}|{{ {'k': u}|tojson }}|{{ m|tojson }}", "hi") == "«\"hi\"»|«{\"k\": \"hi\"}»|\"M\"");
  CHECK(marked("{{ [u, 'x'] }}|{{ ['x'] }}", "hi") == "«['hi', 'x']»|['x']");
  // Numbers carry no marks; nothing the template writes itself is marked.
  CHECK(marked("{{ u|length }}{{ 'lit' }}{{ m }}", "hi") == "2litM");
}

TEST_CASE("jinja: one program renders concurrently from several threads", "[jinja]") {
  const program p = program::parse(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content|trim }}<|im_end|>\n{% endfor %}"
      "{% set ns = namespace(n=0) %}{% for i in range(50) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}");
  const variables vars = {{"messages", value::list({value::dict({{value::string("role"), value::string("user")},
                                                                 {value::string("content"), value::string(" hi ", true)}})})}};
  const std::string want = "<|im_start|>user\nhi<|im_end|>\n1225";
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = p.render(vars);
        good[t] += std::holds_alternative<text>(r) && std::get<text>(r).str() == want;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good == std::vector<int>(4, 200));
}
