// serverLiveSelect: fires from commits on its tables (no polling) and on the
// heartbeat in quiet periods.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using namespace std::chrono_literals;
using plasma_test::TempDir;

namespace {

struct Side : Table {
  Side() : Table("side") {}
  TextColumn id{this, plasma::id()};
};
const Side side;
const Schema& schema2() {
  static const Schema s = defineSchema("server-live-v1", {todo::todos, side});
  return s;
}

template <class F>
bool eventually(F&& f, std::chrono::milliseconds within = 3000ms) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return f();
}

}  // namespace

TEST_CASE("serverLiveSelect fires at start, after commits to its tables, and not for other tables",
          "[query][serverlive]") {
  TempDir dir;
  auto db = Database::open(dir.path(), schema2(), plasma_test::fastOptions());
  db.ensureSchema();
  std::atomic<std::int64_t> last_count{-1};
  std::atomic<int> changes{0};
  auto handle = serverLiveSelect<std::int64_t>(
      db, {.tables = {"todos"},
           .fetch = [&] { return db.select({{"n", count()}}).from(todo::todos).all().rows.at(0)["n"].asInt(); },
           .onChange =
               [&](const std::int64_t& n) {
                 last_count = n;
                 ++changes;
               },
           .heartbeat = 60s});  // no heartbeat during the test: only commits drive it
  REQUIRE(eventually([&] { return changes.load() == 1; }));
  CHECK(last_count.load() == 0);
  db.write([&](Tx& tx) {
    (void)tx.insert(todo::todos).values({{todo::todos.id, "a"}, {todo::todos.title, "x"}, {todo::todos.updatedAt, 1}});
  });
  REQUIRE(eventually([&] { return last_count.load() == 1; }));
  const int after_todo = changes.load();
  db.write([&](Tx& tx) { (void)tx.insert(side).values({{side.id, "s"}}); });
  std::this_thread::sleep_for(100ms);
  CHECK(changes.load() == after_todo);  // a commit to another table does not fire it
  handle.stop();
  db.write([&](Tx& tx) {
    (void)tx.insert(todo::todos).values({{todo::todos.id, "b"}, {todo::todos.title, "y"}, {todo::todos.updatedAt, 2}});
  });
  std::this_thread::sleep_for(50ms);
  CHECK(changes.load() == after_todo);  // stopped
}

TEST_CASE("serverLiveSelect's heartbeat fires in quiet periods", "[query][serverlive]") {
  TempDir dir;
  auto db = Database::open(dir.path(), schema2(), plasma_test::fastOptions());
  db.ensureSchema();
  std::atomic<int> calls{0};
  auto handle = serverLiveSelect<int>(db, {.tables = {"todos"},
                                           .fetch = [] { return 0; },
                                           .onChange = [&](const int&) { ++calls; },
                                           .heartbeat = 20ms});
  CHECK(eventually([&] { return calls.load() >= 4; }));
  CHECK(handle.runs() >= 4);
}

TEST_CASE("serverLiveSelect rejects an unknown table and reports fetch errors", "[query][serverlive]") {
  TempDir dir;
  auto db = Database::open(dir.path(), schema2(), plasma_test::fastOptions());
  db.ensureSchema();
  CHECK_THROWS_AS(serverLiveSelect<int>(db, {.tables = {"nope"}, .fetch = [] { return 0; }, .onChange = [](const int&) {}}),
                  plasma::Error);
  std::atomic<int> errors{0};
  auto handle = serverLiveSelect<int>(db, {.tables = {},
                                           .fetch = []() -> int { throw std::runtime_error("boom"); },
                                           .onChange = [](const int&) {},
                                           .heartbeat = 10ms,
                                           .onError = [&](std::exception_ptr) { ++errors; }});
  CHECK(eventually([&] { return errors.load() >= 2; }));  // the runner goes on after an error
}
