// tests/sim/simulation.cpp — the deterministic simulation (simulation.hpp).
#include "sim/simulation.hpp"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "sim/sim_app.hpp"
#include "sync/codec.hpp"
#include "sync/server.hpp"

namespace sim {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using plasma::sync::Encoding;

struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define SIM_REQUIRE(cond, what)                                           \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::ostringstream sim_msg_;                                        \
      sim_msg_ << what;                                                   \
      throw Violation(sim_msg_.str() + " [" #cond "]");                  \
    }                                                                     \
  } while (0)

std::string show(const State& s) {
  std::ostringstream o;
  o << "{";
  for (const auto& [id, it] : s) o << id << ":(" << it.title << "," << it.n << "," << it.owner << "," << it.shared << ") ";
  o << "}";
  return o.str();
}

// Deterministic on every platform (no std distributions).
struct Rng {
  std::mt19937_64 g;
  explicit Rng(std::uint64_t seed) : g(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : g() % n; }
  bool chance(double p) { return static_cast<double>(g() >> 11) * 0x1.0p-53 < p; }
};

struct Pending {
  std::int64_t id = 0;
  std::string name;
  json::object args;
};

struct SimClient {
  std::string id, group, user;
  Encoding push_encoding = Encoding::Json;
  std::int64_t next_id = 1;
  std::deque<Pending> pending;
  std::int64_t confirmed = 0;
  std::int64_t acked = 0;  // the newest lastMutationID a push answer reported
  std::optional<std::uint64_t> cookie;
  State base;
  int creates = 0, budget = 0;
  // The one request in flight (0: none) and when the client gives up on it.
  std::uint64_t outstanding = 0;
  std::uint64_t deadline = 0;
  std::optional<std::uint64_t> sent_cookie;  // of the pull in flight
  // A pull spanning pages: rows so far, applied to `staging`.
  bool paging = false;
  State staging;
  std::optional<std::uint64_t> staging_cookie;
  std::int64_t staging_lmid = 0;
  std::uint64_t partitioned_until = 0;
};

struct Msg {
  int client = 0;
  std::uint64_t request = 0;
  bool to_server = true;
  bool is_push = true;
  Encoding encoding = Encoding::Json;
  std::string body;
  int status = 200;
};

enum class EventKind { Deliver, Tick, NodeDown, NodeUp, Compact, Partition, Sabotage };
struct Event {
  EventKind kind = EventKind::Tick;
  int client = -1;
  Msg msg;
};

State readState(const plasma::Database& db) {
  State s;
  db.read([&](const plasma::ReadTx& tx) {
    tx.scan(items, [&](const plasma::RowView& r) {
      s[std::string(r.id())] = Item{std::string(r.get(items.title).value_or("")), r.get(items.n).value_or(0),
                                    std::string(r.get(items.owner).value_or("")), r.get(items.shared).value_or(0)};
    });
  });
  return s;
}

// Simulated milliseconds of faults and mutations; then every fault heals
// and the clients sync until quiet.
constexpr std::uint64_t kFaultPhaseMs = 1500;

class Simulation {
 public:
  Simulation(std::uint64_t seed, fs::path dir, const SimOptions& options)
      : rng_(seed), dir_(std::move(dir)), options_(options) {}

  SimResult run() {
    try {
      setup();
      loop(/*quiesce=*/false);
      quiesce_ = true;
      loop(/*quiesce=*/true);
      finalChecks();
    } catch (const Violation& v) {
      result_.failure = "t=" + std::to_string(now_) + "ms event " + std::to_string(result_.events) + ": " + v.what();
    } catch (const std::exception& e) {
      result_.failure = "t=" + std::to_string(now_) + "ms event " + std::to_string(result_.events) +
                        ": unexpected exception: " + e.what();
    }
    closeNode();
    return result_;
  }

 private:
  // ---- the node ------------------------------------------------------------
  void openNode() {
    plasma::OpenOptions o;
    o.map_size_bytes = std::size_t{64} << 20;
    o.durability = plasma::Durability::NoSync;
    db_ = std::make_unique<plasma::Database>(plasma::Database::open(dir_, schema, o));
    db_->ensureSchema();
    server_ = std::make_unique<plasma::sync::SyncServer>(*db_, plasma::sync::runnerFor(mutators()), sync_options_);
  }
  void closeNode() {
    if (server_) server_->stop();
    server_.reset();
    db_.reset();
  }
  bool nodeUp() const { return server_ != nullptr; }

  // ---- setup ------------------------------------------------------------------
  void setup() {
    sync_options_.schema_version = kSchemaVersion;
    sync_options_.max_mutations_per_push = 1 + rng_.below(4);
    const std::size_t page_sizes[] = {64, 200, 600, std::size_t{1} << 20};
    sync_options_.max_pull_bytes = page_sizes[rng_.below(4)];
    p_drop_req_ = 0.02 * static_cast<double>(rng_.below(8));
    p_drop_resp_ = 0.02 * static_cast<double>(rng_.below(8));
    p_dup_ = 0.03 * static_cast<double>(rng_.below(6));
    max_delay_ = 1 + rng_.below(40);
    timeout_ = 60 + rng_.below(120);
    openNode();

    // Usually 1-3 groups of 1-2 clients; one seed in twenty has 4 groups of 3.
    const bool many = rng_.chance(0.05);
    const int groups = many ? 4 : 1 + static_cast<int>(rng_.below(3));
    for (int g = 0; g < groups; ++g) {
      const std::string user = rng_.chance(0.5) ? "alice" : "bob";
      const int n = many ? 3 : 1 + static_cast<int>(rng_.below(2));
      for (int k = 0; k < n; ++k) {
        SimClient c;
        c.group = "g" + std::to_string(g);
        c.id = "c" + std::to_string(clients_.size());
        c.user = user;
        c.push_encoding = rng_.chance(0.5) ? Encoding::Json : Encoding::FlatBuffers;
        c.budget = 5 + static_cast<int>(rng_.below(25));
        clients_.push_back(std::move(c));
      }
    }
    for (int i = 0; i < static_cast<int>(clients_.size()); ++i) schedule(rng_.below(20), Event{EventKind::Tick, i, {}});
    const std::uint64_t horizon = kFaultPhaseMs;
    for (auto n = rng_.below(4); n > 0; --n) schedule(rng_.below(horizon), Event{EventKind::NodeDown, -1, {}});
    for (auto n = rng_.below(5); n > 0; --n) schedule(rng_.below(horizon), Event{EventKind::Compact, -1, {}});
    for (auto n = rng_.below(5); n > 0; --n) {
      schedule(rng_.below(horizon), Event{EventKind::Partition, static_cast<int>(rng_.below(clients_.size())), {}});
    }
    versions_[0] = State{};
  }

  void schedule(std::uint64_t delay, Event e) { events_.emplace(std::make_pair(now_ + delay, ++seq_), std::move(e)); }

  // ---- the loop ---------------------------------------------------------------
  void loop(bool quiesce) {
    if (quiesce) {
      // Heal every fault: the node comes back, partitions end, nothing is dropped.
      p_drop_req_ = p_drop_resp_ = p_dup_ = 0;
      for (auto& c : clients_) c.partitioned_until = 0;
      if (!nodeUp()) openNode();
    }
    const std::uint64_t cap = result_.events + 200000;
    while (!events_.empty()) {
      if (quiesce && quiet()) return;
      if (!quiesce && events_.begin()->first.first > kFaultPhaseMs) return;
      SIM_REQUIRE(result_.events < cap, "no quiescence after " << cap << " events: " << quietState());
      auto node = events_.extract(events_.begin());
      now_ = node.key().first;
      ++result_.events;
      Event& e = node.mapped();
      switch (e.kind) {
        case EventKind::Deliver:
          if (e.msg.to_server) {
            serverReceive(std::move(e.msg));
          } else {
            clientReceive(std::move(e.msg));
          }
          break;
        case EventKind::Tick:
          tick(e.client);
          break;
        case EventKind::NodeDown:
          if (!quiesce_ && nodeUp()) nodeDown();
          break;
        case EventKind::NodeUp:
          if (!nodeUp()) nodeUpAgain();
          break;
        case EventKind::Compact:
          if (nodeUp()) compact();
          break;
        case EventKind::Partition:
          if (!quiesce_) clients_[static_cast<std::size_t>(e.client)].partitioned_until = now_ + 1 + rng_.below(300);
          break;
        case EventKind::Sabotage:
          break;
      }
    }
    SIM_REQUIRE(!quiesce, "the event queue ran dry before quiescence");
  }

  bool quiet() const {
    if (!nodeUp()) return false;
    const std::uint64_t head = db_->headVersion();
    for (const auto& c : clients_) {
      if (!c.pending.empty() || c.outstanding != 0 || c.cookie != head) return false;
    }
    return true;
  }

  bool partitioned(const SimClient& c) const { return now_ < c.partitioned_until; }

  std::string quietState() const {
    std::ostringstream o;
    o << "head " << (nodeUp() ? db_->headVersion() : 0);
    for (const auto& c : clients_) {
      o << "; " << c.id << " pending " << c.pending.size() << " (first " << (c.pending.empty() ? 0 : c.pending.front().id)
        << ") acked " << c.acked << " confirmed " << c.confirmed << " cookie " << (c.cookie ? std::to_string(*c.cookie) : "-")
        << (c.outstanding ? " in flight" : "");
    }
    return o.str();
  }

  // ---- node faults ---------------------------------------------------------------
  void nodeDown() {
    const std::uint64_t head = db_->headVersion();
    closeNode();
    ++result_.restarts;
    schedule(1 + rng_.below(100), Event{EventKind::NodeUp, -1, {}});
    head_before_restart_ = head;
  }
  void nodeUpAgain() {
    openNode();
    SIM_REQUIRE(db_->headVersion() == head_before_restart_,
                "restart: head " << db_->headVersion() << ", was " << head_before_restart_);
    const State s = readState(*db_);
    SIM_REQUIRE(s == truth_, "restart: the reopened database holds " << show(s) << ", the oracle " << show(truth_));
  }

  void compact() {
    const std::uint64_t head = db_->headVersion();
    const std::uint64_t h = rng_.below(head + 1);
    db_->compactChangeLog(h);
    compacted_ = true;
    ++result_.compactions;
    checkSnapshot("after compaction to " + std::to_string(h));
  }

  void checkSnapshot(const std::string& when) {
    const std::uint64_t head = db_->headVersion();
    const plasma::Snapshot snap = db_->snapshotAsOf(head);
    State replayed;
    if (auto t = snap.find("items"); t != snap.end()) {
      for (const auto& [id, row] : t->second) {
        replayed[id] = Item{std::string(row.get(items.title).value_or("")), row.get(items.n).value_or(0),
                            std::string(row.get(items.owner).value_or("")), row.get(items.shared).value_or(0)};
      }
    }
    SIM_REQUIRE(replayed == truth_, when << ": the change log replays to " << show(replayed) << ", the tables hold "
                                         << show(truth_));
  }

  // ---- clients ---------------------------------------------------------------------
  State viewOf(const SimClient& c) const {
    State v = c.base;
    for (const auto& p : c.pending) (void)apply(v, c.user, p.name, p.args);
    return v;
  }

  void tick(int i) {
    SimClient& c = clients_[static_cast<std::size_t>(i)];
    if (c.outstanding != 0 && now_ >= c.deadline) {  // timed out: the connection is dropped
      c.outstanding = 0;
      c.paging = false;
    }
    if (c.outstanding == 0) {
      if (quiesce_) {
        if (!c.pending.empty() && c.acked < c.pending.back().id) {
          sendPush(i);
        } else if (!c.pending.empty() || !nodeUp() || c.cookie != db_->headVersion()) {
          sendPull(i, false);
        }
      } else {
        const auto roll = rng_.below(100);
        if (roll < 45 && c.creates < c.budget) {
          mutate(c);
        } else if (roll < 75 && !c.pending.empty()) {
          sendPush(i);
        } else {
          sendPull(i, false);
        }
      }
    }
    schedule(1 + rng_.below(30), Event{EventKind::Tick, i, {}});
  }

  void mutate(SimClient& c) {
    ++c.creates;
    ++result_.mutations;
    const State view = viewOf(c);
    std::vector<std::string> ids;
    for (const auto& [id, _] : view) ids.push_back(id);
    if (!all_ids_.empty() && rng_.chance(0.1)) ids.push_back(all_ids_[rng_.below(all_ids_.size())]);
    Pending p;
    p.id = c.next_id++;
    const auto roll = rng_.below(100);
    if (roll < 35 || ids.empty()) {
      p.name = "create";
      const std::string id = c.id + "-" + std::to_string(p.id);
      all_ids_.push_back(id);
      p.args = json::object{{"id", id}, {"title", "t" + std::to_string(p.id)}};
    } else {
      const std::string& target = ids[rng_.below(ids.size())];
      if (roll < 50) {
        p.name = "rename";
        p.args = json::object{{"id", target}, {"title", c.id + "/" + std::to_string(p.id)}};
      } else if (roll < 80) {
        p.name = "inc";
        p.args = json::object{{"id", target}, {"by", static_cast<std::int64_t>(1 + rng_.below(9))}};
      } else if (roll < 88) {
        p.name = "share";
        p.args = json::object{{"id", target}, {"shared", static_cast<std::int64_t>(rng_.below(2))}};
      } else if (roll < 96) {
        p.name = "del";
        p.args = json::object{{"id", target}};
      } else {
        p.name = "boom";
        p.args = json::object{{"id", target}};
      }
    }
    // Read-your-writes locally: the optimistic view shows the mutation at once.
    State expect = view;
    const bool ok = apply(expect, c.user, p.name, p.args);
    c.pending.push_back(std::move(p));
    if (ok) SIM_REQUIRE(viewOf(c) == expect, c.id << ": the view does not show its own mutation");
  }

  std::uint64_t send(int i, bool is_push, Encoding enc, std::string body) {
    SimClient& c = clients_[static_cast<std::size_t>(i)];
    const std::uint64_t request = ++requests_;
    c.outstanding = request;
    // While faults last a client may give up before a slow answer arrives
    // (which then lands on a closed connection); once healed it waits for the
    // slowest round trip, so a pull of many pages always completes.
    c.deadline = now_ + (quiesce_ ? 2 * max_delay_ + 10 : timeout_);
    if (partitioned(c) || rng_.chance(p_drop_req_)) {
      ++result_.dropped;
      return request;
    }
    Msg m{i, request, true, is_push, enc, std::move(body), 200};
    if (rng_.chance(p_dup_)) {  // the same bytes again, later (a retry of a request that did arrive)
      ++result_.duplicated;
      schedule(1 + rng_.below(3 * max_delay_ + 1), Event{EventKind::Deliver, i, m});
    }
    schedule(1 + rng_.below(max_delay_), Event{EventKind::Deliver, i, std::move(m)});
    return request;
  }

  void sendPush(int i) {
    SimClient& c = clients_[static_cast<std::size_t>(i)];
    plasma::sync::PushRequest req;
    req.client_group_id = c.group;
    req.profile_id = "p-" + c.group;
    req.schema_version = kSchemaVersion;
    // Mutations a push answer already acknowledged are sent again only
    // sometimes (the server must skip them).
    const bool resend_acked = !quiesce_ && rng_.chance(0.3);
    for (const auto& p : c.pending) {
      if (req.mutations.size() == 10) break;
      if (p.id <= c.acked && !resend_acked) continue;
      req.mutations.push_back(plasma::sync::Mutation{c.id, p.id, p.name, p.args, static_cast<double>(now_)});
    }
    // A client group pushes its whole outbox: sometimes this push also
    // carries the pending mutations of the other clients of the group.
    if (!quiesce_ && rng_.chance(0.3)) {
      for (const auto& other : clients_) {
        if (other.group != c.group || other.id == c.id) continue;
        std::size_t n = 0;
        for (const auto& p : other.pending) {
          if (n++ == 5) break;
          req.mutations.push_back(plasma::sync::Mutation{other.id, p.id, p.name, p.args, static_cast<double>(now_)});
        }
      }
    }
    ++result_.pushes;
    send(i, true, c.push_encoding, plasma::sync::encodePushRequest(c.push_encoding, req));
  }

  void sendPull(int i, bool next_page) {
    SimClient& c = clients_[static_cast<std::size_t>(i)];
    if (!next_page) {
      c.paging = true;
      c.staging = c.base;
      c.staging_cookie = c.cookie;
      c.staging_lmid = c.confirmed;
    }
    plasma::sync::PullRequest req;
    req.client_group_id = c.group;
    req.profile_id = "p-" + c.group;
    req.schema_version = kSchemaVersion;
    req.cookie = c.staging_cookie;
    c.sent_cookie = c.staging_cookie;
    ++result_.pulls;
    send(i, false, Encoding::Json, plasma::sync::encodePullRequest(Encoding::Json, req));
  }

  void clientReceive(Msg m) {
    SimClient& c = clients_[static_cast<std::size_t>(m.client)];
    if (m.request != c.outstanding || now_ >= c.deadline) return;  // a late answer on a closed connection
    if (partitioned(c)) return;
    c.outstanding = 0;
    SIM_REQUIRE(m.status == 200, c.id << ": status " << m.status << ": " << m.body);
    if (m.is_push) {
      const auto r = plasma::sync::decodePushResponse(m.encoding, m.body);
      for (const auto& res : r.results) {
        SIM_REQUIRE(res.outcome != plasma::sync::MutationOutcome::Rejected,
                    c.id << ": mutation " << res.id << " rejected: " << res.message);
      }
      if (auto it = r.last_mutation_ids.find(c.id); it != r.last_mutation_ids.end()) {
        SIM_REQUIRE(it->second >= c.confirmed, c.id << ": push answered lastMutationID " << it->second
                                                    << " below the confirmed " << c.confirmed);
        c.acked = std::max(c.acked, it->second);
      }
      if (std::getenv("PLASMA_SIM_TRACE") && quiesce_) {
        std::fprintf(stderr, "%s push answer: acked %lld pending back %lld results %zu lmids %zu\n", c.id.c_str(),
                     (long long)c.acked, c.pending.empty() ? -1LL : (long long)c.pending.back().id, r.results.size(),
                     r.last_mutation_ids.size());
      }
      return;
    }
    const auto r = plasma::sync::decodePullResponse(Encoding::Json, m.body);
    if (c.sent_cookie) SIM_REQUIRE(r.cookie >= *c.sent_cookie, c.id << ": cookie went back from " << *c.sent_cookie
                                                                      << " to " << r.cookie);
    for (const auto& op : r.patch) {
      if (op.op == plasma::sync::PatchOpKind::Clear) {
        c.staging.clear();
      } else if (op.op == plasma::sync::PatchOpKind::Del) {
        c.staging.erase(op.id);
      } else {
        SIM_REQUIRE(op.table == "items", "unknown table " << op.table);
        const auto& v = op.value;
        c.staging[op.id] = Item{std::string(v.at("title").as_string()), v.at("n").to_number<std::int64_t>(),
                                std::string(v.at("owner").as_string()), v.at("shared").to_number<std::int64_t>()};
      }
    }
    if (auto it = r.last_mutation_id_changes.find(c.id); it != r.last_mutation_id_changes.end()) {
      SIM_REQUIRE(it->second >= c.staging_lmid,
                  c.id << ": lastMutationID went down from " << c.staging_lmid << " to " << it->second);
      c.staging_lmid = it->second;
    }
    SIM_REQUIRE(!r.more || !c.sent_cookie || r.cookie > *c.sent_cookie,
                c.id << ": a pull page from cookie " << *c.sent_cookie << " says more but ends at " << r.cookie
                     << " (no progress; " << r.patch.size() << " ops)");
    c.staging_cookie = r.cookie;
    if (r.more) {
      sendPull(m.client, true);
      return;
    }
    // The last page: rebase onto it.
    c.paging = false;
    if (c.cookie) SIM_REQUIRE(r.cookie >= *c.cookie, c.id << ": cookie went back from " << *c.cookie << " to " << r.cookie);
    c.cookie = r.cookie;
    c.base = std::move(c.staging);
    c.confirmed = c.staging_lmid;
    const auto at = versions_.find(r.cookie);
    SIM_REQUIRE(at != versions_.end(), c.id << ": pull ended at cookie " << r.cookie << ", not a commit boundary");
    const State expect = visibleTo(at->second, c.user);
    SIM_REQUIRE(c.base == expect, c.id << " (" << c.user << ") pulled to cookie " << r.cookie << ": holds " << show(c.base)
                                       << ", the server had " << show(expect));
    // Its confirmed id is exactly what the server had processed at that cookie.
    std::int64_t server_lmid = 0;
    for (const auto& [key, version] : processed_) {
      if (key.first == c.id && version <= r.cookie) server_lmid = std::max(server_lmid, key.second);
    }
    SIM_REQUIRE(c.confirmed == server_lmid, c.id << ": pull at cookie " << r.cookie << " confirmed " << c.confirmed
                                                 << ", the server had processed up to " << server_lmid);
    while (!c.pending.empty() && c.pending.front().id <= c.confirmed) c.pending.pop_front();
  }

  // ---- the server side -------------------------------------------------------------
  void serverReceive(Msg m) {
    if (!nodeUp()) return;  // connection refused; the client times out
    SimClient& c = clients_[static_cast<std::size_t>(m.client)];
    const std::any ctx = Ctx{c.user};
    Msg reply{m.client, m.request, false, m.is_push, m.encoding, {}, 200};
    if (m.is_push) {
      auto req = plasma::sync::decodePush(m.encoding, m.body);
      plasma::sync::PushRequest copy = req;  // for the oracle, with args off the request's arena
      for (auto& mu : copy.mutations) mu.args = json::value(mu.args, json::storage_ptr());
      const auto r = server_->push(std::move(req), ctx);
      oraclePush(copy, r, c.user);
      reply.body = plasma::sync::encodePushResponse(m.encoding, r);
      if (options_.double_apply_after_push > 0 && ++pushes_seen_ >= options_.double_apply_after_push) sabotage();
    } else {
      const auto req = plasma::sync::decodePull(m.encoding, m.body);
      try {
        reply.body = server_->pullEncoded(req, ctx, Encoding::Json);
      } catch (const plasma::sync::SyncError& e) {
        SIM_REQUIRE(false, c.id << ": pull refused: " << plasma::sync::kindName(e.kind()) << ": " << e.what());
      }
    }
    if (partitioned(c) || rng_.chance(p_drop_resp_)) {
      ++result_.dropped;
      return;
    }
    schedule(1 + rng_.below(max_delay_), Event{EventKind::Deliver, m.client, std::move(reply)});
  }

  void oraclePush(const plasma::sync::PushRequest& req, const plasma::sync::PushResponse& r, const std::string& user) {
    using plasma::sync::MutationOutcome;
    SIM_REQUIRE(r.results.size() == req.mutations.size(), "push: " << r.results.size() << " results for "
                                                                   << req.mutations.size() << " mutations");
    for (std::size_t k = 0; k < r.results.size(); ++k) {
      const auto& res = r.results[k];
      const auto& mu = req.mutations[k];
      SIM_REQUIRE(res.client_id == mu.client_id && res.id == mu.id, "push: results out of request order");
      const auto key = std::make_pair(mu.client_id, mu.id);
      const bool seen = processed_.contains(key);
      switch (res.outcome) {
        case MutationOutcome::Applied:
        case MutationOutcome::Failed: {
          SIM_REQUIRE(!seen, mu.client_id << "/" << mu.id << " (" << mu.name << ") processed a second time");
          const bool ok = apply(truth_, user, mu.name, mu.args.as_object());
          SIM_REQUIRE(ok == (res.outcome == MutationOutcome::Applied),
                      mu.client_id << "/" << mu.id << " " << mu.name << " " << json::serialize(mu.args) << ": server "
                                   << (ok ? "failed" : "applied") << " what the model " << (ok ? "applies" : "fails")
                                   << " (" << res.error << ": " << res.message << ")");
          processed_[key] = r.version;
          break;
        }
        case MutationOutcome::Skipped:
          SIM_REQUIRE(seen, mu.client_id << "/" << mu.id << " skipped but never processed");
          break;
        case MutationOutcome::Deferred:
          SIM_REQUIRE(!seen, mu.client_id << "/" << mu.id << " deferred but already processed");
          break;
        case MutationOutcome::Rejected:
          SIM_REQUIRE(false, mu.client_id << "/" << mu.id << " rejected: " << res.message);
      }
    }
    for (const auto& [client, lmid] : r.last_mutation_ids) {
      std::int64_t expect = 0;
      for (auto it = processed_.lower_bound({client, 0}); it != processed_.end() && it->first.first == client; ++it) {
        expect = std::max(expect, it->first.second);
      }
      SIM_REQUIRE(lmid == expect, client << ": push answered lastMutationID " << lmid << ", processed up to " << expect);
    }
    SIM_REQUIRE(r.version == db_->headVersion(), "push: version " << r.version << ", head " << db_->headVersion());
    versions_[r.version] = truth_;
    const State s = readState(*db_);
    SIM_REQUIRE(s == truth_, "after a push the database holds " << show(s) << ", the oracle " << show(truth_));
  }

  // Test-only: applies one `inc` a second time behind the server's back.
  void sabotage() {
    if (sabotaged_ || truth_.empty()) return;
    const std::string id = truth_.begin()->first;
    db_->write([&](plasma::Tx& tx) {
      const auto row = tx.get(items, id);
      const std::int64_t n = row ? row->get(items.n).value_or(0) : 0;
      (void)tx.update(items).set({{items.n, n + 1}}).where(plasma::eq(items.id, id));
    });
    sabotaged_ = true;
  }

  // ---- after quiescence ------------------------------------------------------------------
  void finalChecks() {
    const State s = readState(*db_);
    SIM_REQUIRE(s == truth_, "final: the database holds " << show(s) << ", the oracle " << show(truth_));
    for (const auto& c : clients_) {
      const std::int64_t last = c.next_id - 1;
      SIM_REQUIRE(server_->lastMutationID(c.group, c.id) == last,
                  c.id << ": lastMutationID " << server_->lastMutationID(c.group, c.id) << ", made " << last);
      for (std::int64_t id = 1; id <= last; ++id) {
        SIM_REQUIRE(processed_.contains({c.id, id}), c.id << "/" << id << " was lost");
      }
      SIM_REQUIRE(c.base == visibleTo(truth_, c.user),
                  c.id << " did not converge: holds " << show(c.base) << ", may read " << show(visibleTo(truth_, c.user)));
    }
    // The change log: versions increasing (gapless without compaction),
    // ending at the head; no mutation wrote a row twice; confirmations
    // increase per client; it replays to the tables.
    const auto log = db_->logEntries(0);
    std::uint64_t prev = 0;
    std::set<std::tuple<std::string, std::int64_t, std::string>> writes;
    std::map<std::string, std::int64_t> confirms;
    for (const auto& e : log) {
      SIM_REQUIRE(e.version > prev, "log: version " << e.version << " after " << prev);
      if (!compacted_) SIM_REQUIRE(e.version == prev + 1, "log: gap before version " << e.version);
      prev = e.version;
      if (e.op == plasma::ChangeOp::Confirm) {
        SIM_REQUIRE(e.mutation_id > confirms[e.client_id], "log: confirm of " << e.client_id << "/" << e.mutation_id
                                                                              << " after " << confirms[e.client_id]);
        confirms[e.client_id] = e.mutation_id;
      } else if (e.mutation_id > 0) {
        SIM_REQUIRE(processed_.contains({e.client_id, e.mutation_id}),
                    "log: a write by " << e.client_id << "/" << e.mutation_id << " the server never reported");
        SIM_REQUIRE(writes.insert({e.client_id, e.mutation_id, e.id}).second,
                    "log: " << e.client_id << "/" << e.mutation_id << " wrote " << e.id << " twice");
      }
    }
    SIM_REQUIRE(prev == db_->headVersion(), "log ends at " << prev << ", head " << db_->headVersion());
    for (const auto& c : clients_) {
      const std::int64_t last = c.next_id - 1;
      SIM_REQUIRE(confirms[c.id] == last, c.id << ": newest confirm " << confirms[c.id] << ", lastMutationID " << last);
    }
    checkSnapshot("final");
    // The secondary index (owner, n) agrees with the table.
    for (const std::string user : {"alice", "bob"}) {
      std::set<std::string> by_index, by_scan;
      for (const auto& row : db_->select().from(items).where(plasma::eq(items.owner, user)).rows()) {
        by_index.insert(row.id());
      }
      for (const auto& [id, it] : truth_) {
        if (it.owner == user) by_scan.insert(id);
      }
      SIM_REQUIRE(by_index == by_scan, "index by_owner disagrees with the table for " << user);
    }
  }

  Rng rng_;
  fs::path dir_;
  SimOptions options_;
  SimResult result_;
  plasma::sync::SyncOptions sync_options_;
  std::unique_ptr<plasma::Database> db_;
  std::unique_ptr<plasma::sync::SyncServer> server_;
  std::vector<SimClient> clients_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Event> events_;
  std::uint64_t now_ = 0, seq_ = 0, requests_ = 0, max_delay_ = 10, timeout_ = 100, head_before_restart_ = 0;
  double p_drop_req_ = 0, p_drop_resp_ = 0, p_dup_ = 0;
  bool quiesce_ = false, compacted_ = false, sabotaged_ = false;
  int pushes_seen_ = 0;
  // The oracle: the server's state replayed from its reported outcomes, the
  // state at every commit version, and when each mutation was processed.
  State truth_;
  std::map<std::uint64_t, State> versions_;
  std::map<std::pair<std::string, std::int64_t>, std::uint64_t> processed_;
  std::vector<std::string> all_ids_;
};

}  // namespace

SimResult runSeed(std::uint64_t seed, const std::string& base_dir, const SimOptions& options) {
  const fs::path dir = fs::path(base_dir) / ("seed-" + std::to_string(seed));
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  SimResult r = Simulation(seed, dir, options).run();
  fs::remove_all(dir, ec);
  return r;
}

}  // namespace sim
