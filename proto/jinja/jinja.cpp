#include "proto/jinja/jinja.h"

#include <new>

#include <nlohmann/json.hpp>

#include "proto/jinja/interpreter.h"
#include "proto/jinja/json_io.h"
#include "proto/jinja/parser.h"

namespace hearth::jinja {

program program::parse(std::string_view source) {
  program p;
  p.data_ = parse_program(source);
  return p;
}

std::variant<text, render_error> program::render(const variables& vars, const render_options& options) const {
  try {
    interpreter in(*data_, options);
    return in.run(vars);
  } catch (const failure& f) {
    return f.error();
  }
}

render_outcome render_string(std::string_view template_text, std::string_view variables_json,
                             const render_options& options) noexcept {
  render_outcome out;
  try {
    const program p = program::parse(template_text);
    const nlohmann::ordered_json j = nlohmann::ordered_json::parse(variables_json, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      out.error = "the variables must be a JSON object";
      return out;
    }
    variables vars;
    for (const auto& [k, v] : j.items()) vars.emplace_back(k, from_json(v, /*user_strings=*/true));
    auto r = p.render(vars, options);
    if (auto* e = std::get_if<render_error>(&r)) {
      out.error = e->describe();
    } else {
      out.ok = true;
      out.output = std::get<text>(r).str();
    }
  } catch (const syntax_error& e) {
    out.error = e.what();
  } catch (const failure& f) {  // the variables nest too deeply
    out.error = f.error().describe();
  } catch (const std::bad_alloc&) {
    out.error = "out of memory";
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace hearth::jinja
