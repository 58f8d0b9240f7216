#pragma once
// Helpers for the proto tests: unwrap a parse result, or check that it is the expected 400.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <variant>

#include "proto/api_error.h"

namespace hearth::proto::test {

// The parsed value; fails the test (showing the error) if parsing failed.
template <class T>
T ok(const result<T>& r) {
  if (const api_error* e = std::get_if<api_error>(&r)) FAIL("unexpected error: " << e->message);
  return std::get<T>(r);
}

// The error; fails the test if parsing succeeded.
template <class T>
api_error err(const result<T>& r) {
  REQUIRE(std::holds_alternative<api_error>(r));
  return std::get<api_error>(r);
}

// A 400 invalid_request_error naming `param`, whose message contains `part`.
inline void check_bad_request(const api_error& e, std::string_view param, std::string_view part) {
  INFO("message: " << e.message);
  CHECK(e.status == 400);
  CHECK(e.type == "invalid_request_error");
  CHECK(e.param == param);
  CHECK(e.message.find(part) != std::string::npos);
}

template <class T>
void check_rejected(const result<T>& r, std::string_view param, std::string_view part) {
  check_bad_request(err(r), param, part);
}

}  // namespace hearth::proto::test
