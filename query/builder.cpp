// SelectBuilder, results and prepared queries: the thin public layer over
// the planner and the executor.
#include <typeinfo>

#include "engine/store.hpp"
#include "plasma/database.hpp"
#include "plasma/query.hpp"
#include "query/plan.hpp"

namespace plasma {

namespace {

Expr aggregateOf(AggregateFn fn, std::vector<Expr> children) {
  auto node = std::make_shared<ExprNode>();
  node->op = ExprOp::Aggregate;
  node->aggregate = fn;
  for (const auto& c : children) {
    if (!c) throw Error(ErrorCode::InvalidArgument, std::string(aggregateName(fn)) + "() of an empty expression");
  }
  node->children = std::move(children);
  return Expr(std::move(node));
}

}  // namespace

Expr count() { return aggregateOf(AggregateFn::CountStar, {}); }
Expr count(Expr e) { return aggregateOf(AggregateFn::Count, {std::move(e)}); }
Expr sum(Expr e) { return aggregateOf(AggregateFn::Sum, {std::move(e)}); }
Expr avg(Expr e) { return aggregateOf(AggregateFn::Avg, {std::move(e)}); }
Expr min(Expr e) { return aggregateOf(AggregateFn::Min, {std::move(e)}); }
Expr max(Expr e) { return aggregateOf(AggregateFn::Max, {std::move(e)}); }

Expr colRef(std::string alias, std::string column) {
  if (alias.empty() || column.empty()) throw Error(ErrorCode::InvalidArgument, "colRef() needs an alias and a column name");
  auto node = std::make_shared<ExprNode>();
  node->op = ExprOp::ColRef;
  node->alias = std::move(alias);
  node->name = std::move(column);
  return Expr(std::move(node));
}

Expr param(std::uint32_t index) {
  auto node = std::make_shared<ExprNode>();
  node->op = ExprOp::Param;
  node->param = index;
  return Expr(std::move(node));
}

// ---- results ------------------------------------------------------------------------

int ResultShape::find(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int ResultShape::find(const TableSpec* table, std::uint32_t column) const noexcept {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].table == table && columns[i].column == column) return static_cast<int>(i);
  }
  return -1;
}

const Value& ResultRow::operator[](std::string_view name) const {
  const int i = shape_->find(name);
  if (i < 0) throw Error(ErrorCode::UnknownColumn, "the result has no column '" + std::string(name) + "'");
  return values_[static_cast<std::size_t>(i)];
}

const Value& ResultRow::byColumn(AnyColumn c) const {
  const int i = shape_->find(c.table, c.index);
  if (i < 0) {
    throw Error(ErrorCode::UnknownColumn,
                "the result has no column " + c.table->name + "." + c.spec().name + " (select it, or read it by alias)");
  }
  return values_[static_cast<std::size_t>(i)];
}

std::optional<std::int64_t> ResultRow::get(const Column<Kind::Integer>& c) const {
  const Value& v = byColumn(c);
  return v.isNull() ? std::nullopt : std::optional<std::int64_t>(v.asInt());
}
std::optional<std::string_view> ResultRow::get(const Column<Kind::Text>& c) const {
  const Value& v = byColumn(c);
  return v.isNull() ? std::nullopt : std::optional<std::string_view>(v.asText());
}
std::optional<bool> ResultRow::get(const Column<Kind::Boolean>& c) const {
  const Value& v = byColumn(c);
  return v.isNull() ? std::nullopt : std::optional<bool>(v.asBool());
}
std::optional<std::string_view> ResultRow::get(const Column<Kind::Json>& c) const {
  const Value& v = byColumn(c);
  return v.isNull() ? std::nullopt : std::optional<std::string_view>(v.asJson());
}

namespace detail {
void throwRowsAsError(std::string_view type, std::string_view member, std::string_view what) {
  throw Error(ErrorCode::TypeMismatch,
              "rowsAs<" + std::string(type) + ">: member '" + std::string(member) + "' " + std::string(what));
}
}  // namespace detail

// ---- builder ------------------------------------------------------------------------

SelectBuilder::SelectBuilder(QueryContext context, std::vector<ProjectionItem> projection)
    : context_(std::move(context)), spec_(std::make_shared<detail::QuerySpec>()) {
  if (context_.db == nullptr) throw Error(ErrorCode::InvalidArgument, "select() on a closed database");
  spec_->projection = std::move(projection);
}

detail::QuerySpec& SelectBuilder::mut() {
  // Copy on write: a builder shared as a subquery must not change under it.
  if (spec_.use_count() > 1) spec_ = std::make_shared<detail::QuerySpec>(*spec_);
  return *spec_;
}

SelectBuilder& SelectBuilder::from(const Table& table) {
  mut().from = detail::SourceSpec{&table, nullptr, table.name(), nullptr};
  return *this;
}

SelectBuilder& SelectBuilder::fromSubquery(const SelectBuilder& inner, std::string alias) {
  if (alias.empty()) throw Error(ErrorCode::InvalidArgument, "fromSubquery() needs an alias");
  if (inner.context_.db != context_.db) {
    throw Error(ErrorCode::InvalidArgument, "fromSubquery(): the subquery belongs to another database");
  }
  mut().from = detail::SourceSpec{nullptr, inner.spec_, std::move(alias), inner.context_.auth_ctx};
  return *this;
}

SelectBuilder& SelectBuilder::innerJoin(const Table& table, Expr on) {
  if (!on) throw Error(ErrorCode::InvalidArgument, "innerJoin(" + table.name() + "): empty ON condition");
  mut().joins.push_back({detail::JoinKind::Inner, &table, std::move(on)});
  return *this;
}

SelectBuilder& SelectBuilder::leftJoin(const Table& table, Expr on) {
  if (!on) throw Error(ErrorCode::InvalidArgument, "leftJoin(" + table.name() + "): empty ON condition");
  mut().joins.push_back({detail::JoinKind::Left, &table, std::move(on)});
  return *this;
}

SelectBuilder& SelectBuilder::where(Expr predicate) {
  mut().where = std::move(predicate);
  return *this;
}

SelectBuilder& SelectBuilder::groupBy(std::vector<Expr> keys) {
  for (const auto& k : keys) {
    if (!k) throw Error(ErrorCode::InvalidArgument, "groupBy(): empty expression");
  }
  mut().group_by = std::move(keys);
  return *this;
}

SelectBuilder& SelectBuilder::having(Expr predicate) {
  mut().having = std::move(predicate);
  return *this;
}

SelectBuilder& SelectBuilder::orderBy(std::vector<OrderTerm> terms) {
  for (const auto& t : terms) {
    if (!t.expr) throw Error(ErrorCode::InvalidArgument, "orderBy(): empty expression");
  }
  mut().order = std::move(terms);
  return *this;
}

SelectBuilder& SelectBuilder::limit(std::int64_t n) {
  if (n < 0) throw Error(ErrorCode::InvalidArgument, "limit(" + std::to_string(n) + "): must not be negative");
  mut().limit = n;
  return *this;
}

SelectBuilder& SelectBuilder::offset(std::int64_t n) {
  if (n < 0) throw Error(ErrorCode::InvalidArgument, "offset(" + std::to_string(n) + "): must not be negative");
  mut().offset = n;
  return *this;
}

PreparedQuery SelectBuilder::prepare() const {
  return PreparedQuery(context_, detail::planQuery(*context_.db, *spec_, context_.auth_ctx.get()));
}

QueryResult SelectBuilder::all() const { return prepare().all(); }
std::vector<OwnedRow> SelectBuilder::rows() const { return prepare().rows(); }
void SelectBuilder::forEach(const std::function<bool(const ResultRow&)>& fn) const { prepare().forEach(fn); }
void SelectBuilder::forEachRow(const std::function<bool(const RowView&)>& fn) const { prepare().forEachRow(fn); }
std::string SelectBuilder::explain() const { return prepare().explain(); }

// ---- prepared queries -----------------------------------------------------------------

PreparedQuery::PreparedQuery(QueryContext context, std::shared_ptr<const detail::QueryPlan> plan)
    : context_(std::move(context)), plan_(std::move(plan)), params_(plan_->params) {}

PreparedQuery& PreparedQuery::bind(std::uint32_t index, Value v) {
  if (index >= params_.size()) {
    throw Error(ErrorCode::InvalidArgument, "bind(" + std::to_string(index) + "): the query has " +
                                                std::to_string(params_.size()) + " parameter(s)");
  }
  params_[index] = std::move(v);
  return *this;
}

PreparedQuery& PreparedQuery::bindText(std::uint32_t index, std::string_view text) {
  if (index >= params_.size()) return bind(index, Value(text));  // throws, naming the index
  Value& slot = params_[index];
  if (slot.kind() == Kind::Text) {
    const_cast<std::string&>(slot.asText()).assign(text);  // our own non-const Value: reuse its buffer
  } else {
    slot = Value(text);
  }
  return *this;
}

namespace {

// Runs fn in the builder's transaction, or in a fresh pooled read transaction.
template <class F>
void inTxn(const QueryContext& c, F&& fn) {
  if (c.txn != nullptr) {
    fn(*c.txn);
    return;
  }
  detail::TxnState* s = c.db->acquireRead();
  try {
    fn(*s);
  } catch (...) {
    c.db->releaseRead(s);
    throw;
  }
  c.db->releaseRead(s);
}

}  // namespace

void PreparedQuery::forEachRowIn(detail::TxnState& txn, const std::function<bool(const RowView&)>& fn) const {
  detail::executeRows(*plan_, txn, params_, fn);
}

void PreparedQuery::forEachIn(detail::TxnState& txn, const std::function<bool(const ResultRow&)>& fn) const {
  // One ResultRow for the whole run: each row's values are swapped in for
  // the call and back out, so the executor refills the same vector (and
  // the same strings) for the next row.
  ResultRow row(plan_->shape, {});
  detail::executeProjectedInPlace(*plan_, txn, params_, [&](std::vector<Value>& values) {
    row.values_.swap(values);
    bool more = false;
    try {
      more = fn(row);
    } catch (...) {
      row.values_.swap(values);
      throw;
    }
    row.values_.swap(values);
    return more;
  });
}

void PreparedQuery::forEachRow(const std::function<bool(const RowView&)>& fn) const {
  inTxn(context_, [&](detail::TxnState& s) { forEachRowIn(s, fn); });
}

void PreparedQuery::forEach(const std::function<bool(const ResultRow&)>& fn) const {
  inTxn(context_, [&](detail::TxnState& s) { forEachIn(s, fn); });
}

QueryResult PreparedQuery::all() const {
  QueryResult r;
  r.shape = plan_->shape;
  inTxn(context_, [&](detail::TxnState& s) {
    detail::executeProjected(*plan_, s, params_, [&](std::vector<Value>&& values) {
      r.rows.emplace_back(plan_->shape, std::move(values));
      return true;
    });
  });
  return r;
}

std::vector<OwnedRow> PreparedQuery::rows() const {
  std::vector<OwnedRow> out;
  forEachRow([&](const RowView& row) {
    out.push_back(row.toOwned());
    return true;
  });
  return out;
}

std::string PreparedQuery::explain() const { return plan_->explain; }

}  // namespace plasma
