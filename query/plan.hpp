// query/plan.hpp — the query AST as built by SelectBuilder, and the plan the
// planner makes of it (planner.cpp) for the executor (executor.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/store.hpp"
#include "plasma/query.hpp"

namespace plasma::detail {

enum class JoinKind : std::uint8_t { Inner, Left };

struct SourceSpec {
  const Table* table = nullptr;                // a table, or
  std::shared_ptr<const QuerySpec> subquery;   // a subquery named `alias`
  std::string alias;
  std::shared_ptr<const std::any> auth_ctx;    // the subquery builder's own auth context, if any
};

struct JoinSpec {
  JoinKind kind = JoinKind::Inner;
  const Table* table = nullptr;
  Expr on;
};

struct QuerySpec {
  std::vector<ProjectionItem> projection;  // empty: every column of every source
  std::optional<SourceSpec> from;
  std::vector<JoinSpec> joins;
  Expr where;
  std::vector<Expr> group_by;
  Expr having;
  std::vector<OrderTerm> order;
  std::int64_t limit = -1;  // -1: none
  std::int64_t offset = 0;
};

// ---- the plan ---------------------------------------------------------------------

struct PlanSource {
  BoundTable* table = nullptr;                   // table source
  std::shared_ptr<const QueryPlan> subquery;     // or subquery source
  std::string alias;                             // subquery alias / table name
  Expr auth;                                     // auth.read predicate of a table source
};

// How the `from` source is read.
enum class AccessKind : std::uint8_t {
  FullScan,    // every row, id order (reverse when `reverse`)
  PkLookup,    // point lookups of `keys` (id = / id IN)
  PkRange,     // id range
  IndexEq,     // equality on the first `eq.size()` columns of `index` (one seek per key set)
  IndexRange,  // equality prefix, then a range on the next column
  IndexOrder,  // walk `index` in order (for orderBy + limit)
  Subquery,    // the rows of a materialized subquery
};

struct RangeBound {
  Expr value;  // literal or param; empty: unbounded
  bool inclusive = true;
};

struct Access {
  AccessKind kind = AccessKind::FullScan;
  const BoundIndex* index = nullptr;
  std::vector<std::vector<Expr>> keys;  // PkLookup: one id per entry; IndexEq: one key set per entry
  std::vector<Expr> eq;                 // IndexRange/IndexOrder: equality prefix
  RangeBound lo, hi;                    // PkRange / IndexRange
  bool reverse = false;                 // walk descending
};

enum class JoinMethod : std::uint8_t { PkLookup, IndexLookup, Hash, NestedLoop };

struct JoinStep {
  JoinKind kind = JoinKind::Inner;
  std::size_t source = 0;         // index into QueryPlan::sources
  JoinMethod method = JoinMethod::NestedLoop;
  Expr outer_key;                 // evaluated on the rows joined so far
  std::uint32_t inner_column = 0; // the joined table's key column
  const BoundIndex* index = nullptr;
  Expr on;                        // the full ON condition (re-checked)
};

struct QueryPlan {
  std::vector<PlanSource> sources;  // [0] is `from`, then one per join
  Access access;
  Expr source_filter;  // where-conjuncts (and auth) on the `from` source alone
  std::vector<JoinStep> joins;
  Expr post_filter;    // the rest of `where`, after the joins
  bool aggregate = false;
  std::vector<Expr> group_by;
  std::vector<const ExprNode*> aggregates;  // distinct aggregate nodes in projection/having/order
  Expr having;
  std::vector<ProjectionItem> projection;   // expanded
  std::shared_ptr<ResultShape> shape;
  std::vector<OrderTerm> order;
  bool order_by_access = false;  // the access path delivers rows in the requested order
  std::int64_t limit = -1;
  std::int64_t offset = 0;
  bool plain = false;            // one table, whole rows: rows()/forEachRow() allowed
  // A plain lookup of one id whose only condition is that id (`id = k` or
  // `id IN (k)`, no auth.read, no offset): the row stored under the key
  // meets it by construction, so executeRows fetches it without the
  // general runner.
  bool point_lookup = false;
  std::uint32_t params = 0;      // number of parameters
  std::string explain;
};

// Plans `spec` against the database; throws Error naming the part of the
// query at fault (unknown column, bad colRef, having without groupBy, ...).
std::shared_ptr<const QueryPlan> planQuery(DatabaseImpl& db, const QuerySpec& spec, const std::any* auth_ctx);

// Runs a plan. `emit` receives each output row (projected values); return
// false to stop. `rows` (plain plans only) receives the from table's rows.
void executeRows(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params,
                 const std::function<bool(const RowView&)>& rows);
void executeProjected(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params,
                      const std::function<bool(std::vector<Value>&&)>& emit);
// The same, handing each row's values in a vector the executor reuses for
// the next row: `emit` may move from it or leave it (text values then keep
// their buffers, and the next row costs no allocation).
void executeProjectedInPlace(const QueryPlan& plan, TxnState& txn, const std::vector<Value>& params,
                             const std::function<bool(std::vector<Value>&)>& emit);

}  // namespace plasma::detail
