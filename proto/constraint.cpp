#include "proto/constraint.h"

#include <string>

#include "proto/json_schema.h"

namespace hearth::proto {

namespace {

// The value at `path` in `raw` re-parsed with key order kept, or `value` itself if that fails
// (raw absent or not the text `value` came from).
nlohmann::ordered_json in_written_order(std::string_view raw, std::initializer_list<const char*> path,
                                        const nlohmann::json& value) {
  if (!raw.empty()) {
    try {
      const nlohmann::ordered_json whole = nlohmann::ordered_json::parse(raw);
      const nlohmann::ordered_json* at = &whole;
      for (const char* key : path) {
        if (!at->is_object() || !at->contains(key)) {
          at = nullptr;
          break;
        }
        at = &(*at)[key];
      }
      if (at) return *at;
    } catch (const nlohmann::json::exception&) {
    }
  }
  return nlohmann::ordered_json::parse(value.dump());
}

std::shared_ptr<const grammar> compile(field_reader& r, std::string_view param, const std::string& gbnf) {
  try {
    return grammar::parse(gbnf);
  } catch (const grammar_error& e) {
    r.fail(param, std::string(param) + " is not a valid grammar: " + e.what());
  }
  return nullptr;
}

std::shared_ptr<const grammar> from_schema(field_reader& r, std::string_view param, const nlohmann::ordered_json& schema) {
  if (!schema.is_object() && !schema.is_boolean()) {
    r.fail(param, std::string(param) + " must be a JSON Schema (an object or a boolean)");
    return nullptr;
  }
  std::string gbnf;
  try {
    gbnf = json_schema_to_gbnf(schema);
  } catch (const json_schema_error& e) {
    r.fail(param, std::string(param) + " is not supported: " + e.what());
    return nullptr;
  }
  // A grammar made from a schema that does not compile is the converter's bug, but still the
  // request's problem to report, not a crash.
  return compile(r, param, gbnf);
}

std::shared_ptr<const grammar> from_response_format(field_reader& r, std::string_view raw, const nlohmann::json& v) {
  if (!v.is_object()) {
    r.fail("response_format", "response_format must be an object (got " + describe(v) + ")");
    return nullptr;
  }
  field_reader f(v, "response_format.");
  const std::optional<std::string> type = f.string("type");
  if (f.failed()) {
    r.fail(f.error());
    return nullptr;
  }
  if (!type) {
    r.fail("response_format.type", "response_format.type is required (\"text\", \"json_object\" or \"json_schema\")");
    return nullptr;
  }
  if (*type == "text") return nullptr;
  if (*type == "json_object") return compile(r, "response_format", json_object_gbnf());
  if (*type != "json_schema") {
    r.fail("response_format.type", "response_format.type must be \"text\", \"json_object\" or \"json_schema\" (got \"" +
                                       *type + "\")");
    return nullptr;
  }
  const nlohmann::json* js = f.find("json_schema");
  if (!js || !js->is_object()) {
    r.fail("response_format.json_schema", "response_format.json_schema (an object with name and schema) is required "
                                          "with type \"json_schema\"");
    return nullptr;
  }
  field_reader s(*js, "response_format.json_schema.");
  if (const std::optional<std::string> name = s.string("name")) {
    s.check(!name->empty() && name->size() <= 64, "name",
            [] { return std::string("response_format.json_schema.name must be 1 to 64 characters"); });
  }
  s.string("description");
  s.boolean("strict");
  if (s.failed()) {
    r.fail(s.error());
    return nullptr;
  }
  const nlohmann::json* schema = s.find("schema");
  if (!schema) {  // OpenAI allows it out; then any JSON object
    return compile(r, "response_format", json_object_gbnf());
  }
  return from_schema(r, "response_format.json_schema.schema",
                     in_written_order(raw, {"response_format", "json_schema", "schema"}, *schema));
}

}  // namespace

std::shared_ptr<const grammar> read_constraint(field_reader& r, std::string_view raw, api_flavor flavor) {
  if (r.failed()) return nullptr;
  const nlohmann::json* gbnf = r.find("grammar");
  const nlohmann::json* schema = r.find("json_schema");
  const nlohmann::json* format = flavor == api_flavor::openai ? r.find("response_format") : nullptr;
  if (gbnf && gbnf->is_null()) gbnf = nullptr;
  if (schema && schema->is_null()) schema = nullptr;
  if (format && format->is_null()) format = nullptr;
  const int given = (gbnf != nullptr) + (schema != nullptr) + (format != nullptr);
  if (given > 1) {
    r.fail(schema && gbnf ? "json_schema" : "response_format",
           "give one of grammar, json_schema and response_format, not several");
    return nullptr;
  }
  if (gbnf) {
    if (!gbnf->is_string()) {
      r.fail("grammar", "grammar must be a string of GBNF (got " + describe(*gbnf) + ")");
      return nullptr;
    }
    if (gbnf->get_ref<const std::string&>().empty()) return nullptr;  // llama-server: "" is none
    return compile(r, "grammar", gbnf->get<std::string>());
  }
  if (schema) return from_schema(r, "json_schema", in_written_order(raw, {"json_schema"}, *schema));
  if (format) return from_response_format(r, raw, *format);
  return nullptr;
}

}  // namespace hearth::proto
