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

namespace {

struct Customers : Table {
  Customers() : Table("customers") { index("by_code", {code}); }
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
  IntColumn code{this, integer("code").nullable()};
};
struct Orders : Table {
  Orders() : Table("orders") {}
  TextColumn id{this, plasma::id()};
  TextColumn customerId{this, text("customerId").nullable()};
  IntColumn code{this, integer("code").nullable()};
  IntColumn amount{this, integer("amount")};
};
const Customers customers;
const Orders orders;
const Schema join_schema = defineSchema("fastpath-join-v1", {customers, orders});

// Orders in id order with join keys that repeat, alternate, are NULL or
// match nothing; customers A and B (code 1 twice: two rows per key).
void seedJoin(Database& db) {
  db.write([&](Tx& tx) {
    (void)tx.insert(customers).values({{customers.id, "A"}, {customers.name, "alice"}, {customers.code, 1}});
    (void)tx.insert(customers).values({{customers.id, "B"}, {customers.name, "bob"}, {customers.code, 2}});
    (void)tx.insert(customers).values({{customers.id, "C"}, {customers.name, "carol"}, {customers.code, 1}});
    const std::vector<std::pair<Value, Value>> keys = {
        {Value("A"), Value(1)}, {Value("A"), Value(1)}, {Value("B"), Value(2)}, {Value("A"), Value(1)},
        {Value(), Value()},     {Value("Z"), Value(9)}, {Value("B"), Value(2)}, {Value("B"), Value(1)},
        {Value(""), Value(2)},  {Value("A"), Value()},  {Value("A"), Value(1)}};
    for (std::size_t i = 0; i < keys.size(); ++i) {
      (void)tx.insert(orders).values({{orders.id, "o" + std::to_string(10 + i)},
                                      Assignment(AnyColumn(orders.customerId), keys[i].first),
                                      Assignment(AnyColumn(orders.code), keys[i].second),
                                      {orders.amount, static_cast<std::int64_t>(i)}});
    }
  });
}

std::string render(const std::vector<Value>& values) {
  std::string s = "[";
  for (std::size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + qtest::textOf(values[i]);
  return s + "]";
}

std::vector<std::string> rendered(const QueryResult& r) {
  std::vector<std::string> out;
  for (const auto& row : r.rows) out.push_back(render(row.values()));
  return out;
}

}  // namespace

TEST_CASE("the join probe cache gives the same rows when keys repeat, alternate, are NULL or missing",
          "[query][fastpath][join]") {
  TempDir dir;
  auto db = Database::open(dir.path(), join_schema, plasma_test::fastOptions());
  db.ensureSchema();
  seedJoin(db);
  const auto pk = [&](auto& ctx) {
    return ctx.select({{"o", orders.id}, {"amount", orders.amount}, {"name", customers.name}})
        .from(orders)
        .innerJoin(customers, eq(orders.customerId, customers.id))
        .orderBy(asc(orders.id));
  };
  const auto pkLeft = [&](auto& ctx) {
    return ctx.select({{"o", orders.id}, {"name", customers.name}})
        .from(orders)
        .leftJoin(customers, eq(orders.customerId, customers.id))
        .orderBy(asc(orders.id));
  };
  const auto byIndex = [&](auto& ctx) {
    return ctx.select({{"o", orders.id}, {"c", customers.id}})
        .from(orders)
        .innerJoin(customers, eq(orders.code, customers.code))
        .orderBy(asc(orders.id), asc(customers.id));
  };
  const std::vector<std::string> expected_pk = {
      "[o10, 0, alice]", "[o11, 1, alice]", "[o12, 2, bob]", "[o13, 3, alice]",
      "[o16, 6, bob]",   "[o17, 7, bob]",   "[o19, 9, alice]", "[o20, 10, alice]"};
  const std::vector<std::string> expected_left = {
      "[o10, alice]", "[o11, alice]", "[o12, bob]", "[o13, alice]", "[o14, <null>]", "[o15, <null>]",
      "[o16, bob]",   "[o17, bob]",   "[o18, <null>]", "[o19, alice]", "[o20, alice]"};
  const std::vector<std::string> expected_index = {
      "[o10, A]", "[o10, C]", "[o11, A]", "[o11, C]", "[o12, B]", "[o13, A]", "[o13, C]", "[o16, B]",
      "[o17, A]", "[o17, C]", "[o18, B]", "[o20, A]", "[o20, C]"};
  INFO(pk(db).explain() << byIndex(db).explain());
  CHECK(qtest::contains(pk(db).explain(), "USING PRIMARY KEY"));
  CHECK(qtest::contains(byIndex(db).explain(), "USING INDEX by_code"));
  // A read transaction caches probes; a write transaction does not.
  db.read([&](const ReadTx& tx) {
    CHECK(rendered(pk(tx).all()) == expected_pk);
    CHECK(rendered(pkLeft(tx).all()) == expected_left);
    CHECK(rendered(byIndex(tx).all()) == expected_index);
  });
  db.write([&](Tx& tx) {
    CHECK(rendered(pk(tx).all()) == expected_pk);
    CHECK(rendered(pkLeft(tx).all()) == expected_left);
    CHECK(rendered(byIndex(tx).all()) == expected_index);
  });
  // Without orderBy the rows stream straight from the join (the cache is
  // hit on consecutive equal keys): the same set.
  db.read([&](const ReadTx& tx) {
    auto q = tx.select({{"o", orders.id}, {"name", customers.name}, {"amount", orders.amount}})
                 .from(orders)
                 .innerJoin(customers, eq(orders.customerId, customers.id));
    std::multiset<std::string> got;
    q.forEach([&](const ResultRow& r) {
      got.insert(render(r.values()));
      return true;
    });
    CHECK(got == std::multiset<std::string>{"[o10, alice, 0]", "[o11, alice, 1]", "[o12, bob, 2]", "[o13, alice, 3]",
                                            "[o16, bob, 6]", "[o17, bob, 7]", "[o19, alice, 9]", "[o20, alice, 10]"});
  });
}

TEST_CASE("forEach refills one row's values in place and gives what all() gives", "[query][fastpath]") {
  TempDir dir;
  auto db = Database::open(dir.path(), join_schema, plasma_test::fastOptions());
  db.ensureSchema();
  seedJoin(db);
  // Text values of varying length (longer and shorter than the last), NULLs between them.
  db.write([&](Tx& tx) {
    (void)tx.insert(customers).values(
        {{customers.id, "a-customer-id-much-longer-than-sso-buffers"}, {customers.name, "x"}, {customers.code, 3}});
  });
  auto q = db.select({{"o", orders.id}, {"cid", orders.customerId}, {"code", orders.code}, {"c", customers.name},
                      {"twice", lit(Value(2))}})
               .from(orders)
               .leftJoin(customers, eq(orders.customerId, customers.id))
               .prepare();
  const QueryResult all = q.all();
  std::vector<std::vector<Value>> streamed;
  q.forEach([&](const ResultRow& r) {
    streamed.push_back(r.values());
    return true;
  });
  REQUIRE(streamed.size() == all.rows.size());
  for (std::size_t i = 0; i < streamed.size(); ++i) CHECK(streamed[i] == all.rows[i].values());
  // The same through an id list where consecutive rows alternate between a long and a short id.
  auto byIds = db.select({{"id", customers.id}, {"name", customers.name}})
                   .from(customers)
                   .where(inArray(customers.id, {"A", "a-customer-id-much-longer-than-sso-buffers", "B"}))
                   .prepare();
  std::vector<std::string> names;
  byIds.forEach([&](const ResultRow& r) {
    names.push_back(r["id"].asText() + "=" + r["name"].asText());
    return true;
  });
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"A=alice", "B=bob", "a-customer-id-much-longer-than-sso-buffers=x"});
}

TEST_CASE("bindText rebinds a text parameter in place like bind", "[query][fastpath]") {
  TempDir dir;
  auto db = Database::open(dir.path(), join_schema, plasma_test::fastOptions());
  db.ensureSchema();
  seedJoin(db);
  auto q = db.select({{"name", customers.name}}).from(customers).where(eq(customers.id, param(0))).prepare();
  auto names = [&] {
    std::vector<std::string> out;
    q.forEach([&](const ResultRow& r) {
      out.push_back(r["name"].asText());
      return true;
    });
    return out;
  };
  q.bindText(0, "A");
  CHECK(names() == std::vector<std::string>{"alice"});
  q.bindText(0, "a-much-longer-id-than-the-small-string-buffer");
  CHECK(names().empty());
  q.bindText(0, "B");
  CHECK(names() == std::vector<std::string>{"bob"});
  q.bind(0, Value(3));  // another kind first: replaced by text
  q.bindText(0, "C");
  CHECK(names() == std::vector<std::string>{"carol"});
  q.bind(0, Value());
  CHECK(names().empty());
  q.bindText(0, "");
  CHECK(names().empty());
  plasma_test::expectError([&] { q.bindText(1, "A"); }, ErrorCode::InvalidArgument, {"bind(1)"});
}

TEST_CASE("a callback returning false or a limit stops every access path and join after that row",
          "[query][fastpath]") {
  TempDir dir;
  auto db = Database::open(dir.path(), join_schema, plasma_test::fastOptions());
  db.ensureSchema();
  seedJoin(db);
  auto calls = [](auto&& query, int stop_after) {
    int n = 0;
    query.forEach([&](const ResultRow&) { return ++n < stop_after; });
    return n;
  };
  auto rowCalls = [](auto&& query, int stop_after) {
    int n = 0;
    query.forEachRow([&](const RowView&) { return ++n < stop_after; });
    return n;
  };
  for (int k : {1, 2, 5}) {
    INFO("stop after " << k);
    // Left join with several matches per outer row, NULL-filled rows between them.
    CHECK(calls(db.select({{"o", orders.id}, {"c", customers.id}})
                    .from(orders)
                    .leftJoin(customers, eq(orders.code, customers.code)),
                k) == k);
    CHECK(calls(db.select({{"o", orders.id}, {"c", customers.name}})
                    .from(orders)
                    .innerJoin(customers, eq(orders.customerId, customers.id)),
                k) == k);
    CHECK(rowCalls(db.select().from(orders), k) == k);                                         // scan
    CHECK(rowCalls(db.select().from(orders).where(gte(orders.id, "o12")), k) == k);           // id range
    CHECK(rowCalls(db.select().from(customers).where(eq(customers.code, 1)), k) == std::min(k, 2));  // index
    CHECK(rowCalls(db.select().from(orders).where(inArray(orders.id, {"o10", "o12", "o14", "o16", "o18"})), k) ==
          k);  // id IN
  }
  // A limit through a left join: exactly `limit` rows, and the same as the first rows of the whole result.
  auto q = [&](std::int64_t limit) {
    auto b = db.select({{"o", orders.id}, {"c", customers.id}})
                 .from(orders)
                 .leftJoin(customers, eq(orders.code, customers.code));
    if (limit >= 0) b.limit(limit);
    return rendered(b.all());
  };
  const auto whole = q(-1);
  for (std::int64_t limit : {0, 1, 2, 3, 4, 7}) {
    const auto part = q(limit);
    REQUIRE(part.size() == static_cast<std::size_t>(std::min<std::int64_t>(limit, static_cast<std::int64_t>(whole.size()))));
    CHECK(std::equal(part.begin(), part.end(), whole.begin()));
  }
}

TEST_CASE("a lookup by one id (rows() without the runner) gives what the general runner gives", "[query][fastpath]") {
  TempDir dir;
  auto db = Database::open(dir.path(), join_schema, plasma_test::fastOptions());
  db.ensureSchema();
  seedJoin(db);
  // The outcome of a query as ids, or the error it raised.
  auto outcome = [](auto&& run) {
    try {
      return run();
    } catch (const Error& e) {
      return std::vector<std::string>{"error: " + std::string(errorCodeName(e.code()))};
    }
  };
  auto compare = [&](const std::string& what, const PreparedQuery& q) {
    INFO(what);
    const auto fast = outcome([&] { return qtest::idList(q.rows()); });  // rows(): the one-fetch path
    const auto general = outcome([&] {
      std::vector<std::string> ids;
      for (const auto& r : q.all().rows) ids.push_back(r["id"].asText());  // all(): the runner
      return ids;
    });
    CHECK(fast == general);
    return fast;
  };
  auto byParam = db.select().from(customers).where(eq(customers.id, param(0))).prepare();
  const std::vector<std::pair<Value, std::vector<std::string>>> binds = {
      {Value("A"), {"A"}}, {Value("Z"), {}}, {Value(), {}}, {Value(""), {}}, {Value("AA"), {}}};
  for (const auto& [v, want] : binds) {
    byParam.bind(0, v);
    CHECK(compare("id = ? bound to " + v.toString(), byParam) == want);
  }
  byParam.bind(0, Value(3));  // an integer for a text id: whatever the runner does (an error), both do
  compare("id = ? bound to an integer", byParam);
  CHECK(compare("id = 'B'", db.select().from(customers).where(eq(customers.id, "B")).prepare()) ==
        std::vector<std::string>{"B"});
  CHECK(compare("'C' = id", db.select().from(customers).where(eq(lit(Value("C")), customers.id.expr())).prepare()) ==
        std::vector<std::string>{"C"});
  CHECK(compare("id IN ('B')", db.select().from(customers).where(inArray(customers.id, {"B"})).prepare()) ==
        std::vector<std::string>{"B"});
  CHECK(compare("id = 'A' limit 1", db.select().from(customers).where(eq(customers.id, "A")).limit(1).prepare()) ==
        std::vector<std::string>{"A"});
  CHECK(compare("id = 'A' offset 1",
                db.select().from(customers).where(eq(customers.id, "A")).limit(5).offset(1).prepare())
            .empty());
  CHECK(compare("id = 'A' limit 0", db.select().from(customers).where(eq(customers.id, "A")).limit(0).prepare())
            .empty());
  CHECK(compare("id = 'A' and code = 2",
                db.select().from(customers).where(and_(eq(customers.id, "A"), eq(customers.code, 2))).prepare())
            .empty());
  // Missing parameters: the same error either way.
  auto unbound = db.select().from(customers).where(eq(customers.id, param(0))).prepare();
  compare("id = ? with no parameter bound", unbound);
}
