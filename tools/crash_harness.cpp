// plasma-crash-harness: kill -9 the real node at random moments while
// several clients push, restart it on the same directory, and check after
// every kill that nothing acknowledged was lost or applied twice.
//
//   plasma-crash-harness [--node PATH] [--kills 50] [--clients 4] [--seed S]
//                        [--max-seconds 600] [--durability full|nometasync|wal|wal-async]
//                        [--data DIR] [--keep] [--sabotage] [--compact]
//   plasma-crash-harness --client-crash [--kills 50] [--group-size 1] [--seed S]
//   plasma-crash-harness --faults [--rounds 10] [--round-ms 1000] [--node-kills 0] [--seed S]
//
// --client-crash kills a real plasma::client::Client process (this binary
// with --client-child) instead, at random moments of its mutate / pushOnce /
// pullOnce (+ rebase) loop, restarts it on its directory and checks that
// every todo whose mutate returned is still in its store, that it keeps its
// clientID, reports no non-retryable error, and that after a final flush the
// node holds each of its mutations exactly once (lastMutationID == todos).
// With --group-size N, N processes open the directory at once (a client
// group sharing the store and outbox), each killed at its own moment.
// --faults does not kill: raw pushers and two real Clients talk to the node
// through tools/fault_proxy.hpp, with a new seeded fault profile per round;
// with --node-kills N the node is also kill -9'd (and restarted on its
// directory, the proxy following it) at a random moment of the first N rounds.
//
// Each client is a raw protocol client (net::HttpClient + the sync codec, its
// own clientGroupID and clientID, JSON or FlatBuffers per request) that
// pushes createTodo mutations whose todo id names the client and the
// mutation id ("c2-17"), resends everything not yet acknowledged after a
// failure, and pulls incrementally from its cookie. The killer sends SIGKILL
// 20..300 ms after each start (seeded), waits for the process, opens the
// database directory in this process and checks:
//   - every acknowledged mutation is there: lastMutationID >= the highest
//     lastMutationID the client was answered;
//   - exactly once: the client's todos are exactly c<k>-1 .. c<k>-<lastMutationID>,
//     the change log holds exactly one Put per todo, made by that mutation,
//     and no push answer ever reported one of them `failed` (a createTodo
//     run twice fails on its duplicate id);
//   - the change log is gapless from 1 to the head, the Confirm entries of a
//     client increase and end at its lastMutationID, and it replays
//     (snapshotAsOf(head)) to exactly the table;
// then restarts the node on the same directory. After the last kill the
// clients push until everything is acknowledged and pull until their cookie
// is the head: each one's incrementally pulled state (across every crash)
// must equal the table, and equal a full pull from a null cookie.
// Exit status 0: every check held; 1: a violation (printed); 2: bad flags.
// The seed is printed first; `--seed S` replays the kill schedule (the
// interleaving with the pushers is up to the scheduler).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "client/client.hpp"
#include "fault_proxy.hpp"
#include "net/http_client.hpp"
#include "sync/codec.hpp"
#include "sync/server.hpp"
#include "todo/todo_app.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// --compact: the node compacts its change log every 20 ms (horizon: the
// oldest active cookie), so kills also land in compactions; the log then has
// gaps where compaction removed entries, and is checked for increasing
// versions instead of gapless ones.
bool g_compact = false;

struct Args {
  std::string node;
  int kills = 50;
  int clients = 4;
  std::uint64_t seed = 0;
  bool seed_given = false;
  int max_seconds = 600;
  std::string durability = "full";
  std::string data;
  bool keep = false;
  // Self-test of the checker: after the 2nd kill, delete one todo from the
  // directory behind the node's back; the run must then report a violation.
  bool sabotage = false;
  // --client-crash: kill -9 a plasma::client::Client process instead (the
  // node stays up); --client-child PORT: that process (internal).
  bool client_crash = false;
  int child_port = 0;
  bool child_final = false;
  // --faults: no kills; a FaultProxy between the clients and the node.
  bool faults = false;
  int rounds = 10;
  int round_ms = 1000;
  int node_kills = 0;  // --faults: kill -9 and restart the node in this many rounds
  int group_size = 1;  // --client-crash: processes opening the client directory at once (a client group)
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "plasma-crash-harness: " << why
            << "\nusage: plasma-crash-harness [--node PATH] [--kills N] [--clients N] [--seed S] [--max-seconds N]"
                " [--durability full|nometasync|wal|wal-async] [--data DIR] [--keep] [--sabotage] [--compact]\n"
               "       plasma-crash-harness --client-crash [--kills N] [--group-size N] [--seed S]\n"
               "       plasma-crash-harness --faults [--rounds N] [--round-ms MS] [--node-kills N] [--clients N] [--seed S]\n";
  std::exit(2);
}

std::uint64_t number(const std::string& flag, const char* v, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  const std::string_view s(v);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < min || n > max) usage(flag + ": bad number");
  return n;
}

Args parse(int argc, char** argv) {
  Args a;
#ifdef PLASMA_NODE_BINARY
  a.node = PLASMA_NODE_BINARY;
#endif
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(f + ": missing value");
      return argv[++i];
    };
    if (f == "--node") a.node = value();
    else if (f == "--kills") a.kills = static_cast<int>(number(f, value(), 0, 100000));
    else if (f == "--clients") a.clients = static_cast<int>(number(f, value(), 1, 64));
    else if (f == "--seed") { a.seed = number(f, value(), 0, UINT64_MAX); a.seed_given = true; }
    else if (f == "--max-seconds") a.max_seconds = static_cast<int>(number(f, value(), 1, 86400));
    else if (f == "--durability") {
      a.durability = value();
      if (a.durability != "full" && a.durability != "nometasync" && a.durability != "wal" && a.durability != "wal-async") {
        usage("--durability: full, nometasync, wal or wal-async");
      }
    } else if (f == "--data") a.data = value();
    else if (f == "--keep") a.keep = true;
    else if (f == "--sabotage") a.sabotage = true;
    else if (f == "--compact") g_compact = true;
    else if (f == "--client-crash") a.client_crash = true;
    else if (f == "--client-child") a.child_port = static_cast<int>(number(f, value(), 1, 65535));
    else if (f == "--final") a.child_final = true;
    else if (f == "--faults") a.faults = true;
    else if (f == "--group-size") a.group_size = static_cast<int>(number(f, value(), 1, 8));
    else if (f == "--node-kills") a.node_kills = static_cast<int>(number(f, value(), 0, 100000));
    else if (f == "--rounds") a.rounds = static_cast<int>(number(f, value(), 1, 100000));
    else if (f == "--round-ms") a.round_ms = static_cast<int>(number(f, value(), 10, 600000));
    else if (f == "--help") usage("help");
    else usage("unknown flag " + f);
  }
  if (a.node.empty() && a.child_port == 0) usage("--node is required (the plasma-node binary)");
  return a;
}

// ---- violations (collected from every thread, printed by main) ---------------
std::mutex g_mu;
std::vector<std::string> g_violations;
void violation(const std::string& what) {
  std::lock_guard lock(g_mu);
  g_violations.push_back(what);
  std::cerr << "VIOLATION: " << what << std::endl;
}
bool violated() {
  std::lock_guard lock(g_mu);
  return !g_violations.empty();
}

// ---- the node process -----------------------------------------------------------
class Node {
 public:
  Node(std::string binary, fs::path dir, std::string durability)
      : binary_(std::move(binary)), dir_(std::move(dir)), durability_(std::move(durability)) {}
  ~Node() { kill9(); }

  void start() {
    std::vector<std::string> args{binary_,     "--listen",    "127.0.0.1:0", "--data", dir_.string(), "--log-level",
                                  "error",     "--durability", durability_,  "--threads", "2", "--map-size-mb", "1024"};
    if (g_compact) {
      for (const char* a : {"--compact-interval-ms", "20", "--compact-margin", "0", "--compact-active-window-s", "3600"}) {
        args.emplace_back(a);
      }
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Dies with the process that started it (a crashed or timed-out test leaves no node behind).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // that process died before prctl
      dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    const auto deadline = Clock::now() + 30s;
    while (line.find('\n') == std::string::npos) {
      if (Clock::now() > deadline) throw std::runtime_error("plasma-node printed no 'listening on' line in 30 s");
      pollfd p{out[0], POLLIN, 0};
      const int r = poll(&p, 1, 100);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char buf[256];
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("plasma-node exited before listening: " + line);
      line.append(buf, static_cast<std::size_t>(n));
    }
    close(out[0]);
    const std::string prefix = "listening on http://127.0.0.1:";
    const auto at = line.find(prefix);
    if (at == std::string::npos) throw std::runtime_error("unexpected first line from plasma-node: " + line);
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(at + prefix.size())));
  }

  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait();
  }
  int terminate() {
    if (pid_ <= 0) return 0;
    ::kill(pid_, SIGTERM);
    return wait();
  }
  std::uint16_t port() const { return port_; }

 private:
  int wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string binary_;
  fs::path dir_;
  std::string durability_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// ---- the pushing clients ------------------------------------------------------------
constexpr const char* kUser = "crash-user";

struct Pusher {
  int index = 0;
  std::string group, client;
  std::int64_t next = 1;             // the next mutation id to create
  std::atomic<std::int64_t> acked{0};  // the newest lastMutationID a push answer reported
  std::optional<std::uint64_t> cookie;
  std::map<std::string, std::string> state;  // todo id -> title, from incremental pulls
  std::uint64_t pushes = 0, failures = 0, pulls = 0;
};

std::string todoId(const Pusher& p, std::int64_t m) { return p.client + "-" + std::to_string(m); }

std::vector<plasma::net::Header> headers() { return {{"X-User", kUser}}; }

// A client for the node, or null after a short pause when one cannot be
// made now (net::HttpClient sets up an io_uring per client — a 64-entry one
// since the blocking clients stopped taking Asio's 16,384 — and under heavy
// reconnect churn io_uring_queue_init could fail with ENOMEM until the
// kernel had torn released rings down).
std::unique_ptr<plasma::net::HttpClient> newHttpClient(std::uint16_t port, std::chrono::milliseconds timeout) {
  try {
    return std::make_unique<plasma::net::HttpClient>("127.0.0.1", port, timeout);
  } catch (const std::exception& e) {
    static std::atomic<int> reported{0};
    if (reported.fetch_add(1) < 3) std::cerr << "note: cannot make an HTTP client now (retrying): " << e.what() << std::endl;
    std::this_thread::sleep_for(20ms);
    return nullptr;
  }
}

// One push of everything unacknowledged plus up to `fresh` new mutations.
// Returns false when it got no answer.
bool pushOnce(Pusher& p, plasma::net::HttpClient& http, plasma::sync::Encoding enc, int fresh) {
  plasma::sync::PushRequest req;
  req.client_group_id = p.group;
  req.profile_id = "crash";
  req.schema_version = todo::kSchemaVersion;
  const std::int64_t acked = p.acked.load();
  for (int i = 0; i < fresh; ++i) ++p.next;
  for (std::int64_t m = acked + 1; m < p.next && req.mutations.size() < 150; ++m) {
    req.mutations.push_back(plasma::sync::Mutation{
        p.client, m, "createTodo", json::object{{"id", todoId(p, m)}, {"title", "m" + std::to_string(m)}, {"updatedAt", m}},
        0});
  }
  if (req.mutations.empty()) return true;
  ++p.pushes;
  const auto resp = http.request("POST", "/sync/push", plasma::sync::encodePushRequest(enc, req),
                                 plasma::sync::contentType(enc), headers());
  if (resp.status != 200) return false;
  plasma::sync::PushResponse r;
  try {
    r = plasma::sync::decodePushResponse(enc, resp.body);
  } catch (const std::exception& e) {
    violation(p.client + ": undecodable push answer: " + e.what());
    return false;
  }
  for (const auto& res : r.results) {
    using plasma::sync::MutationOutcome;
    if (res.outcome == MutationOutcome::Failed || res.outcome == MutationOutcome::Rejected) {
      violation(p.client + "/" + std::to_string(res.id) + " answered " +
                (res.outcome == MutationOutcome::Failed ? "failed" : "rejected") + " (" + res.error + ": " + res.message +
                "): a createTodo of a fresh id fails only when it runs twice");
    }
  }
  const auto it = r.last_mutation_ids.find(p.client);
  if (it == r.last_mutation_ids.end()) {
    violation(p.client + ": push answer without its lastMutationID");
    return false;
  }
  if (it->second < acked) {
    violation(p.client + ": lastMutationID went back from " + std::to_string(acked) + " to " + std::to_string(it->second));
  }
  if (it->second >= p.next) violation(p.client + ": lastMutationID " + std::to_string(it->second) + " beyond what it sent");
  p.acked.store(std::max(acked, it->second));
  return true;
}

// Pulls every page from the client's cookie into its state. False: no answer.
bool pullOnce(Pusher& p, plasma::net::HttpClient& http, plasma::sync::Encoding enc) {
  (void)enc;  // pulls use JSON: the rows' column values without the row layout
  for (int page = 0; page < 10000; ++page) {
    plasma::sync::PullRequest req;
    req.client_group_id = p.group;
    req.profile_id = "crash";
    req.schema_version = todo::kSchemaVersion;
    req.cookie = p.cookie;
    const auto resp = http.request("POST", "/sync/pull", plasma::sync::encodePullRequest(plasma::sync::Encoding::Json, req),
                                   plasma::sync::kJsonContentType, headers());
    if (resp.status != 200) return false;
    plasma::sync::WirePullResponse r;
    try {
      r = plasma::sync::decodePullResponse(plasma::sync::Encoding::Json, resp.body);
    } catch (const std::exception& e) {
      violation(p.client + ": pull refused or undecodable (cookie " + (p.cookie ? std::to_string(*p.cookie) : "null") +
                "): " + e.what());
      return false;
    }
    if (p.cookie && r.cookie < *p.cookie) {
      violation(p.client + ": cookie went back from " + std::to_string(*p.cookie) + " to " + std::to_string(r.cookie));
    }
    for (const auto& op : r.patch) {
      if (op.op == plasma::sync::PatchOpKind::Clear) p.state.clear();
      else if (op.op == plasma::sync::PatchOpKind::Del) p.state.erase(op.id);
      else p.state[op.id] = std::string(op.value.at("title").as_string());
    }
    p.cookie = r.cookie;
    ++p.pulls;
    if (!r.more) return true;
  }
  return true;
}

// ---- the check, on the directory of a stopped node -------------------------------------
struct CheckStats {
  std::uint64_t head = 0, rows = 0, entries = 0;
};

CheckStats checkDirectory(const fs::path& dir, const std::vector<std::unique_ptr<Pusher>>& pushers,
                          const std::vector<std::int64_t>& acked, bool exact, const std::string& when) {
  CheckStats st;
  plasma::OpenOptions o;
  o.map_size_bytes = std::size_t{1} << 30;
  plasma::Database db = plasma::Database::open(dir, todo::schema, o);
  db.ensureSchema();
  std::map<std::string, std::string> table;  // id -> title
  db.read([&](const plasma::ReadTx& tx) {
    tx.scan(todo::todos, [&](const plasma::RowView& r) {
      if (r.get(todo::todos.owner).value_or("") != kUser) return;  // another user's (--faults: the real clients')
      table[std::string(r.id())] = std::string(r.get(todo::todos.title).value_or(""));
    });
  });
  st.rows = table.size();
  st.head = db.headVersion();
  std::map<std::string, std::int64_t> lmids;
  {
    plasma::sync::SyncServer server(db, plasma::sync::runnerFor(todo::mutators()), {.schema_version = todo::kSchemaVersion});
    for (const auto& p : pushers) lmids[p->client] = server.lastMutationID(p->group, p->client);
    server.stop();
  }
  // Rows: exactly c<k>-1 .. c<k>-<lastMutationID>, each titled by its mutation.
  std::map<std::string, std::string> expect;
  for (std::size_t k = 0; k < pushers.size(); ++k) {
    const Pusher& p = *pushers[k];
    const std::int64_t lmid = lmids[p.client];
    if (lmid < acked[k]) {
      violation(when + ": " + p.client + " lastMutationID " + std::to_string(lmid) + " below the acknowledged " +
                std::to_string(acked[k]) + ": an acknowledged mutation was lost");
    }
    if (exact && lmid != acked[k]) {
      violation(when + ": " + p.client + " lastMutationID " + std::to_string(lmid) + ", acknowledged " + std::to_string(acked[k]));
    }
    for (std::int64_t m = 1; m <= lmid; ++m) expect[todoId(p, m)] = "m" + std::to_string(m);
  }
  if (table != expect) {
    std::size_t missing = 0, extra = 0;
    for (const auto& [id, t] : expect) missing += table.contains(id) ? 0 : 1;
    for (const auto& [id, t] : table) extra += expect.contains(id) ? 0 : 1;
    violation(when + ": the todos table does not match the lastMutationIDs: " + std::to_string(missing) + " missing, " +
              std::to_string(extra) + " extra of " + std::to_string(expect.size()));
  }
  // The change log.
  std::set<std::string> ours;
  for (const auto& p : pushers) ours.insert(p->client);
  const auto log = db.logEntries(0);
  st.entries = log.size();
  std::uint64_t prev = 0;
  std::map<std::string, int> puts;
  std::map<std::string, std::int64_t> confirms;
  for (const auto& e : log) {
    if (g_compact ? e.version <= prev : e.version != prev + 1) {
      violation(when + ": change log version " + std::to_string(e.version) + " after " + std::to_string(prev));
    }
    prev = e.version;
    if (e.op == plasma::ChangeOp::Confirm) {
      if (e.mutation_id <= confirms[e.client_id]) {
        violation(when + ": Confirm " + e.client_id + "/" + std::to_string(e.mutation_id) + " after " +
                  std::to_string(confirms[e.client_id]));
      }
      confirms[e.client_id] = e.mutation_id;
    } else if (!ours.contains(e.client_id)) {
      continue;
    } else if (e.op == plasma::ChangeOp::Put) {
      ++puts[e.id];
      if (e.id != e.client_id + "-" + std::to_string(e.mutation_id)) {
        violation(when + ": Put of " + e.id + " made by " + e.client_id + "/" + std::to_string(e.mutation_id));
      }
    } else {
      violation(when + ": unexpected Del of " + e.id);
    }
  }
  if (prev != st.head) violation(when + ": change log ends at " + std::to_string(prev) + ", head " + std::to_string(st.head));
  for (const auto& [id, n] : puts) {
    if (n != 1) violation(when + ": " + std::to_string(n) + " Puts of " + id + " (applied more than once)");
  }
  if (puts.size() != table.size()) {
    violation(when + ": " + std::to_string(puts.size()) + " todos in the change log, " + std::to_string(table.size()) +
              " in the table");
  }
  for (const auto& p : pushers) {
    if (confirms[p->client] != lmids[p->client]) {
      violation(when + ": " + p->client + " newest Confirm " + std::to_string(confirms[p->client]) + ", lastMutationID " +
                std::to_string(lmids[p->client]));
    }
  }
  const auto snap = db.snapshotAsOf(st.head);
  std::map<std::string, std::string> replayed;
  if (auto t = snap.find("todos"); t != snap.end()) {
    for (const auto& [id, row] : t->second) {
      if (row.get(todo::todos.owner).value_or("") == kUser) replayed[id] = std::string(row.get(todo::todos.title).value_or(""));
    }
  }
  if (replayed != table) violation(when + ": the change log does not replay to the table");
  return st;
}


// ---- client crashes ----------------------------------------------------------------------
constexpr const char* kClientUser = "crash-client-user";

// The child: a plasma::client::Client on its own directory (durability Full)
// that mutates, pushes and pulls (each pull rebases) in a loop, printing
// "did <todo id>" after each mutate returned, until it is killed.
int runClientChild(const Args& a, std::uint64_t seed) {
  plasma::client::ClientOptions o;
  o.tables = {todo::todos};
  o.schema_version = todo::kSchemaVersion;
  o.runner = plasma::sync::runnerFor(todo::mutators());
  o.ctx = todo::Ctx{kClientUser};
  o.data_dir = a.data;
  o.durability = plasma::Durability::Full;
  o.port = static_cast<std::uint16_t>(a.child_port);
  o.auth_headers = {{"X-User", kClientUser}};
  o.websocket = false;
  o.request_timeout = 3s;
  o.retry = {.max_attempts = 2, .initial_delay_ms = 2, .max_delay_ms = 10};
  std::mutex out_mu;
  auto say = [&](const std::string& line) {
    std::lock_guard lock(out_mu);
    std::fputs((line + "\n").c_str(), stdout);
    std::fflush(stdout);
  };
  o.on_error = [&](const plasma::client::ClientError& e) {
    using K = plasma::client::ErrorKind;
    if (e.kind == K::Network || e.kind == K::Server || e.kind == K::RateLimited) return;  // retried
    say("error " + std::string(plasma::client::errorKindName(e.kind)) + " " + e.message);
  };
  plasma::client::Client c(std::move(o));
  auto haves = [&] {
    c.db().read([&](const plasma::ReadTx& tx) {
      tx.scan(todo::todos, [&](const plasma::RowView& r) { say("have " + std::string(r.id())); });
    });
  };
  say("open " + c.clientGroupID() + " " + c.clientID() + " " + std::to_string(c.pendingCount()));
  haves();
  say("ready");
  if (a.child_final) {
    bool ok = false;
    for (int i = 0; i < 20 && !ok; ++i) ok = c.flush(5s) && c.pendingCount() == 0 && c.pullOnce();
    haves();
    say(ok ? "final ok" : "final failed");
    return ok ? 0 : 1;
  }
  std::mt19937_64 rng(seed);
  // A createTodo of a fresh id can only fail if it ran twice: report any.
  std::vector<std::pair<std::string, std::shared_future<plasma::client::Outcome>>> handles;
  auto reportOutcomes = [&] {
    for (auto it = handles.begin(); it != handles.end();) {
      if (it->second.wait_for(0s) != std::future_status::ready) {
        ++it;
        continue;
      }
      const auto o = it->second.get();
      if (o.kind == plasma::client::OutcomeKind::Failed || o.kind == plasma::client::OutcomeKind::Discarded) {
        say("error outcome " + std::string(plasma::client::outcomeKindName(o.kind)) + " for " + it->first + " as " +
            o.client_id + "/" + std::to_string(o.mutation_id) + ": " + o.error + " " + o.message);
      }
      it = handles.erase(it);
    }
  };
  for (int i = 0; i < 20000; ++i) {
    const auto roll = rng() % 10;
    reportOutcomes();
    if (roll < 6) {
      const std::string id = c.newId();
      say("op mutate");
      auto h = c.mutate("createTodo", json::object{{"id", id}, {"title", "x"}, {"updatedAt", i}});
      handles.emplace_back(id, h.outcome);
      say("did " + id);
    } else if (roll < 8) {
      say("op push");
      (void)c.pushOnce();
      say("done");
    } else {
      say("op pull");
      (void)c.pullOnce();  // pulls every page and rebases in one transaction
      say("done");
    }
  }
  return 0;
}

// Reads a child's stdout line by line.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Dies with the process that started it (a crashed or timed-out test leaves no node behind).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // that process died before prctl
      dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& x : args) argv.push_back(x.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    fd_ = out[0];
  }
  ~Child() {
    kill9();
    if (fd_ >= 0) close(fd_);
  }
  // The next line, or nullopt at EOF or after `timeout`.
  std::optional<std::string> line(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      if (eof_) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char b[4096];
      const ssize_t n = read(fd_, b, sizeof b);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait();
  }
  int wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

int runClientCrash(const Args& args, std::uint64_t seed) {
  const fs::path dir = args.data.empty() ? fs::temp_directory_path() / ("plasma-client-crash-" + std::to_string(::getpid()))
                                         : fs::path(args.data);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "node");
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(args.max_seconds);
  Node node(args.node, dir / "node", args.durability);
  node.start();
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw std::runtime_error("cannot find this executable");
  const std::string exe(self, static_cast<std::size_t>(n));
  std::mt19937_64 rng(seed);
  std::set<std::string> did;  // mutate returned for these
  std::map<std::string, int> killed_in;  // the operation each kill interrupted
  std::string group;
  std::set<std::string> clients;  // the clientIDs seen (one per slot of the directory)
  std::size_t last_have = 0;
  const std::size_t group_size = static_cast<std::size_t>(std::max(1, args.group_size));
  struct Proc {
    std::unique_ptr<Child> child;
    std::set<std::string> have;
    bool ready = false, killed = false;
    std::string op;  // started and not finished (per its last lines)
    Clock::time_point kill_at;
  };
  auto life = [&](int k, bool final_life) -> std::set<std::string> {
    // Every process of a life opens the same directory (a client group when
    // there are several); each is killed at its own random moment.
    std::vector<Proc> procs(final_life ? 1 : group_size);
    for (std::size_t i = 0; i < procs.size(); ++i) {
      std::vector<std::string> a{exe, "--client-child", std::to_string(node.port()), "--data", (dir / "client").string(),
                                 "--seed", std::to_string(seed + static_cast<std::uint64_t>(k) * 16 + i)};
      if (final_life) a.push_back("--final");
      procs[i].child = std::make_unique<Child>(a);
    }
    const auto handle = [&](Proc& p, const std::string& l) {
      if (l.starts_with("open ")) {
        std::istringstream in(l.substr(5));
        std::string g, c;
        std::size_t pending = 0;
        in >> g >> c >> pending;
        if (!group.empty() && g != group) violation("life " + std::to_string(k) + ": client group " + g + ", was " + group);
        group = g;
        if (!clients.contains(c)) {
          if (clients.size() >= group_size) {
            violation("life " + std::to_string(k) + ": a restarted client came back with a new clientID " + c);
          }
          clients.insert(c);
        }
      } else if (l.starts_with("have ")) {
        p.have.insert(l.substr(5));
      } else if (l == "ready") {
        p.ready = true;
        for (const auto& id : did) {
          if (!p.have.contains(id)) {
            violation("life " + std::to_string(k) + ": todo " + id + " whose mutate returned is gone from the local store");
            break;
          }
        }
        last_have = p.have.size();
        p.have.clear();
      } else if (l.starts_with("op ")) {
        p.op = l.substr(3);
      } else if (l == "done") {
        p.op.clear();
      } else if (l.starts_with("did ")) {
        did.insert(l.substr(4));
        p.op.clear();
      } else if (l.starts_with("error ")) {
        violation("life " + std::to_string(k) + ": the client reported " + l.substr(6));
      } else if (l == "final failed") {
        violation("final: the client could not flush");
      }
    };
    for (auto& p : procs) {
      while (!p.ready) {
        auto l = p.child->line(30s);
        if (!l) {
          violation("life " + std::to_string(k) + ": the client did not open");
          return {};
        }
        handle(p, *l);
      }
    }
    if (final_life) {
      Proc& p = procs[0];
      while (auto l = p.child->line(120s)) handle(p, *l);
      const int status = p.child->wait();
      if (status != 0) violation("final: the client exited " + std::to_string(status));
      return p.have;
    }
    for (auto& p : procs) p.kill_at = Clock::now() + std::chrono::milliseconds(5 + rng() % 200);
    for (std::size_t alive = procs.size(); alive > 0;) {
      for (auto& p : procs) {
        if (p.killed) continue;
        if (Clock::now() >= p.kill_at) {
          p.child->kill9();
          while (auto l = p.child->line(1s)) handle(p, *l);  // what it wrote before it died
          ++killed_in[p.op.empty() ? "between operations" : "in " + (p.op == "pull" ? "pull+rebase" : p.op)];
          p.killed = true;
          --alive;
        } else if (auto l = p.child->line(2ms)) {
          handle(p, *l);
        }
      }
    }
    return {};
  };
  int kills = 0;
  for (; kills < args.kills && Clock::now() < deadline && !violated(); ++kills) {
    (void)life(kills, false);
    if ((kills + 1) % 10 == 0) {
      std::printf("client kill %d: %zu mutations returned, %zu todos in the local store\n", kills + 1, did.size(), last_have);
      std::fflush(stdout);
    }
  }
  std::string where;
  for (const auto& [op, n] : killed_in) where += (where.empty() ? "" : ", ") + std::to_string(n) + " " + op;
  std::printf("client kills: %s\n", where.c_str());
  const std::set<std::string> final_have = life(kills, true);
  for (const auto& id : did) {
    if (!final_have.contains(id)) {
      violation("final: todo " + id + " whose mutate returned is missing after the flush");
      break;
    }
  }
  const int status = node.terminate();
  if (status != 0) violation("plasma-node exited " + std::to_string(status) + " on SIGTERM");
  // The node's directory: the client's todos exactly once each, its
  // lastMutationID equal to their number (a mutation run twice would fail
  // on its duplicate id and advance lastMutationID without a todo).
  try {
    plasma::Database db = plasma::Database::open(dir / "node", todo::schema);
    db.ensureSchema();
    std::set<std::string> server;
    db.read([&](const plasma::ReadTx& tx) {
      tx.scan(todo::todos, [&](const plasma::RowView& r) { server.insert(std::string(r.id())); });
    });
    std::map<std::string, std::int64_t> lmids;
    {
      plasma::sync::SyncServer s(db, plasma::sync::runnerFor(todo::mutators()), {.schema_version = todo::kSchemaVersion});
      for (const auto& c : clients) lmids[c] = s.lastMutationID(group, c);
      s.stop();
    }
    if (server != final_have) {
      violation("final: the client holds " + std::to_string(final_have.size()) + " todos, the node " +
                std::to_string(server.size()));
    }
    std::map<std::string, int> puts;
    std::map<std::string, std::int64_t> puts_by;  // clientID -> todos its mutations created
    std::uint64_t prev = 0;
    for (const auto& e : db.logEntries(0)) {
      if (e.version != prev + 1) violation("final: change log version " + std::to_string(e.version) + " after " + std::to_string(prev));
      prev = e.version;
      if (e.op == plasma::ChangeOp::Put) {
        ++puts[e.id];
        ++puts_by[e.client_id];
      }
    }
    for (const auto& [id, c] : puts) {
      if (c != 1) violation("final: " + std::to_string(c) + " Puts of " + id);
    }
    std::int64_t total = 0;
    for (const auto& [c, lmid] : lmids) {
      total += lmid;
      if (lmid != puts_by[c]) {
        violation("final: client " + c + " lastMutationID " + std::to_string(lmid) + " but " + std::to_string(puts_by[c]) +
                  " todos created (each mutation creates one): a mutation was lost or ran twice");
      }
    }
    if (total != static_cast<std::int64_t>(server.size())) {
      violation("final: lastMutationIDs sum to " + std::to_string(total) + " for " + std::to_string(server.size()) + " todos");
    }
  } catch (const std::exception& e) {
    violation(std::string("final: the node's directory does not open: ") + e.what());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("plasma-crash-harness --client-crash: %d client kills in %.1f s; %zu mutations returned, %zu todos at the end; %s\n",
              kills, secs, did.size(), final_have.size(), violated() ? "VIOLATIONS" : "every check held");
  if (!args.keep && !violated()) fs::remove_all(dir, ec);
  if (violated()) {
    std::printf("data kept in %s\n", dir.string().c_str());
    std::printf("replay: plasma-crash-harness --client-crash --seed %llu --kills %d\n", static_cast<unsigned long long>(seed),
                args.kills);
    return 1;
  }
  return kills < args.kills ? 1 : 0;
}


// ---- faults on the wire ------------------------------------------------------------------------
constexpr const char* kFaultUser = "fault-client-user";

// Raw pushers and real Clients (sync loop, WebSocket pokes) talk to the node
// through a FaultProxy; each round draws a new fault profile. Then the proxy
// heals, everyone flushes, and the checks of the crash run hold, plus: each
// real Client's mutations are on the node exactly once and every Client
// holds exactly the node's rows it may read.
int runFaults(const Args& args, std::uint64_t seed) {
  const fs::path dir = args.data.empty() ? fs::temp_directory_path() / ("plasma-faults-" + std::to_string(::getpid()))
                                         : fs::path(args.data);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "node");
  const auto started = Clock::now();
  Node node(args.node, dir / "node", args.durability);
  node.start();
  plasma_tools::FaultProxy proxy(node.port(), seed);
  const std::uint16_t port = proxy.port();

  std::vector<std::unique_ptr<Pusher>> pushers;
  for (int k = 0; k < args.clients; ++k) {
    auto p = std::make_unique<Pusher>();
    p->index = k;
    p->group = "fault-g" + std::to_string(k);
    p->client = "c" + std::to_string(k);
    pushers.push_back(std::move(p));
  }
  std::atomic<bool> stop{false};
  auto pusherLoop = [&](Pusher& p, bool final_phase) {
    std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(p.index) + (final_phase ? 1000 : 0));
    std::unique_ptr<plasma::net::HttpClient> http;
    while (!stop.load()) {
      if (!http) http = newHttpClient(port, 2s);
      if (!http) continue;
      const auto enc = rng() % 2 == 0 ? plasma::sync::Encoding::Json : plasma::sync::Encoding::FlatBuffers;
      bool ok = false;
      try {
        if (final_phase) {
          ok = pushOnce(p, *http, enc, 0) && pullOnce(p, *http, enc);
          if (ok && p.acked.load() == p.next - 1) return;
        } else if (rng() % 4 == 0) {
          ok = pullOnce(p, *http, enc);
        } else {
          ok = pushOnce(p, *http, enc, 1 + static_cast<int>(rng() % 5));
        }
      } catch (const std::exception&) {
        ok = false;
      }
      if (!ok) {
        ++p.failures;
        http.reset();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % 5));
    }
  };

  // Real clients: same user, own directories, their sync loops and sockets through the proxy.
  struct Real {
    std::unique_ptr<plasma::client::Client> client;
    std::vector<std::string> own;  // todos it created
    std::int64_t mutations = 0;
  };
  std::vector<Real> reals(2);
  std::mutex err_mu;
  std::map<std::string, int> client_errors;
  for (std::size_t k = 0; k < reals.size(); ++k) {
    plasma::client::ClientOptions o;
    o.tables = {todo::todos};
    o.schema_version = todo::kSchemaVersion;
    o.runner = plasma::sync::runnerFor(todo::mutators());
    o.ctx = todo::Ctx{kFaultUser};
    o.data_dir = dir / ("client" + std::to_string(k));
    o.durability = plasma::Durability::NoSync;  // the client's disk is not under test here
    o.port = port;
    o.auth_headers = {{"X-User", kFaultUser}};
    o.ws_params = {{"user", kFaultUser}};
    o.encoding = k == 0 ? plasma::sync::Encoding::FlatBuffers : plasma::sync::Encoding::Json;
    o.poll_interval_ms = 100;
    o.request_timeout = 1s;
    o.retry = {.max_attempts = 3, .initial_delay_ms = 5, .max_delay_ms = 50};
    o.on_error = [&](const plasma::client::ClientError& e) {
      std::lock_guard lock(err_mu);
      ++client_errors[std::string(plasma::client::errorKindName(e.kind))];
    };
    reals[k].client = std::make_unique<plasma::client::Client>(std::move(o));
    reals[k].client->start();
  }

  std::mt19937_64 rng(seed);
  int node_kills = 0;
  for (int round = 0; round < args.rounds; ++round) {
    plasma_tools::FaultProfile f;
    auto pick = [&](double max) { return max * static_cast<double>(rng() % 101) / 100.0; };
    f.drop = pick(0.1);
    f.truncate_request = pick(0.08);
    f.duplicate = pick(0.2);
    f.delay = pick(0.3);
    f.max_delay_ms = 1 + static_cast<int>(rng() % 80);
    f.reset_after = pick(0.1);
    f.truncate_response = pick(0.08);
    f.ws_delay = pick(0.5);
    f.ws_reset = pick(0.05);
    proxy.setProfile(f, seed + static_cast<std::uint64_t>(round));
    stop = false;
    std::vector<std::thread> threads;
    for (auto& p : pushers) threads.emplace_back([&, pp = p.get()] { pusherLoop(*pp, false); });
    const auto round_end = Clock::now() + std::chrono::milliseconds(args.round_ms);
    for (std::size_t k = 0; k < reals.size(); ++k) {
      threads.emplace_back([&, k] {
        std::mt19937_64 r(seed * 31 + static_cast<std::uint64_t>(round) * 7 + k);
        Real& real = reals[k];
        while (Clock::now() < round_end) {
          if (real.own.empty() || r() % 10 < 7) {
            const std::string id = real.client->newId();
            (void)real.client->mutate("createTodo", json::object{{"id", id}, {"title", "new"}, {"updatedAt", 1}});
            real.own.push_back(id);
          } else {
            const std::string& id = real.own[r() % real.own.size()];
            (void)real.client->mutate("renameTodo", json::object{{"id", id}, {"title", "r" + std::to_string(r() % 1000)},
                                                                 {"updatedAt", 2}});
          }
          ++real.mutations;
          std::this_thread::sleep_for(std::chrono::milliseconds(2 + r() % 20));
        }
      });
    }
    if (round < args.node_kills) {  // the node dies mid-round; the proxy points at its successor
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % static_cast<std::uint64_t>(args.round_ms)));
      node.kill9();
      node.start();
      proxy.setUpstream(node.port());
      ++node_kills;
    }
    std::this_thread::sleep_until(round_end);
    stop = true;
    for (auto& t : threads) t.join();
    const auto& st = proxy.stats();
    std::printf("round %d: drop %.2f trunc-req %.2f dup %.2f delay %.2f(%dms) reset %.2f trunc-resp %.2f ws-delay %.2f "
                "ws-reset %.2f | so far %llu requests, %llu dropped, %llu truncated, %llu duplicated, %llu resets, "
                "%llu truncated answers, %llu ws delays, %llu ws resets\n",
                round + 1, f.drop, f.truncate_request, f.duplicate, f.delay, f.max_delay_ms, f.reset_after,
                f.truncate_response, f.ws_delay, f.ws_reset, (unsigned long long)st.requests.load(),
                (unsigned long long)st.dropped.load(), (unsigned long long)st.truncated_requests.load(),
                (unsigned long long)st.duplicated.load(), (unsigned long long)st.resets.load(),
                (unsigned long long)st.truncated_responses.load(), (unsigned long long)st.ws_delayed.load(),
                (unsigned long long)st.ws_resets.load());
    std::fflush(stdout);
  }
  // Heal, then quiesce.
  proxy.setProfile({});
  stop = false;
  {
    std::vector<std::thread> threads;
    for (auto& p : pushers) threads.emplace_back([&, pp = p.get()] { pusherLoop(*pp, true); });
    std::thread watchdog([&] {
      const auto until = Clock::now() + 120s;
      while (!stop.load() && Clock::now() < until) std::this_thread::sleep_for(10ms);
      stop = true;
    });
    for (auto& t : threads) t.join();
    if (stop.exchange(true)) violation("quiescence: the raw clients did not get everything acknowledged in time");
    watchdog.join();
  }
  for (auto& r : reals) {
    r.client->stop();
    if (!r.client->flush(60s) || r.client->pendingCount() != 0) violation("a real client could not flush");
  }
  for (auto& r : reals) {
    if (!r.client->pullOnce()) violation("a real client's last pull failed");
  }
  for (auto& p : pushers) {
    try {
      plasma::net::HttpClient http("127.0.0.1", port, 10s);
      if (!pullOnce(*p, http, plasma::sync::Encoding::Json)) violation(p->client + ": the last pull failed");
    } catch (const std::exception& e) {
      violation(p->client + ": the last pull failed: " + e.what());
    }
  }
  std::map<std::string, std::string> full;
  {
    Pusher fresh;
    fresh.group = pushers[0]->group;
    fresh.client = "fresh";
    plasma::net::HttpClient http("127.0.0.1", port, 10s);
    if (!pullOnce(fresh, http, plasma::sync::Encoding::Json)) violation("the full pull failed");
    full = fresh.state;
  }
  for (auto& p : pushers) {
    if (p->state != full) violation(p->client + " did not converge");
  }
  proxy.stop();
  const int status = node.terminate();
  if (status != 0) violation("plasma-node exited " + std::to_string(status) + " on SIGTERM");
  std::vector<std::int64_t> acked;
  std::uint64_t mutations = 0;
  for (auto& p : pushers) {
    acked.push_back(p->acked.load());
    mutations += static_cast<std::uint64_t>(p->next - 1);
  }
  try {
    (void)checkDirectory(dir / "node", pushers, acked, true, "final");
    plasma::Database db = plasma::Database::open(dir / "node", todo::schema);
    db.ensureSchema();
    std::map<std::string, std::string> server;  // the real clients' user's todos
    db.read([&](const plasma::ReadTx& tx) {
      tx.scan(todo::todos, [&](const plasma::RowView& r) {
        if (r.get(todo::todos.owner).value_or("") == kFaultUser) {
          server[std::string(r.id())] = std::string(r.get(todo::todos.title).value_or(""));
        }
      });
    });
    std::map<std::string, std::map<std::int64_t, int>> writes;  // client -> mutation id -> rows written
    for (const auto& e : db.logEntries(0)) {
      if (e.op != plasma::ChangeOp::Confirm && e.mutation_id > 0) ++writes[e.client_id][e.mutation_id];
    }
    plasma::sync::SyncServer s(db, plasma::sync::runnerFor(todo::mutators()), {.schema_version = todo::kSchemaVersion});
    for (std::size_t k = 0; k < reals.size(); ++k) {
      auto& c = *reals[k].client;
      const std::int64_t lmid = s.lastMutationID(c.clientGroupID(), c.clientID());
      if (lmid != reals[k].mutations) {
        violation("real client " + std::to_string(k) + ": lastMutationID " + std::to_string(lmid) + " after " +
                  std::to_string(reals[k].mutations) + " mutations");
      }
      const auto& w = writes[c.clientID()];
      for (std::int64_t m = 1; m <= lmid; ++m) {
        const auto it = w.find(m);
        if (it == w.end() || it->second != 1) {
          violation("real client " + std::to_string(k) + ": mutation " + std::to_string(m) + " wrote " +
                    std::to_string(it == w.end() ? 0 : it->second) + " rows (each writes exactly one)");
          break;
        }
      }
      std::map<std::string, std::string> local;
      c.db().read([&](const plasma::ReadTx& tx) {
        tx.scan(todo::todos, [&](const plasma::RowView& r) {
          local[std::string(r.id())] = std::string(r.get(todo::todos.title).value_or(""));
        });
      });
      if (local != server) {
        violation("real client " + std::to_string(k) + " did not converge: " + std::to_string(local.size()) +
                  " todos, the node has " + std::to_string(server.size()));
      }
    }
    s.stop();
  } catch (const std::exception& e) {
    violation(std::string("final: ") + e.what());
  }
  {
    std::lock_guard lock(err_mu);
    for (const auto& [kind, n] : client_errors) {
      const bool retried = kind == "Network" || kind == "Server" || kind == "RateLimited";
      std::printf("real clients reported %d x %s%s\n", n, kind.c_str(), retried ? " (retried)" : "");
      if (!retried) violation("a real client reported " + kind);
    }
  }
  reals.clear();
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("plasma-crash-harness --faults: %d rounds (%d with a node kill -9) in %.1f s; %llu raw mutations "
              "acknowledged; %s\n",
              args.rounds, node_kills, secs, (unsigned long long)mutations, violated() ? "VIOLATIONS" : "every check held");
  if (!args.keep && !violated()) fs::remove_all(dir, ec);
  if (violated()) {
    std::printf("data kept in %s\n", dir.string().c_str());
    std::printf("replay: plasma-crash-harness --faults --seed %llu --rounds %d\n", (unsigned long long)seed, args.rounds);
    return 1;
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.child_port != 0) return runClientChild(args, args.seed);
  const std::uint64_t seed = args.seed_given ? args.seed : std::random_device{}();
  if (args.faults) {
    std::printf("plasma-crash-harness --faults: seed %llu (replay: --seed %llu), %d rounds of %d ms\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), args.rounds, args.round_ms);
    std::fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    return runFaults(args, seed);
  }
  if (args.client_crash) {
    std::printf("plasma-crash-harness --client-crash: seed %llu (replay: --seed %llu), %d kills\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), args.kills);
    std::fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    return runClientCrash(args, seed);
  }
  std::printf("plasma-crash-harness: seed %llu (replay: --seed %llu), %d kills, %d clients, durability %s\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), args.kills, args.clients,
              args.durability.c_str());
  std::fflush(stdout);
  signal(SIGPIPE, SIG_IGN);
  const fs::path dir = args.data.empty() ? fs::temp_directory_path() / ("plasma-crash-" + std::to_string(::getpid()))
                                         : fs::path(args.data);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(args.max_seconds);

  std::vector<std::unique_ptr<Pusher>> pushers;
  for (int k = 0; k < args.clients; ++k) {
    auto p = std::make_unique<Pusher>();
    p->index = k;
    p->group = "crash-g" + std::to_string(k);
    p->client = "c" + std::to_string(k);
    pushers.push_back(std::move(p));
  }

  Node node(args.node, dir, args.durability);
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::uint64_t> epoch{0};  // bumped per restart
  std::atomic<bool> stop{false}, paused{false};
  node.start();
  port = node.port();

  auto work = [&](Pusher& p, bool final_phase) {
    std::mt19937_64 rng(seed * 1000003 + static_cast<std::uint64_t>(p.index) + (final_phase ? 77 : 0));
    std::unique_ptr<plasma::net::HttpClient> http;
    std::uint64_t http_epoch = ~0ull;
    while (!stop.load()) {
      if (paused.load()) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      if (!http || http_epoch != epoch.load()) {
        http_epoch = epoch.load();
        http = newHttpClient(port.load(), 3s);
        if (!http) continue;
      }
      const auto enc = rng() % 2 == 0 ? plasma::sync::Encoding::Json : plasma::sync::Encoding::FlatBuffers;
      bool ok = false;
      try {
        if (final_phase) {
          ok = pushOnce(p, *http, enc, 0) && pullOnce(p, *http, enc);
          if (ok && p.acked.load() == p.next - 1) return;
        } else if (rng() % 4 == 0) {
          ok = pullOnce(p, *http, enc);
        } else {
          ok = pushOnce(p, *http, enc, 1 + static_cast<int>(rng() % 8));
        }
      } catch (const std::exception&) {
        ok = false;  // the node died under us: resend everything unacknowledged
      }
      if (!ok) {
        ++p.failures;
        http.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(2 + rng() % 10));
      }
    }
  };

  std::vector<std::thread> threads;
  for (auto& p : pushers) threads.emplace_back([&, pp = p.get()] { work(*pp, false); });

  std::mt19937_64 rng(seed);
  int kills = 0;
  std::uint64_t last_head = 0;
  for (; kills < args.kills && Clock::now() < deadline && !violated(); ++kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 281));
    node.kill9();
    if (args.sabotage && kills == 1) {
      plasma::Database db = plasma::Database::open(dir, todo::schema);
      db.write([](plasma::Tx& tx) {
        (void)tx.deleteFrom(todo::todos).where(plasma::eq(todo::todos.id, "c0-1"));
      });
    }
    // The pushers keep failing against a dead port while we check.
    std::vector<std::int64_t> acked;
    for (auto& p : pushers) acked.push_back(p->acked.load());
    try {
      const auto st = checkDirectory(dir, pushers, acked, false, "after kill " + std::to_string(kills + 1));
      if (st.head < last_head) violation("head went back from " + std::to_string(last_head) + " to " + std::to_string(st.head));
      last_head = st.head;
      std::printf("kill %d: head %llu, %llu log entries, %llu todos\n", kills + 1, static_cast<unsigned long long>(st.head),
                  static_cast<unsigned long long>(st.entries), static_cast<unsigned long long>(st.rows));
      std::fflush(stdout);
    } catch (const std::exception& e) {
      violation("after kill " + std::to_string(kills + 1) + ": the directory does not open: " + e.what());
    }
    node.start();
    port = node.port();
    ++epoch;
  }
  // Quiescence: no more new mutations; every client gets everything acknowledged and pulls to the head.
  stop = true;
  for (auto& t : threads) t.join();
  threads.clear();
  stop = false;
  for (auto& p : pushers) threads.emplace_back([&, pp = p.get()] { work(*pp, true); });
  std::thread watchdog([&] {
    while (!stop.load() && Clock::now() < deadline + 60s) std::this_thread::sleep_for(10ms);
    stop = true;
  });
  for (auto& t : threads) t.join();
  const bool timed_out = stop.exchange(true);
  watchdog.join();
  if (timed_out) violation("quiescence: the clients did not get everything acknowledged in time");

  // Convergence: once every client is quiet, each one's incrementally pulled
  // state (kept across every crash) equals a full pull and the table.
  for (auto& p : pushers) {
    try {
      plasma::net::HttpClient http("127.0.0.1", port.load(), 10s);
      if (!pullOnce(*p, http, plasma::sync::Encoding::Json)) violation(p->client + ": the last pull failed");
    } catch (const std::exception& e) {
      violation(p->client + ": the last pull failed: " + e.what());
    }
  }
  std::map<std::string, std::string> full;
  try {
    Pusher fresh;
    fresh.group = pushers[0]->group;
    fresh.client = "fresh";
    plasma::net::HttpClient http("127.0.0.1", port.load(), 10s);
    if (!pullOnce(fresh, http, plasma::sync::Encoding::Json)) violation("the full pull failed");
    full = fresh.state;
  } catch (const std::exception& e) {
    violation(std::string("the full pull failed: ") + e.what());
  }
  for (auto& p : pushers) {
    if (p->state != full) {
      violation(p->client + " did not converge: holds " + std::to_string(p->state.size()) + " todos, a full pull " +
                std::to_string(full.size()));
    }
  }
  const int status = node.terminate();
  if (status != 0) violation("plasma-node exited " + std::to_string(status) + " on SIGTERM");
  std::vector<std::int64_t> acked;
  std::uint64_t mutations = 0, pushes = 0, failures = 0;
  for (auto& p : pushers) {
    acked.push_back(p->acked.load());
    mutations += static_cast<std::uint64_t>(p->next - 1);
    pushes += p->pushes;
    failures += p->failures;
  }
  try {
    const auto st = checkDirectory(dir, pushers, acked, true, "final");
    if (st.rows != full.size()) violation("final: the table holds " + std::to_string(st.rows) + " todos, the full pull " +
                                          std::to_string(full.size()));
  } catch (const std::exception& e) {
    violation(std::string("final: the directory does not open: ") + e.what());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("plasma-crash-harness: %d kills in %.1f s; %llu mutations acknowledged in %llu pushes (%llu failed "
              "attempts); %s\n",
              kills, secs, static_cast<unsigned long long>(mutations), static_cast<unsigned long long>(pushes),
              static_cast<unsigned long long>(failures), violated() ? "VIOLATIONS" : "every check held");
  if (kills < args.kills) std::printf("note: stopped after %d of %d kills (time limit or violation)\n", kills, args.kills);
  // A real violation keeps the directory for a post-mortem (its path is printed);
  // the self-test's expected one does not.
  if (!args.keep && (!violated() || args.sabotage)) {
    fs::remove_all(dir, ec);
  } else if (violated()) {
    std::printf("data kept in %s\n", dir.string().c_str());
  }
  if (violated()) {
    std::printf("replay: plasma-crash-harness --seed %llu --kills %d --clients %d --durability %s\n",
                static_cast<unsigned long long>(seed), args.kills, args.clients, args.durability.c_str());
    return 1;
  }
  return kills < args.kills ? 1 : 0;
}
