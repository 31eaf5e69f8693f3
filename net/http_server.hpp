// net/http_server.hpp — the HTTP/1.1 keep-alive + WebSocket server (Boost.Asio on io_uring,
// Boost.Beast). No Asio or Beast header is included here: everything network-specific lives in
// net/*.cpp behind a pimpl, so users of this header compile fast and do not need the Asio
// compile definitions (they get them anyway by linking plasma_net).
//
// Threading model in short (net/README.md has the long version): one io_context per thread,
// each connection assigned round-robin to one of them and touched only by that thread. A
// Responder or WsConnection can be used from any thread; it posts the work to the owning thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plasma::net {

namespace detail {
class Gate;
class HttpSession;
class WsSession;
}  // namespace detail

struct Header {
  std::string name, value;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/sync/pull?cookie=3"
  std::string path;    // target without query, percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded query params ('+' is a space), in order
  std::vector<Header> headers;
  std::string body;
  std::string remote;  // "127.0.0.1:54321"

  std::string_view header(std::string_view name) const;  // case-insensitive; "" if absent
  std::optional<std::string_view> queryParam(std::string_view name) const;  // first occurrence
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::string body;
  // Extra headers. Content-Length is always computed by the server (a handler's own
  // Content-Length / Transfer-Encoding is dropped); a "Connection: close" here closes the
  // connection after this response. Names and values with CR or LF make the response a 500.
  std::vector<Header> headers;
};

// Completes one request. Move-only; call exactly once, from ANY thread (the sync layer answers
// from its group-commit writer thread). The call posts the write to the connection's thread (or
// runs it at once when already on that thread). Destroyed without being called -> the server
// answers 500 {"error":"InternalError","message":"handler dropped the request"}. Calls after the
// server answered by itself (handler_timeout) or after the connection/server went away are
// ignored. A Responder may outlive the Server.
class Responder {
 public:
  Responder() = default;
  Responder(std::shared_ptr<detail::Gate> gate, std::weak_ptr<detail::HttpSession> session,
            std::uint64_t seq) noexcept;
  Responder(Responder&& other) noexcept;
  Responder& operator=(Responder&& other) noexcept;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  void operator()(HttpResponse&& r);
  bool valid() const { return gate_ != nullptr; }  // false once called or moved from

 private:
  void deliver(HttpResponse&& r, bool dropped);

  std::shared_ptr<detail::Gate> gate_;
  std::weak_ptr<detail::HttpSession> session_;
  std::uint64_t seq_ = 0;
};

using HttpHandler = std::function<void(HttpRequest&&, Responder)>;

class WsConnection {  // shared_ptr-owned; thread-safe
 public:
  struct Impl;  // defined in net/ws_session.cpp
  explicit WsConnection(std::unique_ptr<Impl> impl);
  ~WsConnection();
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  std::uint64_t id() const;                   // unique per server, from 1
  const HttpRequest& upgradeRequest() const;  // path, query (e.g. ?room=), headers
  void sendText(std::string msg);             // queued, in order; drops if closed
  // Close frame with that code + reason, sent after the messages already queued. Reasons are
  // cut to 123 bytes (the protocol's limit).
  void close(std::uint16_t code, std::string reason);
  bool isOpen() const;  // false once closing started (by either side)

  // sendText(message) to each connection, with one hand-off per I/O thread instead of one per
  // connection: what a poke to a large room needs. Closed connections are skipped.
  static void broadcastText(const std::vector<std::shared_ptr<WsConnection>>& connections,
                            const std::string& message);

 private:
  std::unique_ptr<Impl> impl_;
};

struct WsHandler {
  // Path that upgrades (e.g. "/sync/ws"); upgrades elsewhere get 404. Empty: no WebSockets.
  std::string path;
  // All three run on the connection's I/O thread; keep them short (post heavy work elsewhere).
  // Exceptions they throw are logged and swallowed.
  std::function<void(const std::shared_ptr<WsConnection>&)> onOpen;
  std::function<void(const std::shared_ptr<WsConnection>&, std::string_view message, bool binary)> onMessage;
  std::function<void(const std::shared_ptr<WsConnection>&)> onClose;  // exactly once per opened connection,
                                                                      // also when it died
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                            // 0: pick a free port
  unsigned threads = 0;                              // 0: one io_context thread per core
  std::size_t max_header_bytes = 16 * 1024;          // over -> 431 JSON error, close
  std::size_t max_body_bytes = 1024 * 1024;          // over -> 413 JSON error naming the limit, close
  std::chrono::milliseconds request_timeout{30000};  // first byte to full request; over -> 408, close.
                                                     // Also bounds writing one response.
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive idle -> close silently
  std::chrono::milliseconds handler_timeout{30000};  // Responder not called by then -> 503 JSON error
  std::size_t max_connections = 10000;               // over -> 503 JSON error, close
  std::size_t ws_max_message_bytes = 64 * 1024;      // over -> close 1009 with reason
  std::chrono::milliseconds ws_ping_interval{15000};  // ping; no pong by next ping -> close + onClose
  // Where the server reports what it cannot tell a client: handler exceptions, accept errors,
  // exceptions from WsHandler callbacks. Called on I/O threads. Empty: written to stderr.
  std::function<void(std::string_view)> log;
};

struct ServerStats {
  std::uint64_t open_connections;  // TCP connections being served, WebSockets included
  std::uint64_t open_websockets;
  std::uint64_t requests_total;  // HTTP requests parsed completely (upgrades included)
};

class Server {
 public:
  Server(ServerOptions options, HttpHandler handler, WsHandler ws = {});
  ~Server();  // stops if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds + listens + starts threads. Throws std::runtime_error with a clear message: bind
  // failures name host:port; io_uring unavailable says so and names the switch
  // (-DPLASMA_IO_URING=OFF, docs/building.md). Not restartable after stop().
  void start();
  std::string host() const;
  std::uint16_t port() const;  // the bound port (the real one when 0 was asked)

  // Graceful: stop accepting, let in-flight requests finish (their Responders still work) up to
  // `grace`, close idle keep-alive connections and websockets (close frame 1001 "server shutting
  // down"), then close whatever is left, join threads. Must not be called from a handler or
  // callback running on the server's own threads (it would wait for itself).
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));
  ServerStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// True when this build's Asio runs on io_uring (PLASMA_IO_URING=ON), false for epoll.
bool usesIoUring() noexcept;

}  // namespace plasma::net
