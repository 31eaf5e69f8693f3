// net/http_session.cpp — one HTTP/1.1 connection: read a request with Beast's parser, hand it to
// the handler, write the answer, repeat (keep-alive); requests on one connection are handled one
// at a time, so pipelined requests are answered in order.
//
// Deadlines are not per-operation timers: each state sets deadline_, and the worker's ticker
// (Worker::tick, a few times per timeout) calls onTick to act on expired ones. That keeps timer
// work off the per-request path.
//
//   Idle      waiting for the first byte of the next request   idle_timeout    -> close silently
//   Reading   first byte seen, request not complete yet        request_timeout -> 408, close
//   Handling  handler has the request, Responder not called     handler_timeout -> 503
//   Writing   response being written                           request_timeout -> close
//   Lingering after the last response: send side shut, input   min(request_timeout, 2 s) -> close
//             drained so unread request bytes do not turn the close into a reset that
//             destroys the response in flight
#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "net/http_codec.hpp"
#include "net/server_impl.hpp"

namespace plasma::net::detail {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kFirstReadBytes = 4096;  // read while idle; the parser reads more as needed

std::string formatEndpoint(const tcp::socket& socket) {
  error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return {};
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

class HttpSession final : public Session {
 public:
  HttpSession(ServerCore& core, Worker& worker, tcp::socket socket, bool counted)
      : Session(core, worker), socket_(std::move(socket)), counted_(counted) {}

  void start();
  void reject();
  void respond(std::uint64_t seq, HttpResponse&& r, bool dropped);

  void onTick(Clock::time_point now) override;
  void beginShutdown() override;
  void forceClose() override { close(); }

 private:
  enum class State { Idle, Reading, Handling, Writing, Lingering, Closed };

  std::shared_ptr<HttpSession> self() { return std::static_pointer_cast<HttpSession>(shared_from_this()); }
  void setState(State s, std::chrono::milliseconds timeout) {
    state_ = s;
    deadline_ = Clock::now() + timeout;
  }

  void awaitRequest();
  void onFirstBytes(error_code ec, std::size_t n);
  void readRequest();
  void onRequest(error_code ec);
  void failParse(error_code ec);
  void dispatch();
  HttpRequest makeRequest();
  void upgrade(HttpRequest&& request);
  void send(HttpResponse&& r, bool keep_alive);
  void onWritten(error_code ec);
  void lingerClose();
  void onLinger(error_code ec);
  void close();

  tcp::socket socket_;
  beast::flat_buffer buffer_;  // kept across requests: holds pipelined bytes, keeps its capacity
  std::optional<http::request_parser<http::string_body>> parser_;  // Beast parsers are one-shot
  std::string remote_;
  std::string out_head_;  // reused for every response head
  std::string out_body_;
  State state_ = State::Idle;
  Clock::time_point deadline_;
  std::uint64_t seq_ = 0;  // the request the Responder answers; stale Responders are ignored
  bool counted_;           // counts in open_connections (rejected connections do not)
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_ = false;
  bool timed_out_ = false;  // the pending read was cancelled by the request deadline
};

// --- lifecycle ------------------------------------------------------------------------------

void HttpSession::start() {
  remote_ = formatEndpoint(socket_);
  registerSelf();
  if (worker_.stopping) {
    close();
    return;
  }
  awaitRequest();
}

void HttpSession::reject() {
  registerSelf();
  send(errorResponse(503, "TooManyConnections",
                     "the server is at its limit of " + std::to_string(core_.options.max_connections) +
                         " connections"),
       false);
}

void HttpSession::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  error_code ignored;
  socket_.close(ignored);  // pending operations complete with operation_aborted
  if (counted_) core_.connectionClosed();
  unregisterSelf();
}

void HttpSession::beginShutdown() {
  // Idle keep-alive connections go now; a request being read, handled or written finishes and
  // its response says "Connection: close" (send() checks worker_.stopping).
  if (state_ == State::Idle) close();
}

void HttpSession::onTick(Clock::time_point now) {
  if (state_ == State::Closed || now < deadline_) return;
  switch (state_) {
    case State::Idle:
    case State::Writing:
    case State::Lingering:
      close();
      break;
    case State::Reading: {
      // The parser's read is pending: cancel it, onRequest answers 408.
      timed_out_ = true;
      deadline_ = Clock::time_point::max();
      error_code ignored;
      socket_.cancel(ignored);
      break;
    }
    case State::Handling:
      send(errorResponse(503, "HandlerTimeout",
                         "the request handler did not answer within " + ms(core_.options.handler_timeout)),
           keep_alive_);
      break;
    case State::Closed:
      break;
  }
}

// --- reading --------------------------------------------------------------------------------

void HttpSession::awaitRequest() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(core_.options.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(core_.options.max_body_bytes);
  timed_out_ = false;
  if (buffer_.size() > 0) {  // pipelined: the next request has begun already
    setState(State::Reading, core_.options.request_timeout);
    readRequest();
    return;
  }
  // Wait for the first byte ourselves: it separates the idle deadline from the request one.
  setState(State::Idle, core_.options.idle_timeout);
  socket_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = self()](error_code ec, std::size_t n) { self->onFirstBytes(ec, n); });
}

void HttpSession::onFirstBytes(error_code ec, std::size_t n) {
  if (state_ == State::Closed) return;
  if (ec) {  // peer closed, reset, or cancelled: nothing to answer
    close();
    return;
  }
  buffer_.commit(n);
  setState(State::Reading, core_.options.request_timeout);
  readRequest();
}

void HttpSession::readRequest() {
  http::async_read(socket_, buffer_, *parser_,
                   [self = self()](error_code ec, std::size_t) { self->onRequest(ec); });
}

void HttpSession::onRequest(error_code ec) {
  if (state_ == State::Closed) return;
  if (!ec) {
    core_.requests_total.fetch_add(1, std::memory_order_relaxed);
    dispatch();
    return;
  }
  if (timed_out_) {
    send(errorResponse(408, "RequestTimeout",
                       "the request was not complete within " + ms(core_.options.request_timeout)),
         false);
  } else if (ec.category() == http::make_error_code(http::error::need_more).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    failParse(ec);
  } else {
    close();  // the peer went away (EOF, reset): nobody to answer
  }
}

void HttpSession::failParse(error_code ec) {
  const auto& o = core_.options;
  if (ec == http::error::header_limit) {
    send(errorResponse(431, "HeaderTooLarge",
                       "request header exceeds the limit of " + std::to_string(o.max_header_bytes) + " bytes"),
         false);
  } else if (ec == http::error::body_limit) {
    send(errorResponse(413, "PayloadTooLarge",
                       "request body exceeds the limit of " + std::to_string(o.max_body_bytes) + " bytes"),
         false);
  } else {
    send(errorResponse(400, "BadRequest", "malformed HTTP request: " + ec.message()), false);
  }
}

// --- handling -------------------------------------------------------------------------------

HttpRequest HttpSession::makeRequest() {
  auto& msg = parser_->get();
  HttpRequest r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  decodeTarget(r.target, r.path, r.query);
  for (const auto& field : msg) r.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  r.body = std::move(msg.body());
  r.remote = remote_;
  return r;
}

void HttpSession::dispatch() {
  const auto& msg = parser_->get();
  keep_alive_ = msg.keep_alive();
  http10_ = msg.version() == 10;
  head_ = msg.method() == http::verb::head;
  bool is_upgrade = beast::websocket::is_upgrade(msg);
  HttpRequest request = makeRequest();
  if (is_upgrade) {
    upgrade(std::move(request));
    return;
  }
  setState(State::Handling, core_.options.handler_timeout);
  const std::uint64_t seq = ++seq_;
  try {
    core_.handler(std::move(request), Responder(worker_.gate, std::weak_ptr<HttpSession>(self()), seq));
  } catch (const std::exception& e) {
    core_.log(std::string("plasma::net: request handler threw: ") + e.what());
    respond(seq, errorResponse(500, "InternalError", "the request handler failed"), false);
  } catch (...) {
    core_.log("plasma::net: request handler threw a non-std exception");
    respond(seq, errorResponse(500, "InternalError", "the request handler failed"), false);
  }
}

void HttpSession::upgrade(HttpRequest&& request) {
  if (!core_.wsEnabled() || request.path != core_.ws.path) {
    setState(State::Handling, core_.options.handler_timeout);
    send(errorResponse(404, "NotFound", "no WebSocket endpoint at " + request.path), keep_alive_);
    return;
  }
  if (worker_.stopping) {
    setState(State::Handling, core_.options.handler_timeout);
    send(errorResponse(503, "ShuttingDown", "the server is shutting down"), false);
    return;
  }
  // The socket and the connection count move to the WebSocket session; this one ends quietly.
  state_ = State::Closed;
  bool counted = std::exchange(counted_, false);
  startWsSession(core_, worker_, std::move(socket_), std::move(request), parser_->release(), counted);
  unregisterSelf();
}

void HttpSession::respond(std::uint64_t seq, HttpResponse&& r, bool dropped) {
  if (state_ != State::Handling || seq != seq_) return;  // answered already (timeout) or gone
  if (dropped) r = errorResponse(500, "InternalError", "handler dropped the request");
  for (const Header& h : r.headers) {
    if (!headerFieldOk(h.name, h.value)) {
      core_.log("plasma::net: handler response has an invalid header field: " + h.name);
      r = errorResponse(500, "InternalError", "the handler's response has an invalid header field");
      break;
    }
  }
  send(std::move(r), keep_alive_);
}

// --- writing --------------------------------------------------------------------------------

void HttpSession::send(HttpResponse&& r, bool keep_alive) {
  ResponseShape shape;
  shape.keep_alive = keep_alive && !worker_.stopping;
  shape.http10 = http10_;
  shape.has_body = !head_ && r.status != 204 && r.status != 304;
  keep_alive_ = writeResponseHead(out_head_, r, shape);
  out_body_ = std::move(r.body);
  setState(State::Writing, core_.options.request_timeout);
  std::array<asio::const_buffer, 2> buffers{asio::buffer(out_head_),
                                            asio::buffer(out_body_.data(), shape.has_body ? out_body_.size() : 0)};
  asio::async_write(socket_, buffers, [self = self()](error_code ec, std::size_t) { self->onWritten(ec); });
}

void HttpSession::onWritten(error_code ec) {
  if (state_ == State::Closed) return;
  if (ec) {
    close();
    return;
  }
  if (keep_alive_ && !worker_.stopping) {
    awaitRequest();
  } else if (keep_alive_ && buffer_.size() == 0) {
    // The server began stopping after this keep-alive response went out: the client expects
    // the connection to stay, so it will not close its side; lingering would only wait.
    close();
  } else {
    lingerClose();
  }
}

void HttpSession::lingerClose() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);  // the client sees EOF after our response
  buffer_.consume(buffer_.size());
  setState(State::Lingering, std::min<std::chrono::milliseconds>(core_.options.request_timeout, 2s));
  socket_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = self()](error_code ec, std::size_t) { self->onLinger(ec); });
}

void HttpSession::onLinger(error_code ec) {
  if (state_ == State::Closed) return;
  if (ec) {  // EOF (the client closed too) or error
    close();
    return;
  }
  socket_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = self()](error_code ec2, std::size_t) { self->onLinger(ec2); });
}

// --- entry points ---------------------------------------------------------------------------

void startHttpSession(ServerCore& core, Worker& worker, tcp::socket socket) {
  std::make_shared<HttpSession>(core, worker, std::move(socket), true)->start();
}

void rejectConnection(ServerCore& core, Worker& worker, tcp::socket socket) {
  std::make_shared<HttpSession>(core, worker, std::move(socket), false)->reject();
}

// --- Responder ------------------------------------------------------------------------------

}  // namespace plasma::net::detail

namespace plasma::net {

Responder::Responder(std::shared_ptr<detail::Gate> gate, std::weak_ptr<detail::HttpSession> session,
                     std::uint64_t seq) noexcept
    : gate_(std::move(gate)), session_(std::move(session)), seq_(seq) {}

Responder::Responder(Responder&& other) noexcept
    : gate_(std::move(other.gate_)), session_(std::move(other.session_)), seq_(other.seq_) {}

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    if (gate_) deliver(HttpResponse{}, true);
    gate_ = std::move(other.gate_);
    session_ = std::move(other.session_);
    seq_ = other.seq_;
  }
  return *this;
}

Responder::~Responder() {
  if (gate_) deliver(HttpResponse{}, true);
}

void Responder::operator()(HttpResponse&& r) {
  if (!gate_) return;  // called twice or moved from: nothing to answer
  deliver(std::move(r), false);
}

void Responder::deliver(HttpResponse&& r, bool dropped) {
  std::shared_ptr<detail::Gate> gate = std::move(gate_);
  auto task = [session = std::move(session_), seq = seq_, r = std::move(r), dropped]() mutable {
    if (auto s = session.lock()) s->respond(seq, std::move(r), dropped);
  };
  // A drop is always posted: it usually happens while a throwing handler unwinds, and the
  // session's catch block should answer first, with the better message.
  if (dropped)
    gate->post(std::move(task));
  else
    gate->run(std::move(task));
}

}  // namespace plasma::net
