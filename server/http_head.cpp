#include "http_head.h"

#include <algorithm>
#include <cstdint>

namespace hearth {

namespace {

// A request line longer than this without its end is refused as a too-long target (414).
constexpr size_t max_request_line_bytes = max_target_bytes + 1024;
// Empty lines tolerated before a request line.
constexpr size_t max_leading_empty_bytes = 1024;

head_refusal refuse(int status, std::string message) { return {status, std::move(message)}; }

bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Field-value bytes (RFC 9110 5.5): HTAB, SP, VCHAR, obs-text.
bool is_field_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The shown form of client bytes in a message: printable ASCII only, at most 40 bytes.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 40 ? out + "..." : out;
}

std::optional<head_refusal> check_request_line(std::string_view line, head_fields& h) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return refuse(400, "malformed request line: expected 'METHOD target HTTP/1.1'");
  }
  h.method = line.substr(0, sp1);
  h.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  h.version = line.substr(sp2 + 1);
  if (!is_token(h.method)) return refuse(400, "malformed request line: the method is not a token");
  if (h.target.empty()) return refuse(400, "malformed request line: no request-target");
  for (unsigned char c : h.target) {
    if (c <= 0x20 || c >= 0x7f) return refuse(400, "the request-target contains a byte that is not visible ASCII");
  }
  if (h.target.size() > max_target_bytes) {
    return refuse(414, "the request-target is " + std::to_string(h.target.size()) + " bytes; the limit is " +
                           std::to_string(max_target_bytes));
  }
  const std::string_view v = h.version;
  if (v.size() != 8 || !v.starts_with("HTTP/") || !std::isdigit(static_cast<unsigned char>(v[5])) || v[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(v[7]))) {
    return refuse(400, "malformed request line: the version is not HTTP/1.x");
  }
  if (v[5] != '1') return refuse(505, std::string(v) + " is not supported; use HTTP/1.1");
  h.minor_version = v[7] - '0';
  return std::nullopt;
}

std::optional<head_refusal> check_field_line(std::string_view line, head_fields& h) {
  if (line.front() == ' ' || line.front() == '\t') {
    return refuse(400, "obsolete line folding (a field line starting with whitespace) is not accepted");
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return refuse(400, "a field line has no colon: '" + shown(line) + "'");
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    return refuse(400, name.empty() ? "a field line has an empty name"
                                    : "the field name '" + shown(name) + "' is not a token (no whitespace before the colon)");
  }
  const std::string_view value = trim_ows(line.substr(colon + 1));
  for (unsigned char c : value) {
    if (!is_field_byte(c)) return refuse(400, "the field '" + shown(name) + "' contains a control byte");
  }
  if (static_cast<int>(h.fields.size()) >= max_head_fields) {
    return refuse(431, "the request has more than " + std::to_string(max_head_fields) + " header fields");
  }
  h.fields.emplace_back(name, value);
  return std::nullopt;
}

// Splits a comma-separated list, trimming OWS and skipping empty elements (RFC 9110 5.6.1).
std::vector<std::string_view> list_elements(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view e = trim_ows(value.substr(0, comma));
    if (!e.empty()) out.push_back(e);
    if (comma == std::string_view::npos) return out;
    value.remove_prefix(comma + 1);
  }
}

std::optional<head_refusal> check_transfer_encoding(const head_fields& h, const std::vector<std::string_view>& te) {
  if (h.minor_version == 0) return refuse(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
  if (!h.values("content-length").empty()) {
    return refuse(400, "a request must not carry both Content-Length and Transfer-Encoding");
  }
  std::vector<std::string> codings;
  for (std::string_view v : te) {
    for (std::string_view e : list_elements(v)) {
      if (!is_token(e)) return refuse(400, "malformed Transfer-Encoding: '" + shown(e) + "' (no parameters are supported)");
      codings.push_back(lower(e));
    }
  }
  if (codings.empty()) return refuse(400, "Transfer-Encoding names no transfer coding");
  if (codings.back() != "chunked") {
    return refuse(400, "the final transfer coding must be chunked (got '" + shown(codings.back()) + "')");
  }
  if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
    return refuse(400, "the chunked transfer coding is applied more than once");
  }
  if (codings.size() > 1) return refuse(501, "the transfer coding '" + shown(codings.front()) + "' is not supported");
  return std::nullopt;
}

std::optional<head_refusal> check_content_length(const std::vector<std::string_view>& cl) {
  if (cl.size() > 1) return refuse(400, "more than one Content-Length field");
  const std::string_view v = cl.front();
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return refuse(400, "Content-Length must be one decimal number (got '" + shown(v) + "')");
  }
  uint64_t n = 0;
  for (char c : v) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return refuse(400, "Content-Length is too large a number");
    n = n * 10 + digit;
  }
  return std::nullopt;
}

bool is_reg_name_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || std::string_view("-._~!$&'()*+,;=%").find(c) != std::string_view::npos;
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

head_boundary head_finder::next(std::string_view bytes) {
  head_boundary b;
  while (b.skip + 1 < bytes.size() && bytes[b.skip] == '\r' && bytes[b.skip + 1] == '\n') b.skip += 2;
  if (b.skip > max_leading_empty_bytes) {
    b.state = head_boundary::refused;
    b.refusal = refuse(400, "too many empty lines before the request line");
    return b;
  }
  scanned_ = std::max(scanned_, b.skip);
  for (; scanned_ < bytes.size(); ++scanned_) {
    const char c = bytes[scanned_];
    if (c == '\r') {
      if (scanned_ + 1 == bytes.size()) break;  // its LF may come next
      if (bytes[scanned_ + 1] != '\n') {
        b.state = head_boundary::refused;
        b.refusal = refuse(400, "a bare CR in the request head");
        return b;
      }
    } else if (c == '\n') {
      if (scanned_ == b.skip || bytes[scanned_ - 1] != '\r') {
        b.state = head_boundary::refused;
        b.refusal = refuse(400, "a bare LF in the request head (lines end with CRLF)");
        return b;
      }
      request_line_done_ = true;
      if (scanned_ >= b.skip + 3 && bytes.substr(scanned_ - 3, 4) == "\r\n\r\n") {
        b.state = head_boundary::complete;
        b.end = scanned_ + 1;
        if (b.end - b.skip > max_head_bytes) break;
        return b;
      }
    }
  }
  const size_t received = std::max(scanned_, b.end) - b.skip;
  if (!request_line_done_ && received > max_request_line_bytes) {
    b.state = head_boundary::refused;
    b.refusal = refuse(414, "the request line exceeds " + std::to_string(max_request_line_bytes) +
                                " bytes (the request-target limit is " + std::to_string(max_target_bytes) + ")");
  } else if (received > max_head_bytes) {
    b.state = head_boundary::refused;
    b.refusal = refuse(431, "the request head exceeds " + std::to_string(max_head_bytes) + " bytes");
  }
  return b;
}

std::optional<std::pair<std::string_view, std::string_view>> peek_request_line(std::string_view bytes) {
  while (bytes.starts_with("\r\n")) bytes.remove_prefix(2);
  const std::string_view line = bytes.substr(0, bytes.find("\r\n"));
  if (line.size() == bytes.size()) return std::nullopt;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method) || target.empty()) return std::nullopt;
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  return std::pair{method, target};
}

std::vector<std::string_view> head_fields::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) out.push_back(v);
  }
  return out;
}

std::variant<head_fields, head_refusal> check_head_syntax(std::string_view head) {
  head_fields h;
  size_t line_end = head.find("\r\n");
  if (auto r = check_request_line(head.substr(0, line_end), h)) return *r;
  for (size_t pos = line_end + 2; pos < head.size();) {
    line_end = head.find("\r\n", pos);
    if (line_end == pos) break;  // the blank line
    if (auto r = check_field_line(head.substr(pos, line_end - pos), h)) return *r;
    pos = line_end + 2;
  }
  return h;
}

std::optional<head_refusal> check_framing(const head_fields& h) {
  if (const auto te = h.values("transfer-encoding"); !te.empty()) {
    if (auto r = check_transfer_encoding(h, te)) return r;
  }
  if (const auto cl = h.values("content-length"); !cl.empty()) {
    if (auto r = check_content_length(cl)) return r;
  }
  const auto hosts = h.values("host");
  if (hosts.size() > 1) return refuse(400, "more than one Host field");
  if (hosts.empty() && h.minor_version >= 1) return refuse(400, "an HTTP/1.1 request needs a Host field");
  if (!hosts.empty() && !valid_authority(hosts.front())) {
    return refuse(400, "invalid Host '" + shown(hosts.front()) + "'");
  }
  return std::nullopt;
}

bool valid_authority(std::string_view a) {
  std::string_view port;
  if (a.starts_with("[")) {
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : a.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    const size_t colon = a.find(':');
    const std::string_view host = a.substr(0, colon);
    if (!std::all_of(host.begin(), host.end(), is_reg_name_byte)) return false;
    port = colon == std::string_view::npos ? std::string_view() : a.substr(colon + 1);
  }
  return port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::variant<request_target, head_refusal> parse_target(std::string_view target) {
  request_target t;
  if (target == "*") {
    t.asterisk = true;
    return t;
  }
  if (target.find('#') != std::string_view::npos) return refuse(400, "a fragment (#) is not part of a request-target");
  if (!target.starts_with("/")) {
    const size_t colon = target.find("://");
    const std::string_view scheme = colon == std::string_view::npos ? std::string_view() : target.substr(0, colon);
    if (scheme.empty()) return refuse(400, "the request-target must be a path starting with '/'");
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
      return refuse(400, "only http URIs are served (got '" + shown(scheme) + "')");
    }
    std::string_view rest = target.substr(colon + 3);
    const size_t path_at = std::min(rest.find('/'), rest.find('?'));
    t.authority = std::string(rest.substr(0, path_at));
    if (t.authority.empty() || t.authority.find('@') != std::string::npos || !valid_authority(t.authority)) {
      return refuse(400, "invalid authority in the request-target");
    }
    target = path_at == std::string_view::npos ? std::string_view("/") : rest.substr(path_at);
  }
  const std::string_view path = target.substr(0, target.find('?'));
  t.raw_path = path.empty() ? "/" : std::string(path);
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      t.path += path[i];
      continue;
    }
    const int hi = i + 2 < path.size() ? hex_value(path[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_value(path[i + 2]) : -1;
    if (lo < 0) return refuse(400, "malformed percent-encoding (%) in the path");
    const int byte = hi * 16 + lo;
    if (byte < 0x20 || byte == 0x7f) return refuse(400, "a percent-encoded control byte (%) in the path");
    t.path += static_cast<char>(byte);
    i += 2;
  }
  if (t.path.empty()) t.path = "/";
  return t;
}

}  // namespace hearth
