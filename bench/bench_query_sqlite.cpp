// bench/bench_query_sqlite.cpp — the query workloads on SQLite, the baseline
// plasma's query executor is measured against.
//
// Schema (same rows as the plasma side, QueryDataset):
//   CREATE TABLE customers(id TEXT PRIMARY KEY, name TEXT, region INTEGER)
//   CREATE TABLE orders(id TEXT PRIMARY KEY, customerId TEXT, amount INTEGER,
//                       status INTEGER, createdAt INTEGER, note TEXT)
//   CREATE INDEX orders_customer ON orders(customerId)
//   CREATE INDEX orders_created ON orders(createdAt)
// in two layouts, each loaded (lazily) into its own file, and each workload
// runs on the layout that is faster for SQLite on it:
//   - WITHOUT ROWID (clustered on the text id): query_point. A lookup by id
//     is one tree descent instead of two (automatic pk index, then the rowid
//     table); measured ~1.2-1.4x faster than the rowid layout.
//   - rowid tables (SQLite's and drizzle's default): every other workload.
//     Secondary indexes then point at integer rowids, which are cheaper to
//     look up than text keys, and the table is denser to scan; measured
//     ~1.3-2x faster than WITHOUT ROWID on query_range_limit50,
//     query_scan_filter and query_join, equal on query_group_by.
//
// Loaded in transactions of kLoadBatchRows with synchronous=NORMAL, indexes
// created after the load, then ANALYZE and a WAL checkpoint. Every connection:
// journal_mode=WAL, cache_size 1 GiB, mmap_size 1 GiB, temp_store=MEMORY.
// Statements are prepared once and reused; each query runs in its own read
// transaction, BEGIN ... COMMIT (both prepared as well). Each statement's
// EXPLAIN QUERY PLAN is printed to stderr once, at setup.
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "bench_common.hpp"
#include "bench_sqlite.hpp"

namespace plasma_bench {

namespace {

using sqlite::Connection;
using sqlite::Statement;

constexpr const char* kOrderColumns = "id, customerId, amount, status, createdAt, note";

constexpr const char* kPointSql =
    "SELECT id, customerId, amount, status, createdAt, note FROM orders WHERE id = ?1";
constexpr const char* kRangeSql =
    "SELECT id, customerId, amount, status, createdAt, note FROM orders WHERE createdAt >= ?1 "
    "ORDER BY createdAt LIMIT 50";
constexpr const char* kScanSql = "SELECT id, amount FROM orders WHERE status = 3 AND amount > ?1";
constexpr const char* kGroupBySql = "SELECT status, count(*), sum(amount), avg(amount) FROM orders GROUP BY status";
constexpr const char* kJoinSql =
    "SELECT o.id, o.amount, c.name, c.region FROM orders o JOIN customers c ON o.customerId = c.id "
    "WHERE o.customerId = ?1";
static_assert(kRangeLimit == 50, "kRangeSql spells the limit out");
static_assert(kScanStatus == 3, "kScanSql spells the status out");

enum class Layout { Rowid, WithoutRowid };

// One loaded file and its statements.
struct Store {
  // Statements are declared after their connection so they are finalized first.
  std::unique_ptr<Connection> db;
  std::unique_ptr<Statement> begin, commit, point, range, scan, group_by, join;
};

struct QuerySide {
  std::unique_ptr<Store> rowid, without_rowid;
  std::size_t next_point = 0, next_range = 0, next_join = 0;
};

std::unique_ptr<QuerySide>& sideSlot() {
  static std::unique_ptr<QuerySide> side;
  return side;
}

void bindText(const Statement& stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

void load(const Connection& conn, const QueryDataset& data, Layout layout) {
  const std::string suffix = layout == Layout::WithoutRowid ? " WITHOUT ROWID" : "";
  conn.exec(("CREATE TABLE customers(id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, region INTEGER NOT NULL)" +
             suffix)
                .c_str());
  conn.exec(
      ("CREATE TABLE orders(id TEXT PRIMARY KEY NOT NULL, customerId TEXT NOT NULL, amount INTEGER NOT NULL, "
       "status INTEGER NOT NULL, createdAt INTEGER NOT NULL, note TEXT NOT NULL)" +
       suffix)
          .c_str());
  {
    Statement insert(conn, "INSERT INTO customers(id, name, region) VALUES(?1, ?2, ?3)");
    conn.exec("BEGIN");
    for (std::size_t c = 0; c < kQueryCustomers; ++c) {
      const std::string name = data.customerName(c);
      bindText(insert, 1, data.customerId(c));
      bindText(insert, 2, name);
      sqlite3_bind_int64(insert.get(), 3, data.customerRegion(c));
      insert.run();
    }
    conn.exec("COMMIT");
  }
  {
    Statement insert(conn, (std::string("INSERT INTO orders(") + kOrderColumns + ") VALUES(?1, ?2, ?3, ?4, ?5, ?6)").c_str());
    for (std::size_t start = 0; start < data.orders(); start += kLoadBatchRows) {
      const std::size_t end = std::min(data.orders(), start + kLoadBatchRows);
      conn.exec("BEGIN");
      for (std::size_t i = start; i < end; ++i) {
        const OrderFields f = data.orderAt(i);
        const std::string note = data.noteFor(i);
        bindText(insert, 1, data.base().id(i));
        bindText(insert, 2, data.customerId(f.customer));
        sqlite3_bind_int64(insert.get(), 3, f.amount);
        sqlite3_bind_int64(insert.get(), 4, f.status);
        sqlite3_bind_int64(insert.get(), 5, f.createdAt);
        bindText(insert, 6, note);
        insert.run();
      }
      conn.exec("COMMIT");
    }
  }
  conn.exec("CREATE INDEX orders_customer ON orders(customerId)");
  conn.exec("CREATE INDEX orders_created ON orders(createdAt)");
  conn.exec("ANALYZE");
  conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

std::unique_ptr<Statement> prepareAndShow(const Connection& conn, const char* workload, const char* sql, bool show) {
  if (show) {
    std::fprintf(stderr, "%s/sqlite plan:\n", workload);
    Statement plan(conn, (std::string("EXPLAIN QUERY PLAN ") + sql).c_str());
    while (plan.step() == SQLITE_ROW) {
      std::fprintf(stderr, "  %s\n", reinterpret_cast<const char*>(sqlite3_column_text(plan.get(), 3)));
    }
  }
  return std::make_unique<Statement>(conn, sql);
}

QuerySide& side() {
  auto& s = sideSlot();
  if (!s) s = std::make_unique<QuerySide>();
  return *s;
}

// The store of `layout`, loaded on first use; prints the plans of the
// statements the workloads run on it.
const Store& store(Layout layout) {
  QuerySide& s = side();
  auto& slot = layout == Layout::Rowid ? s.rowid : s.without_rowid;
  if (slot) return *slot;
  const QueryDataset& data = QueryDataset::get();
  const bool rowid = layout == Layout::Rowid;
  auto store = std::make_unique<Store>();
  store->db = std::make_unique<Connection>(workDir() / (rowid ? "sqlite_query_rowid.db" : "sqlite_query_clustered.db"));
  const Connection& conn = *store->db;
  conn.exec("PRAGMA journal_mode=WAL");
  conn.exec("PRAGMA synchronous=NORMAL");
  conn.exec("PRAGMA cache_size=-1048576");  // KiB: 1 GiB, more than the file
  conn.exec("PRAGMA mmap_size=1073741824");
  conn.exec("PRAGMA temp_store=MEMORY");
  load(conn, data, layout);
  flushWorkDir();
  store->begin = std::make_unique<Statement>(conn, "BEGIN");
  store->commit = std::make_unique<Statement>(conn, "COMMIT");
  store->point = prepareAndShow(conn, "query_point", kPointSql, !rowid);
  store->range = prepareAndShow(conn, "query_range_limit50", kRangeSql, rowid);
  store->scan = prepareAndShow(conn, "query_scan_filter", kScanSql, rowid);
  sqlite3_bind_int64(store->scan->get(), 1, kScanMinAmount);
  store->group_by = prepareAndShow(conn, "query_group_by", kGroupBySql, rowid);
  store->join = prepareAndShow(conn, "query_join", kJoinSql, rowid);
  slot = std::move(store);
  return *slot;
}

std::uint64_t touchText(sqlite3_stmt* stmt, int column) noexcept {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  const int bytes = sqlite3_column_bytes(stmt, column);
  return bytes > 0 ? static_cast<std::uint64_t>(bytes) + text[0] : 0;
}

std::uint64_t touchInt(sqlite3_stmt* stmt, int column) noexcept {
  return static_cast<std::uint64_t>(sqlite3_column_int64(stmt, column));
}

// Every column of an orders row (kOrderColumns order).
std::uint64_t touchOrder(sqlite3_stmt* stmt) noexcept {
  return touchText(stmt, 0) + touchText(stmt, 1) + touchInt(stmt, 2) + touchInt(stmt, 3) + touchInt(stmt, 4) +
         touchText(stmt, 5);
}

// Runs `stmt` (already bound) in its own read transaction, calling
// consume(stmt) for every row.
template <class F>
void runQuery(const Store& s, const Statement& stmt, F&& consume) {
  s.begin->run();
  while (stmt.step() == SQLITE_ROW) consume(stmt.get());
  stmt.reset();
  s.commit->run();
}

}  // namespace

void queryPointSqlite(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const Store& db = store(Layout::WithoutRowid);
    const Dataset& data = QueryDataset::get().base();
    std::uint64_t found = 0, touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      const std::string_view id = data.shuffledId(s.next_point);
      if (++s.next_point == data.size()) s.next_point = 0;
      bindText(*db.point, 1, id);
      runQuery(db, *db.point, [&](sqlite3_stmt* row) {
        touched += touchOrder(row);
        ++found;
      });
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, found, static_cast<std::uint64_t>(state.iterations()), "rows found");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

void queryRangeLimit50Sqlite(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const Store& db = store(Layout::Rowid);
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t rows = 0, touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      sqlite3_bind_int64(db.range->get(), 1, data.rangeStart(s.next_range++));
      runQuery(db, *db.range, [&](sqlite3_stmt* row) {
        touched += touchOrder(row);
        ++rows;
      });
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, rows, static_cast<std::uint64_t>(state.iterations()) * data.rangeRows(), "rows in ranges");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

void queryScanFilterSqlite(benchmark::State& state) {
  guarded(state, [&] {
    const Store& db = store(Layout::Rowid);
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t rows = 0, touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      runQuery(db, *db.scan, [&](sqlite3_stmt* row) {
        touched += touchText(row, 0) + touchInt(row, 1);
        ++rows;
      });
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, rows, static_cast<std::uint64_t>(state.iterations()) * data.scanMatches(), "rows matched");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * data.orders(), seconds);
  });
}

void queryGroupBySqlite(benchmark::State& state) {
  guarded(state, [&] {
    const Store& db = store(Layout::Rowid);
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t counted = 0, groups = 0;
    double touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      runQuery(db, *db.group_by, [&](sqlite3_stmt* row) {
        ++groups;
        counted += static_cast<std::uint64_t>(sqlite3_column_int64(row, 1));
        touched += static_cast<double>(sqlite3_column_int64(row, 0) + sqlite3_column_int64(row, 2)) +
                   sqlite3_column_double(row, 3);
      });
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    const auto iterations = static_cast<std::uint64_t>(state.iterations());
    expectCount(state, groups, iterations * kQueryStatuses, "groups");
    expectCount(state, counted, iterations * data.orders(), "rows counted");
    reportRate(state, iterations * data.orders(), seconds);
  });
}

void queryJoinSqlite(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const Store& db = store(Layout::Rowid);
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t rows = 0, expected = 0, touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      const std::uint32_t customer = data.joinCustomer(s.next_join++);
      expected += data.ordersOfCustomer(customer);
      bindText(*db.join, 1, data.customerId(customer));
      runQuery(db, *db.join, [&](sqlite3_stmt* row) {
        touched += touchText(row, 0) + touchInt(row, 1) + touchText(row, 2) + touchInt(row, 3);
        ++rows;
      });
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, rows, expected, "rows joined");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
    state.counters["rows_per_query"] =
        benchmark::Counter(state.iterations() > 0 ? static_cast<double>(rows) / static_cast<double>(state.iterations()) : 0.0);
  });
}

void closeQuerySqlite() noexcept { sideSlot().reset(); }

}  // namespace plasma_bench
