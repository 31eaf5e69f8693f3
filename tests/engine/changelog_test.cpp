// The change log: one entry per changed row with contiguous versions;
// changesSince yields each changed row once in its newest state; suppressed
// tables are never logged; compaction matches a model and keeps clients that
// pull from an old cookie convergent (property test over random histories).
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::RowValues;
using plasma_test::TempDir;

namespace {

struct Kv : Table {
  Kv() : Table("kv") {}
  TextColumn id{this, plasma::id()};
  IntColumn v{this, integer("v")};
  TextColumn s{this, text("s").nullable()};
};
const Kv kv;

struct Kv2 : Table {
  Kv2() : Table("kv2") { index("by_w", {w}); }
  TextColumn id{this, plasma::id()};
  IntColumn w{this, integer("w")};
};
const Kv2 kv2;

TableOptions suppressed() {
  TableOptions o;
  o.change_log_suppressed = true;
  return o;
}
struct Scratch : Table {
  Scratch() : Table("scratch", suppressed()) {}
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n")};
};
const Scratch scratch;

const Schema schema = defineSchema("changelog-v1", {kv, kv2, scratch});

// table -> id -> values; empty tables are left out.
using Model = std::map<std::string, std::map<std::string, RowValues>>;

Model fromSnapshot(const Snapshot& snap) {
  Model m;
  for (const auto& [table, rows] : snap) {
    for (const auto& [id, row] : rows) m[table][id] = plasma_test::rowValues(row.view());
  }
  return m;
}

Model currentState(const Database& db) {
  Model m;
  for (const Table* t : {static_cast<const Table*>(&kv), static_cast<const Table*>(&kv2)}) {
    auto rows = plasma_test::tableState(db, *t);
    if (!rows.empty()) m[t->name()] = std::move(rows);
  }
  return m;
}

void applyChanges(Model& m, const std::vector<Change>& changes) {
  for (const auto& c : changes) {
    if (c.op == ChangeOp::Del) {
      auto it = m.find(c.table);
      if (it != m.end()) {
        it->second.erase(c.id);
        if (it->second.empty()) m.erase(it);
      }
    } else {
      REQUIRE(c.row.has_value());
      m[c.table][c.id] = plasma_test::rowValues(c.row->view());
    }
  }
}

std::string render(const Model& m) {
  std::string out;
  for (const auto& [t, rows] : m)
    for (const auto& [id, vals] : rows) out += t + "/" + id + " " + plasma_test::renderRow(vals) + "\n";
  return out;
}

std::vector<std::uint64_t> versionsOf(const std::vector<Change>& log) {
  std::vector<std::uint64_t> out;
  for (const auto& c : log) out.push_back(c.version);
  return out;
}

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() { db.ensureSchema(); }
  void put(const std::string& id, int v) {
    db.write([&](Tx& tx) {
      if (tx.get(kv, id)) {
        (void)tx.update(kv).set({{kv.v, v}}).where(eq(kv.id, id));
      } else {
        (void)tx.insert(kv).values({{kv.id, id}, {kv.v, v}});
      }
    });
  }
  void del(const std::string& id) {
    db.write([&](Tx& tx) { (void)tx.deleteFrom(kv).where(eq(kv.id, id)); });
  }
};

}  // namespace

TEST_CASE("every insert, update and delete appends one entry per row with contiguous versions",
          "[engine][changelog]") {
  Fixture fx;
  CHECK(fx.db.headVersion() == 0);
  CHECK(fx.db.logEntries(0).empty());
  fx.db.write([&](Tx& tx) {
    CHECK(tx.insert(kv).values(std::vector<RowInput>{{{kv.id, "a"}, {kv.v, 1}},
                                                     {{kv.id, "b"}, {kv.v, 2}},
                                                     {{kv.id, "c"}, {kv.v, 3}}})
              .rows_affected == 3);
  });
  CHECK(fx.db.headVersion() == 3);
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(kv).set({{kv.s, "x"}}).where(gte(kv.v, 2)); }).rows_affected == 2);
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(kv).where(eq(kv.id, "a")); }).rows_affected == 1);
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(kv).set({{kv.v, 9}}).all(); }).rows_affected == 2);
  CHECK(fx.db.headVersion() == 8);

  const auto log = fx.db.logEntries(0);
  REQUIRE(log.size() == 8);
  CHECK(versionsOf(log) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8});
  // 1..3: inserts of a, b, c with their images.
  std::set<std::string> first;
  for (int i = 0; i < 3; ++i) {
    CHECK(log[i].op == ChangeOp::Put);
    CHECK(log[i].table == "kv");
    REQUIRE(log[i].row.has_value());
    CHECK(log[i].row->id() == log[i].id);
    CHECK_FALSE(log[i].row->get(kv.s).has_value());
    first.insert(log[i].id);
  }
  CHECK(first == std::set<std::string>{"a", "b", "c"});
  // 4..5: b and c with s = "x".
  CHECK(std::set<std::string>{log[3].id, log[4].id} == std::set<std::string>{"b", "c"});
  for (int i = 3; i < 5; ++i) {
    REQUIRE(log[i].row.has_value());
    CHECK(log[i].row->get(kv.s) == std::optional<std::string_view>("x"));
  }
  // 6: delete a, no image.
  CHECK(log[5].op == ChangeOp::Del);
  CHECK(log[5].id == "a");
  CHECK_FALSE(log[5].row.has_value());
  // 7..8: the newest images equal the stored rows.
  for (int i = 6; i < 8; ++i) {
    REQUIRE(log[i].row.has_value());
    auto stored = fx.db.get(kv, log[i].id);
    REQUIRE(stored.has_value());
    CHECK(log[i].row->bytes() == stored->bytes());
  }
  // Ranges.
  CHECK(versionsOf(fx.db.logEntries(3, 6)) == std::vector<std::uint64_t>{4, 5, 6});
  CHECK(versionsOf(fx.db.logEntries(6)) == std::vector<std::uint64_t>{7, 8});
  CHECK(fx.db.logEntries(8).empty());
  // A statement that changes nothing logs nothing.
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(kv).where(eq(kv.id, "zzz")); }).rows_affected == 0);
  CHECK(fx.db.headVersion() == 8);
}

TEST_CASE("a rolled-back transaction appends nothing and versions stay contiguous", "[engine][changelog]") {
  Fixture fx;
  fx.put("a", 1);
  CHECK_THROWS_AS(fx.db.write([&](Tx& tx) {
    (void)tx.insert(kv).values({{kv.id, "b"}, {kv.v, 2}});
    throw plasma_test::Rollback{};
  }), plasma_test::Rollback);
  CHECK(fx.db.headVersion() == 1);
  fx.put("c", 3);
  CHECK(versionsOf(fx.db.logEntries(0)) == std::vector<std::uint64_t>{1, 2});
  CHECK(fx.db.logEntries(1)[0].id == "c");
}

TEST_CASE("changesSince yields each changed row once, newest state, in version order", "[engine][changelog]") {
  Fixture fx;
  fx.put("a", 1);  // 1
  fx.put("b", 1);  // 2
  fx.put("c", 1);  // 3
  const std::uint64_t c0 = fx.db.headVersion();
  REQUIRE(c0 == 3);
  fx.put("a", 2);  // 4
  fx.put("a", 3);  // 5
  fx.del("b");     // 6
  fx.put("d", 1);  // 7
  fx.put("c", 2);  // 8
  fx.del("d");     // 9

  const auto changes = fx.db.changesSince(c0);
  REQUIRE(changes.size() == 4);
  CHECK(versionsOf(changes) == std::vector<std::uint64_t>{5, 6, 8, 9});
  CHECK(changes[0].id == "a");
  CHECK(changes[0].op == ChangeOp::Put);
  REQUIRE(changes[0].row.has_value());
  CHECK(changes[0].row->get(kv.v) == std::optional<std::int64_t>(3));
  CHECK(changes[1].id == "b");
  CHECK(changes[1].op == ChangeOp::Del);
  CHECK_FALSE(changes[1].row.has_value());
  CHECK(changes[2].id == "c");
  CHECK(changes[2].row->get(kv.v) == std::optional<std::int64_t>(2));
  CHECK(changes[3].id == "d");
  CHECK(changes[3].op == ChangeOp::Del);

  CHECK(versionsOf(fx.db.changesSince(7)) == std::vector<std::uint64_t>{8, 9});
  CHECK(fx.db.changesSince(9).empty());
  CHECK(fx.db.changesSince(1000).empty());
  CHECK(versionsOf(fx.db.changesSince(0)) == std::vector<std::uint64_t>{5, 6, 8, 9});

  // Applying the changes to the snapshot at c0 gives the current state.
  Model m = fromSnapshot(fx.db.snapshotAsOf(c0));
  applyChanges(m, changes);
  CHECK(m == currentState(fx.db));
}

TEST_CASE("changesSince returns only the rows changed after the cookie, however big the table",
          "[engine][changelog]") {
  Fixture fx;
  fx.db.write([&](Tx& tx) {
    std::vector<RowInput> rows;
    for (int i = 0; i < 2000; ++i) rows.push_back({{kv.id, "r" + std::to_string(i)}, {kv.v, i}});
    (void)tx.insert(kv).values(rows);
  });
  const auto cookie = fx.db.headVersion();
  CHECK(cookie == 2000);
  fx.put("r5", -1);
  fx.put("r1500", -1);
  fx.del("r77");
  const auto changes = fx.db.changesSince(cookie);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].id == "r5");
  CHECK(changes[1].id == "r1500");
  CHECK(changes[2].id == "r77");
  for (const auto& c : changes) CHECK(c.version > cookie);
}

TEST_CASE("a transaction whose log entries exceed the write buffer logs every row in order",
          "[engine][changelog]") {
  Fixture fx;
  const std::string body(3000, 'b');
  fx.db.write([&](Tx& tx) {
    for (int i = 0; i < 2000; ++i) {  // ~6 MB of row images
      (void)tx.insert(kv).values({{kv.id, "r" + std::to_string(i)}, {kv.v, i}, {kv.s, body}});
    }
    // The same rows again in the same transaction: their newest entries come last.
    (void)tx.update(kv).set({{kv.v, -1}}).where(lt(kv.v, 1000));
  });
  CHECK(fx.db.headVersion() == 3000);
  const auto log = fx.db.logEntries(0);
  REQUIRE(log.size() == 3000);
  for (std::size_t i = 0; i < log.size(); ++i) REQUIRE(log[i].version == i + 1);
  const auto changes = fx.db.changesSince(0);
  REQUIRE(changes.size() == 2000);
  std::size_t updated = 0;
  for (const auto& c : changes) {
    REQUIRE(c.row.has_value());
    if (c.row->get(kv.v) == std::optional<std::int64_t>(-1)) ++updated;
  }
  CHECK(updated == 1000);
  // The newest-version index points at the update for those rows.
  const CompactionResult r = fx.db.compactChangeLog(fx.db.headVersion());
  CHECK(r.removed == 1000);
  CHECK(r.kept == 2000);
  // A transaction that fails after buffering its entries logs nothing.
  CHECK_THROWS_AS(fx.db.write([&](Tx& tx) {
    (void)tx.update(kv).set({{kv.s, "x"}}).all();
    throw plasma_test::Rollback{};
  }), plasma_test::Rollback);
  CHECK(fx.db.headVersion() == 3000);
  CHECK(fx.db.logEntries(3000).empty());
}

TEST_CASE("changeLogSuppressed tables are never logged", "[engine][changelog]") {
  Fixture fx;
  fx.db.write([&](Tx& tx) {
    (void)tx.insert(scratch).values({{scratch.id, "s1"}, {scratch.n, 1}});
    (void)tx.insert(scratch).values({{scratch.id, "s2"}, {scratch.n, 2}});
  });
  CHECK(fx.db.headVersion() == 0);
  fx.db.write([&](Tx& tx) {
    (void)tx.update(scratch).set({{scratch.n, 5}}).all();
    (void)tx.insert(kv).values({{kv.id, "a"}, {kv.v, 1}});
    (void)tx.deleteFrom(scratch).where(eq(scratch.id, "s1"));
  });
  CHECK(fx.db.headVersion() == 1);
  const auto log = fx.db.logEntries(0);
  REQUIRE(log.size() == 1);
  CHECK(log[0].table == "kv");
  for (const auto& c : fx.db.changesSince(0)) CHECK(c.table != "scratch");
  const Snapshot snap = fx.db.snapshotAsOf(fx.db.headVersion());
  auto it = snap.find("scratch");
  CHECK((it == snap.end() || it->second.empty()));
  // The rows themselves were written.
  CHECK(fx.db.get(scratch, "s2")->get(scratch.n) == std::optional<std::int64_t>(5));
  CHECK_FALSE(fx.db.get(scratch, "s1").has_value());
}

TEST_CASE("snapshotAsOf replays the log up to a cookie", "[engine][changelog]") {
  Fixture fx;
  std::map<std::uint64_t, Model> states{{0, {}}};
  auto remember = [&] { states[fx.db.headVersion()] = currentState(fx.db); };
  fx.put("a", 1); remember();
  fx.put("b", 2); remember();
  fx.put("a", 3); remember();
  fx.del("b"); remember();
  fx.db.write([&](Tx& tx) { (void)tx.insert(kv2).values({{kv2.id, "x"}, {kv2.w, 7}}); }); remember();
  fx.del("a"); remember();
  for (const auto& [cookie, state] : states) {
    INFO("cookie " << cookie << "\nexpected:\n" << render(state));
    CHECK(fromSnapshot(fx.db.snapshotAsOf(cookie)) == state);
  }
  CHECK(fromSnapshot(fx.db.snapshotAsOf(1000)) == currentState(fx.db));
}

TEST_CASE("compactChangeLog keeps each row's newest entry at or below the horizon, tombstones included",
          "[engine][changelog][compaction]") {
  Fixture fx;
  fx.put("a", 1);  // 1  superseded by 3 (within the horizon)
  fx.put("b", 1);  // 2  superseded by 4
  fx.put("a", 2);  // 3  a's newest at or below 5: stays (6 is above the horizon)
  fx.del("b");     // 4  newest of b: a tombstone that stays
  fx.put("c", 1);  // 5  c's newest at or below 5: stays
  fx.put("a", 3);  // 6
  fx.put("c", 2);  // 7
  const auto head = fx.db.headVersion();
  const Model before = currentState(fx.db);

  const CompactionResult r = fx.db.compactChangeLog(5);
  CHECK(r.removed == 2);  // 1, 2
  CHECK(r.kept == 3);     // 3, 4, 5
  CHECK(versionsOf(fx.db.logEntries(0)) == std::vector<std::uint64_t>{3, 4, 5, 6, 7});
  // The state at the horizon is still exact.
  Model at5;
  at5["kv"]["a"] = {Value("a"), Value(2), Value()};
  at5["kv"]["c"] = {Value("c"), Value(1), Value()};
  CHECK(fromSnapshot(fx.db.snapshotAsOf(5)) == at5);
  CHECK(fx.db.headVersion() == head);
  CHECK(currentState(fx.db) == before);
  // A client at cookie 2 converges.
  Model client;
  client["kv"]["a"] = {Value("a"), Value(1), Value()};
  client["kv"]["b"] = {Value("b"), Value(1), Value()};
  applyChanges(client, fx.db.changesSince(2));
  CHECK(client == before);
  // Idempotent; a horizon beyond the head folds everything to the newest entries.
  const CompactionResult again = fx.db.compactChangeLog(5);
  CHECK(again.removed == 0);
  CHECK(again.kept == 3);
  const CompactionResult all = fx.db.compactChangeLog(1000);
  CHECK(all.removed == 2);  // 3 and 5, superseded by 6 and 7
  CHECK(all.kept == 3);     // 4, 6, 7
  CHECK(versionsOf(fx.db.logEntries(0)) == std::vector<std::uint64_t>{4, 6, 7});
  CHECK(fromSnapshot(fx.db.snapshotAsOf(head)) == before);
  // New writes continue the version sequence.
  fx.put("d", 1);
  CHECK(fx.db.headVersion() == head + 1);
}

TEST_CASE("snapshotAsOf stays exact for cookies at or above the compaction horizon",
          "[engine][changelog][compaction]") {
  // Seed 004: "snapshotAsOf(cookie < safeUpToVersion) becomes less accurate" —
  // cookies at or above the horizon keep their exact snapshot.
  Fixture fx;
  fx.put("a", 1);  // 1
  fx.put("c", 1);  // 2
  fx.put("a", 2);  // 3
  fx.put("c", 2);  // 4
  std::map<std::uint64_t, Model> states;
  for (std::uint64_t v = 0; v <= 4; ++v) states[v] = fromSnapshot(fx.db.snapshotAsOf(v));
  (void)fx.db.compactChangeLog(2);
  for (std::uint64_t v = 2; v <= 4; ++v) {
    INFO("cookie " << v << "\nexpected:\n" << render(states[v]) << "got:\n" << render(fromSnapshot(fx.db.snapshotAsOf(v))));
    CHECK(fromSnapshot(fx.db.snapshotAsOf(v)) == states[v]);
  }
}

// ---- property test ------------------------------------------------------------------------

namespace {

struct LoggedRow {
  std::string table;
  std::string id;
  friend auto operator<=>(const LoggedRow&, const LoggedRow&) = default;
};

struct History {
  std::mt19937_64 rng;
  Database& db;
  Model model;                                  // current contents of kv and kv2
  std::map<std::string, int> scratch_rows;      // suppressed table: id -> n
  std::vector<std::pair<std::uint64_t, LoggedRow>> log;  // the model change log
  std::map<std::uint64_t, Model> states;        // state at each transaction boundary
  std::vector<std::uint64_t> boundaries;

  History(std::uint64_t seed, Database& d) : rng(seed), db(d) {
    states[0] = {};
    boundaries.push_back(0);
  }

  std::string pick(const std::string& prefix, int n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%s%02d", prefix.c_str(), static_cast<int>(rng() % n));
    return buf;
  }
  bool has(const std::string& table, const std::string& id) const {
    auto it = model.find(table);
    return it != model.end() && it->second.count(id) != 0;
  }
  void setRow(const std::string& table, const std::string& id, RowValues vals) { model[table][id] = std::move(vals); }
  void eraseRow(const std::string& table, const std::string& id) {
    model[table].erase(id);
    if (model[table].empty()) model.erase(table);
  }

  // Runs one statement, updating the model; returns the rows it logged
  // (true: deleted).
  std::map<LoggedRow, bool> statement(Tx& tx) {
    std::map<LoggedRow, bool> changed;
    const int kind = static_cast<int>(rng() % 100);
    if (kind < 30) {  // insert into kv or kv2
      if (rng() % 2 == 0) {
        const std::string id = pick("k", 30);
        if (has("kv", id)) return changed;
        const int v = static_cast<int>(rng() % 100);
        Value s = rng() % 3 == 0 ? Value() : Value("s" + std::to_string(rng() % 10));
        CHECK(tx.insert(kv).values({{kv.id, id}, {kv.v, v}, Assignment(AnyColumn(kv.s), s)}).rows_affected == 1);
        setRow("kv", id, {Value(id), Value(v), s});
        changed[{"kv", id}] = false;
      } else {
        const std::string id = pick("w", 20);
        if (has("kv2", id)) return changed;
        const int w = static_cast<int>(rng() % 50);
        CHECK(tx.insert(kv2).values({{kv2.id, id}, {kv2.w, w}}).rows_affected == 1);
        setRow("kv2", id, {Value(id), Value(w)});
        changed[{"kv2", id}] = false;
      }
    } else if (kind < 55) {  // update one kv row by id (maybe absent)
      const std::string id = pick("k", 30);
      const int v = static_cast<int>(rng() % 100);
      const auto r = tx.update(kv).set({{kv.v, v}}).where(eq(kv.id, id));
      CHECK(r.rows_affected == (has("kv", id) ? 1u : 0u));
      if (has("kv", id)) {
        model["kv"][id][1] = Value(v);
        changed[{"kv", id}] = false;
      }
    } else if (kind < 65) {  // update many kv rows by predicate
      const int below = static_cast<int>(rng() % 100);
      const std::string s = "m" + std::to_string(rng() % 5);
      const auto r = tx.update(kv).set({{kv.s, s}}).where(lt(kv.v, below));
      std::size_t expected = 0;
      if (model.count("kv")) {
        for (auto& [id, vals] : model["kv"]) {
          if (vals[1].asInt() < below) {
            vals[2] = Value(s);
            changed[{"kv", id}] = false;
            ++expected;
          }
        }
      }
      CHECK(r.rows_affected == expected);
    } else if (kind < 75) {  // update kv2 by the indexed column
      const int w = static_cast<int>(rng() % 50);
      const int nw = static_cast<int>(rng() % 50);
      const auto r = tx.update(kv2).set({{kv2.w, nw}}).where(eq(kv2.w, w));
      std::size_t expected = 0;
      if (model.count("kv2")) {
        for (auto& [id, vals] : model["kv2"]) {
          if (vals[1].asInt() == w) {
            vals[1] = Value(nw);
            changed[{"kv2", id}] = false;
            ++expected;
          }
        }
      }
      CHECK(r.rows_affected == expected);
    } else if (kind < 88) {  // delete one row
      const bool first = rng() % 3 != 0;
      const std::string table = first ? "kv" : "kv2";
      const std::string id = first ? pick("k", 30) : pick("w", 20);
      const auto r = first ? tx.deleteFrom(kv).where(eq(kv.id, id)) : tx.deleteFrom(kv2).where(eq(kv2.id, id));
      const bool existed = has(table, id);
      CHECK(r.rows_affected == (existed ? 1u : 0u));
      if (existed) {
        eraseRow(table, id);
        changed[{table, id}] = true;
      }
    } else if (kind < 92) {  // delete many
      const int above = 80 + static_cast<int>(rng() % 20);
      const auto r = tx.deleteFrom(kv).where(gt(kv.v, above));
      std::vector<std::string> doomed;
      if (model.count("kv"))
        for (const auto& [id, vals] : model["kv"])
          if (vals[1].asInt() > above) doomed.push_back(id);
      CHECK(r.rows_affected == doomed.size());
      for (const auto& id : doomed) {
        eraseRow("kv", id);
        changed[{"kv", id}] = true;
      }
    } else {  // the suppressed table: never logged
      const std::string id = pick("x", 5);
      if (scratch_rows.count(id)) {
        (void)tx.deleteFrom(scratch).where(eq(scratch.id, id));
        scratch_rows.erase(id);
      } else {
        (void)tx.insert(scratch).values({{scratch.id, id}, {scratch.n, 1}});
        scratch_rows[id] = 1;
      }
    }
    return changed;
  }

  // One transaction of 1-4 statements; checks the entries it appended.
  void transaction() {
    const std::uint64_t head = db.headVersion();
    std::vector<std::map<LoggedRow, bool>> blocks;
    const int n = 1 + static_cast<int>(rng() % 4);
    db.write([&](Tx& tx) {
      for (int i = 0; i < n; ++i) {
        auto changed = statement(tx);
        if (!changed.empty()) blocks.push_back(std::move(changed));
      }
    });
    const auto entries = db.logEntries(head);
    std::size_t total = 0;
    for (const auto& b : blocks) total += b.size();
    REQUIRE(entries.size() == total);
    REQUIRE(db.headVersion() == head + total);
    std::size_t at = 0;
    for (const auto& block : blocks) {
      std::map<LoggedRow, bool> got;
      for (std::size_t i = 0; i < block.size(); ++i, ++at) {
        REQUIRE(entries[at].version == head + 1 + at);
        got[{entries[at].table, entries[at].id}] = entries[at].op == ChangeOp::Del;
        REQUIRE(entries[at].row.has_value() == (entries[at].op == ChangeOp::Put));
        log.emplace_back(entries[at].version, LoggedRow{entries[at].table, entries[at].id});
      }
      REQUIRE(got == block);
    }
    states[db.headVersion()] = model;
    if (boundaries.back() != db.headVersion()) boundaries.push_back(db.headVersion());
  }

  std::uint64_t randomBoundary() { return boundaries[rng() % boundaries.size()]; }
};

// Under the header's rule: an entry at or below the horizon goes when a newer
// entry of the same row exists anywhere in the log.
CompactionResult modelCompaction(std::vector<std::pair<std::uint64_t, LoggedRow>>& log, std::uint64_t horizon) {
  // Seed 004's contract: per row, the newest entry at or below the horizon stays.
  std::map<LoggedRow, std::uint64_t> newest;
  for (const auto& [v, row] : log) {
    if (v <= horizon) newest[row] = std::max(newest[row], v);
  }
  CompactionResult r;
  std::vector<std::pair<std::uint64_t, LoggedRow>> kept;
  for (const auto& e : log) {
    if (e.first <= horizon && newest[e.second] > e.first) {
      ++r.removed;
      continue;
    }
    if (e.first <= horizon) ++r.kept;
    kept.push_back(e);
  }
  log = std::move(kept);
  return r;
}

void checkConvergence(Database& db, const Model& old_snapshot, std::uint64_t cookie, const Model& now) {
  const auto changes = db.changesSince(cookie);
  std::set<std::pair<std::string, std::string>> seen;
  std::uint64_t last = cookie;
  for (const auto& c : changes) {
    REQUIRE(c.version > last);  // strictly increasing, all after the cookie
    last = c.version;
    REQUIRE(seen.emplace(c.table, c.id).second);  // each row once
  }
  Model client = old_snapshot;
  applyChanges(client, changes);
  INFO("client:\n" << render(client) << "server:\n" << render(now));
  REQUIRE(client == now);
}

}  // namespace

TEST_CASE("a client pulling from an old cookie converges after compaction (random histories)",
          "[engine][changelog][compaction][property]") {
  int old_client_cases = 0;  // seeds where the client's cookie was below a horizon that removed entries
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    TempDir dir;
    auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
    db.ensureSchema();
    History h(seed, db);
    int statements = 0;
    while (statements < 300) {
      h.transaction();
      statements += 2;  // transactions average 2.5 statements
    }
    REQUIRE(currentState(db) == h.model);
    const Model now = h.model;
    const std::uint64_t head = db.headVersion();
    REQUIRE(head == h.log.size());

    // An old cookie and a horizon, usually with the cookie below the horizon.
    std::uint64_t c0 = h.randomBoundary(), horizon = h.randomBoundary();
    if (c0 > horizon && h.rng() % 4 != 0) std::swap(c0, horizon);
    CAPTURE(c0, horizon, head);
    const Model old_snapshot = fromSnapshot(db.snapshotAsOf(c0));
    REQUIRE(old_snapshot == h.states.at(c0));
    const std::uint64_t c_mid = h.randomBoundary();
    REQUIRE(fromSnapshot(db.snapshotAsOf(c_mid)) == h.states.at(c_mid));

    // A client at or beyond the horizon is unaffected by compaction.
    std::uint64_t c_late = h.randomBoundary();
    if (c_late < horizon) c_late = head;
    const auto late_before = db.changesSince(c_late);

    const CompactionResult r = db.compactChangeLog(horizon);
    const CompactionResult expected = modelCompaction(h.log, horizon);
    CHECK(r.removed == expected.removed);
    CHECK(r.kept == expected.kept);
    if (c0 < horizon && r.removed > 0) ++old_client_cases;
    std::vector<std::uint64_t> remaining;
    for (const auto& e : h.log) remaining.push_back(e.first);
    REQUIRE(versionsOf(db.logEntries(0)) == remaining);
    REQUIRE(db.headVersion() == head);
    REQUIRE(currentState(db) == now);

    checkConvergence(db, old_snapshot, c0, now);
    const auto late_after = db.changesSince(c_late);
    REQUIRE(versionsOf(late_after) == versionsOf(late_before));
    REQUIRE(fromSnapshot(db.snapshotAsOf(head)) == now);

    // Compacting again at the same horizon removes nothing.
    const CompactionResult again = db.compactChangeLog(horizon);
    CHECK(again.removed == 0);
    CHECK(again.kept == expected.kept);

    // More history, a later horizon, and the same old client still converges.
    for (int i = 0; i < 20; ++i) h.transaction();
    const std::uint64_t horizon2 = std::max(horizon, h.randomBoundary());
    const CompactionResult r2 = db.compactChangeLog(horizon2);
    const CompactionResult expected2 = modelCompaction(h.log, horizon2);
    CHECK(r2.removed == expected2.removed);
    CHECK(r2.kept == expected2.kept);
    checkConvergence(db, old_snapshot, c0, h.model);
    REQUIRE(currentState(db) == h.model);
  }
  // The interesting case (cookie below the horizon, entries removed) was exercised often.
  CHECK(old_client_cases >= 20);
}
