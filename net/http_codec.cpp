// net/http_codec.cpp — see http_codec.hpp.
#include "net/http_codec.hpp"

#include <boost/beast/http/status.hpp>
#include <charconv>

namespace plasma::net::detail {

namespace {

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xf]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void appendNumber(std::string& out, std::size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  (void)ec;
  out.append(buf, end);
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

bool containsToken(std::string_view value, std::string_view token) {
  // Connection: a comma-separated token list ("keep-alive, close").
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string percentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

void decodeTarget(std::string_view target, std::string& path,
                  std::vector<std::pair<std::string, std::string>>& query) {
  std::size_t q = target.find('?');
  path = percentDecode(target.substr(0, q), false);
  query.clear();
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  if (std::size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view item = rest.substr(0, amp);
    if (!item.empty()) {
      std::size_t eq = item.find('=');
      std::string_view key = item.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
      query.emplace_back(percentDecode(key, true), percentDecode(value, true));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
}

std::string jsonError(std::string_view kind, std::string_view message) {
  std::string out = "{\"error\":";
  appendJsonString(out, kind);
  out += ",\"message\":";
  appendJsonString(out, message);
  out += '}';
  return out;
}

HttpResponse errorResponse(int status, std::string_view kind, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = jsonError(kind, message);
  return r;
}

bool headerFieldOk(std::string_view name, std::string_view value) noexcept {
  if (name.empty()) return false;
  for (char c : name)
    if (c == '\r' || c == '\n' || c == ':' || c == ' ' || c == '\t' || c == '\0') return false;
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

std::string_view reasonPhrase(int status) noexcept {
  std::string_view r = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  return r.empty() || r == "<unknown-status>" ? std::string_view("Unknown") : r;
}

bool writeResponseHead(std::string& out, const HttpResponse& r, const ResponseShape& shape) {
  bool keep_alive = shape.keep_alive;
  bool handler_connection = false;
  for (const Header& h : r.headers) {
    if (iequals(h.name, "connection")) {
      handler_connection = true;
      if (containsToken(h.value, "close")) keep_alive = false;
    }
  }
  out.clear();
  out.append("HTTP/1.1 ");
  appendNumber(out, static_cast<std::size_t>(r.status));
  out.push_back(' ');
  out.append(reasonPhrase(r.status));
  out.append("\r\n");
  if (!r.content_type.empty() && r.status != 204 && r.status != 304)
    appendField(out, "Content-Type", r.content_type);
  if (r.status != 204 && r.status != 304) {
    // HEAD answers carry the length the GET would have had.
    out.append("Content-Length: ");
    appendNumber(out, r.body.size());
    out.append("\r\n");
  }
  for (const Header& h : r.headers) {
    if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding")) continue;
    if (iequals(h.name, "connection") && !keep_alive) continue;  // written below, once
    appendField(out, h.name, h.value);
  }
  if (!keep_alive)
    out.append("Connection: close\r\n");
  else if (shape.http10 && !handler_connection)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  return keep_alive;
}

}  // namespace plasma::net::detail
