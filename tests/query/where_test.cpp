// Expression evaluation for writes: every operator in the where clause of an
// update and a delete, with SQLite's semantics — three-valued logic around
// NULL, `like` with % and _ ignoring ASCII case only.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;

namespace {

struct Things : Table {
  Things() : Table("things") {}
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n").nullable()};
  TextColumn s{this, text("s").nullable()};
  BoolColumn b{this, boolean("b").nullable()};
  IntColumn m{this, integer("m").defaultTo(0)};
  IntColumn mark{this, integer("mark").defaultTo(0)};
};
const Things things;
const Schema schema = defineSchema("where-v1", {things});

using Ids = std::set<std::string>;

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() {
    db.ensureSchema();
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
      add("e", Value(5), Value("a_c%"), Value(false), 9);
      add("f", Value(-7), Value("APPLE pie"), Value(), -7);
      add("g", Value(10), Value("\xc3\xa9lan"), Value(false), 11);  // "élan"
    });
  }

  // Rows a delete with this predicate removes (rolled back afterwards).
  Ids deleted(const Expr& pred) {
    Ids out;
    std::size_t affected = 0;
    const auto all = plasma_test::idsOf(db, things);
    try {
      db.write([&](Tx& tx) {
        affected = tx.deleteFrom(things).where(pred).rows_affected;
        const auto left = plasma_test::idsOf(tx, things);
        for (const auto& id : all)
          if (std::find(left.begin(), left.end(), id) == left.end()) out.insert(id);
        throw plasma_test::Rollback{};
      });
    } catch (const plasma_test::Rollback&) {
    }
    CHECK(affected == out.size());
    return out;
  }

  // Rows an update with this predicate changes (rolled back afterwards).
  Ids updated(const Expr& pred) {
    Ids out;
    std::size_t affected = 0;
    try {
      db.write([&](Tx& tx) {
        affected = tx.update(things).set({{things.mark, 1}}).where(pred).rows_affected;
        tx.scan(things, [&](const RowView& r) {
          if (r.get(things.mark) == std::optional<std::int64_t>(1)) out.emplace(r.id());
          return true;
        });
        throw plasma_test::Rollback{};
      });
    } catch (const plasma_test::Rollback&) {
    }
    CHECK(affected == out.size());
    return out;
  }

  // Rows a select with this predicate returns.
  Ids selected(const Expr& pred) {
    const auto rows = db.read([&](const ReadTx& tx) { return tx.select(things).where(pred).rows(); });
    const auto ids = plasma_test::idsOf(rows);
    return Ids(ids.begin(), ids.end());
  }
};

void expectMatches(Fixture& fx, const Expr& pred, const Ids& expected) {
  INFO("predicate: " << pred.toString());
  CHECK(fx.deleted(pred) == expected);
  CHECK(fx.updated(pred) == expected);
  CHECK(fx.selected(pred) == expected);
}

}  // namespace

TEST_CASE("comparison operators in where clauses skip NULL rows", "[query][where]") {
  Fixture fx;
  const auto before = plasma_test::captureState(fx.db, {things});
  expectMatches(fx, eq(things.n, 2), {"b"});
  expectMatches(fx, ne(things.n, 2), {"a", "c", "e", "f", "g"});
  expectMatches(fx, gt(things.n, 2), {"c", "e", "g"});
  expectMatches(fx, gte(things.n, 2), {"b", "c", "e", "g"});
  expectMatches(fx, lt(things.n, 2), {"a", "f"});
  expectMatches(fx, lte(things.n, 2), {"a", "b", "f"});
  expectMatches(fx, eq(things.s, "cherry"), {"c"});
  expectMatches(fx, gt(things.s, "b"), {"c", "g"});  // byte order: "Banana" < "b" < "cherry" < "élan"
  expectMatches(fx, lt(things.s, "B"), {"f"});  // "APPLE pie" only
  expectMatches(fx, eq(things.b, true), {"a", "d"});
  expectMatches(fx, ne(things.b, true), {"b", "e", "g"});
  expectMatches(fx, eq(things.id, "e"), {"e"});
  expectMatches(fx, gt(things.id, "e"), {"f", "g"});
  // Column against column.
  expectMatches(fx, eq(things.n, things.m), {"a", "c", "f"});
  expectMatches(fx, lt(things.n, things.m), {"b", "e", "g"});
  // Every probe was rolled back.
  CHECK(plasma_test::captureState(fx.db, {things}) == before);
}

TEST_CASE("and, or and not use three-valued logic", "[query][where]") {
  Fixture fx;
  expectMatches(fx, and_(gt(things.n, 0), lt(things.n, 5)), {"a", "b", "c"});
  expectMatches(fx, and_(gt(things.n, 0), lt(things.n, 5), ne(things.s, "Banana")), {"a", "c"});
  expectMatches(fx, or_(eq(things.n, 1), eq(things.s, "cherry")), {"a", "c"});
  expectMatches(fx, or_(eq(things.n, 1), eq(things.n, 3), eq(things.n, 10)), {"a", "c", "g"});
  // NULL OR TRUE is TRUE.
  expectMatches(fx, or_(eq(things.n, 1), isNull(things.s)), {"a", "d"});
  // NOT (NULL) is NULL: d never matches a negated comparison.
  expectMatches(fx, not_(eq(things.n, 5)), {"a", "b", "c", "f", "g"});
  expectMatches(fx, not_(or_(eq(things.n, 1), eq(things.n, 99))), {"b", "c", "e", "f", "g"});
  // FALSE AND NULL is FALSE, so NOT of it is TRUE; NULL AND NULL stays NULL.
  expectMatches(fx, not_(and_(eq(things.n, 1), eq(things.s, "zzz"))), {"a", "b", "c", "e", "f", "g"});
  expectMatches(fx, not_(and_(eq(things.n, 2), eq(things.b, true))), {"a", "b", "c", "e", "f", "g"});
  // c and f have b NULL: NOT(b = true) is NULL for them.
  expectMatches(fx, not_(eq(things.b, true)), {"b", "e", "g"});
  expectMatches(fx, not_(not_(eq(things.n, 3))), {"c"});
}

TEST_CASE("isNull, isNotNull and inArray", "[query][where]") {
  Fixture fx;
  expectMatches(fx, isNull(things.n), {"d"});
  expectMatches(fx, isNotNull(things.n), {"a", "b", "c", "e", "f", "g"});
  expectMatches(fx, not_(isNull(things.n)), {"a", "b", "c", "e", "f", "g"});
  expectMatches(fx, isNull(things.b), {"c", "f"});
  expectMatches(fx, and_(isNotNull(things.n), ne(things.n, 1)), {"b", "c", "e", "f", "g"});
  expectMatches(fx, inArray(things.n, {1, 3, 99}), {"a", "c"});
  expectMatches(fx, inArray(things.n, std::vector<std::int64_t>{}), {});
  expectMatches(fx, not_(inArray(things.n, {1, 3})), {"b", "e", "f", "g"});  // d: NULL NOT IN (...) is NULL
  expectMatches(fx, inArray(things.s, {"apple", "cherry", "APPLE"}), {"a", "c"});
  expectMatches(fx, inArray(things.id, {"a", "g", "zz"}), {"a", "g"});
}

TEST_CASE("like matches % and _ and ignores ASCII case only", "[query][where]") {
  Fixture fx;
  expectMatches(fx, like(things.s, "a%"), {"a", "e", "f"});
  expectMatches(fx, like(things.s, "%an%"), {"b", "g"});
  expectMatches(fx, like(things.s, "_anana"), {"b"});
  expectMatches(fx, like(things.s, "apple"), {"a"});
  expectMatches(fx, like(things.s, "APPLE"), {"a"});
  expectMatches(fx, like(things.s, "a_c%"), {"e"});
  expectMatches(fx, like(things.s, "%"), {"a", "b", "c", "e", "f", "g"});  // NULL never matches
  expectMatches(fx, like(things.s, "______"), {"b", "c"});
  expectMatches(fx, like(things.s, "%PIE"), {"f"});
  expectMatches(fx, like(things.s, "%e"), {"a", "f"});
  expectMatches(fx, like(things.s, ""), {});
  expectMatches(fx, not_(like(things.s, "a%")), {"b", "c", "g"});
  // Non-ASCII letters are compared exactly; _ matches one (UTF-8) character.
  expectMatches(fx, like(things.s, "\xc3\xa9%"), {"g"});
  expectMatches(fx, like(things.s, "\xc3\x89%"), {});  // "É%"
  expectMatches(fx, like(things.s, "_lan"), {"g"});
  // Pattern characters other than % and _ are literal (no regex, no globbing).
  expectMatches(fx, like(things.s, "a.%"), {});
  expectMatches(fx, like(things.s, "[a]%"), {});
  expectMatches(fx, like(things.s, "a_c*"), {});
  expectMatches(fx, like(things.s, "a_c%%"), {"e"});
}

TEST_CASE("IN with a NULL in the list follows SQL three-valued logic", "[query][where]") {
  Fixture fx;
  // n IN (1, NULL): TRUE for 1, NULL (not FALSE) for every other value.
  expectMatches(fx, inArray(things.n.expr(), {Value(1), Value()}), {"a"});
  expectMatches(fx, not_(inArray(things.n.expr(), {Value(1), Value()})), {});
  expectMatches(fx, or_(inArray(things.n.expr(), {Value(1), Value()}), eq(things.n, 2)), {"a", "b"});
}

TEST_CASE("a dynamic predicate comparing a column with a literal of another kind is a TypeMismatch",
          "[query][where][errors]") {
  Fixture fx;
  const auto before = plasma_test::captureState(fx.db, {things});
  expectError([&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(things).where(eq(things.n.expr(), lit(Value("x")))); });
  }, ErrorCode::TypeMismatch, {"n"});
  expectError([&] {
    fx.db.write([&](Tx& tx) {
      (void)tx.update(things).set({{things.mark, 1}}).where(gt(things.s.expr(), lit(Value(3))));
    });
  }, ErrorCode::TypeMismatch, {"s"});
  expectError([&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(things).where(like(things.n.expr(), "1%")); });
  }, ErrorCode::TypeMismatch, {"n"});
  expectError([&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(things).where(inArray(things.n.expr(), {Value(1), Value("two")})); });
  }, ErrorCode::TypeMismatch, {"n"});
  CHECK(plasma_test::captureState(fx.db, {things}) == before);
  // The untyped form with matching kinds works.
  expectMatches(fx, eq(things.n.expr(), lit(Value(3))), {"c"});
  expectMatches(fx, eq(things.n.expr(), lit(Value())), {});  // = NULL is never true
}

TEST_CASE("operators build the expression tree they name", "[query][expr]") {
  Expr e = eq(things.n, 5);
  REQUIRE(e);
  CHECK(e.node().op == ExprOp::Eq);
  REQUIRE(e.node().children.size() == 2);
  CHECK(e.node().children[0].node().op == ExprOp::Column);
  CHECK(e.node().children[0].node().table == &things.spec());
  CHECK(e.node().children[0].node().column == things.n.index());
  CHECK(e.node().children[1].node().op == ExprOp::Literal);
  CHECK(e.node().children[1].node().value == Value(5));

  Expr a = and_(eq(things.n, 1), ne(things.s, "x"), isNull(things.b));
  CHECK(a.node().op == ExprOp::And);
  CHECK(a.node().children.size() == 3);
  CHECK(a.node().children[2].node().op == ExprOp::IsNull);

  Expr in = inArray(things.n, {1, 2, 3});
  CHECK(in.node().op == ExprOp::InArray);
  CHECK(in.node().values == std::vector<Value>{Value(1), Value(2), Value(3)});

  Expr l = like(things.s, "a%");
  CHECK(l.node().op == ExprOp::Like);
  REQUIRE(l.node().values.size() == 1);
  CHECK(l.node().values[0] == Value("a%"));

  CHECK(not_(l).node().op == ExprOp::Not);
  CHECK(or_(l, in).node().op == ExprOp::Or);
  CHECK(isNotNull(things.s).node().op == ExprOp::IsNotNull);
  for (auto [ex, op] : std::vector<std::pair<Expr, ExprOp>>{{ne(things.n, 1), ExprOp::Ne}, {gt(things.n, 1), ExprOp::Gt},
                                                           {gte(things.n, 1), ExprOp::Gte}, {lt(things.n, 1), ExprOp::Lt},
                                                           {lte(things.n, 1), ExprOp::Lte}}) {
    CHECK(ex.node().op == op);
  }
  // The SQL-like rendering names the column and the literal.
  const std::string text = eq(things.n, 42).toString();
  CHECK_THAT(text, Catch::Contains("n"));
  CHECK_THAT(text, Catch::Contains("42"));
  CHECK_FALSE(exprOpName(ExprOp::Like).empty());
}

TEST_CASE("select orders, limits and offsets the rows it filters", "[query][select]") {
  Fixture fx;
  fx.db.read([&](const ReadTx& tx) {
    auto asc_rows = tx.select(things).where(isNotNull(things.n)).orderBy({asc(things.n)}).rows();
    CHECK(plasma_test::idsOf(asc_rows) == std::vector<std::string>{"f", "a", "b", "c", "e", "g"});
    auto desc_rows = tx.select(things).where(isNotNull(things.n)).orderBy({desc(things.n)}).limit(2).rows();
    CHECK(plasma_test::idsOf(desc_rows) == std::vector<std::string>{"g", "e"});
    auto page = tx.select(things).orderBy({asc(things.id)}).limit(3).offset(2).rows();
    CHECK(plasma_test::idsOf(page) == std::vector<std::string>{"c", "d", "e"});
    // NULL sorts first ascending, as in SQLite; ties broken by the second term.
    auto by_b = tx.select(things).orderBy({asc(things.b), desc(things.id)}).rows();
    CHECK(plasma_test::idsOf(by_b) == std::vector<std::string>{"f", "c", "g", "e", "b", "d", "a"});
    CHECK(tx.select(things).where(gt(things.n, 100)).rows().empty());
    CHECK(tx.count(things) == 7);
  });
}

TEST_CASE("select rejects a negative limit or offset - get of a missing id is a value", "[query][select][errors]") {
  Fixture fx;
  fx.db.read([&](const ReadTx& tx) {
    expectError([&] { (void)tx.select(things).limit(-2).rows(); }, ErrorCode::InvalidArgument, {"limit"});
    expectError([&] { (void)tx.select(things).offset(-1).rows(); }, ErrorCode::InvalidArgument, {"offset"});
    CHECK(tx.select(things).limit(0).rows().empty());
    CHECK(tx.select(things).offset(100).rows().empty());
    CHECK_FALSE(tx.get(things, "missing").has_value());
    CHECK_FALSE(tx.get(things, "").has_value());
    CHECK_FALSE(tx.get(things, std::string(1000, 'x')).has_value());
    // scan stops when the visitor returns false.
    int visited = 0;
    tx.scan(things, [&](const RowView&) { return ++visited < 3; });
    CHECK(visited == 3);
  });
  CHECK_FALSE(fx.db.get(things, "missing").has_value());
}

TEST_CASE("a where clause over a column of another table is rejected", "[query][where][errors]") {
  struct Others : Table {
    Others() : Table("others") {}
    TextColumn id{this, plasma::id()};
    IntColumn n{this, integer("n")};
  };
  const Others others;
  Fixture fx;
  const auto before = plasma_test::captureState(fx.db, {things});
  expectError([&] { fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(things).where(eq(others.n, 1)); }); },
              ErrorCode::UnknownColumn, {"things"});
  expectError([&] {
    fx.db.write([&](Tx& tx) { (void)tx.update(things).set({{things.mark, 1}}).where(gt(others.n, 0)); });
  }, ErrorCode::UnknownColumn, {"things"});
  CHECK(plasma_test::captureState(fx.db, {things}) == before);
}

TEST_CASE("copied rows compare by value", "[query][rows]") {
  Fixture fx;
  auto a1 = fx.db.get(things, "a");
  auto a2 = fx.db.get(things, "a");
  auto b = fx.db.get(things, "b");
  REQUIRE(a1.has_value());
  REQUIRE(b.has_value());
  CHECK(*a1 == *a2);
  CHECK_FALSE(*a1 == *b);
  CHECK(a1->toJson().at("s") == "apple");
  CHECK(a1->toJson().at("n") == 1);
  CHECK(fx.db.get(things, "d")->toJson().at("n").is_null());
}
