#pragma once
// Structured outputs in requests: the fields that constrain what a generation may write, turned
// into a compiled grammar (engine/grammar.h) the decoder masks tokens with.
//
// Fields (at most one of them per request; two are a 400 naming the second):
//   every API   "grammar": GBNF text (llama.cpp's dialect; `root` starts);
//               "json_schema": a JSON Schema (proto/json_schema.h says what is supported).
//   OpenAI      "response_format": {"type": "text"} (no constraint), {"type": "json_object"} (any
//               JSON object), {"type": "json_schema", "json_schema": {"name": str, "schema":
//               object or bool, "strict": bool, "description": str}}. The schema is always
//               enforced, strict or not.
// Errors are 400s whose param names the field ("response_format.json_schema.schema") and whose
// message carries the grammar's line and column or the schema's JSON pointer and keyword.
//
// Schema property order: the request body is re-read from `raw` (the text the field_reader's
// object was parsed from) as ordered JSON, so properties come in the order the client wrote them
// (models answer better with e.g. "reasoning" before "answer"); with an empty `raw` the order is
// alphabetical.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grammar.h"
#include "proto/json_body.h"
#include "proto/request_fields.h"

namespace hearth::proto {

inline constexpr size_t max_schema_keys = 4096;  // keys of one object in a schema

// The most keys any object in `v` has (bound it by max_schema_keys before in_written_order).
size_t widest_object(const nlohmann::json& v);

// The value at `path` in `raw` (the body text `value` was parsed from) re-parsed with its key
// order kept, or `value` itself in alphabetical key order if that fails.
nlohmann::ordered_json in_written_order(std::string_view raw, std::vector<std::string> path, const nlohmann::json& value);

// Null when the request asks for no constraint (or on error: check r.failed()).
std::shared_ptr<const grammar> read_constraint(field_reader& r, std::string_view raw, api_flavor flavor);

}  // namespace hearth::proto
