// Writes: insert one and many rows, update and delete with where / all, each
// reporting rows affected; the constraints (types, NOT NULL, defaults,
// primary key, unique, foreign keys with every onDelete action) fail with a
// clear error that names the table, column and value, and leave the database
// unchanged.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/keys.hpp"
#include "engine/lmdb.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::captureState;
using plasma_test::expectError;
using plasma_test::idsOf;
using plasma_test::TempDir;

namespace {

struct Parents : Table {
  Parents() : Table("parents") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name").unique()};
};
const Parents parents;

struct Items : Table {
  Items() : Table("items") { uniqueIndex("uniq_slot", {shelf, slot}); }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn qty{this, integer("qty").defaultTo(1)};
  BoolColumn flag{this, boolean("flag").defaultTo(false)};
  TextColumn note{this, text("note").nullable()};
  TextColumn code{this, text("code").nullable().unique()};
  IntColumn shelf{this, integer("shelf").nullable()};
  IntColumn slot{this, integer("slot").nullable()};
  JsonColumn meta{this, json("meta").nullable()};
  BlobColumn data{this, blob("data").nullable()};
  IntColumn big{this, bigint("big").nullable()};
};
const Items items;

struct Casc : Table {
  Casc() : Table("casc") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").ref(parents.id, OnDelete::Cascade)};
};
const Casc casc;

struct Grand : Table {
  Grand() : Table("grand") {}
  TextColumn id{this, plasma::id()};
  TextColumn cascId{this, text("cascId").ref(casc.id, OnDelete::Cascade)};
};
const Grand grand;

struct Pins : Table {
  Pins() : Table("pins") {}
  TextColumn id{this, plasma::id()};
  TextColumn cascId{this, text("cascId").ref(casc.id, OnDelete::Restrict)};
};
const Pins pins;

struct Restr : Table {
  Restr() : Table("restr") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").ref(parents.id, OnDelete::Restrict)};
};
const Restr restr;

struct SetN : Table {
  SetN() : Table("setn") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").nullable().ref(parents.id, OnDelete::SetNull)};
  IntColumn n{this, integer("n").defaultTo(0)};
};
const SetN setn;

struct NoAct : Table {
  NoAct() : Table("noact") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").ref(parents.id, OnDelete::NoAction)};
};
const NoAct noact;

// A self-referencing tree: noAction is checked at the end of the statement.
struct Nodes : Table {
  Nodes() : Table("nodes") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").nullable().ref("nodes", OnDelete::NoAction)};
};
const Nodes nodes;

// The same shape with restrict, which SQLite checks row by row.
struct RNodes : Table {
  RNodes() : Table("rnodes") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").nullable().ref("rnodes", OnDelete::Restrict)};
};
const RNodes rnodes;

struct Files : Table {
  Files() : Table("files") { index("by_label", {label}); }
  TextColumn id{this, plasma::id()};
  FileColumn doc{this, file("doc", FileOptions{1000, {"image/png", "text/plain"}, false}).nullable()};
  TextColumn label{this, text("label").nullable()};
};
const Files files;

const Schema schema =
    defineSchema("write-v1", {parents, items, casc, grand, pins, restr, setn, noact, nodes, rnodes, files});

// Not part of the schema.
struct Ghosts : Table {
  Ghosts() : Table("ghosts") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
};
const Ghosts ghosts;

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() { db.ensureSchema(); }

  plasma_test::DbState state() const {
    return captureState(db, {parents, items, casc, grand, pins, restr, setn, noact, nodes, rnodes, files});
  }
  WriteResult insert(const Table& t, const RowInput& row, const WriteContext& ctx = {}) {
    return db.write([&](Tx& tx) { return tx.insert(t).values(row); }, ctx);
  }
  void item(const std::string& id, const std::string& title) {
    (void)insert(items, {{items.id, id}, {items.title, title}});
  }
  void parent(const std::string& id, const std::string& name) {
    (void)insert(parents, {{parents.id, id}, {parents.name, name}});
  }
};

// Requires `f` to fail with `code` mentioning `mentions`, and the database to be unchanged.
template <class F>
void expectRejected(Fixture& fx, F&& f, ErrorCode code, std::initializer_list<std::string_view> mentions) {
  const auto before = fx.state();
  expectError(std::forward<F>(f), code, mentions);
  CHECK(fx.state() == before);
}

}  // namespace

// ---- insert / update / delete ------------------------------------------------------------

TEST_CASE("insert of one row reports one row affected and stores its values", "[engine][write]") {
  Fixture fx;
  const auto r = fx.insert(items, {{items.id, "i1"}, {items.title, "hammer"}, {items.qty, 4}, {items.flag, true},
                                   {items.note, "heavy"}, {items.big, std::int64_t{1} << 50}});
  CHECK(r.rows_affected == 1);
  CHECK(r.rows_cascaded == 0);
  auto row = fx.db.get(items, "i1");
  REQUIRE(row.has_value());
  CHECK(row->id() == "i1");
  CHECK(row->get(items.title) == std::optional<std::string_view>("hammer"));
  CHECK(row->get(items.qty) == std::optional<std::int64_t>(4));
  CHECK(row->get(items.flag) == std::optional<bool>(true));
  CHECK(row->get(items.note) == std::optional<std::string_view>("heavy"));
  CHECK(row->get(items.big) == std::optional<std::int64_t>(std::int64_t{1} << 50));
  CHECK_FALSE(row->get(items.code).has_value());
  CHECK(fx.db.read([](const ReadTx& tx) { return tx.count(items); }) == 1);
  CHECK_FALSE(fx.db.get(items, "i2").has_value());
}

TEST_CASE("insert of many rows reports every row and stores them in id order", "[engine][write]") {
  Fixture fx;
  std::vector<RowInput> rows;
  std::vector<std::string> ids;
  for (int i = 49; i >= 0; --i) {
    char id[8];
    std::snprintf(id, sizeof id, "i%02d", i);
    ids.emplace_back(id);
    rows.push_back({{items.id, std::string(id)}, {items.title, "t" + std::to_string(i)}, {items.qty, i}});
  }
  const auto r = fx.db.write([&](Tx& tx) { return tx.insert(items).values(rows); });
  CHECK(r.rows_affected == 50);
  std::sort(ids.begin(), ids.end());
  CHECK(idsOf(fx.db, items) == ids);
  CHECK(fx.db.read([](const ReadTx& tx) { return tx.count(items); }) == 50);
  CHECK(fx.db.get(items, "i07")->get(items.qty) == std::optional<std::int64_t>(7));
}

TEST_CASE("defaults fill omitted columns and an explicit value wins", "[engine][write]") {
  Fixture fx;
  fx.item("d1", "defaults");
  (void)fx.insert(items, {{items.id, "d2"}, {items.title, "explicit"}, {items.qty, 9}, {items.flag, true}});
  auto d1 = fx.db.get(items, "d1");
  REQUIRE(d1.has_value());
  CHECK(d1->get(items.qty) == std::optional<std::int64_t>(1));
  CHECK(d1->get(items.flag) == std::optional<bool>(false));
  CHECK_FALSE(d1->get(items.note).has_value());
  auto d2 = fx.db.get(items, "d2");
  CHECK(d2->get(items.qty) == std::optional<std::int64_t>(9));
  CHECK(d2->get(items.flag) == std::optional<bool>(true));
  // Defaults also apply to JSON-object inserts.
  fx.db.write([&](Tx& tx) { (void)tx.insert(items).values(boost::json::object{{"id", "d3"}, {"title", "json"}}); });
  CHECK(fx.db.get(items, "d3")->get(items.qty) == std::optional<std::int64_t>(1));
}

TEST_CASE("update with where changes only matching rows and reports how many", "[engine][write]") {
  Fixture fx;
  for (int i = 0; i < 10; ++i)
    (void)fx.insert(items, {{items.id, "u" + std::to_string(i)}, {items.title, "t"}, {items.qty, i}});
  const auto r = fx.db.write([&](Tx& tx) {
    return tx.update(items).set({{items.note, "big"}, {items.flag, true}}).where(gte(items.qty, 6));
  });
  CHECK(r.rows_affected == 4);
  for (int i = 0; i < 10; ++i) {
    auto row = fx.db.get(items, "u" + std::to_string(i));
    REQUIRE(row.has_value());
    INFO("row u" << i);
    CHECK(row->get(items.flag) == std::optional<bool>(i >= 6));
    CHECK(row->get(items.note).has_value() == (i >= 6));
    CHECK(row->get(items.qty) == std::optional<std::int64_t>(i));  // untouched column
  }
  // No match: zero rows, nothing logged.
  const auto head = fx.db.headVersion();
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(items).set({{items.qty, 0}}).where(eq(items.title, "zzz")); })
            .rows_affected == 0);
  CHECK(fx.db.headVersion() == head);
  // Setting NULL into a nullable column.
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(items).set({{items.note, nullptr}}).where(eq(items.id, "u9")); })
            .rows_affected == 1);
  CHECK_FALSE(fx.db.get(items, "u9")->get(items.note).has_value());
  // JSON-object assignments.
  CHECK(fx.db.write([&](Tx& tx) {
          return tx.update(items).set(boost::json::object{{"qty", 100}, {"note", nullptr}}).where(eq(items.id, "u8"));
        }).rows_affected == 1);
  CHECK(fx.db.get(items, "u8")->get(items.qty) == std::optional<std::int64_t>(100));
  CHECK_FALSE(fx.db.get(items, "u8")->get(items.note).has_value());
}

TEST_CASE("update all and delete all touch every row", "[engine][write]") {
  Fixture fx;
  for (int i = 0; i < 7; ++i) fx.item("a" + std::to_string(i), "t");
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(items).set({{items.qty, 42}}).all(); }).rows_affected == 7);
  fx.db.read([&](const ReadTx& tx) {
    tx.scan(items, [&](const RowView& r) {
      CHECK(r.get(items.qty) == std::optional<std::int64_t>(42));
      return true;
    });
  });
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(items).all(); }).rows_affected == 7);
  CHECK(fx.db.read([](const ReadTx& tx) { return tx.count(items); }) == 0);
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(items).all(); }).rows_affected == 0);
}

TEST_CASE("delete with where removes only matching rows", "[engine][write]") {
  Fixture fx;
  for (int i = 0; i < 10; ++i)
    (void)fx.insert(items, {{items.id, "x" + std::to_string(i)}, {items.title, i % 2 ? "odd" : "even"}, {items.qty, i}});
  const auto r = fx.db.write([&](Tx& tx) { return tx.deleteFrom(items).where(eq(items.title, "odd")); });
  CHECK(r.rows_affected == 5);
  CHECK(idsOf(fx.db, items) == std::vector<std::string>{"x0", "x2", "x4", "x6", "x8"});
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(items).where(eq(items.id, "x4")); }).rows_affected == 1);
  CHECK(idsOf(fx.db, items) == std::vector<std::string>{"x0", "x2", "x6", "x8"});
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(items).where(eq(items.id, "nope")); }).rows_affected == 0);
}

TEST_CASE("insert from a JSON object converts values to column kinds", "[engine][write]") {
  Fixture fx;
  boost::json::object o{{"id", "j1"},
                        {"title", "from json"},
                        {"qty", 5},
                        {"flag", true},
                        {"meta", boost::json::object{{"k", boost::json::array{1, 2}}}},
                        {"note", nullptr}};
  CHECK(fx.db.write([&](Tx& tx) { return tx.insert(items).values(o); }).rows_affected == 1);
  auto row = fx.db.get(items, "j1");
  REQUIRE(row.has_value());
  CHECK(row->get(items.qty) == std::optional<std::int64_t>(5));
  CHECK(row->get(items.flag) == std::optional<bool>(true));
  REQUIRE(row->get(items.meta).has_value());
  CHECK(boost::json::parse(*row->get(items.meta)) == boost::json::parse(R"({"k":[1,2]})"));
  CHECK_FALSE(row->get(items.note).has_value());
  CHECK(row->toJson().at("title") == "from json");
}

// ---- type, NOT NULL, primary key ---------------------------------------------------------------

TEST_CASE("a value of the wrong kind is a TypeMismatch naming table and column", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "existing");
  SECTION("untyped assignment on insert") {
    expectRejected(fx, [&] {
      (void)fx.insert(items, {{items.id, "i2"}, {items.title, "t"}, Assignment(AnyColumn(items.qty), Value("seven"))});
    }, ErrorCode::TypeMismatch, {"items", "qty"});
  }
  SECTION("an int where a text belongs") {
    expectRejected(fx, [&] {
      (void)fx.insert(items, {{items.id, "i2"}, Assignment(AnyColumn(items.title), Value(12))});
    }, ErrorCode::TypeMismatch, {"items", "title"});
  }
  SECTION("an integer where a boolean belongs") {
    expectRejected(fx, [&] {
      (void)fx.insert(items, {{items.id, "i2"}, {items.title, "t"}, Assignment(AnyColumn(items.flag), Value(1))});
    }, ErrorCode::TypeMismatch, {"items", "flag"});
  }
  SECTION("untyped assignment on update") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) {
        (void)tx.update(items).set({Assignment(AnyColumn(items.qty), Value("many"))}).where(eq(items.id, "i1"));
      });
    }, ErrorCode::TypeMismatch, {"items", "qty"});
  }
  SECTION("a JSON object value of the wrong type on insert") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) {
        (void)tx.insert(items).values(boost::json::object{{"id", "i2"}, {"title", "t"}, {"qty", "seven"}});
      });
    }, ErrorCode::TypeMismatch, {"items", "qty"});
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) { (void)tx.insert(items).values(boost::json::object{{"id", "i2"}, {"title", 5}}); });
    }, ErrorCode::TypeMismatch, {"items", "title"});
  }
  SECTION("a JSON object value of the wrong type on update") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) {
        (void)tx.update(items).set(boost::json::object{{"flag", "yes"}}).where(eq(items.id, "i1"));
      });
    }, ErrorCode::TypeMismatch, {"items", "flag"});
  }
}

TEST_CASE("NULL into a NOT NULL column is a NotNull error naming the column", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "existing");
  SECTION("explicit NULL on insert") {
    expectRejected(fx, [&] { (void)fx.insert(items, {{items.id, "i2"}, {items.title, nullptr}}); },
                   ErrorCode::NotNull, {"items", "title"});
  }
  SECTION("explicit NULL into a NOT NULL column that has a default") {
    expectRejected(fx, [&] { (void)fx.insert(items, {{items.id, "i2"}, {items.title, "t"}, {items.qty, nullptr}}); },
                   ErrorCode::NotNull, {"items", "qty"});
  }
  SECTION("a missing required column without default") {
    expectRejected(fx, [&] { (void)fx.insert(items, {{items.id, "i2"}, {items.qty, 3}}); }, ErrorCode::NotNull,
                   {"items", "title"});
  }
  SECTION("NULL through a JSON object") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) { (void)tx.insert(items).values(boost::json::object{{"id", "i2"}, {"title", nullptr}}); });
    }, ErrorCode::NotNull, {"items", "title"});
  }
  SECTION("NULL on update") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) { (void)tx.update(items).set({{items.title, nullptr}}).where(eq(items.id, "i1")); });
    }, ErrorCode::NotNull, {"items", "title"});
  }
}

TEST_CASE("a duplicate, empty or changed id is a PrimaryKey error", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "original");
  SECTION("duplicate id") {
    expectRejected(fx, [&] { fx.item("i1", "again"); }, ErrorCode::PrimaryKey, {"items", "i1"});
    CHECK(fx.db.get(items, "i1")->get(items.title) == std::optional<std::string_view>("original"));
  }
  SECTION("duplicate id inside one batch") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) {
        (void)tx.insert(items).values(std::vector<RowInput>{{{items.id, "n1"}, {items.title, "a"}},
                                                           {{items.id, "n1"}, {items.title, "b"}}});
      });
    }, ErrorCode::PrimaryKey, {"items", "n1"});
  }
  SECTION("empty id") {
    expectRejected(fx, [&] { fx.item("", "no id"); }, ErrorCode::PrimaryKey, {"items"});
  }
  SECTION("changing an id") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) { (void)tx.update(items).set({{items.id, "i9"}}).where(eq(items.id, "i1")); });
    }, ErrorCode::PrimaryKey, {"items"});
  }
}

// ---- unique ------------------------------------------------------------------------------------

TEST_CASE("a duplicate unique value is a Unique error naming the column and value", "[engine][write][unique][errors]") {
  Fixture fx;
  (void)fx.insert(items, {{items.id, "i1"}, {items.title, "a"}, {items.code, "C-1"}});
  (void)fx.insert(items, {{items.id, "i2"}, {items.title, "b"}, {items.code, "C-2"}});
  SECTION("on insert") {
    expectRejected(fx, [&] { (void)fx.insert(items, {{items.id, "i3"}, {items.title, "c"}, {items.code, "C-1"}}); },
                   ErrorCode::Unique, {"items", "code", "C-1"});
  }
  SECTION("inside one batch") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) {
        (void)tx.insert(items).values(std::vector<RowInput>{{{items.id, "i3"}, {items.title, "c"}, {items.code, "C-9"}},
                                                           {{items.id, "i4"}, {items.title, "d"}, {items.code, "C-9"}}});
      });
    }, ErrorCode::Unique, {"code", "C-9"});
  }
  SECTION("on update") {
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) { (void)tx.update(items).set({{items.code, "C-2"}}).where(eq(items.id, "i1")); });
    }, ErrorCode::Unique, {"items", "code", "C-2"});
  }
  SECTION("on a unique column of another table") {
    fx.parent("p1", "Alice");
    expectRejected(fx, [&] { fx.parent("p2", "Alice"); }, ErrorCode::Unique, {"parents", "name", "Alice"});
  }
  SECTION("on a composite unique index") {
    (void)fx.insert(items, {{items.id, "s1"}, {items.title, "s"}, {items.shelf, 1}, {items.slot, 2}});
    (void)fx.insert(items, {{items.id, "s2"}, {items.title, "s"}, {items.shelf, 1}, {items.slot, 3}});
    (void)fx.insert(items, {{items.id, "s3"}, {items.title, "s"}, {items.shelf, 2}, {items.slot, 2}});
    const auto before = fx.state();
    auto err = expectError([&] {
      (void)fx.insert(items, {{items.id, "s4"}, {items.title, "s"}, {items.shelf, 1}, {items.slot, 2}});
    }, ErrorCode::Unique, {"items"});
    const std::string msg = err.what();
    CHECK((msg.find("uniq_slot") != std::string::npos || msg.find("shelf") != std::string::npos));
    CHECK(fx.state() == before);
  }
}

TEST_CASE("unique values are released by delete and update and a row may keep its own value",
          "[engine][write][unique]") {
  Fixture fx;
  (void)fx.insert(items, {{items.id, "i1"}, {items.title, "a"}, {items.code, "C-1"}});
  (void)fx.insert(items, {{items.id, "i2"}, {items.title, "b"}, {items.code, "C-2"}});
  // Re-setting a row's own unique value is no conflict.
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(items).set({{items.code, "C-1"}, {items.qty, 5}}).where(eq(items.id, "i1")); })
            .rows_affected == 1);
  // Moving a value away frees it.
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(items).set({{items.code, "C-3"}}).where(eq(items.id, "i1")); })
            .rows_affected == 1);
  CHECK_NOTHROW(fx.insert(items, {{items.id, "i3"}, {items.title, "c"}, {items.code, "C-1"}}));
  // Deleting frees it too.
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(items).where(eq(items.id, "i2")); }).rows_affected == 1);
  CHECK_NOTHROW(fx.insert(items, {{items.id, "i4"}, {items.title, "d"}, {items.code, "C-2"}}));
  // And the freed old value is enforced again once taken.
  expectRejected(fx, [&] { (void)fx.insert(items, {{items.id, "i5"}, {items.title, "e"}, {items.code, "C-2"}}); },
                 ErrorCode::Unique, {"code", "C-2"});
}

TEST_CASE("a unique column accepts several NULLs, as in SQLite", "[engine][write][unique]") {
  Fixture fx;
  fx.item("n1", "a");
  fx.item("n2", "b");  // both have code NULL
  (void)fx.insert(items, {{items.id, "n3"}, {items.title, "c"}, {items.shelf, 1}});  // (1, NULL)
  CHECK_NOTHROW(fx.insert(items, {{items.id, "n4"}, {items.title, "d"}, {items.shelf, 1}}));
  CHECK(fx.db.read([](const ReadTx& tx) { return tx.count(items); }) == 4);
}

// ---- unknown tables and columns ---------------------------------------------------------------

TEST_CASE("an unknown column in a JSON object is an UnknownColumn error", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "a");
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) {
      (void)tx.insert(items).values(boost::json::object{{"id", "i2"}, {"title", "t"}, {"colour", "red"}});
    });
  }, ErrorCode::UnknownColumn, {"items", "colour"});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.update(items).set(boost::json::object{{"colour", "red"}}).all(); });
  }, ErrorCode::UnknownColumn, {"items", "colour"});
  // A column handle of another table.
  expectRejected(fx, [&] {
    (void)fx.insert(items, {{items.id, "i3"}, {items.title, "t"}, Assignment(AnyColumn(parents.name), Value("x"))});
  }, ErrorCode::UnknownColumn, {"items"});
}

TEST_CASE("a table outside the schema is an UnknownTable error", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "a");
  expectRejected(fx, [&] { (void)fx.insert(ghosts, {{ghosts.id, "g"}, {ghosts.name, "boo"}}); },
                 ErrorCode::UnknownTable, {"ghosts"});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.update(ghosts).set({{ghosts.name, "x"}}).all(); });
  }, ErrorCode::UnknownTable, {"ghosts"});
  expectRejected(fx, [&] { fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(ghosts).all(); }); },
                 ErrorCode::UnknownTable, {"ghosts"});
  expectError([&] { (void)fx.db.get(ghosts, "g"); }, ErrorCode::UnknownTable, {"ghosts"});
  expectError([&] { (void)fx.db.read([&](const ReadTx& tx) { return tx.count(ghosts); }); }, ErrorCode::UnknownTable,
              {"ghosts"});
  expectError([&] { (void)fx.db.read([&](const ReadTx& tx) { return tx.select(ghosts).rows(); }); },
              ErrorCode::UnknownTable, {"ghosts"});
}

// ---- transactions ---------------------------------------------------------------------------------

TEST_CASE("a failing statement rolls back every earlier statement of its transaction", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "original");
  const auto before = fx.state();
  expectError([&] {
    fx.db.write([&](Tx& tx) {
      (void)tx.insert(items).values({{items.id, "i2"}, {items.title, "new"}});
      (void)tx.update(items).set({{items.title, "changed"}}).where(eq(items.id, "i1"));
      (void)tx.insert(parents).values({{parents.id, "p1"}, {parents.name, "P"}});
      // Visible inside the transaction before it fails.
      CHECK(tx.count(items) == 2);
      (void)tx.insert(items).values({{items.id, "i1"}, {items.title, "duplicate"}});
    });
  }, ErrorCode::PrimaryKey, {"i1"});
  CHECK(fx.state() == before);
  CHECK(fx.db.get(items, "i1")->get(items.title) == std::optional<std::string_view>("original"));
}

TEST_CASE("an exception thrown by the caller inside write rolls back and propagates", "[engine][write]") {
  Fixture fx;
  fx.item("i1", "original");
  const auto before = fx.state();
  struct Boom {};
  CHECK_THROWS_AS(fx.db.write([&](Tx& tx) {
    (void)tx.deleteFrom(items).all();
    (void)tx.insert(items).values({{items.id, "i2"}, {items.title, "new"}});
    throw Boom{};
  }), Boom);
  CHECK(fx.state() == before);
  // The database remains writable afterwards.
  fx.item("i3", "after");
  CHECK(fx.db.read([](const ReadTx& tx) { return tx.count(items); }) == 2);
}

// ---- foreign keys ------------------------------------------------------------------------------------

TEST_CASE("a child row needs an existing parent", "[engine][write][fk][errors]") {
  Fixture fx;
  fx.parent("p1", "P1");
  (void)fx.insert(casc, {{casc.id, "c1"}, {casc.parentId, "p1"}});
  expectRejected(fx, [&] { (void)fx.insert(casc, {{casc.id, "c2"}, {casc.parentId, "p-missing"}}); },
                 ErrorCode::ForeignKey, {"casc", "parentId", "p-missing"});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.update(casc).set({{casc.parentId, "p-missing"}}).where(eq(casc.id, "c1")); });
  }, ErrorCode::ForeignKey, {"casc", "parentId", "p-missing"});
  // A NULL reference in a nullable column needs no parent.
  CHECK(fx.insert(setn, {{setn.id, "s1"}, {setn.parentId, nullptr}}).rows_affected == 1);
  CHECK(fx.insert(setn, {{setn.id, "s2"}}).rows_affected == 1);
  // A parent inserted earlier in the same transaction counts.
  CHECK_NOTHROW(fx.db.write([&](Tx& tx) {
    (void)tx.insert(parents).values({{parents.id, "p2"}, {parents.name, "P2"}});
    (void)tx.insert(casc).values({{casc.id, "c3"}, {casc.parentId, "p2"}});
  }));
  CHECK(fx.db.get(casc, "c3").has_value());
}

TEST_CASE("onDelete cascade deletes children and grandchildren in the same logged transaction",
          "[engine][write][fk][changelog]") {
  Fixture fx;
  fx.parent("p1", "P1");
  fx.parent("p2", "P2");
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  for (const auto& [c, p] : Pairs{{"c1", "p1"}, {"c2", "p1"}, {"c3", "p2"}})
    (void)fx.insert(casc, {{casc.id, c}, {casc.parentId, p}});
  for (const auto& [g, c] : Pairs{{"g1", "c1"}, {"g2", "c2"}, {"g3", "c3"}, {"g4", "c1"}})
    (void)fx.insert(grand, {{grand.id, g}, {grand.cascId, c}});

  SECTION("the cascade happens and is logged") {
    const auto head = fx.db.headVersion();
    const auto r = fx.db.write([&](Tx& tx) { return tx.deleteFrom(parents).where(eq(parents.id, "p1")); },
                               WriteContext{"group-1", "client-1", 9});
    CHECK(r.rows_affected == 1);
    CHECK(r.rows_cascaded == 5);  // c1, c2, g1, g2, g4
    CHECK(idsOf(fx.db, parents) == std::vector<std::string>{"p2"});
    CHECK(idsOf(fx.db, casc) == std::vector<std::string>{"c3"});
    CHECK(idsOf(fx.db, grand) == std::vector<std::string>{"g3"});
    const auto log = fx.db.logEntries(head);
    REQUIRE(log.size() == 6);
    std::set<std::pair<std::string, std::string>> deleted;
    for (std::size_t i = 0; i < log.size(); ++i) {
      CHECK(log[i].version == head + 1 + i);
      CHECK(log[i].op == ChangeOp::Del);
      CHECK_FALSE(log[i].row.has_value());
      CHECK(log[i].client_id == "client-1");
      CHECK(log[i].client_group_id == "group-1");
      CHECK(log[i].mutation_id == 9);
      deleted.emplace(log[i].table, log[i].id);
    }
    CHECK(deleted == std::set<std::pair<std::string, std::string>>{
                         {"parents", "p1"}, {"casc", "c1"}, {"casc", "c2"}, {"grand", "g1"}, {"grand", "g2"}, {"grand", "g4"}});
    CHECK(fx.db.headVersion() == head + 6);
  }

  SECTION("a failure later in the transaction undoes the cascade too") {
    const auto before = fx.state();
    CHECK_THROWS_AS(fx.db.write([&](Tx& tx) {
      CHECK(tx.deleteFrom(parents).where(eq(parents.id, "p1")).rows_cascaded == 5);
      CHECK(tx.count(grand) == 1);
      throw plasma_test::Rollback{};
    }), plasma_test::Rollback);
    CHECK(fx.state() == before);
  }

  SECTION("a restrict below a cascade stops the whole delete") {
    (void)fx.insert(pins, {{pins.id, "pin1"}, {pins.cascId, "c2"}});
    expectRejected(fx, [&] {
      fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(parents).where(eq(parents.id, "p1")); });
    }, ErrorCode::ForeignKey, {"pins"});
  }
}

TEST_CASE("onDelete restrict refuses to delete a referenced parent", "[engine][write][fk][errors]") {
  Fixture fx;
  fx.parent("p1", "P1");
  fx.parent("p2", "P2");
  (void)fx.insert(restr, {{restr.id, "r1"}, {restr.parentId, "p1"}});
  (void)fx.insert(casc, {{casc.id, "c1"}, {casc.parentId, "p1"}});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(parents).where(eq(parents.id, "p1")); });
  }, ErrorCode::ForeignKey, {"restr", "p1"});
  expectRejected(fx, [&] { fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(parents).all(); }); },
                 ErrorCode::ForeignKey, {"restr"});
  // Unreferenced parents delete fine; after the child goes, the parent can go.
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(parents).where(eq(parents.id, "p2")); }).rows_affected == 1);
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(restr).all(); }).rows_affected == 1);
  const auto r = fx.db.write([&](Tx& tx) { return tx.deleteFrom(parents).where(eq(parents.id, "p1")); });
  CHECK(r.rows_affected == 1);
  CHECK(r.rows_cascaded == 1);  // c1
}

TEST_CASE("onDelete setNull clears the reference and logs the child", "[engine][write][fk][changelog]") {
  Fixture fx;
  fx.parent("p1", "P1");
  fx.parent("p2", "P2");
  (void)fx.insert(setn, {{setn.id, "s1"}, {setn.parentId, "p1"}, {setn.n, 1}});
  (void)fx.insert(setn, {{setn.id, "s2"}, {setn.parentId, "p1"}, {setn.n, 2}});
  (void)fx.insert(setn, {{setn.id, "s3"}, {setn.parentId, "p2"}, {setn.n, 3}});
  const auto head = fx.db.headVersion();
  const auto r = fx.db.write([&](Tx& tx) { return tx.deleteFrom(parents).where(eq(parents.id, "p1")); });
  CHECK(r.rows_affected == 1);
  CHECK(r.rows_cascaded == 2);
  CHECK_FALSE(fx.db.get(setn, "s1")->get(setn.parentId).has_value());
  CHECK_FALSE(fx.db.get(setn, "s2")->get(setn.parentId).has_value());
  CHECK(fx.db.get(setn, "s2")->get(setn.n) == std::optional<std::int64_t>(2));
  CHECK(fx.db.get(setn, "s3")->get(setn.parentId) == std::optional<std::string_view>("p2"));
  const auto log = fx.db.logEntries(head);
  REQUIRE(log.size() == 3);
  std::size_t puts = 0;
  for (const auto& e : log) {
    if (e.table == "setn") {
      CHECK(e.op == ChangeOp::Put);
      REQUIRE(e.row.has_value());
      CHECK_FALSE(e.row->get(setn.parentId).has_value());
      ++puts;
    } else {
      CHECK(e.table == "parents");
      CHECK(e.op == ChangeOp::Del);
    }
  }
  CHECK(puts == 2);
}

TEST_CASE("onDelete noAction fails when children still reference the parent at the end of the statement",
          "[engine][write][fk][errors]") {
  Fixture fx;
  fx.parent("p1", "P1");
  (void)fx.insert(noact, {{noact.id, "n1"}, {noact.parentId, "p1"}});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(parents).where(eq(parents.id, "p1")); });
  }, ErrorCode::ForeignKey, {"noact"});

  // Self-reference: deleting a whole subtree in one statement is fine, because
  // no reference is left at the end of it ...
  (void)fx.insert(nodes, {{nodes.id, "a"}});
  (void)fx.insert(nodes, {{nodes.id, "b"}, {nodes.parentId, "a"}});
  (void)fx.insert(nodes, {{nodes.id, "c"}, {nodes.parentId, "b"}});
  (void)fx.insert(nodes, {{nodes.id, "z"}});
  // ... but deleting only an inner node leaves a dangling reference.
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(nodes).where(eq(nodes.id, "b")); });
  }, ErrorCode::ForeignKey, {"nodes"});
  const auto r = fx.db.write([&](Tx& tx) { return tx.deleteFrom(nodes).where(inArray(nodes.id, {"a", "b", "c"})); });
  CHECK(r.rows_affected == 3);
  CHECK(idsOf(fx.db, nodes) == std::vector<std::string>{"z"});
}

TEST_CASE("onDelete restrict on a self reference refuses while a child remains", "[engine][write][fk][errors]") {
  Fixture fx;
  (void)fx.insert(rnodes, {{rnodes.id, "a"}});
  (void)fx.insert(rnodes, {{rnodes.id, "b"}, {rnodes.parentId, "a"}});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(rnodes).where(eq(rnodes.id, "a")); });
  }, ErrorCode::ForeignKey, {"rnodes"});
  // Deleting the leaf first, then the root, works.
  CHECK(fx.db.write([&](Tx& tx) {
    auto n = tx.deleteFrom(rnodes).where(eq(rnodes.id, "b")).rows_affected;
    return n + tx.deleteFrom(rnodes).where(eq(rnodes.id, "a")).rows_affected;
  }) == 2);
}

TEST_CASE("a delete with both a cascade and a restrict child deletes nothing", "[engine][write][fk][errors]") {
  Fixture fx;
  fx.parent("p1", "P1");
  (void)fx.insert(casc, {{casc.id, "c1"}, {casc.parentId, "p1"}});
  (void)fx.insert(grand, {{grand.id, "g1"}, {grand.cascId, "c1"}});
  (void)fx.insert(setn, {{setn.id, "s1"}, {setn.parentId, "p1"}});
  (void)fx.insert(restr, {{restr.id, "r1"}, {restr.parentId, "p1"}});
  expectRejected(fx, [&] {
    fx.db.write([&](Tx& tx) { (void)tx.deleteFrom(parents).all(); });
  }, ErrorCode::ForeignKey, {"restr"});
  CHECK(fx.db.get(setn, "s1")->get(setn.parentId) == std::optional<std::string_view>("p1"));
  CHECK(fx.db.get(grand, "g1").has_value());
}

// ---- limits, files, JSON, duplicates ----------------------------------------------------------

TEST_CASE("ids longer than 256 bytes are a PrimaryKey error - 256 bytes are fine", "[engine][write][errors]") {
  Fixture fx;
  const std::string max_id(256, 'x');
  fx.item(max_id, "longest");
  CHECK(fx.db.get(items, max_id).has_value());
  expectRejected(fx, [&] { fx.item(std::string(257, 'y'), "too long"); }, ErrorCode::PrimaryKey, {"items", "257"});
}

TEST_CASE("a value too long to index is refused naming the table and index", "[engine][write][errors]") {
  Fixture fx;
  (void)fx.insert(files, {{files.id, "f1"}, {files.label, std::string(400, 'a')}});
  expectRejected(fx, [&] { (void)fx.insert(files, {{files.id, "f2"}, {files.label, std::string(600, 'b')}}); },
                 ErrorCode::InvalidArgument, {"files", "by_label"});
  // The same limit applies to a unique column's implicit index.
  expectRejected(fx, [&] {
    (void)fx.insert(items, {{items.id, "i1"}, {items.title, "t"}, {items.code, std::string(600, 'c')}});
  }, ErrorCode::InvalidArgument, {"items"});
  // Long values in columns that are not indexed are fine.
  (void)fx.insert(items, {{items.id, "i2"}, {items.title, std::string(100000, 't')}});
  CHECK(fx.db.get(items, "i2")->get(items.title)->size() == 100000);
}

TEST_CASE("file columns store references and enforce their options", "[engine][write][errors]") {
  Fixture fx;
  (void)fx.insert(files, {{files.id, "f1"}, {files.doc, FileRef{"b3:1", 10, "image/png"}}});
  CHECK(fx.db.get(files, "f1")->get(files.doc) == std::optional<FileRef>(FileRef{"b3:1", 10, "image/png"}));
  expectRejected(fx, [&] { (void)fx.insert(files, {{files.id, "f2"}, {files.doc, FileRef{"b3:2", 5000, "image/png"}}}); },
                 ErrorCode::InvalidArgument, {"files", "doc"});
  expectRejected(fx, [&] { (void)fx.insert(files, {{files.id, "f3"}, {files.doc, FileRef{"b3:3", 5, "video/mp4"}}}); },
                 ErrorCode::InvalidArgument, {"files", "doc", "video/mp4"});
  expectRejected(fx, [&] { (void)fx.insert(files, {{files.id, "f4"}, {files.doc, FileRef{"", 5, "text/plain"}}}); },
                 ErrorCode::TypeMismatch, {"files", "doc"});
}

TEST_CASE("malformed JSON text for a json column is a TypeMismatch naming the column", "[engine][write][errors]") {
  Fixture fx;
  fx.item("i1", "a");
  expectRejected(fx, [&] {
    (void)fx.insert(items, {{items.id, "i2"}, {items.title, "t"}, {items.meta, JsonText{"{not json"}}});
  }, ErrorCode::TypeMismatch, {"items", "meta"});
  (void)fx.insert(items, {{items.id, "i3"}, {items.title, "t"}, {items.meta, JsonText{R"({"ok":true})"}}});
  CHECK(fx.db.get(items, "i3")->get(items.meta) == std::optional<std::string_view>(R"({"ok":true})"));
  // Nesting past the parser's depth says so, and a long value is quoted only in part.
  const std::string deep = std::string(60, '[') + std::string(60, ']');
  try {
    (void)fx.insert(items, {{items.id, "i4"}, {items.title, "t"}, {items.meta, JsonText{deep}}});
    FAIL("a json column took 60 nested arrays");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::TypeMismatch);
    CHECK_THAT(std::string(e.what()), Catch::Contains("too deep") && Catch::Contains("..."));
  }
  // Well-formed, but its JSON form could not carry the number (it reads as infinity).
  expectRejected(fx, [&] {
    (void)fx.insert(items, {{items.id, "i5"}, {items.title, "t"}, {items.meta, JsonText{R"({"a":[1e717]})"}}});
  }, ErrorCode::TypeMismatch, {"items", "meta", "too large for a double"});
  CHECK_FALSE(fx.db.get(items, "i5").has_value());
}

TEST_CASE("a column assigned twice in one statement is an InvalidArgument", "[engine][write][errors]") {
  Fixture fx;
  expectRejected(fx, [&] { (void)fx.insert(items, {{items.id, "i1"}, {items.title, "a"}, {items.title, "b"}}); },
                 ErrorCode::InvalidArgument, {"items", "title"});
}

TEST_CASE("the write context is visible to the transaction", "[engine][write]") {
  Fixture fx;
  fx.db.write([&](Tx& tx) {
    CHECK(tx.context().client_group_id == "g1");
    CHECK(tx.context().client_id == "c1");
    CHECK(tx.context().mutation_id == 77);
  }, WriteContext{"g1", "c1", 77});
}

TEST_CASE("index entries follow updates and deletes of indexed values", "[engine][write][index]") {
  Fixture fx;
  for (int i = 0; i < 10; ++i)
    (void)fx.insert(files, {{files.id, "f" + std::to_string(i)}, {files.label, i % 2 ? "odd" : "even"}});
  auto labelled = [&](const char* label) {
    return fx.db.read([&](const ReadTx& tx) {
      return idsOf(tx.select(files).where(eq(files.label, label)).orderBy({asc(files.id)}).rows());
    });
  };
  CHECK(labelled("odd") == std::vector<std::string>{"f1", "f3", "f5", "f7", "f9"});
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(files).set({{files.label, "prime"}}).where(inArray(files.id, {"f3", "f5", "f7", "f2"})); })
            .rows_affected == 4);
  CHECK(labelled("odd") == std::vector<std::string>{"f1", "f9"});
  CHECK(labelled("even") == std::vector<std::string>{"f0", "f4", "f6", "f8"});
  CHECK(labelled("prime") == std::vector<std::string>{"f2", "f3", "f5", "f7"});
  CHECK(fx.db.write([&](Tx& tx) { return tx.deleteFrom(files).where(eq(files.label, "prime")); }).rows_affected == 4);
  CHECK(labelled("prime").empty());
  CHECK(fx.db.write([&](Tx& tx) { return tx.update(files).set({{files.label, nullptr}}).where(eq(files.id, "f0")); })
            .rows_affected == 1);
  CHECK(labelled("even") == std::vector<std::string>{"f4", "f6", "f8"});
  CHECK(fx.db.read([&](const ReadTx& tx) { return idsOf(tx.select(files).where(isNull(files.label)).rows()); }) ==
        std::vector<std::string>{"f0"});
}

TEST_CASE("an index holds no stale entries after updates and deletes (raw LMDB check)", "[engine][write][index]") {
  TempDir dir;
  std::map<std::string, std::optional<std::string>> rows;  // id -> label
  {
    auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
    db.ensureSchema();
    std::mt19937_64 rng(5);
    for (int step = 0; step < 400; ++step) {
      const std::string id = "f" + std::to_string(rng() % 40);
      const int what = static_cast<int>(rng() % 3);
      std::optional<std::string> label;
      if (rng() % 4 != 0) label = "L" + std::to_string(rng() % 6);
      const Value lv = label ? Value(*label) : Value();
      db.write([&](Tx& tx) {
        if (what == 0 && !rows.count(id)) {
          (void)tx.insert(files).values({{files.id, id}, Assignment(AnyColumn(files.label), lv)});
          rows[id] = label;
        } else if (what == 1 && rows.count(id)) {
          (void)tx.update(files).set({Assignment(AnyColumn(files.label), lv)}).where(eq(files.id, id));
          rows[id] = label;
        } else if (what == 2 && rows.count(id)) {
          (void)tx.deleteFrom(files).where(eq(files.id, id));
          rows.erase(id);
        }
      });
    }
  }
  lmdb::EnvOptions o;
  o.map_size_bytes = plasma_test::fastOptions().map_size_bytes;
  auto env = lmdb::Env::open(dir.path(), o);
  auto txn = lmdb::Txn::beginRead(env);
  auto dbi = txn.openDbi("i/files/by_label", MDB_DUPSORT, false);
  REQUIRE(dbi.has_value());
  std::set<std::pair<std::string, std::string>> entries;  // (key, id)
  lmdb::Cursor cur(txn, *dbi);
  for (bool ok = cur.first(); ok; ok = cur.next()) entries.emplace(cur.key(), cur.value());
  std::set<std::pair<std::string, std::string>> expected_non_null;
  std::size_t null_rows = 0;
  for (const auto& [id, label] : rows) {
    if (label) expected_non_null.emplace(keys::encodeKey(Value(*label)), id);
    else ++null_rows;
  }
  // Every entry belongs to a live row with that value; NULLs may or may not be indexed.
  std::size_t null_entries = 0;
  for (const auto& e : entries) {
    CAPTURE(e.second);
    if (e.first == keys::encodeKey(Value())) {
      ++null_entries;
      REQUIRE(rows.count(e.second) == 1);
      REQUIRE_FALSE(rows.at(e.second).has_value());
    } else {
      REQUIRE(expected_non_null.count(e) == 1);
    }
  }
  CHECK(entries.size() - null_entries == expected_non_null.size());
  CHECK((null_entries == 0 || null_entries == null_rows));
}

TEST_CASE("inserting an empty batch affects no rows and logs nothing", "[engine][write]") {
  Fixture fx;
  CHECK(fx.db.write([&](Tx& tx) { return tx.insert(items).values(std::vector<RowInput>{}); }).rows_affected == 0);
  CHECK(fx.db.headVersion() == 0);
}

TEST_CASE("rows can be updated and deleted while scanning them in the same write transaction",
          "[engine][write][scan]") {
  Fixture fx;
  fx.db.write([&](Tx& tx) {
    for (int i = 0; i < 200; ++i) {
      char id[8];
      std::snprintf(id, sizeof id, "s%03d", i);
      (void)tx.insert(items).values({{items.id, std::string(id)}, {items.title, std::string(1 + i % 7, 'a')}, {items.qty, i}});
    }
  });
  std::size_t seen = 0, bad = 0;
  fx.db.write([&](Tx& tx) {
    // Rows written earlier in this transaction live on dirty pages that the
    // updates below rearrange in place.
    (void)tx.insert(items).values({{items.id, "s999"}, {items.title, "late"}, {items.qty, 999}});
    tx.scan(items, [&](const RowView& r) {
      const std::string id(r.id());
      if (id.size() != 4 || id[0] != 's' || id.find_first_not_of("0123456789", 1) != std::string::npos) {
        if (bad++ == 0) FAIL_CHECK("scan returned a garbled id: '" << id << "' after " << seen << " rows");
        ++seen;
        return true;
      }
      const int i = std::stoi(id.substr(1));
      const auto qty = r.get(items.qty);
      const auto title = r.get(items.title);
      if (qty != std::optional<std::int64_t>(i) ||
          (i != 999 && title != std::optional<std::string_view>(std::string(1 + i % 7, 'a')))) {
        if (bad++ == 0) FAIL_CHECK("row " << id << " read back wrong values during the scan");
      }
      ++seen;
      if (i % 3 == 0) {
        (void)tx.deleteFrom(items).where(eq(items.id, id));
      } else {
        (void)tx.update(items).set({{items.title, std::string(50 + i % 11, 'z')}}).where(eq(items.id, id));
      }
      return true;
    });
  });
  CHECK(bad == 0);
  CHECK(seen == 201);
  // Every row was updated or deleted exactly as the visitor asked.
  std::size_t left = 0, wrong = 0;
  std::string first_wrong;
  fx.db.read([&](const ReadTx& tx) {
    tx.scan(items, [&](const RowView& r) {
      const int i = std::stoi(std::string(r.id()).substr(1));
      if (i % 3 == 0 || r.get(items.title) != std::optional<std::string_view>(std::string(50 + i % 11, 'z'))) {
        if (wrong++ == 0) first_wrong = std::string(r.id());
      }
      ++left;
      return true;
    });
  });
  INFO("first row left wrong: " << first_wrong);
  CHECK(wrong == 0);
  CHECK(left == 133);  // 200 - 67 multiples of 3 below 200 + s999 (999 % 3 == 0: deleted)
}
