// Tx::putRow: a whole row given as its stored FlatBuffers bytes (the client's
// rebase applies pulled rows this way) — verified, then inserted or replacing
// the row, with indexes, constraints, the change log and observers as for an
// ordinary write; identical bytes write nothing; bad bytes are refused and
// leave the database unchanged.
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace plasma;
using plasma_test::captureState;
using plasma_test::expectError;
using plasma_test::TempDir;

namespace {

struct Notes : Table {
  Notes() : Table("notes") {}
  TextColumn id{this, plasma::id()};
  TextColumn title{this, text("title").unique()};
  IntColumn rank{this, integer("rank").defaultTo(0)};
};
const Notes notes;
const Schema schema = defineSchema("put-row-v1", {notes});

std::vector<std::uint8_t> bytesOf(Database& db, std::string_view id) {
  const auto row = db.get(notes, id);
  REQUIRE(row.has_value());
  const auto& b = row->bytes();
  return {b.begin(), b.end()};
}

}  // namespace

TEST_CASE("putRow inserts, replaces and skips identical rows, through indexes and the change log", "[write][putrow]") {
  TempDir src_dir, dst_dir;
  Database src = Database::open(src_dir.path(), schema);
  src.ensureSchema();
  src.write([](Tx& tx) {
    (void)tx.insert(notes).values({{notes.id, std::string("n1")}, {notes.title, std::string("one")}, {notes.rank, 1}});
    (void)tx.insert(notes).values({{notes.id, std::string("n2")}, {notes.title, std::string("two")}, {notes.rank, 2}});
  });
  const auto one = bytesOf(src, "n1");
  const auto two = bytesOf(src, "n2");

  Database dst = Database::open(dst_dir.path(), schema);
  dst.ensureSchema();
  std::vector<RowChange> seen;
  auto sub = dst.onCommit([&](const std::shared_ptr<const CommitEvent>& e) {
    for (const auto& c : e->changes) seen.push_back(c);
  });

  // Insert.
  CHECK(dst.write([&](Tx& tx) { return tx.putRow(notes, "n1", one); }).rows_affected == 1);
  CHECK(dst.get(notes, "n1")->view().get(notes.title).value_or("") == "one");
  CHECK(dst.headVersion() == 1);
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].before.has_value());

  // Identical bytes: nothing written, nothing logged.
  CHECK(dst.write([&](Tx& tx) { return tx.putRow(notes, "n1", one); }).rows_affected == 0);
  CHECK(dst.headVersion() == 1);

  // Replace: n1 takes n2's values (its id stays n1); the unique index moves.
  CHECK(dst.write([&](Tx& tx) { return tx.putRow(notes, "n1", two); }).rows_affected == 1);
  CHECK(dst.get(notes, "n1")->view().get(notes.title).value_or("") == "two");
  CHECK(dst.select().from(notes).where(eq(notes.title, std::string("two"))).all().size() == 1);
  CHECK(dst.select().from(notes).where(eq(notes.title, std::string("one"))).all().size() == 0);
  CHECK(dst.headVersion() == 2);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].before.has_value());

  // A constraint still holds: another id with the same unique title.
  const auto before = captureState(dst, {notes});
  expectError([&] { dst.write([&](Tx& tx) { (void)tx.putRow(notes, "n9", two); }); }, ErrorCode::Unique,
              {"notes", "title"});
  CHECK(captureState(dst, {notes}) == before);
}

TEST_CASE("putRow refuses bytes that are not a row of the table, and an empty id", "[write][putrow]") {
  TempDir dir;
  Database db = Database::open(dir.path(), schema);
  db.ensureSchema();
  const auto before = captureState(db, {notes});
  const std::vector<std::uint8_t> junk{1, 2, 3, 4, 5, 6, 7};
  CHECK_THROWS(db.write([&](Tx& tx) { (void)tx.putRow(notes, "n1", junk); }));
  expectError([&] { db.write([&](Tx& tx) { (void)tx.putRow(notes, "", junk); }); }, ErrorCode::InvalidArgument,
              {"empty id"});
  CHECK(captureState(db, {notes}) == before);
  CHECK_FALSE(db.get(notes, "n1").has_value());
}
