// net/http_server.cpp — Server: workers (one io_context + thread each), the accept loop, the
// deadline ticker and the shutdown sequence. Connections themselves are in http_session.cpp and
// ws_session.cpp.
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/system/system_error.hpp>
#include <iostream>
#include <stdexcept>

#include "net/http_codec.hpp"
#include "net/server_impl.hpp"

namespace plasma::net {

using boost::system::error_code;
using detail::Clock;
using detail::tcp;
namespace asio = boost::asio;

bool usesIoUring() noexcept {
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
  return true;
#else
  return false;
#endif
}

// --- HttpRequest ------------------------------------------------------------------------------

std::string_view HttpRequest::header(std::string_view name) const {
  for (const Header& h : headers)
    if (detail::iequals(h.name, name)) return h.value;
  return {};
}

std::optional<std::string_view> HttpRequest::queryParam(std::string_view name) const {
  for (const auto& [key, value] : query)
    if (key == name) return std::string_view(value);
  return std::nullopt;
}

namespace detail {

std::runtime_error ioContextError(std::string_view what) {
  if (usesIoUring())
    return std::runtime_error("plasma::net: io_uring is unavailable (" + std::string(what) +
                              "); this build uses Asio's io_uring backend. Rebuild with -DPLASMA_IO_URING=OFF "
                              "to use epoll (see docs/building.md, \"Network layer\")");
  return std::runtime_error("plasma::net: cannot create the I/O context: " + std::string(what));
}

// --- ServerCore, Session, Worker --------------------------------------------------------------

void ServerCore::log(std::string_view message) const {
  if (options.log)
    options.log(message);
  else
    std::cerr << message << '\n';
}

void ServerCore::connectionClosed() {
  if (open_connections.fetch_sub(1) == 1 && stopping.load()) {
    // Under the mutex, so stop() cannot miss it between its check and its wait.
    std::lock_guard lock(drained_mutex);
    drained.notify_all();
  }
}

void Session::registerSelf() {
  worker_.sessions.push_front(shared_from_this());
  registry_pos = worker_.sessions.begin();
  registered = true;
}

void Session::unregisterSelf() {
  if (!registered) return;
  registered = false;
  worker_.sessions.erase(registry_pos);  // may drop the last reference: callers hold their own
}

Worker::Worker(ServerCore& c) : core(c), gate(std::make_shared<Gate>(ioc)) {}

void Worker::tick() {
  ticker.expires_after(core.tick_interval);
  ticker.async_wait([this](error_code ec) {
    if (ec || stopped) return;
    const auto now = Clock::now();
    for (auto it = sessions.begin(); it != sessions.end();) {
      std::shared_ptr<Session> s = *it++;  // onTick may unregister s (never another session)
      s->onTick(now);
    }
    tick();
  });
}

namespace {
// Sessions may unregister (and user callbacks may close others) while we walk: use a copy.
template <class F>
void forEachSession(std::list<std::shared_ptr<Session>>& sessions, F f) {
  std::vector<std::shared_ptr<Session>> snapshot(sessions.begin(), sessions.end());
  for (auto& s : snapshot) f(*s);
}
}  // namespace

void Worker::beginShutdown() {
  stopping = true;
  forEachSession(sessions, [](Session& s) { s.beginShutdown(); });
}

void Worker::forceClose() {
  stopping = true;
  forEachSession(sessions, [](Session& s) { s.forceClose(); });
  stopped = true;
  ticker.cancel();
  guard.reset();
  // No ioc.stop() here: the aborted operations must complete inside run(). Their handlers own
  // the sessions, and a session (its Beast websocket stream above all) must be destroyed while
  // the io_context's services still exist — destroying it from ~io_context, after Beast's
  // websocket service is gone, crashed when a WebSocket peer never answered the close frame.
  // run() returns once nothing is pending; Server::stop() bounds the wait.
}

}  // namespace detail

// --- Server -----------------------------------------------------------------------------------

struct Server::Impl {
  Impl(ServerOptions o, HttpHandler h, WsHandler w) : core(std::move(o), std::move(h), std::move(w)) {}

  void createWorkers();
  void listen();
  void accept();
  void onAccept(error_code ec, tcp::socket socket, detail::Worker& target);
  void joinAndRelease();
  bool onOwnThread() const;

  detail::ServerCore core;
  std::vector<std::unique_ptr<detail::Worker>> workers;
  std::optional<tcp::acceptor> acceptor;         // on workers[0]
  std::optional<asio::steady_timer> retry_timer;  // on workers[0]: accept errors back off
  std::size_t next_worker = 0;                    // workers[0]'s thread only
  std::string bound_host;
  std::uint16_t bound_port = 0;
  enum class State { Created, Running, Stopped } state = State::Created;
  std::mutex lifecycle;
};

void Server::Impl::createWorkers() {
  unsigned n = core.options.threads != 0 ? core.options.threads : std::max(1u, std::thread::hardware_concurrency());
  try {
    for (unsigned i = 0; i < n; ++i) workers.push_back(std::make_unique<detail::Worker>(core));
  } catch (const boost::system::system_error& e) {
    // The ticker's timer is the first I/O object: with io_uring it creates the ring, which is
    // where a kernel or container that blocks io_uring says no.
    workers.clear();
    throw detail::ioContextError(e.what());
  }
}

void Server::Impl::listen() {
  const auto& o = core.options;
  const std::string where = o.host + ":" + std::to_string(o.port);
  try {
    asio::io_context& ioc = workers.front()->ioc;
    tcp::endpoint endpoint;
    error_code ec;
    asio::ip::address address = asio::ip::make_address(o.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, o.port);
    } else {  // a name: take the first address it resolves to
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(o.host, std::to_string(o.port));
      endpoint = results.begin()->endpoint();
    }
    acceptor.emplace(ioc);
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen(asio::socket_base::max_listen_connections);
    tcp::endpoint bound = acceptor->local_endpoint();
    bound_host = bound.address().to_string();
    bound_port = bound.port();
  } catch (const boost::system::system_error& e) {
    acceptor.reset();
    throw std::runtime_error("plasma::net: cannot listen on " + where + ": " + e.code().message());
  }
}

void Server::Impl::accept() {
  // Round-robin: the new socket belongs to the target worker's io_context from the start.
  detail::Worker& target = *workers[next_worker++ % workers.size()];
  acceptor->async_accept(target.ioc, [this, &target](error_code ec, tcp::socket socket) {
    onAccept(ec, std::move(socket), target);
  });
}

void Server::Impl::onAccept(error_code ec, tcp::socket socket, detail::Worker& target) {
  if (ec == asio::error::operation_aborted || core.stopping.load()) return;
  if (ec) {
    // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept.
    core.log("plasma::net: accept failed: " + ec.message());
    retry_timer->expires_after(std::chrono::milliseconds(50));
    retry_timer->async_wait([this](error_code wait_ec) {
      if (!wait_ec && !core.stopping.load()) accept();
    });
    return;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  if (core.open_connections.load() >= core.options.max_connections) {
    asio::post(target.ioc, [this, &target, s = std::move(socket)]() mutable {
      detail::rejectConnection(core, target, std::move(s));
    });
  } else {
    core.open_connections.fetch_add(1);
    asio::post(target.ioc, [this, &target, s = std::move(socket)]() mutable {
      detail::startHttpSession(core, target, std::move(s));
    });
  }
  accept();
}

bool Server::Impl::onOwnThread() const {
  for (const auto& w : workers)
    if (detail::Gate::current() == w->gate.get()) return true;
  return false;
}

void Server::Impl::joinAndRelease() {
  // Each worker drains its aborted operations and returns from run() on its own; one that is
  // still busy after a bound is stopped (what remains queued is then destroyed with it).
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  for (auto& w : workers) {
    while (!w->finished.load() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!w->finished.load()) {
      core.log("plasma::net: an I/O thread still had work 2 s after closing every connection; stopping it");
      w->ioc.stop();
    }
  }
  for (auto& w : workers)
    if (w->thread.joinable()) w->thread.join();
  for (auto& w : workers) w->gate->close();  // late Responders and sendText calls now drop
  acceptor.reset();
  retry_timer.reset();
  workers.clear();  // destroys each io_context and what was still queued on it
}

Server::Server(ServerOptions options, HttpHandler handler, WsHandler ws)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(ws))) {}

Server::~Server() { stop(); }

void Server::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->state != Impl::State::Created) throw std::logic_error("plasma::net::Server::start: already started");
  auto& o = impl_->core.options;
  // The ticker checks deadlines a few times per timeout, between 5 ms and 250 ms apart.
  auto shortest = std::min({o.request_timeout, o.idle_timeout, o.handler_timeout});
  impl_->core.tick_interval =
      std::clamp<Clock::duration>(shortest / 10, std::chrono::milliseconds(5), std::chrono::milliseconds(250));

  impl_->createWorkers();
  impl_->listen();
  impl_->retry_timer.emplace(impl_->workers.front()->ioc);
  for (auto& w : impl_->workers) {
    w->guard.emplace(w->ioc.get_executor());
    w->tick();
  }
  impl_->accept();
  for (auto& w : impl_->workers) {
    detail::Worker* worker = w.get();
    worker->thread = std::thread([worker] {
      detail::Gate::current() = worker->gate.get();
      for (;;) {
        try {
          worker->ioc.run();
          worker->finished.store(true);
          break;
        } catch (const std::exception& e) {  // our handlers do not throw; keep serving if one does
          worker->core.log(std::string("plasma::net: I/O thread caught: ") + e.what());
        }
      }
      detail::Gate::current() = nullptr;
    });
  }
  impl_->state = Impl::State::Running;
}

void Server::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->state != Impl::State::Running) {
    impl_->state = Impl::State::Stopped;
    return;
  }
  if (impl_->onOwnThread())
    throw std::logic_error("plasma::net::Server::stop called from one of the server's own threads");
  auto& core = impl_->core;
  core.stopping.store(true);

  // 1. Stop accepting; close idle connections, start closing WebSockets (1001).
  asio::post(impl_->workers.front()->ioc, [this] {
    error_code ignored;
    impl_->acceptor->close(ignored);
    impl_->retry_timer->cancel();
  });
  for (auto& w : impl_->workers) asio::post(w->ioc, [worker = w.get()] { worker->beginShutdown(); });

  // 2. Let in-flight requests finish, up to `grace`.
  {
    std::unique_lock wait_lock(core.drained_mutex);
    core.drained.wait_for(wait_lock, grace, [&] { return core.open_connections.load() == 0; });
  }

  // 3. Close what is left, stop the io_contexts, join.
  for (auto& w : impl_->workers) asio::post(w->ioc, [worker = w.get()] { worker->forceClose(); });
  impl_->joinAndRelease();
  impl_->state = Impl::State::Stopped;
}

std::string Server::host() const { return impl_->bound_host; }
std::uint16_t Server::port() const { return impl_->bound_port; }

ServerStats Server::stats() const {
  const auto& c = impl_->core;
  return {c.open_connections.load(), c.open_websockets.load(), c.requests_total.load()};
}

}  // namespace plasma::net
