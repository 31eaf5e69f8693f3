// bench/bench_sqlite.cpp — the SQLite baseline (as LevelDB's db_bench_sqlite3).
//
// Table: CREATE TABLE kv(id TEXT PRIMARY KEY, value TEXT, n INTEGER) WITHOUT
// ROWID — clustered on id like an LMDB B+tree, so a point get is one tree
// descent. journal_mode=WAL and mmap_size=1 GiB on every connection; reads run
// in autocommit (each statement its own read transaction) with prepared
// statements. The read file is loaded with synchronous=OFF in transactions of
// kLoadBatchRows; the insert file uses synchronous=FULL and one transaction
// per 1,000-row batch.
#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include <plasma/database.hpp>  // plasma::newId

#include "bench_common.hpp"
#include "bench_sqlite.hpp"

namespace plasma_bench {

namespace {

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS kv(id TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL) "
    "WITHOUT ROWID";

using sqlite::Connection;
using sqlite::Statement;

constexpr const char* kInsert = "INSERT INTO kv(id, value, n) VALUES(?1, ?2, ?3)";

void insertRow(const Statement& insert, std::string_view id, const std::string& value, std::int64_t n) {
  sqlite3_bind_text(insert.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  sqlite3_bind_text(insert.get(), 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  sqlite3_bind_int64(insert.get(), 3, n);
  insert.step();
  insert.reset();
}

std::unique_ptr<Connection> openConnection(const std::filesystem::path& file, const char* synchronous) {
  auto conn = std::make_unique<Connection>(file);
  conn->exec("PRAGMA journal_mode=WAL");
  conn->exec("PRAGMA mmap_size=1073741824");
  conn->exec(synchronous);
  conn->exec(kCreateTable);
  return conn;
}

struct SqliteSide {
  // Statements are declared after their connection so they are finalized first.
  std::unique_ptr<Connection> read_db;
  std::unique_ptr<Statement> get_stmt;
  std::unique_ptr<Statement> scan_stmt;
  std::unique_ptr<Connection> insert_db;
  std::unique_ptr<Statement> insert_stmt;
  std::size_t next_get = 0;
  std::uint64_t next_value = 0;
};

std::unique_ptr<SqliteSide>& sideSlot() {
  static std::unique_ptr<SqliteSide> side;
  return side;
}
SqliteSide& side() {
  auto& s = sideSlot();
  if (!s) s = std::make_unique<SqliteSide>();
  return *s;
}

SqliteSide& readSide() {
  auto& s = side();
  if (!s.read_db) {
    const Dataset& data = Dataset::get();
    auto conn = openConnection(workDir() / "sqlite_read.db", "PRAGMA synchronous=OFF");  // loading only
    {
      Statement insert(*conn, kInsert);
      for (std::size_t start = 0; start < data.size(); start += kLoadBatchRows) {
        const std::size_t end = std::min(data.size(), start + kLoadBatchRows);
        conn->exec("BEGIN");
        for (std::size_t i = start; i < end; ++i) {
          insertRow(insert, data.id(i), valueFor(i), static_cast<std::int64_t>(i));
        }
        conn->exec("COMMIT");
      }
    }
    conn->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    flushWorkDir();
    s.get_stmt = std::make_unique<Statement>(*conn, "SELECT value FROM kv WHERE id = ?1");
    s.scan_stmt = std::make_unique<Statement>(*conn, "SELECT value FROM kv");
    s.read_db = std::move(conn);
  }
  return s;
}

SqliteSide& insertSide() {
  auto& s = side();
  if (!s.insert_db) {
    auto conn = openConnection(workDir() / "sqlite_insert.db", "PRAGMA synchronous=FULL");
    s.insert_stmt = std::make_unique<Statement>(*conn, kInsert);
    s.insert_db = std::move(conn);
  }
  return s;
}

std::uint64_t touchColumn(sqlite3_stmt* stmt) noexcept {
  const unsigned char* text = sqlite3_column_text(stmt, 0);
  const int bytes = sqlite3_column_bytes(stmt, 0);
  return bytes > 0 ? static_cast<std::uint64_t>(bytes) + text[0] : 0;
}

}  // namespace

// One prepared SELECT per get, in autocommit.
void pointGetSqlite(benchmark::State& state) {
  guarded(state, [&] {
    SqliteSide& s = readSide();
    const Dataset& data = Dataset::get();
    sqlite3_stmt* stmt = s.get_stmt->get();
    std::uint64_t found = 0;
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      const std::string_view id = data.shuffledId(s.next_get);
      if (++s.next_get == data.size()) s.next_get = 0;
      sqlite3_bind_text(stmt, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      if (s.get_stmt->step() == SQLITE_ROW) {
        ++found;
        touched += touchColumn(stmt);
      }
      sqlite3_reset(stmt);
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, found, static_cast<std::uint64_t>(state.iterations()), "rows found");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

// BEGIN; 1,000 prepared INSERTs of fresh newId() keys; COMMIT (WAL, synchronous=FULL).
void insertBatchSqlite(benchmark::State& state) {
  guarded(state, [&] {
    SqliteSide& s = insertSide();
    const WallClock clock;
    for (auto _ : state) {
      s.insert_db->exec("BEGIN");
      for (std::size_t k = 0; k < kInsertBatchRows; ++k) {
        const std::uint64_t n = s.next_value++;
        insertRow(*s.insert_stmt, plasma::newId(), valueFor(n), static_cast<std::int64_t>(n));
      }
      s.insert_db->exec("COMMIT");
    }
    const double seconds = clock.seconds();
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * kInsertBatchRows, seconds);
  });
}

// SELECT value FROM kv, stepping through every row.
void fullScanSqlite(benchmark::State& state) {
  guarded(state, [&] {
    SqliteSide& s = readSide();
    const std::uint64_t expected = Dataset::get().size();
    sqlite3_stmt* stmt = s.scan_stmt->get();
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      std::uint64_t rows = 0;
      while (s.scan_stmt->step() == SQLITE_ROW) {
        ++rows;
        touched += touchColumn(stmt);
      }
      sqlite3_reset(stmt);
      if (rows != expected) {
        expectCount(state, rows, expected, "rows scanned");
        break;
      }
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * expected, seconds);
  });
}

void closeSqlite() noexcept { sideSlot().reset(); }

}  // namespace plasma_bench
