// net/http_client.hpp — blocking HTTP/1.1 and WebSocket clients for tests, benchmarks and the
// client engine. Each client owns a private io_context that runs only inside its calls, on the
// calling thread; a client object is not thread-safe (one thread at a time). No Asio or Beast
// header here (pimpl).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_server.hpp"

namespace plasma::net {

// One keep-alive connection. Reconnects when the server closed it: a request on a reused
// connection that fails before any byte of the answer arrived is sent again once on a new one
// (what browsers do; the server never saw it or dropped it unanswered).
class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // The response's headers are all its header fields; content_type is its Content-Type.
  // Throws std::runtime_error on connect/timeout/IO failure (the timeout covers the whole call).
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string_view content_type = "application/json", const std::vector<Header>& headers = {});

  bool connected() const;  // a connection is open (after a request whose answer kept it alive)

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class WsClient {
 public:
  // Connects and handshakes; throws std::runtime_error on failure (a refused upgrade names the
  // HTTP status the server answered).
  WsClient(std::string host, std::uint16_t port, std::string target,
           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void sendText(std::string_view message);  // throws std::runtime_error if it cannot be sent
  // The next text (or binary) message; nullopt on timeout or once the connection is closed.
  // Pings are answered only while this (or sendText/close) runs.
  std::optional<std::string> readText(std::chrono::milliseconds timeout);
  // After the server closed: the close code and reason.
  std::optional<std::pair<std::uint16_t, std::string>> closeReason() const;
  bool isOpen() const;
  void close();  // close handshake (1000); no-op if already closed

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plasma::net
