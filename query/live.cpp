// Live queries: one hub per database runs every live query's maintenance on
// its own thread, fed by a commit observer (with snapshots) through a
// bounded queue. See plasma/live.hpp for the contract.
#include "plasma/live.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <optional>

#include "engine/keys.hpp"
#include "plasma/commit.hpp"
#include "plasma/database.hpp"
#include "query/eval.hpp"
#include "query/plan.hpp"

namespace plasma {

std::string_view ivmClassName(IvmClass c) noexcept {
  switch (c) {
    case IvmClass::Select: return "select";
    case IvmClass::Aggregate: return "aggregate";
    case IvmClass::None: return "none";
  }
  return "?";
}

namespace detail {

namespace {

// Commits waiting for the live-query thread. Each holds an LMDB read
// snapshot (a reader slot, 126 by default), so the bound stays well below
// max_readers; past it the queue coalesces into one recompute.
constexpr std::size_t kQueueMax = 32;

// Exact integer sums under inverse updates (GCC/Clang extension).
__extension__ typedef __int128 Int128;

IvmClass classify(const QueryPlan& plan) {
  const bool one_table = plan.sources.size() == 1 && plan.sources.front().table != nullptr;
  if (!one_table) return IvmClass::None;
  return plan.aggregate ? IvmClass::Aggregate : IvmClass::Select;
}

void tablesOf(const QueryPlan& plan, std::vector<const TableSpec*>& out) {
  for (const auto& s : plan.sources) {
    if (s.table != nullptr) out.push_back(s.table->spec);
    if (s.subquery) tablesOf(*s.subquery, out);
  }
}

std::string encodeValues(const std::vector<Value>& values) {
  std::string key;
  for (const auto& v : values) {
    if (v.kind() == Kind::File) {
      key += "\x7F" + v.asFile().hash;
      continue;
    }
    keys::encodeKeyPart(v, key);
  }
  return key;
}

// An output row and its identity (for deltas). Immutable and shared: a
// maintainer hands out the same object again for a row that did not change,
// so publishing a commit compares pointers and reads (and copies) only the
// rows that changed — a live query's rows are mostly cold in the cache when
// one commit among many reaches it.
struct OutRow {
  std::string identity;
  ResultRow row;
};
using OutRowPtr = std::shared_ptr<const OutRow>;
using OutRows = std::vector<OutRowPtr>;

int compareKeys(const std::vector<Value>& a, const std::vector<Value>& b, const std::vector<OrderTerm>& order) {
  for (std::size_t i = 0; i < order.size(); ++i) {
    const int c = query::compareForSort(a[i], b[i]);
    if (c != 0) return order[i].direction == SortDirection::Asc ? c : -c;
  }
  return 0;
}

// ---- maintainers ----------------------------------------------------------------

class Maintainer {
 public:
  virtual ~Maintainer() = default;
  virtual void init(TxnState& snapshot) = 0;
  // Applies one commit; returns false when the output cannot have changed.
  // `snapshot` (the state at that commit) may be null when it could not be
  // taken; maintainers that need it then throw, and the hub recomputes.
  virtual bool apply(const CommitEvent& event, TxnState* snapshot) = 0;
  virtual OutRows output() const = 0;
  virtual std::size_t memoryBytes() const = 0;
};

std::size_t valuesBytes(const std::vector<Value>& vs) {
  std::size_t n = vs.capacity() * sizeof(Value);
  for (const auto& v : vs) {
    if (v.kind() == Kind::Text) n += v.asText().capacity();
    if (v.kind() == Kind::Json) n += v.asJson().capacity();
  }
  return n;
}

// Select class: the ordered set of matching rows.
class SelectMaintainer final : public Maintainer {
 public:
  explicit SelectMaintainer(std::shared_ptr<const QueryPlan> plan) : plan_(std::move(plan)), ordered_(Cmp{this}) {}

  // A limited query keeps only the matching rows that sort at or before a
  // bound (at most capacity(): the window plus a margin) — always the exact
  // set of matching rows up to `bound_`, so its first offset + limit rows
  // are the window. No bound: the set is the whole result.
  void init(TxnState& snapshot) override {
    if (plan_->limit >= 0 && refill(snapshot)) return;
    scanAll(snapshot);
  }

  bool apply(const CommitEvent& event, TxnState* snapshot) override {
    const TableSpec* table = plan_->sources.front().table->spec;
    bool touched = false;
    for (const auto& c : event.changes) {
      if (c.table != table) continue;
      // A row that matched before is in the set; one that did not, is not:
      // test the predicate on both images before touching the set.
      const bool was = c.before && matches(c.before->view());
      const bool is = c.after && matches(c.after->view());
      if (!was && !is) continue;
      if (was) {
        auto it = by_id_.find(c.id);
        if (it != by_id_.end()) {
          ordered_.erase(it->second.get());
          by_id_.erase(it);
        }
      }
      if (is) insertIfInPrefix(c.after->view());
      touched = true;
    }
    trim();
    // The window ran short while rows past the prefix exist: refill the
    // prefix from this commit's snapshot (see refill()).
    if (bound_ && static_cast<std::int64_t>(ordered_.size()) < plan_->offset + plan_->limit) {
      if (snapshot == nullptr) throw Error(ErrorCode::Storage, "live query: no snapshot to refill the window");
      init(*snapshot);
      touched = true;
    }
    return touched;
  }

  OutRows output() const override {
    OutRows out;
    std::int64_t rank = 0;
    const std::int64_t end = plan_->limit < 0 ? std::numeric_limits<std::int64_t>::max() : plan_->offset + plan_->limit;
    for (const Entry* e : ordered_) {
      if (rank >= end) break;
      if (rank++ < plan_->offset) continue;
      out.push_back(e->out);
    }
    return out;
  }

  std::size_t memoryBytes() const override {
    std::size_t n = 0;
    for (const auto& [id, e] : by_id_) {
      n += sizeof(Entry) + valuesBytes(e->keys) + 64;
      n += sizeof(OutRow) + e->out->identity.capacity() + valuesBytes(e->out->row.values()) + 32;
    }
    return n;
  }

 private:
  struct Entry {
    std::vector<Value> keys;  // order terms
    OutRowPtr out;            // the output row (projection), built once when the row enters the set
    const std::string& id() const noexcept { return out->identity; }  // the row's id
  };
  // Where a row sorts: its order keys, ties in id order.
  struct Position {
    std::vector<Value> keys;
    std::string id;
  };
  bool sortsBefore(const std::vector<Value>& a_keys, std::string_view a_id, const std::vector<Value>& b_keys,
                   std::string_view b_id) const {
    const int c = compareKeys(a_keys, b_keys, plan_->order);
    return c != 0 ? c < 0 : a_id < b_id;
  }
  struct Cmp {
    const SelectMaintainer* self;
    bool operator()(const Entry* a, const Entry* b) const { return self->sortsBefore(a->keys, a->id(), b->keys, b->id()); }
  };

  // Every matching row of the table (unlimited queries, and the fallback).
  void scanAll(TxnState& snapshot) {
    ordered_.clear();
    by_id_.clear();
    RowScanner scanner(snapshot, *plan_->sources.front().table);
    while (scanner.next()) add(scanner.row());
    bound_.reset();
    trim();
  }

  // Fills the set by running the query's own plan with limit capacity():
  // where an index serves the order (or the where) that is one index seek
  // and a walk of at most capacity() rows; where none does, the executor's
  // bounded scan. Returns false when the result cannot define a bound (the
  // rows tied at the cut fill the whole window): the caller scans instead.
  bool refill(TxnState& snapshot) {
    QueryPlan limited = *plan_;
    limited.offset = 0;
    limited.limit = static_cast<std::int64_t>(capacity());
    limited.plain = true;  // one table: the maintainer builds its entries from whole rows
    ordered_.clear();
    by_id_.clear();
    bound_.reset();
    std::size_t returned = 0;
    executeRows(limited, snapshot, {}, [&](const RowView& row) {
      insert(row);
      ++returned;
      return true;
    });
    if (returned < capacity()) return true;  // the whole result: no bound
    // The rows tied with the last one at the cut need not all have come (ties
    // are ordered by id here, not by the executor): drop that tie group, so the
    // set is again every matching row up to its last entry.
    const std::vector<Value> cut = (*std::prev(ordered_.end()))->keys;
    while (!ordered_.empty() && compareKeys((*std::prev(ordered_.end()))->keys, cut, plan_->order) == 0) dropLast();
    if (static_cast<std::int64_t>(ordered_.size()) < plan_->offset + plan_->limit) return false;
    const Entry* last = *std::prev(ordered_.end());
    bound_ = Position{last->keys, last->id()};
    return true;
  }

  std::size_t capacity() const {
    if (plan_->limit < 0) return std::numeric_limits<std::size_t>::max();
    return static_cast<std::size_t>(plan_->offset + 2 * plan_->limit + 16);
  }

  // Drops entries past the capacity; the bound becomes the last kept row
  // (every dropped or unknown matching row sorts after it).
  void trim() {
    if (ordered_.size() <= capacity()) return;
    while (ordered_.size() > capacity()) dropLast();
    const Entry* last = *std::prev(ordered_.end());
    bound_ = Position{last->keys, last->id()};
  }

  void dropLast() {
    const auto last = std::prev(ordered_.end());
    const auto it = by_id_.find((*last)->id());  // before the erase, which destroys the entry (and the key's text)
    ordered_.erase(last);
    by_id_.erase(it);
  }

  // A matching row joins the set unless it sorts past the bound.
  void insertIfInPrefix(const RowView& row) {
    std::vector<Value> keys = orderKeys(row);
    if (bound_ && sortsBefore(bound_->keys, bound_->id, keys, row.id())) return;
    insert(row, std::move(keys));
  }

  std::vector<Value> orderKeys(const RowView& row) const {
    const query::RowSource src(row);
    std::vector<Value> keys;
    keys.reserve(plan_->order.size());
    for (const auto& o : plan_->order) keys.push_back(query::evalValue(o.expr, src));
    return keys;
  }

  bool matches(const RowView& row) const {
    return !plan_->source_filter || query::matches(plan_->source_filter, query::RowSource(row));
  }

  bool add(const RowView& row) {
    if (!matches(row)) return false;
    insert(row);
    return true;
  }

  void insert(const RowView& row) { insert(row, orderKeys(row)); }

  void insert(const RowView& row, std::vector<Value> keys) {
    const query::RowSource src(row);
    std::vector<Value> values;
    values.reserve(plan_->projection.size());
    for (const auto& p : plan_->projection) values.push_back(query::evalValue(p.expr, src));
    auto e = std::make_unique<Entry>();
    e->keys = std::move(keys);
    e->out = std::make_shared<const OutRow>(OutRow{std::string(row.id()), ResultRow(plan_->shape, std::move(values))});
    if (auto old = by_id_.find(e->id()); old != by_id_.end()) {  // never two entries for one id
      ordered_.erase(old->second.get());
      by_id_.erase(old);
    }
    ordered_.insert(e.get());
    const std::string_view id = e->id();
    by_id_.emplace(id, std::move(e));
  }

  std::shared_ptr<const QueryPlan> plan_;
  std::set<const Entry*, Cmp> ordered_;
  std::unordered_map<std::string_view, std::unique_ptr<Entry>> by_id_;  // keys view their entry's id
  std::optional<Position> bound_;
};

// Aggregate class: per-group accumulators, updated by inverse.
class AggregateMaintainer final : public Maintainer {
 public:
  explicit AggregateMaintainer(std::shared_ptr<const QueryPlan> plan) : plan_(std::move(plan)) {}

  void init(TxnState& snapshot) override {
    groups_.clear();
    RowScanner scanner(snapshot, *plan_->sources.front().table);
    while (scanner.next()) contribute(scanner.row(), +1);
  }

  bool apply(const CommitEvent& event, TxnState* /*snapshot*/) override {
    const TableSpec* table = plan_->sources.front().table->spec;
    bool touched = false;
    for (const auto& c : event.changes) {
      if (c.table != table) continue;
      if (c.before) touched = contribute(c.before->view(), -1) || touched;
      if (c.after) touched = contribute(c.after->view(), +1) || touched;
    }
    return touched;
  }

  OutRows output() const override {
    struct Keyed {
      std::vector<Value> keys;
      OutRow row;
    };
    std::vector<Keyed> rows;
    auto emit = [&](const std::string& key, const Group& g) {
      const GroupSource src(*this, g);
      if (plan_->having && !query::matches(plan_->having, src)) return;
      std::vector<Value> order_keys;
      for (const auto& o : plan_->order) order_keys.push_back(query::evalValue(o.expr, src));
      std::vector<Value> values;
      for (const auto& p : plan_->projection) values.push_back(query::evalValue(p.expr, src));
      rows.push_back(Keyed{std::move(order_keys), OutRow{key, ResultRow(plan_->shape, std::move(values))}});
    };
    if (plan_->group_by.empty()) {
      auto it = groups_.find(std::string());
      emit(std::string(), it != groups_.end() ? it->second : emptyGroup());
    } else {
      for (const auto& [key, g] : groups_) emit(key, g);
    }
    std::stable_sort(rows.begin(), rows.end(), [&](const Keyed& a, const Keyed& b) {
      const int c = compareKeys(a.keys, b.keys, plan_->order);
      return c != 0 ? c < 0 : a.row.identity < b.row.identity;
    });
    OutRows out;
    const std::int64_t end = plan_->limit < 0 ? std::numeric_limits<std::int64_t>::max() : plan_->offset + plan_->limit;
    for (std::int64_t i = plan_->offset; i < static_cast<std::int64_t>(rows.size()) && i < end; ++i) {
      out.push_back(std::make_shared<const OutRow>(std::move(rows[static_cast<std::size_t>(i)].row)));
    }
    return out;
  }

  std::size_t memoryBytes() const override {
    std::size_t n = 0;
    for (const auto& [k, g] : groups_) {
      n += k.capacity() + valuesBytes(g.keys) + g.accs.size() * sizeof(Acc) + 64;
      for (const auto& a : g.accs) n += a.multiset.size() * 96;
    }
    return n;
  }

 private:
  struct Acc {
    std::int64_t count = 0;     // non-NULL inputs (rows for count())
    std::int64_t reals = 0;     // inputs that were reals
    Int128 isum = 0;
    double dsum = 0;
    std::map<std::string, std::pair<Value, std::int64_t>> multiset;  // min/max: value -> occurrences
  };
  struct Group {
    std::vector<Value> keys;
    std::int64_t rows = 0;
    std::vector<Acc> accs;
  };

  const Group& emptyGroup() const {
    if (!empty_) {
      empty_ = std::make_unique<Group>();
      empty_->accs.resize(plan_->aggregates.size());
    }
    return *empty_;
  }

  class GroupSource final : public query::ColumnSource {
   public:
    GroupSource(const AggregateMaintainer& m, const Group& g) : m_(m), g_(g) {}
    Value column(const TableSpec* table, std::uint32_t column) const override {
      for (std::size_t k = 0; k < m_.plan_->group_by.size(); ++k) {
        const ExprNode& n = m_.plan_->group_by[k].node();
        if (n.op == ExprOp::Column && n.table == table && n.column == column) return g_.keys[k];
      }
      throw Error(ErrorCode::InvalidArgument, "column " + table->name + "." + table->columns.at(column).name +
                                                  " must appear in groupBy() or inside an aggregate");
    }
    Value aggregate(const ExprNode& node) const override {
      for (std::size_t i = 0; i < m_.plan_->aggregates.size(); ++i) {
        if (m_.plan_->aggregates[i] == &node) return result(node, g_.accs[i]);
      }
      return ColumnSource::aggregate(node);
    }

   private:
    const AggregateMaintainer& m_;
    const Group& g_;
  };

  static Value result(const ExprNode& agg, const Acc& a) {
    switch (agg.aggregate) {
      case AggregateFn::CountStar:
      case AggregateFn::Count: return Value(a.count);
      case AggregateFn::Sum:
        if (a.count == 0) return Value();
        if (a.reals > 0) return Value(a.dsum + static_cast<double>(a.isum));
        if (a.isum > std::numeric_limits<std::int64_t>::max() || a.isum < std::numeric_limits<std::int64_t>::min()) {
          throw Error(ErrorCode::InvalidArgument, "sum(" + agg.children[0].toString() + "): integer overflow");
        }
        return Value(static_cast<std::int64_t>(a.isum));
      case AggregateFn::Avg:
        if (a.count == 0) return Value();
        return Value((a.dsum + static_cast<double>(a.isum)) / static_cast<double>(a.count));
      case AggregateFn::Min:
        return a.multiset.empty() ? Value() : a.multiset.begin()->second.first;
      case AggregateFn::Max:
        return a.multiset.empty() ? Value() : a.multiset.rbegin()->second.first;
    }
    return Value();
  }

  static void update(const ExprNode& agg, Acc& a, const query::ColumnSource& src, int sign) {
    if (agg.aggregate == AggregateFn::CountStar) {
      a.count += sign;
      return;
    }
    const Value v = query::evalValue(agg.children[0], src);
    if (v.isNull()) return;
    a.count += sign;
    switch (agg.aggregate) {
      case AggregateFn::Sum:
      case AggregateFn::Avg:
        if (v.kind() == Kind::Real) {
          a.reals += sign;
          a.dsum += sign * v.asReal();
        } else if (v.kind() == Kind::Integer || v.kind() == Kind::Boolean) {
          const std::int64_t x = v.kind() == Kind::Integer ? v.asInt() : (v.asBool() ? 1 : 0);
          a.isum += static_cast<Int128>(sign) * x;  // 128 bits: exact under any order of updates
        } else {
          throw Error(ErrorCode::TypeMismatch, std::string(aggregateName(agg.aggregate)) + "(): " +
                                                   std::string(kindName(v.kind())) + " is not a number");
        }
        return;
      case AggregateFn::Min:
      case AggregateFn::Max: {
        std::string key;
        keys::encodeKeyPart(v, key);
        auto& slot = a.multiset[key];
        if (slot.second == 0) slot.first = v;
        slot.second += sign;
        if (slot.second <= 0) a.multiset.erase(key);
        return;
      }
      default: return;
    }
  }

  // Adds (sign +1) or removes (-1) one row's contribution; false when the
  // row does not pass the filter.
  bool contribute(const RowView& row, int sign) {
    const query::RowSource src(row);
    if (plan_->source_filter && !query::matches(plan_->source_filter, src)) return false;
    std::vector<Value> keys;
    for (const auto& e : plan_->group_by) keys.push_back(query::evalValue(e, src));
    const std::string key = encodeValues(keys);
    auto it = groups_.find(key);
    if (it == groups_.end()) {
      if (sign < 0) return true;  // cannot happen for a consistent history; nothing to remove
      Group g;
      g.keys = std::move(keys);
      g.accs.resize(plan_->aggregates.size());
      it = groups_.emplace(key, std::move(g)).first;
    }
    Group& g = it->second;
    g.rows += sign;
    for (std::size_t i = 0; i < plan_->aggregates.size(); ++i) update(*plan_->aggregates[i], g.accs[i], src, sign);
    if (g.rows <= 0) groups_.erase(it);  // the last row left the group
    return true;
  }

  std::shared_ptr<const QueryPlan> plan_;
  std::map<std::string, Group> groups_;
  mutable std::unique_ptr<Group> empty_;
};

// None class: re-run on the commit's snapshot; identity by values.
class RerunMaintainer final : public Maintainer {
 public:
  explicit RerunMaintainer(std::shared_ptr<const QueryPlan> plan) : plan_(std::move(plan)) {}
  void init(TxnState& snapshot) override { run(snapshot); }
  bool apply(const CommitEvent& /*event*/, TxnState* snapshot) override {
    if (snapshot == nullptr) throw Error(ErrorCode::Storage, "live query: no snapshot for this commit");
    run(*snapshot);
    return true;
  }
  OutRows output() const override { return rows_; }
  std::size_t memoryBytes() const override {
    std::size_t n = 0;
    for (const auto& r : rows_) n += r->identity.capacity() + valuesBytes(r->row.values()) + 64;
    return n;
  }

 private:
  void run(TxnState& snapshot) {
    rows_.clear();
    std::unordered_map<std::string, int> seen;
    static const std::vector<Value> kNoParams;
    executeProjected(*plan_, snapshot, kNoParams, [&](std::vector<Value>&& values) {
      std::string id = encodeValues(values);
      id += "#" + std::to_string(seen[id]++);  // duplicates are distinct rows
      rows_.push_back(std::make_shared<const OutRow>(OutRow{std::move(id), ResultRow(plan_->shape, std::move(values))}));
      return true;
    });
  }
  std::shared_ptr<const QueryPlan> plan_;
  OutRows rows_;
};

// The change from `before` to `after`, by identity: added and changed rows
// in `after`'s order, removed ones in `before`'s. A row object present in
// both is unchanged without being read; only the others are matched by
// identity and compared.
LiveDelta diff(const OutRows& before, const OutRows& after) {
  LiveDelta d;
  std::vector<std::pair<const OutRow*, std::size_t>> by_ptr;  // before's rows, sorted by address
  by_ptr.reserve(before.size());
  for (std::size_t i = 0; i < before.size(); ++i) by_ptr.emplace_back(before[i].get(), i);
  std::sort(by_ptr.begin(), by_ptr.end());
  std::vector<bool> same(before.size(), false);
  std::vector<const OutRow*> fresh;  // after's rows that are not one of before's objects
  for (const auto& r : after) {
    auto it = std::lower_bound(by_ptr.begin(), by_ptr.end(), std::pair<const OutRow*, std::size_t>(r.get(), 0));
    if (it != by_ptr.end() && it->first == r.get()) {
      same[it->second] = true;
    } else {
      fresh.push_back(r.get());
    }
  }
  if (fresh.empty() && std::find(same.begin(), same.end(), false) == same.end()) return d;
  std::unordered_map<std::string_view, const OutRow*> old;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (!same[i]) old.emplace(before[i]->identity, before[i].get());
  }
  for (const OutRow* r : fresh) {
    auto it = old.find(r->identity);
    if (it == old.end()) {
      d.added.push_back(r->row);
      continue;
    }
    if (!(it->second->row == r->row)) d.changed.emplace_back(it->second->row, r->row);
    old.erase(it);
  }
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (!same[i] && old.contains(before[i]->identity)) d.removed.push_back(before[i]->row);
  }
  return d;
}

}  // namespace

// ---- state of one live query ----------------------------------------------------------

class LiveHub;

class LiveState : public std::enable_shared_from_this<LiveState> {
 public:
  LiveState(std::shared_ptr<LiveHub> hub, std::shared_ptr<const QueryPlan> plan, LiveOptions options)
      : hub_(std::move(hub)), plan_(std::move(plan)), cls_(classify(*plan_)), options_(std::move(options)) {
    tablesOf(*plan_, tables_);
    switch (cls_) {
      case IvmClass::Select: maintainer_ = std::make_unique<SelectMaintainer>(plan_); break;
      case IvmClass::Aggregate: maintainer_ = std::make_unique<AggregateMaintainer>(plan_); break;
      case IvmClass::None: maintainer_ = std::make_unique<RerunMaintainer>(plan_); break;
    }
  }

  IvmClass ivmClass() const noexcept { return cls_; }

  // A top-level `column = constant` of the from table: the hub hands this
  // query only the commits whose changed rows had or have that value.
  struct Route {
    const TableSpec* table = nullptr;
    std::uint32_t column = 0;
    std::string key;  // the constant, key-encoded
  };
  std::optional<Route> route() const {
    if (cls_ == IvmClass::None || !plan_->source_filter) return std::nullopt;
    const TableSpec* table = plan_->sources.front().table->spec;
    std::vector<Expr> terms;
    query::flattenAnd(plan_->source_filter, terms);
    for (const auto& t : terms) {
      const ExprNode& n = t.node();
      if (n.op != ExprOp::Eq) continue;
      const ExprNode* col = &n.children[0].node();
      const ExprNode* lit = &n.children[1].node();
      if (col->op != ExprOp::Column) std::swap(col, lit);
      if (col->op != ExprOp::Column || col->table != table || lit->op != ExprOp::Literal) continue;
      const Kind k = lit->value.kind();
      if (k != Kind::Integer && k != Kind::Text && k != Kind::Boolean) continue;
      std::string key;
      keys::encodeKeyPart(lit->value, key);
      return Route{table, col->column, std::move(key)};
    }
    return std::nullopt;
  }
  LiveHub& hub() const noexcept { return *hub_; }
  bool reads(const CommitEvent& e) const {
    for (const auto& c : e.changes) {
      if (std::find(tables_.begin(), tables_.end(), c.table) != tables_.end()) return true;
    }
    return false;
  }

  // Live-query thread only.
  void init(std::uint64_t sequence, TxnState& snapshot) {
    std::string error;
    try {
      maintainer_->init(snapshot);
    } catch (const std::exception& e) {
      error = e.what();
    }
    publish(sequence, error, /*initial=*/!ready_);
    {
      std::lock_guard lock(mu_);
      ready_ = true;
    }
    cv_.notify_all();
  }

  void apply(const CommitEvent& e) {
    // Before its initial result a query has no state to update: commits
    // queued ahead of its init are in that result already (or come after).
    if (!ready_ || closed_ || e.sequence <= sequence_ || !reads(e)) return;
    bool touched = false;
    std::string error;
    try {
      touched = maintainer_->apply(e, e.snapshot ? &e.snapshot->state() : nullptr);
    } catch (const std::exception& ex) {
      error = ex.what();
    }
    if (touched || !error.empty()) publish(e.sequence, error, false);
    sequence_ = e.sequence;
  }

  // The last handle went: no more maintenance or callbacks.
  void close() noexcept {
    std::lock_guard deliver(deliver_mu_);
    std::lock_guard lock(mu_);
    closed_ = true;
    subs_.clear();
  }

  OutRows current() const {
    std::lock_guard lock(mu_);
    return output_;
  }

  LiveSubscription subscribeRows(std::function<void(const std::vector<ResultRow>&)> fn) {
    return add(Sub{std::move(fn), nullptr});
  }
  LiveSubscription subscribeDelta(std::function<void(const LiveDelta&)> fn) { return add(Sub{nullptr, std::move(fn)}); }

  void unsubscribe(std::uint64_t id) noexcept {
    const bool on_delivery_thread = delivering_thread_.load() == std::this_thread::get_id();
    std::unique_lock deliver(deliver_mu_, std::defer_lock);
    if (!on_delivery_thread) deliver.lock();  // waits out a callback in flight
    std::lock_guard lock(mu_);
    subs_.erase(id);
  }

  void whenReady() const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ready_; });
  }

  // Measured on the live-query thread with the first result and then every
  // 32nd change (the state is not safe to walk from other threads).
  std::size_t memoryBytes() const { return memory_bytes_.load(); }
  std::string lastError() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }

  std::vector<ResultRow> rows() const {
    std::vector<ResultRow> out;
    for (const auto& r : current()) out.push_back(r->row);
    return out;
  }

  void setSequence(std::uint64_t s) { sequence_ = s; }

 private:
  struct Sub {
    std::function<void(const std::vector<ResultRow>&)> rows;
    std::function<void(const LiveDelta&)> delta;
    // A late subscriber's first rows (the result when it subscribed). They
    // are delivered by whichever delivery reaches this subscriber first —
    // its own posted first callback or a commit's delta published after it
    // subscribed — so a delta never arrives ahead of the rows it applies to.
    // `First::delivered` is guarded by deliver_mu_.
    struct First {
      std::shared_ptr<const std::vector<ResultRow>> rows;
      bool delivered = false;
    };
    std::shared_ptr<First> first;
  };

  // Caller holds deliver_mu_.
  static void deliverFirst(const Sub& s) {
    if (!s.first || s.first->delivered) return;
    s.first->delivered = true;
    if (s.rows) s.rows(*s.first->rows);
    if (s.delta) {
      LiveDelta delta;
      delta.added = *s.first->rows;
      s.delta(delta);
    }
  }

  LiveSubscription add(Sub sub) {
    std::uint64_t id = 0;
    bool ready = false;
    {
      std::lock_guard lock(mu_);
      if (closed_) throw Error(ErrorCode::InvalidArgument, "subscribe(): the live query was closed");
      id = next_sub_++;
      ready = ready_;
      // A late subscriber starts from the current result, taken in the same
      // critical section that registers it: every commit published after
      // this is a delta from exactly these rows.
      if (ready) sub.first = std::make_shared<Sub::First>(Sub::First{std::make_shared<const std::vector<ResultRow>>(plain(output_))});
      subs_.emplace(id, sub);
    }
    if (ready) {
      auto run = [self = shared_from_this(), id, sub] {
        std::lock_guard d(self->deliver_mu_);
        if (!self->subscribed(id)) return;
        self->delivering_thread_ = std::this_thread::get_id();
        deliverFirst(sub);
        self->delivering_thread_ = std::thread::id();
      };
      if (options_.executor) {
        options_.executor(std::move(run));
      } else {
        run();
      }
    }
    return LiveSubscription(shared_from_this(), id);
  }

  bool subscribed(std::uint64_t id) const {
    std::lock_guard lock(mu_);
    return subs_.contains(id);
  }

  static std::vector<ResultRow> plain(const OutRows& rows) {
    std::vector<ResultRow> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(r->row);
    return out;
  }

  static bool sameOrder(const OutRows& a, const OutRows& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i] && a[i]->identity != b[i]->identity) return false;
    }
    return true;
  }

  void publish(std::uint64_t sequence, const std::string& error, bool initial) {
    OutRows after;
    try {
      after = maintainer_->output();
    } catch (const std::exception& e) {  // e.g. a sum past 64 bits: keep the last good result
      std::lock_guard lock(mu_);
      sequence_ = sequence;
      if (initial) ready_ = true;
      last_error_ = e.what();
      return;
    }
    LiveDelta delta = diff(output_, after);  // output_ is written only on this thread
    const bool reordered = delta.empty() && !sameOrder(output_, after);
    std::vector<std::pair<std::uint64_t, Sub>> subs;
    {
      // One critical section: a subscriber added concurrently either sees the
      // old result and gets this delta, or sees the new one and does not.
      std::lock_guard lock(mu_);
      output_ = std::move(after);
      sequence_ = sequence;
      if (initial) ready_ = true;  // with the first result, in the same critical section as `subs`
      if (!error.empty()) last_error_ = error;
      if (delta.empty() && !reordered && !initial) return;  // nothing changed: no notification
      for (const auto& [id, s] : subs_) subs.emplace_back(id, s);
    }
    // Walking the state costs O(its size): measure with the first result,
    // when the result's size moved by a quarter, and every 32nd change — not
    // on every commit.
    const std::size_t rows_now = output_.size();
    if (initial || (++changes_since_measure_ & 31u) == 0 || rows_now > measured_rows_ + measured_rows_ / 4 + 8 ||
        rows_now + rows_now / 4 + 8 < measured_rows_) {
      memory_bytes_ = maintainer_->memoryBytes() + outputBytes();
      measured_rows_ = rows_now;
    }
    if (subs.empty()) return;
    // The whole result only for subscribers that take rows.
    const bool want_rows = std::any_of(subs.begin(), subs.end(), [](const auto& s) { return s.second.rows != nullptr; });
    auto rows = want_rows ? std::make_shared<const std::vector<ResultRow>>(plain(output_)) : nullptr;
    auto shared_delta = std::make_shared<const LiveDelta>(std::move(delta));
    auto run = [self = shared_from_this(), subs = std::move(subs), rows, shared_delta, reordered] {
      std::lock_guard deliver(self->deliver_mu_);
      self->delivering_thread_ = std::this_thread::get_id();
      for (const auto& [id, s] : subs) {
        if (!self->subscribed(id)) continue;  // reset() after this was posted
        deliverFirst(s);  // its first rows, if its own first callback has not run yet
        if (s.rows) s.rows(*rows);
        if (s.delta && !reordered) s.delta(*shared_delta);  // a pure reorder changes no row
      }
      self->delivering_thread_ = std::thread::id();
    };
    if (options_.executor) {
      options_.executor(std::move(run));
    } else {
      run();
    }
  }

  std::size_t outputBytes() const {
    std::size_t n = 0;
    for (const auto& r : output_) {
      n += sizeof(OutRowPtr);
      // A row the maintainer also holds is counted there (select, re-run);
      // an aggregate's output rows are held by the result alone.
      if (r.use_count() == 1) n += sizeof(OutRow) + r->identity.capacity() + valuesBytes(r->row.values()) + 32;
    }
    return n;
  }

  std::shared_ptr<LiveHub> hub_;
  std::shared_ptr<const QueryPlan> plan_;
  IvmClass cls_;
  LiveOptions options_;
  std::vector<const TableSpec*> tables_;
  std::unique_ptr<Maintainer> maintainer_;
  std::uint64_t sequence_ = 0;  // live-query thread only
  std::atomic<bool> closed_{false};
  std::atomic<std::size_t> memory_bytes_{0};
  std::uint32_t changes_since_measure_ = 0;  // live-query thread only
  std::size_t measured_rows_ = 0;             // live-query thread only

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool ready_ = false;
  OutRows output_;
  std::string last_error_;
  std::map<std::uint64_t, Sub> subs_;
  std::uint64_t next_sub_ = 1;

  std::recursive_mutex deliver_mu_;
  std::atomic<std::thread::id> delivering_thread_{};
};

// ---- the hub ----------------------------------------------------------------------------

// A futex sleep and wake-up costs tens of microseconds on a shared virtual
// machine, more than applying a commit to many live queries. sync() waits
// anyway, so it watches for its answer for kSyncSpin before it sleeps
// (measured in docs/live.md, "Threads and back-pressure"). The live-query
// thread itself does not spin: watching for the next commit measured
// another ~20 us off each update, but it kept a core busy while commits
// streamed and raised the client's mutate p99 (bench client_mutate_nosync).
constexpr std::chrono::microseconds kSyncSpin{200};

template <class Ready>
void spinFor(std::chrono::microseconds budget, Ready&& ready) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (unsigned i = 0;; ++i) {
    if (ready()) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= deadline) return;
  }
}

class LiveHub : public LiveHubBase {
 public:
  explicit LiveHub(DatabaseImpl& db) : db_(db) {}

  void start() {
    thread_ = std::thread([this] { loop(); });
    subscription_ = CommitSubscription(&db_, db_.addObserver([this](const std::shared_ptr<const CommitEvent>& e) { push(e); },
                                                             /*with_snapshot=*/true));
  }

  ~LiveHub() override { shutdown(); }

  // Stops the thread and releases every queued snapshot; live queries that
  // outlive the database stop changing.
  void shutdown() noexcept override {
    subscription_.reset();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  void add(const std::shared_ptr<LiveState>& state) {
    std::lock_guard lock(mu_);
    if (stopping_) throw Error(ErrorCode::InvalidArgument, "live(): the database is closing");
    states_.push_back(state);
    if (auto r = state->route()) {
      routes_[r->table][r->column][r->key].push_back(state);
    } else {
      unrouted_.push_back(state);
    }
    queue_.push_back(Item{nullptr, state, nullptr});
    cv_.notify_all();
  }

  void remove(const LiveState* state) {
    std::lock_guard lock(mu_);
    std::erase_if(states_, [&](const std::weak_ptr<LiveState>& w) {
      auto s = w.lock();
      return !s || s.get() == state;
    });
  }

  // Blocks until every commit made so far has been applied.
  void sync() {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    {
      std::lock_guard lock(mu_);
      queue_.push_back(Item{nullptr, nullptr, done});
    }
    cv_.notify_all();
    // The caller waits for this anyway: spin a little first, as the answer
    // usually comes within microseconds (see kSyncSpin).
    spinFor(kSyncSpin, [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    future.wait();
  }

 private:
  struct Item {
    std::shared_ptr<const CommitEvent> event;
    std::shared_ptr<LiveState> init;
    std::shared_ptr<std::promise<void>> done;
  };

  // On the committing thread: never blocks on live queries.
  void push(const std::shared_ptr<const CommitEvent>& e) {
    std::lock_guard lock(mu_);
    std::size_t events = 0;
    for (const auto& i : queue_) events += i.event ? 1 : 0;
    // No snapshot: LMDB had no reader slot left, or another process
    // committed (external: the rows it changed are not known).
    if (events >= kQueueMax || !e->snapshot || e->external) {
      overflow_ = true;  // coalesce: recompute everything from a fresh snapshot
      std::erase_if(queue_, [](const Item& i) { return i.event != nullptr; });
      cv_.notify_all();  // the recompute must not wait for the next commit
      return;
    }
    queue_.push_back(Item{e, nullptr, nullptr});
    cv_.notify_all();
  }

  void loop() {
    while (true) {
      Item item;
      bool resync = false;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || overflow_; });
        if (stopping_) return;
        if (overflow_) {
          overflow_ = false;
          resync = true;
        } else {
          item = std::move(queue_.front());
          queue_.pop_front();
        }
      }
      if (resync) {
        recomputeAll();
        continue;
      }
      if (item.init) {
        auto [seq, snapshot] = db_.snapshotNow();
        item.init->init(seq, snapshot->state());
        item.init->setSequence(seq);
      } else if (item.event) {
        for (const auto& s : statesFor(*item.event)) s->apply(*item.event);
      }
      if (item.done) {
        // Everything queued before this marker has been applied.
        item.done->set_value();
      }
    }
  }

  void recomputeAll() {
    auto [seq, snapshot] = db_.snapshotNow();
    for (const auto& s : statesCopy()) {
      s->init(seq, snapshot->state());
      s->setSequence(seq);
    }
  }

  // The live queries a commit can affect: unrouted ones, and routed ones
  // whose constant equals the routed column's value before or after.
  std::vector<std::shared_ptr<LiveState>> statesFor(const CommitEvent& e) {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<LiveState>> out;
    std::unordered_set<const LiveState*> seen;
    auto take = [&](std::vector<std::weak_ptr<LiveState>>& list) {
      std::erase_if(list, [](const std::weak_ptr<LiveState>& w) { return w.expired(); });
      for (const auto& w : list) {
        if (auto s = w.lock(); s && seen.insert(s.get()).second) out.push_back(std::move(s));
      }
    };
    take(unrouted_);
    for (const auto& c : e.changes) {
      auto t = routes_.find(c.table);
      if (t == routes_.end()) continue;
      for (auto& [column, by_key] : t->second) {
        for (const auto* image : {&c.before, &c.after}) {
          if (!image->has_value()) continue;
          const Value v = (*image)->view().get(column);
          if (v.isNull() || v.kind() == Kind::File) continue;
          std::string key;
          keys::encodeKeyPart(v, key);
          if (auto it = by_key.find(key); it != by_key.end()) take(it->second);
        }
      }
    }
    return out;
  }

  std::vector<std::shared_ptr<LiveState>> statesCopy() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<LiveState>> out;
    for (const auto& w : states_) {
      if (auto s = w.lock()) out.push_back(std::move(s));
    }
    std::erase_if(states_, [](const std::weak_ptr<LiveState>& w) { return w.expired(); });
    return out;
  }

  DatabaseImpl& db_;
  std::thread thread_;
  CommitSubscription subscription_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::vector<std::weak_ptr<LiveState>> states_;  // a live query lives as long as its handles
  std::vector<std::weak_ptr<LiveState>> unrouted_;
  std::unordered_map<const TableSpec*,
                     std::unordered_map<std::uint32_t, std::unordered_map<std::string, std::vector<std::weak_ptr<LiveState>>>>>
      routes_;
  bool overflow_ = false;
  bool stopping_ = false;
};

std::shared_ptr<LiveHub> hubOf(DatabaseImpl& db) {
  std::lock_guard lock(db.live_mu);
  if (!db.live_hub) {
    auto hub = std::make_shared<LiveHub>(db);
    hub->start();
    db.live_hub = hub;
  }
  return std::static_pointer_cast<LiveHub>(db.live_hub);
}

}  // namespace detail

// ---- public API -----------------------------------------------------------------------------

IvmClass classifyIvm(const SelectBuilder& query) {
  return detail::classify(*detail::planQuery(*query.context().db, query.spec(), query.context().auth_ctx.get()));
}

LiveQuery SelectBuilder::live() const { return live(LiveOptions{}); }

LiveQuery SelectBuilder::live(LiveOptions options) const {
  if (context_.txn != nullptr) {
    throw Error(ErrorCode::InvalidArgument, "live(): build live queries from a Database, not inside a transaction");
  }
  auto plan = detail::planQuery(*context_.db, *spec_, context_.auth_ctx.get());
  if (plan->params > 0) throw Error(ErrorCode::InvalidArgument, "live(): a live query cannot have param() parameters");
  auto hub = detail::hubOf(*context_.db);
  auto state = std::make_shared<detail::LiveState>(hub, std::move(plan), std::move(options));
  hub->add(state);
  return LiveQuery(std::move(state));
}

LiveQuery& LiveQuery::operator=(LiveQuery&& o) noexcept {
  if (this != &o) {
    if (state_) state_->close();
    state_ = std::move(o.state_);
  }
  return *this;
}

LiveQuery::~LiveQuery() {
  if (state_) state_->close();  // LiveQuery is move-only: this is the last handle
}

LiveSubscription LiveQuery::subscribe(std::function<void(const std::vector<ResultRow>&)> fn) {
  return state_->subscribeRows(std::move(fn));
}
LiveSubscription LiveQuery::subscribeDelta(std::function<void(const LiveDelta&)> fn) {
  return state_->subscribeDelta(std::move(fn));
}
void LiveQuery::whenReady() const { state_->whenReady(); }
void LiveQuery::sync() const {
  state_->whenReady();
  state_->hub().sync();
}
std::vector<ResultRow> LiveQuery::rows() const { return state_->rows(); }
IvmClass LiveQuery::ivmClass() const noexcept { return state_->ivmClass(); }
std::size_t LiveQuery::memoryBytes() const { return state_->memoryBytes(); }
std::string LiveQuery::lastError() const { return state_->lastError(); }

void LiveSubscription::reset() noexcept {
  if (state_) {
    state_->unsubscribe(id_);
    state_.reset();
  }
}

}  // namespace plasma
