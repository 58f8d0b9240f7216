#pragma once
// Structured outputs: a JSON Schema (the subset OpenAI's structured outputs and zod-to-json-schema
// emit, drafts 07 and 2020-12) turned into a GBNF grammar (llama.cpp's dialect, engine/grammar.h)
// whose every sentence is a JSON text that validates against the schema. The grammar may allow
// less than the schema (a constrained decoder needs one good way to write each value, not all of
// them); it never allows more. A schema it cannot honour exactly is refused, never approximated.
//
// What the generated JSON looks like: no whitespace, or one bounded run of it (a space, or a
// newline and up to 20 blanks) after a value and after "{", "[", ",", ":"; so a model cannot
// loop on whitespace. Numbers have at most 16 integer and 16 fraction digits (no exponent when a
// range applies); strings never contain DEL or control characters unescaped.
//
// Supported keywords (anything else, at any depth, is a json_schema_error naming it):
//   any type   type (a name or an array of names), enum, const, anyOf, oneOf (as anyOf: exact
//              when the branches are disjoint, as they are in practice), allOf (object schemas
//              only: merged), $ref (local: "#", "#/$defs/…", "#/definitions/…", any "#/…"
//              pointer; recursion works), true / {} (any JSON value)
//   object     properties, required, additionalProperties (false, true or a schema),
//              unevaluatedProperties: false. Properties come in declared order: the required
//              ones, then the optional ones (each may be left out), then additional ones.
//              ABSENT additionalProperties MEANS NONE ALLOWED (as llama.cpp does; JSON Schema
//              says any are allowed, but a decoder should write what the schema describes).
//   array      items (a schema, false, or a draft-07 tuple), prefixItems, additionalItems,
//              minItems, maxItems (≤ 10,000), uniqueItems: false. Tuple positions are all
//              written (up to maxItems).
//   string     minLength, maxLength (≤ 10,000 characters), pattern (ECMA-262 subset: literals,
//              escapes, ., classes with \d \w \s, groups, |, * + ? {m,n}; ^ and $ only at the
//              ends; an unanchored pattern may have any text around its match; \D \W \S and
//              negated classes holding \d \w \s yield ASCII only, `.` and other negated classes
//              yield no character JSON must escape), format: date, time (with an offset),
//              date-time, uuid (lower case), email, ipv4, hostname, uri (http and https URLs).
//              An unknown format is an error.
//   numbers    minimum, maximum, exclusiveMinimum, exclusiveMaximum (also draft-04's boolean
//              form): exact for integer (any bound within ±10^18) and for number when the bounds
//              are integers within ±2^53 (fractions of up to 16 digits, fewer next to a large
//              exclusive bound); a fractional bound on a number is an error.
//   ignored    title, description, examples, default, $schema, $id, $comment, deprecated,
//              readOnly, writeOnly, $defs, definitions, discriminator (OpenAPI's, pydantic emits it)
// Refused: multipleOf, not, if/then/else, patternProperties, propertyNames, min/maxProperties,
// contains, uniqueItems: true, dependent*, remote $ref, unsatisfiable schemas (false, empty
// enum, empty ranges), enum/anyOf/$ref next to other constraining keywords, pattern together
// with a length or format.
//
// Limits: schema nesting up to 128 levels, groups in a pattern 32 deep, property names next to
// additional properties 256 characters, the grammar up to 1 MiB. grammar::parse has limits of its
// own (65,536 compiled elements: e.g. 10,000 items of up to 10,000 characters each is too much),
// so a caller turns its grammar_error into a 400 as well.
//
// Property order: nlohmann::json sorts object keys, so "declared order" is then alphabetical;
// parse the schema as nlohmann::ordered_json to keep the order the user wrote (models often
// depend on it, e.g. "reasoning" before "answer"). Beware: ordered_json's parser is quadratic in
// the keys of one object (11 s for one object of 100,000 keys); bound them before parsing
// untrusted text that way. (The nlohmann::json overload converts in linear time.)
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth {

// A schema that cannot be converted: what() starts with the JSON pointer of the offending place
// in the schema ("(root)" for the schema itself) and names the keyword, e.g.
// "/properties/age: unsupported keyword \"patternProperties\"".
class json_schema_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The GBNF grammar (start rule `root`) of the JSON texts the schema describes. Throws
// json_schema_error.
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);
std::string json_schema_to_gbnf(const nlohmann::json& schema);

// The same rules with the schema's start rule named `start` (not `root`) and every other rule made
// for this schema named `prefix`...; the built-in rules (value, string, ws ...) keep their names and
// are the same text in every grammar. So several schemas can be joined into one grammar (under a
// `root` the caller writes): give each its own start and prefix (lower-case letters, digits and
// '-'), and keep one copy of each repeated line (join_gbnf_rules).
std::string json_schema_rules(const nlohmann::ordered_json& schema, const std::string& start, const std::string& prefix);

// A GBNF string literal matching the UTF-8 text `s` exactly (quotes, backslashes and control
// characters escaped).
std::string gbnf_literal(std::string_view s);

// The grammar for response_format {"type": "json_object"}: any JSON object.
std::string json_object_gbnf();

}  // namespace hearth
