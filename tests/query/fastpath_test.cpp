// The executor's fast paths give exactly what the general evaluator gives:
// - CompiledFilter's in-place tests (column <op> constant, isNull /
//   isNotNull read straight from the FlatBuffers row) against
//   query::evalPredicate, on NULLs, the id column, parameters and columns
//   added after a row was written (fill values);
// - the join probe cache (the last joined key's rows reused) when keys
//   repeat and alternate;
// - projected results reusing one value vector between rows.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/store.hpp"
#include "query/eval.hpp"
#include "query/filter.hpp"
#include "query_test_util.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

struct Things : Table {
  Things() : Table("things") {}
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n").nullable()};
  TextColumn s{this, text("s").nullable()};
  BoolColumn b{this, boolean("b").nullable()};
  IntColumn m{this, integer("m").defaultTo(0)};
};
const Things things;
const Schema schema = defineSchema("fastpath-v1", {things});

// The same table with two columns added later: rows written under v1 read
// their fill values (7 and NULL) through the generic path.
struct Things2 : Table {
  Things2() : Table("things") {}
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n").nullable()};
  TextColumn s{this, text("s").nullable()};
  BoolColumn b{this, boolean("b").nullable()};
  IntColumn m{this, integer("m").defaultTo(0)};
  IntColumn extra{this, integer("extra").defaultTo(7)};
  TextColumn label{this, text("label").nullable()};
};
const Things2 things2;
const Schema schema2 = defineSchema("fastpath-v2", {things2});

void seed(Database& db) {
  db.write([&](Tx& tx) {
    auto add = [&](const char* id, Value n, Value s, Value b, int m) {
      (void)tx.insert(things).values({{things.id, id},
                                       Assignment(AnyColumn(things.n), std::move(n)),
                                       Assignment(AnyColumn(things.s), std::move(s)),
                                       Assignment(AnyColumn(things.b), std::move(b)),
                                       {things.m, m}});
    };
    add("a", Value(1), Value("apple"), Value(true), 1);
    add("b", Value(2), Value("Banana"), Value(false), 5);
    add("c", Value(3), Value("cherry"), Value(), 3);
    add("d", Value(), Value(), Value(true), 0);
    add("e", Value(5), Value(""), Value(false), -9);
    add("f", Value(-7), Value("apple"), Value(), -7);
    add("g", Value(std::int64_t{9'007'199'254'740'993}), Value("\xc3\xa9lan"), Value(false), 11);
  });
}

// For every row of `table`: the compiled filter (bound to the table's
// layout, and unbound) passes exactly the rows evalPredicate finds TRUE.
// Returns how many conjuncts were compiled to direct tests.
std::size_t checkFilter(Database& db, const Table& table, const Expr& pred, const std::vector<Value>& params = {}) {
  INFO("predicate: " << pred.toString());
  std::size_t simple = 0;
  db.read([&](const ReadTx& tx) {
    detail::BoundTable& t = tx.state().db.table(table);
    query::CompiledFilter bound(pred, *t.spec, params);
    bound.bindLayout(*t.layout);
    const query::CompiledFilter unbound(pred, *t.spec, params);
    simple = bound.simpleCount();
    struct Src final : query::ColumnSource {
      const RowView& row;
      const std::vector<Value>& params;
      Src(const RowView& r, const std::vector<Value>& p) : row(r), params(p) {}
      Value column(const TableSpec*, std::uint32_t c) const override { return row.get(c); }
      const RowView* rowFor(const TableSpec* spec) const override { return spec == &row.table() ? &row : nullptr; }
      const Value& param(std::uint32_t i) const override { return params.at(i); }
    };
    tx.scan(table, [&](const RowView& row) {
      INFO("row " << row.id());
      const Src src(row, params);
      const bool expected = query::evalPredicate(pred, src) == query::Tri::True;
      CHECK(bound.matches(row, src) == expected);
      CHECK(unbound.matches(row, src) == expected);
      return true;
    });
  });
  return simple;
}

}  // namespace

TEST_CASE("the compiled filter's in-place tests agree with the evaluator on NULLs and every operator",
          "[query][fastpath]") {
  TempDir dir;
  auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  db.ensureSchema();
  seed(db);
  const Things& t = things;
  for (const Expr& e : {eq(t.n, 2), ne(t.n, 2), gt(t.n, 2), gte(t.n, 2), lt(t.n, 2), lte(t.n, 2), gt(t.n, -100),
                        eq(t.s, "apple"), ne(t.s, "apple"), gt(t.s, "b"), gte(t.s, ""), lt(t.s, "c"), lte(t.s, "cherry"),
                        eq(t.m, 0), lt(t.m, 0), isNull(t.n), isNotNull(t.n), isNull(t.s), isNotNull(t.s),
                        isNull(t.id), isNotNull(t.id), eq(t.id, "c"), gt(t.id, "c"), lte(t.id, "b"),
                        eq(t.n, std::int64_t{9'007'199'254'740'993}), gt(t.n, std::int64_t{9'007'199'254'740'992})}) {
    CHECK(checkFilter(db, things, e) == 1);
  }
  // Constant first: mirrored.
  CHECK(checkFilter(db, things, compare(ExprOp::Lt, lit(Value(2)), t.n.expr())) == 1);
  CHECK(checkFilter(db, things, compare(ExprOp::Gte, lit(Value("b")), t.s.expr())) == 1);
}

TEST_CASE("the compiled filter keeps three-valued and, or, not and mismatched kinds on the evaluator",
          "[query][fastpath]") {
  TempDir dir;
  auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  db.ensureSchema();
  seed(db);
  const Things& t = things;
  // A conjunction: every part compiled.
  CHECK(checkFilter(db, things, and_(gt(t.n, 0), isNotNull(t.s), lt(t.s, "z"))) == 3);
  // Compiled and residual parts together; the residual sees NULLs as unknown.
  CHECK(checkFilter(db, things, and_(gte(t.m, 0), or_(eq(t.n, 1), not_(eq(t.s, "cherry"))))) == 1);
  CHECK(checkFilter(db, things, and_(isNotNull(t.n), not_(gt(t.n, 2)))) == 1);
  CHECK(checkFilter(db, things, or_(isNull(t.n), eq(t.n, 3))) == 0);
  // Comparing a column with NULL is unknown for every row: nothing passes, nothing compiled.
  CHECK(checkFilter(db, things, eq(t.n.expr(), lit(Value()))) == 0);
  // Integer column against a real constant: numeric comparison, evaluator.
  CHECK(checkFilter(db, things, gt(t.n.expr(), lit(Value(2.5)))) == 0);
  // Boolean column: evaluator (compares as 0/1).
  CHECK(checkFilter(db, things, eq(t.b.expr(), lit(Value(1)))) == 0);
  // Parameters resolve at compile time; a NULL parameter is not compiled.
  CHECK(checkFilter(db, things, and_(gt(t.n.expr(), param(0)), eq(t.s.expr(), param(1))),
                    {Value(1), Value("cherry")}) == 2);
  CHECK(checkFilter(db, things, eq(t.n.expr(), param(0)), {Value()}) == 0);
  // Text against an integer constant is a TypeMismatch from the evaluator,
  // exactly as before: the fast path does not take it.
  db.read([&](const ReadTx& tx) {
    plasma_test::expectError([&] { (void)tx.select(things).where(eq(t.s.expr(), lit(Value(5)))).rows(); },
                             ErrorCode::TypeMismatch);
  });
}

TEST_CASE("the compiled filter reads fill values of columns added after a row was written", "[query][fastpath]") {
  TempDir dir;
  {
    auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
    db.ensureSchema();
    seed(db);
  }
  auto db = Database::open(dir.path(), schema2, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    (void)tx.insert(things2).values({{things2.id, "n1"}, {things2.n, 4}, {things2.extra, 8}, {things2.label, "x"}});
  });
  const Things2& t = things2;
  for (const Expr& e : {eq(t.extra, 7), eq(t.extra, 8), gt(t.extra, 6), isNull(t.label), isNotNull(t.label),
                        eq(t.label, "x"), lt(t.label, "y"), isNull(t.extra), gt(t.n, 2)}) {
    CHECK(checkFilter(db, things2, e) == 1);
  }
  db.read([&](const ReadTx& tx) {
    CHECK(qtest::idSet(tx.select(things2).where(eq(t.extra, 7)).rows()) ==
          std::set<std::string>{"a", "b", "c", "d", "e", "f", "g"});
    CHECK(qtest::idSet(tx.select(things2).where(and_(isNull(t.label), gt(t.extra, 6))).rows()) ==
          std::set<std::string>{"a", "b", "c", "d", "e", "f", "g"});
    CHECK(qtest::idSet(tx.select(things2).where(isNotNull(t.label)).rows()) == std::set<std::string>{"n1"});
  });
}
