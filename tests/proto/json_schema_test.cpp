// JSON Schema -> GBNF: every grammar parses, accepts the valid instances of its schema and
// rejects invalid ones; unsupported schemas are refused with the place and the keyword.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/grammar.h"
#include "proto/json_schema.h"

using hearth::grammar;
using hearth::json_schema_error;
using hearth::json_schema_to_gbnf;

namespace {

// The grammar of a schema (ordered_json keeps the declared property order); fails the test if
// the grammar does not parse.
std::shared_ptr<const grammar> js_grammar(std::string_view schema) {
  const std::string gbnf = json_schema_to_gbnf(nlohmann::ordered_json::parse(schema));
  INFO("grammar:\n" << gbnf);
  std::shared_ptr<const grammar> g;
  REQUIRE_NOTHROW(g = grammar::parse(gbnf));
  return g;
}

// Every `valid` text is accepted, every `invalid` one rejected. The valid ones are checked to
// be JSON, so a typo in a test cannot pass for a rejection.
void js_check(std::string_view schema, std::initializer_list<std::string_view> valid,
              std::initializer_list<std::string_view> invalid) {
  INFO("schema: " << schema);
  const auto g = js_grammar(schema);
  for (std::string_view text : valid) {
    INFO("valid: " << text);
    CHECK(nlohmann::json::accept(text));
    CHECK(hearth::grammar_accepts(g, text));
  }
  for (std::string_view text : invalid) {
    INFO("invalid: " << text);
    CHECK_FALSE(hearth::grammar_accepts(g, text));
  }
}

// The conversion fails with a message holding `path` and `part`.
void js_refused(std::string_view schema, std::string_view path, std::string_view part) {
  INFO("schema: " << schema);
  try {
    const std::string gbnf = json_schema_to_gbnf(nlohmann::ordered_json::parse(schema));
    FAIL("converted to:\n" << gbnf);
  } catch (const json_schema_error& e) {
    const std::string what = e.what();
    INFO("message: " << what);
    CHECK(what.rfind(std::string(path) + ": ", 0) == 0);
    CHECK(what.find(part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("json schema: primitive types", "[proto][schema]") {
  js_check(R"({"type": "string"})", {R"("")", R"("hello")", R"("a\"b\\c\/\n\u00e9\ud83d\ude00")", "\"caf\xC3\xA9\""},
           {"hello", R"("a"b")", "\"tab\there\"", R"("\x")", R"("\ud800")", R"("\u12")", "1", "null"});
  js_check(R"({"type": "integer"})", {"0", "-0", "7", "-42", "1234567890123456"},
           {"1.5", "01", "+1", "1e3", "\"1\"", "-", "12345678901234567"});
  js_check(R"({"type": "number"})", {"0", "-1.5", "3.14159", "1e10", "2.5E-3", "-0.0"},
           {"1.", ".5", "01", "NaN", "Infinity", "1e", "\"1\""});
  js_check(R"({"type": "boolean"})", {"true", "false"}, {"True", "1", "null"});
  js_check(R"({"type": "null"})", {"null"}, {"nil", "\"null\"", "0"});
  js_check(R"({"type": ["string", "null"]})", {R"("x")", "null"}, {"1", "false"});
  js_check(R"({"type": ["integer", "boolean"], "minimum": 3})", {"3", "100", "true"}, {"2", "-3", "null"});
}

TEST_CASE("json schema: true and {} allow any JSON value", "[proto][schema]") {
  for (std::string_view schema : {"true", "{}", R"({"description": "anything"})"}) {
    js_check(schema, {"null", "1", R"("s")", R"({"a": [1, {"b": null}], "c": -2.5e3})", "[]", "{}", "[true, false]"},
             {"", "{", "[1,]", R"({"a" 1})", "nul"});
  }
}

TEST_CASE("json schema: json_object grammar", "[proto][schema]") {
  const auto g = grammar::parse(hearth::json_object_gbnf());
  CHECK(hearth::grammar_accepts(g, "{}"));
  CHECK(hearth::grammar_accepts(g, R"({"a": 1, "b": [1, {"c": "d"}], "a\"b": null})"));
  CHECK_FALSE(hearth::grammar_accepts(g, "[]"));
  CHECK_FALSE(hearth::grammar_accepts(g, R"("x")"));
  CHECK_FALSE(hearth::grammar_accepts(g, R"({"a": 1,})"));
}

TEST_CASE("json schema: whitespace is optional and bounded", "[proto][schema]") {
  const std::string twenty(20, ' ');
  js_check(R"({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}},
               "required": ["a"]})",
           {R"({"a":[1,2]})", R"({ "a" : [ 1 , 2 ] })", "{\n  \"a\": [\n    1,\n    2\n  ]\n}",
            "{\n" + twenty + "\"a\":[]}"},
           {R"({"a":  [1]})", "{\n" + twenty + " \"a\":[]}", "{\n\n\"a\":[]}", R"( {"a":[]})"});
}

TEST_CASE("json schema: required and optional properties in declared order", "[proto][schema]") {
  const char* schema = R"({"type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "email": {"type": "string"},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "tags"]})";
  js_check(schema,
           {R"({"name": "a", "tags": []})", R"({"name": "a", "tags": ["x"], "age": 3})",
            R"({"name": "a", "tags": [], "age": 3, "email": "e"})", R"({"name": "a", "tags": [], "email": "e"})"},
           {R"({"name": "a"})", R"({"tags": []})", R"({"name": "a", "tags": [], "extra": 1})",
            R"({"name": 1, "tags": []})", R"({"name": "a", "tags": [], "age": "3"})", R"({"name": "a", "tags": [],})",
            R"({"name": "a", "tags": [], "age": 3, "age": 4})"});
  // Only optional properties: any ordered subset, commas only between.
  js_check(R"({"type": "object",
               "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}})",
           {"{}", R"({"a": 1})", R"({"b": 2})", R"({"c": 3})", R"({"a": 1, "c": 3})", R"({"b": 2, "c": 3})",
            R"({"a": 1, "b": 2, "c": 3})"},
           {R"({,})", R"({"a": 1,})", R"({, "a": 1})", R"({"a": 1, "a": 1})", R"({"d": 1})", R"({"a": 1 "b": 2})"});
  // A property whose schema is false may not appear.
  js_check(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": false}})", {"{}", R"({"a": 1})"},
           {R"({"b": 1})"});
}

TEST_CASE("json schema: properties keep their order only with ordered_json", "[proto][schema]") {
  const char* schema = R"({"type": "object", "properties": {"z": {"type": "integer"}, "a": {"type": "integer"}},
                          "required": ["z", "a"]})";
  const auto ordered = grammar::parse(json_schema_to_gbnf(nlohmann::ordered_json::parse(schema)));
  CHECK(hearth::grammar_accepts(ordered, R"({"z": 1, "a": 2})"));
  CHECK_FALSE(hearth::grammar_accepts(ordered, R"({"a": 2, "z": 1})"));
  const auto sorted = grammar::parse(json_schema_to_gbnf(nlohmann::json::parse(schema)));
  CHECK(hearth::grammar_accepts(sorted, R"({"a": 2, "z": 1})"));
}

TEST_CASE("json schema: additionalProperties", "[proto][schema]") {
  // absent: none (documented choice)
  js_check(R"({"type": "object", "properties": {"a": {"type": "integer"}}})", {"{}", R"({"a": 1})"},
           {R"({"b": 1})", R"({"a": 1, "b": 1})"});
  js_check(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false})",
           {R"({"a": 1})"}, {R"({"a": 1, "b": 1})"});
  // true: other keys with any value, but never a declared key again
  js_check(R"({"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "string"}},
               "required": ["a"], "additionalProperties": true})",
           {R"({"a": 1})", R"({"a": 1, "b": [1]})", R"({"a": 1, "ab": "x", "abc": null, "": 2, "x": {}})",
            R"({"a": 1, "A": 2})"},
           {R"({"a": 1, "a": 2})", R"({"a": 1, "ab": "x", "ab": "y"})", R"({"b": 1})"});
  js_check(R"({"type": "object", "additionalProperties": {"type": "integer"}})",
           {"{}", R"({"x": 1, "y": 2})"}, {R"({"x": "1"})", R"({"x": 1,})"});
  js_check(R"({"type": "object", "properties": {"a": {"type": "string"}},
               "additionalProperties": {"type": "integer"}})",
           {R"({"a": "s", "b": 2})", R"({"b": 2})", "{}"}, {R"({"a": 1})", R"({"b": "s"})"});
  // required names without a declared schema take additionalProperties' schema
  js_check(R"({"type": "object", "required": ["id"], "additionalProperties": {"type": "integer"}})",
           {R"({"id": 1})", R"({"id": 1, "n": 2})"}, {"{}", R"({"id": "x"})"});
  js_check(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "unevaluatedProperties": false})",
           {R"({"a": 1})"}, {R"({"b": 1})"});
}

TEST_CASE("json schema: enum and const, values written exactly", "[proto][schema]") {
  js_check(R"({"enum": ["red", 1, null, true, 2.5, {"a": [1, "x"]}, ["q"], "quo\"te\\", "ünï\n"]})",
           {R"("red")", "1", "null", "true", "2.5", R"({"a":[1,"x"]})", R"(["q"])", R"("quo\"te\\")",
            "\"\xC3\xBCn\xC3\xAF\\n\""},
           {R"("blue")", "2", "false", R"({"a":[1]})", R"("quo"te")", "\"\xC3\xBCn\xC3\xAF\""});
  js_check(R"({"type": "string", "enum": ["a", "b", 1]})", {R"("a")", R"("b")"}, {"1", R"("c")"});
  js_check(R"({"const": "fixed"})", {R"("fixed")"}, {R"("other")", R"("fixe")"});
  js_check(R"({"type": "integer", "const": 42})", {"42"}, {"43", "42.0"});
  js_check(R"({"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}},
               "required": ["kind", "r"]})",
           {R"({"kind": "circle", "r": 1.5})"}, {R"({"kind": "square", "r": 1.5})"});
}

TEST_CASE("json schema: property names and strings are escaped in the grammar", "[proto][schema]") {
  js_check(R"({"type": "object", "properties": {"a\"b": {"type": "integer"}, "back\\slash": {"type": "integer"},
               "new\nline": {"type": "integer"}, "ünï 😀": {"type": "integer"}, "tab\t": {"type": "integer"}},
               "required": ["a\"b", "back\\slash", "new\nline", "ünï 😀", "tab\t"]})",
           {"{\"a\\\"b\": 1, \"back\\\\slash\": 2, \"new\\nline\": 3, \"\xC3\xBCn\xC3\xAF \xF0\x9F\x98\x80\": 4, "
            "\"tab\\t\": 5}"},
           {R"({"ab": 1})", "{\"a\"b\": 1}"});
}

TEST_CASE("json schema: arrays", "[proto][schema]") {
  js_check(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})",
           {"[1]", "[1, 2]", "[1,2,3]"}, {"[]", "[1, 2, 3, 4]", R"(["1"])", "[1,]", "[,1]"});
  js_check(R"({"type": "array", "items": {"type": "string"}})", {"[]", R"(["a", "b", "c", "d", "e"])"},
           {R"([1])", R"(["a" "b"])"});
  js_check(R"({"type": "array", "minItems": 2})", {"[1, \"x\"]", "[null, {}, []]"}, {"[1]"});
  js_check(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2})", {"[1, 2]"},
           {"[1]", "[1, 2, 3]"});
  js_check(R"({"type": "array", "items": {"type": "integer"}, "maxItems": 0})", {"[]"}, {"[1]"});
  // tuples: 2020-12 prefixItems, draft-07 items array
  js_check(R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]})",
           {R"(["a", 1])"}, {R"([1, "a"])", R"(["a", 1, 2])", R"(["a", 1, "b"])"});
  js_check(R"({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}, "maxItems": 3})",
           {R"(["a"])", R"(["a", 1])", R"(["a", 1, 2])"}, {R"(["a", 1, 2, 3])", R"(["a", "b"])", "[1]"});
  js_check(R"({"type": "array", "items": [{"type": "boolean"}, {"type": "null"}],
               "additionalItems": {"type": "string"}})",
           {"[true, null]", R"([false, null, "x", "y"])"}, {"[true, null, 1]", "[null, true]"});
  js_check(R"({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}, {"type": "integer"}],
               "maxItems": 2})",
           {"[1, 2]"}, {"[1, 2, 3]"});
  js_check(R"({"type": "array", "items": false})", {"[]"}, {"[1]"});
  js_check(R"({"type": "array", "uniqueItems": false, "items": {"type": "null"}})", {"[null, null]"}, {"[1]"});
}

TEST_CASE("json schema: anyOf and oneOf", "[proto][schema]") {
  js_check(R"({"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string", "maxLength": 2}]})",
           {"10", "99", R"("ab")", R"("")"}, {"9", R"("abc")", "null"});
  js_check(R"({"oneOf": [{"type": "object", "properties": {"cat": {"type": "boolean"}}, "required": ["cat"]},
                         {"type": "object", "properties": {"dog": {"type": "integer"}}, "required": ["dog"]}]})",
           {R"({"cat": true})", R"({"dog": 3})"}, {R"({"cat": true, "dog": 3})", "{}", R"({"dog": "x"})"});
  // pydantic's discriminated union: oneOf with OpenAPI's "discriminator" (an annotation)
  js_check(R"({"oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}],
               "discriminator": {"propertyName": "pet_type", "mapping": {"cat": "#/$defs/Cat", "dog": "#/$defs/Dog"}},
               "$defs": {"Cat": {"type": "object", "title": "Cat", "required": ["pet_type", "meows"],
                                 "properties": {"pet_type": {"const": "cat", "title": "Pet Type"},
                                                "meows": {"type": "integer", "title": "Meows"}}},
                         "Dog": {"type": "object", "title": "Dog", "required": ["pet_type", "barks"],
                                 "properties": {"pet_type": {"const": "dog", "title": "Pet Type"},
                                                "barks": {"type": "number", "title": "Barks"}}}}})",
           {R"({"pet_type": "cat", "meows": 3})", R"({"pet_type": "dog", "barks": 1.5})"},
           {R"({"pet_type": "cat", "barks": 1})", R"({"pet_type": "dog", "meows": 3})"});
  js_check(R"({"anyOf": [{"type": "string"}, {"type": "null"}], "description": "nullable, zod style"})",
           {R"("x")", "null"}, {"0"});
}

TEST_CASE("json schema: allOf merges object schemas", "[proto][schema]") {
  js_check(R"({"$defs": {"base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
               "allOf": [{"$ref": "#/$defs/base"},
                         {"properties": {"name": {"type": "string"}, "note": {"type": "string"}},
                          "required": ["name"]}]})",
           {R"({"id": 1, "name": "n"})", R"({"id": 1, "name": "n", "note": "x"})"},
           {R"({"id": 1})", R"({"name": "n"})", R"({"id": 1, "name": "n", "other": 0})"});
  // a lone branch is just that schema, of any kind
  js_check(R"({"$defs": {"color": {"enum": ["red", "green"]}}, "allOf": [{"$ref": "#/$defs/color"}],
               "description": "the color"})",
           {R"("red")"}, {R"("blue")"});
  // nested allOf, the schema's own properties, a lone branch next to "type"
  js_check(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
               "allOf": [{"allOf": [{"properties": {"b": {"type": "null"}}}, {"properties": {"c": {"const": 1}}}]},
                         {"required": ["c"]}]})",
           {R"({"a": 1, "c": 1})", R"({"a": 1, "c": 1, "b": null})"}, {R"({"a": 1})", R"({"a": 1, "c": 2})"});
  js_check(R"({"type": "object", "allOf": [{"$ref": "#/$defs/p"}],
               "$defs": {"p": {"properties": {"x": {"type": "string"}}}}})",
           {"{}", R"({"x": "s"})"}, {R"({"x": 1})"});
  js_refused(R"({"allOf": [{"type": "object", "properties": {"a": {}}, "additionalProperties": false},
                           {"properties": {"b": {}}}]})",
             "/allOf/0", "forbids property \"b\"");
  js_refused(R"({"allOf": [{"type": "string"}, {"minLength": 2}]})", "/allOf/0/type", "inside \"allOf\"");
}

TEST_CASE("json schema: $ref, $defs, definitions and recursion", "[proto][schema]") {
  // A linked list.
  js_check(R"({"$ref": "#/$defs/node",
               "$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
                                  "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                                  "required": ["value", "next"]}}})",
           {R"({"value": 1, "next": null})",
            R"({"value": 1, "next": {"value": 2, "next": {"value": 3, "next": null}}})"},
           {R"({"value": 1})", R"({"value": 1, "next": {"value": 2}})", R"({"value": 1, "next": 2})"});
  // A tree through draft-07 definitions and the root itself.
  js_check(R"({"type": "object", "properties": {"name": {"type": "string"},
               "children": {"type": "array", "items": {"$ref": "#"}}}, "required": ["name"]})",
           {R"({"name": "a"})",
            R"({"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}, {"name": "d"}]})"},
           {R"({"name": "a", "children": [{}]})", R"({"name": "a", "children": [1]})"});
  js_check(R"({"definitions": {"pos": {"type": "integer", "minimum": 1}},
               "type": "array", "items": {"$ref": "#/definitions/pos"}})",
           {"[1, 2, 30]"}, {"[0]", "[-1]"});
  // Percent-encoded and ~-escaped pointers.
  js_check(R"({"$defs": {"a b": {"type": "null"}, "c/d": {"type": "boolean"}},
               "type": "array", "prefixItems": [{"$ref": "#/$defs/a%20b"}, {"$ref": "#/$defs/c~1d"}]})",
           {"[null, true]"}, {"[true, null]"});
  js_refused(R"({"$ref": "#/$defs/a", "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}})",
             "/$defs/a/anyOf/0/$ref", "refers to itself");
  js_refused(R"({"$ref": "#/$defs/missing"})", "/$ref", "does not resolve");
  js_refused(R"({"$ref": "https://example.com/schema.json"})", "/$ref", "only local");
  js_refused(R"({"$ref": "#/$defs/a", "minimum": 1, "$defs": {"a": {}}})", "(root)", "\"minimum\" next to \"$ref\"");
}

TEST_CASE("json schema: string lengths count characters", "[proto][schema]") {
  js_check(R"({"type": "string", "minLength": 2, "maxLength": 3})",
           {R"("ab")", R"("abc")", R"("\n\"")", "\"\xC3\xA9\xC3\xA9\"", R"("\ud83d\ude00x")"},
           {R"("a")", R"("abcd")", R"("")", R"("\u00e9")"});
  js_check(R"({"type": "string", "maxLength": 0})", {R"("")"}, {R"("a")"});
  js_check(R"({"type": "string", "minLength": 1})", {R"("a")", R"("abcdefgh")"}, {R"("")"});
}

TEST_CASE("json schema: pattern", "[proto][schema]") {
  js_check(R"({"type": "string", "pattern": "^\\d{3}-\\d{4}$"})", {R"("555-1234")"},
           {R"("5555-1234")", R"("55-1234")", R"("555-12345")", R"("abc-defg")", R"(" 555-1234")"});
  // unanchored: any text around a match
  js_check(R"({"type": "string", "pattern": "ab+c"})", {R"("abc")", R"("xxabbbcyy")", R"("\"abc\n")"},
           {R"("ac")", R"("")"});
  js_check(R"({"type": "string", "pattern": "^(cat|dog)s?$"})", {R"("cat")", R"("dogs")"}, {R"("cow")", R"("cats!")"});
  js_check(R"({"type": "string", "pattern": "^[A-Z][a-z_]*(?:-[0-9a-f]{2,4})?$"})",
           {R"("Abc")", R"("A_b-ff")", R"("Z-0123")"}, {R"("abc")", R"("A-f")", R"("A-fffff")", R"("AB")"});
  js_check(R"({"type": "string", "pattern": "^[^0-9\\s]+$"})", {R"("abc")", R"("a-b!")"},
           {R"("a1")", R"("a b")", R"("")", "\"\xC3\xA9\""});  // (ASCII only next to \s: see below)
  js_check(R"({"type": "string", "pattern": "^a.c$"})", {R"("abc")", R"("a-c")"}, {R"("ac")", R"("a\nc")"});
  js_check(R"({"type": "string", "pattern": "^\\w+@\\w+\\.com$"})", {R"("joe@mail.com")"},
           {R"("joe@mail.org")", R"("jo e@mail.com")"});
  // characters JSON escapes: a quote, a backslash, a newline, in the pattern
  js_check(R"({"type": "string", "pattern": "^\"\\\\\\n[\\s]$"})", {R"("\"\\\n ")", R"("\"\\\n\t")"},
           {R"("\"\\n ")", R"("\"\\\n\\")"});
  js_check(R"({"type": "string", "pattern": "^(ab){2}x?$|^z$"})", {R"("abab")", R"("ababx")", R"("z")"},
           {R"("ab")", R"("zz")"});
  js_check(R"({"type": "string", "pattern": "^\\u00e9\\x41\\.\\$\\{$"})", {"\"\xC3\xA9" "A.${\""}, {R"("eA.${")"});
  // \D \W \S and negated classes with them keep to ASCII: Python's regex engine (a common
  // validator) counts "é" as a word character and "٣" as a digit, ECMA-262 does not.
  js_check(R"({"type": "string", "pattern": "^\\W\\D[^\\d\\s]\\S$"})", {R"("!a_b")", R"("\"\\x\"")"},
           {"\"\xC3\xA9" "aab\"", "\"!\xD9\xA3" "ab\"", "\"!a\xD9\xA3" "b\"", "\"!ab\xC3\xA9\""});
  js_check(R"({"type": "string", "pattern": "^[^,]+$"})", {R"("ab")", "\"\xC3\xA9t\xC3\xA9\""}, {R"("a,b")"});
  // A repeated group that can match nothing is written once (the matcher refuses (X)* for a
  // nullable X as left-recursive); {0} writes nothing, an empty group nothing.
  js_check(R"({"type": "string", "pattern": "^(a*b?)*c()(x|)+y{0}$"})", {R"("c")", R"("aabc")", R"("bcx")"},
           {R"("cy")", R"("d")", R"("cxy")", R"("ca")"});
  js_refused(R"({"type": "string", "pattern": "^(?=a)b$"})", "(root)", "\"pattern\"");
  js_refused(R"({"type": "string", "pattern": "(a)\\1"})", "(root)", "backreferences");
  js_refused(R"({"type": "string", "pattern": "\\bword"})", "(root)", "\"pattern\": word boundaries");
  js_refused(R"({"type": "string", "pattern": "a^b"})", "(root)", "\"^\"");
  js_refused(R"({"type": "string", "pattern": "a{1,20000}"})", "(root)", "\"pattern\"");
  js_refused(R"({"properties": {"p": {"type": "string", "pattern": "(ab"}}})", "/properties/p", "\"pattern\"");
  js_refused(R"({"type": "string", "pattern": "a", "maxLength": 3})", "/pattern", "together with");
}

TEST_CASE("json schema: formats", "[proto][schema]") {
  js_check(R"({"type": "string", "format": "date"})",
           {R"("2024-02-29")", R"("2000-02-29")", R"("2023-02-28")", R"("1999-12-31")", R"("2023-04-30")",
            R"("2023-01-31")"},
           {R"("2023-02-29")", R"("1900-02-29")", R"("2023-13-01")", R"("2023-00-10")", R"("2023-04-31")",
            R"("2023-1-01")", R"("20230101")", R"("2023-01-00")", R"("2023-01-32")"});
  js_check(R"({"type": "string", "format": "time"})",
           {R"("23:59:59Z")", R"("00:00:00.123+05:30")", R"("12:30:00-08:00")"},
           {R"("24:00:00Z")", R"("12:60:00Z")", R"("12:00Z")", R"("12:00:00+5:30")"});
  js_check(R"({"type": "string", "format": "date-time"})",
           {R"("2024-06-01T12:00:00Z")", R"("2024-06-01T12:00:00.5+02:00")"},
           {R"("2024-06-01 12:00:00Z")", R"("2024-06-31T12:00:00Z")", R"("2024-06-01")"});
  js_check(R"({"type": "string", "format": "uuid"})", {R"("123e4567-e89b-12d3-a456-426614174000")"},
           {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400")",
            R"("g23e4567-e89b-12d3-a456-426614174000")"});
  js_check(R"({"type": "string", "format": "email"})", {R"("joe@example.com")", R"("a.b+c@mail.example.org")"},
           {R"("joe")", R"("joe@localhost")", R"("@example.com")", R"("joe@-x.com")", R"("jo e@example.com")"});
  js_check(R"({"type": "string", "format": "ipv4"})", {R"("192.168.0.1")", R"("255.255.255.255")", R"("0.0.0.0")"},
           {R"("256.1.1.1")", R"("1.2.3")", R"("01.2.3.4")", R"("1.2.3.4.5")"});
  js_check(R"({"type": "string", "format": "hostname"})", {R"("example.com")", R"("a-b.c")", R"("localhost")"},
           {R"("-a.com")", R"("a..b")", R"("a_b.com")"});
  js_check(R"({"type": "string", "format": "uri"})",
           {R"("https://example.com")", R"("http://a.b.c:8080/x/y%20z?q=1&r=/s")", R"("https://h.io/a(1)/~u/")"},
           {R"("example.com")", R"("https://")", R"("https://exa mple.com")", R"("ftp://x.y")",
            R"("https://x.y/%zz")"});
  js_refused(R"({"type": "string", "format": "iri-reference"})", "/format", "unsupported format \"iri-reference\"");
}

TEST_CASE("json schema: integer ranges are exact", "[proto][schema]") {
  struct range_case {
    const char* schema;
    int64_t lo, hi;  // inclusive
  };
  const range_case cases[] = {
      {R"({"type": "integer", "minimum": 0, "maximum": 100})", 0, 100},
      {R"({"type": "integer", "minimum": -5, "maximum": 5})", -5, 5},
      {R"({"type": "integer", "minimum": 123, "maximum": 4567})", 123, 4567},
      {R"({"type": "integer", "minimum": -4567, "maximum": -123})", -4567, -123},
      {R"({"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 1000})", 10, 999},
      {R"({"type": "integer", "minimum": 1.5, "maximum": 20.5})", 2, 20},
      {R"({"type": "integer", "minimum": 7})", 7, INT64_MAX},
      {R"({"type": "integer", "minimum": 3, "exclusiveMinimum": 3})", 4, INT64_MAX},
      {R"({"type": "integer", "maximum": -3})", INT64_MIN, -3},
      {R"({"type": "integer", "exclusiveMaximum": 250})", INT64_MIN, 249},
      {R"({"type": "integer", "minimum": 5, "exclusiveMinimum": true})", 6, INT64_MAX},  // draft-04
      {R"({"type": "integer", "minimum": 42, "maximum": 42})", 42, 42},
  };
  for (const range_case& c : cases) {
    INFO("schema: " << c.schema);
    const auto g = js_grammar(c.schema);
    for (int64_t v = -5100; v <= 5100; ++v) {
      INFO("value: " << v);
      const bool in = v >= c.lo && v <= c.hi;
      if (hearth::grammar_accepts(g, std::to_string(v)) != in) FAIL_CHECK("wrong for " << v);
    }
    CHECK(hearth::grammar_accepts(g, "123456789012") == (c.hi == INT64_MAX));
    CHECK(hearth::grammar_accepts(g, "-123456789012") == (c.lo == INT64_MIN));
    CHECK_FALSE(hearth::grammar_accepts(g, "007"));
    CHECK_FALSE(hearth::grammar_accepts(g, "5.5"));
  }
  js_check(R"({"type": "integer", "minimum": 999999999999, "maximum": 1000000000001})",
           {"999999999999", "1000000000000", "1000000000001"}, {"999999999998", "1000000000002", "99999999999"});
  js_refused(R"({"type": "integer", "minimum": 5, "maximum": 4})", "(root)", "no integer");
  js_refused(R"({"type": "integer", "minimum": 1e30})", "/minimum", "\"minimum\"");
}

TEST_CASE("json schema: number ranges with integer bounds are exact", "[proto][schema]") {
  js_check(R"({"type": "number", "minimum": 0})", {"0", "0.5", "12", "12.25", "1000000"},
           {"-0.5", "-1", "-0.0001", "1e5"});
  js_check(R"({"type": "number", "exclusiveMinimum": 0})", {"0.5", "0.001", "3", "3.0"}, {"0", "0.0", "0.000", "-1"});
  js_check(R"({"type": "number", "minimum": 0, "maximum": 1})", {"0", "0.25", "0.999", "1"},
           {"1.5", "1.01", "2", "-0.1", "10"});
  js_check(R"({"type": "number", "minimum": -90, "maximum": 90})", {"-90", "-89.5", "0", "45.123456", "90"},
           {"-90.5", "-91", "90.01", "91", "100"});
  js_check(R"({"type": "number", "exclusiveMinimum": -1, "exclusiveMaximum": 1})", {"0", "-0.5", "0.99", "-0.999"},
           {"-1", "1", "1.0", "-1.5", "-1.0", "-1.00000000000000000001"});
  js_check(R"({"type": "number", "exclusiveMinimum": 2})", {"2.5", "2.50", "2.0001", "2.000000000000010", "3"},
           {"2", "2.0", "2.000", "1.9"});
  js_check(R"({"type": "number", "exclusiveMaximum": 5})", {"4.999", "-100", "0"}, {"5", "5.1", "6"});
  // A grid of values: accepted only inside the range (strict at exclusive ends).
  const auto g = js_grammar(R"({"type": "number", "exclusiveMinimum": -2, "maximum": 3})");
  for (int i = -500; i <= 500; ++i) {
    const double v = i / 100.0;
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", v);
    INFO("value: " << text);
    const bool in = v > -2 && v <= 3;
    if (hearth::grammar_accepts(g, text)) CHECK(in);
    else CHECK((!in || i == 300));  // "3.00" is valid, but the grammar writes 3 as "3"
  }
  js_refused(R"({"type": "number", "minimum": 0.5})", "/minimum", "only integer bounds");
  js_refused(R"({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1})", "(root)", "no number");
}

TEST_CASE("json schema: unsupported keywords and bad schemas are refused by place and name", "[proto][schema]") {
  js_refused(R"({"type": "object", "properties": {"age": {"type": "object", "patternProperties": {}}}})",
             "/properties/age", "unsupported keyword \"patternProperties\"");
  js_refused(R"({"not": {"type": "null"}})", "(root)", "unsupported keyword \"not\"");
  js_refused(R"({"type": "number", "multipleOf": 2})", "(root)", "unsupported keyword \"multipleOf\"");
  js_refused(R"({"type": "object", "minProperties": 1})", "(root)", "unsupported keyword \"minProperties\"");
  js_refused(R"({"type": "array", "items": {"type": "string", "nullable": true}})", "/items",
             "unsupported keyword \"nullable\"");
  js_refused(R"({"type": "array", "uniqueItems": true})", "(root)", "\"uniqueItems\"");
  js_refused(R"({"type": "array", "contains": {}})", "(root)", "unsupported keyword \"contains\"");
  js_refused(R"({"if": {}, "then": {}})", "(root)", "unsupported keyword \"if\"");
  js_refused(R"({"$defs": {"a~b": {"type": "string", "foo": 1}}, "$ref": "#/$defs/a~0b"})", "/$defs/a~0b",
             "unsupported keyword \"foo\"");
  js_refused(R"({"properties": {"a/b": {"weird": 1}}})", "/properties/a~1b", "unsupported keyword \"weird\"");
  js_refused(R"({"type": "strin"})", "/type", "unknown type");
  js_refused(R"({"enum": []})", "(root)", "\"enum\" allows no value");
  js_refused(R"({"type": "string", "enum": [1, 2]})", "(root)", "allows no value");
  js_refused(R"({"enum": ["a"], "minLength": 1})", "(root)", "\"minLength\" next to \"enum\"");
  js_refused("false", "(root)", "false");
  js_refused(R"({"type": "object", "properties": {"a": false}, "required": ["a"]})", "/properties/a", "false");
  js_refused(R"({"type": "object", "required": ["x"], "additionalProperties": false})", "(root)",
             "required property \"x\"");
  js_refused(R"({"type": "array", "maxItems": 20000})", "/maxItems", "above 10000");
  js_refused(R"({"type": "string", "maxLength": 10001})", "/maxLength", "above 10000");
  js_refused(R"({"type": "array", "minItems": 3, "prefixItems": [{}], "items": false})", "(root)", "\"minItems\"");
  js_refused(R"({"anyOf": [{"type": "string"}], "type": "string"})", "(root)", "\"type\" next to \"anyOf\"");
  js_refused(R"([1, 2])", "(root)", "must be an object or a boolean");
  // nesting depth
  std::string deep = R"({"type": "string"})";
  for (int i = 0; i < 200; ++i) deep = R"({"type": "array", "items": )" + deep + "}";
  CHECK_THROWS_WITH(json_schema_to_gbnf(nlohmann::json::parse(deep)),
                    Catch::StartsWith("/items/items/items") && Catch::Contains("nested deeper than 128"));
  js_refused(R"({"type": "string", "pattern": ")" + std::string(40, '(') + "a" + std::string(40, ')') + R"("})",
             "(root)", "groups nested deeper than 32");
  js_refused(R"({"type": "object", "additionalProperties": true, "properties": {")" + std::string(300, 'k') +
                 R"(": {}}})",
             "(root)", "property names longer than 256");
  // grammar size
  nlohmann::json big = {{"enum", nlohmann::json::array()}};
  for (int i = 0; i < 40000; ++i) big["enum"].push_back(std::string(30, 'a') + std::to_string(i));
  CHECK_THROWS_WITH(json_schema_to_gbnf(big), Catch::Contains("1 MiB"));
}

TEST_CASE("json schema: annotations are ignored", "[proto][schema]") {
  js_check(R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "T",
               "description": "d", "$comment": "c", "examples": [1], "default": 1, "deprecated": false,
               "readOnly": true, "writeOnly": false, "type": "integer"})",
           {"1"}, {"\"1\""});
}

TEST_CASE("json schema: a zod-generated schema", "[proto][schema]") {
  // zod-to-json-schema output for an order with nested objects, arrays, enums, nullable and a $ref.
  const char* schema = R"({
    "type": "object",
    "properties": {
      "id": {"type": "string", "format": "uuid"},
      "customer": {"$ref": "#/definitions/Customer"},
      "items": {"type": "array", "items": {"type": "object", "properties": {
          "sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
          "quantity": {"type": "integer", "exclusiveMinimum": 0, "maximum": 99},
          "price": {"type": "number", "minimum": 0}},
        "required": ["sku", "quantity", "price"], "additionalProperties": false}, "minItems": 1},
      "status": {"type": "string", "enum": ["pending", "shipped", "delivered"]},
      "note": {"type": ["string", "null"]},
      "billing": {"$ref": "#/definitions/Customer"},
      "created": {"type": "string", "format": "date-time"}
    },
    "required": ["id", "customer", "items", "status", "note", "created"],
    "additionalProperties": false,
    "definitions": {"Customer": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1}, "email": {"type": "string", "format": "email"},
        "tier": {"anyOf": [{"type": "string", "const": "gold"}, {"type": "string", "const": "silver"}]}},
      "required": ["name", "email"], "additionalProperties": false}},
    "$schema": "http://json-schema.org/draft-07/schema#"})";
  const nlohmann::ordered_json good = nlohmann::ordered_json::parse(R"({
      "id": "123e4567-e89b-12d3-a456-426614174000",
      "customer": {"name": "Ann", "email": "ann@shop.io", "tier": "gold"},
      "items": [{"sku": "ABC-1234", "quantity": 2, "price": 9.99}, {"sku": "XYZ-0001", "quantity": 99, "price": 0}],
      "status": "shipped", "note": null, "created": "2024-05-01T10:00:00Z"})");
  // `good` changed at one place (a JSON pointer) to a value; a null value_ptr removes the member.
  auto changed = [&](const char* pointer, const nlohmann::ordered_json* value) {
    nlohmann::ordered_json j = good;
    const nlohmann::ordered_json::json_pointer p(pointer);
    if (value) j[p] = *value;
    else j[p.parent_pointer()].erase(p.back());
    return j.dump();
  };
  const nlohmann::ordered_json billing = nlohmann::ordered_json::parse(R"({"name": "B", "email": "b@c.de"})");
  const nlohmann::ordered_json empty_items = nlohmann::ordered_json::array(), zero = 0, minus = -1, lost = "lost",
                               short_sku = "AB-1234", empty = "", bronze = "bronze",
                               stamp = "2024-05-01T10:00:00.25+01:00";
  nlohmann::ordered_json with_billing = good;
  with_billing["billing"] = billing;
  with_billing["created"] = stamp;
  js_check(schema, {good.dump(), good.dump(2), with_billing.dump()},
           {changed("/items", &empty_items), changed("/items/0/quantity", &zero), changed("/items/0/sku", &short_sku),
            changed("/items/1/price", &minus), changed("/status", &lost), changed("/customer/name", &empty),
            changed("/customer/tier", &bronze), changed("/note", nullptr), changed("/customer/email", nullptr),
            changed("/created", &lost)});
}

TEST_CASE("json schema: OpenAI's math reasoning schema", "[proto][schema]") {
  js_check(R"({"type": "object", "properties": {
                 "steps": {"type": "array", "items": {"type": "object", "properties": {
                     "explanation": {"type": "string"}, "output": {"type": "string"}},
                   "required": ["explanation", "output"], "additionalProperties": false}},
                 "final_answer": {"type": "string"}},
               "required": ["steps", "final_answer"], "additionalProperties": false})",
           {R"({"steps":[{"explanation":"Subtract 31 from both sides.","output":"8x = -30"},)"
            R"({"explanation":"Divide by 8.","output":"x = -3.75"}],"final_answer":"x = -3.75"})",
            R"({"steps": [], "final_answer": "0"})"},
           {R"({"final_answer":"x","steps":[]})", R"({"steps":[{"explanation":"e"}],"final_answer":"x"})",
            R"({"steps":[{"output":"o","explanation":"e"}],"final_answer":"x"})"});
}
