// ensureSchema and runMigrations: idempotent creation, additive changes
// (new table, nullable or defaulted column, index built over existing rows,
// dropped index) applied without rewriting rows and reported as a diff;
// MigrationRefused for drops, renames, type changes and new NOT NULL
// constraints, with the store unchanged afterwards.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/lmdb.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::captureState;
using plasma_test::expectError;
using plasma_test::TempDir;

namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
std::vector<std::string> withPrefix(const std::vector<std::string>& v, std::string_view prefix) {
  std::vector<std::string> out;
  for (const auto& s : v)
    if (s.starts_with(prefix)) out.push_back(s);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- v1: the store as first created ----------------------------------------------
namespace v1 {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-v1", {todos});
}  // namespace v1

// ---- v2: additive --------------------------------------------------------------------
namespace v2 {
struct Todos : Table {
  Todos() : Table("todos") {
    index("by_priority", {priority});
    index("by_updated", {updatedAt});
  }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
  TextColumn note2{this, text("note2").nullable()};
  IntColumn priority{this, integer("priority").defaultTo(3)};
};
const Todos todos;
struct Tags : Table {
  Tags() : Table("tags") {}
  TextColumn id{this, plasma::id()};
  TextColumn label{this, text("label")};
  TextColumn todoId{this, text("todoId").nullable().ref(todos.id, OnDelete::Cascade)};
};
const Tags tags;
const Schema schema = defineSchema("mig-v2", {todos, tags});
}  // namespace v2

// ---- v3: v2 without the by_updated index ---------------------------------------------
namespace v3 {
struct Todos : Table {
  Todos() : Table("todos") { index("by_priority", {priority}); }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
  TextColumn note2{this, text("note2").nullable()};
  IntColumn priority{this, integer("priority").defaultTo(3)};
};
const Todos todos;
const Schema schema = defineSchema("mig-v3", {todos, v2::tags});
}  // namespace v3

// ---- unique indexes added over existing rows ---------------------------------------------
namespace uniq_dup {
struct Todos : Table {
  Todos() : Table("todos") { uniqueIndex("uniq_done", {done}); }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-uniq-dup", {todos});
}  // namespace uniq_dup
namespace uniq_ok {
struct Todos : Table {
  Todos() : Table("todos") { uniqueIndex("uniq_title", {title}); }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-uniq-ok", {todos});
}  // namespace uniq_ok

// ---- metadata-only relaxations ------------------------------------------------------------
namespace relaxed {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(7)};
  IntColumn updatedAt{this, integer("updatedAt").nullable()};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-relaxed", {todos});
}  // namespace relaxed

// ---- refused changes -----------------------------------------------------------------------
namespace drop_table {
struct Other : Table {
  Other() : Table("other") {}
  TextColumn id{this, plasma::id()};
};
const Other other;
const Schema schema = defineSchema("mig-drop-table", {other});
}  // namespace drop_table
namespace drop_column {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
};
const Todos todos;
const Schema schema = defineSchema("mig-drop-column", {todos});
}  // namespace drop_column
namespace rename_column {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updated_at")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-rename", {todos});
}  // namespace rename_column
namespace type_change {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  IntColumn title{this, integer("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-type", {todos});
}  // namespace type_change
namespace new_not_null {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
  TextColumn owner{this, text("owner")};
};
const Todos todos;
const Schema schema = defineSchema("mig-not-null", {todos});
}  // namespace new_not_null
namespace tighten {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note")};
};
const Todos todos;
const Schema schema = defineSchema("mig-tighten", {todos});
}  // namespace tighten

namespace encrypt_change {
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title").encrypted()};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-encrypt", {todos});
}  // namespace encrypt_change
namespace fk_change {
struct Owners : Table {
  Owners() : Table("owners") {}
  TextColumn id{this, plasma::id()};
};
const Owners owners;
struct Todos : Table {
  Todos() : Table("todos") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable().ref(owners.id, OnDelete::SetNull)};
};
const Todos todos;
const Schema schema = defineSchema("mig-fk", {owners, todos});
}  // namespace fk_change
namespace suppress_change {
TableOptions suppressed() {
  TableOptions o;
  o.change_log_suppressed = true;
  return o;
}
struct Todos : Table {
  Todos() : Table("todos", suppressed()) {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn updatedAt{this, integer("updatedAt")};
  TextColumn note{this, text("note").nullable()};
};
const Todos todos;
const Schema schema = defineSchema("mig-suppress", {todos});
}  // namespace suppress_change

// Creates the v1 store with five rows and returns its state.
plasma_test::DbState seedV1(const TempDir& dir) {
  auto db = Database::open(dir.path(), v1::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    for (int i = 0; i < 5; ++i) {
      (void)tx.insert(v1::todos).values({{v1::todos.id, "t" + std::to_string(i)},
                                         {v1::todos.title, "title " + std::to_string(i)},
                                         {v1::todos.done, i % 2},
                                         {v1::todos.updatedAt, 100 + i}});
    }
  });
  return captureState(db, {v1::todos});
}

// The v1 store is exactly as seeded, and v1 still opens on it with nothing to migrate.
void requireV1Unchanged(const TempDir& dir, const plasma_test::DbState& seeded) {
  auto db = Database::open(dir.path(), v1::schema, plasma_test::fastOptions());
  CHECK(db.planMigrations().empty());
  CHECK(db.runMigrations().empty());
  CHECK(captureState(db, {v1::todos}) == seeded);
  // Still writable with the old schema.
  db.write([&](Tx& tx) {
    (void)tx.insert(v1::todos).values({{v1::todos.id, "after"}, {v1::todos.title, "x"}, {v1::todos.updatedAt, 1}});
  });
  CHECK(db.get(v1::todos, "after").has_value());
}

std::uint64_t rawIndexEntries(const TempDir& dir, const std::string& dbi_name) {
  lmdb::EnvOptions o;
  o.map_size_bytes = plasma_test::fastOptions().map_size_bytes;
  auto env = lmdb::Env::open(dir.path(), o);
  auto txn = lmdb::Txn::beginRead(env);
  auto dbi = txn.openDbi(dbi_name, MDB_DUPSORT, false);
  if (!dbi) return ~std::uint64_t{0};
  return txn.entries(*dbi);
}

template <class F>
void expectRefused(const TempDir& dir, const plasma_test::DbState& seeded, const Schema& schema, const Table& table,
                   F&& write_attempt,
                   std::initializer_list<std::string_view> mentions) {
  {
    auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
    for (int attempt = 0; attempt < 3; ++attempt) {
      INFO("attempt " << attempt << " (0: runMigrations, 1: planMigrations, 2: ensureSchema)");
      try {
        if (attempt == 0) (void)db.runMigrations();
        if (attempt == 1) (void)db.planMigrations();
        if (attempt == 2) db.ensureSchema();
        FAIL("no MigrationRefused");
      } catch (const MigrationRefused& e) {
        INFO("message: " << e.what());
        CHECK(e.code() == ErrorCode::MigrationRefused);
        for (auto m : mentions) CHECK_THAT(std::string(e.what()), Catch::Contains(std::string(m)));
      }
    }
    // Reads and writes through the refused schema do not reach the store.
    expectError([&] { write_attempt(db); }, ErrorCode::SchemaMismatch);
    expectError([&] { (void)db.get(table, "t1"); }, ErrorCode::SchemaMismatch);
    expectError([&] { (void)db.read([&](const ReadTx& tx) { return tx.count(table); }); }, ErrorCode::SchemaMismatch);
  }
  requireV1Unchanged(dir, seeded);
}

}  // namespace

TEST_CASE("ensureSchema is idempotent", "[engine][migration]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  CHECK(seeded.head == 5);
  auto db = Database::open(dir.path(), v1::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.ensureSchema();
  CHECK(captureState(db, {v1::todos}) == seeded);
  CHECK(db.planMigrations().empty());
  CHECK(db.runMigrations().empty());
  CHECK(db.headVersion() == seeded.head);
  // A brand-new store needs no migration after ensureSchema either.
  TempDir fresh;
  auto db2 = Database::open(fresh.path(), v1::schema, plasma_test::fastOptions());
  db2.ensureSchema();
  CHECK(db2.runMigrations().empty());
  CHECK(db2.read([](const ReadTx& tx) { return tx.count(v1::todos); }) == 0);
  CHECK(db2.headVersion() == 0);
}

TEST_CASE("writes before ensureSchema on a new store are refused", "[engine][migration][errors]") {
  TempDir dir;
  auto db = Database::open(dir.path(), v1::schema, plasma_test::fastOptions());
  expectError([&] {
    db.write([&](Tx& tx) {
      (void)tx.insert(v1::todos).values({{v1::todos.id, "x"}, {v1::todos.title, "x"}, {v1::todos.updatedAt, 1}});
    });
  }, ErrorCode::SchemaMismatch);
  db.ensureSchema();
  CHECK(db.read([](const ReadTx& tx) { return tx.count(v1::todos); }) == 0);
  CHECK(db.headVersion() == 0);
}

TEST_CASE("runMigrations adds a table, columns and indexes without rewriting rows", "[engine][migration]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  {
    auto db = Database::open(dir.path(), v2::schema, plasma_test::fastOptions());
    const SchemaDiff plan = db.planMigrations();
    const SchemaDiff diff = db.runMigrations();
    INFO(diff.toString());
    CHECK_FALSE(diff.empty());
    CHECK_FALSE(diff.toString().empty());
    CHECK(diff.version_changed);
    CHECK(diff.added_tables == std::vector<std::string>{"tags"});
    CHECK(withPrefix(diff.added_columns, "todos.") == std::vector<std::string>{"todos.note2", "todos.priority"});
    CHECK(contains(diff.added_indexes, "todos.by_priority"));
    CHECK(contains(diff.added_indexes, "todos.by_updated"));
    CHECK(diff.dropped_indexes.empty());
    // planMigrations said the same, and did nothing.
    CHECK(plan.added_tables == diff.added_tables);
    CHECK(plan.added_columns == diff.added_columns);
    CHECK(plan.added_indexes == diff.added_indexes);
    CHECK(plan.version_changed == diff.version_changed);

    // Old rows are byte-for-byte what v1 wrote, and read the new columns' fill values.
    for (const auto& [id, bytes] : seeded.bytes.at("todos")) {
      auto row = db.get(v2::todos, id);
      REQUIRE(row.has_value());
      CHECK(row->bytes() == bytes);
      CHECK_FALSE(row->get(v2::todos.note2).has_value());
      CHECK(row->get(v2::todos.priority) == std::optional<std::int64_t>(3));
      CHECK(row->get(v2::todos.title) == std::optional<std::string_view>("title " + id.substr(1)));
    }
    CHECK(db.headVersion() == seeded.head);  // a migration is not a row change

    // The new indexes cover the old rows.
    db.write([&](Tx& tx) {
      (void)tx.insert(v2::todos).values({{v2::todos.id, "n1"}, {v2::todos.title, "new"}, {v2::todos.updatedAt, 500},
                                         {v2::todos.priority, 5}, {v2::todos.note2, "hello"}});
      (void)tx.insert(v2::tags).values({{v2::tags.id, "g1"}, {v2::tags.label, "home"}, {v2::tags.todoId, "n1"}});
    });
    db.read([&](const ReadTx& tx) {
      CHECK(plasma_test::idsOf(tx.select(v2::todos).where(eq(v2::todos.priority, 3)).rows()) ==
            std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"});
      CHECK(plasma_test::idsOf(tx.select(v2::todos).where(eq(v2::todos.priority, 5)).rows()) ==
            std::vector<std::string>{"n1"});
      CHECK(plasma_test::idsOf(
                tx.select(v2::todos).where(gte(v2::todos.updatedAt, 103)).orderBy({desc(v2::todos.updatedAt)}).rows()) ==
            std::vector<std::string>{"n1", "t4", "t3"});
      CHECK(tx.count(v2::tags) == 1);
    });

    // Second run and ensureSchema are no-ops.
    const auto after = captureState(db, {v2::todos, v2::tags});
    CHECK(db.runMigrations().empty());
    CHECK(db.planMigrations().empty());
    db.ensureSchema();
    CHECK(captureState(db, {v2::todos, v2::tags}) == after);
  }
  // The index sub-databases hold one entry per row, old rows included.
  CHECK(rawIndexEntries(dir, "i/todos/by_priority") == 6);
  CHECK(rawIndexEntries(dir, "i/todos/by_updated") == 6);
}

TEST_CASE("ensureSchema applies additive changes like runMigrations", "[engine][migration]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  auto db = Database::open(dir.path(), v2::schema, plasma_test::fastOptions());
  db.ensureSchema();
  CHECK(db.planMigrations().empty());
  auto row = db.get(v2::todos, "t2");
  REQUIRE(row.has_value());
  CHECK(row->bytes() == seeded.bytes.at("todos").at("t2"));
  CHECK(row->get(v2::todos.priority) == std::optional<std::int64_t>(3));
  CHECK(db.read([](const ReadTx& tx) { return tx.count(v2::tags); }) == 0);
}

TEST_CASE("a dropped index is reported and the table stays queryable", "[engine][migration]") {
  TempDir dir;
  (void)seedV1(dir);
  { auto db = Database::open(dir.path(), v2::schema, plasma_test::fastOptions()); (void)db.runMigrations(); }
  auto db = Database::open(dir.path(), v3::schema, plasma_test::fastOptions());
  const SchemaDiff diff = db.runMigrations();
  INFO(diff.toString());
  CHECK(diff.dropped_indexes == std::vector<std::string>{"todos.by_updated"});
  CHECK(diff.added_indexes.empty());
  CHECK(diff.added_columns.empty());
  db.read([&](const ReadTx& tx) {
    CHECK(plasma_test::idsOf(tx.select(v3::todos).where(gt(v3::todos.updatedAt, 102)).rows()) ==
          std::vector<std::string>{"t3", "t4"});
  });
}

TEST_CASE("a unique index added over duplicate values is refused and changes nothing", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);  // done is 0,1,0,1,0
  {
    auto db = Database::open(dir.path(), uniq_dup::schema, plasma_test::fastOptions());
    const auto err = plasma_test::catchError([&] { (void)db.runMigrations(); });
    REQUIRE(err.has_value());
    INFO(err->what());
    CHECK((err->code() == ErrorCode::Unique || err->code() == ErrorCode::MigrationRefused));
    CHECK_THAT(std::string(err->what()), Catch::Contains("uniq_done"));
  }
  requireV1Unchanged(dir, seeded);
}

TEST_CASE("a unique index added over distinct values is built and enforced", "[engine][migration][unique]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  auto db = Database::open(dir.path(), uniq_ok::schema, plasma_test::fastOptions());
  const SchemaDiff diff = db.runMigrations();
  CHECK(contains(diff.added_indexes, "todos.uniq_title"));
  const auto before = captureState(db, {uniq_ok::todos});
  expectError([&] {
    db.write([&](Tx& tx) {
      (void)tx.insert(uniq_ok::todos).values({{uniq_ok::todos.id, "dup"}, {uniq_ok::todos.title, "title 3"},
                                              {uniq_ok::todos.updatedAt, 1}});
    });
  }, ErrorCode::Unique, {"title 3"});
  CHECK(captureState(db, {uniq_ok::todos}) == before);
  CHECK(before.bytes.at("todos") == seeded.bytes.at("todos"));
}

TEST_CASE("relaxing NOT NULL and changing a default are metadata-only changes", "[engine][migration]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  auto db = Database::open(dir.path(), relaxed::schema, plasma_test::fastOptions());
  const SchemaDiff diff = db.runMigrations();
  INFO(diff.toString());
  CHECK_FALSE(diff.changed.empty());
  CHECK(diff.added_columns.empty());
  CHECK(diff.added_tables.empty());
  db.write([&](Tx& tx) {
    (void)tx.insert(relaxed::todos).values({{relaxed::todos.id, "r1"}, {relaxed::todos.title, "no time"}});
  });
  auto r1 = db.get(relaxed::todos, "r1");
  REQUIRE(r1.has_value());
  CHECK(r1->get(relaxed::todos.done) == std::optional<std::int64_t>(7));
  CHECK_FALSE(r1->get(relaxed::todos.updatedAt).has_value());
  // Old rows keep their stored values and bytes.
  CHECK(db.get(relaxed::todos, "t1")->get(relaxed::todos.done) == std::optional<std::int64_t>(1));
  CHECK(db.get(relaxed::todos, "t1")->bytes() == seeded.bytes.at("todos").at("t1"));
}

TEST_CASE("dropping a table is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, drop_table::schema, drop_table::other, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.insert(drop_table::other).values({{drop_table::other.id, "o"}}); });
  }, {"todos"});
}

TEST_CASE("dropping a column is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, drop_column::schema, drop_column::todos, [](Database& db) {
    db.write([&](Tx& tx) {
      (void)tx.insert(drop_column::todos).values({{drop_column::todos.id, "x"}, {drop_column::todos.title, "x"},
                                                  {drop_column::todos.updatedAt, 1}});
    });
  }, {"todos", "note"});
}

TEST_CASE("renaming a column is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, rename_column::schema, rename_column::todos, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.deleteFrom(rename_column::todos).all(); });
  }, {"todos", "updatedAt"});
}

TEST_CASE("changing a column's type is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, type_change::schema, type_change::todos, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.update(type_change::todos).set({{type_change::todos.title, 5}}).all(); });
  }, {"todos", "title"});
}

TEST_CASE("a new NOT NULL column without a default is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, new_not_null::schema, new_not_null::todos, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.deleteFrom(new_not_null::todos).all(); });
  }, {"todos", "owner"});
}

TEST_CASE("making a nullable column NOT NULL is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, tighten::schema, tighten::todos, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.deleteFrom(tighten::todos).all(); });
  }, {"todos", "note"});
}

TEST_CASE("changing a column's encrypted marker is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, encrypt_change::schema, encrypt_change::todos, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.deleteFrom(encrypt_change::todos).all(); });
  }, {"todos", "title"});
}

TEST_CASE("adding a foreign key to an existing column is refused", "[engine][migration][errors]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  expectRefused(dir, seeded, fk_change::schema, fk_change::todos, [](Database& db) {
    db.write([&](Tx& tx) { (void)tx.deleteFrom(fk_change::todos).all(); });
  }, {"todos", "note"});
}

TEST_CASE("changing changeLogSuppressed is allowed and takes effect", "[engine][migration][changelog]") {
  TempDir dir;
  const auto seeded = seedV1(dir);
  auto db = Database::open(dir.path(), suppress_change::schema, plasma_test::fastOptions());
  const SchemaDiff diff = db.runMigrations();
  INFO(diff.toString());
  CHECK_FALSE(diff.empty());
  db.write([&](Tx& tx) { (void)tx.update(suppress_change::todos).set({{suppress_change::todos.done, 1}}).all(); });
  CHECK(db.headVersion() == seeded.head);
  CHECK(db.get(suppress_change::todos, "t0")->get(suppress_change::todos.done) == std::optional<std::int64_t>(1));
}
