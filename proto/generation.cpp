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

std::string_view to_string(steer_kind k) {
  switch (k) {
    case steer_kind::update: return "update";
    case steer_kind::append: return "append";
    case steer_kind::pause: return "pause";
    case steer_kind::resume: return "resume";
  }
  return "update";
}

std::string_view to_string(speculative_mode m) {
  switch (m) {
    case speculative_mode::off: return "off";
    case speculative_mode::ngram: return "ngram";
    case speculative_mode::draft: return "draft";
  }
  return "off";
}

std::optional<speculative_mode> speculative_mode_from(std::string_view name) {
  for (speculative_mode m : {speculative_mode::off, speculative_mode::ngram, speculative_mode::draft}) {
    if (name == to_string(m)) return m;
  }
  return std::nullopt;
}

}  // namespace hearth::proto
