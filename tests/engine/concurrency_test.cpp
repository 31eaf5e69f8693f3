// A Database shared by threads: readers never block and always see a
// consistent snapshot while one writer commits.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::TempDir;
using todo::todos;

TEST_CASE("readers on other threads see consistent, growing snapshots while a writer commits",
          "[engine][concurrency]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  constexpr int kWrites = 300;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<long> reads{0};

  auto reader = [&](int seed) {
    std::uint64_t last_count = 0;
    std::uint64_t last_head = 0;
    int i = seed;
    while (!done.load()) {
      db.read([&](const ReadTx& tx) {
        // Within one snapshot: count, scan and the pairs written together agree.
        const std::uint64_t n = tx.count(todos);
        std::uint64_t scanned = 0;
        tx.scan(todos, [&](const RowView& r) {
          ++scanned;
          // Every todo t<k> is written together with its twin u<k>.
          const std::string twin = "u" + std::string(r.id().substr(1));
          if (r.id()[0] == 't' && !tx.get(todos, twin)) ++failures;
          return true;
        });
        if (scanned != n || n % 2 != 0 || n < last_count) ++failures;
        last_count = n;
      });
      const std::uint64_t head = db.headVersion();
      if (head < last_head) ++failures;
      last_head = head;
      auto row = db.get(todos, "t" + std::to_string(i++ % kWrites));
      if (row && row->get(todos.title) != std::optional<std::string_view>("x")) ++failures;
      ++reads;
    }
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) threads.emplace_back(reader, r * 97);
  for (int k = 0; k < kWrites; ++k) {
    db.write([&](Tx& tx) {
      (void)tx.insert(todos).values({{todos.id, "t" + std::to_string(k)}, {todos.title, "x"}, {todos.updatedAt, k}});
      (void)tx.insert(todos).values({{todos.id, "u" + std::to_string(k)}, {todos.title, "x"}, {todos.updatedAt, k}});
    });
  }
  done = true;
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(db.read([](const ReadTx& tx) { return tx.count(todos); }) == 2 * kWrites);
  CHECK(db.headVersion() == 2 * kWrites);
}

TEST_CASE("many threads reading at once each get their own snapshot", "[engine][concurrency]") {
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) {
    for (int k = 0; k < 100; ++k)
      (void)tx.insert(todos).values({{todos.id, "t" + std::to_string(k)}, {todos.title, "x"}, {todos.updatedAt, k}});
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 8; ++r) {
    threads.emplace_back([&, r] {
      for (int i = 0; i < 300; ++i) {
        auto row = db.get(todos, "t" + std::to_string((i + r) % 100));
        if (!row || row->get(todos.updatedAt) != std::optional<std::int64_t>((i + r) % 100)) ++failures;
        if (db.read([](const ReadTx& tx) { return tx.count(todos); }) != 100) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
}
