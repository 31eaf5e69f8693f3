// tools/fault_proxy.hpp — a loopback TCP proxy that injects faults between
// sync clients and a plasma node (issue 9, "Faults on the wire").
//
//   plasma_tools::FaultProxy proxy(node_port, seed);
//   proxy.setProfile({.drop = 0.05, .duplicate = 0.1, ...});
//   client connects to 127.0.0.1:proxy.port()
//
// It understands just enough HTTP/1.1 to find request and response
// boundaries (headers, Content-Length), so each request can be, per a
// seeded RNG (one stream per connection, derived from the seed and the
// connection's number):
//   - dropped: the connection closes before the request reaches the node;
//   - truncated: a prefix of it reaches the node on a fresh connection,
//     which then closes (the node must not act on it);
//   - duplicated: its bytes are replayed on a fresh upstream connection,
//     before or after the real one (the replay's answer is discarded);
//   - delayed, before it is forwarded and before its answer is sent;
//   - answered by a reset: the node processed it, the client gets no answer;
//   - answered truncated: a prefix of the answer, then the connection closes.
// A WebSocket upgrade turns the connection into a byte pipe whose
// node-to-client traffic (pokes, presence) is delayed and sometimes reset.
// Threads: one accept thread, one per connection. Stats are counters.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

namespace plasma_tools {

struct FaultProfile {
  double drop = 0;               // close before forwarding
  double truncate_request = 0;   // forward a prefix on a fresh connection, then close both
  double duplicate = 0;          // replay the request on a fresh upstream connection
  double delay = 0;              // sleep up to max_delay_ms before forwarding and before answering
  double reset_after = 0;        // the node answered; close without passing the answer on
  double truncate_response = 0;  // pass a prefix of the answer, then close
  int max_delay_ms = 50;
  double ws_delay = 0;           // per node-to-client WebSocket read: hold it up to ws_max_delay_ms
  int ws_max_delay_ms = 300;
  double ws_reset = 0;           // per node-to-client WebSocket read: close the socket instead
};

struct FaultStats {
  std::atomic<std::uint64_t> connections{0}, requests{0}, dropped{0}, truncated_requests{0}, duplicated{0}, delayed{0},
      resets{0}, truncated_responses{0}, ws_connections{0}, ws_delayed{0}, ws_resets{0};
};

class FaultProxy {
 public:
  FaultProxy(std::uint16_t upstream_port, std::uint64_t seed) : upstream_port_(upstream_port), seed_(seed) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("fault proxy: socket failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 512) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("fault proxy: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { acceptLoop(); });
  }
  ~FaultProxy() { stop(); }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  const FaultStats& stats() const noexcept { return stats_; }

  // Faults for connections and requests from now on (and a new RNG seed
  // for connections accepted from now on).
  void setProfile(const FaultProfile& p, std::optional<std::uint64_t> seed = std::nullopt) {
    std::lock_guard lock(mu_);
    profile_ = p;
    if (seed) seed_ = *seed;
  }
  // Points the proxy at another node port (a restarted node).
  void setUpstream(std::uint16_t port) { upstream_port_.store(port); }

  // Closes the listener and every connection; joins the threads.
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    std::list<Conn> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.thread.join();
  }

 private:
  struct Rng {
    std::mt19937_64 g;
    bool chance(double p) { return p > 0 && static_cast<double>(g() >> 11) * 0x1.0p-53 < p; }
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : g() % n; }
  };

  FaultProfile profile() {
    std::lock_guard lock(mu_);
    return profile_;
  }

  void acceptLoop() {
    std::uint64_t n = 0;
    while (!stopped_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, 50);
      if (r <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++stats_.connections;
      std::uint64_t seed;
      {
        std::lock_guard lock(mu_);
        seed = seed_ ^ (0x9E3779B97F4A7C15ull * ++n);
        fds_.insert(fd);
        if (stopped_.load()) {
          ::shutdown(fd, SHUT_RDWR);
        }
        // Join the connection threads that finished (their stacks stay until joined).
        for (auto it = threads_.begin(); it != threads_.end();) {
          if (it->done->load()) {
            it->thread.join();
            it = threads_.erase(it);
          } else {
            ++it;
          }
        }
        auto done = std::make_shared<std::atomic<bool>>(false);
        threads_.push_back(Conn{std::thread([this, fd, seed, done] {
                                  serve(fd, seed);
                                  {
                                    std::lock_guard l(mu_);
                                    fds_.erase(fd);
                                    ::close(fd);
                                  }
                                  done->store(true);
                                }),
                                done});
      }
    }
  }

  int connectUpstream() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(upstream_port_.load());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    std::lock_guard lock(mu_);
    fds_.insert(fd);
    return fd;
  }
  void closeUpstream(int& fd) {
    if (fd < 0) return;
    {
      std::lock_guard lock(mu_);
      fds_.erase(fd);
    }
    ::close(fd);
    fd = -1;
  }

  static bool sendAll(int fd, const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  static bool sendAll(int fd, const std::string& s) { return sendAll(fd, s.data(), s.size()); }

  // Reads one HTTP message (headers + Content-Length body) from fd, using
  // and refilling `buf`. nullopt on EOF/error before a whole message.
  static std::optional<std::string> readMessage(int fd, std::string& buf, bool* upgrade, bool* close_after) {
    std::size_t end = std::string::npos;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(fd, buf)) return std::nullopt;
    }
    std::string head = buf.substr(0, end + 4);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::size_t length = 0;
    if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::strtoull(lower.c_str() + at + 17, nullptr, 10);
    }
    if (upgrade) *upgrade = lower.find("\r\nupgrade: websocket") != std::string::npos;
    if (close_after) *close_after = lower.find("\r\nconnection: close") != std::string::npos;
    while (buf.size() < head.size() + length) {
      if (!fill(fd, buf)) return std::nullopt;
    }
    std::string msg = buf.substr(0, head.size() + length);
    buf.erase(0, msg.size());
    return msg;
  }
  static bool fill(int fd, std::string& buf) {
    char b[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, b, sizeof b, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf.append(b, static_cast<std::size_t>(n));
      return true;
    }
  }
  static void sleepMs(std::uint64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

  // Sends `request` on a fresh upstream connection; reads and drops the
  // answer (or, with `prefix`, sends only that many bytes and closes).
  void sideRequest(const std::string& request, std::size_t prefix) {
    int fd = connectUpstream();
    if (fd < 0) return;
    if (sendAll(fd, request.data(), std::min(prefix, request.size())) && prefix >= request.size()) {
      std::string buf;
      (void)readMessage(fd, buf, nullptr, nullptr);
    }
    closeUpstream(fd);
  }

  void serve(int down, std::uint64_t seed) {
    timeval tv{30, 0};
    ::setsockopt(down, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Rng rng{std::mt19937_64(seed)};
    std::string down_buf, up_buf;
    int up = -1;
    while (!stopped_.load()) {
      bool upgrade = false;
      auto request = readMessage(down, down_buf, &upgrade, nullptr);
      if (!request) break;
      ++stats_.requests;
      const FaultProfile p = profile();
      if (upgrade) {
        ++stats_.ws_connections;
        closeUpstream(up);
        up = connectUpstream();
        if (up >= 0 && sendAll(up, *request) && (down_buf.empty() || sendAll(up, down_buf))) pipe(down, up, p, rng);
        break;
      }
      if (rng.chance(p.drop)) {
        ++stats_.dropped;
        break;
      }
      if (rng.chance(p.truncate_request)) {
        ++stats_.truncated_requests;
        sideRequest(*request, rng.below(request->size()));
        break;
      }
      const bool dup = rng.chance(p.duplicate);
      const bool dup_first = rng.chance(0.5);
      if (dup) ++stats_.duplicated;
      if (dup && dup_first) sideRequest(*request, request->size());
      if (rng.chance(p.delay)) {
        ++stats_.delayed;
        sleepMs(rng.below(static_cast<std::uint64_t>(p.max_delay_ms) + 1));
      }
      if (up < 0) up = connectUpstream();
      bool close_after = false;
      std::optional<std::string> response;
      if (up >= 0 && sendAll(up, *request)) response = readMessage(up, up_buf, nullptr, &close_after);
      if (!response) break;  // the node is gone: so is the client's connection
      if (close_after) {
        closeUpstream(up);
        up_buf.clear();
      }
      if (dup && !dup_first) sideRequest(*request, request->size());
      if (rng.chance(p.reset_after)) {
        ++stats_.resets;
        break;
      }
      if (rng.chance(p.truncate_response)) {
        ++stats_.truncated_responses;
        (void)sendAll(down, response->data(), rng.below(response->size()));
        break;
      }
      if (rng.chance(p.delay)) {
        ++stats_.delayed;
        sleepMs(rng.below(static_cast<std::uint64_t>(p.max_delay_ms) + 1));
      }
      if (!sendAll(down, *response) || close_after) break;
    }
    closeUpstream(up);
  }

  // WebSocket: bytes both ways; the node's side delayed or reset per read.
  void pipe(int down, int up, const FaultProfile& p, Rng& rng) {
    while (!stopped_.load()) {
      pollfd fds[2] = {{down, POLLIN, 0}, {up, POLLIN, 0}};
      const int r = ::poll(fds, 2, 100);
      if (r < 0 && errno != EINTR) return;
      if (r <= 0) continue;
      char b[16384];
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(down, b, sizeof b, 0);
        if (n <= 0 || !sendAll(up, b, static_cast<std::size_t>(n))) return;
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(up, b, sizeof b, 0);
        if (n <= 0) return;
        if (rng.chance(p.ws_reset)) {
          ++stats_.ws_resets;
          return;
        }
        if (rng.chance(p.ws_delay)) {
          ++stats_.ws_delayed;
          sleepMs(rng.below(static_cast<std::uint64_t>(p.ws_max_delay_ms) + 1));
        }
        if (!sendAll(down, b, static_cast<std::size_t>(n))) return;
      }
    }
  }

  std::atomic<std::uint16_t> upstream_port_;
  std::uint64_t seed_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  FaultProfile profile_;
  std::set<int> fds_;
  struct Conn {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Conn> threads_;
  std::thread accept_thread_;
  FaultStats stats_;
};

}  // namespace plasma_tools
