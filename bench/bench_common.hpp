// bench/bench_common.hpp — what every side of plasma_bench shares: the data
// set, the scratch directory, and the benchmark entry points of each side.
//
// Workloads are registered as "<workload>/<implementation>" (bench_main.cpp)
// so that ratios can be computed from --benchmark_format=json; see README.md.
//
// Thread-safety: none. Google Benchmark runs these single-threaded benchmarks
// on the main thread, one after the other; every side builds its state lazily
// on first use (outside the timed loop) and keeps it until close*().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

namespace plasma_bench {

// Rows in the read data set (point_get, full_scan; `orders` of the query
// workloads): $PLASMA_BENCH_ROWS, else 1,000,000.
std::size_t rowCount();

inline constexpr std::size_t kIdBytes = 36;     // plasma::newId(): a UUIDv7 as text
inline constexpr std::size_t kValueBytes = 100; // the `value` column of every row
inline constexpr std::size_t kInsertBatchRows = 1000;
// Rows per write transaction while loading a data set (untimed; synced
// commits are off for loading, so only memory bounds this).
inline constexpr std::size_t kLoadBatchRows = 50'000;
// LMDB map size on every LMDB side: plasma's default.
inline constexpr std::size_t kMapSizeBytes = std::size_t{16} << 30;

// The read data set, generated once per process: rowCount() distinct ids from
// plasma::newId() (so every side stores exactly the same keys), in ascending
// order for loading and in a fixed shuffled order for point gets. Ids are
// kept in flat buffers so that walking the shuffled order costs no extra
// cache miss per lookup on any side.
class Dataset {
 public:
  static const Dataset& get();

  std::size_t size() const noexcept { return rows_; }
  // The i-th id in ascending order (the load order).
  std::string_view id(std::size_t i) const noexcept { return {sorted_.data() + i * kIdBytes, kIdBytes}; }
  // The i-th id of the shuffled order (the point-get order).
  std::string_view shuffledId(std::size_t i) const noexcept {
    return {shuffled_.data() + i * kIdBytes, kIdBytes};
  }

 private:
  Dataset();
  std::size_t rows_ = 0;
  std::string sorted_;
  std::string shuffled_;
};

// A deterministic 100-byte printable value for row `i`.
std::string valueFor(std::uint64_t i);
// A deterministic printable string of `bytes` bytes drawn from `seed`.
std::string printableFor(std::uint64_t seed, std::size_t bytes);

// ---- the query data set (query_* workloads, bench_query_*.cpp) --------------
//
// Table `orders`: one row per Dataset id (so rowCount() rows, ascending id
// order), its other columns derived from the row's position by orderAt();
// table `customers`: kQueryCustomers rows with ids from plasma::newId().
// Every side loads exactly these rows and draws its query parameters from the
// same pre-generated sequences, in the same order.
inline constexpr std::size_t kQueryCustomers = 10'000;
inline constexpr std::size_t kQueryRegions = 20;
inline constexpr std::size_t kQueryStatuses = 10;
inline constexpr std::size_t kNoteBytes = 40;
inline constexpr std::int64_t kAmountRange = 100'000;            // amount in [0, kAmountRange)
inline constexpr std::int64_t kCreatedAtBase = 1'700'000'000'000;  // createdAt in [base, base + rows * 1000)
inline constexpr std::int64_t kRangeLimit = 50;                    // query_range_limit50
inline constexpr std::int64_t kScanStatus = 3;                     // query_scan_filter: status = 3
inline constexpr std::int64_t kScanMinAmount = 50'000;             //   AND amount > 50000

struct OrderFields {
  std::uint32_t customer = 0;  // index into QueryDataset's customers
  std::int64_t amount = 0;
  std::int64_t status = 0;
  std::int64_t createdAt = 0;  // uniform random, independent of the id order
};

class QueryDataset {
 public:
  static const QueryDataset& get();

  const Dataset& base() const noexcept { return *base_; }
  std::size_t orders() const noexcept { return base_->size(); }
  // Columns of the i-th order (ascending id order; its id is base().id(i)).
  OrderFields orderAt(std::size_t i) const noexcept;
  std::string noteFor(std::size_t i) const { return printableFor(0x6e6f7465ULL + i, kNoteBytes); }

  std::string_view customerId(std::size_t c) const noexcept {
    return {customer_ids_.data() + c * kIdBytes, kIdBytes};
  }
  std::string customerName(std::size_t c) const { return "customer-" + std::to_string(c); }
  std::int64_t customerRegion(std::size_t c) const noexcept {
    return static_cast<std::int64_t>(c % kQueryRegions);
  }

  // Parameter sequences (each side keeps its own position, so both walk the
  // same values in the same order). kParams entries each.
  static constexpr std::size_t kParams = std::size_t{1} << 16;
  // query_range_limit50: createdAt lower bounds, each with >= kRangeLimit rows at or above it.
  std::int64_t rangeStart(std::size_t k) const noexcept { return range_starts_[k % kParams]; }
  // query_join: a customer index, and how many orders it has.
  std::uint32_t joinCustomer(std::size_t k) const noexcept { return join_customers_[k % kParams]; }
  std::uint64_t ordersOfCustomer(std::size_t c) const noexcept { return orders_per_customer_[c]; }
  // query_scan_filter: rows with status = kScanStatus AND amount > kScanMinAmount.
  std::uint64_t scanMatches() const noexcept { return scan_matches_; }
  // query_range_limit50: rows per query (kRangeLimit, or fewer on a tiny data set).
  std::uint64_t rangeRows() const noexcept { return range_rows_; }

 private:
  QueryDataset();
  const Dataset* base_;
  std::string customer_ids_;
  std::vector<std::int64_t> range_starts_;
  std::vector<std::uint32_t> join_customers_;
  std::vector<std::uint64_t> orders_per_customer_;
  std::uint64_t scan_matches_ = 0;
  std::uint64_t range_rows_ = 0;
};

// The process's scratch directory /tmp/plasma_bench.XXXXXX, created on first
// call; removeWorkDir() (called from main after every side is closed) deletes it.
const std::filesystem::path& workDir();
void removeWorkDir() noexcept;
// Writes every dirty page of the scratch file system to disk (syncfs). Called
// after loading a data set without syncing, so that the background write-back
// of the load does not slow down the synced commits of a later benchmark.
void flushWorkDir();

// Runs fn(); an exception ends the benchmark with SkipWithError(what()),
// which Google Benchmark reports as an error for that benchmark only.
template <class F>
void guarded(benchmark::State& state, F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Google Benchmark derives items_per_second from CPU time unless the
// benchmark is registered with UseRealTime(), and UseRealTime() / MinTime()
// append "/real_time" / "/min_time:…" to the reported name. To keep the names
// exactly "<workload>/<implementation>" while rating by wall-clock time
// (inserts wait on fsync, which CPU time does not count), each benchmark
// times its own loop with a WallClock and reports items_per_second itself.
class WallClock {
 public:
  WallClock() noexcept : start_(std::chrono::steady_clock::now()) {}
  double seconds() const noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Sets the items_per_second counter to items / wall_seconds (and
// items_processed for reference).
void reportRate(benchmark::State& state, std::uint64_t items, double wall_seconds);

// Reports an error unless `found` (lookups that found their row / rows
// visited) equals `expected`.
void expectCount(benchmark::State& state, std::uint64_t found, std::uint64_t expected, const char* what);

// ---- the sides ------------------------------------------------------------
// Each benchmark function reports items_per_second: one item is one row
// read (point_get, full_scan) or inserted (insert_batch_1000).

void pointGetPlasma(benchmark::State& state);
void insertBatchPlasma(benchmark::State& state);
void insertBatchPlasmaNoLog(benchmark::State& state);  // same, into a changeLogSuppressed table
void fullScanPlasma(benchmark::State& state);
void closePlasma() noexcept;

void pointGetLmdb(benchmark::State& state);          // reset/renew of one read txn per get
void pointGetLmdbTxnBegin(benchmark::State& state);  // mdb_txn_begin/abort per get
void insertBatchLmdb(benchmark::State& state);
void fullScanLmdb(benchmark::State& state);
void closeLmdb() noexcept;

void pointGetSqlite(benchmark::State& state);
void insertBatchSqlite(benchmark::State& state);
void fullScanSqlite(benchmark::State& state);
void closeSqlite() noexcept;

// Query workloads (bench_query_plasma.cpp, bench_query_sqlite.cpp). One item
// is one query (point, range, join) or one table row visited (scan, group-by).
void queryPointPlasma(benchmark::State& state);
void queryRangeLimit50Plasma(benchmark::State& state);
void queryScanFilterPlasma(benchmark::State& state);
void queryGroupByPlasma(benchmark::State& state);
void queryJoinPlasma(benchmark::State& state);
void closeQueryPlasma() noexcept;

void queryPointSqlite(benchmark::State& state);
void queryRangeLimit50Sqlite(benchmark::State& state);
void queryScanFilterSqlite(benchmark::State& state);
void queryGroupBySqlite(benchmark::State& state);
void queryJoinSqlite(benchmark::State& state);
void closeQuerySqlite() noexcept;

// Live-query workloads (bench_live.cpp): one item is one committed
// single-row update with every subscribed query's delta delivered.
// `queries` is N, the number of live (or re-run) queries.
void liveUpdateSelectIvm(benchmark::State& state, std::size_t queries);
void liveUpdateSelectRerun(benchmark::State& state, std::size_t queries);
void liveUpdateAggregateIvm(benchmark::State& state, std::size_t queries);
void liveUpdateAggregateRerun(benchmark::State& state, std::size_t queries);
void closeLive() noexcept;

}  // namespace plasma_bench
