// Differential test of the query executor against SQLite.
//
// The same random data (NULLs, duplicates, negative numbers, unicode text,
// strings holding % and _, mixed-case ASCII) goes into a plasma database and
// an in-memory SQLite database with the same tables and indexes. A seeded
// generator then builds random queries twice — as a plasma SelectBuilder and
// as the equivalent SQL text — covering every builder method (select(),
// projections, from, fromSubquery + colRef, innerJoin, leftJoin, where,
// groupBy, having, orderBy asc/desc, limit, offset; count()/count(e)/sum/avg/
// min/max) and every operator (eq ne gt gte lt lte and or not inArray isNull
// isNotNull like). Both results must match:
//   - exactly and in order when the orderBy fixes the order (the generator
//     appends the primary keys / group keys as the last order keys);
//   - otherwise as multisets; with an orderBy that leaves ties, the order
//     keys (projected) must come out in SQLite's sequence, and with a limit
//     the rows must be a sub-multiset of the unlimited result.
// Booleans compare as the integers 0/1 (SQLite has no boolean type); reals
// with a relative tolerance of 1e-9.
//
// plasma's columns are strictly typed (comparing a text column with an
// integer is a TypeMismatch error, where SQLite would coerce), so the
// generator only compares kind-compatible operands; a table appears at most
// once per query (no self-joins).
//
// A failure prints the seed, the query number, the SQL, plasma's explain()
// and both results. Replay it with
//   PLASMA_DIFF_SEED=<seed> PLASMA_DIFF_QUERY=<n> plasma_tests "[differential]"
// and run more with PLASMA_DIFF_SEED=<seed> PLASMA_DIFF_QUERIES=<count>
// (PLASMA_DIFF_VERBOSE=1 prints coverage counts and times, =2 also every
// query with its time and plan).
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

// ---- schema -------------------------------------------------------------------------

struct Users : Table {
  Users() : Table("users") {
    index("users_by_age", {age});
    index("users_by_name_score", {name, score});
    uniqueIndex("users_by_handle", {handle});
    index("users_by_active", {active});
  }
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name").nullable()};
  IntColumn age{this, integer("age").nullable()};
  IntColumn score{this, integer("score")};
  BoolColumn active{this, boolean("active").nullable()};
  TextColumn handle{this, text("handle").nullable()};
};

struct Items : Table {
  Items() : Table("items") {
    index("items_by_owner", {ownerId});
    index("items_by_kind_qty", {kind, qty});
    index("items_by_price", {price});
  }
  TextColumn id{this, plasma::id()};
  TextColumn ownerId{this, text("ownerId").nullable().ref("users")};
  TextColumn kind{this, text("kind")};
  IntColumn qty{this, integer("qty").nullable()};
  IntColumn price{this, integer("price")};
  TextColumn note{this, text("note").nullable()};
};

struct Tags : Table {
  Tags() : Table("tags") {
    index("tags_by_item", {itemId});
    index("tags_by_label_weight", {label, weight});
  }
  TextColumn id{this, plasma::id()};
  TextColumn itemId{this, text("itemId").nullable()};
  TextColumn label{this, text("label")};
  IntColumn weight{this, integer("weight").nullable()};
};

const Users users;
const Items items;
const Tags tags;
const Schema schema = defineSchema("differential-v1", {users, items, tags});
const std::vector<const Table*> kTables = {&users, &items, &tags};

const char* const kSqliteDdl = R"sql(
CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT, age INTEGER, score INTEGER NOT NULL, active INTEGER, handle TEXT);
CREATE INDEX users_by_age ON users(age);
CREATE INDEX users_by_name_score ON users(name, score);
CREATE UNIQUE INDEX users_by_handle ON users(handle);
CREATE INDEX users_by_active ON users(active);
CREATE TABLE items(id TEXT PRIMARY KEY, ownerId TEXT, kind TEXT NOT NULL, qty INTEGER, price INTEGER NOT NULL, note TEXT);
CREATE INDEX items_by_owner ON items(ownerId);
CREATE INDEX items_by_kind_qty ON items(kind, qty);
CREATE INDEX items_by_price ON items(price);
CREATE TABLE tags(id TEXT PRIMARY KEY, itemId TEXT, label TEXT NOT NULL, weight INTEGER);
CREATE INDEX tags_by_item ON tags(itemId);
CREATE INDEX tags_by_label_weight ON tags(label, weight);
)sql";

// Text values: duplicates differing in ASCII case, unicode, quotes, and the
// like wildcards % and _ as ordinary characters.
const std::vector<std::string> kTexts = {
    "alice", "Alice", "ALICE", "bob", "Bob", "carol", "dave", "Dave", "eve", "abc", "ABC", "aBc", "zeta", "Zeta",
    "a%b", "a_b", "100%", "50% off", "_under", "x_y%z", "%", "_", "", "-5", "10", "O'Brien", "it''s",
    "\xc3\xa9",                          // é
    "\xc3\xa9lan",                       // élan
    "\xc3\x89lan",                       // Élan
    "\xe6\x97\xa5\xe6\x9c\xac",          // 日本
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",  // 日本語
    "\xe6\x9c\xac",                      // 本
    "\xf0\x9f\x99\x82",                  // 🙂
    "\xf0\x9f\x99\x82 smile",            // 🙂 smile
    "ma\xc3\xb1" "ana",                  // mañana
    "na\xc3\xafve",                      // naïve
};
const std::vector<std::string> kKinds = {"tool", "Tool", "food", "toy", "book", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "a_b"};
const std::vector<std::int64_t> kSmallInts = {-42, -5, -1, 0, 1, 2, 3, 7, 10, 18, 30, 42, 100};
// Integers beyond 2^53 (not exact as doubles), rare in the data: SQLite
// compares them with reals exactly. Small enough that no sum overflows.
const std::vector<std::int64_t> kBigInts = {9007199254740993, 9007199254740992, -9007199254740993,
                                            18014398509481985, -18014398509481984};
const std::vector<double> kReals = {-1.5, 0.0, 0.5, 2.5, 3.0, 10.25, 42.0, 99.75, 250.5, 9007199254740992.0,
                                    -9007199254740992.0, 18014398509481984.0};

// ---- values ---------------------------------------------------------------------------

enum class VK { Int, Real, Text, Bool };
bool numericVK(VK k) { return k != VK::Text; }
bool compatible(VK a, VK b) { return numericVK(a) == numericVK(b); }
VK vkOf(Kind k) {
  switch (k) {
    case Kind::Integer: return VK::Int;
    case Kind::Real: return VK::Real;
    case Kind::Boolean: return VK::Bool;
    default: return VK::Text;
  }
}

std::string fmtReal(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string sqlQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string sqlLiteral(const Value& v) {
  switch (v.kind()) {
    case Kind::Null: return "NULL";
    case Kind::Integer: return std::to_string(v.asInt());
    case Kind::Real: return fmtReal(v.asReal());
    case Kind::Boolean: return v.asBool() ? "1" : "0";
    case Kind::Text: return sqlQuote(v.asText());
    default: FAIL("unexpected literal kind"); return "";
  }
}

std::string render(const Value& v) {
  switch (v.kind()) {
    case Kind::Null: return "NULL";
    case Kind::Integer: return std::to_string(v.asInt());
    case Kind::Real: return fmtReal(v.asReal()) + "r";
    case Kind::Boolean: return v.asBool() ? "true" : "false";
    case Kind::Text: return sqlQuote(v.asText());
    default: return v.toString();
  }
}

using Row = std::vector<Value>;
using Rows = std::vector<Row>;

std::string renderRows(const Rows& rows, std::size_t max = 60) {
  std::string out;
  for (std::size_t i = 0; i < rows.size() && i < max; ++i) {
    out += "  (";
    for (std::size_t c = 0; c < rows[i].size(); ++c) out += (c ? ", " : "") + render(rows[i][c]);
    out += ")\n";
  }
  if (rows.size() > max) out += "  ... " + std::to_string(rows.size() - max) + " more\n";
  return out;
}

// SQLite has no booleans: compare plasma's as 0/1.
Value normalize(Value v) {
  if (v.kind() == Kind::Boolean) return Value(static_cast<std::int64_t>(v.asBool() ? 1 : 0));
  return v;
}

bool isNum(const Value& v) { return v.kind() == Kind::Integer || v.kind() == Kind::Real; }
double num(const Value& v) { return v.kind() == Kind::Real ? v.asReal() : static_cast<double>(v.asInt()); }
int rank(const Value& v) { return v.isNull() ? 0 : isNum(v) ? 1 : v.kind() == Kind::Text ? 2 : 3; }

// A total order for sorting result rows canonically.
int canonCmp(const Value& a, const Value& b) {
  if (rank(a) != rank(b)) return rank(a) < rank(b) ? -1 : 1;
  if (a.isNull()) return 0;
  if (isNum(a)) {
    const double x = num(a), y = num(b);
    if (x != y) return x < y ? -1 : 1;
    if (a.kind() != b.kind()) return a.kind() == Kind::Integer ? -1 : 1;
    if (a.kind() == Kind::Integer && a.asInt() != b.asInt()) return a.asInt() < b.asInt() ? -1 : 1;
    return 0;
  }
  if (a.kind() == Kind::Text) return a.asText() < b.asText() ? -1 : (a.asText() > b.asText() ? 1 : 0);
  return a.toString() < b.toString() ? -1 : (a.toString() > b.toString() ? 1 : 0);
}

bool approxEq(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  if (a.kind() == Kind::Real) {
    const double x = a.asReal(), y = b.asReal();
    return std::fabs(x - y) <= 1e-9 * std::max({1.0, std::fabs(x), std::fabs(y)});
  }
  return a == b;
}

bool rowEq(const Row& a, const Row& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!approxEq(a[i], b[i])) return false;
  }
  return true;
}

bool rowLess(const Row& a, const Row& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const int c = canonCmp(a[i], b[i]);
    if (c != 0) return c < 0;
  }
  return a.size() < b.size();
}

Rows sorted(Rows r) {
  std::sort(r.begin(), r.end(), rowLess);
  return r;
}

bool sameMultiset(const Rows& a, const Rows& b) {
  if (a.size() != b.size()) return false;
  const Rows x = sorted(a), y = sorted(b);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!rowEq(x[i], y[i])) return false;
  }
  return true;
}

// Every row of `part` is in `whole` (counting duplicates).
bool subMultiset(const Rows& part, const Rows& whole) {
  const Rows p = sorted(part), w = sorted(whole);
  std::size_t j = 0;
  for (const Row& r : p) {
    while (j < w.size() && !rowEq(w[j], r) && rowLess(w[j], r)) ++j;
    if (j == w.size() || !rowEq(w[j], r)) return false;
    ++j;
  }
  return true;
}

// ---- the two databases ------------------------------------------------------------------

using Pool = std::shared_ptr<const std::vector<Value>>;

Pool makePool(std::vector<Value> v) { return std::make_shared<const std::vector<Value>>(std::move(v)); }

struct SqliteDb {
  sqlite3* db = nullptr;
  SqliteDb() {
    REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
    exec(kSqliteDdl);
  }
  ~SqliteDb() { sqlite3_close(db); }
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    INFO("sqlite: " << (err ? err : "") << "\n" << sql);
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }

  void insert(const std::string& table, const std::vector<Row>& rows) {
    if (rows.empty()) return;
    std::string sql = "INSERT INTO " + table + " VALUES (";
    for (std::size_t i = 0; i < rows[0].size(); ++i) sql += i ? ",?" : "?";
    sql += ")";
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    for (const Row& r : rows) {
      sqlite3_reset(st);
      for (std::size_t i = 0; i < r.size(); ++i) {
        const int p = static_cast<int>(i) + 1;
        const Value& v = r[i];
        switch (v.kind()) {
          case Kind::Null: sqlite3_bind_null(st, p); break;
          case Kind::Integer: sqlite3_bind_int64(st, p, v.asInt()); break;
          case Kind::Boolean: sqlite3_bind_int64(st, p, v.asBool() ? 1 : 0); break;
          case Kind::Text:
            sqlite3_bind_text(st, p, v.asText().data(), static_cast<int>(v.asText().size()), SQLITE_TRANSIENT);
            break;
          default: FAIL("unexpected kind");
        }
      }
      REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    }
    sqlite3_finalize(st);
  }

  // Runs a query; returns false (and the message) on an SQL error.
  bool query(const std::string& sql, Rows* out, std::string* err) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      *err = sqlite3_errmsg(db);
      return false;
    }
    const int n = sqlite3_column_count(st);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      Row r;
      r.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        switch (sqlite3_column_type(st, i)) {
          case SQLITE_INTEGER: r.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(st, i))); break;
          case SQLITE_FLOAT: r.emplace_back(sqlite3_column_double(st, i)); break;
          case SQLITE_TEXT:
            r.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i)),
                                       static_cast<std::size_t>(sqlite3_column_bytes(st, i))));
            break;
          case SQLITE_NULL: r.emplace_back(); break;
          default: r.emplace_back(std::string("<blob>")); break;
        }
      }
      out->push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) *err = sqlite3_errmsg(db);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
  }
};

// Both databases, filled with the same seeded random rows.
struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  SqliteDb lite;
  // table name -> column index -> the column's non-NULL values (literal pools)
  std::map<std::string, std::vector<Pool>> pools;

  explicit Fixture(std::uint64_t seed) {
    db.ensureSchema();
    std::mt19937_64 rng(seed);
    auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
    auto range = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
    auto pickText = [&](const std::vector<std::string>& v) { return Value(v[static_cast<std::size_t>(range(0, static_cast<std::int64_t>(v.size()) - 1))]); };
    auto smallInt = [&] { return Value(kSmallInts[static_cast<std::size_t>(range(0, static_cast<std::int64_t>(kSmallInts.size()) - 1))]); };
    auto bigOr = [&](Value v) {
      return chance(0.015) ? Value(kBigInts[static_cast<std::size_t>(range(0, static_cast<std::int64_t>(kBigInts.size()) - 1))]) : v;
    };
    auto idFor = [&](char c, int i) { return std::string(1, chance(0.3) ? static_cast<char>(c - 'a' + 'A') : c) + std::to_string(i); };

    const int n_users = static_cast<int>(range(80, 120));
    const int n_items = static_cast<int>(range(150, 220));
    const int n_tags = static_cast<int>(range(150, 220));
    std::vector<Row> u, it, tg;
    std::vector<std::string> user_ids, item_ids;
    for (int i = 0; i < n_users; ++i) {
      user_ids.push_back(idFor('u', i));
      // Unique handles; the first ones are the shared texts (so they join with names and labels).
      std::string handle = static_cast<std::size_t>(i) < kTexts.size() ? kTexts[static_cast<std::size_t>(i)]
                           : chance(0.3)                               ? "H" + std::to_string(i)
                                                                       : "h" + std::to_string(i);
      u.push_back({Value(user_ids.back()), chance(0.15) ? Value() : pickText(kTexts),
                   chance(0.15) ? Value() : (chance(0.4) ? smallInt() : Value(range(-20, 80))),
                   bigOr(chance(0.3) ? smallInt() : Value(range(-1000, 1000))),
                   chance(0.2) ? Value() : Value(chance(0.5)), chance(0.3) ? Value() : Value(handle)});
    }
    for (int i = 0; i < n_items; ++i) {
      item_ids.push_back(idFor('i', i));
      // ownerId is a foreign key: NULL or an existing user (tags.itemId may dangle).
      Value owner = chance(0.2) ? Value() : Value(user_ids[static_cast<std::size_t>(range(0, n_users - 1))]);
      it.push_back({Value(item_ids.back()), owner, pickText(kKinds),
                    chance(0.2) ? Value() : (chance(0.4) ? smallInt() : Value(range(-10, 50))),
                    bigOr(chance(0.3) ? smallInt() : Value(range(-100, 1000))), chance(0.4) ? Value() : pickText(kTexts)});
    }
    for (int i = 0; i < n_tags; ++i) {
      Value item = chance(0.15)   ? Value()
                   : chance(0.1) ? Value(std::string("i99999"))
                                 : Value(item_ids[static_cast<std::size_t>(range(0, n_items - 1))]);
      tg.push_back({Value(idFor('t', i)), item, chance(0.85) ? pickText(kTexts) : pickText(kKinds),
                    chance(0.25) ? Value() : Value(range(-5, 5))});
    }
    // Insert in a shuffled order on both sides.
    std::shuffle(u.begin(), u.end(), rng);
    std::shuffle(it.begin(), it.end(), rng);
    std::shuffle(tg.begin(), tg.end(), rng);
    const std::vector<std::pair<const Table*, const std::vector<Row>*>> data = {{&users, &u}, {&items, &it}, {&tags, &tg}};
    db.write([&](Tx& tx) {
      for (const auto& [t, rows] : data) {
        for (const Row& r : *rows) {
          RowInput in;
          for (std::uint32_t c = 0; c < r.size(); ++c) in.emplace_back(AnyColumn{&t->spec(), c}, r[c]);
          (void)tx.insert(*t).values(in);
        }
      }
    });
    for (const auto& [t, rows] : data) {
      lite.insert(t->name(), *rows);
      auto& p = pools[t->name()];
      for (std::size_t c = 0; c < t->spec().columns.size(); ++c) {
        std::vector<Value> vals;
        for (const Row& r : *rows) {
          if (!r[c].isNull()) vals.push_back(r[c]);
        }
        p.push_back(makePool(std::move(vals)));
      }
    }
  }
};

// ---- the query generator ------------------------------------------------------------------

// A value-producing expression, in both languages.
struct Atom {
  Expr expr;
  std::string sql;
  VK kind = VK::Int;
  bool nullable = true;
  Pool pool;           // values it takes (for literals that hit)
  std::string origin;  // the table column it passes through, if any ("items.ownerId")
};

struct Pred {
  Expr expr;
  std::string sql;
};

struct Source {
  const Table* table = nullptr;  // or a subquery
  std::string alias;
  std::vector<Atom> atoms;
  // Atoms that identify a row (the id, or a subquery's unique outputs);
  // empty: at most one row; nullopt: no known key.
  std::optional<std::vector<std::size_t>> key;
};

struct OutCol {
  std::string name;
  VK kind;
  bool nullable;
  Pool pool;
  std::string origin;
};

enum class Mode { Unordered, Exact, Partial };
const char* modeName(Mode m) { return m == Mode::Exact ? "exact order" : m == Mode::Partial ? "partial order" : "unordered"; }

struct GenQuery {
  std::optional<SelectBuilder> builder;
  std::string sql;       // with LIMIT/OFFSET
  std::string sql_full;  // without
  Mode mode = Mode::Unordered;
  std::vector<std::size_t> key_out;  // Partial: output positions of the order keys
  std::int64_t limit = -1, offset = 0;
  std::vector<OutCol> outs;
  std::optional<std::vector<std::size_t>> unique_out;  // as Source::key, over outs
  bool plain = false;  // select() of one table without grouping: rows() works too
};

// Join links that match some rows without multiplying them too much (the
// test must stay fast in a Debug build).
const std::set<std::pair<std::string, std::string>> kNaturalLinks = {
    {"items.ownerId", "users.id"}, {"tags.itemId", "items.id"},     {"tags.label", "users.name"},
    {"tags.label", "items.kind"},  {"items.qty", "users.age"},      {"items.price", "users.score"},
    {"items.note", "users.handle"}, {"items.note", "users.name"},  {"tags.label", "items.note"},
    {"users.handle", "tags.label"},
};

bool naturalLink(const std::string& a, const std::string& b) {
  return kNaturalLinks.contains({a, b}) || kNaturalLinks.contains({b, a});
}

class Generator {
 public:
  Generator(const Fixture& fx, std::uint64_t seed, std::uint64_t query) : fx_(fx) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(query), static_cast<std::uint32_t>(query >> 32)};
    rng_.seed(seq);
  }

  GenQuery query(int depth, bool sub) {
    GenQuery q;
    std::vector<Source> sources;
    std::vector<const Table*> used;
    std::string from_sql;
    std::optional<GenQuery> inner;
    std::string sub_alias;

    // FROM: a table or a subquery.
    if (depth < 2 && chance(sub ? 0.1 : 0.14)) {
      inner = query(depth + 1, true);
      sub_alias = "s" + std::to_string(depth + 1);
      Source s;
      s.alias = sub_alias;
      for (const auto& o : inner->outs) {
        s.atoms.push_back(Atom{colRef(sub_alias, o.name), sub_alias + ".\"" + o.name + "\"", o.kind, o.nullable, o.pool,
                               o.origin});
      }
      s.key = inner->unique_out;
      from_sql = "(" + inner->sql + ") AS " + sub_alias;
      sources.push_back(std::move(s));
    } else {
      const Table* t = pick(kTables);
      used.push_back(t);
      sources.push_back(tableSource(*t));
      from_sql = t->name();
    }

    // Joins.
    struct Join {
      bool left;
      const Table* table;
      Pred on;
    };
    std::vector<Join> joins;
    std::string join_sql;
    const int r_joins = uniform(0, 99);
    const int n_joins = r_joins < 50 ? 0 : r_joins < 80 ? 1 : 2;
    for (int j = 0; j < n_joins; ++j) {
      std::vector<const Table*> avail;
      for (const Table* t : kTables) {
        if (std::find(used.begin(), used.end(), t) == used.end()) avail.push_back(t);
      }
      if (avail.empty()) break;
      const Table* t = pick(avail);
      Source ns = tableSource(*t);
      Pred on = joinOn(sources, ns);
      const bool left = chance(0.4);
      used.push_back(t);
      sources.push_back(std::move(ns));
      join_sql += std::string(left ? " LEFT JOIN " : " JOIN ") + t->name() + " ON " + on.sql;
      joins.push_back({left, t, std::move(on)});
    }
    std::vector<Atom> visible;
    for (const auto& s : sources) visible.insert(visible.end(), s.atoms.begin(), s.atoms.end());

    std::optional<Pred> where;
    const Source& first = sources.front();
    sarg_index_ = nullptr;
    if (first.table != nullptr && chance(0.35)) {
      // A condition the planner can answer from the primary key or an index,
      // alone or in a conjunction.
      Pred s = sargable(first);
      if (chance(0.5)) {
        Pred p = pred(visible, uniform(0, 2));
        const bool s_first = chance(0.5);
        where = Pred{s_first ? and_(s.expr, p.expr) : and_(p.expr, s.expr),
                     "(" + (s_first ? s.sql + " AND " + p.sql : p.sql + " AND " + s.sql) + ")"};
      } else {
        where = s;
      }
    } else if (chance(0.65)) {
      where = pred(visible, uniform(0, 2));
    }

    // Projection, grouping.
    const bool aggregate = chance(0.3);
    std::vector<Atom> group_keys;
    std::vector<Atom> proj;  // explicit projection (aliases c0, c1, ...)
    bool select_all = false;
    std::optional<Pred> having;
    std::vector<Atom> aggs;
    if (aggregate) {
      const int r = uniform(0, 99);
      const int nk = r < 15 ? 0 : r < 70 ? 1 : 2;
      for (int k = 0; k < nk; ++k) {
        const Atom& a = pick(visible);
        if (std::none_of(group_keys.begin(), group_keys.end(), [&](const Atom& g) { return g.sql == a.sql; })) {
          group_keys.push_back(a);
        }
      }
      for (const auto& g : group_keys) {
        if (chance(0.85)) proj.push_back(g);
      }
      const int na = uniform(group_keys.empty() ? 1 : 0, 3);
      for (int i = 0; i < na; ++i) {
        aggs.push_back(aggregateOf(visible));
        proj.push_back(aggs.back());
      }
      if (proj.empty()) proj.push_back(aggregateOf(visible));
      if (!group_keys.empty() && chance(0.4)) {
        std::vector<Atom> h = group_keys;
        h.insert(h.end(), aggs.begin(), aggs.end());
        h.push_back(aggregateOf(visible));
        h.push_back(aggregateOf(visible));
        having = pred(h, uniform(0, 2));
      }
    } else if (chance(0.2) && (!sub || sources.size() == 1)) {
      select_all = true;
    } else {
      const int n = uniform(1, 5);
      for (int i = 0; i < n; ++i) {
        const int r = uniform(0, 99);
        if (r < 8) {
          Pred p = pred(visible, uniform(0, 1));
          proj.push_back(Atom{p.expr, p.sql, VK::Int, true, makePool({Value(0), Value(1)}), ""});
        } else if (r < 12) {
          Value v = literalOfKind(static_cast<VK>(uniform(0, 3)));
          if (chance(0.2)) v = Value();
          const VK k = v.isNull() ? VK::Int : vkOf(v.kind());
          proj.push_back(Atom{lit(v), sqlLiteral(v), k, v.isNull(), makePool({v.isNull() ? Value(0) : v}), ""});
        } else {
          proj.push_back(pick(visible));
        }
      }
    }

    // The atoms that identify an output row, if known.
    std::optional<std::vector<Atom>> key_atoms;
    if (aggregate) {
      key_atoms = group_keys;  // empty: one row
    } else {
      key_atoms.emplace();
      for (const auto& s : sources) {
        if (!s.key) {
          key_atoms.reset();
          break;
        }
        for (std::size_t i : *s.key) key_atoms->push_back(s.atoms[i]);
      }
    }

    // Order, limit, offset.
    std::vector<std::pair<Atom, bool>> order;  // atom, descending
    auto orderCandidates = [&]() {
      if (!aggregate) return visible;
      std::vector<Atom> c = group_keys;
      c.insert(c.end(), aggs.begin(), aggs.end());
      c.push_back(aggregateOf(visible));
      return c;
    };
    auto randomOrder = [&]() {
      const auto cand = orderCandidates();
      const int n = uniform(1, 3);
      for (int i = 0; i < n; ++i) {
        if (!aggregate && !select_all && chance(0.05)) {  // a condition as an order key (0/1/NULL)
          Pred p = leaf(visible);
          order.emplace_back(Atom{p.expr, p.sql, VK::Int, true, makePool({Value(0), Value(1)}), ""}, chance(0.5));
        } else {
          order.emplace_back(pick(cand), chance(0.5));
        }
      }
    };
    bool same_direction = false;  // keys follow the order's direction (an index walk can deliver it)
    auto appendKeys = [&]() {
      for (const auto& k : *key_atoms) {
        if (std::none_of(order.begin(), order.end(), [&](const auto& o) { return o.first.sql == k.sql; })) {
          order.emplace_back(k, same_direction ? order.front().second : chance(0.5));
        }
      }
    };
    // An order an index of the from table delivers (its columns, then id).
    auto indexOrder = [&]() {
      const TableSpec& t = first.table->spec();
      const bool d = chance(0.5);
      if (sarg_index_ != nullptr && chance(0.7)) {
        // The columns after the where's equality prefix on the same index
        // (the planner can walk that index in order).
        for (std::size_t c = sarg_next_; c < sarg_index_->columns.size(); ++c) {
          order.emplace_back(first.atoms[static_cast<std::size_t>(t.findColumn(sarg_index_->columns[c]))], d);
        }
        if (order.empty()) order.emplace_back(first.atoms[0], d);
      } else if (t.indexes.empty() || chance(0.2)) {
        order.emplace_back(first.atoms[0], d);
      } else {
        for (const auto& c : pick(t.indexes).columns) order.emplace_back(first.atoms[static_cast<std::size_t>(t.findColumn(c))], d);
      }
      same_direction = true;
    };
    const bool index_order_possible = first.table != nullptr && sources.size() == 1 && !aggregate;
    auto pickLimit = [&](bool required) {
      const int r = uniform(0, 99);
      const bool lim = required ? r < 75 : r < 45;
      const bool off = required ? r >= 40 : (r >= 25 && r < 60);
      if (!lim && !off) return;
      if (lim) q.limit = chance(0.05) ? 0 : uniform(1, 25);
      if (off) q.offset = chance(0.1) ? 0 : uniform(1, 6);
      if (!lim && q.offset == 0) q.offset = 1;
    };
    if (sub) {
      const int r = uniform(0, 99);
      if (r < 25 && key_atoms) {
        q.mode = Mode::Exact;
        if (chance(0.7)) randomOrder();
        appendKeys();
        pickLimit(true);
      } else if (r < 40) {
        randomOrder();  // an order the outer query ignores
      }
    } else {
      const int r = uniform(0, 99);
      if (r < 30) {
        q.mode = Mode::Unordered;
        if (chance(0.3)) pickLimit(true);
      } else if (r < 65 && key_atoms) {
        q.mode = Mode::Exact;
        if (index_order_possible && chance(0.35)) {
          indexOrder();
        } else if (chance(0.85) || key_atoms->empty()) {
          randomOrder();
        }
        appendKeys();
        if (chance(0.6)) pickLimit(true);
      } else {
        q.mode = Mode::Partial;
        randomOrder();
        if (chance(0.5)) pickLimit(true);
      }
    }

    // Outputs: select() expands every source's columns.
    std::vector<Atom> outs_atoms;
    if (select_all) {
      for (const auto& s : sources) outs_atoms.insert(outs_atoms.end(), s.atoms.begin(), s.atoms.end());
    }
    auto outPos = [&](const Atom& a, bool add) -> std::optional<std::size_t> {
      const auto& list = select_all ? outs_atoms : proj;
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (list[i].sql == a.sql) return i;
      }
      if (!add || select_all) return std::nullopt;
      proj.push_back(a);
      return proj.size() - 1;
    };
    if (q.mode == Mode::Partial) {
      for (const auto& o : order) q.key_out.push_back(*outPos(o.first, true));
    }
    if (sub && key_atoms && (select_all || chance(0.75))) {
      std::vector<std::size_t> u;
      bool ok = true;
      for (const auto& k : *key_atoms) {
        auto p = outPos(k, true);
        if (!p) {
          ok = false;
          break;
        }
        u.push_back(*p);
      }
      if (ok) q.unique_out = u;
    }

    // Build both.
    std::vector<ProjectionItem> items_list;
    std::string select_sql;
    if (select_all) {
      select_sql = "*";
      for (const auto& s : sources) {
        for (std::size_t i = 0; i < s.atoms.size(); ++i) {
          const Atom& a = s.atoms[i];
          std::string name = s.table ? s.table->spec().columns[i].name : a.sql.substr(s.alias.size() + 2, a.sql.size() - s.alias.size() - 3);
          q.outs.push_back(OutCol{name, a.kind, a.nullable, a.pool, a.origin.empty() ? a.sql : a.origin});
        }
      }
    } else {
      for (std::size_t i = 0; i < proj.size(); ++i) {
        const std::string alias = "c" + std::to_string(i);
        items_list.emplace_back(alias, proj[i].expr);
        select_sql += (i ? ", " : "") + proj[i].sql + " AS \"" + alias + "\"";
        q.outs.push_back(OutCol{alias, proj[i].kind, proj[i].nullable, proj[i].pool,
                                proj[i].origin.empty() ? proj[i].sql : proj[i].origin});
      }
    }
    q.builder.emplace(select_all ? fx_.db.select() : fx_.db.select(items_list));
    q.plain = select_all && !inner && joins.empty();
    SelectBuilder& b = *q.builder;
    if (inner) {
      b.fromSubquery(*inner->builder, sub_alias);
    } else {
      b.from(*sources.front().table);
    }
    for (const auto& j : joins) {
      if (j.left) {
        b.leftJoin(*j.table, j.on.expr);
      } else {
        b.innerJoin(*j.table, j.on.expr);
      }
    }
    std::string sql = "SELECT " + select_sql + " FROM " + from_sql + join_sql;
    if (where) {
      b.where(where->expr);
      sql += " WHERE " + where->sql;
    }
    if (!group_keys.empty()) {
      std::vector<Expr> keys;
      sql += " GROUP BY ";
      for (std::size_t i = 0; i < group_keys.size(); ++i) {
        keys.push_back(group_keys[i].expr);
        sql += (i ? ", " : "") + group_keys[i].sql;
      }
      b.groupBy(keys);
    }
    if (having) {
      b.having(having->expr);
      sql += " HAVING " + having->sql;
    }
    if (!order.empty()) {
      std::vector<OrderTerm> terms;
      sql += " ORDER BY ";
      for (std::size_t i = 0; i < order.size(); ++i) {
        terms.push_back(order[i].second ? desc(order[i].first.expr) : asc(order[i].first.expr));
        sql += (i ? ", " : "") + order[i].first.sql + (order[i].second ? " DESC" : " ASC");
      }
      b.orderBy(terms);
    }
    q.sql_full = sql;
    if (q.limit >= 0) {
      b.limit(q.limit);
      sql += " LIMIT " + std::to_string(q.limit);
    }
    if (q.offset > 0 || (q.limit >= 0 && chance(0.2))) {
      b.offset(q.offset);
      sql += std::string(q.limit >= 0 ? "" : " LIMIT -1") + " OFFSET " + std::to_string(q.offset);
    }
    q.sql = sql;
    return q;
  }

 private:
  // ---- random helpers ----
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  }

  Source tableSource(const Table& t) {
    Source s;
    s.table = &t;
    s.alias = t.name();
    const auto& pools = fx_.pools.at(t.name());
    for (std::uint32_t i = 0; i < t.spec().columns.size(); ++i) {
      const ColumnSpec& c = t.spec().columns[i];
      const std::string sql = t.name() + "." + c.name;
      s.atoms.push_back(Atom{AnyColumn{&t.spec(), i}.expr(), sql, vkOf(c.kind()), c.nullable, pools[i], sql});
    }
    s.key = std::vector<std::size_t>{0};  // id
    return s;
  }

  Value literalOfKind(VK k) {
    switch (k) {
      case VK::Int: return Value(chance(0.6) ? pick(kSmallInts) : static_cast<std::int64_t>(uniform(-1000, 1000)));
      case VK::Real: return Value(pick(kReals));
      case VK::Text:
        // Rarely a text longer than any stored key (LMDB keys hold at most 511 bytes).
        if (chance(0.03)) return Value(pick(kTexts) + std::string(static_cast<std::size_t>(uniform(500, 700)), chance(0.5) ? 'z' : '\x01'));
        return Value(pick(kTexts));
      case VK::Bool: return Value(chance(0.5));
    }
    return Value();
  }

  // A literal the atom can be compared with (usually one of its values).
  Value literalFor(const Atom& a) {
    const bool from_pool = a.pool && !a.pool->empty() && chance(0.75);
    Value v = from_pool ? pick(*a.pool) : literalOfKind(a.kind);
    if (numericVK(a.kind)) {
      if (chance(0.08)) return Value(num(normalize(v)) + (chance(0.5) ? 0.5 : 0.0));  // a real against an integer
      if (a.kind == VK::Bool && chance(0.2)) return normalize(v);                     // 0/1 against a boolean
      if (a.kind != VK::Bool && v.kind() == Kind::Boolean) return normalize(v);
      if (a.kind == VK::Int && v.kind() == Kind::Real) return Value(static_cast<std::int64_t>(std::floor(v.asReal())));
      return v;
    }
    if (v.kind() != Kind::Text) return literalOfKind(VK::Text);
    if (chance(0.1)) {  // a case variant (misses: comparisons are case-sensitive)
      std::string s = v.asText();
      for (char& c : s) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      }
      return Value(s);
    }
    return v;
  }

  static std::vector<std::string> utf8Chars(const std::string& s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
      out.push_back(s.substr(i, n));
      i += n;
    }
    return out;
  }

  std::string likePattern(const Atom& a) {
    const int r = uniform(0, 99);
    if (r < 5) return "%";
    if (r < 8) return "";
    if (r < 10) return "_%";
    if (r < 12) return "%\xc3\xa9%";
    const Value v = a.pool && !a.pool->empty() && chance(0.85) ? pick(*a.pool) : Value(pick(kTexts));
    std::vector<std::string> ch = utf8Chars(v.kind() == Kind::Text ? v.asText() : "x");
    // Flip ASCII case of some characters.
    for (auto& c : ch) {
      if (c.size() == 1 && std::isalpha(static_cast<unsigned char>(c[0])) && chance(0.3)) {
        c[0] = static_cast<char>(std::islower(static_cast<unsigned char>(c[0])) ? std::toupper(c[0]) : std::tolower(c[0]));
      }
    }
    // Replace some characters by _.
    for (auto& c : ch) {
      if (chance(0.15)) c = "_";
    }
    std::string out;
    const int shape = uniform(0, 4);
    const std::size_t n = ch.size();
    const std::size_t cut = n ? static_cast<std::size_t>(uniform(0, static_cast<int>(n))) : 0;
    auto join = [&](std::size_t from, std::size_t to) {
      std::string s;
      for (std::size_t i = from; i < to && i < n; ++i) s += ch[i];
      return s;
    };
    switch (shape) {
      case 0: out = join(0, n); break;                 // exact (modulo case and _)
      case 1: out = join(0, cut) + "%"; break;         // prefix
      case 2: out = "%" + join(cut, n); break;         // suffix
      case 3: out = "%" + join(cut / 2, cut) + "%"; break;  // infix
      default: out = join(0, cut / 2) + "%" + join(cut, n); break;
    }
    return out;
  }

  static std::string opSql(ExprOp op) {
    switch (op) {
      case ExprOp::Eq: return " = ";
      case ExprOp::Ne: return " <> ";
      case ExprOp::Gt: return " > ";
      case ExprOp::Gte: return " >= ";
      case ExprOp::Lt: return " < ";
      default: return " <= ";
    }
  }

  Pred comparison(ExprOp op, const Expr& a, const std::string& a_sql, const Expr& b, const std::string& b_sql) {
    Expr e;
    switch (op) {
      case ExprOp::Eq: e = eq(a, b); break;
      case ExprOp::Ne: e = ne(a, b); break;
      case ExprOp::Gt: e = gt(a, b); break;
      case ExprOp::Gte: e = gte(a, b); break;
      case ExprOp::Lt: e = lt(a, b); break;
      default: e = lte(a, b); break;
    }
    return Pred{e, "(" + a_sql + opSql(op) + b_sql + ")"};
  }

  ExprOp randomOp() {
    static const ExprOp ops[] = {ExprOp::Eq, ExprOp::Eq, ExprOp::Ne, ExprOp::Gt, ExprOp::Gte, ExprOp::Lt, ExprOp::Lte};
    return ops[uniform(0, 6)];
  }

  Pred leaf(const std::vector<Atom>& atoms) {
    if (chance(0.02)) {  // literal <op> literal (a constant condition)
      const VK k = static_cast<VK>(uniform(0, 3));
      const Value x = chance(0.2) ? Value() : literalOfKind(k);
      const Value y = literalOfKind(k == VK::Text ? VK::Text : static_cast<VK>(uniform(0, 1)));
      return comparison(randomOp(), lit(x), sqlLiteral(x), lit(y), sqlLiteral(y));
    }
    const Atom& a = pick(atoms);
    const int r = uniform(0, 99);
    if (r < 40) {  // atom <op> literal (or literal <op> atom)
      const Value v = chance(0.04) ? Value() : literalFor(a);
      const ExprOp op = randomOp();
      if (chance(0.8)) return comparison(op, a.expr, a.sql, lit(v), sqlLiteral(v));
      return comparison(op, lit(v), sqlLiteral(v), a.expr, a.sql);
    }
    if (r < 52) {  // atom <op> atom
      std::vector<const Atom*> others;
      for (const auto& b : atoms) {
        if (compatible(a.kind, b.kind)) others.push_back(&b);
      }
      const Atom& b = *others[static_cast<std::size_t>(uniform(0, static_cast<int>(others.size()) - 1))];
      return comparison(randomOp(), a.expr, a.sql, b.expr, b.sql);
    }
    if (r < 67) {  // IN (...), possibly empty, possibly holding NULL
      std::vector<Value> vs;
      std::string sql;
      const int n = chance(0.08) ? 0 : uniform(1, 5);
      for (int i = 0; i < n; ++i) {
        vs.push_back(chance(0.1) ? Value() : literalFor(a));
        sql += (i ? ", " : "") + sqlLiteral(vs.back());
      }
      return Pred{inArray(a.expr, vs), "(" + a.sql + " IN (" + sql + "))"};
    }
    if (r < 80) {
      if (chance(0.5)) return Pred{isNull(a.expr), "(" + a.sql + " IS NULL)"};
      return Pred{isNotNull(a.expr), "(" + a.sql + " IS NOT NULL)"};
    }
    if (a.kind == VK::Text) {
      const std::string p = likePattern(a);
      return Pred{like(a.expr, p), "(" + a.sql + " LIKE " + sqlQuote(p) + ")"};
    }
    if (r < 88) return Pred{a.expr, a.sql};  // a bare number as a condition
    const Value v = literalFor(a);
    return comparison(randomOp(), a.expr, a.sql, lit(v), sqlLiteral(v));
  }

  Pred pred(const std::vector<Atom>& atoms, int depth) {
    if (depth > 0 && chance(0.45)) {
      const int c = uniform(0, 4);
      if (c == 0) {
        Pred p = pred(atoms, depth - 1);
        return Pred{not_(p.expr), "(NOT " + p.sql + ")"};
      }
      const bool is_and = c == 1 || (c == 2 && chance(0.5));
      const int n = uniform(2, 3);
      std::vector<Expr> es;
      std::string sql = "(";
      for (int i = 0; i < n; ++i) {
        Pred p = pred(atoms, depth - 1);
        es.push_back(p.expr);
        sql += (i ? (is_and ? " AND " : " OR ") : "") + p.sql;
      }
      return Pred{is_and ? and_(es) : or_(es), sql + ")"};
    }
    return leaf(atoms);
  }

  // eq / IN / a range on the primary key or on an index's leading columns
  // (equality on a prefix, then eq / IN / a range on the next column).
  Pred sargable(const Source& src) {
    const TableSpec& t = src.table->spec();
    std::vector<std::size_t> cols;
    if (t.indexes.empty() || chance(0.3)) {
      cols.push_back(0);
    } else {
      const auto& ix = pick(t.indexes);
      const int n = uniform(1, static_cast<int>(ix.columns.size()));
      for (int i = 0; i < n; ++i) cols.push_back(static_cast<std::size_t>(t.findColumn(ix.columns[static_cast<std::size_t>(i)])));
      sarg_index_ = &ix;
      sarg_next_ = static_cast<std::size_t>(n - 1);
    }
    std::vector<Pred> terms;
    auto poolValue = [&](const Atom& a) {
      return a.pool && !a.pool->empty() && chance(0.9) ? pick(*a.pool) : literalOfKind(a.kind);
    };
    for (std::size_t i = 0; i + 1 < cols.size(); ++i) {
      const Atom& a = src.atoms[cols[i]];
      const Value v = poolValue(a);
      terms.push_back(comparison(ExprOp::Eq, a.expr, a.sql, lit(v), sqlLiteral(v)));
    }
    const Atom& a = src.atoms[cols.back()];
    const int r = uniform(0, 99);
    if (r < 35) {
      if (sarg_index_ != nullptr) ++sarg_next_;  // equality on every chosen column
      const Value v = poolValue(a);
      terms.push_back(chance(0.8) ? comparison(ExprOp::Eq, a.expr, a.sql, lit(v), sqlLiteral(v))
                                  : comparison(ExprOp::Eq, lit(v), sqlLiteral(v), a.expr, a.sql));
    } else if (r < 55) {
      std::vector<Value> vs;
      std::string sql;
      for (int i = 0, n = uniform(1, 4); i < n; ++i) {
        vs.push_back(chance(0.1) ? Value() : poolValue(a));
        sql += (i ? ", " : "") + sqlLiteral(vs.back());
      }
      terms.push_back(Pred{inArray(a.expr, vs), "(" + a.sql + " IN (" + sql + "))"});
    } else {
      static const ExprOp lo_ops[] = {ExprOp::Gt, ExprOp::Gte};
      static const ExprOp hi_ops[] = {ExprOp::Lt, ExprOp::Lte};
      const int which = uniform(0, 2);  // lo, hi, both
      if (which != 1) {
        const Value v = poolValue(a);
        terms.push_back(chance(0.8) ? comparison(lo_ops[uniform(0, 1)], a.expr, a.sql, lit(v), sqlLiteral(v))
                                    : comparison(hi_ops[uniform(0, 1)], lit(v), sqlLiteral(v), a.expr, a.sql));
      }
      if (which != 0) {
        const Value v = poolValue(a);
        terms.push_back(comparison(hi_ops[uniform(0, 1)], a.expr, a.sql, lit(v), sqlLiteral(v)));
      }
    }
    if (terms.size() == 1) return terms[0];
    std::shuffle(terms.begin(), terms.end(), rng_);
    std::vector<Expr> es;
    std::string sql = "(";
    for (std::size_t i = 0; i < terms.size(); ++i) {
      es.push_back(terms[i].expr);
      sql += (i ? " AND " : "") + terms[i].sql;
    }
    return Pred{and_(es), sql + ")"};
  }

  Atom aggregateOf(const std::vector<Atom>& atoms) {
    // sum/avg of integers (and booleans): exact on both sides. (A sum of
    // reals depends on the order rows are added in, so results could differ
    // in the last bit and flip an order.)
    std::vector<const Atom*> numeric, averageable;
    for (const auto& a : atoms) {
      if (a.kind == VK::Int || a.kind == VK::Bool) numeric.push_back(&a);
      // SQLite 3.40 averages through a running double sum, which loses the
      // low bits of integers beyond 2^53; plasma sums exactly. Columns holding
      // such integers are summed (exact on both sides) but not averaged.
      const bool big = [](const std::string& s) {
        return s.find("users.score") != std::string::npos || s.find("items.price") != std::string::npos;
      }(a.sql + " " + a.origin);
      if ((a.kind == VK::Int || a.kind == VK::Bool) && !big) averageable.push_back(&a);
    }
    const int r = uniform(0, 99);
    static const Pool count_pool = makePool({Value(0), Value(1), Value(2), Value(3), Value(5)});
    static const Pool sum_pool = makePool({Value(-100), Value(-10), Value(0), Value(10), Value(50), Value(100), Value(500)});
    static const Pool avg_pool = makePool({Value(-1.5), Value(0.0), Value(2.5), Value(10.0), Value(100.0), Value(3.25)});
    if (r < 20) return Atom{plasma::count(), "count(*)", VK::Int, false, count_pool, ""};
    if (r < 24) {  // an aggregate of a condition (0/1/NULL per row)
      Pred p = leaf(atoms);
      return aggregateOf({Atom{p.expr, p.sql, VK::Int, true, makePool({Value(0), Value(1)}), ""}});
    }
    const Atom& a = pick(atoms);
    if (r < 35) return Atom{plasma::count(a.expr), "count(" + a.sql + ")", VK::Int, false, count_pool, ""};
    if (r < 70 && !numeric.empty()) {
      const Atom& n = *numeric[static_cast<std::size_t>(uniform(0, static_cast<int>(numeric.size()) - 1))];
      if (r < 52) {
        return Atom{plasma::sum(n.expr), "sum(" + n.sql + ")", VK::Int, true, sum_pool, ""};
      }
      if (averageable.empty()) return Atom{plasma::count(), "count(*)", VK::Int, false, count_pool, ""};
      const Atom& m = *averageable[static_cast<std::size_t>(uniform(0, static_cast<int>(averageable.size()) - 1))];
      return Atom{plasma::avg(m.expr), "avg(" + m.sql + ")", VK::Real, true, avg_pool, ""};
    }
    if (chance(0.5)) return Atom{plasma::min(a.expr), "min(" + a.sql + ")", a.kind, true, a.pool, ""};
    return Atom{plasma::max(a.expr), "max(" + a.sql + ")", a.kind, true, a.pool, ""};
  }

  // The ON condition joining `ns` to the sources before it: an equality
  // between compatible columns (usually a natural link), sometimes with an
  // extra condition, rarely a non-equi condition (a nested loop).
  Pred joinOn(const std::vector<Source>& prev, const Source& ns) {
    std::vector<std::pair<const Atom*, const Atom*>> natural, any, all;
    for (const auto& s : prev) {
      for (const auto& p : s.atoms) {
        for (const auto& n : ns.atoms) {
          if (!compatible(p.kind, n.kind)) continue;
          all.emplace_back(&p, &n);
          // Booleans (three values) would join nearly every row with every row.
          if (p.kind != VK::Bool && n.kind != VK::Bool) any.emplace_back(&p, &n);
          if (naturalLink(p.origin, n.origin)) natural.emplace_back(&p, &n);
        }
      }
    }
    const auto& pool = !natural.empty() && (any.empty() || chance(0.95)) ? natural : !any.empty() ? any : all;
    const auto [p, n] = pool[static_cast<std::size_t>(uniform(0, static_cast<int>(pool.size()) - 1))];
    std::vector<Atom> both;
    for (const auto& s : prev) both.insert(both.end(), s.atoms.begin(), s.atoms.end());
    both.insert(both.end(), ns.atoms.begin(), ns.atoms.end());
    const bool non_equi = prev.size() == 1 && chance(0.04);
    const ExprOp op = non_equi ? randomOp() : ExprOp::Eq;
    Pred cmp = chance(0.5) ? comparison(op, n->expr, n->sql, p->expr, p->sql) : comparison(op, p->expr, p->sql, n->expr, n->sql);
    if (non_equi) {
      // No equality on the joined table: a nested loop. A short IN list on
      // its id keeps the output small.
      const Atom& id = ns.atoms[0];
      std::vector<Value> ids;
      std::string ids_sql;
      for (int i = 0, n_ids = uniform(2, 6); i < n_ids; ++i) {
        ids.push_back(pick(*id.pool));
        ids_sql += (i ? ", " : "") + sqlLiteral(ids.back());
      }
      Pred sel{inArray(id.expr, ids), "(" + id.sql + " IN (" + ids_sql + "))"};
      if (chance(0.5)) return Pred{and_(cmp.expr, sel.expr), "(" + cmp.sql + " AND " + sel.sql + ")"};
      Pred eqp = comparison(ExprOp::Eq, n->expr, n->sql, p->expr, p->sql);
      return Pred{and_(sel.expr, or_(eqp.expr, cmp.expr)), "(" + sel.sql + " AND (" + eqp.sql + " OR " + cmp.sql + "))"};
    }
    if (chance(0.2)) {
      Pred extra = pred(both, 1);
      return Pred{and_(cmp.expr, extra.expr), "(" + cmp.sql + " AND " + extra.sql + ")"};
    }
    return cmp;
  }

  const Fixture& fx_;
  std::mt19937_64 rng_;
  // The index the last sargable() condition used, and the position of its
  // first column not fixed by an equality.
  const IndexSpec* sarg_index_ = nullptr;
  std::size_t sarg_next_ = 0;
};

// ---- running and comparing -----------------------------------------------------------------

std::optional<std::uint64_t> envNumber(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

// Runs query `index` of `seed`; returns a description of the mismatch, or "".
// `coverage` (optional) counts plan shapes, SQL features and time spent;
// `trace` prints every query with its time and plan.
std::string checkQuery(const Fixture& fx, std::uint64_t seed, std::uint64_t index, std::map<std::string, int>* coverage,
                       bool trace) {
  Generator gen(fx, seed, index);
  GenQuery q = gen.query(0, false);
  std::string explain;
  Rows mine;
  std::string problem;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    explain = q.builder->explain();
    const QueryResult r = q.builder->all();
    for (const auto& row : r.rows) {
      Row out;
      for (const Value& v : row.values()) out.push_back(normalize(v));
      mine.push_back(std::move(out));
    }
    {  // forEach() streams the same rows (its values refilled in place between rows)
      Rows streamed;
      q.builder->forEach([&](const ResultRow& row) {
        Row out;
        for (const Value& v : row.values()) out.push_back(normalize(v));
        streamed.push_back(std::move(out));
        return true;
      });
      if (streamed != mine) problem = "forEach() differs from all()";
    }
    if (q.plain) {  // rows() streams the same whole rows
      Rows whole;
      for (const auto& r : q.builder->rows()) {
        Row out;
        for (const Value& v : plasma_test::rowValues(r.view())) out.push_back(normalize(v));
        whole.push_back(std::move(out));
      }
      if (whole != mine) problem = "rows() differs from all()";
    }
  } catch (const std::exception& e) {
    problem = std::string("plasma threw: ") + e.what();
  }
  const auto t1 = std::chrono::steady_clock::now();
  Rows theirs, full;
  std::string err;
  if (problem.empty() && !fx.lite.query(q.sql, &theirs, &err)) problem = "SQLite rejected the query (generator bug): " + err;
  const bool need_full = q.mode == Mode::Partial || (q.mode == Mode::Unordered && (q.limit >= 0 || q.offset > 0));
  if (problem.empty() && need_full && !fx.lite.query(q.sql_full, &full, &err)) problem = "SQLite rejected: " + err;
  const auto t2 = std::chrono::steady_clock::now();
  if (coverage != nullptr) {
    (*coverage)["time:plasma us"] += static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    (*coverage)["time:sqlite us"] += static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1).count());
  }
  if (trace) {
    std::cerr << "query " << index << ": " << std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()
              << " us, " << mine.size() << " rows\n  " << q.sql << "\n  " << explain.substr(0, explain.find('\n')) << "\n";
  }

  if (problem.empty()) {
    for (const Row& r : mine) {
      if (!theirs.empty() && r.size() != theirs.front().size()) problem = "column counts differ";
    }
  }
  if (problem.empty()) {
    switch (q.mode) {
      case Mode::Exact:
        if (mine.size() != theirs.size()) {
          problem = "row counts differ";
        } else {
          for (std::size_t i = 0; i < mine.size(); ++i) {
            if (!rowEq(mine[i], theirs[i])) {
              problem = "row " + std::to_string(i) + " differs (the order is fully determined)";
              break;
            }
          }
        }
        break;
      case Mode::Unordered:
        if (q.limit < 0 && q.offset == 0) {
          if (!sameMultiset(mine, theirs)) problem = "results differ as multisets";
        } else {
          if (mine.size() != theirs.size()) {
            problem = "row counts differ under limit/offset";
          } else if (!subMultiset(mine, full)) {
            problem = "a row is not in the unlimited result";
          }
        }
        break;
      case Mode::Partial: {
        const std::size_t begin = std::min<std::size_t>(static_cast<std::size_t>(q.offset), full.size());
        const std::size_t end = q.limit < 0 ? full.size() : std::min<std::size_t>(begin + static_cast<std::size_t>(q.limit), full.size());
        if (mine.size() != end - begin) {
          problem = "row counts differ";
          break;
        }
        for (std::size_t i = 0; i < mine.size() && problem.empty(); ++i) {
          for (std::size_t k : q.key_out) {
            if (!approxEq(mine[i][k], full[begin + i][k])) {
              problem = "row " + std::to_string(i) + ": order key (column " + std::to_string(k) +
                        ") out of SQLite's order";
              break;
            }
          }
        }
        if (!problem.empty()) break;
        if (q.limit < 0 && q.offset == 0) {
          if (!sameMultiset(mine, full)) problem = "results differ as multisets";
        } else if (!subMultiset(mine, full)) {
          problem = "a row is not in the unlimited result";
        }
        break;
      }
    }
  }

  if (coverage != nullptr) {
    static const char* const kFeatures[] = {
        "USING PRIMARY KEY (id =", "USING PRIMARY KEY (id IN", "USING PRIMARY KEY (id >", "USING PRIMARY KEY (id <",
        " IN (",           "USING INDEX",        "IN ORDER OF INDEX", "SCAN SUBQUERY",  "INNER JOIN",
        "LEFT JOIN",       "JOIN users USING PRIMARY KEY", "JOIN items USING PRIMARY KEY", "USING HASH TABLE",
        "NESTED LOOP",     "AGGREGATE GROUP BY", "AGGREGATE\n",        "HAVING",         "SORT BY",
        "ORDER BY (from the access path", "(stops early)", " DESC\n",
    };
    for (const char* f : kFeatures) {
      if (explain.find(f) != std::string::npos) ++(*coverage)[f];
    }
    for (const char* f : {" LIKE ", " IN ()", " IN (NULL", ", NULL", "NOT ", " IS NULL", " IS NOT NULL", " OR ",
                          " LEFT JOIN ", " JOIN ", "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "OFFSET", "SELECT *",
                          "count(*)", "count(", "sum(", "avg(", "min(", "max(", "FROM (SELECT"}) {
      if (q.sql.find(f) != std::string::npos) ++(*coverage)[std::string("sql:") + f];
    }
    ++(*coverage)[std::string("mode:") + modeName(q.mode)];
    if (mine.empty()) ++(*coverage)["result:empty"];
  }

  if (problem.empty()) return "";
  std::string msg = "differential mismatch: seed=" + std::to_string(seed) + " query=" + std::to_string(index) +
                    "\nreplay: PLASMA_DIFF_SEED=" + std::to_string(seed) + " PLASMA_DIFF_QUERY=" + std::to_string(index) +
                    " plasma_tests \"[differential]\"\nproblem: " + problem + "\nmode: " + modeName(q.mode) +
                    "\nSQL: " + q.sql + "\nplasma explain:\n" + explain + "plasma rows (" + std::to_string(mine.size()) +
                    "):\n" + renderRows(mine) + "SQLite rows (" + std::to_string(theirs.size()) + "):\n" + renderRows(theirs);
  if (need_full) msg += "SQLite rows without LIMIT/OFFSET (" + std::to_string(full.size()) + "):\n" + renderRows(full);
  return msg;
}

}  // namespace

TEST_CASE("random queries give SQLite's results on random data", "[query][differential]") {
  std::vector<std::uint64_t> seeds = {1, 2, 3, 4, 5};
  std::uint64_t queries = 700;
  std::optional<std::uint64_t> only;
  if (auto s = envNumber("PLASMA_DIFF_SEED")) seeds = {*s};
  if (auto n = envNumber("PLASMA_DIFF_QUERIES")) queries = *n;
  if (auto k = envNumber("PLASMA_DIFF_QUERY")) only = *k;
  const std::uint64_t verbose = envNumber("PLASMA_DIFF_VERBOSE").value_or(0);

  std::map<std::string, int> coverage;
  std::size_t failures = 0, run = 0;
  for (const std::uint64_t seed : seeds) {
    Fixture fx(seed);
    for (std::uint64_t i = only.value_or(0); i < (only ? *only + 1 : queries); ++i) {
      const std::string problem = checkQuery(fx, seed, i, &coverage, verbose >= 2 || (verbose && only));
      ++run;
      if (!problem.empty()) {
        FAIL_CHECK(problem);
        if (++failures >= 10) FAIL("stopping after 10 mismatches");
      }
    }
  }
  if (verbose) {
    std::cerr << run << " queries, coverage:\n";
    for (const auto& [k, v] : coverage) std::cerr << "  " << v << "\t" << k << "\n";
  }
  // The generator must reach every plan shape and every SQL feature.
  if (!only && run >= 3000) {
    for (const char* f : {"USING PRIMARY KEY (id =", "USING PRIMARY KEY (id IN", "USING INDEX", "IN ORDER OF INDEX",
                          "SCAN SUBQUERY", "LEFT JOIN", "JOIN users USING PRIMARY KEY", "JOIN items USING PRIMARY KEY",
                          "USING HASH TABLE", "NESTED LOOP", "AGGREGATE GROUP BY", "HAVING",
                          "ORDER BY (from the access path", "(stops early)", "sql: LIKE ", "sql: IN ()",
                          "sql:SELECT *", "sql:avg(", "sql:FROM (SELECT", "mode:exact order", "mode:partial order"}) {
      INFO("never generated: " << f);
      CHECK(coverage[f] > 0);
    }
  }
}

// ---- regressions found by the differential test ------------------------------------------------

namespace {

Rows plasmaRows(const SelectBuilder& b) {
  Rows out;
  for (const auto& row : b.all().rows) {
    Row r;
    for (const Value& v : row.values()) r.push_back(normalize(v));
    out.push_back(std::move(r));
  }
  return out;
}

// Runs the query on both sides and requires the same multiset of rows (and a
// non-empty one, so the case tests something).
void expectSameAsSqlite(const Fixture& fx, const SelectBuilder& b, const std::string& sql) {
  const Rows mine = plasmaRows(b);
  Rows theirs;
  std::string err;
  INFO("SQL: " << sql << "\nplasma explain:\n" << b.explain());
  REQUIRE(fx.lite.query(sql, &theirs, &err));
  INFO("plasma rows (" << mine.size() << "):\n" << renderRows(mine) << "SQLite rows (" << theirs.size() << "):\n"
                       << renderRows(theirs));
  CHECK(!theirs.empty());
  CHECK(sameMultiset(mine, theirs));
}

}  // namespace

TEST_CASE("explain() of an IN list on an indexed column holding no value but NULL does not crash",
          "[query][differential]") {
  Fixture fx(1);
  const auto empty_in = fx.db.select().from(items).where(inArray(items.kind.expr(), {}));
  CHECK_THAT(empty_in.explain(), Catch::Contains("USING INDEX items_by_kind_qty (kind IN ())"));
  CHECK(empty_in.all().rows.empty());
  const auto null_in = fx.db.select().from(items).where(inArray(items.ownerId.expr(), {Value()}));
  CHECK_THAT(null_in.explain(), Catch::Contains("USING INDEX items_by_owner (ownerId IN ())"));
  CHECK(null_in.all().rows.empty());
}

TEST_CASE("a join on an integral real key matches integers through an index and through a hash table",
          "[query][differential]") {
  Fixture fx(1);
  // avg() is a real: 3.0 must join price 3 (SQLite: 3.0 = 3).
  const auto inner = fx.db.select({{"k", avg(items.price)}}).from(items).groupBy({items.price.expr()});
  const std::string inner_sql = "(SELECT avg(items.price) AS \"k\" FROM items GROUP BY items.price) AS s";
  const auto by_index =
      fx.db.select({{"k", colRef("s", "k")}, {"id", items.id}}).fromSubquery(inner, "s").innerJoin(items, eq(items.price, colRef("s", "k")));
  CHECK_THAT(by_index.explain(), Catch::Contains("USING INDEX items_by_price"));
  expectSameAsSqlite(fx, by_index, "SELECT s.\"k\", items.id FROM " + inner_sql + " JOIN items ON items.price = s.\"k\"");
  const auto by_hash =
      fx.db.select({{"k", colRef("s", "k")}, {"id", users.id}}).fromSubquery(inner, "s").innerJoin(users, eq(users.score, colRef("s", "k")));
  CHECK_THAT(by_hash.explain(), Catch::Contains("USING HASH TABLE"));
  expectSameAsSqlite(fx, by_hash, "SELECT s.\"k\", users.id FROM " + inner_sql + " JOIN users ON users.score = s.\"k\"");
  // A fractional real matches no integer.
  const auto halves = fx.db.select({{"k", colRef("s", "k")}, {"id", users.id}})
                          .fromSubquery(fx.db.select({{"k", lit(Value(2.5))}}).from(users), "s")
                          .innerJoin(users, eq(users.score, colRef("s", "k")));
  CHECK(halves.all().rows.empty());
}

TEST_CASE("x IN () is false even for a NULL x so NOT (x IN ()) keeps NULL rows", "[query][differential]") {
  Fixture fx(1);
  expectSameAsSqlite(fx, fx.db.select({{"id", users.id}}).from(users).where(not_(inArray(users.age.expr(), {}))),
                     "SELECT users.id FROM users WHERE NOT (users.age IN ())");
  expectSameAsSqlite(fx, fx.db.select({{"id", users.id}, {"in", inArray(users.age.expr(), {})}}).from(users).where(isNull(users.age)),
                     "SELECT users.id, users.age IN () FROM users WHERE users.age IS NULL");
}

TEST_CASE("a primary-key range bounded by the empty string does not hand LMDB an empty key",
          "[query][differential]") {
  Fixture fx(1);
  for (const char* op : {">", ">="}) {
    const Expr pred = std::string(op) == ">" ? gt(users.id, "") : gte(users.id, "");
    for (const bool reverse : {false, true}) {
      const auto q = fx.db.select({{"id", users.id}}).from(users).where(pred).orderBy(reverse ? desc(users.id) : asc(users.id));
      CHECK_THAT(q.explain(), Catch::Contains("USING PRIMARY KEY (id " + std::string(op) + " '')"));
      expectSameAsSqlite(fx, q, std::string("SELECT users.id FROM users WHERE users.id ") + op + " ''");
    }
  }
  for (const auto& pred : {lt(users.id, ""), lte(users.id, "")}) {
    for (const bool reverse : {false, true}) {
      CHECK(fx.db.select().from(users).where(pred).orderBy(reverse ? desc(users.id) : asc(users.id)).all().rows.empty());
    }
  }
}

TEST_CASE("seeks with a text longer than any stored key find nothing and do not fail", "[query][differential]") {
  Fixture fx(1);
  const std::string long_text = "alice" + std::string(600, 'z');
  for (const Expr& pred : {eq(users.name, long_text), eq(users.id, long_text), gt(users.id, long_text),
                           lt(users.handle, long_text), inArray(users.name, {long_text, std::string("bob")})}) {
    for (const bool reverse : {false, true}) {
      const auto q = fx.db.select({{"id", users.id}}).from(users).where(pred).orderBy(reverse ? desc(users.id) : asc(users.id));
      INFO(q.explain());
      CHECK_NOTHROW(q.all());
    }
  }
}

TEST_CASE("integers beyond 2^53 compare with reals exactly as in SQLite", "[query][differential]") {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    (void)tx.insert(users).values({{users.id, "a"}, {users.score, std::int64_t{9007199254740993}}});  // 2^53 + 1
    (void)tx.insert(users).values({{users.id, "b"}, {users.score, std::int64_t{9007199254740992}}});  // 2^53
    (void)tx.insert(users).values({{users.id, "c"}, {users.score, std::int64_t{-9007199254740993}}});
  });
  auto ids = [&](const Expr& pred) {
    std::set<std::string> out;
    for (const auto& r : db.select({{"id", users.id}}).from(users).where(pred).all().rows) out.insert(r[0].asText());
    return out;
  };
  const Expr two53 = lit(Value(9007199254740992.0));
  using Ids = std::set<std::string>;
  CHECK(ids(eq(users.score.expr(), two53)) == Ids{"b"});
  CHECK(ids(gt(users.score.expr(), two53)) == Ids{"a"});
  CHECK(ids(lt(two53, users.score.expr())) == Ids{"a"});
  CHECK(ids(gte(users.score.expr(), two53)) == Ids{"a", "b"});
  CHECK(ids(inArray(users.score.expr(), {Value(9007199254740992.0)})) == Ids{"b"});
  CHECK(ids(lt(users.score.expr(), lit(Value(-9007199254740992.0)))) == Ids{"c"});
  CHECK(ids(eq(users.score.expr(), lit(Value(9007199254740993.5)))) == Ids{});  // a double near 2^53 has no .5
  CHECK(ids(lt(users.score.expr(), lit(Value(1e300)))) == Ids{"a", "b", "c"});
  CHECK(ids(gt(users.score.expr(), lit(Value(-1e300)))) == Ids{"a", "b", "c"});
}
