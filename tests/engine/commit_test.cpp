// Commit observers: net row changes per committed transaction, in order,
// with a snapshot of exactly that commit.
#include <catch2/catch.hpp>

#include <mutex>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

struct Recorder {
  std::mutex mu;
  std::vector<std::shared_ptr<const CommitEvent>> events;
  CommitObserver observer() {
    return [this](const std::shared_ptr<const CommitEvent>& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    };
  }
};

void insertTodo(Tx& tx, const std::string& id, const std::string& title, std::int64_t at) {
  (void)tx.insert(todo::todos).values({{todo::todos.id, id}, {todo::todos.title, title}, {todo::todos.updatedAt, at}});
}

}  // namespace

TEST_CASE("commit observers receive each row's net change, in commit order", "[engine][commit]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) { insertTodo(tx, "a", "old", 1); });  // before the observer: not seen
  Recorder rec;
  auto sub = db.onCommit(rec.observer());

  db.write([&](Tx& tx) {
    insertTodo(tx, "b", "bee", 2);
    (void)tx.update(todo::todos).set({{todo::todos.title, "new"}}).where(eq(todo::todos.id, "a"));
  });
  db.write([&](Tx& tx) { (void)tx.deleteFrom(todo::todos).where(eq(todo::todos.id, "b")); });

  REQUIRE(rec.events.size() == 2);
  CHECK(rec.events[0]->sequence < rec.events[1]->sequence);
  const auto& first = rec.events[0]->changes;
  REQUIRE(first.size() == 2);
  CHECK(first[0].id == "b");
  CHECK_FALSE(first[0].before.has_value());
  CHECK(first[0].after->get(todo::todos.title) == std::optional<std::string_view>("bee"));
  CHECK(first[1].id == "a");
  CHECK(first[1].before->get(todo::todos.title) == std::optional<std::string_view>("old"));
  CHECK(first[1].after->get(todo::todos.title) == std::optional<std::string_view>("new"));
  const auto& second = rec.events[1]->changes;
  REQUIRE(second.size() == 1);
  CHECK(second[0].before->id() == "b");
  CHECK_FALSE(second[0].after.has_value());
  CHECK(rec.events[0]->tables() == std::vector<const TableSpec*>{&todo::todos.spec()});
}

TEST_CASE("a transaction that changes a row and changes it back, or inserts and deletes it, notifies nothing",
          "[engine][commit]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) { insertTodo(tx, "a", "same", 1); });
  Recorder rec;
  auto sub = db.onCommit(rec.observer());
  db.write([&](Tx& tx) {
    (void)tx.update(todo::todos).set({{todo::todos.title, "other"}}).where(eq(todo::todos.id, "a"));
    (void)tx.update(todo::todos).set({{todo::todos.title, "same"}}).where(eq(todo::todos.id, "a"));
    insertTodo(tx, "tmp", "x", 3);
    (void)tx.deleteFrom(todo::todos).where(eq(todo::todos.id, "tmp"));
  });
  CHECK(rec.events.empty());
  // A rolled-back transaction notifies nothing either.
  CHECK_THROWS(db.write([&](Tx& tx) {
    insertTodo(tx, "c", "c", 4);
    throw std::runtime_error("abort");
  }));
  CHECK(rec.events.empty());
}

TEST_CASE("an event's snapshot shows exactly the state of its commit", "[engine][commit]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  Recorder rec;
  auto sub = db.onCommit(rec.observer(), /*with_snapshot=*/true);
  db.write([&](Tx& tx) { insertTodo(tx, "a", "one", 1); });
  db.write([&](Tx& tx) { insertTodo(tx, "b", "two", 2); });
  REQUIRE(rec.events.size() == 2);
  std::uint64_t in_first = 0, in_second = 0;
  rec.events[0]->snapshot->read([&](ReadTx& r) { in_first = r.count(todo::todos); });
  rec.events[1]->snapshot->read([&](ReadTx& r) { in_second = r.count(todo::todos); });
  CHECK(in_first == 1);
  CHECK(in_second == 2);
}

TEST_CASE("a reset subscription receives nothing more", "[engine][commit]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  Recorder rec;
  auto sub = db.onCommit(rec.observer());
  db.write([&](Tx& tx) { insertTodo(tx, "a", "one", 1); });
  sub.reset();
  db.write([&](Tx& tx) { insertTodo(tx, "b", "two", 2); });
  CHECK(rec.events.size() == 1);
}
