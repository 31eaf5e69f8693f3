// tests/net/ws_test.cpp — the WebSocket side of plasma::net::Server: echo, sends from other
// threads, the message limit (1009), ping timeout of a vanished client, upgrade on a wrong path,
// close from the server, and the 1001 close at stop().
#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "net_test_util.hpp"

using namespace plasma::net;
using namespace plasma_net_test;

namespace {

HttpHandler notFound() {
  return [](HttpRequest&&, Responder respond) { respond({.status = 404, .body = "{}"}); };
}

// Records callbacks; onMessage echoes text back unless told otherwise.
struct Recorder {
  std::mutex mutex;
  std::vector<std::shared_ptr<WsConnection>> opened;
  std::vector<std::uint64_t> closed;
  std::vector<std::string> messages;
  bool echo = true;

  WsHandler handler(std::string path = "/sync/ws") {
    WsHandler h;
    h.path = std::move(path);
    h.onOpen = [this](const std::shared_ptr<WsConnection>& c) {
      std::lock_guard lock(mutex);
      opened.push_back(c);
    };
    h.onMessage = [this](const std::shared_ptr<WsConnection>& c, std::string_view m, bool) {
      {
        std::lock_guard lock(mutex);
        messages.emplace_back(m);
      }
      if (echo) c->sendText(std::string(m));
    };
    h.onClose = [this](const std::shared_ptr<WsConnection>& c) {
      std::lock_guard lock(mutex);
      closed.push_back(c->id());
    };
    return h;
  }
  std::size_t openedCount() {
    std::lock_guard lock(mutex);
    return opened.size();
  }
  std::size_t closedCount() {
    std::lock_guard lock(mutex);
    return closed.size();
  }
  std::shared_ptr<WsConnection> connection(std::size_t i) {
    std::lock_guard lock(mutex);
    return opened.at(i);
  }
};

}  // namespace

TEST_CASE("WebSocket echo, upgrade request visible, stats", "[net]") {
  Recorder rec;
  Server server(quietOptions(), notFound(), rec.handler());
  server.start();
  {
    WsClient client("127.0.0.1", server.port(), "/sync/ws?room=blue");
    client.sendText("hello");
    client.sendText("world");
    CHECK(client.readText(2s) == std::optional<std::string>("hello"));
    CHECK(client.readText(2s) == std::optional<std::string>("world"));
    CHECK_FALSE(client.readText(50ms).has_value());  // nothing more: a timeout, not an error
    CHECK(client.isOpen());
    REQUIRE(rec.openedCount() == 1);
    auto conn = rec.connection(0);
    CHECK(conn->upgradeRequest().path == "/sync/ws");
    CHECK(conn->upgradeRequest().queryParam("room") == std::optional<std::string_view>("blue"));
    CHECK(conn->id() >= 1);
    CHECK(conn->isOpen());
    CHECK(server.stats().open_websockets == 1);
    CHECK(server.stats().open_connections == 1);
    client.close();
  }
  REQUIRE(waitFor([&] { return rec.closedCount() == 1; }, 2s));
  CHECK_FALSE(rec.connection(0)->isOpen());
  CHECK(waitFor([&] { return server.stats().open_websockets == 0 && server.stats().open_connections == 0; }, 2s));
}

TEST_CASE("WsConnection sends from other threads arrive in order - close(code, reason) reaches the client",
          "[net]") {
  Recorder rec;
  rec.echo = false;
  Server server(quietOptions(), notFound(), rec.handler());
  server.start();
  WsClient client("127.0.0.1", server.port(), "/sync/ws");
  REQUIRE(waitFor([&] { return rec.openedCount() == 1; }, 2s));
  auto conn = rec.connection(0);
  std::thread sender([conn] {
    for (int i = 0; i < 100; ++i) conn->sendText("m" + std::to_string(i));
    conn->close(4000, "bye now");
    conn->sendText("after close: dropped");
  });
  for (int i = 0; i < 100; ++i) REQUIRE(client.readText(2s) == std::optional<std::string>("m" + std::to_string(i)));
  sender.join();
  CHECK_FALSE(client.readText(2s).has_value());
  REQUIRE(client.closeReason());
  CHECK(client.closeReason()->first == 4000);
  CHECK(client.closeReason()->second == "bye now");
  CHECK(waitFor([&] { return rec.closedCount() == 1; }, 2s));
}

TEST_CASE("a WebSocket message over ws_max_message_bytes closes with 1009 and a reason", "[net]") {
  auto options = quietOptions();
  options.ws_max_message_bytes = 1024;
  Recorder rec;
  Server server(options, notFound(), rec.handler());
  server.start();
  WsClient client("127.0.0.1", server.port(), "/sync/ws");
  client.sendText(std::string(1024, 'a'));  // at the limit: delivered
  CHECK(client.readText(2s) == std::optional<std::string>(std::string(1024, 'a')));
  client.sendText(std::string(4096, 'b'));
  CHECK_FALSE(client.readText(2s).has_value());
  REQUIRE(client.closeReason());
  CHECK(client.closeReason()->first == 1009);
  CHECK(client.closeReason()->second == "message exceeds the limit of 1024 bytes");
  CHECK(waitFor([&] { return rec.closedCount() == 1; }, 2s));
  std::lock_guard lock(rec.mutex);
  CHECK(rec.messages.size() == 1);  // the oversized message never reached onMessage
}

TEST_CASE("a WebSocket client that vanishes (no pong) gets onClose after the ping timeout", "[net]") {
  auto options = quietOptions();
  options.ws_ping_interval = 100ms;
  Recorder rec;
  Server server(options, notFound(), rec.handler());
  server.start();
  // The client never runs its io_context again after the handshake: it answers no ping, sends
  // no close frame, and its socket stays open.
  WsClient client("127.0.0.1", server.port(), "/sync/ws");
  REQUIRE(waitFor([&] { return rec.openedCount() == 1; }, 2s));
  auto start = Clock::now();
  REQUIRE(waitFor([&] { return rec.closedCount() == 1; }, 3s));
  auto elapsed = Clock::now() - start;
  CHECK(elapsed >= 150ms);   // one ping interval, then the next one without a pong
  CHECK(elapsed < 1500ms);
  CHECK(server.stats().open_websockets == 0);
}

TEST_CASE("a WebSocket upgrade on another path gets 404", "[net]") {
  Recorder rec;
  Server server(quietOptions(), notFound(), rec.handler("/sync/ws"));
  server.start();
  REQUIRE_THROWS_WITH(WsClient("127.0.0.1", server.port(), "/elsewhere"), Catch::Contains("HTTP 404"));
  CHECK(rec.openedCount() == 0);
  // And without a WsHandler at all.
  Server plain(quietOptions(), notFound());
  plain.start();
  REQUIRE_THROWS_WITH(WsClient("127.0.0.1", plain.port(), "/sync/ws"), Catch::Contains("HTTP 404"));
}

TEST_CASE("stop() closes WebSockets with 1001 and calls onClose", "[net]") {
  Recorder rec;
  Server server(quietOptions(), notFound(), rec.handler());
  server.start();
  WsClient client("127.0.0.1", server.port(), "/sync/ws");
  client.sendText("ping?");
  REQUIRE(client.readText(2s));
  auto start = Clock::now();
  std::thread stopper([&] { server.stop(3s); });
  CHECK_FALSE(client.readText(3s).has_value());  // runs the client: it answers the close
  stopper.join();
  CHECK(Clock::now() - start < 2s);  // closed by the handshake, not by the grace period
  REQUIRE(client.closeReason());
  CHECK(client.closeReason()->first == 1001);
  CHECK(client.closeReason()->second == "server shutting down");
  CHECK(rec.closedCount() == 1);
}

TEST_CASE("onClose runs exactly once per connection, also when the client just disconnects", "[net]") {
  Recorder rec;
  Server server(quietOptions(), notFound(), rec.handler());
  server.start();
  for (int i = 0; i < 5; ++i) {
    WsClient client("127.0.0.1", server.port(), "/sync/ws");
    client.sendText("x");
    REQUIRE(client.readText(2s));
  }  // destroyed without a close frame: the socket just closes
  REQUIRE(waitFor([&] { return rec.closedCount() == 5; }, 2s));
  server.stop();
  std::lock_guard lock(rec.mutex);
  std::vector<std::uint64_t> ids = rec.closed;
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  CHECK(rec.opened.size() == 5);
  CHECK(rec.closed.size() == 5);
}

TEST_CASE("onOpen may send and close at once - the client gets the message, then the close", "[net]") {
  WsHandler h;
  h.path = "/sync/ws";
  std::atomic<int> closes{0};
  h.onOpen = [](const std::shared_ptr<WsConnection>& c) {
    c->sendText("welcome");
    c->close(4001, "go away");
    c->close(4002, "ignored: already closing");
  };
  h.onClose = [&](const std::shared_ptr<WsConnection>&) { ++closes; };
  Server server(quietOptions(), notFound(), h);
  server.start();
  WsClient client("127.0.0.1", server.port(), "/sync/ws");
  CHECK(client.readText(2s) == std::optional<std::string>("welcome"));
  CHECK_FALSE(client.readText(2s).has_value());
  REQUIRE(client.closeReason());
  CHECK(client.closeReason()->first == 4001);
  CHECK(client.closeReason()->second == "go away");
  CHECK(waitFor([&] { return closes == 1; }, 2s));
}

TEST_CASE("stop() with a WebSocket peer that never answers the close frame ends cleanly after the grace",
          "[net]") {
  // The peer upgrades and then reads nothing and sends nothing: the server's close handshake can
  // only end by force. The aborted operations must complete while the io_context is alive (this
  // once destroyed the session from ~io_context, after Beast's websocket service: a crash).
  Recorder rec;
  Server server(quietOptions(), notFound(), rec.handler());
  server.start();
  std::vector<std::unique_ptr<plasma_net_test::RawConn>> silent;
  for (int i = 0; i < 4; ++i) {
    auto conn = std::make_unique<plasma_net_test::RawConn>(server.port());
    REQUIRE(conn->send("GET /sync/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    silent.push_back(std::move(conn));
  }
  REQUIRE(plasma_net_test::waitFor([&] { return server.stats().open_websockets == 4; }, 2s));
  const auto start = Clock::now();
  server.stop(200ms);
  CHECK(Clock::now() - start < 3s);
  CHECK(rec.closedCount() == 4);
  CHECK(server.stats().open_websockets == 0);
}

TEST_CASE("broadcastText reaches every open connection in order after earlier sends and skips closed ones",
          "[net]") {
  Recorder rec;
  Server server(quietOptions(), notFound(), rec.handler());  // two I/O threads
  server.start();
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(std::make_unique<WsClient>("127.0.0.1", server.port(), "/sync/ws"));
  REQUIRE(plasma_net_test::waitFor([&] { return rec.openedCount() == 6; }, 2s));
  std::vector<std::shared_ptr<WsConnection>> all;
  for (std::size_t i = 0; i < 6; ++i) all.push_back(rec.connection(i));
  all.back()->close(1000, "bye");
  REQUIRE(plasma_net_test::waitFor([&] { return !all.back()->isOpen(); }, 2s));
  for (std::size_t i = 0; i + 1 < 6; ++i) all[i]->sendText("first");
  WsConnection::broadcastText(all, "second");  // from a thread that is not an I/O thread
  // Which client holds which connection is not known: every open one gets both, in order.
  int closed = 0;
  for (auto& c : clients) {
    const auto a = c->readText(2s);
    if (!a) {
      ++closed;
      continue;
    }
    CHECK(*a == "first");
    CHECK(c->readText(2s) == std::optional<std::string>("second"));
  }
  CHECK(closed == 1);
}
