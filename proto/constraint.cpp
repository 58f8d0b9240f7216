#include "proto/constraint.h"

#include <algorithm>
#include <string>
#include <vector>

#include "proto/json_schema.h"

namespace hearth::proto {

size_t widest_object(const nlohmann::json& v) {
  size_t widest = 0;
  std::vector<const nlohmann::json*> todo{&v};
  while (!todo.empty()) {
    const nlohmann::json* j = todo.back();
    todo.pop_back();
    if (j->is_object()) widest = std::max(widest, j->size());
    if (j->is_structured()) {
      for (const auto& child : *j) todo.push_back(&child);
    }
  }
  return widest;
}

// Only the value at `path` is built (ordered_json inserts in linear time per key, so a wide
// object elsewhere must not be built).
nlohmann::ordered_json in_written_order(std::string_view raw, std::vector<std::string> path, const nlohmann::json& value) {
  if (!raw.empty()) {
    try {
      // Keep a key at depth d <= path.size() only if it is path[d - 1]; everything below the path.
      const auto keep = [&](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& parsed) {
        if (event != nlohmann::ordered_json::parse_event_t::key) return true;
        const auto d = static_cast<size_t>(depth);
        return d == 0 || d > path.size() || parsed.get_ref<const std::string&>() == path[d - 1];
      };
      const nlohmann::ordered_json whole = nlohmann::ordered_json::parse(raw, keep);
      const nlohmann::ordered_json* at = &whole;
      for (const std::string& key : path) {
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

namespace {

std::shared_ptr<const grammar> compile(field_reader& r, std::string_view param, const std::string& gbnf) {
  try {
    std::shared_ptr<const grammar> g = grammar::parse(gbnf);
    grammar_matcher probe(g);  // a grammar too ambiguous to start is refused here, not at decode time
    return g;
  } catch (const grammar_error& e) {
    r.fail(param, std::string(param) + " is not a valid grammar: " + e.what());
  } catch (const std::length_error& e) {
    r.fail(param, std::string(param) + " is not usable: " + e.what());
  }
  return nullptr;
}

// The schema at `path` of the request (`value` as parsed, `raw` its text) as a grammar.
std::shared_ptr<const grammar> from_schema(field_reader& r, std::string_view param, std::string_view raw,
                                           std::vector<std::string> path, const nlohmann::json& value) {
  if (!value.is_object() && !value.is_boolean()) {
    r.fail(param, std::string(param) + " must be a JSON Schema (an object or a boolean)");
    return nullptr;
  }
  if (widest_object(value) > max_schema_keys) {
    r.fail(param, std::string(param) + " has an object with more than " + std::to_string(max_schema_keys) + " keys");
    return nullptr;
  }
  const nlohmann::ordered_json schema = in_written_order(raw, std::move(path), value);
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
  return from_schema(r, "response_format.json_schema.schema", raw, {"response_format", "json_schema", "schema"}, *schema);
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
  if (schema) return from_schema(r, "json_schema", raw, {"json_schema"}, *schema);
  if (format) return from_response_format(r, raw, *format);
  return nullptr;
}

}  // namespace hearth::proto
