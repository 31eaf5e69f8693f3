#include "node/compactor.hpp"

#include <algorithm>

namespace plasma::node {

// ---- CookieTracker -------------------------------------------------------------------

void CookieTracker::seen(std::string_view group, std::uint64_t cookie, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) it = groups_.emplace(std::string(group), Entry{}).first;
  // The group's latest pull says where it is now (a cookie can go back when
  // a client group is reset; the latest pull is the truth).
  it->second.cookie = cookie;
  it->second.last_seen = now;
}

std::optional<std::uint64_t> CookieTracker::oldestSince(Clock::time_point since) {
  std::lock_guard lock(mu_);
  std::optional<std::uint64_t> oldest;
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (it->second.last_seen < since) {
      it = groups_.erase(it);
      continue;
    }
    oldest = oldest ? std::min(*oldest, it->second.cookie) : it->second.cookie;
    ++it;
  }
  return oldest;
}

std::size_t CookieTracker::size() const {
  std::lock_guard lock(mu_);
  return groups_.size();
}

// ---- Compactor -------------------------------------------------------------------------

Compactor::Compactor(Database& db, CookieTracker& cookies, CompactorOptions options)
    : db_(db), cookies_(cookies), options_(options) {
  if (options_.interval.count() > 0) thread_ = std::thread([this] { loop(); });
}

Compactor::~Compactor() { stop(); }

void Compactor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

CompactorStats Compactor::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

CompactionRun Compactor::runOnce() {
  std::lock_guard one(run_mu_);
  const auto started = std::chrono::steady_clock::now();
  CompactionRun run;
  run.head = db_.headVersion();
  const auto oldest = cookies_.oldestSince(CookieTracker::Clock::now() - options_.active_window);
  run.active_groups = cookies_.size();
  // A cookie ahead of the head is refused by pull; clamp anyway.
  const std::uint64_t base = std::min(oldest.value_or(run.head), run.head);
  run.horizon = base > options_.margin ? base - options_.margin : 0;
  std::uint64_t last = 0;
  {
    std::lock_guard lock(mu_);
    last = stats_.horizon;
  }
  // Entries above the last horizon were never folded; below it there is
  // nothing left to fold. Nothing to do until the horizon moves.
  if (run.horizon == 0 || run.horizon <= last) {
    if (options_.log != nullptr) {
      options_.log->debug("compaction skipped", {{"horizon", std::to_string(run.horizon)},
                                                 {"last_horizon", std::to_string(last)},
                                                 {"head", std::to_string(run.head)}});
    }
    return run;
  }
  run.result = db_.compactChangeLog(run.horizon);
  run.ran = true;
  run.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  {
    std::lock_guard lock(mu_);
    ++stats_.runs;
    stats_.removed += run.result.removed;
    stats_.horizon = run.horizon;
  }
  if (options_.log != nullptr) {
    options_.log->info("change log compacted", {{"horizon", std::to_string(run.horizon)},
                                                {"head", std::to_string(run.head)},
                                                {"active_groups", std::to_string(run.active_groups)},
                                                {"oldest_active_cookie", oldest ? std::to_string(*oldest) : "none"},
                                                {"margin", std::to_string(options_.margin)},
                                                {"removed", std::to_string(run.result.removed)},
                                                {"kept", std::to_string(run.result.kept)},
                                                {"took_us", std::to_string(run.took.count())}});
  }
  return run;
}

void Compactor::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, options_.interval, [&] { return stopping_; })) return;
    lock.unlock();
    try {
      (void)runOnce();
    } catch (const std::exception& e) {
      {
        std::lock_guard l(mu_);
        ++stats_.failures;
      }
      if (options_.log != nullptr) options_.log->error("change log compaction failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

}  // namespace plasma::node
