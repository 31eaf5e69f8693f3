// The select builder end to end: every where operator through select (with
// SQLite's three-valued logic), like, projections and ResultRow access,
// rowsAs<T>, orderBy with NULLs, limit/offset edges, streaming, and where a
// builder runs (database vs transaction).
#include <set>
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;
using qtest::texts;

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
const Schema schema = defineSchema("select-v1", {things});

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
      add("h", Value(2), Value("\xc3\x89LAN"), Value(), 2);         // "ÉLAN"
    });
  }

  // The ids a select with this predicate returns, through every terminal:
  // whole rows in a transaction, a projection through the database handle,
  // and forEach; all three must agree.
  Ids selected(const Expr& pred) {
    const auto rows = db.read([&](const ReadTx& tx) { return tx.select(things).where(pred).rows(); });
    const Ids by_rows = qtest::idSet(rows);
    const auto projected = db.select({{"ident", things.id}}).from(things).where(pred).all();
    const auto t = texts(projected, "ident");
    const Ids by_projection(t.begin(), t.end());
    CHECK(t.size() == by_projection.size());  // no duplicates
    Ids by_foreach;
    db.select().from(things).where(pred).forEach([&](const ResultRow& r) {
      by_foreach.insert(r["id"].asText());
      return true;
    });
    CHECK(by_projection == by_rows);
    CHECK(by_foreach == by_rows);
    return by_rows;
  }
};

#define EXPECT_SELECTS(fx, pred, ...)                           \
  do {                                                          \
    const Expr expect_pred_ = (pred);                           \
    INFO("predicate: " << expect_pred_.toString());             \
    CHECK((fx).selected(expect_pred_) == Ids(__VA_ARGS__));     \
  } while (0)

std::vector<std::string> orderedIds(const SelectBuilder& q) { return qtest::idList(q.rows()); }

struct ThingRow {
  std::string id;
  std::optional<std::int64_t> n;
  std::optional<std::string> s;
  std::optional<bool> b;
  std::int64_t m = 0;
};
BOOST_DESCRIBE_STRUCT(ThingRow, (), (id, n, s, b, m))

struct Renamed {
  std::string ident;
  double num = 0;
};
BOOST_DESCRIBE_STRUCT(Renamed, (), (ident, num))

struct WrongType {
  std::string id;
  std::int64_t s = 0;  // s is text
};
BOOST_DESCRIBE_STRUCT(WrongType, (), (id, s))

struct MissingMember {
  std::string id;
  std::int64_t weight = 0;  // no such output column
};
BOOST_DESCRIBE_STRUCT(MissingMember, (), (id, weight))

struct NotOptional {
  std::string id;
  std::int64_t n = 0;  // NULL for row d
};
BOOST_DESCRIBE_STRUCT(NotOptional, (), (id, n))

}  // namespace

TEST_CASE("select: comparison operators follow SQL NULL semantics", "[query][select][operators]") {
  Fixture fx;
  EXPECT_SELECTS(fx, eq(things.n, 2), {"b", "h"});
  EXPECT_SELECTS(fx, ne(things.n, 2), {"a", "c", "e", "f", "g"});
  EXPECT_SELECTS(fx, gt(things.n, 2), {"c", "e", "g"});
  EXPECT_SELECTS(fx, gte(things.n, 2), {"b", "c", "e", "g", "h"});
  EXPECT_SELECTS(fx, lt(things.n, 2), {"a", "f"});
  EXPECT_SELECTS(fx, lte(things.n, 2), {"a", "b", "f", "h"});
  // Constant on the left: 2 > n is n < 2.
  EXPECT_SELECTS(fx, compare(ExprOp::Gt, lit(Value(2)), things.n.expr()), {"a", "f"});
  EXPECT_SELECTS(fx, compare(ExprOp::Lte, lit(Value(3)), things.n.expr()), {"c", "e", "g"});
  // Comparing with NULL is never true, not even NULL = NULL or NULL <> x.
  EXPECT_SELECTS(fx, eq(things.n.expr(), lit(Value())), {});
  EXPECT_SELECTS(fx, ne(things.n.expr(), lit(Value())), {});
  EXPECT_SELECTS(fx, eq(lit(Value()), lit(Value())), {});
  // Text compares bytewise: upper case before lower case, UTF-8 after ASCII.
  EXPECT_SELECTS(fx, eq(things.s, "cherry"), {"c"});
  EXPECT_SELECTS(fx, eq(things.s, "Cherry"), {});
  EXPECT_SELECTS(fx, gt(things.s, "b"), {"c", "g", "h"});
  EXPECT_SELECTS(fx, lt(things.s, "B"), {"f"});
  EXPECT_SELECTS(fx, gte(things.s, "\xc3\xa9lan"), {"g"});
  // Booleans.
  EXPECT_SELECTS(fx, eq(things.b, true), {"a", "d"});
  EXPECT_SELECTS(fx, ne(things.b, true), {"b", "e", "g"});
  EXPECT_SELECTS(fx, eq(things.b, false), {"b", "e", "g"});
  // The id column.
  EXPECT_SELECTS(fx, eq(things.id, "e"), {"e"});
  EXPECT_SELECTS(fx, gt(things.id, "e"), {"f", "g", "h"});
  EXPECT_SELECTS(fx, lte(things.id, "b"), {"a", "b"});
  // Column against column: d has n NULL, so n = m is unknown there.
  EXPECT_SELECTS(fx, eq(things.n, things.m), {"a", "c", "f", "h"});
  EXPECT_SELECTS(fx, lt(things.n, things.m), {"b", "e", "g"});
  EXPECT_SELECTS(fx, ne(things.n, things.m), {"b", "e", "g"});
}

TEST_CASE("select: and, or, not are three-valued", "[query][select][operators]") {
  Fixture fx;
  EXPECT_SELECTS(fx, and_(gt(things.n, 0), lt(things.n, 5)), {"a", "b", "c", "h"});
  EXPECT_SELECTS(fx, and_(gt(things.n, 0), lt(things.n, 5), ne(things.s, "Banana")), {"a", "c", "h"});
  EXPECT_SELECTS(fx, or_(eq(things.n, 1), isNull(things.s)), {"a", "d"});
  EXPECT_SELECTS(fx, or_(eq(things.n, 1), eq(things.n, 3), eq(things.n, 10)), {"a", "c", "g"});
  // UNKNOWN OR TRUE = TRUE (d); FALSE OR UNKNOWN = UNKNOWN (f, h).
  EXPECT_SELECTS(fx, or_(gt(things.n, 2), eq(things.b, true)), {"a", "c", "d", "e", "g"});
  EXPECT_SELECTS(fx, not_(or_(gt(things.n, 2), eq(things.b, true))), {"b"});
  // FALSE AND UNKNOWN = FALSE (f: NOT gives TRUE); TRUE AND UNKNOWN = UNKNOWN (c);
  // UNKNOWN AND TRUE = UNKNOWN (d).
  EXPECT_SELECTS(fx, not_(and_(gt(things.n, 2), eq(things.b, true))), {"a", "b", "e", "f", "g", "h"});
  // NOT UNKNOWN is UNKNOWN: d never matches a negated comparison on n.
  EXPECT_SELECTS(fx, not_(eq(things.n, 5)), {"a", "b", "c", "f", "g", "h"});
  EXPECT_SELECTS(fx, not_(not_(eq(things.n, 3))), {"c"});
  EXPECT_SELECTS(fx, not_(eq(things.b, true)), {"b", "e", "g"});
  EXPECT_SELECTS(fx, and_(isNull(things.n), eq(things.b, true)), {"d"});
  EXPECT_SELECTS(fx, or_(gt(things.n, 100), isNull(things.n)), {"d"});
}

TEST_CASE("select: isNull, isNotNull and inArray", "[query][select][operators]") {
  Fixture fx;
  EXPECT_SELECTS(fx, isNull(things.n), {"d"});
  EXPECT_SELECTS(fx, isNotNull(things.n), {"a", "b", "c", "e", "f", "g", "h"});
  EXPECT_SELECTS(fx, isNull(things.b), {"c", "f", "h"});
  EXPECT_SELECTS(fx, isNotNull(things.s), {"a", "b", "c", "e", "f", "g", "h"});
  EXPECT_SELECTS(fx, not_(isNull(things.b)), {"a", "b", "d", "e", "g"});
  EXPECT_SELECTS(fx, inArray(things.n, {1, 3, 99}), {"a", "c"});
  EXPECT_SELECTS(fx, inArray(things.n, {2}), {"b", "h"});
  EXPECT_SELECTS(fx, inArray(things.n, std::vector<std::int64_t>{}), {});
  // SQLite: x IN () is FALSE even when x is NULL, so NOT (x IN ()) is TRUE for every row.
  EXPECT_SELECTS(fx, not_(inArray(things.n, std::vector<std::int64_t>{})), {"a", "b", "c", "d", "e", "f", "g", "h"});
  // NULL NOT IN (...) is UNKNOWN: d is not returned.
  EXPECT_SELECTS(fx, not_(inArray(things.n, {1, 3})), {"b", "e", "f", "g", "h"});
  // A NULL in the list makes a non-match UNKNOWN, so NOT IN matches nothing.
  EXPECT_SELECTS(fx, inArray(things.n.expr(), {Value(1), Value()}), {"a"});
  EXPECT_SELECTS(fx, not_(inArray(things.n.expr(), {Value(1), Value()})), {});
  EXPECT_SELECTS(fx, inArray(things.s, {"apple", "\xc3\x89LAN", "APPLE"}), {"a", "h"});
  EXPECT_SELECTS(fx, inArray(things.id, {"a", "g", "zz"}), {"a", "g"});
  EXPECT_SELECTS(fx, inArray(things.b, {true}), {"a", "d"});
}

TEST_CASE("select: like matches % and _, folds ASCII case only", "[query][select][operators][like]") {
  Fixture fx;
  EXPECT_SELECTS(fx, like(things.s, "a%"), {"a", "e", "f"});
  EXPECT_SELECTS(fx, like(things.s, "APPLE"), {"a"});
  EXPECT_SELECTS(fx, like(things.s, "apple"), {"a"});
  EXPECT_SELECTS(fx, like(things.s, "aPpLe%"), {"a", "f"});
  EXPECT_SELECTS(fx, like(things.s, "_anana"), {"b"});
  EXPECT_SELECTS(fx, like(things.s, "%AN%"), {"b", "g", "h"});
  EXPECT_SELECTS(fx, like(things.s, "%pie"), {"f"});
  EXPECT_SELECTS(fx, like(things.s, "%e"), {"a", "f"});
  EXPECT_SELECTS(fx, like(things.s, "%"), {"a", "b", "c", "e", "f", "g", "h"});  // NULL never matches
  EXPECT_SELECTS(fx, like(things.s, ""), {});
  // _ is one character, also a multi-byte UTF-8 one.
  EXPECT_SELECTS(fx, like(things.s, "______"), {"b", "c"});
  EXPECT_SELECTS(fx, like(things.s, "____"), {"e", "g", "h"});
  EXPECT_SELECTS(fx, like(things.s, "_lan"), {"g", "h"});
  // % and _ in the data are matched by the wildcards; other characters are literal.
  EXPECT_SELECTS(fx, like(things.s, "a_c%"), {"e"});
  EXPECT_SELECTS(fx, like(things.s, "a.%"), {});
  EXPECT_SELECTS(fx, like(things.s, "[a]%"), {});
  EXPECT_SELECTS(fx, like(things.s, "a*"), {});
  // Non-ASCII letters are case-sensitive: é and É differ, the ASCII rest folds.
  EXPECT_SELECTS(fx, like(things.s, "\xc3\xa9lan"), {"g"});
  EXPECT_SELECTS(fx, like(things.s, "\xc3\x89LAN"), {"h"});
  EXPECT_SELECTS(fx, like(things.s, "\xc3\xa9LAN"), {"g"});
  EXPECT_SELECTS(fx, like(things.s, "\xc3\x89%"), {"h"});
  // NOT LIKE skips NULL.
  EXPECT_SELECTS(fx, not_(like(things.s, "a%")), {"b", "c", "g", "h"});
  EXPECT_SELECTS(fx, like(things.id, "A"), {"a"});
}

TEST_CASE("select: projections name their outputs and ResultRow reads them", "[query][select][projection]") {
  Fixture fx;
  const QueryResult r = fx.db.select({{"ident", things.id}, {"num", things.n}, {"label", things.s}})
                            .from(things)
                            .where(inArray(things.id, {"a", "d"}))
                            .orderBy(asc(things.id))
                            .all();
  INFO(qtest::render(r));
  REQUIRE(r.size() == 2);
  CHECK(qtest::columnNames(r) == std::vector<std::string>{"ident", "num", "label"});
  const ResultRow& a = r.rows[0];
  CHECK(a.size() == 3);
  // By name, by index, by column handle.
  CHECK(a["ident"] == Value("a"));
  CHECK(a["num"] == Value(1));
  CHECK(a[0] == Value("a"));
  CHECK(a[1] == Value(1));
  CHECK(a[2] == Value("apple"));
  CHECK(a.get(things.id) == std::optional<std::string_view>("a"));
  CHECK(a.get(things.n) == std::optional<std::int64_t>(1));
  CHECK(a.get(things.s) == std::optional<std::string_view>("apple"));
  CHECK(a.values() == std::vector<Value>{Value("a"), Value(1), Value("apple")});
  // NULLs come out as NULL / nullopt.
  const ResultRow& d = r.rows[1];
  CHECK(d["num"].isNull());
  CHECK(d["label"].isNull());
  CHECK_FALSE(d.get(things.n).has_value());
  // The shape records where a plain column came from.
  CHECK(r.columns()[1].table == &things.spec());
  CHECK(r.columns()[1].column == things.n.index());
  CHECK(r.shape->find("label") == 2);
  CHECK(r.shape->find("s") == -1);
  // A column that was not selected, by name or handle, is an UnknownColumn naming it.
  expectError([&] { (void)a["s"]; }, ErrorCode::UnknownColumn, {"s"});
  expectError([&] { (void)a.get(things.b); }, ErrorCode::UnknownColumn, {"things.b"});
  CHECK_THROWS_AS(a[3], std::out_of_range);
}

TEST_CASE("select: projected expressions and literals", "[query][select][projection]") {
  Fixture fx;
  const QueryResult r = fx.db.select({{"id", things.id},
                                      {"big", gt(things.n, 2)},
                                      {"nothing", isNull(things.s)},
                                      {"seven", lit(Value(7))},
                                      {"word", lit(Value("w"))}})
                            .from(things)
                            .where(inArray(things.id, {"a", "c", "d"}))
                            .orderBy(asc(things.id))
                            .all();
  INFO(qtest::render(r));
  REQUIRE(r.size() == 3);
  // A predicate projects as SQLite does: 1, 0 or NULL.
  CHECK(qtest::values(r, "big") == std::vector<Value>{Value(0), Value(1), Value()});
  CHECK(qtest::values(r, "nothing") == std::vector<Value>{Value(0), Value(0), Value(1)});
  CHECK(qtest::values(r, "seven") == std::vector<Value>{Value(7), Value(7), Value(7)});
  CHECK(texts(r, "word") == std::vector<std::string>{"w", "w", "w"});
  CHECK(r.columns()[1].table == nullptr);  // not a plain column
}

TEST_CASE("select() without a projection returns every column under its name", "[query][select][projection]") {
  Fixture fx;
  const QueryResult r = fx.db.select().from(things).where(eq(things.id, "f")).all();
  INFO(qtest::render(r));
  CHECK(qtest::columnNames(r) == std::vector<std::string>{"id", "n", "s", "b", "m"});
  REQUIRE(r.size() == 1);
  CHECK(r.rows[0]["n"] == Value(-7));
  CHECK(r.rows[0]["s"] == Value("APPLE pie"));
  CHECK(r.rows[0]["b"].isNull());
  CHECK(r.rows[0].get(things.m) == std::optional<std::int64_t>(-7));
  CHECK(r.rows[0].get(things.b) == std::nullopt);
  // rows() of the same query copies the stored row.
  const auto rows = fx.db.select().from(things).where(eq(things.id, "f")).rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id() == "f");
  CHECK(rows[0].get(things.s) == std::optional<std::string_view>("APPLE pie"));
  CHECK(*fx.db.get(things, "f") == rows[0]);
}

TEST_CASE("rowsAs<T> maps outputs onto described structs", "[query][select][rowsAs]") {
  Fixture fx;
  const auto all = fx.db.select().from(things).orderBy(asc(things.id)).rowsAs<ThingRow>();
  REQUIRE(all.size() == 8);
  CHECK(all[0].id == "a");
  CHECK(all[0].n == std::optional<std::int64_t>(1));
  CHECK(all[0].s == std::optional<std::string>("apple"));
  CHECK(all[0].b == std::optional<bool>(true));
  CHECK(all[0].m == 1);
  CHECK(all[3].id == "d");
  CHECK_FALSE(all[3].n.has_value());
  CHECK_FALSE(all[3].s.has_value());
  CHECK(all[6].s == std::optional<std::string>("\xc3\xa9lan"));
  CHECK_FALSE(all[7].b.has_value());

  // Output names are the projection's aliases; an integer widens to double.
  const auto renamed =
      fx.db.select({{"ident", things.id}, {"num", things.m}}).from(things).where(eq(things.id, "g")).rowsAs<Renamed>();
  REQUIRE(renamed.size() == 1);
  CHECK(renamed[0].ident == "g");
  CHECK(renamed[0].num == 11.0);

  // Errors: each a TypeMismatch naming the member.
  expectError([&] { (void)fx.db.select().from(things).where(eq(things.id, "a")).rowsAs<WrongType>(); },
              ErrorCode::TypeMismatch, {"'s'", "not an integer"});
  expectError([&] { (void)fx.db.select().from(things).rowsAs<MissingMember>(); }, ErrorCode::TypeMismatch,
              {"'weight'", "no output column"});
  expectError([&] { (void)fx.db.select().from(things).where(eq(things.id, "d")).rowsAs<NotOptional>(); },
              ErrorCode::TypeMismatch, {"'n'", "NULL"});
  // The same struct is fine on rows where the value is present.
  const auto fine = fx.db.select().from(things).where(eq(things.id, "c")).rowsAs<NotOptional>();
  REQUIRE(fine.size() == 1);
  CHECK(fine[0].n == 3);
  // No rows: no error, even for a missing member.
  CHECK(fx.db.select().from(things).where(eq(things.id, "zz")).rowsAs<ThingRow>().empty());
}

TEST_CASE("orderBy: NULLs first ascending, last descending - several keys", "[query][select][order]") {
  Fixture fx;
  const auto& db = fx.db;
  using V = std::vector<std::string>;
  CHECK(orderedIds(db.select().from(things).orderBy(asc(things.n), asc(things.id))) ==
        V{"d", "f", "a", "b", "h", "c", "e", "g"});
  CHECK(orderedIds(db.select().from(things).orderBy(desc(things.n), asc(things.id))) ==
        V{"g", "e", "c", "b", "h", "a", "f", "d"});
  CHECK(orderedIds(db.select().from(things).orderBy(desc(things.n), desc(things.id))) ==
        V{"g", "e", "c", "h", "b", "a", "f", "d"});
  // Text: bytewise, NULL first.
  CHECK(orderedIds(db.select().from(things).orderBy(asc(things.s))) == V{"d", "f", "b", "e", "a", "c", "h", "g"});
  CHECK(orderedIds(db.select().from(things).orderBy(desc(things.s))) == V{"g", "h", "c", "a", "e", "b", "f", "d"});
  // Booleans: NULL < false < true; ties by the second key, NULL last in desc.
  CHECK(orderedIds(db.select().from(things).orderBy(asc(things.b), desc(things.n))) ==
        V{"c", "h", "f", "g", "e", "b", "a", "d"});
  CHECK(orderedIds(db.select().from(things).orderBy(desc(things.b), asc(things.n))) ==
        V{"d", "a", "b", "e", "g", "f", "h", "c"});
  // The id alone, both ways.
  CHECK(orderedIds(db.select().from(things).orderBy(asc(things.id))) == V{"a", "b", "c", "d", "e", "f", "g", "h"});
  CHECK(orderedIds(db.select().from(things).orderBy(desc(things.id))) == V{"h", "g", "f", "e", "d", "c", "b", "a"});
  // By an expression that is not a plain column (a predicate: 0/1/NULL).
  CHECK(orderedIds(db.select().from(things).orderBy(desc(gt(things.n, 2)), asc(things.id))) ==
        V{"c", "e", "g", "a", "b", "f", "h", "d"});
  // A projected query sorts by a column it does not output.
  const auto r = db.select({{"label", things.s}}).from(things).where(isNotNull(things.n)).orderBy(desc(things.m)).all();
  CHECK(texts(r, "label") ==
        V{"\xc3\xa9lan", "a_c%", "Banana", "cherry", "\xc3\x89LAN", "apple", "APPLE pie"});
  // A later orderBy() replaces the earlier one.
  CHECK(orderedIds(db.select().from(things).orderBy(asc(things.id)).orderBy(desc(things.id)).limit(2)) == V{"h", "g"});
}

TEST_CASE("limit and offset: zero, past the end, with and without order", "[query][select][limit]") {
  Fixture fx;
  const auto& db = fx.db;
  using V = std::vector<std::string>;
  auto q = [&] { return db.select().from(things).orderBy(asc(things.id)); };
  CHECK(orderedIds(q().limit(0)).empty());
  CHECK(orderedIds(q().limit(0).offset(3)).empty());
  CHECK(orderedIds(q().limit(3)) == V{"a", "b", "c"});
  CHECK(orderedIds(q().limit(3).offset(2)) == V{"c", "d", "e"});
  CHECK(orderedIds(q().offset(5)) == V{"f", "g", "h"});
  CHECK(orderedIds(q().limit(2).offset(7)) == V{"h"});
  CHECK(orderedIds(q().limit(100)) == V{"a", "b", "c", "d", "e", "f", "g", "h"});
  CHECK(orderedIds(q().offset(8)).empty());
  CHECK(orderedIds(q().offset(100)).empty());
  CHECK(orderedIds(q().limit(1).offset(0)) == V{"a"});
  // Sorted (not from the access path) the same way.
  auto byN = [&] { return db.select().from(things).orderBy(desc(things.m), asc(things.id)); };
  CHECK(orderedIds(byN().limit(2)) == V{"g", "e"});
  CHECK(orderedIds(byN().limit(2).offset(6)) == V{"d", "f"});
  CHECK(orderedIds(byN().offset(7)) == V{"f"});
  CHECK(orderedIds(byN().offset(9)).empty());
  CHECK(orderedIds(byN().limit(0)).empty());
  // Projected, through all().
  CHECK(texts(db.select({{"i", things.id}}).from(things).orderBy(desc(things.id)).limit(3).offset(1).all(), "i") ==
        V{"g", "f", "e"});
  CHECK(db.select({{"i", things.id}}).from(things).limit(0).all().size() == 0);
  CHECK(db.select({{"i", things.id}}).from(things).offset(50).all().size() == 0);
  // Without an order: the right number of distinct rows.
  for (std::int64_t lim : {0, 1, 5, 8, 20}) {
    for (std::int64_t off : {0, 3, 8, 9}) {
      INFO("limit " << lim << " offset " << off);
      const auto ids = qtest::idList(db.select().from(things).limit(lim).offset(off).rows());
      const auto expect = static_cast<std::size_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(lim, 8 - off)));
      CHECK(ids.size() == expect);
      CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
    }
  }
  // Filter, then page.
  CHECK(orderedIds(db.select().from(things).where(isNotNull(things.b)).orderBy(asc(things.id)).limit(2).offset(2)) ==
        V{"d", "e"});
}

TEST_CASE("forEach and forEachRow stream rows and stop when asked", "[query][select][stream]") {
  Fixture fx;
  std::vector<std::string> seen;
  fx.db.select().from(things).orderBy(asc(things.id)).forEach([&](const ResultRow& r) {
    seen.push_back(r["id"].asText());
    return seen.size() < 3;
  });
  CHECK(seen == std::vector<std::string>{"a", "b", "c"});
  seen.clear();
  fx.db.select().from(things).where(gt(things.n, 0)).orderBy(desc(things.n)).forEachRow([&](const RowView& r) {
    seen.emplace_back(r.id());
    return seen.size() < 2;
  });
  CHECK(seen == std::vector<std::string>{"g", "e"});
  seen.clear();
  fx.db.read([&](const ReadTx& tx) {
    tx.select(things).where(isNull(things.b)).orderBy(asc(things.id)).forEachRow([&](const RowView& r) {
      seen.emplace_back(r.id());
      CHECK_FALSE(r.get(things.b).has_value());
      return true;
    });
  });
  CHECK(seen == std::vector<std::string>{"c", "f", "h"});
}

TEST_CASE("builders are values and run where they were made", "[query][select]") {
  Fixture fx;
  // Copying a builder and refining the copy leaves the original alone.
  const SelectBuilder base = fx.db.select().from(things).where(gt(things.n, 0));
  SelectBuilder narrowed = base;
  narrowed.where(eq(things.n, 2)).orderBy(asc(things.id));
  CHECK(qtest::idSet(base.rows()) == Ids{"a", "b", "c", "e", "g", "h"});
  CHECK(qtest::idList(narrowed.rows()) == std::vector<std::string>{"b", "h"});
  // A database builder opens a fresh read transaction per run: it sees later writes.
  const SelectBuilder twos = fx.db.select().from(things).where(eq(things.n, 2));
  CHECK(twos.rows().size() == 2);
  fx.db.write([&](Tx& tx) { (void)tx.insert(things).values({{things.id, "i"}, {things.n, 2}}); });
  CHECK(qtest::idSet(twos.rows()) == Ids{"b", "h", "i"});
  // A transaction's builder sees that transaction's own uncommitted writes.
  fx.db.write([&](Tx& tx) {
    (void)tx.update(things).set({{things.n, 2}}).where(eq(things.id, "a"));
    (void)tx.deleteFrom(things).where(eq(things.id, "b"));
    CHECK(qtest::idSet(tx.select(things).where(eq(things.n, 2)).rows()) == Ids{"a", "h", "i"});
    CHECK(qtest::texts(tx.select({{"c", count()}}).from(things).all(), "c") == std::vector<std::string>{"8"});
  });
  CHECK(qtest::idSet(twos.rows()) == Ids{"a", "h", "i"});
  // A read transaction keeps its snapshot.
  fx.db.read([&](const ReadTx& tx) {
    const auto before = qtest::idSet(tx.select(things).rows());
    CHECK(before.size() == 8);
    CHECK(qtest::idSet(tx.select(things).rows()) == before);
  });
}
