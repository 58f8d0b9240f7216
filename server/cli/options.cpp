#include "cli/options.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "kv_cache.h"
#include "load_error.h"
#include "proto/json_schema.h"

namespace hearth::cli {

options::options(std::string_view usage, std::string_view summary, std::vector<option_spec> specs)
    : usage_(usage), summary_(summary), specs_(std::move(specs)) {
  specs_.push_back({"help", 'h', "", "show this help and exit"});
}

const option_spec* options::find_long(std::string_view name) const {
  for (const auto& s : specs_) if (s.name == name) return &s;
  return nullptr;
}

const option_spec* options::find_short(char c) const {
  for (const auto& s : specs_) if (c && s.short_name == c) return &s;
  return nullptr;
}

bool options::parse(std::span<char* const> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    const option_spec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (a == "--") {
      for (++i; i < args.size(); ++i) positional_.emplace_back(args[i]);
      break;
    }
    if (a.starts_with("--")) {
      std::string_view name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string_view::npos) {
        inline_value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      spec = find_long(name);
      if (!spec) throw usage_error("unknown option '--" + std::string(name) + "'");
    } else if (a.size() == 2 && a[0] == '-' && a[1] != '-') {
      spec = find_short(a[1]);
      if (!spec) throw usage_error("unknown option '" + std::string(a) + "'");
    } else {
      positional_.emplace_back(a);
      continue;
    }
    if (spec->name == "help") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (spec->value_name.empty()) {
      if (inline_value) throw usage_error("option '--" + std::string(spec->name) + "' takes no value");
      values_[std::string(spec->name)].push_back("1");
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        throw usage_error("option '--" + std::string(spec->name) + "' needs a value (" +
                          std::string(spec->value_name) + ")");
      }
      inline_value = args[++i];
    }
    values_[std::string(spec->name)].push_back(*inline_value);
  }
  return true;
}

std::optional<std::string> options::get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> options::get_all(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string options::get_or(std::string_view name, std::string fallback) const {
  auto v = get(name);
  return v ? *v : std::move(fallback);
}

namespace {
template <class T>
T parse_number(std::string_view name, const std::string& v) {
  T out{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) {
    throw usage_error("option '--" + std::string(name) + "': '" + v + "' is not a valid number");
  }
  return out;
}
}  // namespace

int64_t options::get_int(std::string_view name, int64_t fallback) const {
  auto v = get(name);
  return v ? parse_number<int64_t>(name, *v) : fallback;
}

uint64_t options::get_u64(std::string_view name, uint64_t fallback) const {
  auto v = get(name);
  return v ? parse_number<uint64_t>(name, *v) : fallback;
}

double options::get_double(std::string_view name, double fallback) const {
  auto v = get(name);
  return v ? parse_number<double>(name, *v) : fallback;
}

std::string options::help() const {
  std::string out = "usage: " + usage_ + "\n\n" + summary_ + "\n\noptions:\n";
  for (const auto& s : specs_) {
    std::string left = "  ";
    left += s.short_name ? std::string("-") + s.short_name + ", " : "    ";
    left += "--" + std::string(s.name);
    if (!s.value_name.empty()) left += " " + std::string(s.value_name);
    if (left.size() < 28) left.resize(28, ' '); else left += "\n" + std::string(28, ' ');
    out += left + std::string(s.help) + "\n";
  }
  return out;
}

int run_command(std::string_view name, options& opts, std::span<char* const> args, const std::function<int()>& body) {
  const std::string who = "hearth " + std::string(name);
  try {
    if (!opts.parse(args)) return 0;
    return body();
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s: %s\n(see %s --help)\n", who.c_str(), e.what(), who.c_str());
    return 2;
  } catch (const load_error& e) {
    std::fprintf(stderr, "%s: %s\n", who.c_str(), e.what());
    return 1;
  } catch (const std::length_error& e) {  // e.g. a text over 1 GiB
    std::fprintf(stderr, "%s: %s\n", who.c_str(), e.what());
    return 1;
  }
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::shared_ptr<const grammar> grammar_option(const options& opts) {
  const bool gbnf = opts.has("grammar"), schema = opts.has("json-schema");
  if (!gbnf && !schema) return nullptr;
  if (gbnf && schema) throw usage_error("give --grammar or --json-schema, not both");
  const std::string flag = gbnf ? "--grammar" : "--json-schema";
  const std::string path = *opts.get(gbnf ? "grammar" : "json-schema");
  std::string text = read_text_file(path);
  try {
    if (schema) text = json_schema_to_gbnf(nlohmann::ordered_json::parse(text));
    std::shared_ptr<const grammar> g = grammar::parse(text);
    grammar_matcher probe(g);  // too ambiguous to start: refused here
    return g;
  } catch (const std::exception& e) {  // JSON, schema and grammar errors, the work bound
    throw usage_error(flag + " " + path + ": " + e.what());
  }
}

ggml_type parse_kv_type(const std::string& name) {
  if (auto t = kv_cache::parse_type(name)) return *t;
  throw usage_error("--kv-type must be one of " + std::string(kv_cache::type_names()) + " (got '" + name + "')");
}

}  // namespace hearth::cli
