// Savepoints (Tx::savepoint) and auth.write enforcement (Tx::enforceWriteAuth).
#include <any>
#include <memory>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

const auto& todos = todo::todos;

RowInput todoRow(const std::string& id, const std::string& title, const std::string& owner = "alice") {
  return {{todos.id, id}, {todos.title, title}, {todos.updatedAt, 1}, {todos.owner, owner}};
}

}  // namespace

TEST_CASE("a savepoint that throws undoes exactly its writes and leaves the transaction usable",
          "[engine][savepoint]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  std::vector<std::shared_ptr<const CommitEvent>> events;
  auto sub = db.onCommit([&](const std::shared_ptr<const CommitEvent>& e) { events.push_back(e); });

  db.write([&](Tx& tx) {
    (void)tx.insert(todos).values(todoRow("a", "kept before"));
    CHECK_THROWS_AS(tx.savepoint([&](Tx& inner) {
      (void)inner.insert(todos).values(todoRow("b", "undone"));
      (void)inner.update(todos).set({{todos.title, "changed inside"}}).where(eq(todos.id, "a"));
      throw std::runtime_error("mutator failed");
    }),
                    std::runtime_error);
    // The transaction goes on: earlier writes stay, the savepoint's are gone.
    CHECK(tx.get(todos, "a")->get(todos.title) == std::optional<std::string_view>("kept before"));
    CHECK_FALSE(tx.get(todos, "b").has_value());
    tx.savepoint([&](Tx& inner) { (void)inner.insert(todos).values(todoRow("c", "kept after")); });
    // A failed statement inside a savepoint does not poison the outer transaction.
    CHECK_THROWS(tx.savepoint([&](Tx& inner) { (void)inner.insert(todos).values(todoRow("a", "duplicate")); }));
    (void)tx.insert(todos).values(todoRow("d", "still usable"));
  });

  CHECK(plasma_test::idsOf(db, todos) == std::vector<std::string>{"a", "c", "d"});
  CHECK(db.get(todos, "a")->get(todos.title) == std::optional<std::string_view>("kept before"));
  // The change log holds exactly the surviving writes, gapless.
  const auto log = db.logEntries(0);
  REQUIRE(log.size() == 3);
  CHECK(log[0].id == "a");
  CHECK(log[1].id == "c");
  CHECK(log[2].id == "d");
  CHECK(log[2].version == 3);
  // Commit observers see the net effect, not the undone writes.
  REQUIRE(events.size() == 1);
  REQUIRE(events[0]->changes.size() == 3);
  for (const auto& c : events[0]->changes) {
    CHECK(c.id != "b");
    if (c.id == "a") CHECK(c.after->get(todos.title) == std::optional<std::string_view>("kept before"));
  }
}

TEST_CASE("nested savepoints roll back to their own start", "[engine][savepoint]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    tx.savepoint([&](Tx& outer) {
      (void)outer.insert(todos).values(todoRow("x", "outer"));
      CHECK_THROWS(outer.savepoint([&](Tx& inner) {
        (void)inner.update(todos).set({{todos.title, "inner"}}).where(eq(todos.id, "x"));
        (void)inner.insert(todos).values(todoRow("y", "inner"));
        throw std::runtime_error("inner fails");
      }));
      CHECK(outer.get(todos, "x")->get(todos.title) == std::optional<std::string_view>("outer"));
      CHECK_FALSE(outer.get(todos, "y").has_value());
    });
  });
  CHECK(plasma_test::idsOf(db, todos) == std::vector<std::string>{"x"});
  CHECK(db.headVersion() == 1);
  // Indexes and the log agree with the rows: a query through the id sees one row.
  CHECK(db.select().from(todos).rows().size() == 1);
}

TEST_CASE("auth.write rejects inserts, updates and deletes the ctx may not make", "[engine][auth]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) { (void)tx.insert(todos).values(todoRow("mine", "alice's", "alice")); });
  const auto bob = std::make_shared<const std::any>(todo::Ctx{"bob"});
  const auto alice = std::make_shared<const std::any>(todo::Ctx{"alice"});
  const auto before = plasma_test::captureState(db, {todos});

  auto refused = [&](auto&& statement, const char* fragment) {
    plasma_test::expectError(
        [&] {
          db.write([&](Tx& tx) {
            tx.enforceWriteAuth(bob);
            statement(tx);
          });
        },
        ErrorCode::Unauthorized, {fragment, "todos"});
  };
  refused([](Tx& tx) { (void)tx.insert(todos).values(todoRow("x", "as alice", "alice")); }, "insert");
  refused([](Tx& tx) { (void)tx.update(todos).set({{todos.title, "hijack"}}).where(eq(todos.id, "mine")); },
          "update");
  refused([](Tx& tx) { (void)tx.deleteFrom(todos).where(eq(todos.id, "mine")); }, "delete");
  CHECK(plasma_test::captureState(db, {todos}) == before);
  // Moving one's own row to someone else is an update whose new image fails.
  db.write([&](Tx& tx) { (void)tx.insert(todos).values(todoRow("bobs", "bob's", "bob")); });
  const auto with_bobs = plasma_test::captureState(db, {todos});
  refused([](Tx& tx) { (void)tx.update(todos).set({{todos.owner, "alice"}}).where(eq(todos.id, "bobs")); },
          "update");
  CHECK(plasma_test::captureState(db, {todos}) == with_bobs);

  // The owner may; and without enforcement nothing is checked.
  db.write([&](Tx& tx) {
    tx.enforceWriteAuth(alice);
    (void)tx.update(todos).set({{todos.title, "renamed"}}).where(eq(todos.id, "mine"));
    tx.enforceWriteAuth(nullptr);
    (void)tx.update(todos).set({{todos.title, "admin"}}).where(eq(todos.id, "bobs"));
  });
  CHECK(db.get(todos, "mine")->get(todos.title) == std::optional<std::string_view>("renamed"));
  CHECK(db.get(todos, "bobs")->get(todos.title) == std::optional<std::string_view>("admin"));
}
