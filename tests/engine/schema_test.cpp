// The schema DSL: every column type and modifier builds; defineSchema rejects
// what cannot be built with SchemaInvalid naming the table and column; typed
// column handles reject literals of the wrong kind at compile time.
#include <any>
#include <set>
#include <string>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::expectError;

namespace {

// ---- compile-time checks ---------------------------------------------------

template <class C, class V>
concept CanEq = requires(const C& c, V v) { plasma::eq(c, v); };
template <class C, class V>
concept CanGt = requires(const C& c, V v) { plasma::gt(c, v); };
template <class C>
concept CanLike = requires(const C& c) { plasma::like(c, std::string("x%")); };
template <class C, class V>
concept CanInArray = requires(const C& c, std::vector<V> v) { plasma::inArray(c, v); };
template <class D, class V>
concept CanDefault = requires(D d, V v) { std::move(d).defaultTo(v); };

// eq(todos.done, "x") does not compile; eq(todos.done, 1) does.
static_assert(!CanEq<decltype(todo::todos.done), const char*>);
static_assert(!CanEq<decltype(todo::todos.done), std::string>);
static_assert(!CanEq<decltype(todo::todos.done), bool>);
static_assert(CanEq<decltype(todo::todos.done), int>);
static_assert(CanEq<decltype(todo::todos.done), std::int64_t>);
static_assert(!CanEq<decltype(todo::todos.title), int>);
static_assert(CanEq<decltype(todo::todos.title), const char*>);
static_assert(CanEq<decltype(todo::todos.title), std::string>);
static_assert(!CanGt<decltype(todo::todos.updatedAt), const char*>);
static_assert(CanGt<decltype(todo::todos.updatedAt), long>);
static_assert(!CanLike<decltype(todo::todos.done)>);
static_assert(CanLike<decltype(todo::todos.title)>);
static_assert(!CanInArray<decltype(todo::todos.done), std::string>);
static_assert(CanInArray<decltype(todo::todos.done), std::int64_t>);
static_assert(!CanDefault<ColumnDef<Kind::Integer>, const char*>);
static_assert(CanDefault<ColumnDef<Kind::Integer>, int>);
static_assert(!CanDefault<ColumnDef<Kind::Text>, int>);
static_assert(!CanDefault<ColumnDef<Kind::Boolean>, int>);
static_assert(CanDefault<ColumnDef<Kind::Boolean>, bool>);
// Column vs column of different kinds does not compile either. (A requires-
// expression outside a template is a hard error when ill-formed, so every
// check goes through a concept whose operands are template parameters.)
template <class A, class B>
concept CanEqCols = requires(const A& a, const B& b) { plasma::eq(a, b); };
static_assert(!CanEqCols<decltype(todo::todos.done), decltype(todo::todos.title)>);
static_assert(CanEqCols<decltype(todo::todos.done), decltype(todo::todos.updatedAt)>);

// ---- tables used by the run-time checks ------------------------------------

struct Parents : Table {
  Parents() : Table("parents") {}
  TextColumn id{this, plasma::id()};
};
const Parents parents;

struct Everything : Table {
  static TableOptions options() {
    TableOptions o;
    o.change_log_suppressed = true;
    o.auth.read = [](const std::any& ctx) -> Expr {
      return lit(Value(std::any_cast<std::string>(ctx)));
    };
    o.resolve_conflict = [](const auto& server, const auto&) { return server; };
    return o;
  }
  Everything() : Table("everything", options()) {
    index("by_count", {count});
    index("by_text_count", {name, count});
    uniqueIndex("uniq_pair", {name, big});
  }
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name").unique()};
  IntColumn count{this, integer("count").defaultTo(7)};
  IntColumn big{this, bigint("big").nullable()};
  BoolColumn flag{this, boolean("flag").defaultTo(true)};
  BlobColumn data{this, blob("data").nullable().encrypted()};
  JsonColumn meta{this, json("meta").nullable()};
  FileColumn attachment{this, file("attachment", FileOptions{1024, {"image/png"}, true}).nullable()};
  JsonColumn likes{this, crdtCounter("likes").nullable()};
  JsonColumn score{this, crdtPnCounter("score").nullable()};
  JsonColumn status{this, crdtLwwRegister("status").nullable()};
  JsonColumn tags{this, crdtOrSet("tags").nullable()};
  TextColumn parentId{this, text("parentId").nullable().ref("parents", OnDelete::SetNull)};
  TextColumn ownerId{this, text("ownerId").nullable().ref(parents.id, OnDelete::Cascade)};
  TextColumn secret{this, text("secret").defaultTo("s").encrypted()};
};

}  // namespace

TEST_CASE("every column type and modifier builds into the table spec", "[engine][schema]") {
  const Everything e;
  const Schema s = defineSchema("everything-v1", {parents, e});

  CHECK(s.version() == "everything-v1");
  REQUIRE(s.tables().size() == 2);
  CHECK(s.tables()[0]->name == "parents");
  CHECK(s.tables()[1]->name == "everything");
  REQUIRE(s.find("everything") != nullptr);
  CHECK(s.find("everything")->name == "everything");
  CHECK(s.find("everything")->columns.size() == e.spec().columns.size());
  CHECK(s.find("nope") == nullptr);

  const TableSpec& t = e.spec();
  REQUIRE(t.columns.size() == 15);
  const std::vector<std::pair<std::string, ColumnType>> expected = {
      {"id", ColumnType::Id},
      {"name", ColumnType::Text},
      {"count", ColumnType::Integer},
      {"big", ColumnType::Bigint},
      {"flag", ColumnType::Boolean},
      {"data", ColumnType::Blob},
      {"meta", ColumnType::Json},
      {"attachment", ColumnType::File},
      {"likes", ColumnType::CrdtCounter},
      {"score", ColumnType::CrdtPnCounter},
      {"status", ColumnType::CrdtLwwRegister},
      {"tags", ColumnType::CrdtOrSet},
      {"parentId", ColumnType::Text},
      {"ownerId", ColumnType::Text},
      {"secret", ColumnType::Text},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("column " << i << " " << expected[i].first);
    CHECK(t.columns[i].name == expected[i].first);
    CHECK(t.columns[i].type == expected[i].second);
    CHECK(t.findColumn(expected[i].first) == static_cast<int>(i));
  }
  CHECK(t.findColumn("missing") == -1);

  // Handles know their table, index and spec.
  CHECK(&e.count.table() == &t);
  CHECK(e.count.index() == 2);
  CHECK(e.count.name() == "count");
  CHECK(e.attachment.index() == 7);

  // Modifiers.
  CHECK_FALSE(t.columns[0].nullable);
  CHECK(t.columns[1].unique);
  CHECK_FALSE(t.columns[1].nullable);
  REQUIRE(t.columns[2].default_value.has_value());
  CHECK(*t.columns[2].default_value == Value(7));
  CHECK(t.columns[3].nullable);
  REQUIRE(t.columns[4].default_value.has_value());
  CHECK(*t.columns[4].default_value == Value(true));
  CHECK(t.columns[5].encrypted);
  CHECK_FALSE(t.columns[1].encrypted);
  CHECK(t.columns[7].file.max_size_bytes == 1024);
  CHECK(t.columns[7].file.mime_allow_list == std::vector<std::string>{"image/png"});
  CHECK(t.columns[7].file.immutable);
  REQUIRE(t.columns[12].ref.has_value());
  CHECK(t.columns[12].ref->table == "parents");
  CHECK(t.columns[12].ref->on_delete == OnDelete::SetNull);
  REQUIRE(t.columns[13].ref.has_value());
  CHECK(t.columns[13].ref->table == "parents");
  CHECK(t.columns[13].ref->on_delete == OnDelete::Cascade);
  CHECK_FALSE(t.columns[1].ref.has_value());
  REQUIRE(t.columns[14].default_value.has_value());
  CHECK(*t.columns[14].default_value == Value("s"));
  CHECK(t.columns[14].encrypted);

  // Storage kinds per type.
  CHECK(t.columns[0].kind() == Kind::Text);
  CHECK(t.columns[2].kind() == Kind::Integer);
  CHECK(t.columns[3].kind() == Kind::Integer);
  CHECK(t.columns[4].kind() == Kind::Boolean);
  CHECK(t.columns[5].kind() == Kind::Blob);
  CHECK(t.columns[6].kind() == Kind::Json);
  CHECK(t.columns[7].kind() == Kind::File);
  for (std::size_t i = 8; i <= 11; ++i) CHECK(t.columns[i].kind() == Kind::Json);

  // Declared indexes.
  auto findIndex = [&](std::string_view name) -> const IndexSpec* {
    for (const auto& ix : t.indexes)
      if (ix.name == name) return &ix;
    return nullptr;
  };
  const IndexSpec* byCount = findIndex("by_count");
  REQUIRE(byCount != nullptr);
  CHECK(byCount->columns == std::vector<std::string>{"count"});
  CHECK_FALSE(byCount->unique);
  const IndexSpec* composite = findIndex("by_text_count");
  REQUIRE(composite != nullptr);
  CHECK(composite->columns == std::vector<std::string>{"name", "count"});
  const IndexSpec* pair = findIndex("uniq_pair");
  REQUIRE(pair != nullptr);
  CHECK(pair->unique);
  CHECK(pair->columns == std::vector<std::string>{"name", "big"});

  // Table options and the auth / conflict slots.
  CHECK(t.options.change_log_suppressed);
  REQUIRE(t.options.auth.read);
  CHECK_FALSE(t.options.auth.write);
  Expr readPred = t.options.auth.read(std::any(std::string("user-1")));
  REQUIRE(readPred);
  CHECK(readPred.node().op == ExprOp::Literal);
  CHECK(readPred.node().value == Value("user-1"));
  REQUIRE(t.options.resolve_conflict);
  std::vector<std::pair<std::string, Value>> server{{"name", Value("s")}}, client{{"name", Value("c")}};
  CHECK(t.options.resolve_conflict(server, client) == server);

  // The todo example's table is not suppressed and declares its columns in order.
  CHECK_FALSE(todo::todos.spec().options.change_log_suppressed);
  CHECK(todo::schema.version() == "todos-v2");
  CHECK(todo::todos.id.index() == 0);
  CHECK(todo::todos.title.index() == 1);
  CHECK(todo::todos.done.index() == 2);
  CHECK(todo::todos.updatedAt.index() == 3);
  CHECK(todo::todos.owner.index() == 4);
  CHECK(todo::todos.shared.index() == 5);
  CHECK(todo::todos.spec().options.auth.read);
  CHECK(todo::todos.spec().options.auth.write);
}

TEST_CASE("column type and kind names are distinct and non-empty", "[engine][schema]") {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(ColumnType::CrdtOrSet); ++i) {
    auto n = columnTypeName(static_cast<ColumnType>(i));
    CHECK_FALSE(n.empty());
    names.emplace(n);
  }
  CHECK(names.size() == 12);
  CHECK(storageKind(ColumnType::Id) == Kind::Text);
  CHECK(storageKind(ColumnType::Bigint) == Kind::Integer);
  CHECK(storageKind(ColumnType::CrdtOrSet) == Kind::Json);
  CHECK(storageKind(ColumnType::File) == Kind::File);
  std::set<std::string> kinds;
  for (int i = 0; i <= static_cast<int>(Kind::File); ++i) kinds.emplace(kindName(static_cast<Kind>(i)));
  CHECK(kinds.size() == 8);
  std::set<std::string> actions;
  for (auto a : {OnDelete::NoAction, OnDelete::Cascade, OnDelete::Restrict, OnDelete::SetNull})
    actions.emplace(onDeleteName(a));
  CHECK(actions.size() == 4);
}

namespace {

struct NoId : Table {
  NoId() : Table("noid") {}
  TextColumn title{this, text("title")};
};
struct TextNamedId : Table {
  TextNamedId() : Table("textid") {}
  TextColumn id{this, text("id")};
  TextColumn title{this, text("title")};
};
struct TwoIds : Table {
  TwoIds() : Table("twoids") {}
  TextColumn id{this, plasma::id()};
  TextColumn id2{this, plasma::id()};
};
struct DupColumns : Table {
  DupColumns() : Table("dupcols") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
  IntColumn title2{this, integer("title")};
};
struct NamedTable : Table {
  explicit NamedTable(std::string name) : Table(std::move(name)) {}
  TextColumn id{this, plasma::id()};
};
struct BadColumnName : Table {
  explicit BadColumnName(std::string col) : Table("badcol") , bad(this, text(std::move(col))) {}
  TextColumn id{this, plasma::id()};
  TextColumn bad;
};
struct SetNullNotNull : Table {
  SetNullNotNull() : Table("children") {}
  TextColumn id{this, plasma::id()};
  TextColumn parentId{this, text("parentId").ref("parents", OnDelete::SetNull)};
};
struct RefGhost : Table {
  RefGhost() : Table("orphans") {}
  TextColumn id{this, plasma::id()};
  TextColumn ghostId{this, text("ghostId").ref("ghosts", OnDelete::Cascade)};
};
struct Elsewhere : Table {
  Elsewhere() : Table("elsewhere") {}
  TextColumn id{this, plasma::id()};
  IntColumn remote{this, integer("remoteOnly")};
};
const Elsewhere elsewhere;
struct IndexUnknown : Table {
  IndexUnknown() : Table("indexed") { index("by_remote", {elsewhere.remote}); }
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title")};
};

}  // namespace

TEST_CASE("defineSchema rejects a table without an id column", "[engine][schema]") {
  expectError([] { NoId t; (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid, {"noid"});
}

TEST_CASE("defineSchema rejects a text column named id instead of plasma::id()", "[engine][schema]") {
  expectError([] { TextNamedId t; (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid,
              {"textid", "id"});
}

TEST_CASE("defineSchema rejects two id columns", "[engine][schema]") {
  expectError([] { TwoIds t; (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid, {"twoids"});
}

TEST_CASE("defineSchema rejects duplicate column names", "[engine][schema]") {
  expectError([] { DupColumns t; (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid,
              {"dupcols", "title"});
}

TEST_CASE("defineSchema rejects duplicate table names", "[engine][schema]") {
  NamedTable a("things");
  NamedTable b("things");
  expectError([&] { (void)defineSchema("v1", {a, b}); }, ErrorCode::SchemaInvalid, {"things"});
  // The same table listed twice is a duplicate too.
  expectError([&] { (void)defineSchema("v1", {a, a}); }, ErrorCode::SchemaInvalid, {"things"});
}

TEST_CASE("defineSchema rejects table names that are not identifiers", "[engine][schema]") {
  for (std::string bad : {"1todos", "has space", "dash-name", "semi;colon", "dot.name", "slash/name"}) {
    INFO("table name '" << bad << "'");
    expectError([&] { NamedTable t(bad); (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid, {bad});
  }
  expectError([] { NamedTable t(""); (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid);
}

TEST_CASE("defineSchema rejects column names that are not identifiers", "[engine][schema]") {
  for (std::string bad : {"9lives", "two words", "a-b", "quote\"d", "x.y"}) {
    INFO("column name '" << bad << "'");
    expectError([&] { BadColumnName t(bad); (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid,
                {"badcol", bad});
  }
  expectError([] { BadColumnName t(""); (void)defineSchema("v1", {t}); }, ErrorCode::SchemaInvalid, {"badcol"});
}

TEST_CASE("identifiers with underscores, digits and camel case are accepted", "[engine][schema]") {
  NamedTable t("todo_items_2");
  BadColumnName c("updatedAt_2");
  const Schema s = defineSchema("v1", {t, c});
  CHECK(s.find("todo_items_2") != nullptr);
  CHECK(c.spec().findColumn("updatedAt_2") == 1);
}

TEST_CASE("defineSchema rejects setNull on a NOT NULL column", "[engine][schema]") {
  expectError([] { SetNullNotNull t; (void)defineSchema("v1", {parents, t}); }, ErrorCode::SchemaInvalid,
              {"children", "parentId"});
}

TEST_CASE("defineSchema rejects a ref to a table outside the schema", "[engine][schema]") {
  expectError([] { RefGhost t; (void)defineSchema("v1", {parents, t}); }, ErrorCode::SchemaInvalid,
              {"orphans", "ghostId", "ghosts"});
}

TEST_CASE("defineSchema rejects an index over a column its table does not have", "[engine][schema]") {
  expectError([] { IndexUnknown t; (void)defineSchema("v1", {t, elsewhere}); }, ErrorCode::SchemaInvalid,
              {"indexed", "by_remote"});
}

TEST_CASE("defineSchema rejects an empty version string", "[engine][schema]") {
  expectError([] { (void)defineSchema("", {todo::todos}); }, ErrorCode::SchemaInvalid, {"version"});
}
