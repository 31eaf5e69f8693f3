// plasma/server_live.hpp — serverLiveSelect: reactive reads for server code
// (admin dashboards, aggregators), the original's serverLiveSelect.
//
//   auto handle = plasma::serverLiveSelect<plasma::QueryResult>(db, {
//       .tables = {"todos"},
//       .fetch = [&] { return db.select({{"n", plasma::count()}}).from(todos).all(); },
//       .onChange = [](const plasma::QueryResult& r) { broadcast(r); },
//       .heartbeat = std::chrono::milliseconds(1000)});
//
// fetch runs once at start, then after every commit that changed one of
// `tables` (all tables when empty) — driven by the commit observer, no
// polling — and on the heartbeat in quiet periods, so callers can tell the
// runner is alive. Commits that arrive while fetch runs are coalesced into
// one more run. fetch and onChange run on the handle's own thread; an
// exception from them is passed to onError (if set) and the runner goes on.
// It reads without auth restrictions: it is for server-only paths.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace plasma {

class Database;

namespace detail {
class ServerLiveRunner;
}

class ServerLiveHandle {
 public:
  ServerLiveHandle() = default;
  explicit ServerLiveHandle(std::shared_ptr<detail::ServerLiveRunner> runner) : runner_(std::move(runner)) {}
  ServerLiveHandle(ServerLiveHandle&&) noexcept = default;
  ServerLiveHandle& operator=(ServerLiveHandle&&) noexcept = default;
  ~ServerLiveHandle() { stop(); }
  // Stops the runner; after it returns, fetch/onChange are not running and will not run again.
  void stop() noexcept;
  // How many times fetch has run (for tests and metrics).
  std::uint64_t runs() const noexcept;

 private:
  std::shared_ptr<detail::ServerLiveRunner> runner_;
};

template <class T>
struct ServerLiveSelectOptions {
  std::vector<std::string> tables;  // empty: every table
  std::function<T()> fetch;
  std::function<void(const T&)> onChange;
  std::chrono::milliseconds heartbeat{1000};
  std::function<void(std::exception_ptr)> onError;
};

ServerLiveHandle startServerLive(Database& db, std::vector<std::string> tables, std::function<void()> tick,
                                 std::chrono::milliseconds heartbeat, std::function<void(std::exception_ptr)> on_error);

template <class T>
ServerLiveHandle serverLiveSelect(Database& db, ServerLiveSelectOptions<T> options) {
  auto fetch = std::move(options.fetch);
  auto on_change = std::move(options.onChange);
  return startServerLive(
      db, std::move(options.tables), [fetch, on_change] { on_change(fetch()); }, options.heartbeat,
      std::move(options.onError));
}

}  // namespace plasma
