// Issue 9: an incremental pull sends a `del` only for a row the caller could
// hold at its cookie — the row existed then and (under the table's auth.read)
// was readable by the caller. Rows other users create after the cookie and
// keep private leave no trace (not even their ids) in the caller's pulls.
// In process through SyncServer (pull and pullEncoded in both encodings),
// against the real node over HTTP in JSON and FlatBuffers, and from entries
// that cannot tell (written before ChangeEntry.before existed, or folded by
// compaction): those keep the conservative del, so clients still converge.
#include <any>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/keys.hpp"
#include "engine/store.hpp"
#include "plasma/fbs/change_entry_generated.h"
#include "sync/codec.hpp"
#include "sync/server.hpp"
#include "sync_test_util.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

#ifdef PLASMA_NODE_BINARY
#include "net/http_client.hpp"
#include "node/node_process.hpp"
#endif

using namespace plasma;
using namespace plasma::sync;
using plasma_test::TempDir;
using plasma_sync_test::as;
using plasma_sync_test::create;
using plasma_sync_test::pullOf;
using plasma_sync_test::pushOf;

namespace {

const auto& todos = todo::todos;

Mutation rename(std::string client, std::int64_t id, std::string todo_id, std::string title) {
  return Mutation{std::move(client), id, "renameTodo",
                  boost::json::object{{"id", todo_id}, {"title", title}, {"updatedAt", id}}, 0};
}
Mutation share(std::string client, std::int64_t id, std::string todo_id, bool shared) {
  return Mutation{std::move(client), id, "shareTodo", boost::json::object{{"id", todo_id}, {"shared", shared}}, 0};
}
Mutation remove(std::string client, std::int64_t id, std::string todo_id) {
  return Mutation{std::move(client), id, "deleteTodo", boost::json::object{{"id", todo_id}}, 0};
}

struct Fixture : plasma_sync_test::TodoServer {
  using TodoServer::TodoServer;
  // Pushes one mutation for `user` (group g-<user>, client c-<user>).
  void push(const std::string& user, Mutation m) {
    const auto r = server.push(pushOf("g-" + user, {std::move(m)}), as(user));
    REQUIRE(r.results.size() == 1);
    REQUIRE(r.results[0].outcome == MutationOutcome::Applied);
  }
};

// The patch as "op id" strings, in order ("put a", "del b"; "clear").
template <class Response>  // PullResponse or WirePullResponse
std::vector<std::string> ops(const Response& r) {
  std::vector<std::string> out;
  for (const auto& op : r.patch) {
    switch (op.op) {
      case PatchOpKind::Clear: out.push_back("clear"); break;
      case PatchOpKind::Put: out.push_back("put " + op.id); break;
      case PatchOpKind::Del: out.push_back("del " + op.id); break;
    }
  }
  return out;
}

using Ops = std::vector<std::string>;

// Pulls `user` from `cookie` through pull() and checks that pullEncoded
// returns the same patch in both encodings, and that no encoding names
// any of `hidden` (ids the caller must not learn).
PullResponse pullChecked(Fixture& fx, const std::string& user, std::optional<std::uint64_t> cookie,
                         const std::vector<std::string>& hidden = {}) {
  const auto req = pullOf("g-" + user, cookie);
  PullResponse r = fx.server.pull(req, as(user));
  for (const auto encoding : {Encoding::Json, Encoding::FlatBuffers}) {
    const std::string body = fx.server.pullEncoded(req, as(user), encoding);
    CHECK(body == encodePullResponse(encoding, r));
    for (const auto& id : hidden) {
      INFO(id);
      CHECK(body.find(id) == std::string::npos);
    }
  }
  return r;
}

// Rewrites every change-log entry after `after` as the engine wrote it before
// ChangeEntry.before existed (no before, no before_row) or, with
// keep_before, as it writes a table that had no auth.read (before, no
// before_row).
void rewriteAsOldFormat(Database& db, std::uint64_t after, bool keep_before = false) {
  db.write([&](Tx& tx) {
    auto& s = tx.state();
    auto& impl = db.impl();
    std::vector<std::pair<std::string, std::string>> rewritten;
    lmdb::Cursor cur(s.txn, impl.changes);
    for (bool ok = cur.seekRange(plasma::keys::encodeU64(after + 1)); ok; ok = cur.next()) {
      const auto* e = fbs::GetChangeEntry(cur.value().data());
      flatbuffers::FlatBufferBuilder b;
      auto str = [&](const flatbuffers::String* x) { return x ? b.CreateString(x->string_view()) : 0; };
      const auto table = str(e->table());
      const auto id = str(e->id());
      flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> row;
      if (e->row() != nullptr) {
        b.ForceVectorAlignment(e->row()->size(), 1, 8);
        row = b.CreateVector(e->row()->data(), e->row()->size());
      }
      const auto group = str(e->client_group_id());
      const auto client = str(e->client_id());
      b.Finish(fbs::CreateChangeEntry(b, e->op(), table, id, row, group, client, e->mutation_id(),
                                      keep_before ? e->before() : fbs::Before::Unknown));
      rewritten.emplace_back(std::string(cur.key()),
                             std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
    }
    for (const auto& [k, v] : rewritten) s.txn.put(impl.changes, k, v);
  });
}

// (before, has before_row) of every row entry after `after`.
std::vector<std::pair<fbs::Before, bool>> befores(Database& db, std::uint64_t after) {
  return db.read([&](ReadTx& r) {
    std::vector<std::pair<fbs::Before, bool>> out;
    lmdb::Cursor cur(r.state().txn, db.impl().changes);
    for (bool ok = cur.seekRange(plasma::keys::encodeU64(after + 1)); ok; ok = cur.next()) {
      const auto* e = fbs::GetChangeEntry(cur.value().data());
      if (e->op() != fbs::ChangeOp::Confirm) out.emplace_back(e->before(), e->before_row() != nullptr);
    }
    return out;
  });
}

}  // namespace

TEST_CASE("pull visibility: entries record whether the row existed and, under auth.read, its image before",
          "[sync][pull][auth][changelog]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "a", "one"));
  fx.push("alice", rename("c-alice", 2, "a", "two"));
  fx.push("alice", remove("c-alice", 3, "a"));
  using B = fbs::Before;
  CHECK(befores(fx.db, 0) ==
        std::vector<std::pair<B, bool>>{{B::Absent, false}, {B::Present, true}, {B::Present, true}});
  // The update's before_row is the row as created.
  fx.db.read([&](ReadTx& r) {
    lmdb::Cursor cur(r.state().txn, fx.db.impl().changes);
    REQUIRE(cur.first());
    REQUIRE(cur.next());  // the create's Confirm
    REQUIRE(cur.next());
    const auto* e = fbs::GetChangeEntry(cur.value().data());
    REQUIRE(e->op() == fbs::ChangeOp::Put);
    REQUIRE(e->before_row() != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(e->before_row()->data()) % 8 ==
          reinterpret_cast<std::uintptr_t>(cur.value().data()) % 8);
    auto& t = *fx.db.impl().tableByName("todos");
    const RowView before = fx.db.impl().view(
        t, "a", std::string_view(reinterpret_cast<const char*>(e->before_row()->data()), e->before_row()->size()));
    CHECK(before.get(todos.title) == std::optional<std::string_view>("one"));
  });
}

TEST_CASE("pull visibility: rows another user creates after the cookie and keeps private send nothing, not even ids",
          "[sync][pull][auth]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "alice-own", "mine"));
  const auto a0 = pullChecked(fx, "alice", std::nullopt);
  CHECK(ops(a0) == Ops{"clear", "put alice-own"});
  // Bob creates, changes and deletes private rows after alice's cookie.
  fx.push("bob", create("c-bob", 1, "bob-secret-1", "x"));
  fx.push("bob", create("c-bob", 2, "bob-secret-2", "y"));
  fx.push("bob", rename("c-bob", 3, "bob-secret-1", "x2"));
  fx.push("bob", create("c-bob", 4, "bob-gone", "z"));
  fx.push("bob", remove("c-bob", 5, "bob-gone"));
  const std::vector<std::string> hidden{"bob-secret-1", "bob-secret-2", "bob-gone"};
  const auto a1 = pullChecked(fx, "alice", a0.cookie, hidden);
  CHECK(ops(a1).empty());
  CHECK(a1.cookie == fx.db.headVersion());
  // Bob sees his own.
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  CHECK(ops(b0) == Ops{"clear", "put bob-secret-2", "put bob-secret-1"});
  // Alice's change to her own row still arrives; Bob's rows stay invisible.
  fx.push("alice", rename("c-alice", 2, "alice-own", "still mine"));
  fx.push("bob", rename("c-bob", 6, "bob-secret-2", "y2"));
  CHECK(ops(pullChecked(fx, "alice", a1.cookie, hidden)) == Ops{"put alice-own"});
}

TEST_CASE("pull visibility: a row the caller could read at its cookie is a del when it is unshared or deleted",
          "[sync][pull][auth]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "s1", "shared one"));
  fx.push("alice", share("c-alice", 2, "s1", true));
  fx.push("alice", create("c-alice", 3, "s2", "shared two"));
  fx.push("alice", share("c-alice", 4, "s2", true));
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  CHECK(ops(b0) == Ops{"clear", "put s1", "put s2"});
  // s1 unshared (then renamed while private), s2 deleted.
  fx.push("alice", share("c-alice", 5, "s1", false));
  fx.push("alice", rename("c-alice", 6, "s1", "private now"));
  fx.push("alice", remove("c-alice", 7, "s2"));
  const auto b1 = pullChecked(fx, "bob", b0.cookie);
  CHECK(ops(b1) == Ops{"del s1", "del s2"});
  CHECK(b1.cookie == fx.db.headVersion());
  // From then on s1 is not Bob's: its changes send nothing more.
  fx.push("alice", rename("c-alice", 8, "s1", "again"));
  fx.push("alice", remove("c-alice", 9, "s1"));
  CHECK(ops(pullChecked(fx, "bob", b1.cookie, {"s1"})).empty());
  // The owner's own deletes are dels for her too.
  const auto a = pullChecked(fx, "alice", b0.cookie);
  CHECK(ops(a) == Ops{"del s2", "del s1"});
}

TEST_CASE("pull visibility: a row created and deleted or hidden after the cookie yields nothing",
          "[sync][pull][auth]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "base", "b"));
  const auto a0 = pullChecked(fx, "alice", std::nullopt);
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  // Alice's own row, created and deleted after her cookie; a shared row
  // created, shared and unshared after Bob's cookie.
  fx.push("alice", create("c-alice", 2, "ephemeral", "e"));
  fx.push("alice", rename("c-alice", 3, "ephemeral", "e2"));
  fx.push("alice", remove("c-alice", 4, "ephemeral"));
  fx.push("alice", create("c-alice", 5, "flicker", "f"));
  fx.push("alice", share("c-alice", 6, "flicker", true));
  const auto while_shared = fx.db.headVersion();
  fx.push("alice", share("c-alice", 7, "flicker", false));
  CHECK(ops(pullChecked(fx, "alice", a0.cookie)) == Ops{"put flicker"});
  CHECK(ops(pullChecked(fx, "bob", b0.cookie, {"ephemeral", "flicker"})).empty());
  // From a cookie at which flicker was shared, Bob held it: a del.
  CHECK(ops(pullChecked(fx, "bob", while_shared)) == Ops{"del flicker"});
}

TEST_CASE("pull visibility: a row that existed but was never readable by the caller, then changed or deleted, "
          "yields nothing",
          "[sync][pull][auth]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "p1", "private"));
  fx.push("alice", create("c-alice", 2, "p2", "private"));
  fx.push("alice", create("c-alice", 3, "p3", "private"));
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  CHECK(ops(b0) == Ops{"clear"});
  fx.push("alice", rename("c-alice", 4, "p1", "renamed"));
  fx.push("alice", remove("c-alice", 5, "p2"));
  fx.push("alice", share("c-alice", 6, "p3", true));
  fx.push("alice", share("c-alice", 7, "p3", false));  // shared and unshared between Bob's pulls
  CHECK(ops(pullChecked(fx, "bob", b0.cookie, {"p1", "p2", "p3"})).empty());
}

TEST_CASE("pull visibility: pages - a row held at a page's cookie is deleted on a later page, one never held is not",
          "[sync][pull][auth][pagination]") {
  Fixture fx(SyncOptions{.max_pull_bytes = 300});
  std::int64_t m = 0;
  for (int i = 0; i < 6; ++i) {
    fx.push("alice", create("c-alice", ++m, "s" + std::to_string(i), "shared"));
    fx.push("alice", share("c-alice", ++m, "s" + std::to_string(i), true));
  }
  // Bob's pages: each later page's cookie is the previous page's.
  std::map<std::string, bool> bob;
  std::optional<std::uint64_t> cookie;
  for (int page = 0; page < 100; ++page) {
    const auto r = pullChecked(fx, "bob", cookie);
    for (const auto& op : r.patch) {
      if (op.op == PatchOpKind::Put) bob[op.id] = true;
      if (op.op == PatchOpKind::Del) {
        CHECK(bob.erase(op.id) == 1);
      }
    }
    cookie = r.cookie;
    if (!r.more) break;
  }
  CHECK(bob.size() == 6);
  // Unshare half, create private rows, delete them: over several pages Bob
  // gets exactly the dels of what he held.
  for (int i = 0; i < 6; i += 2) fx.push("alice", share("c-alice", ++m, "s" + std::to_string(i), false));
  for (int i = 0; i < 6; ++i) fx.push("alice", create("c-alice", ++m, "priv-row-" + std::to_string(i), "private"));
  for (int i = 0; i < 6; i += 3) fx.push("alice", remove("c-alice", ++m, "priv-row-" + std::to_string(i)));
  std::set<std::string> dels;
  int pages = 0;
  for (; pages < 100; ++pages) {
    const auto r = pullChecked(fx, "bob", cookie, {"priv-row-"});
    for (const auto& op : r.patch) {
      CHECK(op.op == PatchOpKind::Del);
      if (op.op == PatchOpKind::Del) dels.insert(op.id);
    }
    cookie = r.cookie;
    if (!r.more) break;
  }
  CHECK(pages >= 1);
  CHECK(dels == std::set<std::string>{"s0", "s2", "s4"});
}

TEST_CASE("pull visibility: old-format entries without before still get the conservative del",
          "[sync][pull][auth][compat]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "s", "shared"));
  fx.push("alice", share("c-alice", 2, "s", true));
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  CHECK(ops(b0) == Ops{"clear", "put s"});
  fx.push("alice", share("c-alice", 3, "s", false));
  fx.push("bob", create("c-bob", 1, "bob-new", "x"));  // never Alice's
  fx.push("alice", create("c-alice", 4, "alice-new", "y"));
  // The same log as an engine before ChangeEntry.before wrote it: the server
  // cannot tell what Bob holds, so every row he cannot read is a del (as
  // before issue 9), and both users still converge.
  const auto a_before = fx.server.pull(pullOf("g-alice", b0.cookie), as("alice"));
  rewriteAsOldFormat(fx.db, 0);
  using B = fbs::Before;
  for (const auto& [before, has_row] : befores(fx.db, 0)) {
    CHECK(before == B::Unknown);
    CHECK_FALSE(has_row);
  }
  const auto b1 = pullChecked(fx, "bob", b0.cookie);
  CHECK(ops(b1) == Ops{"del s", "put bob-new", "del alice-new"});
  const auto a1 = pullChecked(fx, "alice", b0.cookie);
  CHECK(ops(a_before) == Ops{"put s", "put alice-new"});
  CHECK(ops(a1) == Ops{"put s", "del bob-new", "put alice-new"});
  // New entries on top of old ones: a row's first entry after the cookie
  // decides, so old-format rows stay conservative and new ones are exact.
  const auto head = fx.db.headVersion();
  fx.push("alice", rename("c-alice", 5, "alice-new", "y2"));
  fx.push("bob", create("c-bob", 2, "bob-newer", "z"));
  CHECK(ops(pullChecked(fx, "alice", head, {"bob-newer"})) == Ops{"put alice-new"});
}

TEST_CASE("pull visibility: entries logged while the table had no auth.read (no before_row) get the conservative del",
          "[sync][pull][auth][compat]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "s", "shared"));
  fx.push("alice", share("c-alice", 2, "s", true));
  fx.push("alice", create("c-alice", 3, "p", "private"));
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  CHECK(ops(b0) == Ops{"clear", "put s"});
  fx.push("alice", share("c-alice", 4, "s", false));
  fx.push("alice", rename("c-alice", 5, "p", "still private"));
  fx.push("bob", create("c-bob", 1, "bob-new", "x"));
  rewriteAsOldFormat(fx.db, b0.cookie, /*keep_before=*/true);
  using B = fbs::Before;
  CHECK(befores(fx.db, b0.cookie) == std::vector<std::pair<B, bool>>{{B::Present, false}, {B::Present, false}, {B::Absent, false}});
  // s and p existed at the cookie but their images then are unknown: dels;
  // bob-new did not exist: nothing (Alice's view).
  CHECK(ops(pullChecked(fx, "bob", b0.cookie)) == Ops{"del s", "del p", "put bob-new"});
  CHECK(ops(pullChecked(fx, "alice", b0.cookie, {"bob-new"})) == Ops{"put s", "put p"});
}

TEST_CASE("pull visibility: a cookie below the compaction horizon gets the conservative del and converges",
          "[sync][pull][auth][compaction]") {
  Fixture fx;
  fx.push("alice", create("c-alice", 1, "r", "v1"));
  fx.push("alice", share("c-alice", 2, "r", true));
  const auto b0 = pullChecked(fx, "bob", std::nullopt);
  CHECK(ops(b0) == Ops{"clear", "put r"});
  // r is deleted and re-created private: its newest entry says "absent
  // before"; once compaction folds the delete away, that entry is the
  // first after Bob's cookie and no longer tells what Bob holds.
  fx.push("alice", remove("c-alice", 3, "r"));
  fx.push("alice", create("c-alice", 4, "r", "v2 private"));
  fx.push("bob", create("c-bob", 1, "bob-own", "b"));
  // Before compaction: exact (r held, now unreadable: del; Bob's own row: put).
  CHECK(ops(pullChecked(fx, "bob", b0.cookie)) == Ops{"del r", "put bob-own"});
  const auto result = fx.db.compactChangeLog(fx.db.headVersion());
  CHECK(result.removed > 0);
  CHECK(fx.db.read([&](ReadTx& r) { return fx.db.impl().compactionHorizon(r.state()); }) == fx.db.headVersion());
  const auto b1 = pullChecked(fx, "bob", b0.cookie);
  CHECK(ops(b1) == Ops{"del r", "put bob-own"});
  // A later, lower horizon does not lower the recorded one.
  (void)fx.db.compactChangeLog(1);
  CHECK(fx.db.read([&](ReadTx& r) { return fx.db.impl().compactionHorizon(r.state()); }) == fx.db.headVersion());
  // At or above the horizon, pulls are exact again.
  const auto h = fx.db.headVersion();
  fx.push("alice", create("c-alice", 5, "after", "private"));
  CHECK(ops(pullChecked(fx, "bob", h, {"after"})).empty());
}

TEST_CASE("pull visibility: random multi-user histories converge and every del names a row the client holds",
          "[sync][pull][auth][property]") {
  Fixture fx(SyncOptions{.max_pull_bytes = 500});
  const std::vector<std::string> users{"alice", "bob", "carol"};
  struct Client {
    std::optional<std::uint64_t> cookie;
    std::map<std::string, std::string> rows;  // id -> title
    std::int64_t next_mutation = 1;
  };
  std::map<std::string, Client> clients;
  std::map<std::string, std::string> owner_of;  // live rows
  std::mt19937_64 rng(0x1559'0009);
  std::uint64_t horizon = 0;
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  int next_row = 0;
  for (int round = 0; round < 60; ++round) {
    for (int k = 0; k < 8; ++k) {
      const std::string& u = users[pick(users.size())];
      Client& c = clients[u];
      std::vector<std::string> own;
      for (const auto& [id, o] : owner_of) {
        if (o == u) own.push_back(id);
      }
      const std::size_t what = own.empty() ? 0 : pick(5);
      const std::string cid = "c-" + u;
      if (what == 0) {
        const std::string id = "row" + std::to_string(next_row++);
        fx.push(u, create(cid, c.next_mutation++, id, "t" + std::to_string(round)));
        owner_of[id] = u;
      } else {
        const std::string& id = own[pick(own.size())];
        if (what == 1) fx.push(u, rename(cid, c.next_mutation++, id, "r" + std::to_string(round)));
        if (what == 2) fx.push(u, share(cid, c.next_mutation++, id, true));
        if (what == 3) fx.push(u, share(cid, c.next_mutation++, id, false));
        if (what == 4) {
          fx.push(u, remove(cid, c.next_mutation++, id));
          owner_of.erase(id);
        }
      }
    }
    // Now and then compaction, mostly at a horizon no client is behind
    // (as the node computes it), sometimes past a client (conservative).
    if (round % 10 == 9) {
      std::uint64_t oldest = fx.db.headVersion();
      for (const auto& [u, c] : clients) oldest = std::min(oldest, c.cookie.value_or(0));
      const std::uint64_t h = round % 20 == 19 ? fx.db.headVersion() - 5 : oldest;
      if (h > 0) {
        (void)fx.db.compactChangeLog(h);
        horizon = std::max(horizon, h);
      }
    }
    for (const auto& u : users) {
      if (pick(3) == 0) continue;  // not everyone pulls every round
      Client& c = clients[u];
      for (int page = 0; page < 1000; ++page) {
        const bool exact = c.cookie && *c.cookie >= horizon;
        const auto r = fx.server.pull(pullOf("g-" + u, c.cookie), as(u));
        for (const auto& op : r.patch) {
          switch (op.op) {
            case PatchOpKind::Clear: c.rows.clear(); break;
            case PatchOpKind::Put: c.rows[op.id] = std::string(op.row->get(todos.title).value_or("")); break;
            case PatchOpKind::Del: {
              const bool held = c.rows.erase(op.id) == 1;
              if (exact) {
                INFO(u << " round " << round << " del " << op.id);
                CHECK(held);
              }
              break;
            }
          }
        }
        c.cookie = r.cookie;
        if (!r.more) break;
      }
      // What a new client of this user gets: a full pull, then its pages.
      std::map<std::string, std::string> fresh;
      std::optional<std::uint64_t> fresh_cookie;
      for (int page = 0; page < 1000; ++page) {
        const auto r = fx.server.pull(pullOf("fresh-" + u, fresh_cookie), as(u));
        for (const auto& op : r.patch) {
          if (op.op == PatchOpKind::Put) fresh[op.id] = std::string(op.row->get(todos.title).value_or(""));
          if (op.op == PatchOpKind::Del) fresh.erase(op.id);
        }
        fresh_cookie = r.cookie;
        if (!r.more) break;
      }
      INFO(u << " round " << round);
      CHECK(c.rows == fresh);
    }
  }
}

#ifdef PLASMA_NODE_BINARY

namespace {

const char* encName(Encoding e) { return e == Encoding::Json ? "JSON" : "FlatBuffers"; }

struct NodeUser {
  net::HttpClient http;
  std::string name;
  std::int64_t next_mutation = 1;
  NodeUser(std::uint16_t port, std::string user) : http("127.0.0.1", port, std::chrono::seconds(20)), name(std::move(user)) {}

  void push(Encoding e, Mutation m) {
    m.client_id = "c-" + name;
    m.id = next_mutation++;
    PushRequest req = pushOf("g-" + name, {std::move(m)});
    req.profile_id = "p-" + name;
    const auto r = http.request("POST", "/sync/push", encodePushRequest(e, req), contentType(e), {{"X-User", name}});
    INFO(r.body);
    REQUIRE(r.status == 200);
  }

  struct Pulled {
    std::string body;
    WirePullResponse resp;
  };
  Pulled pull(Encoding e, std::optional<std::uint64_t> cookie) {
    PullRequest req = pullOf("g-" + name, cookie);
    req.profile_id = "p-" + name;
    const auto r = http.request("POST", "/sync/pull", encodePullRequest(e, req), contentType(e), {{"X-User", name}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    return {r.body, decodePullResponse(e, r.body)};
  }
};

}  // namespace

TEST_CASE("pull visibility: the real node sends no del and no id of rows another user keeps private, in JSON and "
          "FlatBuffers",
          "[sync][pull][auth][node]") {
  TempDir dir;
  plasma_test::NodeProcess node{dir.path()};
  NodeUser alice{node.port(), "alice"};
  NodeUser bob{node.port(), "bob"};
  for (Encoding e : {Encoding::Json, Encoding::FlatBuffers}) {
    INFO(encName(e));
    const std::string tag = e == Encoding::Json ? "j" : "f";
    const std::string kept = "alice-shared-" + tag, dropped = "alice-unshared-" + tag, gone = "alice-deleted-" + tag;
    for (const auto& id : {kept, dropped, gone}) {
      alice.push(e, create("", 0, id, "for bob"));
      alice.push(e, share("", 0, id, true));
    }
    const auto b0 = bob.pull(e, std::nullopt);
    const std::uint64_t cookie = b0.resp.cookie;
    // After Bob's cookie: Alice's private rows (created, renamed, created and
    // deleted), one of the shared rows unshared and one deleted.
    const std::string secret = "alice-secret-" + tag, brief = "alice-brief-" + tag;
    alice.push(e, create("", 0, secret, "top secret"));
    alice.push(e, rename("", 0, secret, "still top secret"));
    alice.push(e, create("", 0, brief, "short-lived"));
    alice.push(e, remove("", 0, brief));
    alice.push(e, share("", 0, dropped, false));
    alice.push(e, remove("", 0, gone));
    alice.push(e, rename("", 0, kept, "renamed for bob"));
    const auto b1 = bob.pull(e, cookie);
    CHECK(ops(b1.resp) == Ops{"del " + dropped, "del " + gone, "put " + kept});
    CHECK(b1.body.find(secret) == std::string::npos);
    CHECK(b1.body.find(brief) == std::string::npos);
    CHECK(b1.body.find("top secret") == std::string::npos);
    // Bob's own private row and its deletion never reach Alice either.
    const auto a0 = alice.pull(e, std::nullopt);
    const std::string bobs = "bob-private-" + tag;
    bob.push(e, create("", 0, bobs, "bob's"));
    bob.push(e, rename("", 0, bobs, "bob's 2"));
    const auto a1 = alice.pull(e, a0.resp.cookie);
    CHECK(a1.resp.patch.empty());
    CHECK(a1.body.find(bobs) == std::string::npos);
    bob.push(e, remove("", 0, bobs));
    const auto a2 = alice.pull(e, a1.resp.cookie);
    CHECK(a2.resp.patch.empty());
    CHECK(a2.body.find(bobs) == std::string::npos);
  }
}

#endif
