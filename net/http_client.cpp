// net/http_client.cpp — HttpClient and WsClient: blocking calls over a private io_context.
//
// Each call starts async operations and runs the io_context on the calling thread until they
// are done or the deadline passes (run_one() loops against a timer; run_for/run_until are avoided
// because they misbehave on the io_uring backend of Boost 1.81). On a timeout the socket is
// closed and the aborted operations are still run to completion before the call returns, so no
// operation outlives the buffers it writes to (with io_uring the kernel writes into them).
#include "net/http_client.hpp"

#include <boost/system/system_error.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <deque>
#include <limits>
#include <stdexcept>

#include "net/http_codec.hpp"

namespace plasma::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// A private io_context driven by the calling thread, on a small io_uring ring (see
// detail::RingEntriesScope): a client has at most a few operations in flight. Asio makes the
// ring with the first I/O object, here timer_, so the scope lasts until the constructor's body.
class Loop {
  static constexpr unsigned kRingEntries = 64;
  detail::RingEntriesScope ring_scope_{kRingEntries};  // first member: constructed first

 public:
  Loop() { ring_scope_.restore(); }

  asio::io_context ioc{1};

  // Runs handlers until done() or the deadline; returns done().
  template <class Done>
  bool runUntil(Done done, Clock::time_point deadline) {
    const std::uint64_t gen = ++gen_;
    expired_ = false;
    timer_.expires_at(deadline);
    timer_.async_wait([this, gen](error_code ec) {
      if (!ec && gen == gen_) expired_ = true;  // a stale wait from an earlier call is ignored
    });
    while (!done() && !expired_) {
      if (ioc.run_one() == 0) ioc.restart();
    }
    timer_.cancel();
    return done();
  }

  // Runs handlers until done(), with no deadline: for operations already aborted.
  template <class Done>
  void drain(Done done) {
    while (!done()) {
      if (ioc.run_one() == 0) {
        ioc.restart();
        if (ioc.run_one() == 0) break;  // nothing left to run: done() cannot change any more
      }
    }
  }

 private:
  asio::steady_timer timer_{ioc};
  std::uint64_t gen_ = 0;
  bool expired_ = false;
};

struct OpResult {
  bool done = false;
  error_code ec;
};

std::vector<tcp::endpoint> resolve(asio::io_context& ioc, const std::string& host, std::uint16_t port) {
  error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return {tcp::endpoint(address, port)};
  tcp::resolver resolver(ioc);
  std::vector<tcp::endpoint> out;
  for (const auto& entry : resolver.resolve(host, std::to_string(port), ec)) out.push_back(entry.endpoint());
  if (ec || out.empty())
    throw std::runtime_error("plasma::net: cannot resolve " + host + ": " + (ec ? ec.message() : "no address"));
  return out;
}

// Connects `socket` (closed first) to one of `endpoints` by `deadline`; returns the error.
error_code connectSocket(Loop& loop, tcp::socket& socket, const std::vector<tcp::endpoint>& endpoints,
                         Clock::time_point deadline, bool& timed_out) {
  OpResult r;
  asio::async_connect(socket, endpoints, [&r](error_code ec, const tcp::endpoint&) {
    r.done = true;
    r.ec = ec;
  });
  timed_out = !loop.runUntil([&] { return r.done; }, deadline);
  if (timed_out) {
    error_code ignored;
    socket.close(ignored);
    loop.drain([&] { return r.done; });
    return asio::error::timed_out;
  }
  if (!r.ec) socket.set_option(tcp::no_delay(true), r.ec);
  return r.ec;
}

}  // namespace

// --- HttpClient -------------------------------------------------------------------------------

struct HttpClient::Impl {
  Impl(std::string h, std::uint16_t p, std::chrono::milliseconds t) : host(std::move(h)), port(p), timeout(t) {}
  ~Impl() { disconnect(); }

  void disconnect() {
    error_code ignored;
    socket.close(ignored);
    buffer.clear();
    connected = false;
  }
  void connect(Clock::time_point deadline);
  void buildRequest(std::string_view method, std::string_view target, std::string_view body,
                    std::string_view content_type, const std::vector<Header>& headers);
  // Runs one async operation on the socket; on timeout closes the socket and returns timed_out.
  template <class Start>
  error_code run(Start start, Clock::time_point deadline);
  [[noreturn]] void fail(std::string_view method, std::string_view target, const std::string& what) const;

  std::string host;
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  Loop loop;
  tcp::socket socket{loop.ioc};
  beast::flat_buffer buffer;  // kept across requests on one connection
  std::string out;            // the request being sent, reused
  std::vector<tcp::endpoint> endpoints;
  bool connected = false;
};

void HttpClient::Impl::fail(std::string_view method, std::string_view target, const std::string& what) const {
  throw std::runtime_error("plasma::net::HttpClient: " + std::string(method) + " " + std::string(target) + " on " +
                           host + ":" + std::to_string(port) + ": " + what);
}

template <class Start>
error_code HttpClient::Impl::run(Start start, Clock::time_point deadline) {
  OpResult r;
  start([&r](error_code ec, std::size_t) {
    r.done = true;
    r.ec = ec;
  });
  if (loop.runUntil([&] { return r.done; }, deadline)) return r.ec;
  error_code ignored;
  socket.close(ignored);
  loop.drain([&] { return r.done; });
  connected = false;
  return asio::error::timed_out;
}

void HttpClient::Impl::connect(Clock::time_point deadline) {
  if (endpoints.empty()) endpoints = resolve(loop.ioc, host, port);
  disconnect();
  bool timed_out = false;
  error_code ec = connectSocket(loop, socket, endpoints, deadline, timed_out);
  if (ec) {
    error_code ignored;
    socket.close(ignored);
    throw std::runtime_error("plasma::net::HttpClient: cannot connect to " + host + ":" + std::to_string(port) +
                             ": " + (timed_out ? "timed out after " + std::to_string(timeout.count()) + " ms"
                                               : ec.message()));
  }
  connected = true;
}

void HttpClient::Impl::buildRequest(std::string_view method, std::string_view target, std::string_view body,
                                    std::string_view content_type, const std::vector<Header>& headers) {
  out.clear();
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  out.append(host).append(":").append(std::to_string(port)).append("\r\n");
  bool has_body = !body.empty() || !(method == "GET" || method == "HEAD" || method == "DELETE");
  if (has_body) {
    if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  for (const Header& h : headers) out.append(h.name).append(": ").append(h.value).append("\r\n");
  out.append("\r\n");
  out.append(body);
}

namespace {
// Creating the client's io_context creates its io_uring ring: say what to do when that fails.
template <class T, class... Args>
std::unique_ptr<T> makeImpl(Args&&... args) {
  try {
    return std::make_unique<T>(std::forward<Args>(args)...);
  } catch (const boost::system::system_error& e) {
    throw detail::ioContextError(e.what());
  }
}
}  // namespace

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(makeImpl<Impl>(std::move(host), port, timeout)) {}
HttpClient::~HttpClient() = default;

bool HttpClient::connected() const { return impl_->connected; }

HttpResponse HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                                 std::string_view content_type, const std::vector<Header>& headers) {
  Impl& c = *impl_;
  const auto deadline = Clock::now() + c.timeout;
  c.buildRequest(method, target, body, content_type, headers);
  for (int attempt = 0;; ++attempt) {
    const bool reused = c.connected;
    if (!c.connected) c.connect(deadline);

    error_code ec = c.run([&](auto handler) { asio::async_write(c.socket, asio::buffer(c.out), handler); }, deadline);
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (method == "HEAD") parser.skip(true);
    if (!ec) ec = c.run([&](auto handler) { http::async_read(c.socket, c.buffer, parser, handler); }, deadline);

    if (ec) {
      c.disconnect();
      // A kept-alive connection the server had closed already: send again on a fresh one.
      const bool stale = ec != asio::error::timed_out && !parser.got_some();
      if (reused && stale && attempt == 0) continue;
      c.fail(method, target,
             ec == asio::error::timed_out ? "timed out after " + std::to_string(c.timeout.count()) + " ms"
                                          : ec.message());
    }
    auto& msg = parser.get();
    HttpResponse response;
    response.status = static_cast<int>(msg.result_int());
    response.content_type = std::string(msg[http::field::content_type]);
    for (const auto& field : msg)
      response.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    response.body = std::move(msg.body());
    if (!msg.keep_alive()) c.disconnect();
    return response;
  }
}

// --- WsClient ---------------------------------------------------------------------------------

struct WsClient::Impl {
  explicit Impl(std::chrono::milliseconds t) : timeout(t) {}
  ~Impl() { abort(); }

  void handshake(const std::string& host, std::uint16_t port, const std::string& target);
  void startRead();
  void abort();  // closes the socket and waits for our operations to end
  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error("plasma::net::WsClient: " + what); }

  std::chrono::milliseconds timeout;
  Loop loop;
  websocket::stream<tcp::socket> ws{loop.ioc};
  beast::flat_buffer in;
  std::deque<std::string> inbox;
  std::optional<std::pair<std::uint16_t, std::string>> close_reason;
  bool open = false;
  bool reading = false;
  bool writing = false;
};

void WsClient::Impl::handshake(const std::string& host, std::uint16_t port, const std::string& target) {
  const auto deadline = Clock::now() + timeout;
  auto endpoints = resolve(loop.ioc, host, port);
  bool timed_out = false;
  error_code ec = connectSocket(loop, ws.next_layer(), endpoints, deadline, timed_out);
  if (ec)
    fail("cannot connect to " + host + ":" + std::to_string(port) + ": " + (timed_out ? "timed out" : ec.message()));

  websocket::response_type response;
  OpResult r;
  ws.async_handshake(response, host + ":" + std::to_string(port), target, [&r](error_code e) {
    r.done = true;
    r.ec = e;
  });
  if (!loop.runUntil([&] { return r.done; }, deadline)) {
    abort();
    loop.drain([&] { return r.done; });
    fail("WebSocket handshake with " + host + ":" + std::to_string(port) + target + " timed out");
  }
  if (r.ec) {
    std::string what = "WebSocket handshake with " + host + ":" + std::to_string(port) + target + " failed: ";
    if (response.result_int() != 0)
      what += "HTTP " + std::to_string(response.result_int()) + " " + response.body();
    else
      what += r.ec.message();
    fail(what);
  }
  open = true;
  startRead();
}

void WsClient::Impl::startRead() {
  reading = true;
  ws.async_read(in, [this](error_code ec, std::size_t) {
    reading = false;
    if (ec) {
      open = false;
      if (ec == websocket::error::closed)
        close_reason.emplace(ws.reason().code, std::string(ws.reason().reason.c_str()));
      return;
    }
    inbox.push_back(beast::buffers_to_string(in.data()));
    in.consume(in.size());
    startRead();
  });
}

void WsClient::Impl::abort() {
  open = false;
  error_code ignored;
  beast::get_lowest_layer(ws).close(ignored);
  loop.drain([&] { return !reading && !writing; });
}

WsClient::WsClient(std::string host, std::uint16_t port, std::string target, std::chrono::milliseconds timeout)
    : impl_(makeImpl<Impl>(timeout)) {
  impl_->ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::user_agent, "plasma-net-client"); }));
  impl_->handshake(host, port, target);
}

WsClient::~WsClient() = default;

void WsClient::sendText(std::string_view message) {
  Impl& c = *impl_;
  if (!c.open) c.fail("sendText on a closed connection");
  OpResult r;
  c.writing = true;
  c.ws.text(true);
  c.ws.async_write(asio::buffer(message.data(), message.size()), [&r, &c](error_code ec, std::size_t) {
    c.writing = false;
    r.done = true;
    r.ec = ec;
  });
  if (!c.loop.runUntil([&] { return r.done; }, Clock::now() + c.timeout)) {
    c.abort();
    c.fail("sendText timed out after " + std::to_string(c.timeout.count()) + " ms");
  }
  if (r.ec) c.fail("sendText failed: " + r.ec.message());
}

std::optional<std::string> WsClient::readText(std::chrono::milliseconds timeout) {
  Impl& c = *impl_;
  if (c.inbox.empty() && c.reading)
    c.loop.runUntil([&] { return !c.inbox.empty() || !c.reading; }, Clock::now() + timeout);
  if (c.inbox.empty()) return std::nullopt;
  std::string message = std::move(c.inbox.front());
  c.inbox.pop_front();
  return message;
}

std::optional<std::pair<std::uint16_t, std::string>> WsClient::closeReason() const { return impl_->close_reason; }

bool WsClient::isOpen() const { return impl_->open; }

void WsClient::close() {
  Impl& c = *impl_;
  if (!c.open) return;
  OpResult r;
  c.ws.async_close(websocket::close_code::normal, [&r](error_code ec) {
    r.done = true;
    r.ec = ec;
  });
  // The pending read sees the server's close frame and ends; then the close completes.
  bool ok = c.loop.runUntil([&] { return r.done && !c.reading; }, Clock::now() + c.timeout);
  if (!ok) {
    c.abort();
    c.loop.drain([&] { return r.done; });
  }
  c.open = false;
}

}  // namespace plasma::net
