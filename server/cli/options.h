#pragma once
// Command-line options of one subcommand: a table of (long name, short name, value, help) that
// both parses the arguments and prints --help. Numbers are checked strictly: "--top-k 4x" is an
// error, not 4.
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/ggml_type.h"
#include "grammar.h"

namespace hearth::cli {

// A usage error: printed to stderr with exit code 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct option_spec {
  std::string_view name;        // long name without "--"
  char short_name = 0;          // 0: none
  std::string_view value_name;  // empty: a flag that takes no value
  std::string_view help;
};

class options {
 public:
  options(std::string_view usage, std::string_view summary, std::vector<option_spec> specs);

  // Parses args; throws usage_error. Returns false if --help was given (help already printed).
  bool parse(std::span<char* const> args);

  bool has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The last value given for an option, or all of them (an option may be repeated).
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  std::string get_or(std::string_view name, std::string fallback) const;
  int64_t get_int(std::string_view name, int64_t fallback) const;
  uint64_t get_u64(std::string_view name, uint64_t fallback) const;
  double get_double(std::string_view name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

  std::string help() const;

 private:
  const option_spec* find_long(std::string_view name) const;
  const option_spec* find_short(char c) const;

  std::string usage_;
  std::string summary_;
  std::vector<option_spec> specs_;
  std::unordered_map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// What every command does around its work: parses args into opts (--help: printed, exit 0),
// then runs body and returns its exit code. A usage_error is printed as "hearth NAME: ... (see
// hearth NAME --help)", exit 2; a load_error (a bad model file, named) or std::length_error as
// "hearth NAME: ...", exit 1.
int run_command(std::string_view name, options& opts, std::span<char* const> args, const std::function<int()>& body);

// The whole contents of a text file; usage_error naming it when it cannot be read.
std::string read_text_file(const std::string& path);

// The KV cache row type a --kv-type value names (f16, q8_0, q4_0); usage_error otherwise.
ggml_type parse_kv_type(const std::string& name);
// --grammar FILE (GBNF) or --json-schema FILE (a JSON Schema, property order kept) as a compiled
// grammar, or null if neither is given; usage_error naming the option and the problem.
std::shared_ptr<const grammar> grammar_option(const options& opts);
inline constexpr option_spec grammar_file_option = {"grammar", 0, "FILE", "constrain the output to this GBNF grammar"};
inline constexpr option_spec json_schema_file_option = {"json-schema", 0, "FILE",
                                                        "constrain the output to JSON valid under this JSON Schema"};

// The --kv-type option every command that runs a model takes.
inline constexpr option_spec kv_type_option = {"kv-type", 0, "TYPE",
                                               "KV cache rows: f16 (default), q8_0 (half the memory) or q4_0"};

}  // namespace hearth::cli
