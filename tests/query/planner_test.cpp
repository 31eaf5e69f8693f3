// The planner's choice, as explain() shows it, on indexed and unindexed
// columns — and, for every plan, the rows it returns checked against a
// brute-force filter + sort in C++ over random data (with NULLs, duplicates,
// negative numbers and unicode text). The planner must never change results.
// Prepared queries with param(): bind, rebind, run again; kinds that do not
// match the indexed column.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;
using qtest::accessLine;
using qtest::contains;

namespace {

struct Items : Table {
  Items() : Table("items") {
    index("by_cat", {cat});
    index("by_score", {score});
    index("by_name", {name});
    index("by_ab", {a, b});
  }
  TextColumn id{this, plasma::id()};
  IntColumn cat{this, integer("cat").nullable()};
  IntColumn score{this, integer("score").nullable()};
  TextColumn name{this, text("name").nullable()};
  IntColumn a{this, integer("a").nullable()};
  IntColumn b{this, integer("b").nullable()};
  IntColumn plain{this, integer("plain").nullable()};     // not indexed
  TextColumn note{this, text("note").nullable()};         // not indexed
  TextColumn code{this, text("code").nullable().unique()};  // unique index $u_code
};
const Items items;
const Schema schema = defineSchema("planner-v1", {items});

using OptInt = std::optional<std::int64_t>;
using OptText = std::optional<std::string>;

struct Item {
  std::string id;
  OptInt cat, score;
  OptText name;
  OptInt a, b, plain;
  OptText note, code;
};

const std::vector<std::string> kNames = {"apple", "Apple", "banana", "cherry", "date", "\xc3\xa9lan", "\xc3\x89" "clair",
                                         "fig", "grape", "kiwi", "", "zeta"};

class Data {
 public:
  explicit Data(std::uint64_t seed) : rng_(seed) {}

  Item random(std::string id) {
    Item it;
    it.id = std::move(id);
    it.cat = maybe(intIn(0, 9));
    it.score = maybe(intIn(-50, 50));
    it.name = chance(10) ? OptText() : OptText(kNames[static_cast<std::size_t>(intIn(0, static_cast<int>(kNames.size()) - 1))]);
    it.a = maybe(intIn(0, 4));
    it.b = maybe(intIn(-5, 5));
    it.plain = maybe(intIn(-50, 50));
    it.note = chance(30) ? OptText() : OptText("n" + std::to_string(intIn(0, 20)));
    it.code = chance(50) ? OptText() : OptText("c" + it.id);
    return it;
  }

  std::int64_t intIn(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return intIn(0, 99) < percent; }
  OptInt maybe(std::int64_t v) { return chance(10) ? OptInt() : OptInt(v); }
  std::string freshId() {
    for (;;) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "k%04d", static_cast<int>(intIn(0, 9999)));
      if (used_.insert(buf).second) return buf;
    }
  }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::set<std::string> used_;
};

RowInput inputOf(const Item& it) {
  return {{items.id, it.id},
          Assignment(AnyColumn(items.cat), qtest::opt(it.cat)),
          Assignment(AnyColumn(items.score), qtest::opt(it.score)),
          Assignment(AnyColumn(items.name), qtest::opt(it.name)),
          Assignment(AnyColumn(items.a), qtest::opt(it.a)),
          Assignment(AnyColumn(items.b), qtest::opt(it.b)),
          Assignment(AnyColumn(items.plain), qtest::opt(it.plain)),
          Assignment(AnyColumn(items.note), qtest::opt(it.note)),
          Assignment(AnyColumn(items.code), qtest::opt(it.code))};
}

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  std::uint64_t seed;
  Data data;
  std::map<std::string, Item> model;  // id -> row

  explicit Fixture(std::uint64_t s = 0x9E3779B97F4A7C15ULL, int rows = 400) : seed(s), data(s) {
    db.ensureSchema();
    db.write([&](Tx& tx) {
      for (int i = 0; i < rows; ++i) {
        Item it = data.random(data.freshId());
        (void)tx.insert(items).values(inputOf(it));
        model.emplace(it.id, std::move(it));
      }
    });
  }

  // Random updates, deletes and inserts, mirrored in the model.
  void churn(int n) {
    db.write([&](Tx& tx) {
      for (int i = 0; i < n; ++i) {
        const auto pick = std::next(model.begin(), data.intIn(0, static_cast<int>(model.size()) - 1));
        const int what = static_cast<int>(data.intIn(0, 2));
        if (what == 0) {
          (void)tx.deleteFrom(items).where(eq(items.id, pick->first));
          model.erase(pick);
        } else if (what == 1) {
          Item fresh = data.random(pick->first);
          fresh.code = pick->second.code;  // keep the unique column unique
          (void)tx.update(items).set({Assignment(AnyColumn(items.cat), qtest::opt(fresh.cat)),
                                      Assignment(AnyColumn(items.score), qtest::opt(fresh.score)),
                                      Assignment(AnyColumn(items.name), qtest::opt(fresh.name)),
                                      Assignment(AnyColumn(items.a), qtest::opt(fresh.a)),
                                      Assignment(AnyColumn(items.b), qtest::opt(fresh.b)),
                                      Assignment(AnyColumn(items.plain), qtest::opt(fresh.plain))})
                  .where(eq(items.id, pick->first));
          pick->second = fresh;
        } else {
          Item it = data.random(data.freshId());
          (void)tx.insert(items).values(inputOf(it));
          model.emplace(it.id, std::move(it));
        }
      }
    });
  }

  std::string randomId() {
    if (data.chance(15)) return "k" + std::to_string(10000 + data.intIn(0, 99));  // absent
    return std::next(model.begin(), data.intIn(0, static_cast<int>(model.size()) - 1))->first;
  }
};

// ---- brute force -------------------------------------------------------------------

// ORDER BY comparison: NULL first, integers numerically, text bytewise.
int cmpValue(const Value& x, const Value& y) {
  if (x.isNull() || y.isNull()) return x.isNull() == y.isNull() ? 0 : (x.isNull() ? -1 : 1);
  if (x.kind() == Kind::Integer && y.kind() == Kind::Integer) return x.asInt() < y.asInt() ? -1 : (x.asInt() > y.asInt());
  REQUIRE(x.kind() == Kind::Text);
  REQUIRE(y.kind() == Kind::Text);
  const int c = x.asText().compare(y.asText());
  return c < 0 ? -1 : (c > 0);
}

struct Key {
  std::function<Value(const Item&)> get;
  bool desc = false;
};

Value ID(const Item& i) { return Value(i.id); }
Value CAT(const Item& i) { return qtest::opt(i.cat); }
Value SCORE(const Item& i) { return qtest::opt(i.score); }
Value NAME(const Item& i) { return qtest::opt(i.name); }
Value A(const Item& i) { return qtest::opt(i.a); }
Value B(const Item& i) { return qtest::opt(i.b); }
Value PLAIN(const Item& i) { return qtest::opt(i.plain); }

struct Case {
  std::string label;
  Expr where;
  std::vector<OrderTerm> order_terms;
  std::vector<Key> order;                 // mirrors order_terms
  std::function<bool(const Item&)> pred;  // mirrors where (TRUE only)
  std::int64_t limit = -1, offset = 0;
  std::string access;  // the expected first line of explain()
  int by_access = -1;  // 1: order from the access path; 0: sorted; -1: no order
};

SelectBuilder applyCase(SelectBuilder q, const Case& c) {
  q.from(items);
  if (c.where) q.where(c.where);
  if (!c.order_terms.empty()) q.orderBy(c.order_terms);
  if (c.limit >= 0) q.limit(c.limit);
  if (c.offset > 0) q.offset(c.offset);
  return q;
}

std::vector<Value> keysOf(const Item& it, const std::vector<Key>& order) {
  std::vector<Value> out;
  for (const auto& k : order) out.push_back(k.get(it));
  return out;
}

std::string renderKeys(const std::vector<Value>& k) { return plasma_test::renderRow(k); }

// Checks one query: its plan, and its rows (through rows() and all()) against the model.
void check(const Fixture& fx, const Case& c) {
  const SelectBuilder q = applyCase(fx.db.select(), c);
  const std::string plan = q.explain();
  INFO("seed " << fx.seed << " case: " << c.label << "\nwhere: " << (c.where ? c.where.toString() : "-") << "\nplan:\n"
               << plan);
  CHECK(accessLine(plan) == c.access);
  if (c.by_access == 1) CHECK(contains(plan, "ORDER BY (from the access path, no sort)"));
  if (c.by_access == 0) CHECK(contains(plan, "\nSORT BY "));
  if (c.limit >= 0 && c.by_access == 1) CHECK(contains(plan, "(stops early)"));
  if (c.limit >= 0 && c.by_access == 0) CHECK_FALSE(contains(plan, "(stops early)"));

  // Brute force: filter, then a stable sort (ties keep id order), then the page.
  std::vector<const Item*> match;
  for (const auto& [id, it] : fx.model) {
    if (c.pred(it)) match.push_back(&it);
  }
  std::stable_sort(match.begin(), match.end(), [&](const Item* x, const Item* y) {
    for (const auto& k : c.order) {
      const int r = cmpValue(k.get(*x), k.get(*y));
      if (r != 0) return k.desc ? r > 0 : r < 0;
    }
    return false;
  });
  std::set<std::string> matching;
  for (const auto* m : match) matching.insert(m->id);
  std::vector<const Item*> page;
  for (std::size_t i = static_cast<std::size_t>(c.offset); i < match.size(); ++i) {
    if (c.limit >= 0 && page.size() >= static_cast<std::size_t>(c.limit)) break;
    page.push_back(match[i]);
  }

  auto verify = [&](const std::vector<std::string>& got, const char* how) {
    INFO("via " << how);
    REQUIRE(got.size() == page.size());
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == got.size());
    for (const auto& id : got) {
      INFO("row " << id);
      CHECK(matching.count(id) == 1);
    }
    if (c.order.empty()) {
      if (c.limit < 0 && c.offset == 0) {
        CHECK(std::set<std::string>(got.begin(), got.end()) == matching);
      }
      return;
    }
    // Ordered: the sequence of sort keys must match; ids only where the order is total.
    std::vector<std::string> got_keys, want_keys;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const auto it = fx.model.find(got[i]);
      REQUIRE(it != fx.model.end());
      got_keys.push_back(renderKeys(keysOf(it->second, c.order)));
      want_keys.push_back(renderKeys(keysOf(*page[i], c.order)));
    }
    CHECK(got_keys == want_keys);
    // With no limit/offset, the whole matching set must come out.
    if (c.limit < 0 && c.offset == 0) CHECK(std::set<std::string>(got.begin(), got.end()) == matching);
  };
  verify(qtest::idList(q.rows()), "rows()");
  const QueryResult projected = applyCase(fx.db.select({{"key", items.id}, {"s", items.score}}), c).all();
  verify(qtest::texts(projected, "key"), "all() with a projection");
  std::vector<std::string> streamed;
  q.forEachRow([&](const RowView& r) {
    streamed.emplace_back(r.id());
    return true;
  });
  verify(streamed, "forEachRow()");
}

std::string sql(std::int64_t v) { return std::to_string(v); }
std::string sql(const std::string& s) { return "'" + s + "'"; }

bool has(const OptInt& v, std::int64_t k) { return v && *v == k; }

// A batch of cases with random constants covering every access path.
std::vector<Case> randomCases(Fixture& fx) {
  Data& d = fx.data;
  std::vector<Case> out;
  const std::int64_t lim = d.intIn(0, 25), off = d.chance(40) ? d.intIn(0, 10) : 0;

  {  // id = ? -> primary key
    const std::string k = fx.randomId();
    out.push_back({"pk eq", eq(items.id, k), {}, {}, [=](const Item& i) { return i.id == k; }, -1, 0,
                   "SEARCH items USING PRIMARY KEY (id = " + sql(k) + ")", -1});
  }
  {  // id IN (...) -> primary key, with a residual filter
    const std::string k1 = fx.randomId(), k2 = fx.randomId(), k3 = fx.randomId();
    const std::int64_t s = d.intIn(-50, 50);
    out.push_back({"pk in", and_(inArray(items.id, {k1, k2, k3}), gt(items.score, s)),
                   {asc(items.score), asc(items.id)}, {{SCORE}, {ID}},
                   [=](const Item& i) { return (i.id == k1 || i.id == k2 || i.id == k3) && i.score && *i.score > s; }, -1, 0,
                   "SEARCH items USING PRIMARY KEY (id IN " + sql(k1) + ", " + sql(k2) + ", " + sql(k3) + ")", 0});
  }
  {  // id range, ordered by id descending with a page
    std::string lo = fx.randomId(), hi = fx.randomId();
    if (hi < lo) std::swap(lo, hi);
    out.push_back({"pk range desc", and_(gt(items.id, lo), lte(items.id, hi)), {desc(items.id)}, {{ID, true}},
                   [=](const Item& i) { return i.id > lo && i.id <= hi; }, lim, off,
                   "SEARCH items USING PRIMARY KEY (id > " + sql(lo) + " AND id <= " + sql(hi) + ") DESC", 1});
    out.push_back({"pk range desc, exclusive", and_(gte(items.id, lo), lt(items.id, hi)), {desc(items.id)}, {{ID, true}},
                   [=](const Item& i) { return i.id >= lo && i.id < hi; }, lim, 0,
                   "SEARCH items USING PRIMARY KEY (id >= " + sql(lo) + " AND id < " + sql(hi) + ") DESC", 1});
    out.push_back({"pk range asc", gte(items.id, lo), {asc(items.id)}, {{ID}},
                   [=](const Item& i) { return i.id >= lo; }, lim, 0,
                   "SEARCH items USING PRIMARY KEY (id >= " + sql(lo) + ")", 1});
  }
  {  // equality on an indexed column -> index, id order from the index
    const std::int64_t k = d.intIn(0, 9);
    out.push_back({"index eq", eq(items.cat, k), {}, {}, [=](const Item& i) { return has(i.cat, k); }, -1, 0,
                   "SEARCH items USING INDEX by_cat (cat = " + sql(k) + ")", -1});
    out.push_back({"index eq, id order", eq(items.cat, k), {asc(items.id)}, {{ID}},
                   [=](const Item& i) { return has(i.cat, k); }, lim, off,
                   "SEARCH items USING INDEX by_cat (cat = " + sql(k) + ")", 1});
    out.push_back({"index eq, id desc", eq(items.cat, k), {desc(items.id)}, {{ID, true}},
                   [=](const Item& i) { return has(i.cat, k); }, lim, 0,
                   "SEARCH items USING INDEX by_cat (cat = " + sql(k) + ") DESC", 1});
    // A residual condition on an unindexed column, sorted by it.
    const std::int64_t p = d.intIn(-50, 50);
    out.push_back({"index eq + filter", and_(eq(items.cat, k), lt(items.plain, p)), {desc(items.plain), asc(items.id)},
                   {{PLAIN, true}, {ID}}, [=](const Item& i) { return has(i.cat, k) && i.plain && *i.plain < p; }, lim, off,
                   "SEARCH items USING INDEX by_cat (cat = " + sql(k) + ")", 0});
  }
  {  // text equality on an index, and the unique index
    const std::string n = kNames[static_cast<std::size_t>(d.intIn(0, static_cast<int>(kNames.size()) - 1))];
    out.push_back({"text index eq", eq(items.name, n), {asc(items.id)}, {{ID}},
                   [=](const Item& i) { return i.name == n; }, -1, 0,
                   "SEARCH items USING INDEX by_name (name = " + sql(n) + ")", 1});
    const std::string code = "c" + fx.randomId();
    out.push_back({"unique eq", eq(items.code, code), {}, {}, [=](const Item& i) { return i.code == code; }, -1, 0,
                   "SEARCH items USING INDEX $u_code (code = " + sql(code) + ")", -1});
  }
  {  // composite index: prefix, full key, prefix + range, prefix + order
    const std::int64_t ka = d.intIn(0, 4), kb = d.intIn(-5, 5);
    out.push_back({"composite prefix", eq(items.a, ka), {}, {}, [=](const Item& i) { return has(i.a, ka); }, -1, 0,
                   "SEARCH items USING INDEX by_ab (a = " + sql(ka) + ")", -1});
    out.push_back({"composite full", and_(eq(items.b, kb), eq(items.a, ka)), {}, {},
                   [=](const Item& i) { return has(i.a, ka) && has(i.b, kb); }, -1, 0,
                   "SEARCH items USING INDEX by_ab (a = " + sql(ka) + " AND b = " + sql(kb) + ")", -1});
    out.push_back({"composite prefix + range", and_(eq(items.a, ka), gte(items.b, kb)), {asc(items.b), asc(items.id)},
                   {{B}, {ID}}, [=](const Item& i) { return has(i.a, ka) && i.b && *i.b >= kb; }, lim, off,
                   "SEARCH items USING INDEX by_ab (a = " + sql(ka) + " AND b >= " + sql(kb) + ")", 1});
    out.push_back({"composite prefix + range desc", and_(eq(items.a, ka), lt(items.b, kb)), {desc(items.b)},
                   {{B, true}}, [=](const Item& i) { return has(i.a, ka) && i.b && *i.b < kb; }, lim, 0,
                   "SEARCH items USING INDEX by_ab (a = " + sql(ka) + " AND b < " + sql(kb) + ") DESC", 1});
    out.push_back({"composite prefix, order by next", eq(items.a, ka), {desc(items.b), desc(items.id)},
                   {{B, true}, {ID, true}}, [=](const Item& i) { return has(i.a, ka); }, lim, off,
                   "SEARCH items USING INDEX by_ab (a = " + sql(ka) + ") DESC", 1});
    out.push_back({"composite, order by both", Expr(), {asc(items.a), asc(items.b), asc(items.id)},
                   {{A}, {B}, {ID}}, [](const Item&) { return true; }, lim, off,
                   "SCAN items IN ORDER OF INDEX by_ab", 1});
  }
  {  // range on an indexed column -> index range
    std::int64_t lo = d.intIn(-50, 50), hi = d.intIn(-50, 50);
    if (hi < lo) std::swap(lo, hi);
    out.push_back({"index range", and_(gte(items.score, lo), lt(items.score, hi)), {}, {},
                   [=](const Item& i) { return i.score && *i.score >= lo && *i.score < hi; }, -1, 0,
                   "SEARCH items USING INDEX by_score (score >= " + sql(lo) + " AND score < " + sql(hi) + ")", -1});
    out.push_back({"index range ordered", and_(gt(items.score, lo), lte(items.score, hi)), {asc(items.score), asc(items.id)},
                   {{SCORE}, {ID}}, [=](const Item& i) { return i.score && *i.score > lo && *i.score <= hi; }, lim, off,
                   "SEARCH items USING INDEX by_score (score > " + sql(lo) + " AND score <= " + sql(hi) + ")", 1});
    out.push_back({"index range desc", lte(items.score, hi), {desc(items.score)}, {{SCORE, true}},
                   [=](const Item& i) { return i.score && *i.score <= hi; }, lim, off,
                   "SEARCH items USING INDEX by_score (score <= " + sql(hi) + ") DESC", 1});
    // The constant on the left: lo < score.
    out.push_back({"index range mirrored", compare(ExprOp::Lt, plasma::lit(Value(lo)), items.score.expr()), {}, {},
                   [=](const Item& i) { return i.score && *i.score > lo; }, -1, 0,
                   "SEARCH items USING INDEX by_score (score > " + sql(lo) + ")", -1});
    // Range on text.
    const std::string n = kNames[static_cast<std::size_t>(d.intIn(0, static_cast<int>(kNames.size()) - 1))];
    out.push_back({"text index range", gte(items.name, n), {asc(items.name), asc(items.id)}, {{NAME}, {ID}},
                   [=](const Item& i) { return i.name && *i.name >= n; }, lim, 0,
                   "SEARCH items USING INDEX by_name (name >= " + sql(n) + ")", 1});
  }
  {  // orderBy + limit on an indexed column: ordered walk, no sort, early stop
    out.push_back({"ordered index walk", Expr(), {asc(items.score)}, {{SCORE}}, [](const Item&) { return true; }, lim, off,
                   "SCAN items IN ORDER OF INDEX by_score", 1});
    out.push_back({"ordered index walk desc", Expr(), {desc(items.score), desc(items.id)}, {{SCORE, true}, {ID, true}},
                   [](const Item&) { return true; }, lim, off, "SCAN items IN ORDER OF INDEX by_score DESC", 1});
    const std::int64_t p = d.intIn(-50, 50);
    out.push_back({"ordered index walk + filter", gt(items.plain, p), {asc(items.name)}, {{NAME}},
                   [=](const Item& i) { return i.plain && *i.plain > p; }, lim, off,
                   "SCAN items IN ORDER OF INDEX by_name", 1});
    // The same on an unindexed column: scan and sort.
    out.push_back({"unindexed order", Expr(), {asc(items.plain)}, {{PLAIN}}, [](const Item&) { return true; }, lim, off,
                   "SCAN items", 0});
    out.push_back({"unindexed order desc", Expr(), {desc(items.plain), asc(items.id)}, {{PLAIN, true}, {ID}},
                   [](const Item&) { return true; }, lim, off, "SCAN items", 0});
    // Without a limit an index order is not used: scan and sort.
    out.push_back({"indexed order without limit", Expr(), {desc(items.score), asc(items.id)}, {{SCORE, true}, {ID}},
                   [](const Item&) { return true; }, -1, 0, "SCAN items", 0});
    // The id order comes from the table itself.
    out.push_back({"id order", Expr(), {desc(items.id)}, {{ID, true}}, [](const Item&) { return true; }, lim, off,
                   "SCAN items DESC", 1});
  }
  {  // inArray on indexed columns
    const std::int64_t k1 = d.intIn(0, 9), k2 = d.intIn(0, 9);
    out.push_back({"index in", inArray(items.cat, {k1, k2, std::int64_t{42}}), {asc(items.cat), asc(items.id)},
                   {{CAT}, {ID}}, [=](const Item& i) { return has(i.cat, k1) || has(i.cat, k2); }, -1, 0,
                   "SEARCH items USING INDEX by_cat (cat IN (" + sql(k1) + ", " + sql(k2) + ", 42))", 0});
    const std::string n1 = kNames[static_cast<std::size_t>(d.intIn(0, static_cast<int>(kNames.size()) - 1))];
    out.push_back({"text index in", inArray(items.name, {n1, std::string("nope")}), {}, {},
                   [=](const Item& i) { return i.name == n1; }, -1, 0,
                   "SEARCH items USING INDEX by_name (name IN (" + sql(n1) + ", 'nope'))", -1});
    // A NULL in the list matches nothing; the rest still seek.
    out.push_back({"index in with NULL", inArray(items.cat.expr(), {Value(k1), Value()}), {}, {},
                   [=](const Item& i) { return has(i.cat, k1); }, -1, 0,
                   "SEARCH items USING INDEX by_cat (cat = " + sql(k1) + ")", -1});
  }
  {  // no usable index: scans
    const std::int64_t p = d.intIn(-50, 50);
    out.push_back({"unindexed eq", eq(items.plain, p), {}, {}, [=](const Item& i) { return has(i.plain, p); }, -1, 0,
                   "SCAN items", -1});
    const std::int64_t k = d.intIn(0, 9);
    out.push_back({"or is a scan", or_(eq(items.cat, k), eq(items.plain, p)), {}, {},
                   [=](const Item& i) { return has(i.cat, k) || has(i.plain, p); }, -1, 0, "SCAN items", -1});
    out.push_back({"like is a scan", like(items.name, "%a%"), {}, {},
                   [](const Item& i) {
                     if (!i.name) return false;
                     std::string s = *i.name;
                     for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                     return s.find('a') != std::string::npos;
                   },
                   -1, 0, "SCAN items", -1});
    out.push_back({"= NULL is a scan that matches nothing", eq(items.cat.expr(), plasma::lit(Value())), {}, {},
                   [](const Item&) { return false; }, -1, 0, "SCAN items", -1});
    out.push_back({"ne is a scan", ne(items.cat, k), {}, {}, [=](const Item& i) { return i.cat && *i.cat != k; }, -1, 0,
                   "SCAN items", -1});
    out.push_back({"isNull on an indexed column", isNull(items.score), {}, {}, [](const Item& i) { return !i.score; }, -1,
                   0, "SCAN items", -1});
  }
  return out;
}

}  // namespace

TEST_CASE("explain: the planner's choice for each kind of condition", "[query][planner][explain]") {
  Fixture fx(7, 50);
  auto plan = [&](const SelectBuilder& q) { return q.explain(); };
  auto q = [&] { return fx.db.select().from(items); };
  // Primary key.
  CHECK(plan(q().where(eq(items.id, "t1"))) == "SEARCH items USING PRIMARY KEY (id = 't1')\n  FILTER items.id = 't1'\n");
  CHECK(accessLine(plan(q().where(inArray(items.id, {"a", "b"})))) == "SEARCH items USING PRIMARY KEY (id IN 'a', 'b')");
  CHECK(accessLine(plan(q().where(and_(eq(items.cat, 1), eq(items.id, "x"))))) ==
        "SEARCH items USING PRIMARY KEY (id = 'x')");  // the primary key wins over an index
  CHECK(accessLine(plan(q().where(lt(items.id, "m")))) == "SEARCH items USING PRIMARY KEY (id < 'm')");
  // Indexes.
  CHECK(accessLine(plan(q().where(eq(items.cat, 3)))) == "SEARCH items USING INDEX by_cat (cat = 3)");
  CHECK(accessLine(plan(q().where(eq(items.a, 1)))) == "SEARCH items USING INDEX by_ab (a = 1)");
  CHECK(accessLine(plan(q().where(and_(eq(items.a, 1), eq(items.b, 2))))) == "SEARCH items USING INDEX by_ab (a = 1 AND b = 2)");
  CHECK(accessLine(plan(q().where(and_(eq(items.a, 1), gt(items.b, 2), lt(items.b, 4))))) ==
        "SEARCH items USING INDEX by_ab (a = 1 AND b > 2 AND b < 4)");
  // b alone is not a prefix of by_ab.
  CHECK(accessLine(plan(q().where(eq(items.b, 2)))) == "SCAN items");
  CHECK(accessLine(plan(q().where(and_(gte(items.score, 10), lt(items.score, 20))))) ==
        "SEARCH items USING INDEX by_score (score >= 10 AND score < 20)");
  CHECK(accessLine(plan(q().where(inArray(items.cat, {1, 2})))) == "SEARCH items USING INDEX by_cat (cat IN (1, 2))");
  CHECK(accessLine(plan(q().where(eq(items.code, "x")))) == "SEARCH items USING INDEX $u_code (code = 'x')");
  // Equality beats a range; a longer equality prefix beats a shorter one.
  CHECK(accessLine(plan(q().where(and_(gt(items.score, 0), eq(items.cat, 1))))) == "SEARCH items USING INDEX by_cat (cat = 1)");
  // Kinds that cannot seek the index: a real literal does not seek an integer index.
  CHECK(accessLine(plan(q().where(eq(items.cat.expr(), plasma::lit(Value(1.5)))))) == "SCAN items");
  // Unindexed.
  CHECK(plan(q().where(eq(items.plain, 3))) == "SCAN items\n  FILTER items.plain = 3\n");
  // orderBy + limit.
  const std::string walk = plan(q().orderBy(asc(items.score)).limit(5));
  CHECK(walk ==
        "SCAN items IN ORDER OF INDEX by_score\n"
        "ORDER BY (from the access path, no sort) items.score\n"
        "LIMIT 5 OFFSET 0 (stops early)\n");
  CHECK(plan(q().orderBy(desc(items.score)).limit(5).offset(2)) ==
        "SCAN items IN ORDER OF INDEX by_score DESC\n"
        "ORDER BY (from the access path, no sort) items.score DESC\n"
        "LIMIT 5 OFFSET 2 (stops early)\n");
  CHECK(plan(q().orderBy(asc(items.plain)).limit(5)) ==
        "SCAN items\n"
        "SORT BY items.plain\n"
        "LIMIT 5 OFFSET 0\n");
  // Mixed directions cannot come from one index walk.
  CHECK(contains(plan(q().orderBy(asc(items.a), desc(items.b)).limit(5)), "SORT BY items.a, items.b DESC"));
  // A limit without order stops early.
  CHECK(plan(q().limit(3)) == "SCAN items\nLIMIT 3 OFFSET 0 (stops early)\n");
  // Order by id needs no index and no limit.
  CHECK(plan(q().orderBy(desc(items.id))) == "SCAN items DESC\nORDER BY (from the access path, no sort) items.id DESC\n");
  // Params.
  CHECK(accessLine(plan(q().where(eq(items.id, param(0))))) == "SEARCH items USING PRIMARY KEY (id = ?0)");
  CHECK(accessLine(plan(q().where(and_(gte(items.score, param(0)), lt(items.score, param(1)))))) ==
        "SEARCH items USING INDEX by_score (score >= ?0 AND score < ?1)");
}

TEST_CASE("every plan returns what a brute-force filter and sort returns", "[query][planner][property]") {
  const std::uint64_t seed = GENERATE(1ULL, 20240607ULL, 0xC0FFEEULL);
  Fixture fx(seed, 400);
  for (int round = 0; round < 20; ++round) {
    INFO("seed " << seed << " round " << round);
    for (const Case& c : randomCases(fx)) check(fx, c);
    if (round % 4 == 3) fx.churn(60);  // the indexes follow updates, deletes and inserts
  }
}

TEST_CASE("prepared queries: bind, rebind, run again", "[query][planner][prepared]") {
  Fixture fx(99, 300);
  // An index equality with a parameter.
  PreparedQuery byCat = fx.db.select().from(items).where(eq(items.cat, param(0))).orderBy(asc(items.id)).prepare();
  CHECK(accessLine(byCat.explain()) == "SEARCH items USING INDEX by_cat (cat = ?0)");
  for (std::int64_t k : {3, 0, 9, 3, 42}) {
    INFO("cat = " << k);
    byCat.bind(0, Value(k));
    std::vector<std::string> want;
    for (const auto& [id, it] : fx.model)
      if (has(it.cat, k)) want.push_back(id);
    CHECK(qtest::idList(byCat.rows()) == want);
    const QueryResult r = byCat.all();
    CHECK(qtest::texts(r, "id") == want);
  }
  // NULL matches nothing.
  byCat.bind(0, Value());
  CHECK(byCat.rows().empty());
  // A prepared query on the database runs in a fresh transaction each time.
  byCat.bind(0, Value(7));
  const auto before = byCat.rows().size();
  fx.db.write([&](Tx& tx) { (void)tx.insert(items).values({{items.id, "new-7"}, {items.cat, 7}}); });
  CHECK(byCat.rows().size() == before + 1);
  // ... or in a given one.
  fx.db.read([&](const ReadTx& tx) {
    std::size_t n = 0;
    byCat.forEachIn(tx.state(), [&](const ResultRow& r) {
      CHECK(r["cat"] == Value(7));
      ++n;
      return true;
    });
    CHECK(n == before + 1);
  });

  // Primary key with a parameter.
  PreparedQuery byId = fx.db.select({{"id", items.id}, {"score", items.score}}).from(items).where(eq(items.id, param(0))).prepare();
  CHECK(accessLine(byId.explain()) == "SEARCH items USING PRIMARY KEY (id = ?0)");
  for (int i = 0; i < 20; ++i) {
    const std::string k = fx.randomId();
    byId.bind(0, Value(k));
    const QueryResult r = byId.all();
    if (fx.model.count(k)) {
      REQUIRE(r.size() == 1);
      CHECK(r.rows[0]["score"] == qtest::opt(fx.model.at(k).score));
    } else {
      CHECK(r.size() == 0);
    }
  }

  // A range with two parameters, ordered through the index, with a limit.
  PreparedQuery range = fx.db.select()
                            .from(items)
                            .where(and_(gte(items.score, param(0)), lt(items.score, param(1))))
                            .orderBy(desc(items.score), desc(items.id))
                            .limit(10)
                            .prepare();
  CHECK(accessLine(range.explain()) == "SEARCH items USING INDEX by_score (score >= ?0 AND score < ?1) DESC");
  CHECK(contains(range.explain(), "ORDER BY (from the access path, no sort)"));
  for (auto [lo, hi] : std::vector<std::pair<int, int>>{{-10, 10}, {0, 1}, {30, -30}, {-50, 51}, {5, 6}}) {
    INFO("score in [" << lo << ", " << hi << ")");
    range.bind(0, Value(lo)).bind(1, Value(hi));
    std::vector<const Item*> want;
    for (const auto& [id, it] : fx.model)
      if (it.score && *it.score >= lo && *it.score < hi) want.push_back(&it);
    std::sort(want.begin(), want.end(), [](const Item* x, const Item* y) {
      return *x->score != *y->score ? *x->score > *y->score : x->id > y->id;
    });
    if (want.size() > 10) want.resize(10);
    std::vector<std::string> want_ids;
    for (const auto* w : want) want_ids.push_back(w->id);
    CHECK(qtest::idList(range.rows()) == want_ids);
  }
  // Binding a parameter the query does not have.
  expectError([&] { range.bind(2, Value(1)); }, ErrorCode::InvalidArgument, {"bind(2)"});

  // Parameters in a projection and in having.
  PreparedQuery groups = fx.db.select({{"cat", items.cat}, {"n", count()}, {"tag", param(1)}})
                             .from(items)
                             .groupBy(items.cat)
                             .having(gt(count(), param(0)))
                             .orderBy(asc(items.cat))
                             .prepare();
  std::map<std::optional<std::int64_t>, std::int64_t> counts;
  for (const auto& [id, it] : fx.model) ++counts[it.cat];
  for (std::int64_t min_n : {0, 25, 30, 1000}) {
    INFO("having count > " << min_n);
    groups.bind(0, Value(min_n)).bind(1, Value("t" + std::to_string(min_n)));
    const QueryResult r = groups.all();
    std::vector<Value> want;
    for (const auto& [cat, n] : counts)
      if (n > min_n) want.push_back(qtest::opt(cat));
    CHECK(qtest::values(r, "cat") == want);
    for (const auto& row : r.rows) CHECK(row["tag"] == Value("t" + std::to_string(min_n)));
  }
}

TEST_CASE("prepared queries: a bound kind that cannot seek the index", "[query][planner][prepared]") {
  Fixture fx(5, 200);
  // Text for an integer column: the comparison is a TypeMismatch naming the column.
  PreparedQuery byCat = fx.db.select().from(items).where(eq(items.cat, param(0))).prepare();
  byCat.bind(0, Value("3"));
  expectError([&] { (void)byCat.rows(); }, ErrorCode::TypeMismatch, {"cat"});
  // Rebinding to the right kind works again.
  byCat.bind(0, Value(3));
  std::set<std::string> want;
  for (const auto& [id, it] : fx.model)
    if (has(it.cat, 3)) want.insert(id);
  CHECK(qtest::idSet(byCat.rows()) == want);
  // An integer for the text id.
  PreparedQuery byId = fx.db.select().from(items).where(eq(items.id, param(0))).prepare();
  byId.bind(0, Value(5));
  expectError([&] { (void)byId.rows(); }, ErrorCode::TypeMismatch, {"id"});
  // A boolean seeks an integer index as 0/1 (numeric, as in SQLite).
  PreparedQuery byA = fx.db.select().from(items).where(eq(items.a, param(0))).prepare();
  byA.bind(0, Value(true));
  std::set<std::string> ones;
  for (const auto& [id, it] : fx.model)
    if (has(it.a, 1)) ones.insert(id);
  CHECK(qtest::idSet(byA.rows()) == ones);

  // A real compares numerically with an integer column (3 = 3.0): the index cannot
  // seek it, so the executor must fall back without losing rows...
  PreparedQuery byScore = fx.db.select().from(items).where(eq(items.score, param(0))).orderBy(asc(items.id)).prepare();
  const std::int64_t some = *std::find_if(fx.model.begin(), fx.model.end(), [](const auto& kv) {
                               return kv.second.score.has_value();
                             })->second.score;
  byScore.bind(0, Value(static_cast<double>(some)));
  std::vector<std::string> same;
  for (const auto& [id, it] : fx.model)
    if (has(it.score, some)) same.push_back(id);
  CHECK(qtest::idList(byScore.rows()) == same);
  // ...and without losing the order the plan promised (ordered index range, no sort).
  for (bool descending : {false, true}) {
    INFO((descending ? "desc" : "asc"));
    SelectBuilder q = fx.db.select().from(items).where(gte(items.score, param(0)));
    if (descending) {
      q.orderBy(desc(items.score), desc(items.id));
    } else {
      q.orderBy(asc(items.score), asc(items.id));
    }
    PreparedQuery top = q.limit(8).prepare();
    INFO(top.explain());
    top.bind(0, Value(2.5));
    std::vector<const Item*> want;
    for (const auto& [id, it] : fx.model)
      if (it.score && static_cast<double>(*it.score) >= 2.5) want.push_back(&it);
    std::sort(want.begin(), want.end(), [&](const Item* x, const Item* y) {
      if (*x->score != *y->score) return descending ? *x->score > *y->score : *x->score < *y->score;
      return descending ? x->id > y->id : x->id < y->id;
    });
    if (want.size() > 8) want.resize(8);
    std::vector<std::string> want_ids;
    for (const auto* w : want) want_ids.push_back(w->id);
    CHECK(qtest::idList(top.rows()) == want_ids);
    CHECK(qtest::texts(top.all(), "id") == want_ids);
  }
}

TEST_CASE("index access paths see a write transaction's own changes", "[query][planner][write]") {
  Fixture fx(31, 200);
  fx.db.write([&](Tx& tx) {
    // Move some rows into a new category, give a few the top scores, delete one, insert one.
    std::vector<std::string> moved;
    int i = 0;
    for (auto& [id, it] : fx.model) {
      if (i++ % 17 != 0) continue;
      (void)tx.update(items).set({{items.cat, 77}, {items.score, 1000 + i}}).where(eq(items.id, id));
      it.cat = 77;
      it.score = 1000 + i;
      moved.push_back(id);
    }
    (void)tx.deleteFrom(items).where(eq(items.id, moved.front()));
    fx.model.erase(moved.front());
    moved.erase(moved.begin());
    (void)tx.insert(items).values({{items.id, "zz-new"}, {items.cat, 77}, {items.score, 5000}});
    fx.model.emplace("zz-new", Item{"zz-new", 77, 5000, {}, {}, {}, {}, {}, {}});
    moved.push_back("zz-new");

    const auto byCat = tx.select(items).where(eq(items.cat, 77)).orderBy(asc(items.id));
    CHECK(accessLine(byCat.explain()) == "SEARCH items USING INDEX by_cat (cat = 77)");
    CHECK(qtest::idList(byCat.rows()) == moved);
    // The ordered index walk sees the new scores first (descending).
    const auto top = tx.select(items).orderBy(desc(items.score), desc(items.id)).limit(static_cast<std::int64_t>(moved.size()));
    CHECK(accessLine(top.explain()) == "SCAN items IN ORDER OF INDEX by_score DESC");
    std::vector<std::string> want = moved;
    std::sort(want.begin(), want.end(), [&](const std::string& x, const std::string& y) {
      return *fx.model.at(x).score > *fx.model.at(y).score;
    });
    CHECK(qtest::idList(top.rows()) == want);
    // A range on the new scores.
    const auto range = tx.select(items).where(gte(items.score, 1000)).orderBy(asc(items.score));
    CHECK(accessLine(range.explain()) == "SEARCH items USING INDEX by_score (score >= 1000)");
    std::reverse(want.begin(), want.end());
    CHECK(qtest::idList(range.rows()) == want);
    // Each moved row is found under its new category.
    for (const auto& id : moved) {
      CHECK(tx.select(items).where(and_(eq(items.id, id), eq(items.cat, 77))).rows().size() == 1);
    }
  });
  // Committed: the same from a fresh read transaction.
  std::vector<std::string> want;
  for (const auto& [id, it] : fx.model)
    if (has(it.cat, 77)) want.push_back(id);
  CHECK(qtest::idList(fx.db.select().from(items).where(eq(items.cat, 77)).orderBy(asc(items.id)).rows()) == want);
}
