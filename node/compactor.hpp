// node/compactor.hpp — scheduled change-log compaction with a safe horizon.
//
// The node remembers, per client group, the cookie of its latest pull and
// when it pulled (CookieTracker, in memory). Every `interval` the Compactor
// folds the log up to
//
//   horizon = (oldest cookie among groups that pulled within `active_window`,
//              or the log head when none did) - margin
//
// with Database::compactChangeLog. Clients at or after the horizon are not
// affected at all; a client older than it (offline longer than the window,
// or further behind than the margin) still converges — it just skips the
// intermediate states (docs/node.md, "Compaction"). Each run is logged.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "node/log.hpp"
#include "plasma/database.hpp"

namespace plasma::node {

// Thread-safe: pulls record from the I/O threads; the compactor reads.
class CookieTracker {
 public:
  using Clock = std::chrono::steady_clock;
  // A pull by `group` holding `cookie` (the version it has synced to).
  void seen(std::string_view group, std::uint64_t cookie, Clock::time_point now = Clock::now());
  // The oldest cookie among groups seen at or after `since`; drops the
  // entries older than that (they no longer hold the horizon back).
  std::optional<std::uint64_t> oldestSince(Clock::time_point since);
  std::size_t size() const;

 private:
  struct Entry {
    std::uint64_t cookie = 0;
    Clock::time_point last_seen{};
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> groups_;
};

struct CompactorOptions {
  std::chrono::milliseconds interval{0};  // 0: no schedule (runOnce still works)
  std::uint64_t margin = 1000;            // versions kept below the oldest active cookie
  std::chrono::milliseconds active_window{std::chrono::hours(24)};
  const Logger* log = nullptr;
};

struct CompactionRun {
  bool ran = false;             // false: the horizon had not moved since the last run
  std::uint64_t horizon = 0;
  std::uint64_t head = 0;
  std::size_t active_groups = 0;
  CompactionResult result;
  std::chrono::microseconds took{0};
};

struct CompactorStats {
  std::uint64_t runs = 0;       // compactions performed
  std::uint64_t removed = 0;    // entries removed, all runs
  std::uint64_t horizon = 0;    // the last horizon compacted to
  std::uint64_t failures = 0;
};

class Compactor {
 public:
  Compactor(Database& db, CookieTracker& cookies, CompactorOptions options);
  ~Compactor();  // stop()
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  // Computes the horizon and compacts up to it (when it moved). Throws what
  // compactChangeLog throws.
  CompactionRun runOnce();
  void stop();
  CompactorStats stats() const;

 private:
  void loop();

  Database& db_;
  CookieTracker& cookies_;
  CompactorOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  CompactorStats stats_;
  std::mutex run_mu_;  // one run at a time
  std::thread thread_;
};

}  // namespace plasma::node
