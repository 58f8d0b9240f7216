#pragma once
// Running a child process (the `hearth` binary, curl, node) from a test and collecting its output.
#include <string>
#include <vector>

namespace hearth::test {

// The `hearth` binary of this build: what the CLI and integration tests run.
inline const std::string hearth_bin = HEARTH_BINARY;

struct process_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] with the arguments (no shell), waits, returns exit code, stdout and stderr.
process_result run_process(const std::vector<std::string>& argv, const std::string& stdin_text = "");

}  // namespace hearth::test
