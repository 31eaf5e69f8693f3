// net/server_impl.hpp — internals of the server shared by net/http_server.cpp,
// net/http_session.cpp and net/ws_session.cpp. Includes Asio/Beast: never include it from a
// public header.
//
// Ownership: a Worker owns one io_context, its thread and the sessions (connections) assigned
// to it; the session list holds the only long-lived strong reference, so sessions are created,
// used and released on their worker's thread (pending async operations hold further references
// until they complete). Everything reaching a session from another thread goes through the
// worker's Gate, which posts a closure holding a weak_ptr.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_server.hpp"

namespace plasma::net::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// The way into a worker's thread from anywhere. post() after close() drops the closure (the
// server is gone), which is why closures carry weak_ptrs only: destroying them on a foreign
// thread must not destroy a socket whose io_context no longer exists.
class Gate {
 public:
  explicit Gate(asio::io_context& ioc) : ioc_(&ioc) {}

  // Runs f now if the caller is this worker's thread (no hop, no lock), else posts it.
  template <class F>
  void run(F&& f) {
    if (current() == this) {
      f();
      return;
    }
    post(std::forward<F>(f));
  }
  template <class F>
  void post(F&& f) {
    std::lock_guard lock(mutex_);
    if (ioc_ != nullptr) asio::post(*ioc_, std::forward<F>(f));
  }
  void close() {
    std::lock_guard lock(mutex_);
    ioc_ = nullptr;
  }

  // The gate of the worker running on this thread (nullptr elsewhere).
  static Gate*& current() {
    thread_local Gate* gate = nullptr;
    return gate;
  }

 private:
  std::mutex mutex_;
  asio::io_context* ioc_;
};

struct ServerCore;
struct Worker;

// A connection: HTTP (HttpSession) or WebSocket (WsSession). Only its worker's thread calls
// these.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& core, Worker& worker) : core_(core), worker_(worker) {}
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  virtual void onTick(Clock::time_point now) = 0;  // deadlines, checked a few times per timeout
  virtual void beginShutdown() = 0;                // server stopping: finish gracefully
  virtual void forceClose() = 0;                   // grace over: close now

  std::list<std::shared_ptr<Session>>::iterator registry_pos;  // in Worker::sessions, if registered
  bool registered = false;

 protected:
  void registerSelf();
  void unregisterSelf();  // drops the registry's reference: call last

  ServerCore& core_;
  Worker& worker_;
};

struct Worker {
  explicit Worker(ServerCore& core);

  void tick();  // re-arms itself until stopped
  void beginShutdown();
  void forceClose();

  ServerCore& core;
  asio::io_context ioc{1};  // one thread runs it: Asio may skip some locking
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  asio::steady_timer ticker{ioc};
  std::shared_ptr<Gate> gate;
  std::list<std::shared_ptr<Session>> sessions;
  bool stopping = false;  // this thread only
  bool stopped = false;   // this thread only: ticker ends
  std::atomic<bool> finished{false};  // run() returned for good
  std::thread thread;
};

// Server-wide state shared by the workers; outlives them.
struct ServerCore {
  ServerCore(ServerOptions o, HttpHandler h, WsHandler w)
      : options(std::move(o)), handler(std::move(h)), ws(std::move(w)) {}

  void log(std::string_view message) const;
  void connectionClosed();  // one counted connection ended
  bool wsEnabled() const { return !ws.path.empty(); }

  ServerOptions options;
  HttpHandler handler;
  WsHandler ws;
  Clock::duration tick_interval{};

  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<std::uint64_t> open_websockets{0};
  std::atomic<std::uint64_t> requests_total{0};
  std::atomic<std::uint64_t> next_ws_id{1};
  std::atomic<bool> stopping{false};

  std::mutex drained_mutex;  // with drained: stop() waits for open_connections == 0
  std::condition_variable drained;
};

// Starts serving an accepted socket on the current (its worker's) thread.
void startHttpSession(ServerCore& core, Worker& worker, tcp::socket socket);
// Answers 503 TooManyConnections on an accepted socket and closes it.
void rejectConnection(ServerCore& core, Worker& worker, tcp::socket socket);
// Takes over an HTTP connection whose request is a WebSocket upgrade for the configured path.
// `counted`: the connection counts in open_connections (the WebSocket session now owns that).
void startWsSession(ServerCore& core, Worker& worker, tcp::socket socket, HttpRequest request,
                    boost::beast::http::request<boost::beast::http::string_body> upgrade, bool counted);

}  // namespace plasma::net::detail
