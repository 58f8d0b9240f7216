// WebSocket text frames -> proto::parse_ws_message, and the error event the server would send
// back for a refused one.
#include "fuzz_target.h"
#include "proto/request_contracts.h"

namespace hearth::fuzz {

namespace {
const proto::limits lim{512, 512};
}  // namespace

void ws_message_input(fuzz_input input) {
  using namespace proto;
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  const ws_message m = parse_ws_message(text, lim);
  expect(test::ws_message_ok(m, lim), "parse_ws_message broke its contract");
  if (const ws_error* e = std::get_if<ws_error>(&m)) {
    const std::string reply = serialize(ws_error_event(e->id, e->error));
    expect(nlohmann::json::accept(reply), "the error event is not JSON: " + reply);
  }
}

}  // namespace hearth::fuzz
