// tests/net/http_server_test.cpp — the HTTP side of plasma::net::Server over real sockets on
// 127.0.0.1: keep-alive, decoding, Responder from other threads, errors and limits, timeouts,
// the connection limit and graceful stop.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "net_test_util.hpp"

using namespace plasma::net;
using namespace plasma_net_test;

namespace {

// Answers with a fixed body at once.
HttpHandler answer(std::string body) {
  return [body](HttpRequest&&, Responder respond) { respond({.status = 200, .body = body}); };
}

// Keeps Responders to answer later; joins its threads on destruction.
struct Parked {
  std::mutex mutex;
  std::vector<Responder> responders;
  std::vector<HttpRequest> requests;
  HttpHandler handler() {
    return [this](HttpRequest&& req, Responder respond) {
      std::lock_guard lock(mutex);
      requests.push_back(std::move(req));
      responders.push_back(std::move(respond));
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return responders.size();
  }
  Responder take(std::size_t i) {
    std::lock_guard lock(mutex);
    return std::move(responders.at(i));
  }
};

}  // namespace

TEST_CASE("keep-alive: several requests share one connection", "[net]") {
  Server server(quietOptions(), [](HttpRequest&& req, Responder respond) {
    respond({.status = 200, .content_type = "text/plain", .body = req.remote});
  });
  server.start();
  HttpClient client("127.0.0.1", server.port());
  std::string first;
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = client.request("GET", "/who");
    REQUIRE(r.status == 200);
    REQUIRE(r.content_type == "text/plain");
    if (i == 0) first = r.body;
    REQUIRE(r.body == first);  // same remote address and port: same TCP connection
    REQUIRE(client.connected());
  }
  REQUIRE(first.rfind("127.0.0.1:", 0) == 0);
  REQUIRE(server.stats().requests_total == 5);
  REQUIRE(server.stats().open_connections == 1);
}

TEST_CASE("path and query are percent-decoded, headers case-insensitive", "[net]") {
  std::mutex mutex;
  HttpRequest seen;
  Server server(quietOptions(), [&](HttpRequest&& req, Responder respond) {
    {
      std::lock_guard lock(mutex);
      seen = std::move(req);
    }
    respond({});
  });
  server.start();
  HttpClient client("127.0.0.1", server.port());
  auto r = client.request("POST", "/sync/a%20b%2Fc?cookie=3&name=hello+world&amp=%26&cookie=4&flag", "{\"x\":1}",
                          "application/json", {{"X-Custom", "yes"}});
  REQUIRE(r.status == 200);
  std::lock_guard lock(mutex);
  CHECK(seen.method == "POST");
  CHECK(seen.target == "/sync/a%20b%2Fc?cookie=3&name=hello+world&amp=%26&cookie=4&flag");
  CHECK(seen.path == "/sync/a b/c");
  REQUIRE(seen.query.size() == 5);
  CHECK(seen.query[0] == std::pair<std::string, std::string>{"cookie", "3"});
  CHECK(seen.query[1] == std::pair<std::string, std::string>{"name", "hello world"});
  CHECK(seen.query[2] == std::pair<std::string, std::string>{"amp", "&"});
  CHECK(seen.query[4] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(seen.queryParam("cookie") == std::optional<std::string_view>("3"));  // the first one
  CHECK_FALSE(seen.queryParam("missing").has_value());
  CHECK(seen.header("x-custom") == "yes");
  CHECK(seen.header("CONTENT-TYPE") == "application/json");
  CHECK(seen.header("absent").empty());
  CHECK(seen.body == "{\"x\":1}");
}

TEST_CASE("pipelined requests are answered in order, one at a time", "[net]") {
  std::vector<std::thread> threads;
  std::mutex mutex;
  Server server(quietOptions(), [&](HttpRequest&& req, Responder respond) {
    // The first answer comes last in time; order on the wire must still be request order.
    auto delay = req.path == "/1" ? 150ms : 0ms;
    std::lock_guard lock(mutex);
    threads.emplace_back([delay, path = req.path, r = std::move(respond)]() mutable {
      std::this_thread::sleep_for(delay);
      r({.status = 200, .body = path});
    });
  });
  server.start();
  RawConn conn(server.port());
  REQUIRE(conn.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (const char* expected : {"/1", "/2", "/3"}) {
    auto r = conn.readResponse(3s);
    REQUIRE(r);
    CHECK(r->body == expected);
  }
  server.stop();
  for (auto& t : threads) t.join();
}

TEST_CASE("a handler may answer later from another thread", "[net]") {
  std::vector<std::thread> threads;
  std::mutex mutex;
  Server server(quietOptions(), [&](HttpRequest&& req, Responder respond) {
    std::lock_guard lock(mutex);
    threads.emplace_back([body = req.body, r = std::move(respond)]() mutable {
      std::this_thread::sleep_for(100ms);
      r({.status = 201, .body = "late:" + body});
    });
  });
  server.start();
  HttpClient client("127.0.0.1", server.port());
  auto start = Clock::now();
  auto r = client.request("POST", "/x", "abc");
  CHECK(Clock::now() - start >= 90ms);
  CHECK(r.status == 201);
  CHECK(r.body == "late:abc");
  CHECK(client.request("POST", "/x", "def").body == "late:def");  // same connection goes on
  server.stop();
  for (auto& t : threads) t.join();
}

TEST_CASE("a throwing handler gets 500 and the server keeps serving", "[net]") {
  std::vector<std::string> logged;
  std::mutex mutex;
  auto options = quietOptions();
  options.log = [&](std::string_view m) {
    std::lock_guard lock(mutex);
    logged.emplace_back(m);
  };
  Server server(options, [](HttpRequest&& req, Responder respond) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    respond({.body = "ok"});
  });
  server.start();
  HttpClient client("127.0.0.1", server.port());
  auto r = client.request("GET", "/throw");
  CHECK(r.status == 500);
  CHECK(r.body.find("\"error\":\"InternalError\"") != std::string::npos);
  auto ok = client.request("GET", "/fine");
  CHECK(ok.status == 200);
  CHECK(ok.body == "ok");
  server.stop();
  std::lock_guard lock(mutex);
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].find("boom") != std::string::npos);
}

TEST_CASE("a handler that drops its Responder gets 500", "[net]") {
  Server server(quietOptions(), [](HttpRequest&&, Responder) {});
  server.start();
  HttpClient client("127.0.0.1", server.port());
  auto r = client.request("GET", "/");
  CHECK(r.status == 500);
  CHECK(r.body == R"({"error":"InternalError","message":"handler dropped the request"})");
  CHECK(client.request("GET", "/").status == 500);  // and the connection still works
}

TEST_CASE("a body over max_body_bytes gets 413 naming the limit, then close", "[net]") {
  auto options = quietOptions();
  options.max_body_bytes = 1024;
  std::atomic<int> handled{0};
  Server server(options, [&](HttpRequest&&, Responder respond) {
    ++handled;
    respond({});
  });
  server.start();
  HttpClient client("127.0.0.1", server.port());
  CHECK(client.request("POST", "/", std::string(1024, 'a')).status == 200);  // at the limit: fine
  auto r = client.request("POST", "/", std::string(4096, 'a'));
  CHECK(r.status == 413);
  CHECK(r.body == R"({"error":"PayloadTooLarge","message":"request body exceeds the limit of 1024 bytes"})");
  CHECK_FALSE(client.connected());
  CHECK(handled == 1);
}

TEST_CASE("a header over max_header_bytes gets 431, then close", "[net]") {
  auto options = quietOptions();
  options.max_header_bytes = 1024;
  Server server(options, answer("ok"));
  server.start();
  RawConn conn(server.port());
  REQUIRE(conn.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'h') + "\r\n\r\n"));
  auto r = conn.readResponse(3s);
  REQUIRE(r);
  CHECK(r->status == 431);
  CHECK(r->body.find("\"error\":\"HeaderTooLarge\"") != std::string::npos);
  CHECK(r->body.find("1024 bytes") != std::string::npos);
  CHECK(r->has("Connection: close"));
  CHECK(conn.waitClosed(3s));
}

TEST_CASE("garbage bytes get 400 BadRequest, then close", "[net]") {
  Server server(quietOptions(), answer("ok"));
  server.start();
  RawConn conn(server.port());
  REQUIRE(conn.send(std::string("\x01\x02\x03 not http at all\r\n\r\n")));
  auto r = conn.readResponse(3s);
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->body.find("\"error\":\"BadRequest\"") != std::string::npos);
  CHECK(conn.waitClosed(3s));
}

TEST_CASE("a client sending half a request gets 408 within request_timeout", "[net]") {
  auto options = quietOptions();
  options.request_timeout = 300ms;
  Server server(options, answer("ok"));
  server.start();
  RawConn conn(server.port());
  auto start = Clock::now();
  REQUIRE(conn.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = conn.readResponse(3s);
  auto elapsed = Clock::now() - start;
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(r->body == R"({"error":"RequestTimeout","message":"the request was not complete within 300 ms"})");
  CHECK(elapsed >= 280ms);
  CHECK(elapsed < 300ms + 200ms);  // the deadline plus ticker slack
  CHECK(conn.waitClosed(1s));
}

TEST_CASE("an idle keep-alive connection is closed silently after idle_timeout", "[net]") {
  auto options = quietOptions();
  options.idle_timeout = 200ms;
  Server server(options, answer("ok"));
  server.start();
  RawConn conn(server.port());
  REQUIRE(conn.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = conn.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 200);
  auto start = Clock::now();
  CHECK(conn.waitClosed(2s));
  CHECK(Clock::now() - start >= 150ms);
  CHECK(conn.buffer().empty());  // nothing was sent: a silent close
  CHECK(waitFor([&] { return server.stats().open_connections == 0; }, 1s));
}

TEST_CASE("Connection: close is honoured", "[net]") {
  Server server(quietOptions(), answer("ok"));
  server.start();
  RawConn conn(server.port());
  REQUIRE(conn.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto r = conn.readResponse(2s);
  REQUIRE(r);
  CHECK(r->has("Connection: close"));
  CHECK(conn.waitClosed(2s));
}

TEST_CASE("connections over max_connections get 503 TooManyConnections", "[net]") {
  auto options = quietOptions();
  options.max_connections = 2;
  Server server(options, answer("ok"));
  server.start();
  auto a = std::make_unique<RawConn>(server.port());
  RawConn b(server.port());
  REQUIRE(waitFor([&] { return server.stats().open_connections == 2; }, 2s));
  RawConn c(server.port());
  c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body == R"({"error":"TooManyConnections","message":"the server is at its limit of 2 connections"})");
  CHECK(c.waitClosed(2s));
  // The two accepted ones still work; after one leaves, a new one is served.
  b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(b.readResponse(2s)->status == 200);
  a.reset();
  REQUIRE(waitFor([&] { return server.stats().open_connections == 1; }, 2s));
  HttpClient d("127.0.0.1", server.port());
  CHECK(d.request("GET", "/").status == 200);
}

TEST_CASE("a Responder not called within handler_timeout gives 503 - a late call is ignored", "[net]") {
  auto options = quietOptions();
  options.handler_timeout = 200ms;
  Parked parked;
  Server server(options, [&](HttpRequest&& req, Responder respond) {
    if (req.path == "/park") return parked.handler()(std::move(req), std::move(respond));
    respond({.body = "next"});
  });
  server.start();
  HttpClient client("127.0.0.1", server.port());
  auto start = Clock::now();
  auto r = client.request("GET", "/park");
  CHECK(Clock::now() - start >= 180ms);
  CHECK(r.status == 503);
  CHECK(r.body == R"({"error":"HandlerTimeout","message":"the request handler did not answer within 200 ms"})");
  parked.take(0)({.body = "too late"});  // must not end up as the answer to the next request
  auto next = client.request("GET", "/other");
  CHECK(next.status == 200);
  CHECK(next.body == "next");
}

TEST_CASE("stop() lets an in-flight request finish - its Responder is called after stop began", "[net]") {
  Parked parked;
  Server server(quietOptions(), parked.handler());
  server.start();
  RawConn idle(server.port());  // an idle keep-alive connection: closed at once by stop()
  REQUIRE(waitFor([&] { return server.stats().open_connections == 1; }, 2s));

  std::optional<HttpResponse> got;
  std::thread client_thread([&] {
    HttpClient client("127.0.0.1", server.port());
    got = client.request("GET", "/slow");
  });
  REQUIRE(waitFor([&] { return parked.count() == 1; }, 2s));
  std::thread answer_thread([&] {
    std::this_thread::sleep_for(200ms);  // stop() is under way by now
    parked.take(0)({.body = "finished"});
  });
  auto start = Clock::now();
  server.stop(5s);
  auto elapsed = Clock::now() - start;
  answer_thread.join();
  client_thread.join();
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == "finished");
  CHECK(elapsed >= 150ms);  // it waited for the answer ...
  CHECK(elapsed < 2s);      // ... and no longer than needed
  CHECK(idle.waitClosed(1s));
  CHECK(server.stats().open_connections == 0);
}

TEST_CASE("stop() gives up on requests after the grace period", "[net]") {
  Parked parked;
  Server server(quietOptions(), parked.handler());
  server.start();
  std::string error;
  std::thread client_thread([&] {
    try {
      HttpClient client("127.0.0.1", server.port(), 3s);
      client.request("GET", "/never");
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  REQUIRE(waitFor([&] { return parked.count() == 1; }, 2s));
  auto start = Clock::now();
  server.stop(200ms);
  CHECK(Clock::now() - start < 1s);
  client_thread.join();
  CHECK_FALSE(error.empty());  // the connection was closed unanswered
  parked.take(0)({.body = "after the server is gone"});  // harmless
}

TEST_CASE("start() names host:port when it cannot bind", "[net]") {
  Server first(quietOptions(), answer("ok"));
  first.start();
  auto options = quietOptions();
  options.port = first.port();
  Server second(options, answer("ok"));
  const std::string where = "127.0.0.1:" + std::to_string(first.port());
  REQUIRE_THROWS_WITH(second.start(), Catch::Contains(where) && Catch::Contains("cannot listen"));
}

TEST_CASE("HEAD gets headers only - server errors are JSON everywhere", "[net]") {
  Server server(quietOptions(), answer("twelve bytes"));
  server.start();
  RawConn conn(server.port());
  REQUIRE(conn.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  // The HEAD answer says Content-Length: 12 but carries no body; the GET answer follows at once.
  REQUIRE(waitFor([&] {
    conn.readSome(10ms);
    return conn.buffer().find("twelve bytes") != std::string::npos;
  }, 2s));
  const std::string& wire = conn.buffer();
  CHECK(wire.find("Content-Length: 12\r\n") != std::string::npos);
  CHECK(wire.find("twelve bytes") == wire.rfind("twelve bytes"));  // exactly once: the GET's
}

TEST_CASE("the io_context runs on io_uring when PLASMA_IO_URING is on", "[net]") {
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
  STATIC_REQUIRE(true);
  REQUIRE(usesIoUring());
#else
  REQUIRE_FALSE(usesIoUring());
#endif
  auto countRings = [] {
    int rings = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto target = std::filesystem::read_symlink(entry.path(), ec);
      if (!ec && target.string().find("io_uring") != std::string::npos) ++rings;
    }
    return rings;
  };
  const int before = countRings();
  Server server(quietOptions(), answer("ok"));
  server.start();
  HttpClient client("127.0.0.1", server.port());
  CHECK(client.request("GET", "/").body == "ok");
  // Every io_context (2 server threads + the client's) owns an io_uring instance: an
  // anon_inode:[io_uring] file descriptor.
  if (usesIoUring())
    CHECK(countRings() - before >= 3);
  else
    CHECK(countRings() == before);
}

TEST_CASE("the blocking clients' rings are small, the server's keep Asio's size", "[net]") {
  if (!usesIoUring()) return;
  // /proc/self/fdinfo of an io_uring descriptor gives its submission ring's mask (entries - 1).
  auto ringSizes = [] {
    std::map<int, unsigned> sizes;  // fd -> entries
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto target = std::filesystem::read_symlink(entry.path(), ec);
      if (ec || target.string().find("io_uring") == std::string::npos) continue;
      const int fd = std::stoi(entry.path().filename().string());
      std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
      for (std::string line; std::getline(info, line);) {
        if (line.rfind("SqMask:", 0) == 0) sizes[fd] = static_cast<unsigned>(std::stoul(line.substr(7), nullptr, 0)) + 1;
      }
    }
    return sizes;
  };
  const auto before = ringSizes();
  Server server(quietOptions(), answer("ok"));
  server.start();
  const auto with_server = ringSizes();
  HttpClient client("127.0.0.1", server.port());
  CHECK(client.request("GET", "/").body == "ok");
  const auto with_client = ringSizes();
  std::vector<unsigned> server_rings, client_rings;
  for (const auto& [fd, n] : with_server) {
    if (!before.contains(fd)) server_rings.push_back(n);
  }
  for (const auto& [fd, n] : with_client) {
    if (!with_server.contains(fd)) client_rings.push_back(n);
  }
  REQUIRE(server_rings.size() == 2);  // quietOptions(): two worker threads
  CHECK(server_rings[0] == 16384);
  CHECK(server_rings[1] == 16384);
  REQUIRE(client_rings.size() == 1);
  CHECK(client_rings[0] == 64);
}

TEST_CASE("without io_uring, start() says so and names -DPLASMA_IO_URING=OFF", "[net]") {
  if (!usesIoUring()) return;
  // A child process whose seccomp filter refuses io_uring_setup, as a container might.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {  // the child reports through the pipe only, never through Catch
    ::close(fds[0]);
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    std::string message = "no exception";
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      message = "seccomp unavailable";
    } else {
      try {
        Server server(quietOptions(), [](HttpRequest&&, Responder r) { r({}); });
        server.start();
      } catch (const std::exception& e) {
        message = e.what();
      }
    }
    (void)!::write(fds[1], message.data(), message.size());
    ::_exit(0);
  }
  REQUIRE(pid > 0);
  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (message == "seccomp unavailable") return;  // cannot simulate here; nothing to check
  CHECK_THAT(message, Catch::Contains("io_uring is unavailable") && Catch::Contains("-DPLASMA_IO_URING=OFF") &&
                          Catch::Contains("docs/building.md"));
}
