// fromSubquery + colRef: filtering, ordering and aggregating the rows of a
// subquery (including aggregate subqueries and groupBy on a colRef), joining
// a subquery with a table, nesting, and builders staying values.
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;
using qtest::contains;
using qtest::texts;
using qtest::values;

namespace {

struct Customers : Table {
  Customers() : Table("customers") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
  IntColumn tier{this, integer("tier").nullable()};
};
const Customers customers;

struct Orders : Table {
  Orders() : Table("orders") { index("by_customer", {customer}); }
  TextColumn id{this, plasma::id()};
  TextColumn customer{this, text("customer").nullable()};
  IntColumn amount{this, integer("amount").nullable()};
  TextColumn status{this, text("status")};
};
const Orders orders;

const Schema schema = defineSchema("subquery-v1", {customers, orders});

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() {
    db.ensureSchema();
    db.write([&](Tx& tx) {
      auto customer = [&](const char* id, const char* name, Value tier) {
        (void)tx.insert(customers).values(
            {{customers.id, id}, {customers.name, name}, Assignment(AnyColumn(customers.tier), std::move(tier))});
      };
      customer("c1", "ann", 1);
      customer("c2", "bob", 2);
      customer("c3", "cy", Value());
      customer("c4", "dee", 1);
      auto order = [&](const char* id, Value cust, Value amount, const char* status) {
        (void)tx.insert(orders).values({{orders.id, id}, Assignment(AnyColumn(orders.customer), std::move(cust)),
                                        Assignment(AnyColumn(orders.amount), std::move(amount)), {orders.status, status}});
      };
      order("o1", "c1", 10, "paid");
      order("o2", "c1", 20, "paid");
      order("o3", "c2", 5, "open");
      order("o4", "c2", Value(), "paid");
      order("o5", "c3", 7, "paid");
      order("o6", Value(), 3, "open");
      order("o7", "c1", 1, "open");
    });
  }

  // Per customer (NULL included): total amount and number of orders.
  SelectBuilder totals() const {
    return db.select({{"cust", orders.customer}, {"total", sum(orders.amount)}, {"n", count()}})
        .from(orders)
        .groupBy(orders.customer);
  }
};

using S = std::vector<std::string>;
using V = std::vector<Value>;
const std::string N = qtest::kNull;

}  // namespace

TEST_CASE("fromSubquery: filter, order and project a subquery's rows with colRef", "[query][subquery]") {
  Fixture fx;
  const auto paid =
      fx.db.select({{"cust", orders.customer}, {"amt", orders.amount}}).from(orders).where(eq(orders.status, "paid"));
  const auto outer = fx.db.select({{"c", colRef("p", "cust")}, {"a", colRef("p", "amt")}})
                         .fromSubquery(paid, "p")
                         .where(gt(colRef("p", "amt"), 5))
                         .orderBy(desc(colRef("p", "amt")));
  const std::string plan = outer.explain();
  INFO(plan);
  CHECK(qtest::accessLine(plan) == "SCAN SUBQUERY p");
  CHECK(contains(plan, "FILTER p.amt > 5"));
  const QueryResult r = outer.all();
  INFO(qtest::render(r));
  CHECK(texts(r, "c") == S{"c1", "c1", "c3"});
  CHECK(values(r, "a") == V{Value(20), Value(10), Value(7)});
  // NULL handling through a subquery: o4 has no amount.
  const QueryResult nulls =
      fx.db.select({{"c", colRef("p", "cust")}}).fromSubquery(paid, "p").where(isNull(colRef("p", "amt"))).all();
  CHECK(texts(nulls, "c") == S{"c2"});
  // limit/offset on the outer query.
  const QueryResult page = fx.db.select({{"a", colRef("p", "amt")}})
                               .fromSubquery(paid, "p")
                               .orderBy(asc(colRef("p", "amt")))
                               .limit(2)
                               .offset(1)
                               .all();
  CHECK(values(page, "a") == V{Value(7), Value(10)});  // NULL first, skipped by the offset
}

TEST_CASE("fromSubquery over an aggregate subquery - groupBy on a colRef", "[query][subquery][aggregate]") {
  Fixture fx;
  const QueryResult big = fx.db.select({{"cust", colRef("t", "cust")}, {"total", colRef("t", "total")}})
                              .fromSubquery(fx.totals(), "t")
                              .where(gte(colRef("t", "total"), 7))
                              .orderBy(asc(colRef("t", "cust")))
                              .all();
  INFO(qtest::render(big));
  CHECK(texts(big, "cust") == S{"c1", "c3"});
  CHECK(values(big, "total") == V{Value(31), Value(7)});

  // Every group, NULL customer included, in order.
  const QueryResult all =
      fx.db.select().fromSubquery(fx.totals(), "t").orderBy(asc(colRef("t", "cust"))).all();
  INFO(qtest::render(all));
  CHECK(qtest::columnNames(all) == S{"cust", "total", "n"});
  CHECK(texts(all, "cust") == S{N, "c1", "c2", "c3"});
  CHECK(values(all, "total") == V{Value(3), Value(31), Value(5), Value(7)});
  CHECK(values(all, "n") == V{Value(1), Value(3), Value(2), Value(1)});

  // Group the subquery's rows by one of its columns.
  const QueryResult by_n = fx.db.select({{"n", colRef("t", "n")}, {"custs", count()}, {"amount", sum(colRef("t", "total"))}})
                               .fromSubquery(fx.totals(), "t")
                               .groupBy({colRef("t", "n")})
                               .orderBy(asc(colRef("t", "n")))
                               .all();
  INFO(qtest::render(by_n));
  CHECK(values(by_n, "n") == V{Value(1), Value(2), Value(3)});
  CHECK(values(by_n, "custs") == V{Value(2), Value(1), Value(1)});
  CHECK(values(by_n, "amount") == V{Value(10), Value(5), Value(31)});
  // having on a colRef group.
  const QueryResult having = fx.db.select({{"n", colRef("t", "n")}, {"custs", count()}})
                                 .fromSubquery(fx.totals(), "t")
                                 .groupBy({colRef("t", "n")})
                                 .having(gt(count(), 1))
                                 .all();
  CHECK(values(having, "n") == V{Value(1)});

  // Aggregates over the subquery without grouping.
  const QueryResult whole = fx.db.select({{"hi", max(colRef("t", "total"))},
                                          {"sum", sum(colRef("t", "total"))},
                                          {"avg", avg(colRef("t", "total"))},
                                          {"k", count()}})
                                .fromSubquery(fx.totals(), "t")
                                .all();
  REQUIRE(whole.size() == 1);
  CHECK(whole.rows[0]["hi"] == Value(31));
  CHECK(whole.rows[0]["sum"] == Value(46));
  CHECK(whole.rows[0]["avg"] == Value(11.5));
  CHECK(whole.rows[0]["k"] == Value(4));
}

TEST_CASE("a subquery joined with a table", "[query][subquery][join]") {
  Fixture fx;
  const auto joined = fx.db.select({{"name", customers.name}, {"total", colRef("t", "total")}})
                          .fromSubquery(fx.totals(), "t")
                          .innerJoin(customers, eq(colRef("t", "cust"), customers.id))
                          .orderBy(desc(colRef("t", "total")));
  const std::string plan = joined.explain();
  INFO(plan);
  CHECK(contains(plan, "INNER JOIN customers USING PRIMARY KEY (id = t.cust)"));
  const QueryResult r = joined.all();
  CHECK(texts(r, "name") == S{"ann", "cy", "bob"});
  CHECK(values(r, "total") == V{Value(31), Value(7), Value(5)});

  // Left join: the NULL customer group is kept, NULL-filled; select() qualifies names.
  const QueryResult left = fx.db.select()
                               .fromSubquery(fx.totals(), "t")
                               .leftJoin(customers, eq(colRef("t", "cust"), customers.id))
                               .orderBy(asc(colRef("t", "cust")))
                               .all();
  INFO(qtest::render(left));
  CHECK(qtest::columnNames(left) == S{"t.cust", "t.total", "t.n", "customers.id", "customers.name", "customers.tier"});
  CHECK(texts(left, "t.cust") == S{N, "c1", "c2", "c3"});
  CHECK(texts(left, "customers.name") == S{N, "ann", "bob", "cy"});
  CHECK(values(left, "customers.tier") == V{Value(), Value(1), Value(2), Value()});

  // A table joined with an aggregate over a subquery's rows grouped by a joined column.
  const QueryResult by_tier = fx.db.select({{"tier", customers.tier}, {"total", sum(colRef("t", "total"))}})
                                  .fromSubquery(fx.totals(), "t")
                                  .innerJoin(customers, eq(customers.id, colRef("t", "cust")))
                                  .groupBy(customers.tier)
                                  .orderBy(asc(customers.tier))
                                  .all();
  INFO(qtest::render(by_tier));
  CHECK(values(by_tier, "tier") == V{Value(), Value(1), Value(2)});
  CHECK(values(by_tier, "total") == V{Value(7), Value(31), Value(5)});
}

TEST_CASE("nested subqueries, ordered and limited subqueries", "[query][subquery]") {
  Fixture fx;
  const auto over4 = fx.db.select({{"cust", colRef("t", "cust")}, {"total", colRef("t", "total")}})
                         .fromSubquery(fx.totals(), "t")
                         .where(gt(colRef("t", "total"), 4));
  const QueryResult k = fx.db.select({{"k", count()}, {"lo", min(colRef("u", "total"))}}).fromSubquery(over4, "u").all();
  REQUIRE(k.size() == 1);
  CHECK(k.rows[0]["k"] == Value(3));
  CHECK(k.rows[0]["lo"] == Value(5));
  // The top two customers: order and limit inside the subquery are honoured.
  const auto top2 = fx.db.select({{"cust", orders.customer}, {"total", sum(orders.amount)}})
                        .from(orders)
                        .groupBy(orders.customer)
                        .orderBy(desc(sum(orders.amount)))
                        .limit(2);
  const QueryResult names = fx.db.select({{"name", customers.name}})
                                .fromSubquery(top2, "top")
                                .innerJoin(customers, eq(colRef("top", "cust"), customers.id))
                                .orderBy(asc(customers.name))
                                .all();
  CHECK(texts(names, "name") == S{"ann", "cy"});
  // A plain-row subquery with a limit.
  const auto first3 = fx.db.select({{"id", orders.id}}).from(orders).orderBy(asc(orders.id)).limit(3);
  CHECK(texts(fx.db.select().fromSubquery(first3, "f").orderBy(desc(colRef("f", "id"))).all(), "id") ==
        S{"o3", "o2", "o1"});
}

TEST_CASE("a subquery builder is captured by value", "[query][subquery]") {
  Fixture fx;
  SelectBuilder inner = fx.db.select({{"id", orders.id}}).from(orders).where(eq(orders.status, "open"));
  const SelectBuilder outer = fx.db.select({{"k", count()}}).fromSubquery(inner, "s");
  CHECK(outer.all().rows.at(0)["k"] == Value(3));
  // Changing the inner builder afterwards does not change the outer query.
  inner.where(eq(orders.status, "paid")).limit(1);
  CHECK(outer.all().rows.at(0)["k"] == Value(3));
  CHECK(fx.db.select({{"k", count()}}).fromSubquery(inner, "s").all().rows.at(0)["k"] == Value(1));
  // Inside a transaction.
  fx.db.read([&](const ReadTx& tx) {
    const auto in_tx = tx.select({{"c", orders.customer}}).from(orders).where(isNull(orders.customer));
    CHECK(tx.select({{"k", count()}}).fromSubquery(in_tx, "x").all().rows.at(0)["k"] == Value(1));
  });
}

TEST_CASE("parameters inside a subquery are bound through the outer prepared query", "[query][subquery][prepared]") {
  Fixture fx;
  // Only the subquery has a parameter.
  const auto inner = fx.db.select({{"id", orders.id}}).from(orders).where(eq(orders.customer, param(0)));
  PreparedQuery p = fx.db.select({{"k", count()}}).fromSubquery(inner, "s").prepare();
  for (auto [cust, n] : std::vector<std::pair<const char*, int>>{{"c1", 3}, {"c2", 2}, {"c4", 0}}) {
    INFO("customer " << cust);
    const std::string err = qtest::errorOf([&] { p.bind(0, Value(cust)); });
    CHECK(err == "no error");
    if (err != "no error") break;
    CHECK(p.all().rows.at(0)["k"] == Value(n));
  }
  // Parameters on both levels.
  const auto big = fx.db.select({{"id", orders.id}, {"amt", orders.amount}}).from(orders).where(gte(orders.amount, param(0)));
  PreparedQuery q = fx.db.select({{"k", count()}}).fromSubquery(big, "s").where(lt(colRef("s", "amt"), param(1))).prepare();
  q.bind(0, Value(5)).bind(1, Value(20));
  CHECK(q.all().rows.at(0)["k"] == Value(3));  // 10, 5, 7
}
