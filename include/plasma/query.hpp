// plasma/query.hpp — the read side: a drizzle-shaped select builder.
//
//   tx.select().from(todos).where(eq(todos.done, 0)).orderBy({desc(todos.updatedAt)}).limit(50).all();
//   tx.select({{"list", lists.name}, {"open", count()}})
//       .from(todos)
//       .innerJoin(lists, eq(todos.listId, lists.id))
//       .where(eq(todos.done, 0))
//       .groupBy({lists.name})
//       .having(gt(count(), 2))
//       .all();
//
// Semantics are SQLite's (docs/query.md): three-valued logic, NULLs first in
// ascending order, count(col) skips NULL, avg is a real, sum of integers is
// an integer (NULL over no rows), NULL is its own group, left-join rows with
// no match are NULL-filled. Rows come out in the order asked for; without an
// orderBy the order is unspecified.
//
// The planner (explain()) uses the primary key and indexes for equality,
// inArray, ranges and orderBy + limit, an index or a hash table for joins,
// and scans otherwise.
//
// A builder is a value; it runs when a terminal method is called (all(),
// rows(), forEach(), forEachRow(), rowsAs<T>(), explain()). Builders made
// from a ReadTx/Tx run in that transaction (and must not outlive it); those
// made from a Database run in a fresh read transaction each time.
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/describe.hpp>
#include <boost/mp11/algorithm.hpp>

#include "plasma/error.hpp"
#include "plasma/expr.hpp"
#include "plasma/row.hpp"
#include "plasma/schema.hpp"
#include "plasma/value.hpp"

namespace plasma {

namespace detail {
class DatabaseImpl;
class TxnState;
struct QuerySpec;
struct QueryPlan;
}  // namespace detail

class Table;

// ---- aggregates, subquery columns, parameters -------------------------------

Expr count();           // count(*)
Expr count(Expr e);     // non-NULL values of e
Expr sum(Expr e);       // integer sum (real if any input is real); NULL over no values
Expr avg(Expr e);       // real; NULL over no values
Expr min(Expr e);
Expr max(Expr e);
template <Kind K>
Expr count(const Column<K>& c) { return count(c.expr()); }
template <Kind K>
Expr sum(const Column<K>& c) { return sum(c.expr()); }
template <Kind K>
Expr avg(const Column<K>& c) { return avg(c.expr()); }
template <Kind K>
Expr min(const Column<K>& c) { return min(c.expr()); }
template <Kind K>
Expr max(const Column<K>& c) { return max(c.expr()); }

// A column of a subquery named by fromSubquery(inner, alias).
Expr colRef(std::string alias, std::string column);
// Parameter number `index`, bound with PreparedQuery::bind.
Expr param(std::uint32_t index);

// ---- ordering -----------------------------------------------------------------

enum class SortDirection : std::uint8_t { Asc, Desc };
struct OrderTerm {
  Expr expr;
  SortDirection direction = SortDirection::Asc;
};
inline OrderTerm asc(Expr e) { return {std::move(e), SortDirection::Asc}; }
inline OrderTerm desc(Expr e) { return {std::move(e), SortDirection::Desc}; }
template <Kind K>
OrderTerm asc(const Column<K>& c) { return {c.expr(), SortDirection::Asc}; }
template <Kind K>
OrderTerm desc(const Column<K>& c) { return {c.expr(), SortDirection::Desc}; }

// ---- projection ---------------------------------------------------------------

struct ProjectionItem {
  std::string alias;
  Expr expr;
  ProjectionItem(std::string a, Expr e) : alias(std::move(a)), expr(std::move(e)) {}
  template <Kind K>
  ProjectionItem(std::string a, const Column<K>& c) : alias(std::move(a)), expr(c.expr()) {}
};

// ---- results ------------------------------------------------------------------

// The shape of a result: output column names (the projection's aliases, or
// the columns of every source for select()), and where a column came from.
struct ResultShape {
  struct Column {
    std::string name;
    const TableSpec* table = nullptr;  // set when the output is a plain table column
    std::uint32_t column = 0;
  };
  std::vector<Column> columns;
  int find(std::string_view name) const noexcept;
  int find(const TableSpec* table, std::uint32_t column) const noexcept;
};

// One result row: owned values in projection order.
class ResultRow {
 public:
  ResultRow(std::shared_ptr<const ResultShape> shape, std::vector<Value> values)
      : shape_(std::move(shape)), values_(std::move(values)) {}

  std::size_t size() const noexcept { return values_.size(); }
  const Value& operator[](std::size_t i) const { return values_.at(i); }
  // By output name; throws Error(UnknownColumn) naming it when absent.
  const Value& operator[](std::string_view name) const;
  const std::vector<Value>& values() const noexcept { return values_; }
  const ResultShape& shape() const noexcept { return *shape_; }

  // Typed access by the column handle the output came from.
  std::optional<std::int64_t> get(const Column<Kind::Integer>& c) const;
  std::optional<std::string_view> get(const Column<Kind::Text>& c) const;
  std::optional<bool> get(const Column<Kind::Boolean>& c) const;
  std::optional<std::string_view> get(const Column<Kind::Json>& c) const;

  friend bool operator==(const ResultRow& a, const ResultRow& b) { return a.values_ == b.values_; }

 private:
  friend class PreparedQuery;  // forEach refills one row's values in place
  const Value& byColumn(AnyColumn c) const;
  std::shared_ptr<const ResultShape> shape_;
  std::vector<Value> values_;
};

struct QueryResult {
  std::shared_ptr<const ResultShape> shape;
  std::vector<ResultRow> rows;
  const std::vector<ResultShape::Column>& columns() const { return shape->columns; }
  std::size_t size() const noexcept { return rows.size(); }
};

namespace detail {
[[noreturn]] void throwRowsAsError(std::string_view type, std::string_view member, std::string_view what);

template <class T>
struct IsOptionalResult : std::false_type {};
template <class T>
struct IsOptionalResult<std::optional<T>> : std::true_type {};

template <class T>
T fromValue(const Value& v, std::string_view type, std::string_view member) {
  if constexpr (IsOptionalResult<T>::value) {
    if (v.isNull()) return std::nullopt;
    return fromValue<typename T::value_type>(v, type, member);
  } else {
    if (v.isNull()) throwRowsAsError(type, member, "is NULL; declare it std::optional");
    if constexpr (std::is_same_v<T, std::string>) {
      if (v.kind() == Kind::Text) return v.asText();
      if (v.kind() == Kind::Json) return v.asJson();
      throwRowsAsError(type, member, "is not text");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (v.kind() == Kind::Boolean) return v.asBool();
      if (v.kind() == Kind::Integer) return v.asInt() != 0;
      throwRowsAsError(type, member, "is not a boolean");
    } else if constexpr (std::is_integral_v<T>) {
      if (v.kind() == Kind::Integer) return static_cast<T>(v.asInt());
      if (v.kind() == Kind::Boolean) return static_cast<T>(v.asBool());
      throwRowsAsError(type, member, "is not an integer");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (v.kind() == Kind::Real) return static_cast<T>(v.asReal());
      if (v.kind() == Kind::Integer) return static_cast<T>(v.asInt());
      throwRowsAsError(type, member, "is not a number");
    } else if constexpr (std::is_same_v<T, Value>) {
      return v;
    } else {
      static_assert(sizeof(T) == 0, "rowsAs: unsupported member type");
    }
  }
}
}  // namespace detail

// ---- the builder --------------------------------------------------------------

// Where a query runs: a database (fresh read transaction per run) or an open
// transaction, optionally bound to an auth context (each table's auth.read
// predicate is then applied to every read, joins included).
struct QueryContext {
  detail::DatabaseImpl* db = nullptr;
  detail::TxnState* txn = nullptr;  // null: open a read transaction per run
  std::shared_ptr<const std::any> auth_ctx;
};

class PreparedQuery;
class LiveQuery;
struct LiveOptions;

class SelectBuilder {
 public:
  SelectBuilder(QueryContext context, std::vector<ProjectionItem> projection);

  SelectBuilder& from(const Table& table);
  // A subquery as the source; its output columns are read with colRef(alias, name).
  SelectBuilder& fromSubquery(const SelectBuilder& inner, std::string alias);
  SelectBuilder& innerJoin(const Table& table, Expr on);
  SelectBuilder& leftJoin(const Table& table, Expr on);
  SelectBuilder& where(Expr predicate);
  SelectBuilder& groupBy(std::vector<Expr> keys);
  template <Kind... K>
  SelectBuilder& groupBy(const Column<K>&... cols) { return groupBy(std::vector<Expr>{cols.expr()...}); }
  SelectBuilder& having(Expr predicate);
  SelectBuilder& orderBy(std::vector<OrderTerm> terms);
  template <class... T>
    requires(sizeof...(T) >= 1 && (std::is_same_v<std::remove_cvref_t<T>, OrderTerm> && ...))
  SelectBuilder& orderBy(T&&... terms) { return orderBy(std::vector<OrderTerm>{std::forward<T>(terms)...}); }
  SelectBuilder& limit(std::int64_t n);
  SelectBuilder& offset(std::int64_t n);

  // Every result row, projected.
  QueryResult all() const;
  // Whole rows of the `from` table (a select() with no projection, joins or
  // grouping); throws Error(InvalidArgument) otherwise.
  std::vector<OwnedRow> rows() const;
  // Streams result rows without collecting them; fn may return false to stop.
  void forEach(const std::function<bool(const ResultRow&)>& fn) const;
  // Streams the `from` table's rows in place (zero copy) for a select() with
  // no projection, joins or grouping; the view is valid during the call only.
  void forEachRow(const std::function<bool(const RowView&)>& fn) const;
  // Maps each result row onto a struct described with BOOST_DESCRIBE_STRUCT,
  // member names matching output names; a mismatch raises Error(TypeMismatch).
  template <class T>
  std::vector<T> rowsAs() const;
  // The chosen plan, as readable text.
  std::string explain() const;
  // Plans once; run it many times with different parameters.
  PreparedQuery prepare() const;
  // A live query, maintained as commits change its tables (live.hpp).
  LiveQuery live() const;
  LiveQuery live(LiveOptions options) const;

  const detail::QuerySpec& spec() const noexcept { return *spec_; }
  std::shared_ptr<const detail::QuerySpec> sharedSpec() const noexcept { return spec_; }
  const QueryContext& context() const noexcept { return context_; }

 private:
  detail::QuerySpec& mut();
  QueryContext context_;
  std::shared_ptr<detail::QuerySpec> spec_;
};

// A planned query with parameters (param(i)); bind and run it repeatedly.
// Bound to the database it was prepared on; runs in a fresh read transaction
// or in the transaction given to runIn.
class PreparedQuery {
 public:
  PreparedQuery(QueryContext context, std::shared_ptr<const detail::QueryPlan> plan);
  PreparedQuery& bind(std::uint32_t index, Value v);
  // bind(index, Value(text)) reusing the parameter's previous text buffer:
  // rebinding an id of the same size per lookup allocates nothing.
  PreparedQuery& bindText(std::uint32_t index, std::string_view text);
  QueryResult all() const;
  std::vector<OwnedRow> rows() const;
  void forEach(const std::function<bool(const ResultRow&)>& fn) const;
  void forEachRow(const std::function<bool(const RowView&)>& fn) const;
  std::string explain() const;
  // The same, inside an open transaction.
  void forEachRowIn(detail::TxnState& txn, const std::function<bool(const RowView&)>& fn) const;
  void forEachIn(detail::TxnState& txn, const std::function<bool(const ResultRow&)>& fn) const;

 private:
  QueryContext context_;
  std::shared_ptr<const detail::QueryPlan> plan_;
  std::vector<Value> params_;
};

template <class T>
std::vector<T> SelectBuilder::rowsAs() const {
  static_assert(boost::describe::has_describe_members<T>::value, "rowsAs<T> needs BOOST_DESCRIBE_STRUCT(T, ...)");
  const QueryResult r = all();
  std::vector<T> out;
  out.reserve(r.rows.size());
  using Members = boost::describe::describe_members<T, boost::describe::mod_public>;
  for (const ResultRow& row : r.rows) {
    T t{};
    boost::mp11::mp_for_each<Members>([&](auto m) {
      using M = std::remove_cvref_t<decltype(t.*m.pointer)>;
      const int i = r.shape->find(m.name);
      if (i < 0) detail::throwRowsAsError(typeid(T).name(), m.name, "has no output column of that name");
      t.*m.pointer = detail::fromValue<M>(row[static_cast<std::size_t>(i)], typeid(T).name(), m.name);
    });
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace plasma
