// bench/bench_client.cpp — the client engine's local `mutate` (issue 7):
// latency and throughput of an optimistic mutation (mutator run, undo
// records, outbox append, commit) with 100 live queries attached, in the
// default durable mode and in the relaxed modes. The client is offline (no
// node), so nothing but the local path is measured.
//
//   client_mutate_durable/plasma    Durability::Full (every mutate synced)
//   client_mutate_nometasync/plasma Durability::NoMetaSync (a system crash may
//                                   roll back the last mutations; no corruption)
//   client_mutate_nosync/plasma     Durability::NoSync (tests and caches only)
//
// Counters: p50_us / p99_us per mutate; items are mutations.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_common.hpp"
#include "client/client.hpp"
#include "todo_app.hpp"

namespace plasma_bench {
namespace {

void clientMutate(benchmark::State& state, plasma::Durability durability) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plasma-bench-client-" + std::to_string(static_cast<int>(durability)) + "-" +
                    std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<double> us;
  {
    plasma::client::ClientOptions o;
    o.tables = {todo::todos};
    o.schema_version = todo::kSchemaVersion;
    o.runner = plasma::sync::runnerFor(todo::mutators());
    o.ctx = todo::Ctx{"bench"};
    o.data_dir = dir;
    o.durability = durability;
    o.offline = true;
    o.websocket = false;
    plasma::client::Client client(o);
    // 100 live queries over the table the mutations write.
    std::vector<plasma::LiveQuery> live;
    for (int i = 0; i < 100; ++i) {
      live.push_back(client.db()
                         .select()
                         .from(todo::todos)
                         .where(plasma::eq(todo::todos.done, static_cast<std::int64_t>(i % 2)))
                         .orderBy({plasma::desc(todo::todos.updatedAt)})
                         .limit(20)
                         .live());
    }
    for (auto& q : live) q.whenReady();
    std::int64_t n = 0;
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      auto h = client.mutate("createTodo", boost::json::object{{"id", plasma::newId()}, {"title", "a todo"},
                                                                {"updatedAt", ++n}});
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      benchmark::DoNotOptimize(h);
    }
    for (auto& q : live) q.sync();
  }
  std::filesystem::remove_all(dir);
  std::sort(us.begin(), us.end());
  if (!us.empty()) {
    state.counters["p50_us"] = us[us.size() / 2];
    state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

void registerClientBenchmarks() {
  using benchmark::kMicrosecond;
  benchmark::RegisterBenchmark("client_mutate_durable/plasma",
                               [](benchmark::State& s) { clientMutate(s, plasma::Durability::Full); })
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("client_mutate_nometasync/plasma",
                               [](benchmark::State& s) { clientMutate(s, plasma::Durability::NoMetaSync); })
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("client_mutate_nosync/plasma",
                               [](benchmark::State& s) { clientMutate(s, plasma::Durability::NoSync); })
      ->Unit(kMicrosecond);
}

}  // namespace plasma_bench
