// `hearth template FILE.jinja < VARS.json`: renders a chat template (any Jinja template) for the
// variables in a JSON object, as the daemon renders the model's template: messages,
// add_generation_prompt, tools, bos_token, eos_token ... Exit 1 when the template cannot be
// parsed or refuses (raise_exception and other render errors), 2 for bad usage.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "proto/jinja/jinja.h"
#include "proto/jinja/json_io.h"

namespace hearth::cli {

namespace {

// "YYYY-MM-DD HH:MM:SS" (or with a "T") as a broken-down time with its weekday and day of year.
std::tm parse_time(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  char sep;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &sep, &h, &mi, &sec) != 7 ||
      (sep != ' ' && sep != 'T') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    throw usage_error("--now expects YYYY-MM-DD HH:MM:SS (got '" + s + "')");
  }
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
  const std::time_t t = timegm(&tm);  // fills in tm_wday and tm_yday
  gmtime_r(&t, &tm);
  return tm;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The JSON object on stdin, its strings marked as user text (as a request's would be).
jinja::variables read_variables() {
  std::ostringstream in;
  in << std::cin.rdbuf();
  const auto j = nlohmann::ordered_json::parse(in.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw usage_error("stdin must hold a JSON object of variables");
  jinja::variables vars;
  for (const auto& [k, v] : j.items()) vars.emplace_back(k, jinja::from_json(v, /*user_strings=*/true));
  return vars;
}

}  // namespace

int cmd_template(std::span<char* const> args) {
  options opts("hearth template FILE.jinja [--now TIME] [--repeat N] < VARS.json",
               "Render a chat template for the variables in a JSON object read from stdin (messages,\n"
               "add_generation_prompt, tools, bos_token, eos_token ...) and print the result.",
               {{"now", 0, "TIME", "the time strftime_now() formats, YYYY-MM-DD HH:MM:SS (default: the clock)"},
                {"repeat", 0, "N", "render N times and print the time per render to stderr"}});
  jinja::render_options ro;
  int64_t repeat = 1;
  std::string path;
  try {
    if (!opts.parse(args)) return 0;
    if (opts.positional().size() != 1) throw usage_error("expected exactly one template FILE");
    path = opts.positional()[0];
    if (auto now = opts.get("now")) {
      const std::tm tm = parse_time(*now);
      ro.clock = [tm] { return tm; };
    }
    repeat = opts.get_int("repeat", 1);
    if (repeat < 1) throw usage_error("--repeat must be at least 1");
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hearth template: %s\n(see hearth template --help)\n", e.what());
    return 2;
  }
  jinja::variables vars;
  try {
    vars = read_variables();
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hearth template: %s\n", e.what());
    return 2;
  } catch (const jinja::failure& f) {
    std::fprintf(stderr, "hearth template: the variables: %s\n", f.error().describe().c_str());
    return 2;
  }
  try {
    const jinja::program p = jinja::program::parse(read_file(path));
    const auto start = std::chrono::steady_clock::now();
    auto r = p.render(vars, ro);
    for (int64_t i = 1; i < repeat; ++i) r = p.render(vars, ro);
    if (repeat > 1) {
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "hearth template: %lld renders, %.1f us each\n", static_cast<long long>(repeat), us / repeat);
    }
    if (const auto* e = std::get_if<jinja::render_error>(&r)) {
      std::fprintf(stderr, "hearth template: %s\n", e->describe().c_str());
      return 1;
    }
    const std::string& out = std::get<jinja::text>(r).str();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  } catch (const jinja::syntax_error& e) {
    std::fprintf(stderr, "hearth template: %s: %s\n", path.c_str(), e.what());
    return 1;
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "hearth template: %s\n", e.what());
    return 1;
  }
}

}  // namespace hearth::cli
