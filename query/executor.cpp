// The executor: runs a QueryPlan inside one transaction.
//
// Pipeline: the access path yields rows of the `from` source -> its filter
// -> each join (primary-key lookup, index lookup, hash table or nested
// loop; a left join emits a NULL-filled row when nothing matches) -> the
// rest of WHERE -> a sink: direct output (stopping after offset + limit),
// a sort, or hash aggregation. Rows are RowViews into the map; values are
// copied only when projected.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <boost/container/small_vector.hpp>
#include <xxhash.h>

#include "engine/keys.hpp"
#include "plasma/error.hpp"
#include "query/eval.hpp"
#include "query/filter.hpp"
#include "query/plan.hpp"

namespace plasma::detail {

namespace {


// The rows joined so far: one slot per source.
class Tuple final : public query::ColumnSource {
 public:
  Tuple(const QueryPlan& plan, const std::vector<Value>& params)
      : plan_(plan), params_(params), rows_(plan.sources.size()) {}

  void set(std::size_t source, const RowView& row) { rows_[source] = row; }
  void clear(std::size_t source) { rows_[source].reset(); }
  void setSubRow(const std::vector<Value>* row) { sub_row_ = row; }
  const std::optional<RowView>& row(std::size_t source) const { return rows_[source]; }

  Value column(const TableSpec* table, std::uint32_t column) const override {
    const RowView* r = rowFor(table);
    return r != nullptr ? r->get(column) : Value();
  }
  const RowView* rowFor(const TableSpec* table) const override {
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      if (plan_.sources[i].table != nullptr && plan_.sources[i].table->spec == table) {
        return rows_[i] ? &*rows_[i] : nullptr;
      }
    }
    return nullptr;
  }
  Value colRef(const ExprNode& n) const override {
    const auto& sub = plan_.sources.front().subquery;
    const int i = sub ? sub->shape->find(n.name) : -1;
    if (i < 0 || sub_row_ == nullptr) return ColumnSource::colRef(n);
    return (*sub_row_)[static_cast<std::size_t>(i)];
  }
  const Value& param(std::uint32_t index) const override {
    if (index >= params_.size()) return ColumnSource::param(index);
    return params_[index];
  }

 private:
  const QueryPlan& plan_;
  const std::vector<Value>& params_;
  boost::container::small_vector<std::optional<RowView>, 4> rows_;  // no allocation per run for up to 3 joins
  const std::vector<Value>* sub_row_ = nullptr;
};

const Value& constant(const Expr& e, const std::vector<Value>& params) {
  static const Value kNull;
  const ExprNode& n = e.node();
  if (n.op == ExprOp::Param) return n.param < params.size() ? params[n.param] : kNull;
  return n.value;
}

// Whether a bound value can be used as a seek key for a column of kind k.
bool seekableValue(const Value& v, Kind k) {
  if (k == Kind::Integer || k == Kind::Boolean) return v.kind() == Kind::Integer || v.kind() == Kind::Boolean;
  if (k == Kind::Text) return v.kind() == Kind::Text;
  if (k == Kind::Blob) return v.kind() == Kind::Blob;
  return false;
}

// SQLite compares 3.0 = 3 as equal: an integral real probes a join index or
// hash table of integers as that integer (a fractional real matches none).
Value joinKey(Value key) {
  if (key.kind() == Kind::Real) {
    const double d = key.asReal();
    if (d == std::floor(d) && std::fabs(d) < 9.0e18) return Value(static_cast<std::int64_t>(d));
  }
  return key;
}


class Runner {
 public:
  Runner(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params)
      : plan_(plan), txn_(txn), params_(params), tuple_(plan, params) {
    if (params.size() < plan.params) {
      throw Error(ErrorCode::InvalidArgument, "the query has " + std::to_string(plan.params) + " parameter(s); " +
                                                  std::to_string(params.size()) + " bound");
    }
    const PlanSource& from = plan.sources.front();
    if (from.table != nullptr) {
      filter_ = query::CompiledFilter(plan.source_filter, *from.table->spec, params);
      filter_.bindLayout(*from.table->layout);
    }
    // A bound value that cannot seek the planned index makes the access
    // path fall back to a scan, which does not deliver the order.
    ordered_ = plan.order_by_access && (from.table == nullptr || accessSeekable(*from.table, plan.access));
    cache_probes_ = !txn.writable();
    batch_fetches_ = !txn.writable();
    if (!plan.joins.empty()) probes_.resize(plan.joins.size());
  }

  // Resolves the projection's plain columns to their sources (project() only).
  void resolveProjection() {
    proj_columns_.resize(plan_.projection.size());
    for (std::size_t i = 0; i < plan_.projection.size(); ++i) {
      const ExprNode& n = plan_.projection[i].expr.node();
      if (n.op != ExprOp::Column) continue;
      for (std::size_t k = 0; k < plan_.sources.size(); ++k) {
        if (plan_.sources[k].table != nullptr && plan_.sources[k].table->spec == n.table) {
          proj_columns_[i] = ProjColumn{static_cast<int>(k), n.column, n.table->columns[n.column].kind()};
          break;
        }
      }
    }
  }

  // Drives the access path; `sink` gets each joined, filtered tuple.
  // The sink is called through a plain function pointer (no std::function
  // allocation per run: point lookups are short).
  template <class F>
  void run(F&& sink) {
    sink_ctx_ = &sink;
    sink_fn_ = [](void* ctx, Tuple& t) { (*static_cast<std::remove_reference_t<F>*>(ctx))(t); };
    access();
  }

 private:
  // ---- access paths -----------------------------------------------------------

  void access() {
    const PlanSource& src = plan_.sources.front();
    if (src.subquery) {
      subquery(*src.subquery);
      return;
    }
    BoundTable& t = *src.table;
    const Access& a = plan_.access;
    switch (a.kind) {
      case AccessKind::FullScan: fullScan(t, a.reverse); return;
      case AccessKind::PkLookup: pkLookup(t, a); return;
      case AccessKind::PkRange: pkRange(t, a); return;
      case AccessKind::IndexEq: indexEq(t, a); return;
      case AccessKind::IndexRange:
      case AccessKind::IndexOrder: indexRange(t, a); return;
      case AccessKind::Subquery: break;
    }
  }

  void subquery(const QueryPlan& inner) {
    std::vector<std::vector<Value>> rows;
    Runner r(inner, txn_, params_);
    r.project([&](std::vector<Value>& v) {
      rows.push_back(std::move(v));
      return true;
    });
    for (const auto& row : rows) {
      if (stop_) return;
      tuple_.setSubRow(&row);
      if (plan_.source_filter && !query::matches(plan_.source_filter, tuple_)) continue;
      join(0);
    }
  }

  void candidate(BoundTable& /*t*/, const RowView& row) {
    if (!filter_.simpleMatches(row)) return;  // most rows of a scan stop here
    tuple_.set(0, row);
    if (!filter_.residualMatchesAll(tuple_)) return;
    join(0);
  }

  // Whether every constant the access path seeks with fits its column.
  bool accessSeekable(const BoundTable& t, const Access& a) const {
    auto fits = [&](const Expr& e, std::uint32_t column) {
      const Value& v = constant(e, params_);
      return v.isNull() || seekableValue(v, t.spec->columns[column].kind());
    };
    const std::uint32_t id = t.layout->id_column;
    switch (a.kind) {
      case AccessKind::PkLookup:
        return std::all_of(a.keys.begin(), a.keys.end(), [&](const auto& k) { return fits(k[0], id); });
      case AccessKind::PkRange:
        return (!a.lo.value || fits(a.lo.value, id)) && (!a.hi.value || fits(a.hi.value, id));
      case AccessKind::IndexEq:
        for (const auto& key : a.keys) {
          for (std::size_t k = 0; k < key.size(); ++k) {
            if (!fits(key[k], a.index->columns[k])) return false;
          }
        }
        return true;
      case AccessKind::IndexRange:
      case AccessKind::IndexOrder: {
        for (std::size_t k = 0; k < a.eq.size(); ++k) {
          if (!fits(a.eq[k], a.index->columns[k])) return false;
        }
        if (a.kind == AccessKind::IndexOrder) return true;
        const auto next = a.index->columns[a.eq.size()];
        return (!a.lo.value || fits(a.lo.value, next)) && (!a.hi.value || fits(a.hi.value, next));
      }
      default: return true;
    }
  }

  void fullScan(BoundTable& t, bool reverse) {
    if (!reverse) {
      RowScanner scanner(txn_, t);
      while (!stop_ && scanner.next()) candidate(t, scanner.row());
      return;
    }
    lmdb::Cursor cur(txn_.txn, t.rows);
    for (bool ok = cur.last(); ok && !stop_; ok = cur.prev()) candidate(t, txn_.db.view(t, cur.key(), cur.value()));
  }

  void fetch(BoundTable& t, std::string_view id) {
    if (auto row = txn_.db.get(txn_, t, id)) candidate(t, *row);
  }

  // Rows met through an index (or a list of ids) are fetched in batches in
  // a read transaction: DatabaseImpl::getMany overlaps their lookups' cache
  // misses. `id` must stay valid until the batch is flushed (index values
  // point into the map, which a read transaction keeps). A batch is no
  // larger than the number of rows the limit still takes if all of them
  // pass, so `limit 50` fetches 50 rows, not a full batch; every walk
  // flushes what is left when it ends.
  void queueFetch(BoundTable& t, std::string_view id) {
    if (!batch_fetches_) return fetch(t, id);
    pending_.push_back(id);
    const std::int64_t left = std::clamp<std::int64_t>(stream_end_ - emitted_, 1, kFetchBatch);
    if (static_cast<std::int64_t>(pending_.size()) >= left) flushFetches(t);
  }
  void flushFetches(BoundTable& t) {
    if (pending_.empty()) return;
    txn_.db.getMany(txn_, t, pending_, fetched_);
    pending_.clear();
    for (const auto& row : fetched_) {
      if (stop_) break;
      if (row) candidate(t, *row);
    }
  }

  void pkLookup(BoundTable& t, const Access& a) {
    const Kind kind = t.spec->columns[t.layout->id_column].kind();
    if (a.keys.size() == 1) {  // the common point lookup: no copies
      const Value& v = constant(a.keys[0][0], params_);
      if (v.isNull()) return;
      if (!seekableValue(v, kind)) return fullScan(t, false);
      fetch(t, v.asText());
      return;
    }
    std::vector<std::string> ids;
    for (const auto& k : a.keys) {
      const Value v = constant(k[0], params_);
      if (v.isNull()) continue;
      if (!seekableValue(v, kind)) return fullScan(t, false);
      ids.push_back(v.asText());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (const auto& id : ids) {
      if (stop_) return;
      queueFetch(t, id);
    }
    flushFetches(t);
  }

  void pkRange(BoundTable& t, const Access& a) {
    std::optional<Value> lo, hi;
    if (a.lo.value) lo = constant(a.lo.value, params_);
    if (a.hi.value) hi = constant(a.hi.value, params_);
    if ((lo && lo->kind() != Kind::Text) || (hi && hi->kind() != Kind::Text)) return fullScan(t, a.reverse);
    auto below_hi = [&](std::string_view k) { return !hi || (a.hi.inclusive ? k <= hi->asText() : k < hi->asText()); };
    auto above_lo = [&](std::string_view k) { return !lo || (a.lo.inclusive ? k >= lo->asText() : k > lo->asText()); };
    lmdb::Cursor cur(txn_.txn, t.rows);
    // LMDB rejects an empty key; every id sorts at or after "".
    auto seek = [&](const std::string& k) { return k.empty() ? cur.first() : cur.seekRange(k); };
    if (!a.reverse) {
      for (bool ok = lo ? seek(lo->asText()) : cur.first(); ok && !stop_ && below_hi(cur.key()); ok = cur.next()) {
        if (above_lo(cur.key())) candidate(t, txn_.db.view(t, cur.key(), cur.value()));
      }
      return;
    }
    bool ok = hi ? seek(hi->asText()) : cur.last();
    if (!ok && hi) ok = cur.last();
    for (; ok && !stop_ && above_lo(cur.key()); ok = cur.prev()) {
      if (below_hi(cur.key())) candidate(t, txn_.db.view(t, cur.key(), cur.value()));
    }
  }

  // Every id under keys starting with `prefix`, in order (ids copied: the
  // index cursor's slices die with its next move).
  void walkPrefix(BoundTable& t, const BoundIndex& index, const std::string& prefix) {
    lmdb::Cursor cur(txn_.txn, index.dbi);
    for (bool ok = cur.seekRange(prefix); ok && !stop_ && cur.key().starts_with(prefix); ok = cur.next()) {
      queueFetch(t, cur.value());
    }
    flushFetches(t);
  }

  bool encodeKeys(const BoundTable& t, const BoundIndex& index, const std::vector<Expr>& values, std::string* out,
                  bool* has_null) {
    for (std::size_t k = 0; k < values.size(); ++k) {
      const Value v = constant(values[k], params_);
      if (v.isNull()) {
        *has_null = true;
        return true;
      }
      if (!seekableValue(v, t.spec->columns[index.columns[k]].kind())) return false;
      keys::encodeKeyPart(v, *out);
    }
    return true;
  }

  void indexEq(BoundTable& t, const Access& a) {
    std::vector<std::string> prefixes;
    for (const auto& key : a.keys) {
      std::string prefix;
      bool has_null = false;
      if (!encodeKeys(t, *a.index, key, &prefix, &has_null)) return fullScan(t, false);
      if (!has_null) prefixes.push_back(std::move(prefix));  // = NULL matches nothing
    }
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    if (!a.reverse) {
      for (const auto& p : prefixes) {
        if (stop_) return;
        walkPrefix(t, *a.index, p);
      }
      return;
    }
    for (auto it = prefixes.rbegin(); it != prefixes.rend() && !stop_; ++it) {
      walkPrefixReverse(t, *a.index, *it, keys::prefixSuccessor(*it));
    }
  }

  // Walks keys in [start, stop) backwards.
  void walkPrefixReverse(BoundTable& t, const BoundIndex& index, const std::string& start, const std::string& stop) {
    lmdb::Cursor cur(txn_.txn, index.dbi);
    bool ok = stop.empty() ? cur.last() : cur.seekRange(stop);
    if (ok && !stop.empty()) {
      ok = cur.prev();  // the first key >= stop is past the range
    } else if (!ok) {
      ok = cur.last();
    }
    for (; ok && !stop_ && cur.key() >= start; ok = cur.prev()) queueFetch(t, cur.value());
    flushFetches(t);
  }

  void indexRange(BoundTable& t, const Access& a) {
    std::string prefix;
    bool has_null = false;
    if (!encodeKeys(t, *a.index, a.eq, &prefix, &has_null)) return fullScan(t, a.reverse);
    if (has_null) return;
    std::string start = prefix, stop;
    if (a.kind == AccessKind::IndexOrder) {
      stop = keys::prefixSuccessor(prefix);  // everything (NULLs included, they sort first)
    } else {
      const Kind kind = t.spec->columns[a.index->columns[a.eq.size()]].kind();
      const char tag = keys::kindTag(kind);
      if (a.lo.value) {
        const Value lo = constant(a.lo.value, params_);
        if (lo.isNull()) return;
        if (!seekableValue(lo, kind)) return fullScan(t, a.reverse);
        std::string k = prefix;
        keys::encodeKeyPart(lo, k);
        start = a.lo.inclusive ? k : keys::prefixSuccessor(k);
      } else {
        start = prefix + tag;  // skip NULLs
      }
      if (a.hi.value) {
        const Value hi = constant(a.hi.value, params_);
        if (hi.isNull()) return;
        if (!seekableValue(hi, kind)) return fullScan(t, a.reverse);
        std::string k = prefix;
        keys::encodeKeyPart(hi, k);
        stop = a.hi.inclusive ? keys::prefixSuccessor(k) : k;
      } else {
        stop = keys::prefixSuccessor(prefix + tag);
      }
    }
    if (a.reverse) {
      walkPrefixReverse(t, *a.index, start, stop);
      return;
    }
    lmdb::Cursor cur(txn_.txn, a.index->dbi);
    for (bool ok = start.empty() ? cur.first() : cur.seekRange(start); ok && !stop_ && (stop.empty() || cur.key() < stop);
         ok = cur.next()) {
      queueFetch(t, cur.value());
    }
    flushFetches(t);
  }

  // ---- joins ---------------------------------------------------------------------

  void join(std::size_t j) {
    if (j == plan_.joins.size()) {
      if (plan_.post_filter && !query::matches(plan_.post_filter, tuple_)) return;
      sink_fn_(sink_ctx_, tuple_);
      return;
    }
    const JoinStep& step = plan_.joins[j];
    BoundTable& t = *plan_.sources[step.source].table;
    bool matched = false;
    auto tryRow = [&](const RowView& row) {
      tuple_.set(step.source, row);
      const Expr& auth = plan_.sources[step.source].auth;
      if ((auth && !query::matches(auth, tuple_)) || !query::matches(step.on, tuple_)) return;
      matched = true;
      join(j + 1);
    };
    switch (step.method) {
      case JoinMethod::PkLookup: {
        // The common key, a text column of a row joined so far, is read in
        // place; anything else is evaluated (and its kind checked).
        std::string_view id;
        Value key;
        if (t.spec->columns[step.inner_column].kind() != Kind::Text || !textColumnInPlace(step.outer_key, &id)) {
          key = query::evalValue(step.outer_key, tuple_);
          checkJoinKinds(step, t, key);
          if (key.kind() != Kind::Text) break;
          id = key.asText();
        } else if (id.data() == nullptr) {
          break;  // NULL
        }
        if (!cache_probes_) {
          if (auto row = txn_.db.get(txn_, t, id)) tryRow(*row);
          break;
        }
        Probe& p = probes_[j];
        if (!p.valid || p.key != id) {
          p.valid = false;
          p.rows.clear();
          if (auto row = txn_.db.get(txn_, t, id)) p.rows.push_back(*row);
          p.key.assign(id);
          p.valid = true;
        }
        // tryRow may recurse into later joins, which never touch probes_[j].
        for (const RowView& row : p.rows) {
          if (stop_) break;
          tryRow(row);
        }
        break;
      }
      case JoinMethod::IndexLookup: {
        const Value key = joinKey(query::evalValue(step.outer_key, tuple_));
        checkJoinKinds(step, t, key);
        if (!key.isNull() && seekableValue(key, t.spec->columns[step.inner_column].kind())) {
          std::string prefix;
          keys::encodeKeyPart(key, prefix);
          // The ids under the key: copies in a write transaction (the
          // caller's callback may write between two rows), views into the
          // map in a read transaction.
          auto matchingIds = [&](auto& ids) {
            lmdb::Cursor cur(txn_.txn, step.index->dbi);
            for (bool ok = cur.seekRange(prefix); ok && cur.key().starts_with(prefix); ok = cur.next()) {
              ids.emplace_back(cur.value());
            }
          };
          if (!cache_probes_) {
            std::vector<std::string> ids;
            matchingIds(ids);
            for (const auto& id : ids) {
              if (stop_) break;
              if (auto row = txn_.db.get(txn_, t, id)) tryRow(*row);
            }
            break;
          }
          Probe& p = probes_[j];
          if (!p.valid || p.key != prefix) {
            p.valid = false;
            p.rows.clear();
            std::vector<std::string_view> ids;
            matchingIds(ids);
            std::vector<std::optional<RowView>> found;
            txn_.db.getMany(txn_, t, ids, found);
            for (const auto& row : found) {
              if (row) p.rows.push_back(*row);
            }
            p.key = std::move(prefix);
            p.valid = true;
          }
          // tryRow may recurse into later joins, which never touch probes_[j].
          for (const RowView& row : p.rows) {
            if (stop_) break;
            tryRow(row);
          }
        }
        break;
      }
      case JoinMethod::Hash: {
        const Value key = joinKey(query::evalValue(step.outer_key, tuple_));
        checkJoinKinds(step, t, key);
        if (!key.isNull() && key.kind() != Kind::File) {
          const auto& table = hashTable(j);
          auto it = table.find(keys::encodeKey(key));
          if (it != table.end()) {
            for (const auto& row : it->second) {
              if (stop_) break;
              tryRow(row);
            }
          }
        }
        break;
      }
      case JoinMethod::NestedLoop:
        for (const auto& row : allRows(j)) {
          if (stop_) break;
          tryRow(row);
        }
        break;
    }
    if (!matched && !stop_ && step.kind == JoinKind::Left) {
      tuple_.clear(step.source);
      join(j + 1);
    }
    tuple_.clear(step.source);
  }

  // When `e` is a text (not JSON) column of a stored row joined so far: its
  // value read in place (a null data() for NULL). False otherwise.
  bool textColumnInPlace(const Expr& e, std::string_view* out) const {
    const ExprNode& n = e.node();
    if (n.op != ExprOp::Column || n.table->columns[n.column].kind() != Kind::Text) return false;
    const RowView* row = tuple_.rowFor(n.table);
    if (row == nullptr) return false;
    const auto v = row->getText(n.column);
    *out = v ? *v : std::string_view();
    return true;
  }

  // A key of a kind the joined column never compares with is a type
  // error, as it is when the nested loop evaluates the ON condition.
  static void checkJoinKinds(const JoinStep& step, const BoundTable& t, const Value& key) {
    const Kind inner = t.spec->columns[step.inner_column].kind();
    if (!key.isNull() && !query::comparableKinds(key.kind(), inner)) {
      throw Error(ErrorCode::TypeMismatch, "type mismatch in join " + t.spec->name + " on " + step.on.toString() +
                                               ": cannot compare " + std::string(kindName(key.kind())) + " with " +
                                               std::string(kindName(inner)));
    }
  }

  using HashTable = std::unordered_map<std::string, std::vector<RowView>, KeyHash>;

  // Built once per run: the joined table's rows by join key. The views stay
  // valid for the transaction.
  const HashTable& hashTable(std::size_t j) {
    if (hash_tables_.size() <= j) hash_tables_.resize(j + 1);
    auto& slot = hash_tables_[j];
    if (!slot) {
      slot = std::make_unique<HashTable>();
      const JoinStep& step = plan_.joins[j];
      for (const auto& row : allRows(j)) {
        const Value v = row.get(step.inner_column);
        if (!v.isNull()) (*slot)[keys::encodeKey(v)].push_back(row);
      }
    }
    return *slot;
  }

  const std::vector<RowView>& allRows(std::size_t j) {
    if (all_rows_.size() <= j) all_rows_.resize(j + 1);
    auto& slot = all_rows_[j];
    if (!slot) {
      slot = std::make_unique<std::vector<RowView>>();
      BoundTable& t = *plan_.sources[plan_.joins[j].source].table;
      lmdb::Cursor cur(txn_.txn, t.rows);
      for (bool ok = cur.first(); ok; ok = cur.next()) slot->push_back(txn_.db.view(t, cur.key(), cur.value()));
    }
    return *slot;
  }

 public:
  // ---- sinks ----------------------------------------------------------------------

  // Plain plans: the from table's rows, ordered, offset and limited.
  void rows(const std::function<bool(const RowView&)>& out) {
    const std::int64_t end = plan_.limit < 0 ? std::numeric_limits<std::int64_t>::max() : plan_.offset + plan_.limit;
    if (plan_.limit == 0) return;
    if (plan_.order.empty() || ordered_) {
      stream_end_ = end;
      run([&](Tuple& t) {
        const std::int64_t i = emitted_++;
        if ((i >= plan_.offset && !out(*t.row(0))) || emitted_ >= end) stop_ = true;
      });
      return;
    }
    struct Keyed {
      std::vector<Value> keys;
      RowView row;
    };
    std::vector<Keyed> all;
    run([&](Tuple& t) {
      Keyed k{{}, *t.row(0)};
      for (const auto& o : plan_.order) k.keys.push_back(query::evalValue(o.expr, t));
      all.push_back(std::move(k));
    });
    sortKeyed(all);
    for (std::int64_t i = plan_.offset; i < static_cast<std::int64_t>(all.size()) && i < end; ++i) {
      if (!out(all[static_cast<std::size_t>(i)].row)) return;
    }
  }

  // Projected output of any plan. `out` receives each row's values in a
  // vector the runner reuses for the next row (so that text values keep
  // their buffers): it may move from it, or leave it to be refilled.
  void project(const std::function<bool(std::vector<Value>&)>& out) {
    if (plan_.aggregate) {
      aggregate(out);
      return;
    }
    const std::int64_t end = plan_.limit < 0 ? std::numeric_limits<std::int64_t>::max() : plan_.offset + plan_.limit;
    if (plan_.limit == 0) return;
    resolveProjection();
    if (plan_.order.empty() || ordered_) {
      stream_end_ = end;
      std::vector<Value> values;
      run([&](Tuple& t) {
        const std::int64_t i = emitted_++;
        if (i >= plan_.offset) {
          fillProjection(t, values);
          if (!out(values)) {
            stop_ = true;
            return;
          }
        }
        if (emitted_ >= end) stop_ = true;
      });
      return;
    }
    struct Keyed {
      std::vector<Value> keys;
      std::vector<Value> values;
    };
    std::vector<Keyed> all;
    run([&](Tuple& t) {
      Keyed k;
      for (const auto& o : plan_.order) k.keys.push_back(query::evalValue(o.expr, t));
      fillProjection(t, k.values);
      all.push_back(std::move(k));
    });
    sortKeyed(all);
    for (std::int64_t i = plan_.offset; i < static_cast<std::int64_t>(all.size()) && i < end; ++i) {
      if (!out(all[static_cast<std::size_t>(i)].values)) return;
    }
  }

 private:
  // The projection of the current tuple into `values` (resized to fit).
  // Plain columns are read from their stored row; a text value is copied
  // into the slot's existing string when it already holds one (no
  // allocation once the buffers have grown); the rest is evaluated.
  void fillProjection(const Tuple& t, std::vector<Value>& values) const {
    values.resize(plan_.projection.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      const ProjColumn& pc = proj_columns_[i];
      if (pc.source < 0) {
        values[i] = query::evalValue(plan_.projection[i].expr, t);
        continue;
      }
      const auto& row = t.row(static_cast<std::size_t>(pc.source));
      Value& slot = values[i];
      if (!row) {
        slot = Value();
        continue;
      }
      switch (pc.kind) {
        case Kind::Integer: {
          const auto v = row->getInt(pc.column);
          slot = v ? Value(*v) : Value();
          break;
        }
        case Kind::Text: {
          const auto v = row->getText(pc.column);
          if (!v) {
            slot = Value();
          } else if (slot.kind() == Kind::Text) {
            // The slot is a non-const Value of ours: reuse its string's buffer.
            const_cast<std::string&>(slot.asText()).assign(*v);
          } else {
            slot = Value(std::string(*v));
          }
          break;
        }
        default: slot = row->get(pc.column); break;
      }
    }
  }

  template <class K>
  void sortKeyed(std::vector<K>& all) const {
    std::stable_sort(all.begin(), all.end(), [&](const K& a, const K& b) {
      for (std::size_t i = 0; i < plan_.order.size(); ++i) {
        const int c = query::compareForSort(a.keys[i], b.keys[i]);
        if (c != 0) return plan_.order[i].direction == SortDirection::Asc ? c < 0 : c > 0;
      }
      return false;
    });
  }

  // ---- aggregation ------------------------------------------------------------------

  struct Acc {
    std::int64_t count = 0;
    bool real = false;
    std::int64_t isum = 0;
    double dsum = 0;
    Value best;
  };

  struct Group {
    std::vector<Value> keys;
    std::vector<Acc> accs;
  };

  static void accumulate(const ExprNode& agg, Acc& acc, const query::ColumnSource& src) {
    if (agg.aggregate == AggregateFn::CountStar) {
      ++acc.count;
      return;
    }
    const Value v = query::evalValue(agg.children[0], src);
    if (v.isNull()) return;
    ++acc.count;
    switch (agg.aggregate) {
      case AggregateFn::Sum:
      case AggregateFn::Avg:
        if (v.kind() == Kind::Real) {
          acc.real = true;
          acc.dsum += v.asReal();
        } else if (v.kind() == Kind::Integer || v.kind() == Kind::Boolean) {
          const std::int64_t x = v.kind() == Kind::Integer ? v.asInt() : (v.asBool() ? 1 : 0);
          if (__builtin_add_overflow(acc.isum, x, &acc.isum)) {
            throw Error(ErrorCode::InvalidArgument, std::string(aggregateName(agg.aggregate)) + "(" +
                                                        agg.children[0].toString() + "): integer overflow");
          }
        } else {
          throw Error(ErrorCode::TypeMismatch, std::string(aggregateName(agg.aggregate)) + "(" +
                                                   agg.children[0].toString() + "): " + std::string(kindName(v.kind())) +
                                                   " is not a number");
        }
        return;
      case AggregateFn::Min:
        if (acc.best.isNull() || query::compareValues(v, acc.best, "min()") < 0) acc.best = v;
        return;
      case AggregateFn::Max:
        if (acc.best.isNull() || query::compareValues(v, acc.best, "max()") > 0) acc.best = v;
        return;
      default: return;
    }
  }

  static Value result(const ExprNode& agg, const Acc& acc) {
    switch (agg.aggregate) {
      case AggregateFn::CountStar:
      case AggregateFn::Count: return Value(acc.count);
      case AggregateFn::Sum:
        if (acc.count == 0) return Value();
        return acc.real ? Value(acc.dsum + static_cast<double>(acc.isum)) : Value(acc.isum);
      case AggregateFn::Avg:
        if (acc.count == 0) return Value();
        return Value((acc.dsum + static_cast<double>(acc.isum)) / static_cast<double>(acc.count));
      case AggregateFn::Min:
      case AggregateFn::Max: return acc.best;
    }
    return Value();
  }

  // Evaluates projection/having/order over one finished group.
  class GroupSource final : public query::ColumnSource {
   public:
    GroupSource(const QueryPlan& plan, const Group& g, const std::vector<Value>& params)
        : plan_(plan), g_(g), params_(params) {}
    Value column(const TableSpec* table, std::uint32_t column) const override {
      for (std::size_t k = 0; k < plan_.group_by.size(); ++k) {
        const ExprNode& n = plan_.group_by[k].node();
        if (n.op == ExprOp::Column && n.table == table && n.column == column) return g_.keys[k];
      }
      throw Error(ErrorCode::InvalidArgument, "column " + table->name + "." + table->columns.at(column).name +
                                                  " must appear in groupBy() or inside an aggregate");
    }
    Value colRef(const ExprNode& node) const override {
      for (std::size_t k = 0; k < plan_.group_by.size(); ++k) {
        const ExprNode& n = plan_.group_by[k].node();
        if (n.op == ExprOp::ColRef && n.alias == node.alias && n.name == node.name) return g_.keys[k];
      }
      return ColumnSource::colRef(node);
    }
    Value aggregate(const ExprNode& node) const override {
      for (std::size_t i = 0; i < plan_.aggregates.size(); ++i) {
        if (plan_.aggregates[i] == &node) return result(node, g_.accs[i]);
      }
      return ColumnSource::aggregate(node);
    }
    const Value& param(std::uint32_t index) const override {
      return index < params_.size() ? params_[index] : ColumnSource::param(index);
    }

   private:
    const QueryPlan& plan_;
    const Group& g_;
    const std::vector<Value>& params_;
  };

  void aggregate(const std::function<bool(std::vector<Value>&)>& out) {
    std::unordered_map<std::string, std::size_t, KeyHash> index;
    std::vector<Group> groups;
    if (plan_.group_by.empty()) groups.push_back(Group{{}, std::vector<Acc>(plan_.aggregates.size())});
    std::string key;
    run([&](Tuple& t) {
      Group* g = plan_.group_by.empty() ? &groups.front() : nullptr;  // front() exists only without groupBy
      if (!plan_.group_by.empty()) {
        std::vector<Value> values;
        key.clear();
        for (const auto& e : plan_.group_by) {
          values.push_back(query::evalValue(e, t));
          keys::encodeKeyPart(values.back(), key);
        }
        auto [it, inserted] = index.try_emplace(key, groups.size());
        if (inserted) groups.push_back(Group{std::move(values), std::vector<Acc>(plan_.aggregates.size())});
        g = &groups[it->second];
      }
      for (std::size_t i = 0; i < plan_.aggregates.size(); ++i) accumulate(*plan_.aggregates[i], g->accs[i], t);
    });
    struct Keyed {
      std::vector<Value> keys;
      std::vector<Value> values;
    };
    std::vector<Keyed> rows;
    for (const auto& g : groups) {
      const GroupSource src(plan_, g, params_);
      if (plan_.having && !query::matches(plan_.having, src)) continue;
      Keyed k;
      for (const auto& o : plan_.order) k.keys.push_back(query::evalValue(o.expr, src));
      for (const auto& p : plan_.projection) k.values.push_back(query::evalValue(p.expr, src));
      rows.push_back(std::move(k));
    }
    if (!plan_.order.empty()) sortKeyed(rows);
    const std::int64_t end = plan_.limit < 0 ? std::numeric_limits<std::int64_t>::max() : plan_.offset + plan_.limit;
    for (std::int64_t i = plan_.offset; i < static_cast<std::int64_t>(rows.size()) && i < end; ++i) {
      if (!out(rows[static_cast<std::size_t>(i)].values)) return;
    }
  }

  const QueryPlan& plan_;
  TxnState& txn_;
  const std::vector<Value>& params_;
  Tuple tuple_;
  void* sink_ctx_ = nullptr;
  void (*sink_fn_)(void*, Tuple&) = nullptr;
  query::CompiledFilter filter_;
  bool ordered_ = false;
  // Set by a sink when the caller has had enough (limit reached, or it
  // returned false): every loop of the pipeline checks it and unwinds. (A
  // flag, not an exception: a throw costs a microsecond or more, which a
  // LIMIT 50 page would pay on every run.)
  bool stop_ = false;
  // Join probe caches (read transactions only: a write in the caller's
  // callback could move the rows a cached view points at). Consecutive
  // outer rows often share their join key (every order of one customer):
  // the joined rows of the last key are reused instead of looked up again.
  struct Probe {
    bool valid = false;
    std::string key;                // the text key (PkLookup) or encoded key (IndexLookup)
    std::vector<RowView> rows;      // the joined table's rows with that key
  };
  bool cache_probes_ = false;
  std::vector<Probe> probes_;
  // Batched fetches (queueFetch). stream_end_ - emitted_: the tuples a
  // streaming limit still takes (unbounded otherwise).
  static constexpr std::int64_t kFetchBatch = 64;
  bool batch_fetches_ = false;
  std::vector<std::string_view> pending_;
  std::vector<std::optional<RowView>> fetched_;
  std::int64_t stream_end_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t emitted_ = 0;
  // Projection items that are plain columns of a table source, read
  // straight from the stored row: the source index, else -1 (evaluated).
  struct ProjColumn {
    int source = -1;
    std::uint32_t column = 0;
    Kind kind = Kind::Null;
  };
  std::vector<ProjColumn> proj_columns_;
  std::vector<std::unique_ptr<HashTable>> hash_tables_;
  std::vector<std::unique_ptr<std::vector<RowView>>> all_rows_;
};

}  // namespace

void executeRows(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params,
                 const std::function<bool(const RowView&)>& rows) {
  if (!plan.plain) {
    throw Error(ErrorCode::InvalidArgument,
                "rows()/forEachRow() return whole rows of one table: use all()/forEach() for a query with a "
                "projection, joins, grouping or a subquery");
  }
  if (plan.point_lookup && params.size() >= plan.params) {
    // One fetch; a key of another kind takes the runner (a scan that
    // raises or filters as the general path does).
    BoundTable& t = *plan.sources.front().table;
    const Value& key = constant(plan.access.keys[0][0], params);
    if (key.isNull()) return;  // = NULL matches nothing
    if (seekableValue(key, t.spec->columns[t.layout->id_column].kind())) {
      if (auto row = txn.db.get(txn, t, key.asText())) (void)rows(*row);
      return;
    }
  }
  Runner(plan, txn, params).rows(rows);
}

void executeProjected(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params,
                      const std::function<bool(std::vector<Value>&&)>& emit) {
  Runner(plan, txn, params).project([&](std::vector<Value>& values) { return emit(std::move(values)); });
}

void executeProjectedInPlace(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params,
                             const std::function<bool(std::vector<Value>&)>& emit) {
  Runner(plan, txn, params).project(emit);
}

}  // namespace plasma::detail
