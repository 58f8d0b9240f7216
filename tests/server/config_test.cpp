// Settings precedence: default < JSON file < HEARTH_* environment < flags, and clear errors.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <unistd.h>

#include "config/server_config.h"

using namespace hearth;

namespace {

struct fake_env {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> fn() const {
    return [this](const char* n) {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

server_config load(std::vector<std::string> args, const fake_env& env = {}) {
  auto c = load_server_config(args, env.fn(), nullptr);
  REQUIRE(c);
  return *c;
}

std::string write_file(const std::string& text) {
  std::string path = "/tmp/hearth-config-" + std::to_string(getpid()) + ".json";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("config: defaults are private and bounded", "[config]") {
  server_config c = load({});
  CHECK(c.host == "127.0.0.1");
  CHECK(c.port == 8080);
  CHECK(c.body_limit == 1 << 20);
  CHECK(c.api_keys.empty());
  CHECK(c.cors_origins.empty());
  CHECK_FALSE(c.log_prompts);
}

TEST_CASE("config: file < environment < flags", "[config]") {
  std::string path = write_file(R"({"port": 9000, "parallel": 3, "host": "127.0.0.2", "api-key": ["a", "b"],
                                    "log-prompts": true})");
  fake_env env;
  env.vars["HEARTH_PARALLEL"] = "5";
  env.vars["HEARTH_API_KEY"] = "x,y";
  server_config c = load({"--config", path, "--port", "9100"}, env);
  CHECK(c.port == 9100);              // flag beats file
  CHECK(c.parallel == 5);             // env beats file
  CHECK(c.host == "127.0.0.2");       // file beats default
  CHECK(c.api_keys == std::vector<std::string>{"x", "y"});  // env list replaces the file's
  CHECK(c.log_prompts);
  server_config d = load({"--config", path, "--api-key", "z"}, env);
  CHECK(d.api_keys == std::vector<std::string>{"z"});  // flags replace env and file lists
  env.vars["HEARTH_CONFIG"] = path;
  CHECK(load({}, env).host == "127.0.0.2");  // the config file may come from the environment
  std::remove(path.c_str());
}

TEST_CASE("config: bad values name the setting and the source", "[config]") {
  fake_env env;
  auto fails = [&](std::vector<std::string> args, const std::string& part) {
    try {
      load_server_config(args, env.fn(), nullptr);
      FAIL("accepted " << args.back());
    } catch (const config_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(part) != std::string::npos);
    }
  };
  fails({"--port", "70000"}, "option --port");
  fails({"--port", "80x"}, "not an integer");
  fails({"--frobnicate", "1"}, "--frobnicate");
  fails({"--parallel"}, "needs a value");
  env.vars["HEARTH_PORT"] = "-1";
  fails({}, "environment HEARTH_PORT");
  env.vars.clear();
  std::string path = write_file(R"({"prot": 1})");
  fails({"--config", path}, "unknown setting 'prot'");
  write_file(R"({"port": "eighty"})");
  fails({"--config", path}, "'port'");
  std::remove(path.c_str());
}

TEST_CASE("config: --help lists every setting with its default and variable", "[config]") {
  std::string help;
  CHECK_FALSE(load_server_config(std::vector<std::string>{"--help"}, fake_env{}.fn(), &help));
  for (const setting& s : server_settings()) {
    INFO(s.name);
    CHECK(help.find("--" + std::string(s.name)) != std::string::npos);
  }
  CHECK(help.find("HEARTH_PORT") != std::string::npos);
  CHECK(help.find("default: 127.0.0.1") != std::string::npos);
}
