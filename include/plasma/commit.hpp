// plasma/commit.hpp — observing committed transactions.
//
// Database::onCommit registers an observer that receives, after each
// committed write transaction that changed rows, the net change per row
// (first before-image, last after-image; a row changed and changed back, or
// inserted and deleted, in one transaction is left out) and, on request, a
// read snapshot of exactly the state that commit produced.
//
// Observers run on the committing thread, in commit order, while the next
// commit waits: they must be quick (hand the event to a queue). Live
// queries (live.hpp) are built on this.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plasma/row.hpp"
#include "plasma/schema.hpp"

namespace plasma {

class ReadTx;

namespace detail {
class DatabaseImpl;
class TxnState;
}  // namespace detail

struct RowChange {
  const TableSpec* table = nullptr;
  std::string id;
  std::optional<OwnedRow> before;  // absent: the row was inserted
  std::optional<OwnedRow> after;   // absent: the row was deleted
};

// A read transaction pinned at one commit. Holding it keeps LMDB from
// reusing the pages it sees: release it soon. Usable from any thread, one at
// a time.
class ReadSnapshot {
 public:
  ReadSnapshot(detail::DatabaseImpl& db, detail::TxnState* state) noexcept : db_(&db), state_(state) {}
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot();
  // Runs fn(ReadTx&) on the snapshot.
  void read(const std::function<void(ReadTx&)>& fn) const;
  detail::TxnState& state() const noexcept { return *state_; }

 private:
  detail::DatabaseImpl* db_;
  detail::TxnState* state_;
};

struct CommitEvent {
  std::uint64_t sequence = 0;  // commits observed in this process: 1, 2, ...
  std::vector<RowChange> changes;
  // Set when an observer asked for snapshots — unless LMDB had no reader
  // slot left at that moment (OpenOptions::max_readers): then null.
  std::shared_ptr<const ReadSnapshot> snapshot;
  // Another process committed to this directory (Database::
  // checkExternalCommits): `changes` is empty — which rows changed is not
  // known — and there is no snapshot. Observers re-read what they need.
  bool external = false;
  // The tables this commit changed (each once).
  std::vector<const TableSpec*> tables() const;
};

using CommitObserver = std::function<void(const std::shared_ptr<const CommitEvent>&)>;

// Unregisters its observer when destroyed (or on reset()).
class CommitSubscription {
 public:
  CommitSubscription() = default;
  CommitSubscription(detail::DatabaseImpl* db, std::uint64_t id) : db_(db), id_(id) {}
  CommitSubscription(CommitSubscription&& o) noexcept : db_(std::exchange(o.db_, nullptr)), id_(o.id_) {}
  CommitSubscription& operator=(CommitSubscription&& o) noexcept {
    if (this != &o) {
      reset();
      db_ = std::exchange(o.db_, nullptr);
      id_ = o.id_;
    }
    return *this;
  }
  CommitSubscription(const CommitSubscription&) = delete;
  CommitSubscription& operator=(const CommitSubscription&) = delete;
  ~CommitSubscription() { reset(); }
  void reset() noexcept;

 private:
  detail::DatabaseImpl* db_ = nullptr;
  std::uint64_t id_ = 0;
};

}  // namespace plasma
