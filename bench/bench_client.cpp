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
//
// With the node in this process (PLASMA_BENCH_POKE builds):
//   client_initial_sync/plasma/N      an empty client's first pull of N todos from a node
//                                     (pages of max_pull_bytes, each page one rebase commit,
//                                     Durability::Full on the client)
//   client_initial_sync/local_api/N   the baseline: the same N rows written through the local
//                                     API (insert, batches of 10,000 per commit, Full)
//   client_poke_latency/plasma        mutate on client A -> B's live-query callback shows the
//                                     row (A pushes, the node commits durably (Full) and pokes,
//                                     B pulls and rebases); counters p50_ms / p99_ms
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "bench_common.hpp"
#include "client/client.hpp"
#ifdef PLASMA_BENCH_POKE
#include "bench_todo_node.hpp"
#include "node/node.hpp"
#endif
#include "todo_app.hpp"

namespace plasma_bench {
namespace {

// CPU seconds of the whole process (every thread: the in-process node too).
double processCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

plasma::client::ClientOptions benchClientOptions(const std::filesystem::path& dir, std::uint16_t port,
                                                 plasma::Durability durability) {
  plasma::client::ClientOptions o;
  o.tables = {todo::todos};
  o.schema_version = todo::kSchemaVersion;
  o.runner = plasma::sync::runnerFor(todo::mutators());
  o.ctx = todo::Ctx{"bench"};
  o.data_dir = dir;
  o.durability = durability;
  o.port = port;
  o.auth_headers = {{"X-User", "bench"}};
  o.ws_params = {{"user", "bench"}};
  o.request_timeout = std::chrono::seconds(60);
  return o;
}

void clientMutate(benchmark::State& state, plasma::Durability durability) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plasma-bench-client-" + std::to_string(static_cast<int>(durability)) + "-" +
                    std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<double> us;
  {
    auto o = benchClientOptions(dir, 0, durability);
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

// n todos of "bench", `batch` per commit: the rows of both sides of
// client_initial_sync.
void insertTodos(plasma::Database& db, std::int64_t n, std::int64_t batch) {
  for (std::int64_t base = 0; base < n; base += batch) {
    db.write([&](plasma::Tx& tx) {
      for (std::int64_t i = base; i < std::min(n, base + batch); ++i) {
        (void)tx.insert(todo::todos)
            .values({{todo::todos.id, "todo-" + std::to_string(1000000000 + i)},
                     {todo::todos.title, "a todo title of some length " + std::to_string(i)},
                     {todo::todos.updatedAt, i},
                     {todo::todos.owner, std::string("bench")}});
      }
    });
  }
}

// The local-API baseline of an initial sync: N todo rows inserted into an
// empty client store, 10,000 per commit.
void localInsert(benchmark::State& state) {
  const auto n = static_cast<std::int64_t>(state.range(0));
  for (auto _ : state) {
    const auto dir = workDir() / "client_local_insert";
    std::filesystem::remove_all(dir);
    {
      auto o = benchClientOptions(dir, 0, plasma::Durability::Full);
      o.offline = true;
      o.websocket = false;
      plasma::client::Client c(o);
      const double cpu0 = processCpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      insertTodos(c.db(), n, 10000);
      state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      state.counters["process_cpu_s"] = processCpuSeconds() - cpu0;
    }
    std::filesystem::remove_all(dir);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

#ifdef PLASMA_BENCH_POKE
plasma::node::AppSpec todoApp() { return todoNodeApp("bench"); }

plasma::node::NodeOptions nodeOptions(const std::filesystem::path& dir, plasma::Durability durability) {
  plasma::node::NodeOptions o;
  o.port = 0;
  o.data_dir = dir;
  o.threads = 1;
  o.durability = durability;
  o.log_level = plasma::node::LogLevel::Warn;
  o.map_size_bytes = std::size_t{4} << 30;
  return o;
}

// A node directory holding n todos of "bench" (seeded once, kept for the run).
std::filesystem::path seededNode(std::int64_t n) {
  const auto dir = workDir() / ("client_sync_node_" + std::to_string(n));
  const auto marker = dir / "seeded";
  if (std::filesystem::exists(marker)) return dir;
  std::filesystem::remove_all(dir);
  plasma::node::Node node(nodeOptions(dir, plasma::Durability::NoSync), todoApp());
  node.start();
  insertTodos(node.database(), n, 50000);
  node.database().sync();
  node.stop();
  std::ofstream(marker) << n;
  return dir;
}

void clientInitialSync(benchmark::State& state) {
  const auto n = static_cast<std::int64_t>(state.range(0));
  const auto node_dir = seededNode(n);
  plasma::node::Node node(nodeOptions(node_dir, plasma::Durability::NoSync), todoApp());
  node.start();
  for (auto _ : state) {
    const auto dir = workDir() / "client_initial_sync";
    std::filesystem::remove_all(dir);
    std::size_t rows = 0;
    {
      auto o = benchClientOptions(dir, node.port(), plasma::Durability::Full);
      o.websocket = false;
      plasma::client::Client c(o);
      const double cpu0 = processCpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      if (!c.pullOnce()) {
        state.SkipWithError("pull failed");
        break;
      }
      state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      state.counters["process_cpu_s"] = processCpuSeconds() - cpu0;  // client + in-process node
      rows = static_cast<std::size_t>(c.db().read([](plasma::ReadTx& tx) { return tx.count(todo::todos); }));
    }
    std::filesystem::remove_all(dir);
    if (rows != static_cast<std::size_t>(n)) {
      state.SkipWithError("the client did not receive every row");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// mutate on A -> B's live query shows the row, through push, durable commit,
// poke, pull and rebase. Both clients and the node durable (Full).
void clientPokeLatency(benchmark::State& state) {
  const auto node_dir = workDir() / "client_poke_node";
  const auto a_dir = workDir() / "client_poke_a";
  const auto b_dir = workDir() / "client_poke_b";
  for (const auto& d : {node_dir, a_dir, b_dir}) std::filesystem::remove_all(d);
  std::vector<double> ms;
  {
    plasma::node::Node node(nodeOptions(node_dir, plasma::Durability::Full), todoApp());
    node.start();
    auto ao = benchClientOptions(a_dir, node.port(), plasma::Durability::Full);
    auto bo = benchClientOptions(b_dir, node.port(), plasma::Durability::Full);
    ao.poll_interval_ms = bo.poll_interval_ms = 60000;  // pokes only
    plasma::client::Client a(ao), b(bo);
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> seen;
    auto live = b.db().select().from(todo::todos).live();
    auto sub = live.subscribeDelta([&](const plasma::LiveDelta& d) {
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard l(mu);
      for (const auto& r : d.added) seen.try_emplace(std::string(r.get(todo::todos.id).value_or("")), now);
      cv.notify_all();
    });
    live.whenReady();
    a.start();
    b.start();
    // Both sockets connected and the first pulls done.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::int64_t n = 0;
    for (auto _ : state) {
      const std::string id = "poke-" + std::to_string(++n);
      const auto t0 = std::chrono::steady_clock::now();
      a.mutate("createTodo", boost::json::object{{"id", id}, {"title", "x"}, {"updatedAt", n}});
      std::unique_lock l(mu);
      if (!cv.wait_for(l, std::chrono::seconds(5), [&] { return seen.contains(id); })) {
        state.SkipWithError("B never saw A's mutation");
        break;
      }
      const double v = std::chrono::duration<double, std::milli>(seen[id] - t0).count();
      ms.push_back(v);
      state.SetIterationTime(v / 1000.0);
    }
    sub.reset();
  }
  for (const auto& d : {node_dir, a_dir, b_dir}) std::filesystem::remove_all(d);
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    state.counters["p50_ms"] = ms[ms.size() / 2];
    state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  }
}
#endif  // PLASMA_BENCH_POKE

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
  for (const std::int64_t n : {100000, 1000000}) {
    benchmark::RegisterBenchmark("client_initial_sync/local_api", localInsert)
        ->Arg(n)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
#ifdef PLASMA_BENCH_POKE
    benchmark::RegisterBenchmark("client_initial_sync/plasma", clientInitialSync)
        ->Arg(n)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
#endif
  }
#ifdef PLASMA_BENCH_POKE
  benchmark::RegisterBenchmark("client_poke_latency/plasma", clientPokeLatency)
      ->UseManualTime()
      ->Iterations(200)
      ->Unit(kMicrosecond);
#endif
}

}  // namespace plasma_bench
