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

#include <benchmark/benchmark.h>

namespace plasma_bench {

// Rows in the read data set (point_get, full_scan): $PLASMA_BENCH_ROWS, else 1,000,000.
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

}  // namespace plasma_bench
