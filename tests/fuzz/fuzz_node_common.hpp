// tests/fuzz/fuzz_node_common.hpp — one real node (the todo app: its schema,
// mutators and the example's X-User auth hook) started in the fuzzer's own
// process on a loopback port and a temporary LMDB directory, and a blocking
// loopback connection that sends a fuzz input and reads until the node
// closes. Inputs go through the whole real path: Beast's parser, the HTTP
// session, the sync handler, the codecs, the writer thread, LMDB; the
// WebSocket target through the upgrade, the frame parser and the realtime
// layer. Anything the node does wrong on any thread (ASan, UBSan, an
// uncaught exception) ends the fuzzer with the input that caused it.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "node/node.hpp"
#include "sync/server.hpp"
#include "todo/todo_app.hpp"

namespace plasma_fuzz {

inline plasma::node::Node& fuzzNode() {
  static plasma::node::Node* node = [] {
    char tmpl[] = "/tmp/plasma-fuzz-node-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    plasma::node::NodeOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.data_dir = tmpl;
    o.durability = plasma::Durability::NoSync;
    o.threads = 1;
    o.log_level = std::getenv("FUZZ_NODE_LOG") ? plasma::node::LogLevel::Warn : plasma::node::LogLevel::Error;
    // Short: a socket the node closes waits this long for the close handshake
    // of a peer that only half-closed (Beast), and every such input would.
    o.request_timeout = std::chrono::milliseconds(300);
    o.map_size_bytes = std::size_t{1} << 30;
    o.ws_ping_interval = std::chrono::milliseconds(60000);
    static plasma::node::AppSpec app;
    app.program = "fuzz-node";
    app.schema = &todo::schema;
    app.runner = plasma::sync::runnerFor(todo::mutators());
    app.make_auth = [](const plasma::node::NodeOptions&) -> plasma::node::AuthHook {
      return [](const plasma::node::AuthRequest& r) {
        std::string_view user = r.http.header("X-User");
        if (user.empty() && r.route == "ws") user = r.http.queryParam("user").value_or(std::string_view());
        if (user == "nobody") return plasma::node::AuthResult::deny("user nobody may not sync");
        return plasma::node::AuthResult::allow(todo::Ctx{user.empty() ? std::string("demo-user") : std::string(user)});
      };
    };
    auto* n = new plasma::node::Node(o, app);  // lives as long as the fuzzer
    n->start();
    return n;
  }();
  return *node;
}

// A loopback connection to the fuzz node.
class Conn {
 public:
  Conn() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) std::abort();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(fuzzNode().port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      // A signal (libFuzzer's timer) can interrupt connect(); the connection
      // then completes in the background: wait for it and take its result.
      const int err = errno == EINTR ? awaitConnect() : errno;
      if (err != 0) {
        errno = err;
        std::perror("fuzz: connect to the node");
        std::abort();  // the node stopped accepting: that is a finding
      }
    }
    // The node must close within its request timeout (0.3 s) once the client
    // is done; 10 s without a byte or a close is a hang (see silent()).
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // False when the node already closed (a refused request may close early).
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  void finishSending() { ::shutdown(fd_, SHUT_WR); }

  // Reads until `stop` appears (returns true) or the node closes (false).
  // 10 s of silence ends it too (false, and silent() is true).
  bool readUntil(std::string_view stop, std::string& got) {
    char buf[4096];
    for (;;) {
      if (!stop.empty() && got.find(stop) != std::string::npos) return true;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return false;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) silent_ = true;
        return false;  // reset by the node: fine
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  bool silent() const noexcept { return silent_; }

 private:
  // The result of a connect() that a signal interrupted (0: connected).
  int awaitConnect() {
    pollfd p{fd_, POLLOUT, 0};
    int ready = 0;
    while ((ready = ::poll(&p, 1, 10'000)) < 0) {
      if (errno != EINTR) return errno;
    }
    if (ready == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }

  int fd_ = -1;
  bool silent_ = false;
};

// Runs `exchange` (one connection's worth of talking to the node; returns
// false when the node went silent). A connection that gets neither an
// answer nor a close in 10 s is a hang: abort. (Until the io_uring
// user_data fix in net/asio_src.cpp a silence was retried once, because
// the node's accept sometimes lost a connection; docs/RELIABILITY.md.)
template <class F>
void requireAnswer(F&& exchange) {
  if (!exchange()) {
    std::fprintf(stderr, "fuzz: the node neither answered nor closed within 10 s: a hang\n");
    std::abort();
  }
}

}  // namespace plasma_fuzz
