#include "generation.h"

namespace hearth::proto {

std::string_view to_string(finish_reason r) {
  switch (r) {
    case finish_reason::stop: return "stop";
    case finish_reason::length: return "length";
    case finish_reason::cancelled: return "cancelled";
    case finish_reason::shutdown: return "shutdown";
    case finish_reason::error: return "error";
    case finish_reason::deadline: return "deadline";
  }
  return "error";
}

}  // namespace hearth::proto
