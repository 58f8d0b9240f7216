#pragma once
// A model file that cannot be used. The message names the file, the field or tensor, and what
// was expected versus found. Thrown only while loading; never crosses into request handling.
#include <stdexcept>
#include <string>

namespace hearth {

class load_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hearth
