// bench/bench_main.cpp — registers every workload as "<workload>/<implementation>"
// in a fixed order, runs them, then closes every store and removes the
// scratch directory. See README.md for how to run and read the results.
#include <cstdio>
#include <exception>
#include <string>

#include <benchmark/benchmark.h>

#include "bench_common.hpp"
#include "bench_sync.hpp"

namespace plasma_bench {

#ifdef PLASMA_BENCH_POKE
void registerPokeBenchmarks();  // bench_poke.cpp (issue 6)
#endif
#ifdef PLASMA_BENCH_CLIENT
void registerClientBenchmarks();  // bench_client.cpp (issue 7)
#endif

namespace {

using BenchFn = void (*)(benchmark::State&);

// No UseRealTime()/MinTime()/Iterations() here: each would append a suffix
// ("/real_time", "/min_time:1.000") to the reported name, and the names must
// stay exactly "<workload>/<implementation>". Rates are wall-clock rates
// computed by each benchmark (bench_common.hpp, WallClock); the measuring
// time is --benchmark_min_time (default 0.5 s of CPU time per run).
void add(const char* name, BenchFn fn, benchmark::TimeUnit unit) {
  benchmark::RegisterBenchmark(name, fn)->Unit(unit);
}

void registerAll() {
  using benchmark::kMicrosecond;
  using benchmark::kMillisecond;
  using benchmark::kNanosecond;
  add("point_get/plasma", pointGetPlasma, kNanosecond);
  add("point_get/lmdb", pointGetLmdb, kNanosecond);
  add("point_get/lmdb_txn_begin", pointGetLmdbTxnBegin, kNanosecond);
  add("point_get/sqlite", pointGetSqlite, kNanosecond);

  add("insert_batch_1000/plasma", insertBatchPlasma, kMicrosecond);
  add("insert_batch_1000/plasma_nolog", insertBatchPlasmaNoLog, kMicrosecond);
  add("insert_batch_1000/lmdb", insertBatchLmdb, kMicrosecond);
  add("insert_batch_1000/sqlite", insertBatchSqlite, kMicrosecond);

  add("full_scan/plasma", fullScanPlasma, kMillisecond);
  add("full_scan/lmdb", fullScanLmdb, kMillisecond);
  add("full_scan/sqlite", fullScanSqlite, kMillisecond);

  add("query_point/plasma", queryPointPlasma, kNanosecond);
  add("query_point/sqlite", queryPointSqlite, kNanosecond);
  add("query_range_limit50/plasma", queryRangeLimit50Plasma, kMicrosecond);
  add("query_range_limit50/sqlite", queryRangeLimit50Sqlite, kMicrosecond);
  add("query_scan_filter/plasma", queryScanFilterPlasma, kMillisecond);
  add("query_scan_filter/sqlite", queryScanFilterSqlite, kMillisecond);
  add("query_group_by/plasma", queryGroupByPlasma, kMillisecond);
  add("query_group_by/sqlite", queryGroupBySqlite, kMillisecond);
  add("query_join/plasma", queryJoinPlasma, kMicrosecond);
  add("query_join/sqlite", queryJoinSqlite, kMicrosecond);

  // Live queries (issue 4): N subscribed queries, IVM vs re-running them.
  using LiveFn = void (*)(benchmark::State&, std::size_t);
  auto addLive = [](const std::string& workload, const char* impl, LiveFn fn, std::size_t queries) {
    const std::string name = workload + "/" + impl;
    benchmark::RegisterBenchmark(name.c_str(), [fn, queries](benchmark::State& state) { fn(state, queries); })
        ->Unit(benchmark::kMicrosecond);
  };
  for (std::size_t n : {10, 100, 1000, 10000}) {
    const std::string workload = "live_update_select_N" + std::to_string(n);
    addLive(workload, "plasma_ivm", liveUpdateSelectIvm, n);
    addLive(workload, "plasma_rerun", liveUpdateSelectRerun, n);
  }
  addLive("live_update_aggregate_N100", "plasma_ivm", liveUpdateAggregateIvm, 100);
  addLive("live_update_aggregate_N100", "plasma_rerun", liveUpdateAggregateRerun, 100);

  // Sync node (issue 5): push of 100 mutations, 1 or 8 pushers, durable or
  // relaxed; pull of 1,000 changes (bench_sync.cpp, bench_sync_sqlite.cpp).
  using PushFn = void (*)(benchmark::State&, std::size_t, bool);
  auto addPush = [](const char* impl, PushFn fn, std::size_t pushers, bool durable) {
    const std::string name = "push100_" + std::to_string(pushers) + (pushers == 1 ? "pusher_" : "pushers_") +
                             (durable ? "durable/" : "relaxed/") + impl;
    benchmark::RegisterBenchmark(name.c_str(), [fn, pushers, durable](benchmark::State& state) {
      fn(state, pushers, durable);
    })->Unit(kMillisecond);
  };
  for (bool durable : {true, false}) {
    for (std::size_t pushers : {std::size_t{1}, syncbench::kMaxPushers}) {
      addPush("plasma", [](benchmark::State& s, std::size_t n, bool d) {
        syncbench::syncPushPlasma(s, n, d, false);
      }, pushers, durable);
      addPush("plasma_lmdb_sync", [](benchmark::State& s, std::size_t n, bool d) {
        syncbench::syncPushPlasma(s, n, d, true);
      }, pushers, durable);
      addPush("sqlite_triggers", [](benchmark::State& s, std::size_t n, bool d) {
        syncbench::syncPushSqlite(s, n, d, syncbench::WriterMode::Mutex);
      }, pushers, durable);
      if (pushers > 1) {
        addPush("sqlite_triggers_busy", [](benchmark::State& s, std::size_t n, bool d) {
          syncbench::syncPushSqlite(s, n, d, syncbench::WriterMode::Busy);
        }, pushers, durable);
        addPush("sqlite_triggers_1conn", [](benchmark::State& s, std::size_t n, bool d) {
          syncbench::syncPushSqlite(s, n, d, syncbench::WriterMode::SharedConnection);
        }, pushers, durable);
      }
    }
  }
  benchmark::RegisterBenchmark("pull1000/plasma", [](benchmark::State& s) {
    syncbench::syncPullPlasma(s, false, false);
  })->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("pull1000/plasma_materialized", [](benchmark::State& s) {
    syncbench::syncPullPlasma(s, false, true);
  })->Unit(kMicrosecond);
  add("pull1000/sqlite_triggers", syncbench::syncPullSqlite, kMicrosecond);
  add("pull1000/lmdb_scan", syncbench::syncPullLmdbScan, kMicrosecond);
  benchmark::RegisterBenchmark("pull1000_fbs/plasma", [](benchmark::State& s) {
    syncbench::syncPullPlasma(s, true, false);
  })->Unit(kMicrosecond);

#ifdef PLASMA_BENCH_POKE
  registerPokeBenchmarks();  // WebSocket poke fan-out (bench_poke.cpp)
#endif
#ifdef PLASMA_BENCH_CLIENT
  registerClientBenchmarks();  // the client's local mutate (bench_client.cpp)
#endif
}

void closeAll() noexcept {
  closePlasma();
  closeLmdb();
  closeSqlite();
  closeQueryPlasma();
  closeQuerySqlite();
  closeLive();
  syncbench::closeSyncPlasma();
  syncbench::closeSyncSqlite();
  removeWorkDir();
}

}  // namespace
}  // namespace plasma_bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  int status = 0;
  try {
    plasma_bench::registerAll();
    benchmark::AddCustomContext("plasma_bench.rows", std::to_string(plasma_bench::rowCount()));
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plasma_bench: %s\n", e.what());
    status = 1;
  }
  benchmark::Shutdown();
  plasma_bench::closeAll();
  return status;
}
