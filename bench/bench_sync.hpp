// bench/bench_sync.hpp — the sync node's push and pull workloads (issue 5),
// shared by plasma's side (bench_sync.cpp) and the original's design, SQLite
// with change-log triggers (bench_sync_sqlite.cpp). See README.md, "Sync
// workloads".
//
// Both sides get the same inputs: Replicache push bodies (JSON text, built
// before the timed region by PushClient) against the todo app
// (examples/todo/todo_app.hpp), and the same pull data set (PullScript),
// applied through each side's own push path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

namespace plasma_bench::syncbench {

inline constexpr std::size_t kMutationsPerPush = 100;
inline constexpr std::size_t kMaxPushers = 8;
// Mix of a push of 100 (kMutationsPerPush): 50 createTodo (new id), 40
// updates (markDone or renameTodo, half each on average) of an existing
// row, 10 deleteTodo of an existing row, in a shuffled order.
inline constexpr std::size_t kCreatesPerPush = 50;
inline constexpr std::size_t kUpdatesPerPush = 40;
inline constexpr std::size_t kDeletesPerPush = 10;
// Rows each push client creates (untimed, through the same push path)
// before the measured pushes, so that updates and deletes have rows to hit.
inline constexpr std::size_t kPreloadRowsPerClient = 1000;
inline constexpr std::size_t kTitleBytes = 32;
inline constexpr std::string_view kSchemaVersion = "todos-v1";

// The pull data set: kPullRows rows created first, then (after the cookie)
// kPullChanges changes to distinct rows: kPullUpdates updates and
// kPullDeletes deletes of distinct preloaded rows and kPullCreates new rows.
inline constexpr std::size_t kPullRows = 100'000;
inline constexpr std::size_t kPullChanges = 1000;
inline constexpr std::size_t kPullUpdates = 700;
inline constexpr std::size_t kPullDeletes = 100;
inline constexpr std::size_t kPullCreates = kPullChanges - kPullUpdates - kPullDeletes;

// One Replicache client, alone in its client group, and a model of the rows
// it created that still exist (so that updates and deletes always hit a
// row). Deterministic for a given seed, apart from the row ids, which are
// fresh plasma::newId() UUIDv7s.
class PushClient {
 public:
  PushClient(std::string client_group_id, std::string client_id, std::uint64_t seed);

  // The next push body (JSON text, as a Replicache client sends it), with
  // the next kMutationsPerPush mutation ids of this client:
  // `creates` createTodo only, or the 50/40/10 mix.
  std::string createsBody(std::size_t creates);
  std::string mixedBody();
  // The pull data set's tail: kPullChanges mutations on distinct rows
  // (kPullUpdates updates, kPullDeletes deletes of existing rows,
  // kPullCreates creates), shuffled, in bodies of kMutationsPerPush.
  std::vector<std::string> distinctChangeBodies();

  const std::string& clientGroupId() const noexcept { return client_group_id_; }
  const std::string& clientId() const noexcept { return client_id_; }
  std::int64_t lastMutationId() const noexcept { return next_mutation_id_ - 1; }
  // Rows in the model: created and not deleted by the bodies built so far.
  std::size_t liveRows() const noexcept { return live_.size(); }

 private:
  enum class Kind : std::uint8_t { Create, MarkDone, Rename, Delete };
  struct Spec {
    Kind kind;
    std::string id;
  };
  std::string serialize(const std::vector<Spec>& specs);
  std::uint64_t next() noexcept;
  std::size_t pick(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }

  std::string client_group_id_;
  std::string client_id_;
  std::string profile_id_;
  std::uint64_t rng_;
  std::int64_t next_mutation_id_ = 1;
  std::int64_t clock_ms_ = 1'750'000'000'000;  // updatedAt and timestamp, one step per mutation
  std::vector<std::string> live_;
};

// What an implementation's push returned, for checking (not encoded again).
struct PushResult {
  std::size_t applied = 0;         // mutations with outcome Applied
  std::size_t response_bytes = 0;  // size of the encoded response
};

// A push endpoint: decodes a JSON push body, applies it and encodes the
// JSON response. Called concurrently, pusher p always from the same thread.
class PushEndpoint {
 public:
  virtual ~PushEndpoint() = default;
  virtual PushResult push(std::size_t pusher, const std::string& body) = 0;
  // Untimed checks and statistics.
  virtual std::uint64_t countTodos() = 0;
  virtual std::uint64_t commits() = 0;  // write transactions so far
};

// A push store with its clients and their pre-built bodies; kept across
// Google Benchmark runs of one benchmark (each client's mutation ids go on
// where the previous run stopped).
struct PushBench {
  struct Queued {
    std::string body;
    std::size_t live_after = 0;  // the client's model rows once this body is applied
  };
  std::unique_ptr<PushEndpoint> endpoint;
  std::vector<PushClient> clients;
  std::vector<std::vector<Queued>> queued;  // per pusher, consumed from next[p]
  std::vector<std::size_t> next;
  std::vector<std::size_t> need;            // bodies to have ready per pusher before a round
  std::vector<std::size_t> applied_live;    // model rows of the bodies applied so far
};

// Makes the clients (one client group each), preloads kPreloadRowsPerClient
// rows per client through the endpoint (untimed) and sizes the queues with
// warm-up rounds. `tag` keeps client group ids distinct between stores.
std::unique_ptr<PushBench> makePushBench(std::unique_ptr<PushEndpoint> endpoint, std::string_view tag,
                                         std::size_t pushers);
// The timed loop: rounds of pushes back to back on every pusher; reports
// items_per_second = mutations applied / wall-clock seconds.
void runPushWorkload(benchmark::State& state, PushBench& bench);

// The pull data set, generated once per process: preload bodies (kPullRows
// creates) and tail bodies (kPullChanges distinct changes), one client.
struct PullScript {
  std::string client_group_id;
  std::string client_id;
  std::vector<std::string> preload;
  std::vector<std::string> tail;
  std::int64_t last_mutation_id = 0;  // after every body
};
const PullScript& pullScript();

// Minimal JSON string escaping for the hand-written encoders.
void appendJsonString(std::string& out, std::string_view s);

// ---- benchmark entry points (registered in bench_main.cpp) -----------------
// Push: `pushers` threads, durable (plasma Durability::Full / SQLite
// synchronous=FULL) or relaxed (Durability::NoMetaSync / synchronous=NORMAL).
// plasma durable: NoMetaSync + durable acknowledgements (the node's
// `--durability full`); with lmdb_full, Durability::Full (`plasma_full`).
// plasma relaxed: NoMetaSync, answered right after the commit.
void syncPushPlasma(benchmark::State& state, std::size_t pushers, bool durable, bool lmdb_sync);
// How the SQLite side's pushers share the database:
enum class WriterMode {
  Mutex,             // sqlite_triggers: a connection per pusher; a process mutex held BEGIN IMMEDIATE..COMMIT
  Busy,              // sqlite_triggers_busy: a connection per pusher, SQLite's busy_timeout alone
  SharedConnection,  // sqlite_triggers_1conn: one connection, used under the mutex (parse/encode outside it)
};
void syncPushSqlite(benchmark::State& state, std::size_t pushers, bool durable, WriterMode mode);
// Pull of kPullChanges changes, encoded (JSON, or FlatBuffers for plasma).
// SyncServer::pullEncoded (what the node serves), or with `materialized`
// SyncServer::pull + encodePullResponse (`plasma_materialized`).
void syncPullPlasma(benchmark::State& state, bool flatbuffers, bool materialized);
void syncPullSqlite(benchmark::State& state);
void syncPullLmdbScan(benchmark::State& state);  // the raw cursor scan over the same entries
void closeSyncPlasma() noexcept;
void closeSyncSqlite() noexcept;

}  // namespace plasma_bench::syncbench
