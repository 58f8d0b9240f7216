#pragma once
// One record per request, written when its answer has gone out (or could not): the count in
// /metrics and, with --log-requests, one line on stderr. HTTP sessions record each request;
// WebSocket sessions record each generation. Recording at the point the bytes were written
// (never where a handler decided what to answer) keeps the log and the counts equal to what
// the client got.
//
// A line reads:  POST /v1/completions 200 1532B 812ms id=... [outcome] [detail]
// with the method ("WS" for a WebSocket generation), the path as sent without its query, the
// status sent ("-" if none was), bytes written to the socket, time since the request began,
// the request id (x-request-id, or the WebSocket generation id), how it ended if not in full,
// and the generation summary. Prompt and output text appear only under --log-prompts.
//
// Thread-safe: any thread may record.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "app.h"
#include "token_sink.h"

namespace hearth {

struct request_record {
  std::string_view id;        // x-request-id (HTTP) or the generation id (WebSocket)
  std::string_view method;    // "GET", "POST", ...; "WS" for a WebSocket generation; "-" if unknown
  std::string_view path;      // as sent, without the query; "-" if unknown
  std::string_view endpoint;  // the metrics label: a route's path (endpoint_label) or "other"
  int status = 0;             // the status sent (WebSocket: the HTTP status its error event names,
                              // 200 for done); 0: nothing was sent
  uint64_t bytes = 0;         // written to the socket for this request
  std::chrono::steady_clock::duration elapsed{};
  std::string_view outcome;   // "" when the answer went out in full; else e.g. "client gone"
  std::string_view detail;    // generation_summary(), or ""
};

// Counts r in hearth_requests_total{endpoint, status} and, if a.config.log_requests, logs it.
void record_request(app& a, const request_record& r);

// "finish=length prompt=5 completion=64 queue=0ms prefill=3ms (1500.0 tok/s) generate=700ms
// (91.4 tok/s)"; under --log-prompts followed by the prompt and output on their own lines.
std::string generation_summary(const app& a, const finish_event& e, std::string_view prompt_text,
                               std::string_view output_text);

}  // namespace hearth
