// Query errors: each a plasma::Error whose code and message name the part of
// the query at fault — unknown columns (where, orderBy, projection, groupBy,
// having, join on), run-time type mismatches, having without groupBy, bad
// colRefs, ungrouped columns, misplaced aggregates, negative limit/offset,
// a table joined twice, no from(), rows() on a projection.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;

namespace {

struct Notes : Table {
  Notes() : Table("notes") { index("by_title", {title}); }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn n{this, integer("n").nullable()};
  BoolColumn flag{this, boolean("flag").nullable()};
};
const Notes notes;

struct Others : Table {
  Others() : Table("others") {}
  TextColumn id{this, plasma::id()};
  IntColumn v{this, integer("v").nullable()};
  TextColumn noteId{this, text("noteId").nullable()};
};
const Others others;

struct Thirds : Table {
  Thirds() : Table("thirds") {}
  TextColumn id{this, plasma::id()};
  IntColumn w{this, integer("w").nullable()};
};
const Thirds thirds;

struct Strangers : Table {  // not part of the schema
  Strangers() : Table("strangers") {}
  TextColumn id{this, plasma::id()};
  IntColumn z{this, integer("z").nullable()};
};
const Strangers strangers;

const Schema schema = defineSchema("query-errors-v1", {notes, others, thirds});

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() {
    db.ensureSchema();
    db.write([&](Tx& tx) {
      (void)tx.insert(notes).values({{notes.id, "a"}, {notes.title, "alpha"}, {notes.n, 1}, {notes.flag, true}});
      (void)tx.insert(notes).values({{notes.id, "b"}, {notes.title, "beta"}, {notes.n, 0}});
      (void)tx.insert(notes).values({{notes.id, "c"}, {notes.title, "gamma"}});
      (void)tx.insert(others).values({{others.id, "o1"}, {others.v, 1}, {others.noteId, "a"}});
      (void)tx.insert(others).values({{others.id, "o2"}, {others.v, 2}, {others.noteId, "b"}});
      (void)tx.insert(thirds).values({{thirds.id, "t1"}, {thirds.w, 1}});
    });
  }
};

}  // namespace

TEST_CASE("errors: a column of a table not in the query", "[query][errors]") {
  Fixture fx;
  auto q = [&] { return fx.db.select().from(notes); };
  expectError([&] { (void)q().where(eq(others.v, 1)).all(); }, ErrorCode::UnknownColumn, {"where", "others.v"});
  expectError([&] { (void)q().where(and_(eq(notes.n, 1), isNull(others.v))).rows(); }, ErrorCode::UnknownColumn,
              {"where", "others.v"});
  expectError([&] { (void)q().orderBy(asc(others.v)).all(); }, ErrorCode::UnknownColumn, {"orderBy", "others.v"});
  expectError([&] { (void)fx.db.select({{"x", others.v}}).from(notes).all(); }, ErrorCode::UnknownColumn,
              {"select 'x'", "others.v"});
  expectError([&] { (void)fx.db.select({{"x", count(others.v)}}).from(notes).all(); }, ErrorCode::UnknownColumn,
              {"select 'x'", "others.v"});
  expectError([&] { (void)fx.db.select({{"n", count()}}).from(notes).groupBy(others.v).all(); }, ErrorCode::UnknownColumn,
              {"groupBy", "others.v"});
  expectError([&] { (void)fx.db.select({{"n", count()}}).from(notes).groupBy(notes.n).having(gt(sum(others.v), 1)).all(); },
              ErrorCode::UnknownColumn, {"having", "others.v"});
  // Join ON conditions may only use tables joined so far.
  expectError([&] { (void)q().innerJoin(others, eq(others.v, thirds.w)).all(); }, ErrorCode::UnknownColumn,
              {"join others on", "thirds.w"});
  expectError([&] {
    (void)q().innerJoin(others, eq(others.v, thirds.w)).innerJoin(thirds, eq(thirds.id, others.id)).all();
  }, ErrorCode::UnknownColumn, {"join others on", "thirds.w", "joined later"});
  // explain() plans, so it reports the same errors.
  expectError([&] { (void)q().where(eq(others.v, 1)).explain(); }, ErrorCode::UnknownColumn, {"where", "others.v"});
  // A table that is not part of the schema.
  expectError([&] { (void)fx.db.select().from(strangers).all(); }, ErrorCode::UnknownTable, {"strangers"});
  expectError([&] { (void)q().leftJoin(strangers, eq(strangers.id, notes.id)).all(); }, ErrorCode::UnknownTable,
              {"strangers"});
  // Reading a result by a name or column it does not have.
  const QueryResult r = fx.db.select({{"t", notes.title}}).from(notes).all();
  REQUIRE(r.size() == 3);
  expectError([&] { (void)r.rows[0]["title"]; }, ErrorCode::UnknownColumn, {"title"});
  expectError([&] { (void)r.rows[0].get(notes.n); }, ErrorCode::UnknownColumn, {"notes.n"});
}

TEST_CASE("errors: type mismatches found at run time name the comparison", "[query][errors][types]") {
  Fixture fx;
  auto q = [&] { return fx.db.select().from(notes); };
  // Text column against an integer literal (the untyped Expr overloads).
  expectError([&] { (void)q().where(eq(notes.title, lit(Value(5)))).all(); }, ErrorCode::TypeMismatch,
              {"notes.title", "text", "integer"});
  expectError([&] { (void)q().where(eq(notes.title.expr(), lit(Value(5)))).rows(); }, ErrorCode::TypeMismatch,
              {"notes.title"});
  // The constant on the left.
  expectError([&] { (void)q().where(compare(ExprOp::Lt, lit(Value(5)), notes.title.expr())).rows(); }, ErrorCode::TypeMismatch,
              {"notes.title"});
  // Integer column against text, boolean column against text, the id against an integer.
  expectError([&] { (void)q().where(gt(notes.n.expr(), lit(Value("x")))).rows(); }, ErrorCode::TypeMismatch, {"notes.n"});
  expectError([&] { (void)q().where(eq(notes.flag.expr(), lit(Value("yes")))).rows(); }, ErrorCode::TypeMismatch,
              {"notes.flag"});
  expectError([&] { (void)q().where(eq(notes.id.expr(), lit(Value(1)))).rows(); }, ErrorCode::TypeMismatch, {"notes.id"});
  // Column against column of another kind.
  expectError([&] { (void)q().where(eq(notes.title, notes.n.expr())).rows(); }, ErrorCode::TypeMismatch,
              {"notes.title", "notes.n"});
  // like on a number, IN with a value of another kind.
  expectError([&] { (void)q().where(like(notes.n.expr(), "1%")).rows(); }, ErrorCode::TypeMismatch, {"notes.n"});
  expectError([&] { (void)q().where(inArray(notes.n.expr(), {Value(1), Value("two")})).rows(); }, ErrorCode::TypeMismatch,
              {"notes.n"});
  expectError([&] { (void)q().where(inArray(notes.title.expr(), {Value(3)})).rows(); }, ErrorCode::TypeMismatch,
              {"notes.title"});
  // Text used as a condition; a number is fine (non-zero is true, as in SQLite).
  expectError([&] { (void)q().where(notes.title.expr()).rows(); }, ErrorCode::TypeMismatch, {"notes.title", "condition"});
  CHECK(qtest::idList(q().where(notes.n.expr()).rows()) == std::vector<std::string>{"a"});
  // In a projection, in having and in orderBy.
  expectError([&] { (void)fx.db.select({{"bad", eq(notes.title, lit(Value(1)))}}).from(notes).all(); },
              ErrorCode::TypeMismatch, {"notes.title"});
  expectError([&] {
    (void)fx.db.select({{"t", notes.title}}).from(notes).groupBy(notes.title).having(gt(max(notes.title), 3)).all();
  }, ErrorCode::TypeMismatch, {"max(notes.title)"});
  // Aggregates of text that need numbers.
  expectError([&] { (void)fx.db.select({{"s", sum(notes.title)}}).from(notes).all(); }, ErrorCode::TypeMismatch,
              {"sum(notes.title)", "not a number"});
  expectError([&] { (void)fx.db.select({{"s", avg(notes.title)}}).from(notes).all(); }, ErrorCode::TypeMismatch,
              {"avg(notes.title)", "not a number"});
  // The matching kinds work.
  CHECK(q().where(eq(notes.title.expr(), lit(Value("beta")))).rows().size() == 1);
}

TEST_CASE("errors: a join condition comparing kinds that never compare is a TypeMismatch, whatever the join method",
          "[query][errors][types][join]") {
  Fixture fx;
  using Catch::Matchers::Contains;
  using Catch::Matchers::StartsWith;
  // Nested loop: the ON condition is evaluated, and the kinds are checked.
  const auto loop = fx.db.select().from(notes).innerJoin(others, gt(others.v, notes.title.expr()));
  CHECK(qtest::contains(loop.explain(), "NESTED LOOP"));
  CHECK_THAT(qtest::errorOf([&] { (void)loop.all(); }),
             StartsWith("TypeMismatch") && Contains("others.v") && Contains("notes.title"));
  // Hash table (others.v is not indexed): integer column = text column.
  const auto hash = fx.db.select().from(notes).innerJoin(others, eq(others.v, notes.title.expr()));
  CHECK(qtest::contains(hash.explain(), "USING HASH TABLE"));
  CHECK_THAT(qtest::errorOf([&] { (void)hash.all(); }),
             StartsWith("TypeMismatch") && Contains("others.v") && Contains("notes.title"));
  // Index (notes.title is indexed): text column = integer column.
  const auto index = fx.db.select().from(others).innerJoin(notes, eq(notes.title, others.v.expr()));
  CHECK(qtest::contains(index.explain(), "USING INDEX by_title"));
  CHECK_THAT(qtest::errorOf([&] { (void)index.all(); }),
             StartsWith("TypeMismatch") && Contains("notes.title") && Contains("others.v"));
  // Primary key: the text id = an integer column.
  const auto pk = fx.db.select().from(others).leftJoin(notes, eq(notes.id, others.v.expr()));
  CHECK(qtest::contains(pk.explain(), "USING PRIMARY KEY"));
  CHECK_THAT(qtest::errorOf([&] { (void)pk.all(); }),
             StartsWith("TypeMismatch") && Contains("notes.id") && Contains("others.v"));
}

TEST_CASE("errors: grouping and aggregates out of place", "[query][errors][aggregate]") {
  Fixture fx;
  // having needs groupBy.
  expectError([&] { (void)fx.db.select({{"n", count()}}).from(notes).having(gt(count(), 1)).all(); },
              ErrorCode::InvalidArgument, {"having", "groupBy"});
  // A column that is neither grouped nor aggregated.
  expectError([&] { (void)fx.db.select({{"t", notes.title}, {"n", count()}}).from(notes).all(); }, ErrorCode::InvalidArgument,
              {"select 't'", "notes.title", "groupBy"});
  expectError([&] { (void)fx.db.select({{"t", notes.title}, {"n", count()}}).from(notes).groupBy(notes.n).all(); },
              ErrorCode::InvalidArgument, {"select 't'", "notes.title"});
  expectError([&] {
    (void)fx.db.select({{"k", notes.n}, {"c", count()}}).from(notes).groupBy(notes.n).orderBy(asc(notes.title)).all();
  }, ErrorCode::InvalidArgument, {"orderBy", "notes.title"});
  expectError([&] {
    (void)fx.db.select({{"k", notes.n}}).from(notes).groupBy(notes.n).having(eq(notes.title, "x")).all();
  }, ErrorCode::InvalidArgument, {"having", "notes.title"});
  // Aggregates where they cannot be: where, groupBy, join on, inside another aggregate.
  expectError([&] { (void)fx.db.select().from(notes).where(gt(count(), 1)).all(); }, ErrorCode::InvalidArgument,
              {"where", "count(*)"});
  expectError([&] { (void)fx.db.select({{"n", count()}}).from(notes).groupBy({sum(notes.n)}).all(); },
              ErrorCode::InvalidArgument, {"groupBy", "sum(notes.n)"});
  expectError([&] { (void)fx.db.select().from(notes).innerJoin(others, gt(count(), 1)).all(); }, ErrorCode::InvalidArgument,
              {"join others on", "count(*)"});
  expectError([&] { (void)fx.db.select({{"s", sum(count())}}).from(notes).all(); }, ErrorCode::InvalidArgument,
              {"select 's'", "inside another"});
  // An integer sum that overflows.
  expectError([&] {
    fx.db.write([&](Tx& tx) {
      (void)tx.update(notes).set({{notes.n, std::numeric_limits<std::int64_t>::max()}}).where(isNotNull(notes.n));
      (void)tx.select({{"s", sum(notes.n)}}).from(notes).all();
    });
  }, ErrorCode::InvalidArgument, {"sum(notes.n)", "overflow"});
}

TEST_CASE("errors: bad colRef", "[query][errors][subquery]") {
  Fixture fx;
  const auto inner = fx.db.select({{"ident", notes.id}, {"num", notes.n}}).from(notes);
  // An alias that names no subquery.
  expectError([&] { (void)fx.db.select({{"x", colRef("zz", "ident")}}).fromSubquery(inner, "s").all(); },
              ErrorCode::UnknownColumn, {"select 'x'", "colRef('zz', 'ident')", "'s'"});
  expectError([&] { (void)fx.db.select().fromSubquery(inner, "s").where(eq(colRef("t", "num"), 1)).all(); },
              ErrorCode::UnknownColumn, {"where", "colRef('t', 'num')"});
  // A column the subquery does not output (it outputs aliases, not the table's names).
  expectError([&] { (void)fx.db.select({{"x", colRef("s", "id")}}).fromSubquery(inner, "s").all(); },
              ErrorCode::UnknownColumn, {"select 'x'", "subquery 's'", "'id'"});
  expectError([&] { (void)fx.db.select().fromSubquery(inner, "s").orderBy(asc(colRef("s", "nope"))).all(); },
              ErrorCode::UnknownColumn, {"orderBy", "'nope'"});
  expectError([&] {
    (void)fx.db.select({{"n", count()}}).fromSubquery(inner, "s").groupBy({colRef("s", "missing")}).all();
  }, ErrorCode::UnknownColumn, {"groupBy", "'missing'"});
  // colRef in a query without a subquery.
  expectError([&] { (void)fx.db.select().from(notes).where(eq(colRef("s", "num"), 1)).all(); }, ErrorCode::UnknownColumn,
              {"where", "colRef('s', 'num')", "none"});
  // An ungrouped colRef in an aggregate query.
  expectError([&] {
    (void)fx.db.select({{"i", colRef("s", "ident")}, {"n", count()}}).fromSubquery(inner, "s").groupBy({colRef("s", "num")}).all();
  }, ErrorCode::InvalidArgument, {"select 'i'", "s.ident"});
  // Malformed at build time.
  expectError([&] { (void)colRef("", "x"); }, ErrorCode::InvalidArgument, {"colRef"});
  expectError([&] { (void)colRef("s", ""); }, ErrorCode::InvalidArgument, {"colRef"});
  expectError([&] { (void)fx.db.select().fromSubquery(inner, ""); }, ErrorCode::InvalidArgument, {"alias"});
  // A subquery from another database.
  TempDir other_dir;
  Database other = Database::open(other_dir.path(), schema, plasma_test::fastOptions());
  other.ensureSchema();
  expectError([&] { (void)fx.db.select().fromSubquery(other.select().from(notes), "s"); }, ErrorCode::InvalidArgument,
              {"another database"});
}

TEST_CASE("errors: malformed builders", "[query][errors]") {
  Fixture fx;
  // Negative limit and offset.
  expectError([&] { (void)fx.db.select().from(notes).limit(-1); }, ErrorCode::InvalidArgument, {"limit(-1)", "negative"});
  expectError([&] { (void)fx.db.select().from(notes).offset(-5); }, ErrorCode::InvalidArgument, {"offset(-5)", "negative"});
  // The same table twice.
  expectError([&] { (void)fx.db.select().from(notes).innerJoin(notes, eq(notes.id, notes.id)).all(); },
              ErrorCode::InvalidArgument, {"'notes'", "twice"});
  expectError([&] {
    (void)fx.db.select()
        .from(notes)
        .innerJoin(others, eq(others.noteId, notes.id))
        .leftJoin(others, eq(others.noteId, notes.id))
        .all();
  }, ErrorCode::InvalidArgument, {"'others'", "twice"});
  // No from().
  expectError([&] { (void)fx.db.select().all(); }, ErrorCode::InvalidArgument, {"from()"});
  expectError([&] { (void)fx.db.select({{"n", count()}}).where(eq(notes.n, 1)).all(); }, ErrorCode::InvalidArgument,
              {"from()"});
  expectError([&] { (void)fx.db.select().explain(); }, ErrorCode::InvalidArgument, {"from()"});
  // rows()/forEachRow() return whole rows of one table only.
  expectError([&] { (void)fx.db.select({{"t", notes.title}}).from(notes).rows(); }, ErrorCode::InvalidArgument,
              {"rows()", "all()"});
  expectError([&] { fx.db.select({{"t", notes.title}}).from(notes).forEachRow([](const RowView&) { return true; }); },
              ErrorCode::InvalidArgument, {"forEachRow()"});
  expectError([&] { (void)fx.db.select({{"n", count()}}).from(notes).rows(); }, ErrorCode::InvalidArgument, {"rows()"});
  expectError([&] { (void)fx.db.select().fromSubquery(fx.db.select().from(notes), "s").rows(); }, ErrorCode::InvalidArgument,
              {"rows()"});
  // The same output name twice.
  expectError([&] { (void)fx.db.select({{"x", notes.title}, {"x", notes.n}}).from(notes).all(); },
              ErrorCode::InvalidArgument, {"'x'", "twice"});
  // Empty expressions.
  expectError([&] { (void)fx.db.select().from(notes).orderBy({asc(Expr())}); }, ErrorCode::InvalidArgument, {"orderBy"});
  expectError([&] { (void)fx.db.select().from(notes).innerJoin(others, Expr()); }, ErrorCode::InvalidArgument,
              {"innerJoin(others)", "ON"});
  expectError([&] { (void)fx.db.select().from(notes).leftJoin(others, Expr()); }, ErrorCode::InvalidArgument,
              {"leftJoin(others)", "ON"});
  expectError([&] { (void)fx.db.select().from(notes).groupBy({Expr()}); }, ErrorCode::InvalidArgument, {"groupBy"});
  expectError([&] { (void)count(Expr()); }, ErrorCode::InvalidArgument, {"count"});
  // A prepared query bound past its parameters.
  PreparedQuery p = fx.db.select().from(notes).where(eq(notes.n, param(0))).prepare();
  expectError([&] { p.bind(1, Value(1)); }, ErrorCode::InvalidArgument, {"bind(1)", "1 parameter"});
  p.bind(0, Value(0));
  CHECK(qtest::idList(p.rows()) == std::vector<std::string>{"b"});
}
