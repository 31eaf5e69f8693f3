// Aggregates: count(*), count(col), sum, avg, min, max with SQLite's
// semantics (NULLs skipped, integer sum, real avg, NULL over no values), one
// row for an aggregate without groupBy even over no rows, NULL as its own
// group, having on aggregates and on group keys, ordering and paging groups.
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;
using qtest::texts;
using qtest::values;

namespace {

struct Sales : Table {
  Sales() : Table("sales") { index("by_region", {region}); }
  TextColumn id{this, plasma::id()};
  TextColumn region{this, text("region").nullable()};
  TextColumn product{this, text("product").nullable()};
  IntColumn qty{this, integer("qty").nullable()};
  IntColumn price{this, integer("price").nullable()};
};
const Sales sales;

struct Empties : Table {
  Empties() : Table("empties") {}
  TextColumn id{this, plasma::id()};
  IntColumn v{this, integer("v").nullable()};
  TextColumn t{this, text("t").nullable()};
};
const Empties empties;

const Schema schema = defineSchema("aggregate-v1", {sales, empties});

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() {
    db.ensureSchema();
    db.write([&](Tx& tx) {
      auto add = [&](const char* id, Value region, Value product, Value qty, Value price) {
        (void)tx.insert(sales).values({{sales.id, id},
                                        Assignment(AnyColumn(sales.region), std::move(region)),
                                        Assignment(AnyColumn(sales.product), std::move(product)),
                                        Assignment(AnyColumn(sales.qty), std::move(qty)),
                                        Assignment(AnyColumn(sales.price), std::move(price))});
      };
      add("s1", "east", "apple", 3, 10);
      add("s2", "east", "pear", Value(), 20);
      add("s3", "west", "apple", 5, -4);
      add("s4", Value(), "fig", 2, 7);
      add("s5", "west", Value(), -1, Value());
      add("s6", Value(), "apple", Value(), 3);
      add("s7", "north", "kiwi", 10, 10);
      add("s8", "east", "Apple", 4, 1);
    });
  }
};

using V = std::vector<Value>;
using S = std::vector<std::string>;

}  // namespace

TEST_CASE("aggregates over a whole table skip NULLs", "[query][aggregate]") {
  Fixture fx;
  const QueryResult r = fx.db.select({{"n", count()},
                                      {"nq", count(sales.qty)},
                                      {"np", count(sales.product)},
                                      {"sq", sum(sales.qty)},
                                      {"sp", sum(sales.price)},
                                      {"aq", avg(sales.qty)},
                                      {"minq", min(sales.qty)},
                                      {"maxq", max(sales.qty)},
                                      {"minp", min(sales.product)},
                                      {"maxp", max(sales.product)},
                                      {"minr", min(sales.region)},
                                      {"maxr", max(sales.region)}})
                            .from(sales)
                            .all();
  INFO(qtest::render(r));
  REQUIRE(r.size() == 1);
  const ResultRow& row = r.rows[0];
  CHECK(row["n"] == Value(8));
  CHECK(row["nq"] == Value(6));
  CHECK(row["np"] == Value(7));
  // sum of integers is an integer.
  CHECK(row["sq"] == Value(23));
  CHECK(row["sq"].kind() == Kind::Integer);
  CHECK(row["sp"] == Value(47));
  // avg is a real.
  REQUIRE(row["aq"].kind() == Kind::Real);
  CHECK(row["aq"].asReal() == Approx(23.0 / 6.0));
  CHECK(row["minq"] == Value(-1));
  CHECK(row["maxq"] == Value(10));
  // Text min/max compare bytewise ("Apple" < "apple").
  CHECK(row["minp"] == Value("Apple"));
  CHECK(row["maxp"] == Value("pear"));
  CHECK(row["minr"] == Value("east"));
  CHECK(row["maxr"] == Value("west"));
}

TEST_CASE("avg is real even over integers that divide evenly - sum of a predicate counts", "[query][aggregate]") {
  Fixture fx;
  const QueryResult r =
      fx.db.select({{"a", avg(sales.qty)}, {"s", sum(sales.qty)}}).from(sales).where(inArray(sales.id, {"s1", "s3"})).all();
  REQUIRE(r.size() == 1);
  CHECK(r.rows[0]["a"].kind() == Kind::Real);
  CHECK(r.rows[0]["a"] == Value(4.0));
  CHECK(r.rows[0]["s"] == Value(8));
  // Predicates are 0/1/NULL, as in SQLite: sum counts the true ones, count the non-NULL ones.
  const QueryResult p = fx.db.select({{"big", sum(gt(sales.qty, 2))}, {"known", count(gt(sales.qty, 2))}}).from(sales).all();
  REQUIRE(p.size() == 1);
  CHECK(p.rows[0]["big"] == Value(4));
  CHECK(p.rows[0]["known"] == Value(6));
  // avg of negative and positive values.
  const QueryResult n = fx.db.select({{"a", avg(sales.price)}}).from(sales).where(inArray(sales.id, {"s3", "s8"})).all();
  CHECK(n.rows.at(0)["a"] == Value(-1.5));
}

TEST_CASE("aggregates over no rows: one row, count 0, the rest NULL", "[query][aggregate]") {
  Fixture fx;
  auto check = [](const QueryResult& r) {
    INFO(qtest::render(r));
    REQUIRE(r.size() == 1);
    CHECK(r.rows[0]["n"] == Value(0));
    CHECK(r.rows[0]["nv"] == Value(0));
    CHECK(r.rows[0]["s"].isNull());
    CHECK(r.rows[0]["a"].isNull());
    CHECK(r.rows[0]["lo"].isNull());
    CHECK(r.rows[0]["hi"].isNull());
  };
  // An empty table.
  check(fx.db.select({{"n", count()}, {"nv", count(empties.v)}, {"s", sum(empties.v)}, {"a", avg(empties.v)},
                      {"lo", min(empties.t)}, {"hi", max(empties.v)}})
            .from(empties)
            .all());
  // A filter that keeps nothing.
  check(fx.db.select({{"n", count()}, {"nv", count(sales.qty)}, {"s", sum(sales.qty)}, {"a", avg(sales.qty)},
                      {"lo", min(sales.product)}, {"hi", max(sales.qty)}})
            .from(sales)
            .where(gt(sales.qty, 100))
            .all());
  // Only NULL values: count(*) counts the rows, the rest see no values.
  const QueryResult nulls = fx.db.select({{"n", count()}, {"nv", count(sales.qty)}, {"s", sum(sales.qty)},
                                          {"a", avg(sales.qty)}, {"lo", min(sales.qty)}, {"hi", max(sales.qty)}})
                                .from(sales)
                                .where(isNull(sales.qty))
                                .all();
  REQUIRE(nulls.size() == 1);
  CHECK(nulls.rows[0]["n"] == Value(2));
  CHECK(nulls.rows[0]["nv"] == Value(0));
  CHECK(nulls.rows[0]["s"].isNull());
  CHECK(nulls.rows[0]["a"].isNull());
  CHECK(nulls.rows[0]["lo"].isNull());
  CHECK(nulls.rows[0]["hi"].isNull());
  // With groupBy, no rows means no groups.
  CHECK(fx.db.select({{"v", empties.v}, {"n", count()}}).from(empties).groupBy(empties.v).all().size() == 0);
  CHECK(fx.db.select({{"r", sales.region}, {"n", count()}}).from(sales).where(gt(sales.qty, 100)).groupBy(sales.region)
            .all()
            .size() == 0);
  // limit/offset apply to the single row too.
  CHECK(fx.db.select({{"n", count()}}).from(empties).limit(0).all().size() == 0);
  CHECK(fx.db.select({{"n", count()}}).from(empties).offset(1).all().size() == 0);
  CHECK(fx.db.select({{"n", count()}}).from(sales).limit(5).all().size() == 1);
}

TEST_CASE("groupBy: NULL is its own group - aggregates per group", "[query][aggregate][groupBy]") {
  Fixture fx;
  const QueryResult r = fx.db.select({{"region", sales.region},
                                      {"n", count()},
                                      {"q", sum(sales.qty)},
                                      {"np", count(sales.product)},
                                      {"lo", min(sales.price)},
                                      {"hi", max(sales.product)}})
                            .from(sales)
                            .groupBy(sales.region)
                            .orderBy(asc(sales.region))
                            .all();
  INFO(qtest::render(r));
  CHECK(texts(r, "region") == S{qtest::kNull, "east", "north", "west"});
  CHECK(values(r, "n") == V{Value(2), Value(3), Value(1), Value(2)});
  CHECK(values(r, "q") == V{Value(2), Value(7), Value(10), Value(4)});
  CHECK(values(r, "np") == V{Value(2), Value(3), Value(1), Value(1)});
  CHECK(values(r, "lo") == V{Value(3), Value(1), Value(10), Value(-4)});
  CHECK(values(r, "hi") == V{Value("fig"), Value("pear"), Value("kiwi"), Value("apple")});
  // The group key reads back by its column handle.
  CHECK(r.rows[1].get(sales.region) == std::optional<std::string_view>("east"));
  CHECK_FALSE(r.rows[0].get(sales.region).has_value());

  // An integer key with NULLs: two rows have qty NULL and form one group.
  const QueryResult q = fx.db.select({{"qty", sales.qty}, {"n", count()}, {"p", sum(sales.price)}})
                            .from(sales)
                            .groupBy(sales.qty)
                            .orderBy(asc(sales.qty))
                            .all();
  INFO(qtest::render(q));
  CHECK(values(q, "qty") == V{Value(), Value(-1), Value(2), Value(3), Value(4), Value(5), Value(10)});
  CHECK(values(q, "n") == V{Value(2), Value(1), Value(1), Value(1), Value(1), Value(1), Value(1)});
  CHECK(values(q, "p") == V{Value(23), Value(), Value(7), Value(10), Value(1), Value(-4), Value(10)});

  // Several keys.
  const QueryResult rp = fx.db.select({{"r", sales.region}, {"p", sales.product}, {"n", count()}})
                             .from(sales)
                             .groupBy(sales.region, sales.product)
                             .orderBy(asc(sales.region), asc(sales.product))
                             .all();
  INFO(qtest::render(rp));
  CHECK(texts(rp, "r") == S{qtest::kNull, qtest::kNull, "east", "east", "east", "north", "west", "west"});
  CHECK(texts(rp, "p") == S{"apple", "fig", "Apple", "apple", "pear", "kiwi", qtest::kNull, "apple"});

  // groupBy without aggregates: the distinct values.
  const QueryResult d =
      fx.db.select({{"p", sales.product}}).from(sales).groupBy(sales.product).orderBy(asc(sales.product)).all();
  CHECK(texts(d, "p") == S{qtest::kNull, "Apple", "apple", "fig", "kiwi", "pear"});

  // A where clause filters rows before grouping.
  const QueryResult w = fx.db.select({{"r", sales.region}, {"n", count()}})
                            .from(sales)
                            .where(eq(sales.product, "apple"))
                            .groupBy(sales.region)
                            .orderBy(asc(sales.region))
                            .all();
  CHECK(texts(w, "r") == S{qtest::kNull, "east", "west"});
  CHECK(values(w, "n") == V{Value(1), Value(1), Value(1)});
}

TEST_CASE("having filters groups by aggregate and by key", "[query][aggregate][having]") {
  Fixture fx;
  auto base = [&] {
    return fx.db.select({{"r", sales.region}, {"n", count()}}).from(sales).groupBy(sales.region).orderBy(asc(sales.region));
  };
  CHECK(texts(base().having(gt(count(), 1)).all(), "r") == S{qtest::kNull, "east", "west"});
  CHECK(texts(base().having(lte(count(), 1)).all(), "r") == S{"north"});
  // An aggregate that is not projected.
  CHECK(texts(base().having(gt(sum(sales.qty), 5)).all(), "r") == S{"east", "north"});
  CHECK(texts(base().having(lt(min(sales.price), 5)).all(), "r") == S{qtest::kNull, "east", "west"});
  // On the group key.
  CHECK(texts(base().having(eq(sales.region, "west")).all(), "r") == S{"west"});
  CHECK(texts(base().having(isNull(sales.region)).all(), "r") == S{qtest::kNull});
  CHECK(texts(base().having(ne(sales.region, "west")).all(), "r") == S{"east", "north"});  // NULL <> x is unknown
  // Both, and three-valued: sum(qty) is NULL for no group here, avg(price) is NULL for none either.
  CHECK(texts(base().having(and_(gt(count(), 1), ne(sales.region, "east"))).all(), "r") == S{"west"});
  CHECK(texts(base().having(or_(eq(count(), 1), isNull(sales.region))).all(), "r") == S{qtest::kNull, "north"});
  // Nothing passes.
  CHECK(base().having(gt(count(), 100)).all().size() == 0);
  // having compares a real avg with an integer literal.
  CHECK(texts(base().having(gt(avg(sales.price), 5)).all(), "r") == S{"east", "north"});
}

TEST_CASE("orderBy over aggregates - limit and offset page the groups", "[query][aggregate][order]") {
  Fixture fx;
  auto q = [&] { return fx.db.select({{"r", sales.region}, {"n", count()}, {"q", sum(sales.qty)}}).from(sales).groupBy(sales.region); };
  CHECK(texts(q().orderBy(desc(count()), asc(sales.region)).all(), "r") == S{"east", qtest::kNull, "west", "north"});
  CHECK(texts(q().orderBy(asc(sum(sales.qty))).all(), "r") == S{qtest::kNull, "west", "east", "north"});
  CHECK(texts(q().orderBy(desc(max(sales.price))).all(), "r") == S{"east", "north", qtest::kNull, "west"});
  CHECK(texts(q().orderBy(desc(sales.region)).all(), "r") == S{"west", "north", "east", qtest::kNull});
  // Paging.
  CHECK(texts(q().orderBy(asc(sales.region)).limit(2).offset(1).all(), "r") == S{"east", "north"});
  CHECK(texts(q().orderBy(asc(sales.region)).limit(2).all(), "r") == S{qtest::kNull, "east"});
  CHECK(texts(q().orderBy(asc(sales.region)).offset(3).all(), "r") == S{"west"});
  CHECK(q().orderBy(asc(sales.region)).offset(4).all().size() == 0);
  CHECK(q().orderBy(asc(sales.region)).limit(0).all().size() == 0);
  CHECK(texts(q().orderBy(desc(count()), desc(sales.region)).limit(1).offset(1).all(), "r") == S{"west"});
  // Without order, paging still yields the right number of distinct groups.
  const QueryResult page = q().limit(3).offset(2).all();
  CHECK(page.size() == 2);
  // Paging with having.
  CHECK(texts(q().having(gt(count(), 1)).orderBy(asc(sales.region)).limit(1).offset(1).all(), "r") == S{"east"});
}

TEST_CASE("explain shows aggregation and having", "[query][aggregate][explain]") {
  Fixture fx;
  const std::string plan = fx.db.select({{"r", sales.region}, {"n", count()}})
                               .from(sales)
                               .where(eq(sales.region, "east"))
                               .groupBy(sales.region)
                               .having(gt(count(), 1))
                               .orderBy(desc(count()))
                               .explain();
  INFO(plan);
  CHECK(qtest::accessLine(plan) == "SEARCH sales USING INDEX by_region (region = 'east')");
  CHECK(qtest::contains(plan, "AGGREGATE GROUP BY (hash) sales.region"));
  CHECK(qtest::contains(plan, "HAVING count(*) > 1"));
  CHECK(qtest::contains(plan, "SORT BY count(*) DESC"));
  // Results agree with the plan.
  const QueryResult r = fx.db.select({{"r", sales.region}, {"n", count()}})
                            .from(sales)
                            .where(eq(sales.region, "east"))
                            .groupBy(sales.region)
                            .having(gt(count(), 1))
                            .all();
  CHECK(texts(r, "r") == S{"east"});
  CHECK(values(r, "n") == V{Value(3)});
  // An aggregate without groupBy never uses the index order, and says AGGREGATE.
  const std::string whole = fx.db.select({{"n", count()}}).from(sales).orderBy(asc(count())).limit(1).explain();
  INFO(whole);
  CHECK(qtest::contains(whole, "AGGREGATE"));
  CHECK_FALSE(qtest::contains(whole, "IN ORDER OF INDEX"));
}
