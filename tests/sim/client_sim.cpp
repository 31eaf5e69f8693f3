// The deterministic simulation with the real client engine: several
// plasma::client::Client instances (each on its own LMDB directory, never
// started: pushOnce/pullOnce run on this thread, retry.max_attempts = 1)
// reach the real SyncServer through their `transport` option, which a seeded
// scheduler turns into a faulty network: requests dropped, answers lost
// after the server acted, requests duplicated at once or replayed later
// (reordered), partitions, node restarts (the database closed and reopened),
// compaction between the pages of a pull, clients restarted on their
// directories. One seed always runs the same schedule.
//
//   plasma_tests "[sim]"                                   300 seeds
//   PLASMA_CLIENT_SIM_SEEDS=5000 plasma_tests "sim: real clients*"
//   PLASMA_CLIENT_SIM_SEED=17 plasma_tests "sim: real clients*"   replay one
//
// Invariants: an oracle replays the server's reported outcomes and matches
// the database after every push (`inc` is not idempotent); each mutation is
// processed once; handles resolve with the server's verdict; the outbox
// (pendingCount) matches the unresolved handles; cookies never go back;
// read-your-writes: after mutate the local store shows the mutation, after
// a pull it holds exactly the server's state at that cookie with the
// still-pending mutations replayed on top; after quiescence every client
// holds exactly what it may read and lastMutationID counts its mutations.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "client/client.hpp"
#include "sim/sim_app.hpp"
#include "sync/codec.hpp"
#include "sync/server.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using plasma::sync::Encoding;
using sim::State;

struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct Dropped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define CSIM_REQUIRE(cond, what)                         \
  do {                                                   \
    if (!(cond)) {                                       \
      std::ostringstream m_;                             \
      m_ << what;                                        \
      throw Violation(m_.str() + " [" #cond "]");        \
    }                                                    \
  } while (0)

std::string show(const State& s) {
  std::ostringstream o;
  o << "{";
  for (const auto& [id, it] : s) o << id << ":(" << it.title << "," << it.n << "," << it.owner << "," << it.shared << ") ";
  return o.str() + "}";
}

State readItems(const plasma::Database& db) {
  State s;
  db.read([&](const plasma::ReadTx& tx) {
    tx.scan(sim::items, [&](const plasma::RowView& r) {
      s[std::string(r.id())] = sim::Item{std::string(r.get(sim::items.title).value_or("")), r.get(sim::items.n).value_or(0),
                                         std::string(r.get(sim::items.owner).value_or("")),
                                         r.get(sim::items.shared).value_or(0)};
    });
  });
  return s;
}

struct Rng {
  std::mt19937_64 g;
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : g() % n; }
  bool chance(double p) { return p > 0 && static_cast<double>(g() >> 11) * 0x1.0p-53 < p; }
};

struct Made {  // one mutation a client made
  std::int64_t id = 0;
  std::string name;
  json::object args;
  std::shared_future<plasma::client::Outcome> outcome;
  bool checked = false;
  bool orphaned = false;  // made by an instance that was closed before it resolved
};

struct SimClient {
  std::string group, user;
  // A copy of its directory, and how many mutations it had made then: a
  // "system crash" in a relaxed durability mode rolls the store back to it.
  std::optional<fs::path> snapshot;
  std::size_t made_at_snapshot = 0;
  bool rolled_back = false;  // the strict per-pull checks assume no rollback
  fs::path dir;
  Encoding encoding = Encoding::FlatBuffers;
  std::size_t max_per_push = 3;
  std::unique_ptr<plasma::client::Client> c;
  std::string id;  // its clientID
  std::vector<Made> made;
  std::optional<std::uint64_t> cookie;
  bool partitioned = false;
  int budget = 0;
};

struct Stashed {
  std::string target, body, content_type;
  std::string user;
};

struct Counters {
  std::uint64_t rollbacks = 0, hazardous_rollbacks = 0, dropped = 0, lost_answers = 0, duplicated = 0, replayed_late = 0, node_restarts = 0, client_restarts = 0,
                compactions = 0, mutations = 0, pulls_ok = 0;
};
Counters g_counters;  // totals over the seeds of a test run (this thread only)

class ClientSim {
 public:
  // sabotage_after_push > 0 (tests of the checker): after that many pushes,
  // one `inc` is applied a second time behind the server's back.
  ClientSim(std::uint64_t seed, fs::path dir, int sabotage_after_push = 0)
      : rng_{std::mt19937_64(seed)}, dir_(std::move(dir)), sabotage_after_push_(sabotage_after_push) {
    // One seed in four also rolls client stores back (a system crash in a
    // relaxed durability mode), which exercises the mutation-id floor.
    rollbacks_ = seed % 4 == 0;
  }

  std::string run(std::uint64_t* steps_out) {
    std::string failure;
    try {
      setup();
      const int steps = 150 + static_cast<int>(rng_.below(250));
      for (step_ = 0; step_ < steps; ++step_) step();
      quiesce();
      finalChecks();
    } catch (const Violation& v) {
      failure = "step " + std::to_string(step_) + ": " + v.what();
    } catch (const std::exception& e) {
      failure = "step " + std::to_string(step_) + ": unexpected exception: " + e.what();
    }
    if (steps_out) *steps_out = static_cast<std::uint64_t>(step_);
    for (auto& c : clients_) c.c.reset();
    closeNode();
    return failure;
  }

 private:
  // ---- node -----------------------------------------------------------------
  void openNode() {
    plasma::OpenOptions o;
    o.map_size_bytes = std::size_t{64} << 20;
    o.durability = plasma::Durability::NoSync;
    db_ = std::make_unique<plasma::Database>(plasma::Database::open(dir_ / "node", sim::schema, o));
    db_->ensureSchema();
    server_ = std::make_unique<plasma::sync::SyncServer>(*db_, plasma::sync::runnerFor(sim::mutators()), sync_options_);
  }
  void closeNode() {
    if (server_) server_->stop();
    server_.reset();
    db_.reset();
  }

  void setup() {
    sync_options_.schema_version = sim::kSchemaVersion;
    sync_options_.max_mutations_per_push = 1 + rng_.below(4);
    const std::size_t pages[] = {64, 250, std::size_t{1} << 20};
    sync_options_.max_pull_bytes = pages[rng_.below(3)];
    p_drop_req_ = 0.03 * static_cast<double>(rng_.below(5));
    p_drop_resp_ = 0.03 * static_cast<double>(rng_.below(5));
    p_dup_ = 0.04 * static_cast<double>(rng_.below(5));
    p_stash_ = 0.04 * static_cast<double>(rng_.below(5));
    p_compact_in_pull_ = 0.05 * static_cast<double>(rng_.below(4));
    fs::create_directories(dir_ / "node");
    openNode();
    versions_[0] = State{};
    const int n = 2 + static_cast<int>(rng_.below(2));
    for (int k = 0; k < n; ++k) {
      SimClient c;
      c.group = "g" + std::to_string(k);
      c.user = rng_.chance(0.5) ? "alice" : "bob";
      c.dir = dir_ / ("client" + std::to_string(k));
      c.encoding = rng_.chance(0.5) ? Encoding::Json : Encoding::FlatBuffers;
      c.max_per_push = 1 + rng_.below(4);
      c.budget = 5 + static_cast<int>(rng_.below(20));
      clients_.push_back(std::move(c));
    }
    for (std::size_t k = 0; k < clients_.size(); ++k) openClient(k);
  }

  void openClient(std::size_t k) {
    SimClient& sc = clients_[k];
    plasma::client::ClientOptions o;
    o.tables = {sim::items};
    o.schema_version = sim::kSchemaVersion;
    o.runner = plasma::sync::runnerFor(sim::mutators());
    o.ctx = sim::Ctx{sc.user};
    o.data_dir = sc.dir;
    o.durability = plasma::Durability::NoSync;
    o.client_group_id = sc.group;
    o.websocket = false;
    o.encoding = sc.encoding;
    o.retry.max_attempts = 1;
    o.max_mutations_per_push = sc.max_per_push;
    o.auth_headers = {{"X-User", sc.user}};
    o.transport = [this, k](const plasma::client::TransportRequest& r) { return transport(k, r); };
    sc.c = std::make_unique<plasma::client::Client>(std::move(o));
    if (sc.id.empty()) sc.id = sc.c->clientID();
    CSIM_REQUIRE(sc.c->clientID() == sc.id, "client " << k << " came back with another clientID");
  }

  // ---- the network ------------------------------------------------------------
  plasma::net::HttpResponse transport(std::size_t k, const plasma::client::TransportRequest& r) {
    SimClient& sc = clients_[k];
    if (!server_ || sc.partitioned || rng_.chance(p_drop_req_)) {
      ++g_counters.dropped;
      throw Dropped("sim: request dropped");
    }
    if (rng_.chance(p_stash_)) stashed_.push_back(Stashed{r.target, r.body, r.content_type, sc.user});
    const bool dup = rng_.chance(p_dup_);
    plasma::net::HttpResponse resp = serve(r.target, r.body, r.content_type, sc.user);
    if (dup) {
      ++g_counters.duplicated;
      resp = serve(r.target, r.body, r.content_type, sc.user);  // the client sees the second answer
    }
    if (rng_.chance(p_drop_resp_)) {
      ++g_counters.lost_answers;
      throw Dropped("sim: answer lost");
    }
    return resp;
  }

  plasma::net::HttpResponse serve(const std::string& target, const std::string& body, const std::string& content_type,
                                  const std::string& user) {
    const Encoding enc = plasma::sync::encodingFor(content_type);
    const std::any ctx = sim::Ctx{user};
    plasma::net::HttpResponse resp;
    resp.content_type = std::string(plasma::sync::contentType(enc));
    if (target.ends_with("/push")) {
      auto req = plasma::sync::decodePush(enc, body);
      plasma::sync::PushRequest copy = req;
      for (auto& m : copy.mutations) m.args = json::value(m.args, json::storage_ptr());
      const auto out = server_->push(std::move(req), ctx);
      oracle(copy, out, user);
      resp.body = plasma::sync::encodePushResponse(enc, out);
      if (sabotage_after_push_ > 0 && ++pushes_ >= sabotage_after_push_ && !sabotaged_ && !truth_.empty()) {
        const std::string id = truth_.begin()->first;
        db_->write([&](plasma::Tx& tx) {
          const auto row = tx.get(sim::items, id);
          (void)tx.update(sim::items).set({{sim::items.n, row->get(sim::items.n).value_or(0) + 1}}).where(plasma::eq(sim::items.id, id));
        });
        sabotaged_ = true;
      }
    } else if (target.ends_with("/pull")) {
      if (rng_.chance(p_compact_in_pull_)) compact();
      const auto req = plasma::sync::decodePull(enc, body);
      try {
        resp.body = server_->pullEncoded(req, ctx, enc);
      } catch (const plasma::sync::SyncError& e) {
        CSIM_REQUIRE(false, "pull refused: " << e.what());
      }
    } else {
      CSIM_REQUIRE(false, "unexpected request " << target);
    }
    return resp;
  }

  void compact() {
    const std::uint64_t head = db_->headVersion();
    db_->compactChangeLog(rng_.below(head + 1));
    ++g_counters.compactions;
  }

  void oracle(const plasma::sync::PushRequest& req, const plasma::sync::PushResponse& r, const std::string& user) {
    using plasma::sync::MutationOutcome;
    CSIM_REQUIRE(r.results.size() == req.mutations.size(), "push: result count");
    for (std::size_t i = 0; i < r.results.size(); ++i) {
      const auto& res = r.results[i];
      const auto& mu = req.mutations[i];
      const auto key = std::make_pair(mu.client_id, mu.id);
      const bool seen = processed_.contains(key);
      if (res.outcome == MutationOutcome::Applied || res.outcome == MutationOutcome::Failed) {
        CSIM_REQUIRE(!seen, mu.client_id << "/" << mu.id << " processed twice");
        const bool ok = sim::apply(truth_, user, mu.name, mu.args.as_object());
        CSIM_REQUIRE(ok == (res.outcome == MutationOutcome::Applied),
                     mu.client_id << "/" << mu.id << " " << mu.name << ": server and model disagree (" << res.error << ")");
        processed_[key] = Processed{r.version, ok, mu.name + " " + json::serialize(mu.args)};
      } else if (res.outcome == MutationOutcome::Skipped) {
        CSIM_REQUIRE(seen, mu.client_id << "/" << mu.id << " skipped, never processed");
      } else if (res.outcome == MutationOutcome::Deferred) {
        CSIM_REQUIRE(!seen, mu.client_id << "/" << mu.id << " deferred after being processed");
      } else {
        CSIM_REQUIRE(false, mu.client_id << "/" << mu.id << " rejected: " << res.message);
      }
    }
    versions_[r.version] = truth_;
    const State s = readItems(*db_);
    CSIM_REQUIRE(s == truth_, "after a push the database holds " << show(s) << ", the oracle " << show(truth_));
  }

  // ---- one step ---------------------------------------------------------------------
  void step() {
    const auto roll = rng_.below(1000);
    if (roll < 15) {  // node restart: only committed state stays
      const auto head = db_ ? db_->headVersion() : 0;
      closeNode();
      openNode();
      ++g_counters.node_restarts;
      CSIM_REQUIRE(db_->headVersion() == head, "restart: head moved");
      CSIM_REQUIRE(readItems(*db_) == truth_, "restart: state differs from the oracle");
      return;
    }
    if (roll < 25) {
      compact();
      return;
    }
    if (roll < 45 && !stashed_.empty()) {  // an old request arrives late
      const auto i = rng_.below(stashed_.size());
      const Stashed s = stashed_[i];
      stashed_.erase(stashed_.begin() + static_cast<std::ptrdiff_t>(i));
      (void)serve(s.target, s.body, s.content_type, s.user);
      ++g_counters.replayed_late;
      return;
    }
    const std::size_t k = rng_.below(clients_.size());
    SimClient& sc = clients_[k];
    if (roll < 60) {
      sc.partitioned = !sc.partitioned;
      return;
    }
    if (rollbacks_ && roll >= 75 && roll < 85) {
      rollback(k);
      return;
    }
    if (roll < 75) {  // the app restarts: the client reopens its directory
      for (auto& m : sc.made) {
        if (m.outcome.wait_for(std::chrono::seconds(0)) != std::future_status::ready) m.orphaned = true;
      }
      sc.c.reset();
      openClient(k);
      ++g_counters.client_restarts;
      checkOutbox(sc);
      return;
    }
    if (roll < 500 && sc.budget > 0) {
      mutate(sc);
    } else if (roll < 750) {
      (void)sc.c->pushOnce();
    } else {
      if (sc.c->pullOnce()) {
        ++g_counters.pulls_ok;
        afterPull(sc);
      }
    }
    checkOutbox(sc);
  }

  // First call: copy the closed store aside. Second: a system crash rolls the
  // store back to that copy (what NoMetaSync/NoSync may do); the mutations
  // made since are gone locally (some may be on the server already).
  void rollback(std::size_t k) {
    SimClient& sc = clients_[k];
    for (auto& m : sc.made) {
      if (m.outcome.wait_for(std::chrono::seconds(0)) != std::future_status::ready) m.orphaned = true;
    }
    sc.c.reset();
    if (!sc.snapshot) {
      sc.snapshot = sc.dir.string() + ".snap";
      fs::remove_all(*sc.snapshot);
      fs::copy(sc.dir, *sc.snapshot, fs::copy_options::recursive);
      sc.made_at_snapshot = sc.made.size();
    } else {
      fs::remove_all(sc.dir);
      fs::copy(*sc.snapshot, sc.dir, fs::copy_options::recursive);
      fs::remove_all(*sc.snapshot);
      sc.snapshot.reset();
      std::int64_t server_max = 0;
      for (auto it = processed_.lower_bound({sc.id, 0}); it != processed_.end() && it->first.first == sc.id; ++it) {
        server_max = std::max(server_max, it->first.second);
      }
      if (server_max > static_cast<std::int64_t>(sc.made_at_snapshot)) ++g_counters.hazardous_rollbacks;
      sc.made.resize(sc.made_at_snapshot);  // what the rolled-back store still has (or had pushed)
      for (auto& m : sc.made) m.orphaned = true;
      sc.cookie.reset();
      sc.rolled_back = true;
      ++g_counters.rollbacks;
    }
    openClient(k);
  }

  void mutate(SimClient& sc) {
    --sc.budget;
    const State before = readItems(sc.c->db());
    std::vector<std::string> ids;
    for (const auto& [id, _] : before) ids.push_back(id);
    if (!all_ids_.empty() && rng_.chance(0.1)) ids.push_back(all_ids_[rng_.below(all_ids_.size())]);
    std::string name;
    json::object args;
    const auto roll = rng_.below(100);
    if (roll < 35 || ids.empty()) {
      const std::string id = sc.group + "-" + std::to_string(next_item_++);
      all_ids_.push_back(id);
      name = "create";
      args = {{"id", id}, {"title", "t"}};
    } else {
      const std::string& target = ids[rng_.below(ids.size())];
      if (roll < 50) {
        name = "rename";
        args = {{"id", target}, {"title", sc.group + "/" + std::to_string(step_)}};
      } else if (roll < 80) {
        name = "inc";
        args = {{"id", target}, {"by", static_cast<std::int64_t>(1 + rng_.below(9))}};
      } else if (roll < 90) {
        name = "share";
        args = {{"id", target}, {"shared", static_cast<std::int64_t>(rng_.below(2))}};
      } else {
        name = "del";
        args = {{"id", target}};
      }
    }
    State expect = before;
    const bool ok = sim::apply(expect, sc.user, name, args, /*check_auth=*/false);
    plasma::client::MutationHandle h;
    try {
      h = sc.c->mutate(name, args);
    } catch (const std::exception&) {
      // Refused locally (e.g. auth.write): nothing recorded, nothing changed.
      CSIM_REQUIRE(readItems(sc.c->db()) == before, sc.id << ": a refused mutate changed the store");
      return;
    }
    sc.made.push_back(Made{h.id, name, args, h.outcome, false});
    ++g_counters.mutations;
    if (ok) {
      const State after = readItems(sc.c->db());
      CSIM_REQUIRE(after == expect, sc.id << ": after " << name << " " << json::serialize(args) << " the store holds "
                                          << show(after) << ", expected " << show(expect));
    }
  }

  // Handles resolve with the server's verdict; the outbox is the unresolved rest.
  void checkOutbox(SimClient& sc) {
    std::size_t unresolved = 0;
    for (auto& m : sc.made) {
      if (m.orphaned) continue;
      if (m.outcome.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ++unresolved;
        continue;
      }
      if (m.checked) continue;
      m.checked = true;
      const auto o = m.outcome.get();
      const auto it = processed_.find({sc.id, o.mutation_id});
      CSIM_REQUIRE(it != processed_.end(), sc.id << "/" << o.mutation_id << " resolved "
                                                 << plasma::client::outcomeKindName(o.kind) << " but was never processed");
      using K = plasma::client::OutcomeKind;
      if (o.kind == K::Applied) CSIM_REQUIRE(it->second.applied, sc.id << "/" << o.mutation_id << " resolved Applied, the server failed it");
      if (o.kind == K::Failed) CSIM_REQUIRE(!it->second.applied, sc.id << "/" << o.mutation_id << " resolved Failed, the server applied it");
      // The server ran this very mutation under that id (not another one that
      // re-used the id: that one would be silently lost).
      const std::string what = m.name + " " + json::serialize(m.args);
      CSIM_REQUIRE(it->second.what == what, sc.id << "/" << o.mutation_id << " resolved " << plasma::client::outcomeKindName(o.kind)
                                                  << " for " << what << ", but the server ran " << it->second.what);
      CSIM_REQUIRE(o.kind != K::Discarded, sc.id << "/" << o.mutation_id << " discarded");
    }
    // Handles of a previous instance never resolve (the app restarted), so count
    // from the outbox: it holds at most the unresolved handles of this instance
    // plus the mutations of earlier instances not yet confirmed.
    CSIM_REQUIRE(sc.c->pendingCount() <= sc.made.size(), sc.id << ": outbox larger than what it made");
  }

  void afterPull(SimClient& sc) {
    if (sc.rolled_back) return;  // ids may have been re-numbered: checked at resolution and at the end
    const auto cookie = sc.c->cookie();
    CSIM_REQUIRE(cookie.has_value(), sc.id << ": no cookie after a pull");
    if (sc.cookie) CSIM_REQUIRE(*cookie >= *sc.cookie, sc.id << ": cookie went back from " << *sc.cookie << " to " << *cookie);
    sc.cookie = cookie;
    const auto at = versions_.find(*cookie);
    CSIM_REQUIRE(at != versions_.end(), sc.id << ": cookie " << *cookie << " is not a commit boundary");
    // The server's state at the cookie, then the still-pending mutations (ids
    // above what the server had processed at that cookie) replayed in order.
    std::int64_t server_lmid = 0;
    for (const auto& [key, v] : processed_) {
      if (key.first == sc.id && v.version <= *cookie) server_lmid = std::max(server_lmid, key.second);
    }
    State expect = sim::visibleTo(at->second, sc.user);
    std::size_t pending = 0;
    for (const auto& m : sc.made) {
      if (m.id > server_lmid) {
        (void)sim::apply(expect, sc.user, m.name, m.args, /*check_auth=*/false);
        ++pending;
      }
    }
    CSIM_REQUIRE(sc.c->pendingCount() == pending,
                 sc.id << ": outbox holds " << sc.c->pendingCount() << " after a pull, " << pending << " not yet processed");
    const State local = readItems(sc.c->db());
    CSIM_REQUIRE(local == expect, sc.id << " (" << sc.user << ") after a pull to " << *cookie << " holds " << show(local)
                                        << ", expected " << show(expect));
  }

  // ---- quiescence ------------------------------------------------------------------------
  void quiesce() {
    p_drop_req_ = p_drop_resp_ = p_dup_ = p_stash_ = 0;
    stashed_.clear();
    for (auto& sc : clients_) sc.partitioned = false;
    for (int round = 0; round < 50; ++round) {
      bool quiet = true;
      for (auto& sc : clients_) {
        while (sc.c->pendingCount() > 0) {
          CSIM_REQUIRE(sc.c->pushOnce(), sc.id << ": push failed on a healed network");
          CSIM_REQUIRE(sc.c->pullOnce(), sc.id << ": pull failed on a healed network");
          afterPull(sc);
          checkOutbox(sc);
        }
      }
      for (auto& sc : clients_) {
        CSIM_REQUIRE(sc.c->pullOnce(), sc.id << ": pull failed on a healed network");
        afterPull(sc);
        checkOutbox(sc);
        if (sc.c->cookie() != db_->headVersion() || sc.c->pendingCount() != 0) quiet = false;
      }
      if (quiet) return;
    }
    CSIM_REQUIRE(false, "no quiescence");
  }

  void finalChecks() {
    CSIM_REQUIRE(readItems(*db_) == truth_, "final: the database differs from the oracle");
    for (auto& sc : clients_) {
      const std::int64_t made = static_cast<std::int64_t>(sc.made.size());
      if (sc.rolled_back) {
        const State local = readItems(sc.c->db());
        CSIM_REQUIRE(local == sim::visibleTo(truth_, sc.user), sc.id << " did not converge after a rollback: " << show(local));
        for (const auto& m : sc.made) {  // made since the rollback: resolved, each checked against what the server ran
          CSIM_REQUIRE(m.orphaned || m.checked, sc.id << ": mutation " << m.id << " made after a rollback never resolved");
        }
        continue;
      }
      CSIM_REQUIRE(server_->lastMutationID(sc.group, sc.id) == made,
                   sc.id << ": lastMutationID " << server_->lastMutationID(sc.group, sc.id) << " after " << made << " mutations");
      for (std::int64_t id = 1; id <= made; ++id) CSIM_REQUIRE(processed_.contains({sc.id, id}), sc.id << "/" << id << " lost");
      const State local = readItems(sc.c->db());
      CSIM_REQUIRE(local == sim::visibleTo(truth_, sc.user), sc.id << " did not converge: " << show(local));
    }
  }

  Rng rng_;
  fs::path dir_;
  int sabotage_after_push_ = 0, pushes_ = 0;
  bool sabotaged_ = false, rollbacks_ = false;
  int step_ = 0;
  plasma::sync::SyncOptions sync_options_;
  std::unique_ptr<plasma::Database> db_;
  std::unique_ptr<plasma::sync::SyncServer> server_;
  std::vector<SimClient> clients_;
  std::deque<Stashed> stashed_;
  double p_drop_req_ = 0, p_drop_resp_ = 0, p_dup_ = 0, p_stash_ = 0, p_compact_in_pull_ = 0;
  int next_item_ = 1;
  std::vector<std::string> all_ids_;
  State truth_;
  std::map<std::uint64_t, State> versions_;
  struct Processed {
    std::uint64_t version = 0;
    bool applied = false;
    std::string what;  // name + args: what ran under this id
  };
  std::map<std::pair<std::string, std::int64_t>, Processed> processed_;
};

std::uint64_t envOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE("sim: real clients through a faulty injected transport converge, exactly once", "[sim]") {
  const fs::path root = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const fs::path base = root / ("plasma-client-sim-" + std::to_string(::getpid()));
  std::uint64_t first = envOr("PLASMA_CLIENT_SIM_BASE", 1), count = envOr("PLASMA_CLIENT_SIM_SEEDS", 300);
  if (std::getenv("PLASMA_CLIENT_SIM_SEED") != nullptr) {
    first = envOr("PLASMA_CLIENT_SIM_SEED", 1);
    count = 1;
  }
  std::printf("client sim: seeds %llu..%llu (replay one: PLASMA_CLIENT_SIM_SEED=<seed> plasma_tests \"sim: real clients*\")\n",
              (unsigned long long)first, (unsigned long long)(first + count - 1));
  const auto t0 = std::chrono::steady_clock::now();
  g_counters = {};
  int failed = 0;
  std::uint64_t steps = 0;
  for (std::uint64_t seed = first; seed < first + count && failed < 5; ++seed) {
    const fs::path dir = base / ("seed-" + std::to_string(seed));
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    std::uint64_t s = 0;
    const std::string failure = ClientSim(seed, dir).run(&s);
    steps += s;
    fs::remove_all(dir, ec);
    if (!failure.empty()) {
      ++failed;
      std::printf("client sim: seed %llu FAILED: %s\n  replay: PLASMA_CLIENT_SIM_SEED=%llu plasma_tests \"sim: real clients*\"\n",
                  (unsigned long long)seed, failure.c_str(), (unsigned long long)seed);
      INFO("seed " << seed << ": " << failure);
      CHECK(failure.empty());
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Counters& n = g_counters;
  std::printf("client sim: %llu seeds in %.1f s (%.0f seeds/s), %llu steps: %llu mutations, %llu pulls rebased, "
              "%llu requests dropped, %llu answers lost, %llu duplicated, %llu replayed late, %llu node restarts, "
              "%llu client restarts, %llu client rollbacks (%llu behind the server), %llu compactions\n",
              (unsigned long long)count, secs, static_cast<double>(count) / secs, (unsigned long long)steps,
              (unsigned long long)n.mutations, (unsigned long long)n.pulls_ok, (unsigned long long)n.dropped,
              (unsigned long long)n.lost_answers, (unsigned long long)n.duplicated, (unsigned long long)n.replayed_late,
              (unsigned long long)n.node_restarts, (unsigned long long)n.client_restarts, (unsigned long long)n.rollbacks, (unsigned long long)n.hazardous_rollbacks,
              (unsigned long long)n.compactions);
  CHECK(failed == 0);
  if (count >= 100) {  // the schedules did what they claim
    CHECK(n.dropped > 0);
    CHECK(n.lost_answers > 0);
    CHECK(n.duplicated > 0);
    CHECK(n.replayed_late > 0);
    CHECK(n.node_restarts > 0);
    CHECK(n.client_restarts > 0);
    CHECK(n.rollbacks > 0);
    CHECK(n.hazardous_rollbacks > 0);  // rolled back below ids the server had processed
    CHECK(n.compactions > 0);
  }
  std::error_code ec;
  fs::remove_all(base, ec);
}

TEST_CASE("sim: real clients — the same seed replays the same schedule", "[sim]") {
  const fs::path root = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const fs::path base = root / ("plasma-client-sim-replay-" + std::to_string(::getpid()));
  for (std::uint64_t seed : {3u, 77u}) {
    std::uint64_t steps[2] = {0, 0};
    std::string failures[2];
    Counters counters[2];
    for (int i = 0; i < 2; ++i) {
      const fs::path dir = base / ("run-" + std::to_string(i));
      std::error_code ec;
      fs::remove_all(dir, ec);
      fs::create_directories(dir);
      g_counters = {};
      failures[i] = ClientSim(seed, dir).run(&steps[i]);
      counters[i] = g_counters;
      fs::remove_all(dir, ec);
    }
    CHECK(failures[0] == failures[1]);
    CHECK(steps[0] == steps[1]);
    CHECK(counters[0].mutations == counters[1].mutations);
    CHECK(counters[0].dropped == counters[1].dropped);
    CHECK(counters[0].lost_answers == counters[1].lost_answers);
    CHECK(counters[0].pulls_ok == counters[1].pulls_ok);
    CHECK(counters[0].compactions == counters[1].compactions);
  }
  std::error_code ec;
  fs::remove_all(base, ec);
}

TEST_CASE("sim: real clients — the checker catches a mutation applied twice", "[sim]") {
  const fs::path root = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const fs::path base = root / ("plasma-client-sim-sabotage-" + std::to_string(::getpid()));
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const fs::path dir = base / ("seed-" + std::to_string(seed));
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    std::uint64_t steps = 0;
    if (!ClientSim(seed, dir, 3).run(&steps).empty()) ++caught;
    fs::remove_all(dir, ec);
  }
  CHECK(caught >= 15);
  std::error_code ec;
  fs::remove_all(base, ec);
}
