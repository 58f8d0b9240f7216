// Structured-output fields (proto/constraint.h) on every API: which field gives which grammar,
// what the grammar accepts, the property order the client wrote, and 400s naming the field.
#include <catch2/catch.hpp>

#include <string>

#include "grammar.h"
#include "proto/constraint.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "proto/ws_api.h"
#include "proto_test_util.h"

using namespace hearth;
using namespace hearth::proto;
using namespace hearth::proto::test;

namespace {

const limits lim{512, 2048};

result<chat_request> chat_with(const std::string& fields) {
  return parse_chat(R"({"messages": [{"role": "user", "content": "Hi"}], )" + fields + "}", lim);
}
result<completion_request> completion_with(const std::string& fields) {
  return parse_completion(R"({"prompt": "Hi", )" + fields + "}", lim);
}
result<generate_request> generate_with(const std::string& fields) {
  return parse_generate(R"({"prompt": "Hi", )" + fields + "}", lim);
}

const std::string person_schema = R"({"type": "object", "properties": {"name": {"type": "string"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150}}, "required": ["name", "age"],
    "additionalProperties": false})";

}  // namespace

TEST_CASE("constraint: no field, text, or an empty grammar is no constraint", "[proto][constraint]") {
  CHECK(ok(chat_with(R"("stream": false)")).constraint == nullptr);
  CHECK(ok(chat_with(R"("response_format": {"type": "text"})")).constraint == nullptr);
  CHECK(ok(chat_with(R"("response_format": null)")).constraint == nullptr);
  CHECK(ok(generate_with(R"("grammar": "")")).constraint == nullptr);
}

TEST_CASE("constraint: response_format json_object on both OpenAI endpoints", "[proto][constraint]") {
  for (const auto& g : {ok(chat_with(R"("response_format": {"type": "json_object"})")).constraint,
                        ok(completion_with(R"("response_format": {"type": "json_object"})")).constraint}) {
    REQUIRE(g);
    CHECK(grammar_accepts(g, R"({"a": [1, "x", {"b": null}]})"));
    CHECK(grammar_accepts(g, "{}"));
    CHECK_FALSE(grammar_accepts(g, "[1]"));  // an object, not any JSON
    CHECK_FALSE(grammar_accepts(g, "\"text\""));
    CHECK_FALSE(grammar_accepts(g, R"({"a": 1)"));
  }
}

TEST_CASE("constraint: response_format json_schema, and json_schema/grammar on every API", "[proto][constraint]") {
  const std::string format =
      R"("response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": )" +
      person_schema + "}}";
  for (const auto& g : {ok(chat_with(format)).constraint, ok(completion_with(format)).constraint,
                        ok(generate_with(R"("json_schema": )" + person_schema)).constraint,
                        ok(chat_with(R"("json_schema": )" + person_schema)).constraint}) {
    REQUIRE(g);
    CHECK(grammar_accepts(g, R"({"name": "Ann", "age": 31})"));
    CHECK_FALSE(grammar_accepts(g, R"({"name": "Ann", "age": 151})"));
    CHECK_FALSE(grammar_accepts(g, R"({"name": "Ann"})"));
    CHECK_FALSE(grammar_accepts(g, R"({"name": "Ann", "age": 3, "x": 1})"));
  }
  const auto gbnf = ok(generate_with(R"("grammar": "root ::= \"yes\" | \"no\"")")).constraint;
  REQUIRE(gbnf);
  CHECK(grammar_accepts(gbnf, "yes"));
  CHECK_FALSE(grammar_accepts(gbnf, "maybe"));
  // The WebSocket's generate message reads the same fields.
  const ws_message m = parse_ws_message(R"({"type": "generate", "id": "a", "prompt": "Hi", "json_schema": )" +
                                            person_schema + "}",
                                        lim);
  REQUIRE(std::holds_alternative<ws_generate>(m));
  CHECK(grammar_accepts(std::get<ws_generate>(m).request.constraint, R"({"name":"B","age":0})"));
}

TEST_CASE("constraint: properties come in the order the client wrote them", "[proto][constraint]") {
  // Alphabetical would be "answer" first; the client wrote "reasoning" first.
  const std::string schema = R"({"type": "object", "properties": {"reasoning": {"type": "string"},
      "answer": {"type": "integer"}}, "required": ["reasoning", "answer"]})";
  for (const auto& g : {ok(chat_with(R"("response_format": {"type": "json_schema", "json_schema": {"name": "r",
                            "schema": )" + schema + "}}")).constraint,
                        ok(generate_with(R"("json_schema": )" + schema)).constraint}) {
    REQUIRE(g);
    CHECK(grammar_accepts(g, R"({"reasoning": "2+2", "answer": 4})"));
    CHECK_FALSE(grammar_accepts(g, R"({"answer": 4, "reasoning": "2+2"})"));
  }
}

TEST_CASE("constraint: bad fields are 400s naming them", "[proto][constraint]") {
  check_rejected(chat_with(R"("response_format": {"type": "xml"})"), "response_format.type",
                 "response_format.type must be \"text\", \"json_object\" or \"json_schema\" (got \"xml\")");
  check_rejected(chat_with(R"("response_format": "json")"), "response_format", "response_format must be an object");
  check_rejected(chat_with(R"("response_format": {})"), "response_format.type", "response_format.type is required");
  check_rejected(chat_with(R"("response_format": {"type": "json_schema"})"), "response_format.json_schema",
                 "response_format.json_schema (an object with name and schema) is required");
  check_rejected(chat_with(R"("response_format": {"type": "json_schema", "json_schema": {"name": "", "schema": {}}})"),
                 "response_format.json_schema.name", "1 to 64 characters");
  check_rejected(chat_with(R"("response_format": {"type": "json_schema", "json_schema": {"name": "x",
                     "schema": {"type": "object", "properties": {"a": {"type": "number", "multipleOf": 2}}}}})"),
                 "response_format.json_schema.schema", "/properties/a");
  check_rejected(chat_with(R"("response_format": {"type": "json_schema", "json_schema": {"name": "x",
                     "schema": {"type": "object", "properties": {"a": {"type": "number", "multipleOf": 2}}}}})"),
                 "response_format.json_schema.schema", "multipleOf");
  check_rejected(chat_with(R"("response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 3}})"),
                 "response_format.json_schema.schema", "must be a JSON Schema (an object or a boolean)");
  check_rejected(generate_with(R"("grammar": "root ::= foo")"), "grammar",
                 "grammar is not a valid grammar: line 1, column 10: rule 'foo' is used but not defined");
  check_rejected(generate_with(R"("grammar": 5)"), "grammar", "grammar must be a string of GBNF");
  check_rejected(generate_with(R"("json_schema": {"type": "strin"})"), "json_schema", "json_schema is not supported");
  check_rejected(generate_with(R"("grammar": "root ::= \"a\"", "json_schema": {})"), "json_schema",
                 "give one of grammar, json_schema and response_format, not several");
  check_rejected(chat_with(R"("grammar": "root ::= \"a\"", "response_format": {"type": "json_object"})"),
                 "response_format", "give one of grammar, json_schema and response_format, not several");
}

TEST_CASE("constraint: schema width and grammar ambiguity are bounded", "[proto][constraint]") {
  // Written order is kept even next to a wide object elsewhere in the body (not built in order).
  std::string wide = R"("metadata": {)";
  for (int i = 0; i < 20000; ++i) wide += (i ? ",\"k" : "\"k") + std::to_string(i) + "\": 0";
  wide += "}";
  const auto g = ok(generate_with(wide + R"(, "json_schema": {"type": "object", "properties": {"z": {"type": "integer"},
      "a": {"type": "integer"}}, "required": ["z", "a"]})")).constraint;
  REQUIRE(g);
  CHECK(grammar_accepts(g, R"({"z": 1, "a": 2})"));
  CHECK_FALSE(grammar_accepts(g, R"({"a": 2, "z": 1})"));
  // A schema object wider than 4096 keys is refused.
  std::string props = R"({"type": "object", "properties": {)";
  for (int i = 0; i < 4097; ++i) props += (i ? ",\"p" : "\"p") + std::to_string(i) + R"(": {"type": "null"})";
  props += "}}";
  check_rejected(generate_with(R"("json_schema": )" + props), "json_schema", "has an object with more than 4096 keys");
  // A grammar whose start alone expands past the matcher's work bound is refused up front.
  check_rejected(generate_with(R"("grammar": "root ::= y{10000}\ny ::= x{8}\nx ::= \"a\"?")"), "grammar",
                 "grammar is not usable: the grammar needs too much work");
}
