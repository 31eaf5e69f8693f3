// The planner: checks a QuerySpec against the schema and picks how to read
// it (docs/query.md). Rules, in order of preference for the `from` table:
//   id = ? / id IN (...)                  primary-key lookups
//   equality on an index's leading cols   index seek (longest prefix wins),
//     then a range on the next column       with a range on the next column
//   x IN (...) on an index's first col    one seek per value
//   a range on id / an index's first col  range walk
//   orderBy + limit matching id/an index  ordered walk that stops early
//   otherwise                             full scan
// The whole WHERE is still evaluated on every row an access path yields, so
// an access path only has to be a superset of the answer.
#include <algorithm>
#include <sstream>

#include "plasma/error.hpp"
#include "query/eval.hpp"
#include "query/plan.hpp"

namespace plasma::detail {

namespace {

[[noreturn]] void fail(ErrorCode code, const std::string& msg) { throw Error(code, msg); }

Expr conjunction(const std::vector<Expr>& terms) {
  if (terms.empty()) return Expr();
  return terms.size() == 1 ? terms[0] : and_(terms);
}

// ---- validation ------------------------------------------------------------------

struct Scope {
  const QueryPlan& plan;
  std::size_t visible;  // sources [0, visible) may be referenced
};

int sourceOf(const QueryPlan& plan, const TableSpec* table) {
  for (std::size_t i = 0; i < plan.sources.size(); ++i) {
    if (plan.sources[i].table != nullptr && plan.sources[i].table->spec == table) return static_cast<int>(i);
  }
  return -1;
}

void checkRefs(const Expr& e, const Scope& scope, const std::string& part, bool aggregates_allowed, bool inside_aggregate,
               std::uint32_t& params) {
  const ExprNode& n = e.node();
  switch (n.op) {
    case ExprOp::Column: {
      const int s = sourceOf(scope.plan, n.table);
      if (s < 0 || static_cast<std::size_t>(s) >= scope.visible) {
        fail(ErrorCode::UnknownColumn, part + ": column " + n.table->name + "." + n.table->columns.at(n.column).name +
                                           " is not from a table of this query" +
                                           (s >= 0 ? " at this point (it is joined later)" : ""));
      }
      return;
    }
    case ExprOp::ColRef: {
      const PlanSource& from = scope.plan.sources.front();
      if (!from.subquery || from.alias != n.alias) {
        fail(ErrorCode::UnknownColumn, part + ": colRef('" + n.alias + "', '" + n.name +
                                           "') names no subquery of this query (fromSubquery aliases: " +
                                           (from.subquery ? "'" + from.alias + "'" : "none") + ")");
      }
      if (from.subquery->shape->find(n.name) < 0) {
        fail(ErrorCode::UnknownColumn, part + ": subquery '" + n.alias + "' has no column '" + n.name + "'");
      }
      return;
    }
    case ExprOp::Aggregate:
      if (!aggregates_allowed) {
        fail(ErrorCode::InvalidArgument, part + ": aggregate " + e.toString() + " is not allowed here");
      }
      if (inside_aggregate) fail(ErrorCode::InvalidArgument, part + ": aggregate " + e.toString() + " inside another");
      for (const auto& c : n.children) checkRefs(c, scope, part, aggregates_allowed, true, params);
      return;
    case ExprOp::Param:
      params = std::max(params, n.param + 1);
      return;
    case ExprOp::Like:
      if (n.values.empty() || n.values[0].kind() != Kind::Text) {
        fail(ErrorCode::TypeMismatch, part + ": like() needs a text pattern");
      }
      break;
    default: break;
  }
  for (const auto& c : n.children) checkRefs(c, scope, part, aggregates_allowed, inside_aggregate, params);
}

bool containsAggregate(const Expr& e) {
  if (e.node().op == ExprOp::Aggregate) return true;
  return std::any_of(e.node().children.begin(), e.node().children.end(), containsAggregate);
}

void collectAggregates(const Expr& e, std::vector<const ExprNode*>& out) {
  if (e.node().op == ExprOp::Aggregate) {
    out.push_back(&e.node());
    return;
  }
  for (const auto& c : e.node().children) collectAggregates(c, out);
}

bool sameRef(const ExprNode& a, const ExprNode& b) {
  if (a.op != b.op) return false;
  if (a.op == ExprOp::Column) return a.table == b.table && a.column == b.column;
  if (a.op == ExprOp::ColRef) return a.alias == b.alias && a.name == b.name;
  return false;
}

// In an aggregate query, a column outside an aggregate must be a group key.
void checkGrouped(const Expr& e, const std::vector<Expr>& keys, const std::string& part) {
  const ExprNode& n = e.node();
  if (n.op == ExprOp::Aggregate) return;
  if (n.op == ExprOp::Column || n.op == ExprOp::ColRef) {
    const bool grouped = std::any_of(keys.begin(), keys.end(), [&](const Expr& k) { return sameRef(k.node(), n); });
    if (!grouped) {
      fail(ErrorCode::InvalidArgument, part + ": " + e.toString() + " must appear in groupBy() or inside an aggregate");
    }
    return;
  }
  for (const auto& c : n.children) checkGrouped(c, keys, part);
}

bool referencesOnly(const Expr& e, const QueryPlan& plan, std::size_t source) {
  const ExprNode& n = e.node();
  if (n.op == ExprOp::Column) return sourceOf(plan, n.table) == static_cast<int>(source);
  if (n.op == ExprOp::ColRef) return source == 0;
  return std::all_of(n.children.begin(), n.children.end(), [&](const Expr& c) { return referencesOnly(c, plan, source); });
}

bool referencesBefore(const Expr& e, const QueryPlan& plan, std::size_t limit) {
  const ExprNode& n = e.node();
  if (n.op == ExprOp::Column) {
    const int s = sourceOf(plan, n.table);
    return s >= 0 && static_cast<std::size_t>(s) < limit;
  }
  if (n.op == ExprOp::ColRef) return limit > 0;
  if (n.op == ExprOp::Aggregate || n.op == ExprOp::Param) return n.op == ExprOp::Param;
  return std::all_of(n.children.begin(), n.children.end(), [&](const Expr& c) { return referencesBefore(c, plan, limit); });
}

// ---- access paths ------------------------------------------------------------------

bool isConstant(const ExprNode& n) { return n.op == ExprOp::Literal || n.op == ExprOp::Param; }

// A literal usable as a seek key for a column of kind k (params are checked when bound).
bool seekable(const ExprNode& n, Kind k) {
  if (n.op == ExprOp::Param) return true;
  const Kind v = n.value.kind();
  if (v == Kind::Null) return false;
  if (k == Kind::Integer || k == Kind::Boolean) return v == Kind::Integer || v == Kind::Boolean;
  if (k == Kind::Text) return v == Kind::Text;
  if (k == Kind::Blob) return v == Kind::Blob;
  return false;
}

struct Conditions {
  // per column of the from table
  std::vector<std::optional<Expr>> eq;
  std::vector<std::optional<std::vector<Expr>>> in;
  std::vector<RangeBound> lo, hi;
};

void noteBound(RangeBound& b, const Expr& value, bool inclusive) {
  if (!b.value) b = RangeBound{value, inclusive};  // the first bound found serves; the filter checks the rest
}

Conditions gather(const std::vector<Expr>& terms, const TableSpec& t) {
  Conditions c;
  c.eq.resize(t.columns.size());
  c.in.resize(t.columns.size());
  c.lo.resize(t.columns.size());
  c.hi.resize(t.columns.size());
  for (const auto& term : terms) {
    const ExprNode& n = term.node();
    if (n.op >= ExprOp::Eq && n.op <= ExprOp::Lte && n.op != ExprOp::Ne) {
      const ExprNode* col = &n.children[0].node();
      const Expr* value = &n.children[1];
      ExprOp op = n.op;
      if (col->op != ExprOp::Column) {  // constant <op> column: mirror it
        col = &n.children[1].node();
        value = &n.children[0];
        op = query::mirrorComparison(op);
      }
      if (col->op != ExprOp::Column || col->table != &t || !isConstant(value->node())) continue;
      if (!seekable(value->node(), t.columns[col->column].kind())) continue;
      const auto i = col->column;
      if (op == ExprOp::Eq && !c.eq[i]) c.eq[i] = *value;
      if (op == ExprOp::Gt) noteBound(c.lo[i], *value, false);
      if (op == ExprOp::Gte) noteBound(c.lo[i], *value, true);
      if (op == ExprOp::Lt) noteBound(c.hi[i], *value, false);
      if (op == ExprOp::Lte) noteBound(c.hi[i], *value, true);
    } else if (n.op == ExprOp::InArray && n.children[0].node().op == ExprOp::Column &&
               n.children[0].node().table == &t) {
      const auto i = n.children[0].node().column;
      std::vector<Expr> values;
      bool ok = true;
      for (const auto& v : n.values) {
        if (v.isNull()) continue;  // NULL never matches IN
        Expr e = lit(v);
        if (!seekable(e.node(), t.columns[i].kind())) ok = false;
        values.push_back(std::move(e));
      }
      if (ok && !c.in[i]) c.in[i] = std::move(values);
    }
  }
  return c;
}

// The order terms as (column, descending) of the from table, if all are plain columns of it.
std::optional<std::vector<std::pair<std::uint32_t, bool>>> orderColumns(const std::vector<OrderTerm>& order,
                                                                         const TableSpec& t) {
  std::vector<std::pair<std::uint32_t, bool>> out;
  for (const auto& o : order) {
    const ExprNode& n = o.expr.node();
    if (n.op != ExprOp::Column || n.table != &t) return std::nullopt;
    out.emplace_back(n.column, o.direction == SortDirection::Desc);
  }
  return out;
}

// Whether walking `index` after an equality prefix of `prefix` columns
// yields the requested order; sets *reverse for a descending walk.
bool indexDelivers(const BoundIndex& index, std::size_t prefix, const std::vector<std::pair<std::uint32_t, bool>>& order,
                   std::uint32_t id_column, bool* reverse) {
  if (order.empty()) return false;
  const bool desc = order.front().second;
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (order[k].second != desc) return false;
    const std::size_t pos = prefix + k;
    if (pos < index.columns.size()) {
      if (index.columns[pos] != order[k].first) return false;
    } else if (pos == index.columns.size()) {
      if (order[k].first != id_column) return false;  // duplicates come in id order
    } else {
      return false;
    }
  }
  *reverse = desc;
  return true;
}

struct AccessChoice {
  Access access;
  bool ordered = false;
};

AccessChoice chooseAccess(const BoundTable& t, const std::vector<Expr>& terms, const std::vector<OrderTerm>& order_terms,
                          bool want_order, bool has_limit) {
  const TableSpec& spec = *t.spec;
  const std::uint32_t id = t.layout->id_column;
  const Conditions c = gather(terms, spec);
  const auto order = want_order ? orderColumns(order_terms, spec) : std::nullopt;
  AccessChoice best;

  // 1. Primary key.
  if (c.eq[id]) {
    best.access.kind = AccessKind::PkLookup;
    best.access.keys = {{*c.eq[id]}};
    best.ordered = true;  // at most one row
    return best;
  }
  if (c.in[id]) {
    best.access.kind = AccessKind::PkLookup;
    for (const auto& v : *c.in[id]) best.access.keys.push_back({v});
    return best;
  }
  // 2. Index equality prefix (longest wins), optionally with a range next.
  const BoundIndex* best_index = nullptr;
  std::size_t best_prefix = 0;
  for (const auto& index : t.indexes) {
    std::size_t p = 0;
    while (p < index.columns.size() && c.eq[index.columns[p]]) ++p;
    const bool better = p > best_prefix || (p == best_prefix && p > 0 && index.spec.unique && p == index.columns.size());
    if (better) {
      best_index = &index;
      best_prefix = p;
    }
  }
  if (best_index != nullptr) {
    Access& a = best.access;
    a.index = best_index;
    for (std::size_t k = 0; k < best_prefix; ++k) a.eq.push_back(*c.eq[best_index->columns[k]]);
    if (best_prefix < best_index->columns.size()) {
      const auto next = best_index->columns[best_prefix];
      if (c.lo[next].value || c.hi[next].value) {
        a.lo = c.lo[next];
        a.hi = c.hi[next];
      }
    }
    a.kind = (a.lo.value || a.hi.value) ? AccessKind::IndexRange : AccessKind::IndexEq;
    if (a.kind == AccessKind::IndexEq) {
      a.keys = {a.eq};
    }
    if (order) best.ordered = indexDelivers(*best_index, best_prefix, *order, id, &a.reverse);
    return best;
  }
  // 3. IN on an index's first column.
  for (const auto& index : t.indexes) {
    if (c.in[index.columns[0]]) {
      best.access.kind = AccessKind::IndexEq;
      best.access.index = &index;
      for (const auto& v : *c.in[index.columns[0]]) best.access.keys.push_back({v});
      return best;
    }
  }
  // 4. Ranges.
  if (c.lo[id].value || c.hi[id].value) {
    best.access.kind = AccessKind::PkRange;
    best.access.lo = c.lo[id];
    best.access.hi = c.hi[id];
    if (order && order->size() == 1 && order->front().first == id) {
      best.ordered = true;
      best.access.reverse = order->front().second;
    }
    return best;
  }
  for (const auto& index : t.indexes) {
    const auto first = index.columns[0];
    if (c.lo[first].value || c.hi[first].value) {
      best.access.kind = AccessKind::IndexRange;
      best.access.index = &index;
      best.access.lo = c.lo[first];
      best.access.hi = c.hi[first];
      if (order) best.ordered = indexDelivers(index, 0, *order, id, &best.access.reverse);
      return best;
    }
  }
  // 5. Order (by id, or by an index when a limit lets the walk stop early).
  if (order && !order->empty()) {
    if (order->size() == 1 && order->front().first == id) {
      best.access.kind = AccessKind::FullScan;
      best.access.reverse = order->front().second;
      best.ordered = true;
      return best;
    }
    if (has_limit) {
      for (const auto& index : t.indexes) {
        bool reverse = false;
        if (indexDelivers(index, 0, *order, id, &reverse)) {
          best.access.kind = AccessKind::IndexOrder;
          best.access.index = &index;
          best.access.reverse = reverse;
          best.ordered = true;
          return best;
        }
      }
    }
  }
  best.access.kind = AccessKind::FullScan;
  return best;
}

// ---- joins -------------------------------------------------------------------------

JoinStep planJoin(const QueryPlan& plan, std::size_t source, JoinKind kind, const Expr& on) {
  JoinStep step;
  step.kind = kind;
  step.source = source;
  step.on = on;
  const BoundTable& t = *plan.sources[source].table;
  std::vector<Expr> terms;
  query::flattenAnd(on, terms);
  for (const auto& term : terms) {
    const ExprNode& n = term.node();
    if (n.op != ExprOp::Eq) continue;
    for (int side = 0; side < 2; ++side) {
      const ExprNode& inner = n.children[static_cast<std::size_t>(side)].node();
      const Expr& outer = n.children[static_cast<std::size_t>(1 - side)];
      if (inner.op != ExprOp::Column || inner.table != t.spec || !referencesBefore(outer, plan, source)) continue;
      step.outer_key = outer;
      step.inner_column = inner.column;
      if (inner.column == t.layout->id_column) {
        step.method = JoinMethod::PkLookup;
      } else if (const BoundIndex* index = t.indexLeadingWith(inner.column)) {
        step.method = JoinMethod::IndexLookup;
        step.index = index;
      } else {
        step.method = JoinMethod::Hash;
      }
      return step;
    }
  }
  step.method = JoinMethod::NestedLoop;
  return step;
}

// ---- explain ------------------------------------------------------------------------

std::string boundText(const RangeBound& lo, const RangeBound& hi, const std::string& col) {
  std::string out;
  if (lo.value) out += col + (lo.inclusive ? " >= " : " > ") + lo.value.toString();
  if (hi.value) out += std::string(out.empty() ? "" : " AND ") + col + (hi.inclusive ? " <= " : " < ") + hi.value.toString();
  return out;
}

std::string describeAccess(const QueryPlan& plan) {
  const PlanSource& src = plan.sources.front();
  if (src.subquery) return "SCAN SUBQUERY " + src.alias;
  const TableSpec& t = *src.table->spec;
  const Access& a = plan.access;
  auto colName = [&](std::uint32_t c) { return t.columns[c].name; };
  std::ostringstream out;
  const char* dir = a.reverse ? " DESC" : "";
  switch (a.kind) {
    case AccessKind::FullScan: out << "SCAN " << t.name << dir; break;
    case AccessKind::PkLookup:
      out << "SEARCH " << t.name << " USING PRIMARY KEY (id " << (a.keys.size() == 1 ? "= " : "IN ");
      for (std::size_t i = 0; i < a.keys.size(); ++i) out << (i ? ", " : "") << a.keys[i][0].toString();
      out << ")";
      break;
    case AccessKind::PkRange:
      out << "SEARCH " << t.name << " USING PRIMARY KEY (" << boundText(a.lo, a.hi, "id") << ")" << dir;
      break;
    case AccessKind::IndexEq: {
      out << "SEARCH " << t.name << " USING INDEX " << a.index->spec.name << " (";
      if (a.keys.size() != 1) {  // IN (...); empty when the list held only NULLs
        out << colName(a.index->columns[0]) << " IN (";
        for (std::size_t i = 0; i < a.keys.size(); ++i) out << (i ? ", " : "") << a.keys[i][0].toString();
        out << ")";
      } else {
        for (std::size_t k = 0; k < a.keys[0].size(); ++k) {
          out << (k ? " AND " : "") << colName(a.index->columns[k]) << " = " << a.keys[0][k].toString();
        }
      }
      out << ")" << dir;
      break;
    }
    case AccessKind::IndexRange: {
      out << "SEARCH " << t.name << " USING INDEX " << a.index->spec.name << " (";
      for (std::size_t k = 0; k < a.eq.size(); ++k) {
        out << colName(a.index->columns[k]) << " = " << a.eq[k].toString() << " AND ";
      }
      out << boundText(a.lo, a.hi, colName(a.index->columns[a.eq.size()])) << ")" << dir;
      break;
    }
    case AccessKind::IndexOrder: out << "SCAN " << t.name << " IN ORDER OF INDEX " << a.index->spec.name << dir; break;
    case AccessKind::Subquery: out << "SCAN SUBQUERY " << src.alias; break;
  }
  return out.str();
}

std::string explainPlan(const QueryPlan& plan) {
  std::ostringstream out;
  out << describeAccess(plan) << "\n";
  if (plan.source_filter) out << "  FILTER " << plan.source_filter.toString() << "\n";
  for (const auto& j : plan.joins) {
    const PlanSource& s = plan.sources[j.source];
    const auto& col = s.table->spec->columns[j.inner_column].name;
    out << (j.kind == JoinKind::Inner ? "INNER JOIN " : "LEFT JOIN ") << s.table->spec->name;
    switch (j.method) {
      case JoinMethod::PkLookup: out << " USING PRIMARY KEY (id = " << j.outer_key.toString() << ")"; break;
      case JoinMethod::IndexLookup:
        out << " USING INDEX " << j.index->spec.name << " (" << col << " = " << j.outer_key.toString() << ")";
        break;
      case JoinMethod::Hash: out << " USING HASH TABLE (" << col << " = " << j.outer_key.toString() << ")"; break;
      case JoinMethod::NestedLoop: out << " NESTED LOOP ON " << j.on.toString(); break;
    }
    out << "\n";
  }
  if (plan.post_filter) out << "FILTER " << plan.post_filter.toString() << "\n";
  if (plan.aggregate) {
    out << "AGGREGATE";
    if (!plan.group_by.empty()) {
      out << " GROUP BY (hash) ";
      for (std::size_t i = 0; i < plan.group_by.size(); ++i) out << (i ? ", " : "") << plan.group_by[i].toString();
    }
    out << "\n";
    if (plan.having) out << "HAVING " << plan.having.toString() << "\n";
  }
  if (!plan.order.empty()) {
    out << (plan.order_by_access ? "ORDER BY (from the access path, no sort) " : "SORT BY ");
    for (std::size_t i = 0; i < plan.order.size(); ++i) {
      out << (i ? ", " : "") << plan.order[i].expr.toString() << (plan.order[i].direction == SortDirection::Desc ? " DESC" : "");
    }
    out << "\n";
  }
  if (plan.limit >= 0 || plan.offset > 0) {
    out << "LIMIT " << plan.limit << " OFFSET " << plan.offset;
    if (plan.order_by_access || plan.order.empty()) out << " (stops early)";
    out << "\n";
  }
  return out.str();
}

// ---- projection ------------------------------------------------------------------------

void expandProjection(QueryPlan& plan, const QuerySpec& spec) {
  plan.shape = std::make_shared<ResultShape>();
  if (!spec.projection.empty()) {
    plan.projection = spec.projection;
  } else {
    const bool qualify = plan.sources.size() > 1;
    for (const auto& s : plan.sources) {
      if (s.subquery) {
        for (const auto& c : s.subquery->shape->columns) {
          plan.projection.emplace_back(qualify ? s.alias + "." + c.name : c.name, colRef(s.alias, c.name));
        }
        continue;
      }
      const TableSpec& t = *s.table->spec;
      for (std::uint32_t i = 0; i < t.columns.size(); ++i) {
        plan.projection.emplace_back(qualify ? t.name + "." + t.columns[i].name : t.columns[i].name,
                                     AnyColumn{&t, i}.expr());
      }
    }
  }
  for (const auto& item : plan.projection) {
    if (plan.shape->find(item.alias) >= 0) {
      fail(ErrorCode::InvalidArgument, "select: the output name '" + item.alias + "' is used twice");
    }
    ResultShape::Column col;
    col.name = item.alias;
    if (item.expr.node().op == ExprOp::Column) {
      col.table = item.expr.node().table;
      col.column = item.expr.node().column;
    }
    plan.shape->columns.push_back(std::move(col));
  }
}

}  // namespace

std::shared_ptr<const QueryPlan> planQuery(DatabaseImpl& db, const QuerySpec& spec, const std::any* auth_ctx) {
  auto plan = std::make_shared<QueryPlan>();
  if (!spec.from) fail(ErrorCode::InvalidArgument, "select: no from() or fromSubquery()");
  // Sources.
  auto authOf = [&](BoundTable& t) -> Expr {
    const auto& read = t.spec->options.auth.read;
    if (auth_ctx == nullptr || !read) return Expr();
    Expr e = read(*auth_ctx);
    if (e) query::checkColumnsBelongTo(e, *t.spec);
    return e;
  };
  if (spec.from->table != nullptr) {
    BoundTable& t = db.table(*spec.from->table);
    plan->sources.push_back(PlanSource{&t, nullptr, t.spec->name, authOf(t)});
  } else {
    // A subquery built through a bound handle keeps its own restriction.
    const std::any* inner_ctx = spec.from->auth_ctx ? spec.from->auth_ctx.get() : auth_ctx;
    plan->sources.push_back(PlanSource{nullptr, planQuery(db, *spec.from->subquery, inner_ctx), spec.from->alias, Expr()});
  }
  for (const auto& j : spec.joins) {
    BoundTable& t = db.table(*j.table);
    if (sourceOf(*plan, t.spec) >= 0) {
      fail(ErrorCode::InvalidArgument, "join: table '" + t.spec->name + "' appears twice in the query; self-joins are not supported");
    }
    plan->sources.push_back(PlanSource{&t, nullptr, t.spec->name, authOf(t)});
  }
  // References.
  std::uint32_t params = 0;
  const Scope all{*plan, plan->sources.size()};
  if (spec.where) checkRefs(spec.where, all, "where", false, false, params);
  for (std::size_t i = 0; i < spec.joins.size(); ++i) {
    checkRefs(spec.joins[i].on, Scope{*plan, i + 2}, "join " + spec.joins[i].table->name() + " on", false, false, params);
  }
  for (const auto& g : spec.group_by) checkRefs(g, all, "groupBy", false, false, params);
  if (spec.having) {
    if (spec.group_by.empty()) fail(ErrorCode::InvalidArgument, "having: needs groupBy()");
    checkRefs(spec.having, all, "having", true, false, params);
  }
  for (const auto& o : spec.order) checkRefs(o.expr, all, "orderBy", true, false, params);
  for (const auto& p : spec.projection) checkRefs(p.expr, all, "select '" + p.alias + "'", true, false, params);
  if (const auto& sub = plan->sources.front().subquery) params = std::max(params, sub->params);  // shared parameters
  plan->params = params;

  expandProjection(*plan, spec);
  plan->group_by = spec.group_by;
  plan->having = spec.having;
  plan->order = spec.order;
  plan->limit = spec.limit;
  plan->offset = spec.offset;
  plan->aggregate = !spec.group_by.empty() || containsAggregate(spec.having ? spec.having : lit(Value())) ||
                    std::any_of(plan->projection.begin(), plan->projection.end(),
                                [](const ProjectionItem& p) { return containsAggregate(p.expr); }) ||
                    std::any_of(spec.order.begin(), spec.order.end(), [](const OrderTerm& o) { return containsAggregate(o.expr); });
  if (plan->aggregate) {
    for (const auto& p : plan->projection) {
      checkGrouped(p.expr, plan->group_by, "select '" + p.alias + "'");
      collectAggregates(p.expr, plan->aggregates);
    }
    if (plan->having) {
      checkGrouped(plan->having, plan->group_by, "having");
      collectAggregates(plan->having, plan->aggregates);
    }
    for (const auto& o : plan->order) {
      checkGrouped(o.expr, plan->group_by, "orderBy");
      collectAggregates(o.expr, plan->aggregates);
    }
  }

  // WHERE: conjuncts on the from source alone filter it as it is read.
  std::vector<Expr> terms, source_terms, post_terms;
  query::flattenAnd(spec.where, terms);
  for (const auto& t : terms) (referencesOnly(t, *plan, 0) ? source_terms : post_terms).push_back(t);
  if (plan->sources.front().auth) source_terms.push_back(plan->sources.front().auth);
  plan->source_filter = conjunction(source_terms);
  plan->post_filter = conjunction(post_terms);

  // Access path.
  const bool single = spec.joins.empty();
  if (plan->sources.front().table != nullptr) {
    const bool want_order = !plan->aggregate && !plan->order.empty();
    const AccessChoice choice =
        chooseAccess(*plan->sources.front().table, source_terms, plan->order, want_order, spec.limit >= 0);
    plan->access = choice.access;
    plan->order_by_access = choice.ordered && want_order && single;
  } else {
    plan->access.kind = AccessKind::Subquery;
  }
  for (std::size_t i = 0; i < spec.joins.size(); ++i) {
    plan->joins.push_back(planJoin(*plan, i + 1, spec.joins[i].kind, spec.joins[i].on));
  }
  plan->plain = single && plan->sources.front().table != nullptr && spec.projection.empty() && !plan->aggregate;
  plan->point_lookup = plan->plain && plan->access.kind == AccessKind::PkLookup && plan->access.keys.size() == 1 &&
                       source_terms.size() == 1 && !plan->post_filter && !plan->sources.front().auth &&
                       plan->offset == 0 && plan->limit != 0;
  plan->explain = explainPlan(*plan);
  return plan;
}

}  // namespace plasma::detail
