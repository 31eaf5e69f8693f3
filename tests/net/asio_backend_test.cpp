// tests/net/asio_backend_test.cpp — the Asio backend plasma_net is built on (io_uring by
// default), exercised directly: accept, read, cancel-by-close churn on one io_context.
//
// Asio 1.26 (Boost 1.81, Debian bookworm) submits its io_uring cancel and timeout-remove
// requests without setting their user_data, so their completions carry whatever the ring slot
// held before — often the acceptor's queue. An accept then "completed" with -ENOENT (or with
// 0, which Asio takes for fd 0) while the kernel's real accept went unserved. net/asio_src.cpp
// clears user_data on every submission entry; this test fails without that.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "net_test_util.hpp"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// The server half: accept; start a read the client never satisfies; then close the socket
// with that read pending (Asio cancels it through the ring), after writing one byte on every
// third connection so the number of ring entries per connection varies.
struct ChurnServer {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::atomic<int> accepted{0};
  std::atomic<int> accept_errors{0};
  std::mutex mu;
  std::string first_error;
  int served = 0;  // io thread only

  void acceptOne() {
    auto peer = std::make_shared<tcp::socket>(ioc);
    acceptor.async_accept(*peer, [this, peer](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        if (accept_errors++ == 0) {
          std::lock_guard lock(mu);
          first_error = ec.message();
        }
      } else {
        ++accepted;
        serve(peer);
      }
      acceptOne();
    });
  }

  void serve(const std::shared_ptr<tcp::socket>& peer) {
    auto buf = std::make_shared<std::array<char, 16>>();
    peer->async_read_some(asio::buffer(*buf), [peer, buf](const boost::system::error_code&, std::size_t) {});
    if (served++ % 3 == 0) {
      asio::async_write(*peer, asio::buffer("x", 1), [peer](const boost::system::error_code&, std::size_t) {
        boost::system::error_code ignored;
        peer->close(ignored);
      });
    } else {
      boost::system::error_code ignored;
      peer->close(ignored);
    }
  }
};

}  // namespace

TEST_CASE("net: under accept and cancel churn every connection is accepted and no accept fails (io_uring stale completions)",
          "[net][asio]") {
  ChurnServer server;
  const auto port = server.acceptor.local_endpoint().port();
  server.acceptOne();
  std::thread io([&] { server.ioc.run(); });

  // Asio's ring has 16,384 entries and each connection takes 3 or 4 of them, so 12,000
  // connections wrap it about three times.
  constexpr int kConnections = 12000;
  int silent = 0, made = 0;
  for (; made < kConnections && silent < 3; ++made) {
    plasma_net_test::RawConn conn(port);  // plain POSIX sockets: the client side uses no ring
    if (!conn.waitClosed(1000ms)) ++silent;
  }
  server.ioc.stop();
  io.join();

  std::string first_error;
  {
    std::lock_guard lock(server.mu);
    first_error = server.first_error;
  }
  INFO(made << " connections, " << server.accepted.load() << " accepted, " << server.accept_errors.load()
            << " accept errors (first: " << first_error << "), " << silent << " never answered");
  CHECK(server.accept_errors == 0);
  CHECK(silent == 0);
  CHECK(server.accepted == made);
}
