#pragma once
// The strict reading of an HTTP/1.x request head (RFC 9112), before Beast parses it: where the
// head ends, whether its bytes are well-formed, whether its message framing (Content-Length,
// Transfer-Encoding, Host) can be trusted, and what its request-target means.
//
// Beast's parser is lenient where leniency lets a request be read two ways by two servers
// (obs-fold, "chunked, identity", duplicate Content-Length, several Host fields): those are the
// building blocks of request smuggling, so they are refused here first, with the status RFC 9112
// prescribes, and the connection is then closed.
//
// Pure functions over bytes; no I/O, no state. Thread-safe.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hearth {

inline constexpr size_t max_head_bytes = 64 * 1024;  // request line and fields: more is 431
inline constexpr size_t max_target_bytes = 8192;     // request-target: more is 414
inline constexpr int max_head_fields = 100;          // field lines: more is 431

// Why a head is refused: the status to answer with and a message for the client.
struct head_refusal {
  int status = 400;
  std::string message;
};

// Finding the end of a head in the bytes received so far.
struct head_boundary {
  enum state { need_more, complete, refused } state = need_more;
  size_t skip = 0;  // empty lines before the request line (RFC 9112 2.2 lets a server ignore them)
  size_t end = 0;   // complete: the head is bytes [skip, end), its blank line included
  head_refusal refusal;
};

// Looks for the blank line that ends a head in the bytes received so far. One finder per head:
// it remembers how far it got, so each byte is examined once however slowly the head arrives.
// Refuses at once a bare LF, a bare CR, and a head or request line over its limit.
class head_finder {
 public:
  // `bytes` must start with the bytes given to the previous call (more may follow).
  head_boundary next(std::string_view bytes);

 private:
  size_t scanned_ = 0;          // bytes examined
  bool request_line_done_ = false;
};

// The parts of a head that passed check_head_syntax. Views into the head's bytes.
struct head_fields {
  std::string_view method, target, version;
  int minor_version = 1;  // HTTP/1.x; x >= 1 is served as HTTP/1.1
  std::vector<std::pair<std::string_view, std::string_view>> fields;  // name, value without OWS
  // The values of the fields called `name` (case-insensitive).
  std::vector<std::string_view> values(std::string_view name) const;
};

// Checks the request line and field lines of a complete head (the bytes [skip, end) from
// find_head_end): tokens, separators, versions (505 for a major version other than 1),
// forbidden bytes, obs-fold, the number of fields (431) and the target length (414).
std::variant<head_fields, head_refusal> check_head_syntax(std::string_view head);

// Message framing (RFC 9112 6.1-6.3, 3.2): Transfer-Encoding (only "chunked", once, last;
// 501 for another coding; 400 in HTTP/1.0), Content-Length (one decimal value), not both;
// exactly one valid Host in HTTP/1.1 (at most one in HTTP/1.0). nullopt if the body's length
// is certain.
std::optional<head_refusal> check_framing(const head_fields& h);

// The meaning of a request-target (RFC 9112 3.2): origin-form "/path?query", absolute-form
// "http://authority/path?query" (its authority then replaces Host), or "*" (OPTIONS only).
struct request_target {
  std::string path;       // percent-decoded
  std::string raw_path;   // as sent, without the query: for logs
  std::string authority;  // absolute-form only
  bool asterisk = false;
};
std::variant<request_target, head_refusal> parse_target(std::string_view target);

// An authority "host[:port]" as Host carries it: reg-name, IPv4 or [IPv6], digits for a port.
bool valid_authority(std::string_view authority);

// The method and target of the request line at the start of `bytes` (after empty lines), if
// that line is complete and plausible: for logging a request refused before it was parsed.
std::optional<std::pair<std::string_view, std::string_view>> peek_request_line(std::string_view bytes);

// RFC 9110 token characters (method names, field names, transfer codings).
bool is_token(std::string_view s);

}  // namespace hearth
