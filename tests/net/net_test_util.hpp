// tests/net/net_test_util.hpp — helpers for the network tests: a raw TCP connection (plain POSIX
// sockets, so tests can send malformed, partial or pipelined bytes the real clients never would),
// a tiny HTTP response reader for it, and waitFor().
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "net/http_server.hpp"

namespace plasma_net_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls pred every 2 ms until it is true or `timeout` passed; returns pred().
inline bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline plasma::net::ServerOptions quietOptions() {
  plasma::net::ServerOptions o;
  o.threads = 2;
  o.log = [](std::string_view) {};
  return o;
}

struct RawResponse {
  int status = 0;
  std::string head;  // status line + headers
  std::string body;
  bool has(std::string_view header_line_part) const { return head.find(header_line_part) != std::string::npos; }
};

class RawConn {
 public:
  explicit RawConn(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads whatever arrives within `timeout` into buffer(); false once the peer closed (EOF or
  // reset) — then closed() is true.
  bool readSome(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return true;  // nothing yet
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  // One response (Content-Length framed) from the stream, or nullopt by `timeout`.
  std::optional<RawResponse> readResponse(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto r = takeResponse()) return r;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms || closed_) return std::nullopt;
      readSome(std::min(left, 50ms));
    }
  }

  // True when the server closed the connection within `timeout` (bytes read meanwhile are kept).
  bool waitClosed(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!closed_ && Clock::now() < deadline) readSome(20ms);
    return closed_;
  }

  bool closed() const { return closed_; }
  std::string& buffer() { return buffer_; }

 private:
  std::optional<RawResponse> takeResponse() {
    std::size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    RawResponse r;
    r.head = buffer_.substr(0, end + 2);
    std::size_t length = 0;
    std::size_t cl = lowerCopy(r.head).find("content-length:");
    if (cl != std::string::npos) length = std::stoul(r.head.substr(cl + 15));
    if (buffer_.size() < end + 4 + length) return std::nullopt;
    r.body = buffer_.substr(end + 4, length);
    r.status = std::stoi(r.head.substr(9, 3));
    buffer_.erase(0, end + 4 + length);
    return r;
  }
  static std::string lowerCopy(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

}  // namespace plasma_net_test
