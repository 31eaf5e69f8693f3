// Reopen: rows, indexes and the change log survive destroying the Database
// and opening the same directory again (with the default, synced durability).
#include <fstream>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::captureState;
using plasma_test::expectError;
using plasma_test::TempDir;

namespace {

struct Notes : Table {
  Notes() : Table("notes") {
    index("by_rank", {rank});
    index("by_owner_rank", {owner, rank});
  }
  TextColumn id{this, plasma::id()};
  TextColumn owner{this, text("owner")};
  IntColumn rank{this, integer("rank")};
  TextColumn slug{this, text("slug").unique()};
  TextColumn todoId{this, text("todoId").nullable().ref(todo::todos.id, OnDelete::Cascade)};
};
const Notes notes;
const Schema schema = defineSchema("reopen-v1", {todo::todos, notes});

void seed(Database& db) {
  db.ensureSchema();
  db.write([&](Tx& tx) {
    for (int i = 0; i < 20; ++i) {
      (void)tx.insert(todo::todos).values({{todo::todos.id, "t" + std::to_string(i)},
                                           {todo::todos.title, "todo " + std::to_string(i)},
                                           {todo::todos.updatedAt, i}});
    }
  }, WriteContext{"g", "c", 1});
  db.write([&](Tx& tx) {
    for (int i = 0; i < 30; ++i) {
      (void)tx.insert(notes).values({{notes.id, "n" + std::to_string(i)},
                                     {notes.owner, i % 3 == 0 ? "ann" : "bob"},
                                     {notes.rank, i % 5},
                                     {notes.slug, "slug-" + std::to_string(i)},
                                     {notes.todoId, "t" + std::to_string(i % 20)}});
    }
  }, WriteContext{"g", "c", 2});
  db.write([&](Tx& tx) {
    (void)tx.update(todo::todos).set({{todo::todos.done, 1}}).where(lt(todo::todos.updatedAt, 5));
    (void)tx.deleteFrom(todo::todos).where(eq(todo::todos.id, "t19"));  // cascades to n19
  }, WriteContext{"g", "c", 3});
}

std::vector<std::string> rankThree(const Database& db) {
  return db.read([&](const ReadTx& tx) {
    return plasma_test::idsOf(tx.select(notes).where(eq(notes.rank, 3)).orderBy({asc(notes.id)}).rows());
  });
}

}  // namespace

TEST_CASE("data, indexes and the change log survive closing and reopening", "[engine][reopen]") {
  TempDir dir;
  plasma_test::DbState before;
  std::vector<Change> log_before;
  std::vector<std::string> rank3_before;
  {
    auto db = Database::open(dir.path(), schema);  // default options: synced commits
    seed(db);
    before = captureState(db, {todo::todos, notes});
    log_before = db.logEntries(0);
    rank3_before = rankThree(db);
  }
  REQUIRE(before.tables.at("todos").size() == 19);
  REQUIRE(before.tables.at("notes").size() == 29);
  REQUIRE(rank3_before == std::vector<std::string>{"n13", "n18", "n23", "n28", "n3", "n8"});
  REQUIRE(before.head == 20 + 30 + 5 + 2);

  auto db = Database::open(dir.path(), schema);
  SECTION("without calling ensureSchema") {
    CHECK(captureState(db, {todo::todos, notes}) == before);
  }
  SECTION("after ensureSchema, which changes nothing") {
    db.ensureSchema();
    CHECK(db.runMigrations().empty());
    CHECK(captureState(db, {todo::todos, notes}) == before);
  }
  // Indexed queries.
  CHECK(rankThree(db) == rank3_before);
  CHECK(db.read([&](const ReadTx& tx) {
    return plasma_test::idsOf(
        tx.select(notes).where(and_(eq(notes.owner, "ann"), gte(notes.rank, 3))).orderBy({asc(notes.id)}).rows());
  }) == std::vector<std::string>{"n18", "n24", "n3", "n9"});
  CHECK(db.read([&](const ReadTx& tx) {
    return plasma_test::idsOf(tx.select(todo::todos).where(eq(todo::todos.done, 1)).orderBy({asc(todo::todos.id)}).rows());
  }) == std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"});
  // The unique index is still enforced, and the foreign key still cascades.
  expectError([&] {
    db.write([&](Tx& tx) {
      (void)tx.insert(notes).values({{notes.id, "dup"}, {notes.owner, "x"}, {notes.rank, 1}, {notes.slug, "slug-4"}});
    });
  }, ErrorCode::Unique, {"slug", "slug-4"});
  CHECK(captureState(db, {todo::todos, notes}) == before);

  // The change log reads back entry for entry.
  const auto log_after = db.logEntries(0);
  REQUIRE(log_after.size() == log_before.size());
  for (std::size_t i = 0; i < log_after.size(); ++i) {
    INFO("entry " << i);
    CHECK(log_after[i].version == log_before[i].version);
    CHECK(log_after[i].op == log_before[i].op);
    CHECK(log_after[i].table == log_before[i].table);
    CHECK(log_after[i].id == log_before[i].id);
    CHECK(log_after[i].client_id == log_before[i].client_id);
    CHECK(log_after[i].mutation_id == log_before[i].mutation_id);
    CHECK(log_after[i].row.has_value() == log_before[i].row.has_value());
    if (log_after[i].row && log_before[i].row) CHECK(log_after[i].row->bytes() == log_before[i].row->bytes());
  }
  // After the inserts (1..50): five todos marked done, t19 and its note n19 deleted.
  CHECK(db.changesSince(50).size() == 7);

  // Writes continue the version sequence and the cascade still runs.
  const auto r = db.write([&](Tx& tx) { return tx.deleteFrom(todo::todos).where(eq(todo::todos.id, "t0")); });
  CHECK(r.rows_affected == 1);
  CHECK(r.rows_cascaded == 2);  // n0 and n20 reference t0
  CHECK(db.headVersion() == before.head + 1 + r.rows_cascaded);
  const auto tail = db.logEntries(before.head);
  REQUIRE_FALSE(tail.empty());
  CHECK(tail.front().version == before.head + 1);
}

TEST_CASE("a compacted change log stays compacted after reopening", "[engine][reopen][compaction]") {
  TempDir dir;
  std::vector<std::uint64_t> versions;
  std::uint64_t head = 0;
  {
    auto db = Database::open(dir.path(), todo::schema);
    db.ensureSchema();
    for (int i = 0; i < 10; ++i) {
      db.write([&](Tx& tx) {
        if (i == 0) {
          (void)tx.insert(todo::todos).values({{todo::todos.id, "a"}, {todo::todos.title, "a"}, {todo::todos.updatedAt, 0}});
        } else {
          (void)tx.update(todo::todos).set({{todo::todos.updatedAt, i}}).all();
        }
      });
    }
    const auto r = db.compactChangeLog(db.headVersion());
    CHECK(r.removed == 9);
    CHECK(r.kept == 1);
    head = db.headVersion();
    for (const auto& c : db.logEntries(0)) versions.push_back(c.version);
  }
  auto db = Database::open(dir.path(), todo::schema);
  CHECK(db.headVersion() == head);
  std::vector<std::uint64_t> after;
  for (const auto& c : db.logEntries(0)) after.push_back(c.version);
  CHECK(after == versions);
  CHECK(after == std::vector<std::uint64_t>{10});
  db.write([&](Tx& tx) { (void)tx.update(todo::todos).set({{todo::todos.done, 1}}).all(); });
  CHECK(db.headVersion() == 11);
}

TEST_CASE("a full map fails only that write - a reopen with a larger map continues", "[engine][reopen][errors]") {
  TempDir dir;
  auto small = plasma_test::fastOptions();
  small.map_size_bytes = std::size_t{1} << 20;  // 1 MiB
  plasma_test::DbState before;
  {
    auto db = Database::open(dir.path(), todo::schema, small);
    db.ensureSchema();
    db.write([&](Tx& tx) {
      (void)tx.insert(todo::todos).values({{todo::todos.id, "keep"}, {todo::todos.title, "small"}, {todo::todos.updatedAt, 1}});
    });
    before = captureState(db, {todo::todos});
    bool map_full = false;
    try {
      db.write([&](Tx& tx) {
        for (int i = 0; i < 400; ++i) {
          (void)tx.insert(todo::todos).values({{todo::todos.id, "big" + std::to_string(i)},
                                               {todo::todos.title, std::string(8000, 'x')},
                                               {todo::todos.updatedAt, i}});
        }
      });
    } catch (const StorageError& e) {
      INFO(e.what());
      map_full = e.isMapFull();
      CHECK(e.code() == ErrorCode::Storage);
    }
    REQUIRE(map_full);
    CHECK(captureState(db, {todo::todos}) == before);
    // Not poisoned: a small write still works.
    db.write([&](Tx& tx) {
      (void)tx.insert(todo::todos).values({{todo::todos.id, "after"}, {todo::todos.title, "ok"}, {todo::todos.updatedAt, 2}});
    });
    CHECK(db.get(todo::todos, "after").has_value());
  }
  auto big = plasma_test::fastOptions();
  big.map_size_bytes = std::size_t{64} << 20;
  auto db = Database::open(dir.path(), todo::schema, big);
  db.write([&](Tx& tx) {
    for (int i = 0; i < 400; ++i) {
      (void)tx.insert(todo::todos).values({{todo::todos.id, "big" + std::to_string(i)},
                                           {todo::todos.title, std::string(8000, 'x')},
                                           {todo::todos.updatedAt, i}});
    }
  });
  CHECK(db.read([](const ReadTx& tx) { return tx.count(todo::todos); }) == 402);
  CHECK(db.headVersion() == 402);
}

TEST_CASE("opening a database on a regular file is a StorageError", "[engine][reopen][errors]") {
  TempDir dir;
  { std::ofstream(dir / "not-a-dir") << "hello"; }
  expectError([&] { (void)Database::open(dir / "not-a-dir", todo::schema); }, ErrorCode::Storage, {"not-a-dir"});
}

TEST_CASE("a moved-from Database hands over its environment", "[engine][reopen]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    (void)tx.insert(todo::todos).values({{todo::todos.id, "a"}, {todo::todos.title, "x"}, {todo::todos.updatedAt, 1}});
  });
  Database moved = std::move(db);
  CHECK(moved.get(todo::todos, "a").has_value());
  CHECK(moved.path() == dir.path());
  CHECK(moved.schema().version() == "todos-v2");
  auto other_dir = TempDir();
  Database other = Database::open(other_dir.path(), todo::schema, plasma_test::fastOptions());
  other = std::move(moved);
  CHECK(other.headVersion() == 1);
}
