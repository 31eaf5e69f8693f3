// bench/bench_sync.cpp — the sync node's push and pull (issue 5): the
// workload generator and the push harness shared with the SQLite side
// (bench_sync_sqlite.cpp), plasma's side through plasma::sync (decodePush ->
// SyncServer::push -> encodePushResponse; SyncServer::pull ->
// encodePullResponse), and `pull1000/lmdb_scan`, a raw LMDB cursor over the
// same change-log range. See README.md, "Sync workloads".
#include "bench_sync.hpp"

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <any>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <plasma/database.hpp>
#include <plasma/plasma.hpp>

#include "bench_common.hpp"

#if __has_include("sync/codec.hpp") && __has_include("sync/server.hpp")
#define PLASMA_BENCH_HAVE_SYNC 1
#include <lmdb.h>

#include "engine/store.hpp"  // the `_changes` dbi, for the raw scan of lmdb_scan
#include "plasma/fbs/change_entry_generated.h"
#include "sync/codec.hpp"
#include "sync/server.hpp"
#else
#define PLASMA_BENCH_HAVE_SYNC 0
#endif

namespace plasma_bench::syncbench {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

// ---- the workload generator ---------------------------------------------------

PushClient::PushClient(std::string client_group_id, std::string client_id, std::uint64_t seed)
    : client_group_id_(std::move(client_group_id)),
      client_id_(std::move(client_id)),
      profile_id_("profile-" + client_group_id_),
      rng_(seed) {}

std::uint64_t PushClient::next() noexcept { return splitmix64(rng_); }

std::string PushClient::serialize(const std::vector<Spec>& specs) {
  boost::json::array mutations;
  mutations.reserve(specs.size());
  for (const Spec& s : specs) {
    const std::int64_t now = clock_ms_++;
    boost::json::object args;
    const char* name = nullptr;
    switch (s.kind) {
      case Kind::Create:
        name = "createTodo";
        args = {{"id", s.id}, {"title", printableFor(next(), kTitleBytes)}, {"updatedAt", now}};
        break;
      case Kind::MarkDone:
        name = "markDone";
        args = {{"id", s.id}, {"updatedAt", now}};
        break;
      case Kind::Rename:
        name = "renameTodo";
        args = {{"id", s.id}, {"title", printableFor(next(), kTitleBytes)}, {"updatedAt", now}};
        break;
      case Kind::Delete:
        name = "deleteTodo";
        args = {{"id", s.id}};
        break;
    }
    mutations.push_back(boost::json::object{{"clientID", client_id_},
                                            {"id", next_mutation_id_++},
                                            {"name", name},
                                            {"args", std::move(args)},
                                            {"timestamp", now}});
  }
  const boost::json::object body{{"profileID", profile_id_},
                                 {"clientGroupID", client_group_id_},
                                 {"mutations", std::move(mutations)},
                                 {"pushVersion", 1},
                                 {"schemaVersion", kSchemaVersion}};
  return boost::json::serialize(body);
}

std::string PushClient::createsBody(std::size_t creates) {
  std::vector<Spec> specs;
  specs.reserve(creates);
  for (std::size_t i = 0; i < creates; ++i) {
    specs.push_back({Kind::Create, plasma::newId()});
    live_.push_back(specs.back().id);
  }
  return serialize(specs);
}

std::string PushClient::mixedBody() {
  std::vector<Kind> kinds;
  kinds.reserve(kMutationsPerPush);
  kinds.insert(kinds.end(), kCreatesPerPush, Kind::Create);
  kinds.insert(kinds.end(), kUpdatesPerPush, Kind::MarkDone);  // MarkDone or Rename, drawn below
  kinds.insert(kinds.end(), kDeletesPerPush, Kind::Delete);
  for (std::size_t i = kinds.size(); i > 1; --i) std::swap(kinds[i - 1], kinds[pick(i)]);
  std::vector<Spec> specs;
  specs.reserve(kinds.size());
  for (Kind k : kinds) {
    if (k == Kind::Create || live_.empty()) {
      specs.push_back({Kind::Create, plasma::newId()});
      live_.push_back(specs.back().id);
    } else if (k == Kind::Delete) {
      const std::size_t i = pick(live_.size());
      specs.push_back({Kind::Delete, std::move(live_[i])});
      live_[i] = std::move(live_.back());
      live_.pop_back();
    } else {
      specs.push_back({(next() & 1) != 0 ? Kind::MarkDone : Kind::Rename, live_[pick(live_.size())]});
    }
  }
  return serialize(specs);
}

std::vector<std::string> PushClient::distinctChangeBodies() {
  if (live_.size() < kPullUpdates + kPullDeletes) throw std::logic_error("distinctChangeBodies: too few rows");
  // Distinct rows: a partial shuffle of the live rows picks the first
  // kPullUpdates + kPullDeletes of them.
  for (std::size_t i = 0; i < kPullUpdates + kPullDeletes; ++i) {
    std::swap(live_[i], live_[i + pick(live_.size() - i)]);
  }
  std::vector<Spec> specs;
  specs.reserve(kPullChanges);
  for (std::size_t i = 0; i < kPullUpdates; ++i) {
    specs.push_back({(next() & 1) != 0 ? Kind::MarkDone : Kind::Rename, live_[i]});
  }
  for (std::size_t i = kPullUpdates; i < kPullUpdates + kPullDeletes; ++i) specs.push_back({Kind::Delete, live_[i]});
  std::vector<std::string> created;
  for (std::size_t i = 0; i < kPullCreates; ++i) {
    specs.push_back({Kind::Create, plasma::newId()});
    created.push_back(specs.back().id);
  }
  for (std::size_t i = specs.size(); i > 1; --i) std::swap(specs[i - 1], specs[pick(i)]);
  live_.erase(live_.begin() + kPullUpdates, live_.begin() + kPullUpdates + kPullDeletes);
  live_.insert(live_.end(), created.begin(), created.end());
  std::vector<std::string> bodies;
  for (std::size_t at = 0; at < specs.size(); at += kMutationsPerPush) {
    const std::size_t end = std::min(specs.size(), at + kMutationsPerPush);
    bodies.push_back(serialize(std::vector<Spec>(specs.begin() + static_cast<std::ptrdiff_t>(at),
                                                 specs.begin() + static_cast<std::ptrdiff_t>(end))));
  }
  return bodies;
}

const PullScript& pullScript() {
  static const PullScript script = [] {
    PullScript s;
    PushClient client("pull-group", "pull-client", 0x9a11'5eedULL);
    s.client_group_id = client.clientGroupId();
    s.client_id = client.clientId();
    // PLASMA_BENCH_PULL_ROWS overrides kPullRows (growth curves of ./plasma bench).
    std::size_t rows = kPullRows;
    if (const char* env = std::getenv("PLASMA_BENCH_PULL_ROWS"); env != nullptr && std::atol(env) > 0) {
      rows = static_cast<std::size_t>(std::atol(env));
    }
    if (rows < kPullUpdates + kPullDeletes) rows = kPullUpdates + kPullDeletes;
    for (std::size_t made = 0; made < rows; made += kMutationsPerPush) {
      s.preload.push_back(client.createsBody(std::min(kMutationsPerPush, rows - made)));
    }
    s.tail = client.distinctChangeBodies();
    s.last_mutation_id = client.lastMutationId();
    return s;
  }();
  return script;
}

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

// ---- the push harness -----------------------------------------------------------

namespace {

// A round: every pusher submits its queued bodies back to back until the
// deadline (a push in flight at the deadline completes); the round ends
// when the last pusher is done. Pusher 0 runs on the calling (benchmark)
// thread, pushers 1..n-1 on threads that live as long as the runner.
constexpr double kRoundSeconds = 0.26;  // see README.md: 10 rounds pass the 5 x min_time cap
constexpr double kWarmupSeconds = 0.05;

struct RoundStats {
  double seconds = 0;
  std::uint64_t applied = 0;
  std::uint64_t bad_pushes = 0;  // pushes that did not apply all their mutations
  std::vector<std::size_t> pushes;
  bool starved = false;  // a pusher ran out of bodies before the deadline
};

class RoundRunner {
 public:
  explicit RoundRunner(PushBench& bench) : bench_(bench), n_(bench.clients.size()), per_(n_) {
    for (std::size_t p = 1; p < n_; ++p) threads_.emplace_back([this, p] { worker(p); });
  }
  RoundRunner(const RoundRunner&) = delete;
  RoundRunner& operator=(const RoundRunner&) = delete;
  ~RoundRunner() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  RoundStats run(double seconds) {
    for (auto& s : per_) s = PerPusher{};
    const auto start = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu_);
      deadline_ = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds));
      running_ = n_ - 1;
      ++generation_;
    }
    start_cv_.notify_all();
    pushUntil(0);
    {
      std::unique_lock lock(mu_);
      done_cv_.wait(lock, [&] { return running_ == 0; });
    }
    RoundStats r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (std::size_t p = 0; p < n_; ++p) {
      if (per_[p].error) std::rethrow_exception(per_[p].error);
      r.applied += per_[p].applied;
      r.bad_pushes += per_[p].bad;
      r.pushes.push_back(per_[p].pushes);
      r.starved = r.starved || per_[p].starved;
    }
    return r;
  }

 private:
  struct PerPusher {
    std::uint64_t applied = 0;
    std::uint64_t bad = 0;
    std::size_t pushes = 0;
    bool starved = false;
    std::exception_ptr error;
  };

  void pushUntil(std::size_t p) {
    PerPusher& s = per_[p];
    try {
      auto& queue = bench_.queued[p];
      std::size_t& next = bench_.next[p];
      PushEndpoint& endpoint = *bench_.endpoint;
      while (std::chrono::steady_clock::now() < deadline_) {
        if (next == queue.size()) {
          s.starved = true;
          break;
        }
        const PushResult r = endpoint.push(p, queue[next].body);
        ++next;
        ++s.pushes;
        s.applied += r.applied;
        if (r.applied != kMutationsPerPush || r.response_bytes == 0) ++s.bad;
      }
    } catch (...) {
      s.error = std::current_exception();
    }
  }

  void worker(std::size_t p) {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        start_cv_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      pushUntil(p);
      {
        std::lock_guard lock(mu_);
        --running_;
      }
      done_cv_.notify_one();
    }
  }

  PushBench& bench_;
  const std::size_t n_;
  std::vector<PerPusher> per_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  std::uint64_t generation_ = 0;
  std::size_t running_ = 0;
  bool quit_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

// Drops consumed bodies and builds new ones until each pusher has need[p] ready.
void topUp(PushBench& b) {
  for (std::size_t p = 0; p < b.clients.size(); ++p) {
    auto& q = b.queued[p];
    if (b.next[p] > 0) {
      b.applied_live[p] = q[b.next[p] - 1].live_after;
      q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(b.next[p]));
      b.next[p] = 0;
    }
    while (q.size() < b.need[p]) {
      std::string body = b.clients[p].mixedBody();
      q.push_back({std::move(body), b.clients[p].liveRows()});
    }
  }
}

void noteApplied(PushBench& b) {
  for (std::size_t p = 0; p < b.clients.size(); ++p) {
    if (b.next[p] > 0) b.applied_live[p] = b.queued[p][b.next[p] - 1].live_after;
  }
}

// Bytes this process has passed to write()/pwrite() so far (/proc/self/io
// wchar): LMDB's page writes, SQLite's WAL and checkpoint writes. 0 where
// the file is unavailable.
std::uint64_t processWriteBytes() {
  std::FILE* f = std::fopen("/proc/self/io", "r");
  if (f == nullptr) return 0;
  unsigned long long v = 0;
  char line[128];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "wchar: %llu", &v) == 1) break;
  }
  std::fclose(f);
  return v;
}

// CPU seconds (user + system) of every thread of the process so far.
double processCpuSeconds() {
  rusage u{};
  if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// The median latency of a 4 KiB pwrite + fdatasync in the scratch directory
// right now, in microseconds: what a synced commit costs at least at the
// moment (it varies a lot with the neighbours' I/O on a shared machine).
double fsyncMicros() {
  const auto file = workDir() / "sync_fsync_probe";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  char page[4096];
  std::memset(page, 'f', sizeof page);
  std::vector<double> us;
  for (int i = 0; i < 15; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (::pwrite(fd, page, sizeof page, static_cast<off_t>(i % 4) * 4096) != static_cast<ssize_t>(sizeof page) ||
        ::fdatasync(fd) != 0) {
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  ::close(fd);
  if (us.empty()) return 0;
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2), us.end());
  return us[us.size() / 2];
}

}  // namespace

std::unique_ptr<PushBench> makePushBench(std::unique_ptr<PushEndpoint> endpoint, std::string_view tag,
                                         std::size_t pushers) {
  auto b = std::make_unique<PushBench>();
  b->endpoint = std::move(endpoint);
  for (std::size_t p = 0; p < pushers; ++p) {
    const std::string n = std::to_string(p);
    b->clients.emplace_back(std::string(tag) + "-group-" + n, std::string(tag) + "-client-" + n, 0xc11e47ULL + p);
  }
  b->queued.resize(pushers);
  b->next.assign(pushers, 0);
  b->need.assign(pushers, 4);
  b->applied_live.assign(pushers, 0);
  // Preload (untimed): each client creates its first rows through the same push path.
  for (std::size_t p = 0; p < pushers; ++p) {
    for (std::size_t made = 0; made < kPreloadRowsPerClient; made += kMutationsPerPush) {
      const PushResult r = b->endpoint->push(p, b->clients[p].createsBody(kMutationsPerPush));
      if (r.applied != kMutationsPerPush) throw std::runtime_error("push preload: a mutation was not applied");
    }
    b->applied_live[p] = b->clients[p].liveRows();
  }
  // Warm-up rounds size the queues: double them until no pusher runs dry in
  // kWarmupSeconds, then hold 1.5x what a full round consumes.
  RoundRunner runner(*b);
  for (int attempt = 0; attempt < 16; ++attempt) {
    topUp(*b);
    const RoundStats r = runner.run(kWarmupSeconds);
    if (r.bad_pushes != 0) throw std::runtime_error("push warm-up: a mutation was not applied");
    if (!r.starved) {
      for (std::size_t p = 0; p < pushers; ++p) {
        b->need[p] = static_cast<std::size_t>(static_cast<double>(r.pushes[p]) * (kRoundSeconds / r.seconds) * 1.5) + 4;
      }
      break;
    }
    for (auto& n : b->need) n *= 2;
  }
  noteApplied(*b);
  return b;
}

void runPushWorkload(benchmark::State& state, PushBench& b) {
  const double fsync_us = fsyncMicros();
  RoundRunner runner(b);
  const std::uint64_t commits_before = b.endpoint->commits();
  std::uint64_t applied = 0;
  std::uint64_t bad = 0;
  std::uint64_t starved = 0;
  double seconds = 0;
  std::uint64_t written = 0;
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    topUp(b);
    state.ResumeTiming();
    const std::uint64_t written_before = processWriteBytes();
    const double cpu_before = processCpuSeconds();
    const RoundStats r = runner.run(kRoundSeconds);
    cpu += processCpuSeconds() - cpu_before;
    written += processWriteBytes() - written_before;
    seconds += r.seconds;
    applied += r.applied;
    bad += r.bad_pushes;
    if (r.starved) ++starved;
    for (std::size_t p = 0; p < r.pushes.size(); ++p) {
      b.need[p] = std::max(b.need[p], r.pushes[p] + r.pushes[p] / 2 + 4);
    }
  }
  noteApplied(b);
  const std::uint64_t commits = b.endpoint->commits() - commits_before;
  std::uint64_t expected_rows = 0;
  for (std::size_t n : b.applied_live) expected_rows += n;
  expectCount(state, bad, 0, "pushes with a mutation not applied");
  expectCount(state, b.endpoint->countTodos(), expected_rows, "todos rows after the pushes");
  reportRate(state, applied, seconds);
  state.counters["pushers"] = static_cast<double>(b.clients.size());
  state.counters["mutations_per_commit"] = commits > 0 ? static_cast<double>(applied) / static_cast<double>(commits) : 0;
  state.counters["starved_rounds"] = static_cast<double>(starved);
  state.counters["fsync_us"] = fsync_us;
  state.counters["cpu_us_per_mutation"] = applied > 0 ? cpu * 1e6 / static_cast<double>(applied) : 0;
  state.counters["written_bytes_per_mutation"] = applied > 0 ? static_cast<double>(written) / static_cast<double>(applied) : 0;
}

// ---- plasma's side --------------------------------------------------------------

#if PLASMA_BENCH_HAVE_SYNC

namespace {

namespace ps = plasma::sync;

// The todo app as issue 5 specifies it (examples/todo/todo_app.hpp at the
// time): table todos(id, title, done default 0, updatedAt) and four
// mutators. A copy, so that later additions to the example (columns, auth
// predicates) cannot silently change what is compared with the SQLite side,
// which would need the same additions.
namespace todo {

struct Todos : plasma::Table {
  Todos() : Table("todos") {}
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn title{this, plasma::text("title")};
  plasma::IntColumn done{this, plasma::integer("done").defaultTo(0)};
  plasma::IntColumn updatedAt{this, plasma::integer("updatedAt")};
};
const Todos todos;
const plasma::Schema schema = plasma::defineSchema(std::string(kSchemaVersion), {todos});

struct Ctx {
  std::string userId;
};
struct CreateTodoArgs {
  std::string id;
  std::string title;
  std::int64_t updatedAt = 0;
};
struct MarkDoneArgs {
  std::string id;
  std::int64_t updatedAt = 0;
};
struct RenameTodoArgs {
  std::string id;
  std::string title;
  std::int64_t updatedAt = 0;
};
struct DeleteTodoArgs {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(CreateTodoArgs, (), (id, title, updatedAt))
BOOST_DESCRIBE_STRUCT(MarkDoneArgs, (), (id, updatedAt))
BOOST_DESCRIBE_STRUCT(RenameTodoArgs, (), (id, title, updatedAt))
BOOST_DESCRIBE_STRUCT(DeleteTodoArgs, (), (id))

const plasma::Mutators<Ctx>& mutators() {
  using plasma::eq;
  static const plasma::Mutators<Ctx> instance =
      plasma::defineMutators<Ctx>()
          .define<CreateTodoArgs>("createTodo",
                                  [](const plasma::MutatorCall<Ctx, CreateTodoArgs>& m) {
                                    (void)m.db.insert(todos).values({{todos.id, m.args.id},
                                                                     {todos.title, m.args.title},
                                                                     {todos.updatedAt, m.args.updatedAt}});
                                  })
          .define<MarkDoneArgs>("markDone",
                                [](const plasma::MutatorCall<Ctx, MarkDoneArgs>& m) {
                                  (void)m.db.update(todos)
                                      .set({{todos.done, 1}, {todos.updatedAt, m.args.updatedAt}})
                                      .where(eq(todos.id, m.args.id));
                                })
          .define<RenameTodoArgs>("renameTodo",
                                  [](const plasma::MutatorCall<Ctx, RenameTodoArgs>& m) {
                                    (void)m.db.update(todos)
                                        .set({{todos.title, m.args.title}, {todos.updatedAt, m.args.updatedAt}})
                                        .where(eq(todos.id, m.args.id));
                                  })
          .define<DeleteTodoArgs>("deleteTodo", [](const plasma::MutatorCall<Ctx, DeleteTodoArgs>& m) {
            (void)m.db.deleteFrom(todos).where(eq(todos.id, m.args.id));
          });
  return instance;
}

}  // namespace todo

struct PlasmaSyncStore {
  plasma::Database db;
  ps::SyncServer server;
  PlasmaSyncStore(const std::filesystem::path& dir, plasma::Durability durability, bool durable_acks)
      : db(open(dir, durability)),
        server(db, ps::runnerFor(todo::mutators()),
               ps::SyncOptions{.schema_version = std::string(kSchemaVersion), .durable_acks = durable_acks}) {}

  static plasma::Database open(const std::filesystem::path& dir, plasma::Durability durability) {
    plasma::OpenOptions options;
    options.durability = durability;
    auto db = plasma::Database::open(dir, todo::schema, options);
    db.ensureSchema();
    return db;
  }
};

const std::any& authCtx() {
  static const std::any ctx = todo::Ctx{"bench-user"};
  return ctx;
}

std::size_t appliedOf(const ps::PushResponse& r) {
  std::size_t n = 0;
  for (const auto& m : r.results) n += m.outcome == ps::MutationOutcome::Applied ? 1 : 0;
  return n;
}

// decodePush -> SyncServer::push (group-committed by its writer thread) -> encodePushResponse.
class PlasmaPushEndpoint final : public PushEndpoint {
 public:
  PlasmaPushEndpoint(const std::filesystem::path& dir, plasma::Durability durability, bool durable_acks)
      : store_(std::make_unique<PlasmaSyncStore>(dir, durability, durable_acks)) {}

  PushResult push(std::size_t, const std::string& body) override {
    ps::PushRequest request = ps::decodePush(ps::Encoding::Json, body);
    const ps::PushResponse response = store_->server.push(std::move(request), authCtx());
    const std::string out = ps::encodePushResponse(ps::Encoding::Json, response);
    return {appliedOf(response), out.size()};
  }
  std::uint64_t countTodos() override {
    return store_->db.read([](const plasma::ReadTx& r) { return r.count(todo::todos); });
  }
  std::uint64_t commits() override { return store_->server.stats().commits; }

 private:
  std::unique_ptr<PlasmaSyncStore> store_;
};

struct PlasmaPull {
  std::unique_ptr<PlasmaSyncStore> store;
  std::uint64_t cookie = 0;
  std::uint64_t head = 0;
  MDB_txn* scan_txn = nullptr;  // reset/renew read handle of lmdb_scan
  MDB_cursor* scan_cursor = nullptr;
  ~PlasmaPull() {
    if (scan_cursor != nullptr) mdb_cursor_close(scan_cursor);
    if (scan_txn != nullptr) mdb_txn_abort(scan_txn);
  }
};

struct PlasmaSyncSide {
  std::map<std::string, std::unique_ptr<PushBench>> push;  // by workload
  std::unique_ptr<PlasmaPull> pull;
};

std::unique_ptr<PlasmaSyncSide>& sideSlot() {
  static std::unique_ptr<PlasmaSyncSide> side;
  return side;
}
PlasmaSyncSide& side() {
  auto& s = sideSlot();
  if (!s) s = std::make_unique<PlasmaSyncSide>();
  return *s;
}

PlasmaPull& pullStore() {
  auto& s = side();
  if (!s.pull) {
    auto p = std::make_unique<PlasmaPull>();
    // Loaded without syncing (pulls only read); then the same bytes on disk.
    p->store = std::make_unique<PlasmaSyncStore>(workDir() / "sync_pull_plasma", plasma::Durability::NoSync, false);
    const PullScript& script = pullScript();
    auto apply = [&](const std::string& body) {
      const auto r = p->store->server.push(ps::decodePush(ps::Encoding::Json, body), authCtx());
      if (appliedOf(r) != r.results.size()) throw std::runtime_error("pull preload: a mutation was not applied");
      return r.version;
    };
    for (const auto& body : script.preload) p->cookie = apply(body);
    for (const auto& body : script.tail) p->head = apply(body);
    flushWorkDir();
    s.pull = std::move(p);
  }
  return *s.pull;
}

}  // namespace

// plasma: the write-ahead log, durable = Durability::Wal (the log synced
// in every commit), relaxed = Durability::WalAsync (synced every 100 ms).
// plasma_lmdb_sync: LMDB's own synced commits, durable = NoMetaSync with
// each push answered once a later sync made it durable (`--durability
// nometasync-acks`... see README.md), relaxed = NoMetaSync answered at once.
void syncPushPlasma(benchmark::State& state, std::size_t pushers, bool durable, bool lmdb_sync) {
  guarded(state, [&] {
    const std::string key =
        std::string(durable ? "durable" : "relaxed") + (lmdb_sync ? "_lmdb" : "") + std::to_string(pushers);
    auto& slot = side().push[key];
    if (!slot) {
      const plasma::Durability d = lmdb_sync ? plasma::Durability::NoMetaSync
                                   : durable ? plasma::Durability::Wal
                                             : plasma::Durability::WalAsync;
      auto endpoint = std::make_unique<PlasmaPushEndpoint>(workDir() / ("sync_push_plasma_" + key), d,
                                                           durable && lmdb_sync);
      slot = makePushBench(std::move(endpoint), "plasma-" + key, pushers);
    }
    runPushWorkload(state, *slot);
  });
}

void syncPullPlasma(benchmark::State& state, bool flatbuffers, bool materialized) {
  guarded(state, [&] {
    PlasmaPull& p = pullStore();
    const PullScript& script = pullScript();
    ps::PullRequest request;
    request.profile_id = "profile-" + script.client_group_id;
    request.client_group_id = script.client_group_id;
    request.cookie = p.cookie;
    request.schema_version = std::string(kSchemaVersion);
    const ps::Encoding encoding = flatbuffers ? ps::Encoding::FlatBuffers : ps::Encoding::Json;
    std::uint64_t bytes = 0;
    std::uint64_t bad = 0;
    // Checked once through the client-side decoder (untimed), then every
    // response must have the same size.
    std::size_t expected_bytes = 0;
    {
      const std::string out = p.store->server.pullEncoded(request, authCtx(), encoding);
      const ps::WirePullResponse w = ps::decodePullResponse(encoding, out);
      std::size_t dels = 0;
      for (const auto& op : w.patch) dels += op.op == ps::PatchOpKind::Del ? 1 : 0;
      if (w.patch.size() != kPullChanges || dels != kPullDeletes || w.cookie != p.head || w.more ||
          w.last_mutation_id_changes.size() != 1) {
        throw std::runtime_error("pull: wrong patch, cookie or lastMutationIDChanges");
      }
      expected_bytes = out.size();
    }
    const WallClock clock;
    for (auto _ : state) {
      if (materialized) {  // the two-step API: a PullResponse, then its encoding
        const ps::PullResponse r = p.store->server.pull(request, authCtx());
        const std::string out = ps::encodePullResponse(encoding, r);
        bytes += out.size();
        if (out.size() != expected_bytes || r.patch.size() != kPullChanges) ++bad;
      } else {  // what the node serves: encoded straight from the read transaction
        const std::string out = p.store->server.pullEncoded(request, authCtx(), encoding);
        bytes += out.size();
        if (out.size() != expected_bytes) ++bad;
      }
    }
    const double seconds = clock.seconds();
    expectCount(state, bad, 0, "pulls with a wrong patch size, cookie or lastMutationIDChanges");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * kPullChanges, seconds);
    state.counters["response_bytes"] =
        state.iterations() > 0 ? static_cast<double>(bytes) / static_cast<double>(state.iterations()) : 0;
  });
}

// A raw cursor over plasma's own `_changes` sub-database: the entries after
// the cookie (every row entry and, as plasma writes them, one Confirm per
// mutation), each read in place (op, id, row bytes), nothing verified,
// deduplicated or encoded. One reset/renew read transaction per pull.
void syncPullLmdbScan(benchmark::State& state) {
  guarded(state, [&] {
    PlasmaPull& p = pullStore();
    plasma::detail::DatabaseImpl& impl = p.store->db.impl();
    MDB_env* env = impl.env.get();
    const MDB_dbi dbi = impl.changes;
    auto check = [](int rc, const char* what) {
      if (rc != MDB_SUCCESS) throw std::runtime_error(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
    };
    if (p.scan_txn == nullptr) {
      check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &p.scan_txn), "txn_begin");
      check(mdb_cursor_open(p.scan_txn, dbi, &p.scan_cursor), "cursor_open");
      mdb_txn_reset(p.scan_txn);
    }
    unsigned char start[8];
    for (int b = 0; b < 8; ++b) start[b] = static_cast<unsigned char>((p.cookie + 1) >> (56 - 8 * b));
    std::uint64_t rows = 0, confirms = 0, touched = 0, bad = 0;
    const WallClock clock;
    for (auto _ : state) {
      check(mdb_txn_renew(p.scan_txn), "txn_renew");
      check(mdb_cursor_renew(p.scan_txn, p.scan_cursor), "cursor_renew");
      MDB_val k{sizeof start, start};
      MDB_val v;
      std::uint64_t pulled = 0;
      for (int rc = mdb_cursor_get(p.scan_cursor, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
           rc = mdb_cursor_get(p.scan_cursor, &k, &v, MDB_NEXT)) {
        const auto* e = flatbuffers::GetRoot<plasma::fbs::ChangeEntry>(v.mv_data);
        if (e->op() == plasma::fbs::ChangeOp::Confirm) {
          ++confirms;
          continue;
        }
        const auto* id = e->id();
        const auto* row = e->row();
        touched += id->size() + static_cast<unsigned char>(id->c_str()[0]) + (row != nullptr ? row->size() : 0);
        ++pulled;
      }
      mdb_txn_reset(p.scan_txn);
      rows += pulled;
      if (pulled != kPullChanges) ++bad;
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, bad, 0, "scans that did not see every row entry");
    reportRate(state, rows, seconds);
    state.counters["entries_per_pull"] =
        state.iterations() > 0 ? static_cast<double>(rows + confirms) / static_cast<double>(state.iterations()) : 0;
  });
}

void closeSyncPlasma() noexcept { sideSlot().reset(); }

#else  // plasma::sync not built yet

void syncPushPlasma(benchmark::State& state, std::size_t, bool, bool) {
  for (auto _ : state) state.SkipWithError("sync/codec.hpp is not available: plasma::sync is not built");
}
void syncPullPlasma(benchmark::State& state, bool, bool) {
  for (auto _ : state) state.SkipWithError("sync/codec.hpp is not available: plasma::sync is not built");
}
void syncPullLmdbScan(benchmark::State& state) {
  for (auto _ : state) state.SkipWithError("sync/codec.hpp is not available: plasma::sync is not built");
}
void closeSyncPlasma() noexcept {}

#endif

}  // namespace plasma_bench::syncbench
