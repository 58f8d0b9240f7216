#include "chat_cases.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "reference.h"

namespace hearth::test {

namespace {

nlohmann::json read_json(const std::string& relative) {
  std::ifstream in(shared_path(relative));
  INFO("reading " << relative);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

std::vector<chat_case> template_cases(const std::string& template_name) {
  const nlohmann::json cases = read_json("templates/cases.json").at("cases");
  const nlohmann::json renders = read_json("templates/" + template_name + ".renders.json");
  REQUIRE(cases.size() == 6);
  REQUIRE(renders.size() == cases.size());
  std::vector<chat_case> out;
  for (size_t i = 0; i < cases.size(); ++i) {
    const nlohmann::json& vars = cases[i].at("vars");
    chat_case c{cases[i].at("name"), vars.at("messages"), vars.at("add_generation_prompt"), {}, {}};
    const nlohmann::json& r = renders[i];
    REQUIRE(r.at("case") == c.name);
    if (r.contains("output")) c.render = r["output"].get<std::string>();
    if (r.contains("error")) c.error = r["error"].get<std::string>();
    REQUIRE(c.render.has_value() != c.error.has_value());
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<chat_case> chatml_cases() {
  std::vector<chat_case> out = template_cases("chatml");
  for (const chat_case& c : out) {
    INFO("case " << c.name);
    REQUIRE(c.render.has_value());
  }
  return out;
}

}  // namespace hearth::test
