#!/usr/bin/env python3
# Writes tests/proto/jinja_cases.inc: what Python's Jinja2 3.1 renders for each case below, set up
# as ../shared/templates/README.md says Hugging Face renders chat templates (sandboxed,
# trim_blocks, lstrip_blocks, loop controls, tojson = json.dumps(ensure_ascii=False) with its
# options, raise_exception, strftime_now at 2026-01-15 09:30:00). Needs python3-jinja2; the
# build and the tests do not run this.
# Usage: tests/proto/jinja_cases.py > tests/proto/jinja_cases.inc
import datetime
import json
import sys

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Generation(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation"), [], [], body).set_lineno(lineno)

    def _generation(self, caller):
        return caller()


def render(src, variables):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateError(message)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda f: datetime.datetime(2026, 1, 15, 9, 30, 0).strftime(f)
    try:
        return True, env.from_string(src).render(**variables)
    except Exception as e:  # noqa: BLE001 - every refusal is a case
        return False, type(e).__name__ + ": " + str(e)

CASES = [
("arithmetic", r'''{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 2 ** 3 ** 2 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ true + true }}''', {}),
("float printing", r'''{{ 1.0 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ -0.0 }}|{{ 3.0 * 2 }}|{{ 10 / 4 }}|{{ 1.5e300 * 1e10 }}|{{ 123456789.125 }}|{{ 1/3 }}''', {}),
("strings and slices", r'''{{ "a" ~ 1 ~ none ~ true }}|{{ "ab" * 3 }}|{{ "abc"[1] }}|{{ "abc"[-1] }}|{{ "abcdef"[1:4] }}|{{ "abcdef"[::2] }}|{{ "abc"[::-1] }}|{{ "héllo"[1:3] }}|{{ "héllo"|length }}|{{ [1, 2, 3][1:] }}|{{ [1, 2, 3][-2:] }}|{{ [1, 2, 3][::-1] }}|{{ (1, 2, 3)[1:] }}|{{ [1, 2, 3][5] is defined }}|{{ "日本語"[1] }}''', {}),
("comparisons and logic", r'''{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ "a" in "cat" }}|{{ 2 not in [1, 3] }}|{{ "k" in {"k": 1} }}|{{ none or "x" }}|{{ 0 and "y" }}|{{ not [] }}|{{ 1 == 1.0 }}|{{ true == 1 }}|{{ [1, 2] == [1, 2] }}|{{ (1, 2) == [1, 2] }}|{{ "b" > "a" }}|{{ [1, 2] < [1, 3] }}|{{ {"a": 1, "b": 2} == {"b": 2, "a": 1} }}''', {}),
("python repr", r'''{{ [1, 'a', none, true, 1.5, {'k': "v'q"}] }}|{{ (1,) }}|{{ () }}|{{ {'a': [1, (2, 3)]} }}|{{ "it's" }}|{{ ["it's", 'say "hi"', "both ' \""] }}|{{ ["tab\tnl\n\u00e9\x01\x7f\u00a0\u200b\U0001F642"] }}|{{ {"b": 1, "a": 2, "b": 3} }}''', {}),
("conditional expressions", r'''{{ "yes" if 1 else "no" }}|{{ "yes" if 0 }}|{{ "a" if false else "b" if true else "c" }}|{{ ',' if not false -}} .''', {}),
("tojson", "{{ d|tojson }}\n{{ d|tojson(indent=2) }}\n{{ d|tojson(sort_keys=true) }}\n{{ d|tojson(ensure_ascii=true) }}\n{{ d|tojson(separators=(',', ':')) }}\n{{ [] | tojson(indent=2) }}{{ {} | tojson(indent=2) }}\n{{ 'x'|tojson(indent='\\t') }}{{ {'k': [1]}|tojson(indent='--') }}{{ {'k': [1]}|tojson(indent=0) }}\n{{ [1.0, 1e20, -0.5, 3]|tojson }}{{ 'é🙂'|tojson(true) }}{{ {1: 2, none: 3, true: 4}|tojson }}",
 {"d": {"b": 1, "a": [1, 2.5, "x\ny\t\"q\"\\", None, True], "u": "é\u2028<>&'\u0001"}}),
("whitespace control", "  {% if true %}\n    x\n  {% endif %}\n{{- ' y ' -}}\n  z  {#- c -#}  w\n{%+ if true %}k{% endif +%}\nend\n  {# comment #}\n  a {% if true %}b{% endif %} c\n\t{%- if true %}d{% endif -%}\t\ne {{ 1 }}\n  {{ 2 }}\n{% raw %}{{ not parsed }} {% if %}{% endraw %}\n  {%- raw -%}  r  {%- endraw %}|\n", {}),
("trailing newline and CRLF", "a\r\nb\rc\n{% if true %}\r\nd{% endif %}\n\n", {}),
("loop variables", r'''{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}{{ loop.depth }},{% endfor %}''', {}),
("loop else, filter, break, continue", r'''{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in range(10) if x is odd %}{% if x > 6 %}{% break %}{% endif %}{% if x == 3 %}{% continue %}{% endif %}{{ x }}{{ loop.length }},{% endfor %}|{% for x in [1, 2] if x > 5 %}{{ x }}{% else %}none{% endfor %}''', {}),
("unpacking and dicts", r'''{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %}|{% set a, b = 1, 2 %}{{ b }}{{ a }}|{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}|{% for c in "hé" %}[{{ c }}]{% endfor %}''', {"d": {"b": 1, "a": 2}}),
("scoping", r'''{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}|{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}|{% for i in [1, 2] %}{% if i == 2 %}{{ z }}{% endif %}{% set z = i %}{% endfor %}|{% macro show() %}{{ late }}{% endmacro %}{% set late = "A" %}{{ show() }}{% set late = "B" %}{{ show() }}''', {}),
("macros", r'''{% macro greet(name, greeting="Hello", punct="!") %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet("Ann") }}|{{ greet("Bo", punct="?") }}|{{ greet(greeting="Hi", name="Cy") }}|{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}|{% macro outer(x) %}[{{ caller(x) }}]{% endmacro %}{% call(y) outer(7) %}inside{{ y }}{% endcall %}|{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}|{% macro d(a, b=a * 2) %}{{ b }}{% endmacro %}{{ d(4) }}|{% macro m(p) %}{{ p is defined }}{% endmacro %}{{ m() }}''', {}),
("set and filter blocks", r'''{% set body %}  Hello {{ name }}  {% endset %}[{{ body }}]|{% set t | trim | upper %}  x y  {% endset %}[{{ t }}]|{% filter upper %}abc{{ 1 }}{% endfilter %}|{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}|{% generation %}gen{% set g = 1 %}{% endgeneration %}{{ g is defined }}''', {"name": "W"}),
("string methods", r'''{{ "  a b  ".strip() }}|{{ "xxaxx".strip("x") }}|{{ " a".lstrip() }}|{{ "a ".rstrip() }}|{{ "a,b,,c".split(",") }}|{{ " a  b ".split() }}|{{ "a b c".split(" ", 1) }}|{{ "a b c".rsplit(" ", 1) }}|{{ "a  b c ".split(none, 1) }}|{{ "abc".startswith("ab") }}|{{ "abc".endswith(("x", "c")) }}|{{ "aXbX".replace("X", "-") }}|{{ "aXbX".replace("X", "-", 1) }}|{{ "hello world".title() }}|{{ "hELLO".capitalize() }}|{{ "abc".upper() }}|{{ "ABC".lower() }}|{{ "abcabc".find("c") }}|{{ "abc".find("z") }}|{{ "-".join(["a", "b"]) }}|{{ "{} and {name}".format(1, name="x") }}|{{ "{0:>5}|{1:.2f}|{2:03d}|{0!r}".format("ab", 3.14159, 7) }}|{{ "a\nb\r\nc".splitlines() }}|{{ "abc".count("b") }}|{{ "\u00a0x\u3000".strip() }}|{{ "ß straße ΣΑΣ".upper() }}|{{ "ΣΑΣ ΟΔΟΣ".lower() }}|{{ "a=b=c".partition("=") }}|{{ "7".zfill(3) }}|{{ "x".center(5, "*") }}''', {}),
("dict methods", r'''{{ d.get("a") }}|{{ d.get("z") }}|{{ d.get("z", 5) }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d["a"] }}|{{ d.a }}|{{ d.items()|list }}|{{ d.get("items") }}|{{ d["items"] }}''', {"d": {"a": 1, "items": "i"}}),
("filters", r'''{{ "  x  "|trim }}|{{ "abc"|upper }}|{{ "Hello World"|lower }}|{{ "hello wORLD-foo(bar"|title }}|{{ "hELLO wORLD"|capitalize }}|{{ [1, 2, 3]|length }}|{{ "héllo"|count }}|{{ [3, 1, 2]|first }}|{{ [3, 1, 2]|last }}|{{ [1, 2]|join(", ") }}|{{ "aXa"|replace("a", "b") }}|{{ none|default("d") }}|{{ ""|default("d") }}|{{ ""|default("d", true) }}|{{ undefined_name|d("u") }}|{{ [1, 2]|list }}|{{ "ab"|list }}|{{ 3|string ~ "x" }}|{{ "42"|int + 1 }}|{{ "4.5"|float }}|{{ "x"|int }}|{{ -3|abs }}|{{ 2.567|round(2) }}|{{ 2.5|round }}|{{ 2.675|round(2) }}|{{ 2.1|round(0, "ceil") }}|{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}|{{ ["b", "A", "c"]|sort }}|{{ [1, 2, 1, 3]|unique|list }}|{{ [1, 2, 3]|reverse|list }}|{{ "abc"|reverse }}|{{ [1, 2, 3]|sum }}|{{ [1, 5, 2]|max }}|{{ [4, 5, 2]|min }}|{{ "0x1A"|int(0, 16) }}|{{ " 12 "|int }}|{{ "1_000"|int }}''', {}),
("map and select", r'''{{ users|map(attribute="name")|join(",") }}|{{ users|map(attribute="age", default=0)|list }}|{{ users|selectattr("age")|map(attribute="name")|list }}|{{ users|selectattr("age", "defined")|selectattr("age", "gt", 4)|map(attribute="name")|list }}|{{ users|rejectattr("age")|list }}|{{ [1, 2, 3, 4]|select("even")|list }}|{{ [1, 2, 3, 4]|reject("odd")|list }}|{{ ["a", "b"]|map("upper")|list }}|{{ users|sort(attribute="name", reverse=true)|map(attribute="name")|join }}|{{ users|map(attribute="name")|list|tojson }}|{{ none|map("upper")|list }}|{{ users|selectattr("name", "equalto", "b")|list|length }}''', {"users": [{"name": "a", "age": 3}, {"name": "b", "age": 5}, {"name": "c"}]}),
("indent", r'''{{ "a\nb\n\nc"|indent }}|{{ "a\nb"|indent(2, true) }}|{{ "a\n\nb"|indent(2, blank=true) }}|{{ "x\ny"|indent("> ") }}''', {}),
("tests", r'''{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}{{ "s" is string }}{{ {} is mapping }}{{ [] is sequence }}{{ "s" is iterable }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 2 is eq 2 }}{{ 2 is equalto 3 }}{{ 2 is in [1, 2] }}{{ "abc" is lower }}{{ "ABC" is upper }}{{ true is true }}{{ 0 is false }}{{ range is callable }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 3 is ge 3 }}{{ x is not defined }}{{ none is sameas none }}{{ 1 is string }}{{ (1, 2) is sequence }}{{ 5 is iterable }}''', {}),
("batch slice dictsort items", r'''{{ [1,2,3,4,5]|batch(2)|list }}|{{ [1,2,3,4,5]|batch(2, 0)|list }}|{{ [1,2,3,4,5]|slice(2)|list }}|{{ {"b": 1, "A": 2}|dictsort }}|{{ {"b": 1, "a": 2}|dictsort(by="value", reverse=true) }}|{{ {"a": 1}|items|list }}''', {}),
("printf formatting", r'''{{ "%s-%d-%05.2f-%x" % ("a", 3, 2.5, 255) }}|{{ "%(n)s!" % {"n": 1} }}|{{ "%s and %s"|format("a", "b") }}|{{ "%-5s|" % "ab" }}|{{ "%r" % "q" }}|{{ "%d%%" % 50 }}|{{ "%#o %#x %+d % d" % (8, 255, 3, 4) }}|{{ "%s" % [1, 2] }}''', {}),
("center wordcount truncate", r'''[{{ "ab"|center(6) }}]|{{ "one two, three"|wordcount }}|{{ "hello world foo bar"|truncate(9) }}|{{ "hello world foo bar"|truncate(9, true) }}|{{ "short"|truncate(9) }}''', {}),
("escape and markup", r'''{{ "<a href='x'>&"|e }}|{{ ("<b>"|safe + "<i>") }}|{{ "<b>"|safe|e }}|{{ "x"|safe ~ "<" }}|{{ "<" + "a"|safe }}|{{ ("<b>"|safe).upper() }}|{{ ("&"|safe).join(["<", ">"]) }}''', {}),
("undefined", r'''[{{ missing }}]|[{{ missing|length }}]|[{% for x in missing %}x{% endfor %}]|{{ missing is defined }}|{{ missing == missing }}|{{ missing ~ "s" }}|{{ not missing }}|{{ {"a": 1}.b is defined }}|[{{ missing|join }}]|{{ missing|default("dflt") }}|[{{ missing|string }}]|[{{ missing|trim }}]|{{ missing is none }}|{{ none }}|[{{ missing|items|list }}]''', {}),
("strftime_now and range", r'''{{ strftime_now("%Y-%m-%d %H:%M:%S %a %A %b %B %j %p %I %y %e %d %-d %U %W %V %G %u %w %c|%x|%X|%D|%F|%T|%%|%f") }}|{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}''', {}),
("string literal escapes", r"""{{ 'a\tb\\n\x41\u00e9\101\q' }}|{{ "it\'s" "  joined" }}""", {}),
("loop changed and recursive", r'''{% for x in [1, 1, 2] %}{{ loop.changed(x) }}{% endfor %}|{% for item in tree recursive %}{{ item.n }}{{ loop.depth }}{% if item.c %}({{ loop(item.c) }}){% endif %}{% endfor %}''', {"tree": [{"n": "a", "c": [{"n": "b", "c": []}, {"n": "c"}]}, {"n": "d"}]}),
("lists and concatenation", r'''{% set x = [1, 2] + [3] %}{{ x }}|{{ "a" + "b" }}|{{ [0] * 3 }}|{{ 3 * "ab" }}|{{ (1, 2) + (3,) }}|{{ dict(a=1, b=2) }}|{{ namespace(a=1).a }}|{{ [1, [2, [3]]]|length }}''', {}),
("unicode case and repr", r'''{{ "éCOLE"|lower }}|{{ "straße"|upper }}|{{ "ǆemal"|title }}|{{ "ǆemal".title() }}|{{ "ﬁne"|capitalize }}|{{ ["\u0300", "\ufeff", "\ue000"] }}''', {}),
]
ERRORS = [
("raise_exception", r'''{{ raise_exception("boom: " ~ 1) }}''', {}),
("attribute of undefined", r'''{{ {"a": 1}.b.c }}''', {}),
("unsafe list method", r'''{{ [].append(1) }}''', {}),
("unsafe dict method", r'''{% set d = {} %}{{ d.update({"a": 1}) }}''', {}),
("dunder attribute", r'''{{ x.__class__.__name__ }}''', {"x": "s"}),
("str plus int", r'''{{ "a" + 1 }}''', {}),
("int plus str", r'''{{ 1 + "a" }}''', {}),
("division by zero", r'''{{ 1 / 0 }}''', {}),
("undefined name attribute", r'''{{ missing.attr }}''', {}),
("generator to json", r'''{{ [1]|map("string")|tojson }}''', {}),
("undefined to json", r'''{{ missing|tojson }}''', {}),
("len of none", r'''{{ none|length }}''', {}),
("macro arguments", r'''{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}''', {}),
("macro keyword", r'''{% macro m(a) %}{% endmacro %}{{ m(b=2) }}''', {}),
("range too big", r'''{{ range(200000)|length }}''', {}),
("not iterable", r'''{% for x in 5 %}{% endfor %}''', {}),
("unpack", r'''{% for a, b in [[1, 2, 3]] %}{% endfor %}''', {}),
("compare types", r'''{{ 1 < "a" }}''', {}),
("call undefined", r'''{{ nothing() }}''', {}),
("unknown filter at run time", r'''{% if false %}{{ x|nosuchfilter }}{% endif %}{% if true %}{{ 1|nosuchfilter }}{% endif %}''', {}),
("namespace assign on non-namespace", r'''{% set d = {} %}{% set d.x = 1 %}''', {}),
]


def literal(s):
    assert ')j"' not in s
    return 'R"j(' + s + ')j"'


def main():
    out = ["// Generated by tests/proto/jinja_cases.py from Python's Jinja2; do not edit.",
           "const jinja_case render_cases[] = {"]
    for name, src, variables in CASES:
        ok, result = render(src, variables)
        if not ok:
            sys.exit(f"{name}: Jinja2 refused: {result}")
        out.append("    {%s,\n     %s,\n     %s,\n     %s}," % (json.dumps(name), literal(src),
                                                             literal(json.dumps(variables, ensure_ascii=False)), literal(result)))
    out.append("};")
    out.append("const jinja_case error_cases[] = {")
    for name, src, variables in ERRORS:
        ok, result = render(src, variables)
        if ok:
            sys.exit(f"{name}: Jinja2 rendered {result!r}")
        out.append("    {%s, %s, %s, %s}," % (json.dumps(name), literal(src), literal(json.dumps(variables, ensure_ascii=False)),
                                              literal(result)))
    out.append("};")
    print("\n".join(out))


main()
