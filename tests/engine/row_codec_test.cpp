// engine/row_codec.hpp: rows are FlatBuffers tables built from the schema.
// The schema-driven verifier accepts what the engine writes and rejects
// malformed bytes with CorruptRow naming the table; old rows read the fill
// value of columns added after them; the emitted .fbs lets flatc read rows.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "engine/lmdb.hpp"
#include "engine/row_codec.hpp"
#include "all_kinds.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;

namespace {

using Kinds = plasma_test::AllKinds;
const Kinds kinds{"kinds"};
const Schema kindsSchema = defineSchema("kinds-v1", {kinds});

// A layout built by hand: slot i for column i.
std::shared_ptr<detail::RowLayout> makeLayout(const TableSpec& spec, std::vector<Value> fill = {}) {
  auto l = std::make_shared<detail::RowLayout>();
  l->spec = &spec;
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) l->slot.push_back(static_cast<std::uint16_t>(i));
  fill.resize(spec.columns.size());
  l->fill = std::move(fill);
  l->max_slot = static_cast<std::uint16_t>(spec.columns.size() - 1);
  l->id_column = 0;
  return l;
}

std::vector<std::uint8_t> encode(const detail::RowLayout& layout, const std::vector<Value>& values) {
  detail::RowEncoder enc;
  auto span = enc.encode(layout, values);
  return {span.begin(), span.end()};
}

std::vector<Value> fullKindsRow(std::string id) {
  return {Value(std::move(id)),
          Value("a title"),
          Value(std::int64_t{-42}),
          Value(std::int64_t{1} << 40),
          Value(true),
          Value(Bytes{0, 1, 2, 255}),
          Value::json(R"({"a":[1,2,3]})"),
          Value(FileRef{"b3:abc", 1234, "image/png"}),
          Value::json(R"({"n":5})"),
          Value::json(R"({"p":{"x":2},"n":{"x":1}})"),
          Value::json(R"({"v":"open","ts":7})"),
          Value::json(R"({"adds":{"x":["t1"]},"removes":{}})")};
}

void expectCorrupt(const detail::RowLayout& layout, std::span<const std::uint8_t> bytes, std::string_view table) {
  expectError([&] { detail::verifyRow(layout, bytes); }, ErrorCode::CorruptRow, {table});
  std::string why;
  CHECK_FALSE(detail::checkRow(layout, bytes, &why));
  CHECK_FALSE(why.empty());
}

// Runs `cmd` through the shell with its output in `log` (shown when a check fails).
int runCommand(const std::string& cmd, const std::filesystem::path& log) {
  const int status = std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Inserts one todo through the engine and returns a copy of its stored bytes.
std::string storedTodoBytes(Database& db, const std::string& id, const std::string& title) {
  db.write([&](Tx& tx) {
    (void)tx.insert(todo::todos).values({{todo::todos.id, id}, {todo::todos.title, title}, {todo::todos.updatedAt, 17}});
  });
  auto row = db.get(todo::todos, id);
  REQUIRE(row.has_value());
  return row->bytes();
}

}  // namespace

TEST_CASE("encoded rows read back every column kind in place", "[engine][rowcodec]") {
  auto layout = makeLayout(kinds.spec());
  const auto values = fullKindsRow("r1");
  const auto bytes = encode(*layout, values);
  RowView view(layout.get(), bytes.data(), bytes.size(), "r1");
  CHECK(view.id() == "r1");
  CHECK(plasma_test::rowValues(view) == values);
  CHECK(view.get(kinds.count) == std::optional<std::int64_t>(-42));
  CHECK(view.get(kinds.flag) == std::optional<bool>(true));
  REQUIRE(view.get(kinds.data).has_value());
  CHECK(std::vector<std::uint8_t>(view.get(kinds.data)->begin(), view.get(kinds.data)->end()) ==
        std::vector<std::uint8_t>{0, 1, 2, 255});
  CHECK(view.get(kinds.attachment) == std::optional<FileRef>(FileRef{"b3:abc", 1234, "image/png"}));
  CHECK_NOTHROW(detail::verifyRow(*layout, view.bytes()));

  // NULLs in nullable columns read as NULL.
  std::vector<Value> sparse(kinds.spec().columns.size());
  sparse[0] = Value("r2");
  sparse[1] = Value("t");
  sparse[2] = Value(std::int64_t{0});
  const auto sparse_bytes = encode(*layout, sparse);
  RowView sv(layout.get(), sparse_bytes.data(), sparse_bytes.size(), "r2");
  CHECK(plasma_test::rowValues(sv) == sparse);
  CHECK(sv.isNull(kinds.big));
  CHECK_FALSE(sv.get(kinds.meta).has_value());
  CHECK_NOTHROW(detail::verifyRow(*layout, sv.bytes()));

  // toOwned keeps the bytes and the values.
  OwnedRow owned = sv.toOwned();
  CHECK(owned.bytes() == plasma_test::str(sv.bytes()));
  CHECK(owned.id() == "r2");
  CHECK(plasma_test::rowValues(owned.view()) == sparse);

  // A handle of another table is not a column of this row.
  expectError([&] { (void)view.get(AnyColumn(todo::todos.title)); }, ErrorCode::UnknownColumn, {"kinds"});
  expectError([&] { (void)view.get(std::uint32_t{99}); }, ErrorCode::UnknownColumn, {"kinds"});
  // toJson renders every column.
  const auto json = view.toJson();
  CHECK(json.at("id") == "r1");
  CHECK(json.at("count") == -42);
  CHECK(json.at("meta").at("a").as_array().size() == 3);
  CHECK(json.at("attachment").at("mime") == "image/png");
  CHECK(json.at("data") == "AAEC/w==");
}

TEST_CASE("a column beyond an old row's vtable reads its fill value - a NULL inside reads NULL",
          "[engine][rowcodec]") {
  // Old rows were written when `todos` had only id and title (slots 0, 1).
  struct Narrow : Table {
    Narrow() : Table("todos") {}
    TextColumn id{this, plasma::id()};
    TextColumn title{this, text("title")};
  };
  struct Wide : Table {
    Wide() : Table("todos") {}
    TextColumn id{this, plasma::id()};
    TextColumn title{this, text("title")};
    IntColumn priority{this, integer("priority").defaultTo(3)};
    TextColumn note{this, text("note").nullable()};
  };
  const Narrow narrow;
  const Wide wide;
  auto old_layout = makeLayout(narrow.spec());
  auto new_layout = makeLayout(wide.spec(), {Value(), Value(), Value(std::int64_t{3}), Value()});

  const auto old_bytes = encode(*old_layout, {Value("old"), Value("written before")});
  RowView old_row(new_layout.get(), old_bytes.data(), old_bytes.size(), "old");
  CHECK(old_row.get(wide.priority) == std::optional<std::int64_t>(3));
  CHECK_FALSE(old_row.get(wide.note).has_value());
  CHECK(old_row.get(wide.title) == std::optional<std::string_view>("written before"));
  CHECK_NOTHROW(detail::verifyRow(*new_layout, old_row.bytes()));

  // A new row with NULL in the last (nullable) column: the padded vtable makes
  // it NULL, not the fill value.
  auto fill_note = makeLayout(wide.spec(), {Value(), Value(), Value(std::int64_t{3}), Value("FILL")});
  const auto new_bytes = encode(*fill_note, {Value("new"), Value("t"), Value(std::int64_t{9}), Value()});
  RowView new_row(fill_note.get(), new_bytes.data(), new_bytes.size(), "new");
  CHECK_FALSE(new_row.get(wide.note).has_value());
  CHECK(new_row.get(wide.priority) == std::optional<std::int64_t>(9));
}

TEST_CASE("the verifier accepts every row the engine wrote", "[engine][rowcodec]") {
  TempDir dir;
  auto db = Database::open(dir.path(), kindsSchema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    auto v = fullKindsRow("full");
    RowInput full;
    for (std::uint32_t i = 0; i < v.size(); ++i) full.emplace_back(AnyColumn{&kinds.spec(), i}, v[i]);
    CHECK(tx.insert(kinds).values(full).rows_affected == 1);
    CHECK(tx.insert(kinds).values({{kinds.id, "sparse"}, {kinds.title, "t"}}).rows_affected == 1);
  });
  std::size_t seen = 0;
  db.read([&](const ReadTx& tx) {
    tx.scan(kinds, [&](const RowView& r) {
      ++seen;
      CHECK_NOTHROW(detail::verifyRow(r.layout(), r.bytes()));
      std::string why;
      CHECK(detail::checkRow(r.layout(), r.bytes(), &why));
      CHECK(why.empty());
      return true;
    });
  });
  CHECK(seen == 2);
  auto full = db.get(kinds, "full");
  REQUIRE(full.has_value());
  CHECK(plasma_test::rowValues(full->view()) == fullKindsRow("full"));
  auto sparse = db.get(kinds, "sparse");
  REQUIRE(sparse.has_value());
  CHECK(sparse->get(kinds.count) == std::optional<std::int64_t>(3));  // default applied
  CHECK(sparse->view().isNull(kinds.attachment));
}

TEST_CASE("the verifier rejects malformed row bytes with CorruptRow naming the table", "[engine][rowcodec]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  const std::string good = storedTodoBytes(db, "t1", "buy milk");
  auto row = db.get(todo::todos, "t1");
  REQUIRE(row.has_value());
  const detail::RowLayout& layout = row->view().layout();
  const auto goodSpan = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(good.data()), good.size());
  REQUIRE_NOTHROW(detail::verifyRow(layout, goodSpan));

  SECTION("an empty buffer") { expectCorrupt(layout, {}, "todos"); }

  SECTION("random garbage") {
    std::mt19937_64 rng(1234);
    for (int i = 0; i < 2000; ++i) {
      std::vector<std::uint8_t> junk(rng() % 160);
      for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
      CAPTURE(i, junk.size());
      REQUIRE_FALSE(detail::checkRow(layout, junk, nullptr));
    }
    std::vector<std::uint8_t> junk(64, 0xAB);
    expectCorrupt(layout, junk, "todos");
  }

  SECTION("garbage mutations of a valid row") {
    // Flipping bytes of a valid row must never crash the verifier; whatever it
    // accepts must read back safely (run under ASan to make that strict).
    std::mt19937_64 rng(77);
    for (int i = 0; i < 3000; ++i) {
      std::string bad = good;
      for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
      const auto span = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size());
      if (detail::checkRow(layout, span, nullptr)) {
        RowView v(&layout, span.data(), span.size(), "t1");
        REQUIRE(plasma_test::rowValues(v).size() == todo::todos.spec().columns.size());
      }
    }
    SUCCEED();
  }

  SECTION("truncated rows") {
    REQUIRE(good.size() > 16);
    for (std::size_t len = 0; len + 8 <= good.size(); ++len) {
      CAPTURE(len, good.size());
      REQUIRE_FALSE(detail::checkRow(layout, goodSpan.first(len), nullptr));
    }
    expectCorrupt(layout, goodSpan.first(good.size() / 2), "todos");
  }

  SECTION("a row that carries its id inside the bytes (the id is the key)") {
    // The encoder leaves the id slot empty whatever the id value ...
    CHECK(encode(layout, {Value("x"), Value("title"), Value(std::int64_t{0}), Value(std::int64_t{1}), Value("me"),
                          Value(std::int64_t{0})}) ==
          encode(layout, {Value(), Value("title"), Value(std::int64_t{0}), Value(std::int64_t{1}), Value("me"),
                          Value(std::int64_t{0})}));
    // ... and the verifier rejects a row whose id slot is filled.
    flatbuffers::FlatBufferBuilder b;
    const auto id = b.CreateString("t9");
    const auto title = b.CreateString("title");
    const auto start = b.StartTable();
    b.AddElement<std::int64_t>(8, 0);
    b.AddElement<std::int64_t>(10, 1);
    b.AddOffset(4, id);
    b.AddOffset(6, title);
    b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)));
    expectCorrupt(layout, {b.GetBufferPointer(), b.GetSize()}, "todos");
  }

  SECTION("a row missing a NOT NULL column") {
    const auto no_title = encode(layout, {Value("x"), Value(), Value(std::int64_t{0}), Value(std::int64_t{1}),
                                          Value("me"), Value(std::int64_t{0})});
    auto err = expectError([&] { detail::verifyRow(layout, no_title); }, ErrorCode::CorruptRow, {"todos", "title"});
    (void)err;
  }

  SECTION("a valid FlatBuffer of another shape") {
    // Slot 0 (id, a string) holds a 32-bit scalar that is no valid offset.
    flatbuffers::FlatBufferBuilder b;
    const auto start = b.StartTable();
    b.AddElement<std::uint32_t>(4, 0x7FFFFFF0u);
    b.AddElement<std::int64_t>(8, 5);
    b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)));
    expectCorrupt(layout, {b.GetBufferPointer(), b.GetSize()}, "todos");

    // A row of a wider table: fields in slots todos does not have.
    auto kl = makeLayout(kinds.spec());
    const auto wide = encode(*kl, fullKindsRow("k1"));
    expectCorrupt(layout, wide, "todos");

    // A change-log-entry-shaped buffer: op ubyte in slot 0, strings after.
    flatbuffers::FlatBufferBuilder c;
    const auto tname = c.CreateString("todos");
    const auto tid = c.CreateString("t1");
    const auto cstart = c.StartTable();
    c.AddOffset(6, tname);
    c.AddOffset(8, tid);
    c.AddElement<std::uint8_t>(4, 1, 0);
    c.Finish(flatbuffers::Offset<flatbuffers::Table>(c.EndTable(cstart)));
    expectCorrupt(layout, {c.GetBufferPointer(), c.GetSize()}, "todos");
  }

  SECTION("a json column holding malformed JSON") {
    auto kl = makeLayout(kinds.spec());
    auto values = fullKindsRow("k2");
    values[6] = Value::json("{not json");
    const auto bad = encode(*kl, values);
    expectError([&] { detail::verifyRow(*kl, bad); }, ErrorCode::CorruptRow, {"kinds", "meta"});
  }

  // Whatever was rejected, the stored row is untouched.
  CHECK(db.get(todo::todos, "t1")->bytes() == good);
}

TEST_CASE("a corrupted stored row is reported as CorruptRow when rows are verified on read",
          "[engine][rowcodec]") {
  TempDir dir;
  {
    auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
    db.ensureSchema();
    (void)storedTodoBytes(db, "t1", "fine");
    (void)storedTodoBytes(db, "t2", "to be damaged");
  }
  {
    // Damage t2 behind the engine's back, in its row table t/todos.
    lmdb::EnvOptions o;
    o.map_size_bytes = plasma_test::fastOptions().map_size_bytes;
    auto env = lmdb::Env::open(dir.path(), o);
    auto txn = lmdb::Txn::beginWrite(env);
    auto dbi = txn.openDbi("t/todos", 0, false);
    REQUIRE(dbi.has_value());
    REQUIRE(txn.get(*dbi, "t2").has_value());
    CHECK(txn.put(*dbi, "t2", std::string(24, '\x7f')));
    txn.commit();
  }
  auto opts = plasma_test::fastOptions();
  opts.verify_rows_on_read = true;
  auto db = Database::open(dir.path(), todo::schema, opts);
  db.ensureSchema();
  auto t1 = db.get(todo::todos, "t1");
  REQUIRE(t1.has_value());
  CHECK(t1->get(todo::todos.title) == std::optional<std::string_view>("fine"));
  expectError([&] { (void)db.get(todo::todos, "t2"); }, ErrorCode::CorruptRow, {"todos"});
  expectError([&] { (void)db.read([&](const ReadTx& tx) { return plasma_test::tableState(tx, todo::todos); }); },
              ErrorCode::CorruptRow, {"todos"});
}

TEST_CASE("the emitted .fbs compiles with flatc and flatc reads a stored row", "[engine][rowcodec][fbs]") {
  TempDir dir;
  auto db = Database::open(dir / "db", todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  const std::string bytes = storedTodoBytes(db, "todo-42", "water the plants");

  const std::string fbs = db.emitFbs("todos");
  INFO(fbs);
  CHECK_THAT(fbs, Catch::Contains("todos"));
  CHECK_THAT(fbs, Catch::Contains("root_type"));
  writeFile(dir / "schema.fbs", fbs);
  writeFile(dir / "row.bin", bytes);
  const auto out = dir / "out";
  std::filesystem::create_directories(out);
  const std::string flatc = PLASMA_FLATC;
  const std::string cmd = "'" + flatc + "' --json --raw-binary --strict-json -o '" + out.string() + "' '" +
                          (dir / "schema.fbs").string() + "' -- '" + (dir / "row.bin").string() + "'";
  INFO(cmd);
  const int rc = runCommand(cmd, dir / "flatc.log");
  INFO(slurp(dir / "flatc.log"));
  REQUIRE(rc == 0);
  const std::string json = slurp(out / "row.json");
  INFO(json);
  // The id is the row's key, not part of its bytes: flatc sees every other column.
  CHECK_THAT(json, Catch::Contains("\"water the plants\""));
  CHECK_THAT(json, Catch::Contains("17"));
  CHECK_THAT(json, Catch::Contains("\"updatedAt\""));

  // The schema also compiles to C++.
  const std::string cpp = "'" + flatc + "' --cpp -o '" + out.string() + "' '" + (dir / "schema.fbs").string() + "'";
  const int cpp_rc = runCommand(cpp, dir / "flatc-cpp.log");
  INFO(slurp(dir / "flatc-cpp.log"));
  CHECK(cpp_rc == 0);

  expectError([&] { (void)db.emitFbs("nope"); }, ErrorCode::UnknownTable, {"nope"});
}

TEST_CASE("the emitted .fbs covers every column kind and flatc reads such a row", "[engine][rowcodec][fbs]") {
  TempDir dir;
  auto db = Database::open(dir / "db", kindsSchema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    auto v = fullKindsRow("k-1");
    RowInput full;
    for (std::uint32_t i = 0; i < v.size(); ++i) full.emplace_back(AnyColumn{&kinds.spec(), i}, v[i]);
    (void)tx.insert(kinds).values(full);
  });
  const std::string fbs = db.emitFbs("kinds");
  INFO(fbs);
  writeFile(dir / "kinds.fbs", fbs);
  writeFile(dir / "row.bin", db.get(kinds, "k-1")->bytes());
  const auto out = dir / "out";
  std::filesystem::create_directories(out);
  const std::string flatc = PLASMA_FLATC;
  const int rc = runCommand("'" + flatc + "' --json --raw-binary --strict-json -o '" + out.string() + "' '" +
                                (dir / "kinds.fbs").string() + "' -- '" + (dir / "row.bin").string() + "'",
                            dir / "flatc.log");
  INFO(slurp(dir / "flatc.log"));
  REQUIRE(rc == 0);
  const std::string json = slurp(out / "row.json");
  INFO(json);
  CHECK_THAT(json, Catch::Contains("\"a title\""));
  CHECK_THAT(json, Catch::Contains("-42"));
  CHECK_THAT(json, Catch::Contains("1099511627776"));
  CHECK_THAT(json, Catch::Contains("\"b3:abc\""));
  CHECK_THAT(json, Catch::Contains("\"image/png\""));
  CHECK_THAT(json, Catch::Contains("1234"));
}
