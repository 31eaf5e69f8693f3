#include "plasma/server_live.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "plasma/commit.hpp"
#include "plasma/database.hpp"
#include "plasma/error.hpp"

namespace plasma {
namespace detail {

class ServerLiveRunner {
 public:
  ServerLiveRunner(std::function<void()> tick, std::chrono::milliseconds heartbeat,
                   std::function<void(std::exception_ptr)> on_error)
      : tick_(std::move(tick)), heartbeat_(heartbeat), on_error_(std::move(on_error)) {}

  void start(Database& db, std::vector<const TableSpec*> tables) {
    tables_ = std::move(tables);
    subscription_ = db.onCommit([this](const std::shared_ptr<const CommitEvent>& e) {
      if (!relevant(*e)) return;
      {
        std::lock_guard lock(mu_);
        dirty_ = true;
      }
      cv_.notify_all();
    });
    thread_ = std::thread([this] { loop(); });
  }

  void stop() noexcept {
    subscription_.reset();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  ~ServerLiveRunner() { stop(); }
  std::uint64_t runs() const noexcept { return runs_.load(); }

 private:
  bool relevant(const CommitEvent& e) const {
    if (tables_.empty()) return true;
    for (const auto& c : e.changes) {
      if (std::find(tables_.begin(), tables_.end(), c.table) != tables_.end()) return true;
    }
    return false;
  }

  void run() {
    try {
      tick_();
    } catch (...) {
      if (on_error_) on_error_(std::current_exception());
    }
    ++runs_;
  }

  void loop() {
    run();  // the first result at start
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, heartbeat_, [&] { return stopping_ || dirty_; });  // woken by a commit, or the heartbeat
      if (stopping_) return;
      dirty_ = false;  // commits arriving during run() set it again: one more run
      lock.unlock();
      run();
      lock.lock();
    }
  }

  std::function<void()> tick_;
  std::chrono::milliseconds heartbeat_;
  std::function<void(std::exception_ptr)> on_error_;
  std::vector<const TableSpec*> tables_;
  CommitSubscription subscription_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> runs_{0};
};

}  // namespace detail

ServerLiveHandle startServerLive(Database& db, std::vector<std::string> tables, std::function<void()> tick,
                                 std::chrono::milliseconds heartbeat, std::function<void(std::exception_ptr)> on_error) {
  if (!tick) throw Error(ErrorCode::InvalidArgument, "serverLiveSelect: fetch and onChange are required");
  if (heartbeat.count() <= 0) throw Error(ErrorCode::InvalidArgument, "serverLiveSelect: heartbeat must be positive");
  std::vector<const TableSpec*> specs;
  for (const auto& name : tables) {
    const TableSpec* t = db.schema().find(name);
    if (t == nullptr) throw Error(ErrorCode::UnknownTable, "serverLiveSelect: no table '" + name + "' in the schema");
    specs.push_back(t);
  }
  auto runner = std::make_shared<detail::ServerLiveRunner>(std::move(tick), heartbeat, std::move(on_error));
  runner->start(db, std::move(specs));
  return ServerLiveHandle(std::move(runner));
}

void ServerLiveHandle::stop() noexcept {
  if (runner_) {
    runner_->stop();
    runner_.reset();
  }
}

std::uint64_t ServerLiveHandle::runs() const noexcept { return runner_ ? runner_->runs() : 0; }

}  // namespace plasma
