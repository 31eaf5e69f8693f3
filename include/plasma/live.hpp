// plasma/live.hpp — live queries maintained incrementally (IVM).
//
//   auto live = db.select().from(todos).where(eq(todos.done, 0)).orderBy(desc(todos.updatedAt)).limit(20).live();
//   auto sub = live.subscribeDelta([](const plasma::LiveDelta& d) { ... });
//   live.whenReady();
//
// classifyIvm says how a query is maintained:
// - Select (one table; where, orderBy, limit/offset, projection): each
//   committed change is tested against the predicate before and after and
//   the row is inserted, moved or removed by its sort key (order terms, then
//   id). The maintained state is the ordered set of matching rows — for a
//   limited query only those up to a bound (the window plus a margin),
//   refilled from the commit's snapshot (a table scan) when the window runs
//   short; the window [offset, offset + limit) is read from it.
// - Aggregate (one table; groupBy, count/sum/avg/min/max, having): per-group
//   accumulators updated by inverse (count, sum, avg) or through a counted
//   multiset (min, max); groups appear and disappear; having, order and
//   limit apply to the output.
// - None (joins, subqueries): re-run when a table it reads changed; the delta
//   is computed by row identity (the output values).
//
// Threading: maintenance runs on one thread per database (the live-query
// thread), fed by commit observers (commit.hpp) with a snapshot of each
// commit, in commit order. Callbacks run on that thread, or are posted to
// LiveOptions::executor. Writers never wait for live queries: up to 32
// commits queue per database (each holds an LMDB reader slot); if a slow
// subscriber lets the queue fill, the queued commits are dropped and every
// live query is recomputed from a fresh snapshot, delivering one net delta
// — so memory and reader slots stay bounded and no change is lost, only
// coalesced. One notification per committed transaction that changed the
// result (a change of order alone notifies subscribe() callers only); none
// when it did not.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "plasma/query.hpp"

namespace plasma {

enum class IvmClass : std::uint8_t { Select, Aggregate, None };
std::string_view ivmClassName(IvmClass c) noexcept;
IvmClass classifyIvm(const SelectBuilder& query);

struct LiveDelta {
  std::vector<ResultRow> added;
  std::vector<ResultRow> removed;
  std::vector<std::pair<ResultRow, ResultRow>> changed;  // (before, after) of the same row or group
  bool empty() const noexcept { return added.empty() && removed.empty() && changed.empty(); }
};

struct LiveOptions {
  // Runs a callback; empty: callbacks run on the live-query thread.
  std::function<void(std::function<void()>)> executor;
};

namespace detail {
class LiveState;
}

// Unsubscribes when destroyed or reset(); after reset() returns, the
// callback is not running and will not run again (unless reset() is called
// from inside that callback, which is allowed). subscribe() and reset() wait
// for a callback in flight: do not call them while holding a lock that your
// callback takes (ThreadSanitizer reports that pattern as a lock-order
// inversion, and it can deadlock).
class LiveSubscription {
 public:
  LiveSubscription() = default;
  LiveSubscription(std::shared_ptr<detail::LiveState> state, std::uint64_t id) : state_(std::move(state)), id_(id) {}
  LiveSubscription(LiveSubscription&&) noexcept = default;
  LiveSubscription& operator=(LiveSubscription&& o) noexcept {
    if (this != &o) {
      reset();
      state_ = std::move(o.state_);
      id_ = o.id_;
    }
    return *this;
  }
  ~LiveSubscription() { reset(); }
  void reset() noexcept;

 private:
  std::shared_ptr<detail::LiveState> state_;
  std::uint64_t id_ = 0;
};

class LiveQuery {
 public:
  explicit LiveQuery(std::shared_ptr<detail::LiveState> state) : state_(std::move(state)) {}
  LiveQuery(LiveQuery&&) noexcept = default;
  LiveQuery& operator=(LiveQuery&& o) noexcept;
  // Stops maintenance (and every subscription) when the last handle goes.
  ~LiveQuery();

  // fn(rows) with the whole result: once when ready, then after each change.
  LiveSubscription subscribe(std::function<void(const std::vector<ResultRow>&)> fn);
  // fn(delta): the first delta adds the initial rows, then one per change.
  LiveSubscription subscribeDelta(std::function<void(const LiveDelta&)> fn);
  // Blocks until the initial result has been computed.
  void whenReady() const;
  // Blocks until every commit made before this call has been applied.
  void sync() const;
  // The maintained result now.
  std::vector<ResultRow> rows() const;
  IvmClass ivmClass() const noexcept;
  // Memory held by the maintained state, in bytes (approximate; measured
  // with the first result, when the result's size moves by a quarter, and
  // every 32nd change).
  std::size_t memoryBytes() const;
  // The last error met while maintaining the query (e.g. an integer
  // overflow in sum()); empty when none. The result keeps its last good state.
  std::string lastError() const;

 private:
  std::shared_ptr<detail::LiveState> state_;
};

}  // namespace plasma
