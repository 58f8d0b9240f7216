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

TEST_CASE("config: an empty API key is an error from every source, never 'no authentication'", "[config]") {
  const std::string path = write_file(R"({"api-key": ["file-key"]})");
  auto fails = [&](const fake_env& env, std::vector<std::string> args, const std::string& source) {
    try {
      load_server_config(args, env.fn(), nullptr);
      FAIL("accepted an empty key from " << source);
    } catch (const config_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(source) != std::string::npos);
      CHECK(std::string(e.what()).find("empty") != std::string::npos);
    }
  };
  for (const char* value : {"", ",", "a,,b", "a,"}) {
    fake_env env;
    env.vars["HEARTH_API_KEY"] = value;
    INFO("HEARTH_API_KEY='" << value << "'");
    fails(env, {"--config", path}, "environment HEARTH_API_KEY");
    fails(env, {}, "environment HEARTH_API_KEY");
  }
  fails({}, {"--api-key", ""}, "option --api-key");
  fails({}, {"--api-key="}, "option --api-key");
  write_file(R"({"api-key": ""})");
  fails({}, {"--config", path}, "config file " + path);
  write_file(R"({"api-key": ["ok", ""]})");
  fails({}, {"--config", path}, "config file " + path);
  std::remove(path.c_str());
}

TEST_CASE("config: a source replacing the file's API keys says so, without the keys", "[config]") {
  const std::string path = write_file(R"({"api-key": ["file-one", "file-two"]})");
  fake_env env;
  env.vars["HEARTH_API_KEY"] = "env-key";
  std::vector<std::string> notices;
  server_config c = *load_server_config(std::vector<std::string>{"--config", path}, env.fn(), nullptr, &notices);
  CHECK(c.api_keys == std::vector<std::string>{"env-key"});
  REQUIRE(notices.size() == 1);
  CHECK(notices[0] == "environment HEARTH_API_KEY replaces the 2 api-key values from config file " + path);
  notices.clear();
  c = *load_server_config(std::vector<std::string>{"--config", path, "--api-key", "flag-a", "--api-key", "flag-b"},
                          env.fn(), nullptr, &notices);
  CHECK(c.api_keys == std::vector<std::string>{"flag-a", "flag-b"});
  CHECK(notices == std::vector<std::string>{
                       "environment HEARTH_API_KEY replaces the 2 api-key values from config file " + path,
                       "the command line replaces the 1 api-key value from environment HEARTH_API_KEY"});
  for (const std::string& n : notices) {
    for (const char* secret : {"file-one", "file-two", "env-key", "flag-a", "flag-b"}) CHECK(n.find(secret) == std::string::npos);
  }
  // Nothing to replace, nothing to say.
  notices.clear();
  load_server_config(std::vector<std::string>{"--api-key", "k"}, fake_env{}.fn(), nullptr, &notices);
  CHECK(notices.empty());
  std::remove(path.c_str());
}

TEST_CASE("config: a host beyond loopback needs an API key or --insecure-public", "[config]") {
  for (const char* host : {"0.0.0.0", "192.168.1.10", "::", "example.com"}) {
    INFO(host);
    try {
      load({"--host", host});
      FAIL("accepted");
    } catch (const config_error& e) {
      CHECK(std::string(e.what()).find("--insecure-public") != std::string::npos);
      CHECK(std::string(e.what()).find("--api-key") != std::string::npos);
    }
    CHECK(load({"--host", host, "--api-key", "k"}).host == host);
    CHECK(load({"--host", host, "--insecure-public"}).insecure_public);
  }
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"}) {
    INFO(host);
    CHECK(load({"--host", host}).host == host);
  }
}

TEST_CASE("config: client weights and caps are CLIENT=N rules, looked up key, origin, address, then *", "[config]") {
  server_config c = load({"--client-weight", "key-a=3", "--client-weight", "http://localhost:5173=2",
                          "--client-weight", "*=1", "--client-max-running", "127.0.0.1=4"});
  CHECK(c.client_weights.size() == 3);
  CHECK(client_rule(c.client_weights, {"key-a", "", "127.0.0.1"}, 1) == 3);
  CHECK(client_rule(c.client_weights, {"", "http://localhost:5173", "127.0.0.1"}, 1) == 2);
  CHECK(client_rule(c.client_weights, {"key-b", "", "127.0.0.1"}, 7) == 1);  // *
  CHECK(client_rule(c.client_max_running, {"", "", "127.0.0.1"}, 0) == 4);
  CHECK(client_rule(c.client_max_running, {"", "", "127.0.0.2"}, 0) == 0);  // no rule: the fallback
  // A key may hold '=' itself: the last one splits.
  CHECK(client_rule(load({"--client-weight", "k=ey=5"}).client_weights, {"k=ey"}, 1) == 5);
  for (const char* bad : {"key-a", "=3", "key-a=0", "key-a=1001", "key-a=x"}) {
    INFO(bad);
    CHECK_THROWS_WITH(load_server_config(std::vector<std::string>{"--client-weight", bad}, fake_env{}.fn(), nullptr),
                      Catch::Contains("client-weight"));
  }
  CHECK_THROWS_WITH(load_server_config(std::vector<std::string>{"--client-max-running", "a=300"}, fake_env{}.fn(), nullptr),
                    Catch::Contains("client-max-running"));
}

TEST_CASE("config: speculative decoding's default mode, draft length and draft model", "[config]") {
  const server_config d = load({});
  CHECK(d.speculative == "off");
  CHECK(d.draft_max == 8);
  CHECK(d.draft_model.empty());
  CHECK(load({"--speculative", "ngram"}).speculative == "ngram");
  CHECK(load({"--speculative=off", "--draft-max", "16"}).draft_max == 16);
  CHECK(load({"--draft-max", "1"}).draft_max == 1);
  const server_config draft = load({"--speculative", "draft", "--draft-model", "/models/small.gguf"});
  CHECK(draft.speculative == "draft");
  CHECK(draft.draft_model == "/models/small.gguf");
  // From the environment and the config file, as every setting.
  fake_env env;
  env.vars["HEARTH_SPECULATIVE"] = "ngram";
  env.vars["HEARTH_DRAFT_MAX"] = "4";
  const server_config from_env = load({}, env);
  CHECK(from_env.speculative == "ngram");
  CHECK(from_env.draft_max == 4);
  const std::string path = write_file(R"({"speculative": "draft", "draft-model": "d.gguf", "draft-max": 12})");
  const server_config from_file = load({"--config", path});
  CHECK(from_file.speculative == "draft");
  CHECK(from_file.draft_model == "d.gguf");
  CHECK(from_file.draft_max == 12);
  std::remove(path.c_str());

  auto refused = [](std::vector<std::string> args, const fake_env& e, const std::string& part) {
    try {
      load_server_config(args, e.fn(), nullptr);
      FAIL("accepted");
    } catch (const config_error& err) {
      INFO(err.what());
      CHECK(std::string(err.what()).find(part) != std::string::npos);
    }
  };
  refused({"--speculative", "fast"}, {}, "option --speculative: 'fast' is not off, ngram or draft");
  refused({"--speculative", "NGRAM"}, {}, "is not off, ngram or draft");
  refused({"--draft-max", "0"}, {}, "option --draft-max: 0 is out of range (1..16)");
  refused({"--draft-max", "17"}, {}, "option --draft-max: 17 is out of range (1..16)");
  refused({"--draft-max", "x"}, {}, "not an integer");
  fake_env bad_env;
  bad_env.vars["HEARTH_SPECULATIVE"] = "lookahead";
  refused({}, bad_env, "environment HEARTH_SPECULATIVE");
  // Mode draft with no draft model: the server does not start, and says what to give.
  refused({"--speculative", "draft"}, {}, "speculative mode draft needs a draft model: give --draft-model FILE");
  fake_env draft_env;
  draft_env.vars["HEARTH_SPECULATIVE"] = "draft";
  refused({}, draft_env, "--draft-model");
  CHECK(load({"--speculative", "draft", "--draft-model", "d.gguf"}, draft_env).speculative == "draft");

  std::string help;
  CHECK_FALSE(load_server_config(std::vector<std::string>{"--help"}, fake_env{}.fn(), &help));
  for (const char* line : {"--speculative MODE", "--draft-max N", "--draft-model FILE", "HEARTH_DRAFT_MODEL"}) {
    INFO(line);
    CHECK(help.find(line) != std::string::npos);
  }
}
