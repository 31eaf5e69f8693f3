// net/ws_session.cpp — one WebSocket connection (Beast's websocket::stream over the accepted
// socket) and WsConnection, its thread-safe public face.
//
// Timeouts are Beast's own: with idle_timeout = 2 × ws_ping_interval and keep_alive_pings, the
// stream pings after one interval without incoming data and fails the read after the second,
// which is our "no pong by the next ping" rule. The handshake and the closing handshake are
// bounded by request_timeout.
//
// The message size limit is ours, not Beast's read_message_max: Beast closes with 1009 but
// without a reason, and the limit's reason text is part of our contract. We read in pieces of at
// most (limit + 1 - buffered) bytes, so going over is noticed before buffering more than one
// byte past the limit.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <deque>

#include "net/server_impl.hpp"

namespace plasma::net {

struct WsConnection::Impl {
  std::uint64_t id = 0;
  HttpRequest upgrade;
  std::shared_ptr<detail::Gate> gate;
  std::weak_ptr<detail::WsSession> session;  // set once the session exists; read only after
  std::atomic<bool> open{false};
};

}  // namespace plasma::net

namespace plasma::net::detail {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;

namespace {
constexpr std::size_t kMaxCloseReason = 123;  // 125-byte control payload minus the 2-byte code
constexpr std::size_t kReadChunk = 64 * 1024;
}  // namespace

class WsSession final : public Session {
 public:
  WsSession(ServerCore& core, Worker& worker, tcp::socket socket, bool counted)
      : Session(core, worker), ws_(std::move(socket)), counted_(counted) {}

  void start(HttpRequest request, beast::http::request<beast::http::string_body> upgrade);
  void send(std::string message);
  void requestClose(std::uint16_t code, std::string reason);

  void onTick(Clock::time_point) override {}  // Beast's stream timer does the work
  void beginShutdown() override { requestClose(1001, "server shutting down"); }
  void forceClose() override { finish(); }

 private:
  std::shared_ptr<WsSession> self() { return std::static_pointer_cast<WsSession>(shared_from_this()); }
  void onAccepted(error_code ec);
  void readSome();
  void onRead(error_code ec);
  void deliver();
  void writeNext();
  void onWritten(error_code ec);
  void maybeStartClose();
  void finish();
  template <class F>
  void callUser(const char* what, F&& f);

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer in_;
  std::deque<std::string> out_;
  std::shared_ptr<WsConnection> conn_;
  WsConnection::Impl* impl_ = nullptr;  // conn_'s, for the open flag
  websocket::close_reason close_reason_;
  bool counted_;
  bool opened_ = false;    // handshake done, onOpen called: onClose is owed
  bool writing_ = false;   // an async_write is pending
  bool closing_ = false;   // close requested; sent once the queue is empty
  bool close_started_ = false;  // async_close issued (Beast allows it once)
  bool finished_ = false;  // socket closed, onClose called, unregistered
};

void WsSession::start(HttpRequest request, beast::http::request<beast::http::string_body> upgrade) {
  auto impl = std::make_unique<WsConnection::Impl>();
  impl->id = core_.next_ws_id.fetch_add(1, std::memory_order_relaxed);
  impl->upgrade = std::move(request);
  impl->gate = worker_.gate;
  impl->session = std::weak_ptr<WsSession>(self());
  impl_ = impl.get();
  conn_ = std::make_shared<WsConnection>(std::move(impl));
  registerSelf();

  const auto& o = core_.options;
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = o.request_timeout;
  timeouts.idle_timeout = 2 * o.ws_ping_interval;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(0);  // we enforce ws_max_message_bytes ourselves (see the file comment)
  ws_.auto_fragment(false);
  ws_.async_accept(upgrade, [self = self()](error_code ec) { self->onAccepted(ec); });
}

template <class F>
void WsSession::callUser(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    core_.log(std::string("plasma::net: WebSocket ") + what + " threw: " + e.what());
  } catch (...) {
    core_.log(std::string("plasma::net: WebSocket ") + what + " threw a non-std exception");
  }
}

void WsSession::onAccepted(error_code ec) {
  if (finished_) return;
  if (ec) {  // Beast answered the bad handshake itself
    finish();
    return;
  }
  opened_ = true;
  impl_->open.store(true);
  core_.open_websockets.fetch_add(1, std::memory_order_relaxed);
  if (core_.ws.onOpen) callUser("onOpen", [&] { core_.ws.onOpen(conn_); });
  if (finished_) return;
  if (closing_)  // close requested during the handshake or by onOpen
    maybeStartClose();
  else if (worker_.stopping)
    requestClose(1001, "server shutting down");
  readSome();  // a pending read is how Beast receives the peer's close frame
}

// --- reading --------------------------------------------------------------------------------

void WsSession::readSome() {
  const std::size_t limit = core_.options.ws_max_message_bytes;
  const std::size_t room = limit + 1 - std::min(in_.size(), limit);
  ws_.async_read_some(in_, std::min(room, kReadChunk), [self = self()](error_code ec, std::size_t) {
    self->onRead(ec);
  });
}

void WsSession::onRead(error_code ec) {
  if (finished_) return;
  if (ec) {  // closed by the peer (Beast answered the close), ping timeout, reset, ...
    finish();
    return;
  }
  const std::size_t limit = core_.options.ws_max_message_bytes;
  if (in_.size() > limit) {
    in_.consume(in_.size());
    requestClose(1009, "message exceeds the limit of " + std::to_string(limit) + " bytes");
    return;  // no more reads: the close operation drains the rest
  }
  if (ws_.is_message_done()) deliver();
  if (finished_) return;
  readSome();
}

void WsSession::deliver() {
  auto data = in_.data();
  std::string_view message(static_cast<const char*>(data.data()), data.size());
  bool binary = !ws_.got_text();
  if (core_.ws.onMessage) callUser("onMessage", [&] { core_.ws.onMessage(conn_, message, binary); });
  in_.consume(in_.size());
}

// --- writing and closing --------------------------------------------------------------------

void WsSession::send(std::string message) {
  if (!opened_ || closing_ || finished_) return;
  out_.push_back(std::move(message));
  if (!writing_) writeNext();
}

void WsSession::writeNext() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(asio::buffer(out_.front()),
                  [self = self()](error_code ec, std::size_t) { self->onWritten(ec); });
}

void WsSession::onWritten(error_code ec) {
  writing_ = false;
  if (finished_) return;
  if (ec) {
    finish();
    return;
  }
  out_.pop_front();
  if (!out_.empty())
    writeNext();
  else if (closing_)
    maybeStartClose();
}

void WsSession::requestClose(std::uint16_t code, std::string reason) {
  if (finished_ || closing_) return;
  closing_ = true;
  impl_->open.store(false);
  if (reason.size() > kMaxCloseReason) reason.resize(kMaxCloseReason);
  close_reason_.code = code;
  close_reason_.reason = reason;
  maybeStartClose();
}

void WsSession::maybeStartClose() {
  // Not before the handshake is done (onAccepted calls again) nor while a message is being
  // written (onWritten calls again once the queue is empty).
  if (!opened_ || writing_ || close_started_ || finished_) return;
  close_started_ = true;
  // Beast sends the close frame, waits for the peer's (through a pending read, or by reading
  // itself), then closes the socket; bounded by the handshake timeout.
  ws_.async_close(close_reason_, [self = self()](error_code) { self->finish(); });
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  impl_->open.store(false);
  error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);
  if (opened_) {
    core_.open_websockets.fetch_sub(1, std::memory_order_relaxed);
    if (core_.ws.onClose) callUser("onClose", [&] { core_.ws.onClose(conn_); });
  }
  if (counted_) core_.connectionClosed();
  unregisterSelf();
}

void startWsSession(ServerCore& core, Worker& worker, tcp::socket socket, HttpRequest request,
                    beast::http::request<beast::http::string_body> upgrade, bool counted) {
  auto session = std::make_shared<WsSession>(core, worker, std::move(socket), counted);
  session->start(std::move(request), std::move(upgrade));
}

}  // namespace plasma::net::detail

// --- WsConnection -----------------------------------------------------------------------------

namespace plasma::net {

WsConnection::WsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsConnection::~WsConnection() = default;

std::uint64_t WsConnection::id() const { return impl_->id; }
const HttpRequest& WsConnection::upgradeRequest() const { return impl_->upgrade; }
bool WsConnection::isOpen() const { return impl_->open.load(); }

void WsConnection::sendText(std::string msg) {
  if (!impl_->open.load(std::memory_order_relaxed)) return;  // closed: drop without a hop
  impl_->gate->run([session = impl_->session, m = std::move(msg)]() mutable {
    if (auto s = session.lock()) s->send(std::move(m));
  });
}

void WsConnection::broadcastText(const std::vector<std::shared_ptr<WsConnection>>& connections,
                                 const std::string& message) {
  // Group by I/O thread (few: one per core), then one task per thread sends to its sessions.
  std::vector<std::pair<detail::Gate*, std::vector<std::weak_ptr<detail::WsSession>>>> groups;
  std::vector<std::shared_ptr<detail::Gate>> gates;  // keeps each group's gate alive
  for (const auto& c : connections) {
    if (!c || !c->impl_->open.load(std::memory_order_relaxed)) continue;
    detail::Gate* gate = c->impl_->gate.get();
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == gate; });
    if (it == groups.end()) {
      groups.emplace_back(gate, std::vector<std::weak_ptr<detail::WsSession>>{});
      gates.push_back(c->impl_->gate);
      it = std::prev(groups.end());
    }
    it->second.push_back(c->impl_->session);
  }
  for (auto& [gate, sessions] : groups) {
    gate->run([sessions = std::move(sessions), message]() {
      for (const auto& weak : sessions) {
        if (auto s = weak.lock()) s->send(message);
      }
    });
  }
}

void WsConnection::close(std::uint16_t code, std::string reason) {
  impl_->gate->run([session = impl_->session, code, r = std::move(reason)]() mutable {
    if (auto s = session.lock()) s->requestClose(code, std::move(r));
  });
}

}  // namespace plasma::net
