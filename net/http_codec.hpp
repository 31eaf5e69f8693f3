// net/http_codec.hpp — the small, transport-free pieces of HTTP the server needs besides Beast's
// parser: target decoding, the JSON error bodies, and writing a response head into a reused
// string (cheaper than Beast's serializer for our fixed shape of response). Internal.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_server.hpp"

namespace plasma::net::detail {

bool iequals(std::string_view a, std::string_view b) noexcept;

// Percent-decodes s. Invalid escapes ("%zz", a trailing "%") are kept as they are: being lenient
// here costs nothing and a handler that cares can look at the raw target.
std::string percentDecode(std::string_view s, bool plus_is_space);

// Splits "/a%20b?x=1&y" into path "/a b" and query {{"x","1"},{"y",""}}.
void decodeTarget(std::string_view target, std::string& path,
                  std::vector<std::pair<std::string, std::string>>& query);

// {"error":"<kind>","message":"<message>"}
std::string jsonError(std::string_view kind, std::string_view message);
HttpResponse errorResponse(int status, std::string_view kind, std::string_view message);

// True when name/value can go on the wire without splitting the response.
bool headerFieldOk(std::string_view name, std::string_view value) noexcept;

// What the server writes: the head into `out` (cleared first); whether a body follows is
// decided by has_body (HEAD requests, 204 and 304 have none).
struct ResponseShape {
  bool keep_alive = true;
  bool http10 = false;   // the request was HTTP/1.0: say "Connection: keep-alive" explicitly
  bool has_body = true;  // false: no body bytes (HEAD / 204 / 304)
};
// Returns false when the response asks to close the connection ("Connection: close").
bool writeResponseHead(std::string& out, const HttpResponse& r, const ResponseShape& shape);

// The error to throw when an io_context cannot be created (with io_uring: the ring), naming the
// -DPLASMA_IO_URING=OFF switch. `what` is the system error's text.
std::runtime_error ioContextError(std::string_view what);

// The number of entries of the io_uring rings io_contexts made on this thread get; 0 (the
// default) keeps Asio's 16,384. The blocking clients, which never have more than a few operations
// in flight, set it around making their private io_context: a 16,384-entry ring takes ~1.5 MB
// of kernel memory and ~0.4 ms to set up, a 64-entry one a few KB and ~20 us. No effect on epoll.
struct RingEntriesScope {
  explicit RingEntriesScope(unsigned entries) noexcept;
  ~RingEntriesScope();
  RingEntriesScope(const RingEntriesScope&) = delete;
  RingEntriesScope& operator=(const RingEntriesScope&) = delete;
  void restore() noexcept;

 private:
  unsigned previous_;
  bool restored_ = false;
};

// Reason phrase for a status code ("OK", "Not Found", ...; "Unknown" if none).
std::string_view reasonPhrase(int status) noexcept;

}  // namespace plasma::net::detail
