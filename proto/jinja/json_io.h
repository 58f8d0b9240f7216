#pragma once
// The interpreter's JSON boundary: variables in (nlohmann::json -> value) and the tojson filter
// out, written exactly as Python's json.dumps writes it (Hugging Face's tojson:
// json.dumps(x, ensure_ascii=False) unless told otherwise).
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "proto/jinja/text.h"
#include "proto/jinja/value.h"

namespace hearth::jinja {

// A JSON value as a template value: objects become dicts (in the json object's key order: use
// ordered_json to keep the document's order, as Python's json.loads does), arrays lists,
// integers ints (unsigned ones past int64 become floats). With user_strings every string (keys
// included) is marked user text. Throws `failure` past max_value_depth.
value from_json(const nlohmann::ordered_json& j, bool user_strings);
value from_json(const nlohmann::json& j, bool user_strings);

// json.dumps's options.
struct json_format {
  std::optional<std::string> indent;  // None: one line
  std::string item_separator = ", ";  // ","  when indenting, unless given
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

// Appends json.dumps(v). Undefined values, generators and objects are a TypeError ("Object of
// type generator is not JSON serializable"), as are keys other than str, int, float, bool and
// None. The output is user text as a whole when any string in v is.
void append_json(text& out, const value& v, const json_format& format);

}  // namespace hearth::jinja
