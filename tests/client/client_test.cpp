// The client engine (client/client.hpp) against the real plasma-node
// process (todo app) on loopback.
#ifdef PLASMA_NODE_BINARY
#include <atomic>
#include <cmath>
#include <limits>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "client/client.hpp"
#include "client/client_test_util.hpp"
#include "net/http_client.hpp"
#include "node/node_process.hpp"
#include "sync/codec.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::NodeProcess;
using plasma_test::TempDir;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

client::ClientOptions optionsFor(const std::filesystem::path& dir, std::uint16_t port, const std::string& user,
                                 sync::Encoding encoding = sync::Encoding::FlatBuffers) {
  return plasma_test::clientOptions(dir, port, user, encoding);
}

std::map<std::string, std::string> titles(client::Client& c) { return plasma_test::titlesOf(c.db()); }

json::value create(const std::string& id, const std::string& title, std::int64_t at = 1) {
  return plasma_test::createArgs(id, title, at);
}
json::value renameArgs(const std::string& id, const std::string& title, std::int64_t at = 2) {
  return json::object{{"id", id}, {"title", title}, {"updatedAt", at}};
}

// A port nothing listens on (a node started and stopped).
std::uint16_t deadPort() {
  TempDir d;
  NodeProcess n(d.path());
  const auto p = n.port();
  n.terminate();
  return p;
}

bool ready(const std::shared_future<client::Outcome>& f, std::chrono::milliseconds t = 0ms) {
  return f.wait_for(t) == std::future_status::ready;
}

}  // namespace

TEST_CASE("client: mutate is local and immediate - it syncs and resolves once the node answers", "[client]") {
  TempDir dir, node_dir;
  client::Client c(optionsFor(dir.path(), deadPort(), "alice"));
  const auto t0 = std::chrono::steady_clock::now();
  auto h = c.mutate("createTodo", create("t1", "milk"));
  CHECK(std::chrono::steady_clock::now() - t0 < 200ms);
  CHECK(titles(c) == std::map<std::string, std::string>{{"t1", "milk"}});
  CHECK(c.pendingCount() == 1);
  CHECK(h.id == 1);
  CHECK_FALSE(c.pushOnce());  // unreachable: retried, then reported
  CHECK_FALSE(ready(h.outcome));
  CHECK(titles(c).size() == 1);

  NodeProcess node(node_dir.path());
  c.setEndpoint("127.0.0.1", node.port());
  REQUIRE(c.flush(3s));
  REQUIRE(ready(h.outcome));
  CHECK(h.outcome.get().kind == client::OutcomeKind::Applied);
  CHECK(c.pendingCount() == 0);
  CHECK(titles(c) == std::map<std::string, std::string>{{"t1", "milk"}});
  CHECK(c.cookie().has_value());
}

TEST_CASE("client: two clients converge after concurrent conflicting edits (sync loop + pokes)", "[client]") {
  TempDir a_dir, b_dir, node_dir;
  NodeProcess node(node_dir.path());
  for (auto enc : {sync::Encoding::FlatBuffers, sync::Encoding::Json}) {
    INFO((enc == sync::Encoding::Json ? "json" : "flatbuffers"));
    TempDir ad, bd;
    client::Client a(optionsFor(ad.path(), node.port(), "alice", enc));
    client::Client b(optionsFor(bd.path(), node.port(), "alice", enc));
    const std::string p = enc == sync::Encoding::Json ? "j-" : "f-";
    a.mutate("createTodo", create(p + "shared", "orig"));
    REQUIRE(a.flush(3s));
    REQUIRE(b.pullOnce());
    REQUIRE(titles(b).contains(p + "shared"));

    // Concurrent edits: both rename the same todo, each adds its own.
    a.mutate("renameTodo", renameArgs(p + "shared", "by-a", 2));
    b.mutate("renameTodo", renameArgs(p + "shared", "by-b", 3));
    a.mutate("createTodo", create(p + "a1", "a's"));
    b.mutate("createTodo", create(p + "b1", "b's"));
    CHECK(titles(a)[p + "shared"] == "by-a");  // optimistic
    CHECK(titles(b)[p + "shared"] == "by-b");

    a.start();
    b.start();
    REQUIRE(a.flush(3s));
    REQUIRE(b.flush(3s));
    // Converge through the loop (pokes or the 200 ms poll).
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline && (titles(a) != titles(b) || titles(a).size() < 3)) {
      std::this_thread::sleep_for(20ms);
    }
    a.stop();
    b.stop();
    CHECK(titles(a) == titles(b));
    const auto t = titles(a);
    CHECK(t.at(p + "a1") == "a's");
    CHECK(t.at(p + "b1") == "b's");
    // The server ran a's rename then b's (b pushed second) or the other way:
    // whichever, both hold the server's answer.
    CHECK((t.at(p + "shared") == "by-a" || t.at(p + "shared") == "by-b"));
  }
}

TEST_CASE("client: edits made while the node is down survive a client restart and sync when it returns", "[client]") {
  TempDir dir, node_dir, other_dir;
  std::uint16_t port = 0;
  {
    NodeProcess node(node_dir.path());
    port = node.port();
    client::Client c(optionsFor(dir.path(), port, "alice"));
    c.mutate("createTodo", create("r1", "before"));
    REQUIRE(c.flush(3s));
    node.terminate();
    c.mutate("renameTodo", renameArgs("r1", "offline-1"));
    c.mutate("createTodo", create("r2", "offline-2"));
    CHECK(c.pendingCount() == 2);
  }
  std::string client_id;
  {
    client::Client c(optionsFor(dir.path(), port, "alice"));  // reopened: the outbox is still there
    client_id = c.clientID();
    CHECK(c.pendingCount() == 2);
    CHECK(titles(c) == std::map<std::string, std::string>{{"r1", "offline-1"}, {"r2", "offline-2"}});
    NodeProcess node(node_dir.path());  // back, on another port
    c.setEndpoint("127.0.0.1", node.port());
    REQUIRE(c.flush(3s));
    CHECK(c.pendingCount() == 0);
    client::Client other(optionsFor(other_dir.path(), node.port(), "alice"));
    REQUIRE(other.pullOnce());
    CHECK(titles(other) == std::map<std::string, std::string>{{"r1", "offline-1"}, {"r2", "offline-2"}});
  }
  client::Client again(optionsFor(dir.path(), port, "alice"));
  CHECK(again.clientID() == client_id);
  CHECK(again.pendingCount() == 0);
}

TEST_CASE("client: a mutation the server rejects is rolled back and its handle says so", "[client]") {
  TempDir a_dir, b_dir, node_dir;
  NodeProcess node(node_dir.path());
  client::Client alice(optionsFor(a_dir.path(), node.port(), "alice"));
  client::Client bob(optionsFor(b_dir.path(), node.port(), "bob"));
  alice.mutate("createTodo", create("x1", "alice's"));
  alice.mutate("shareTodo", json::object{{"id", "x1"}, {"shared", true}});
  REQUIRE(alice.flush(3s));
  REQUIRE(bob.pullOnce());
  REQUIRE(titles(bob) == std::map<std::string, std::string>{{"x1", "alice's"}});

  std::vector<client::ClientError> errors;
  auto h = bob.mutate("renameTodo", renameArgs("x1", "bob was here"));
  bob.mutate("createTodo", create("y1", "bob's own"));
  CHECK(titles(bob).at("x1") == "bob was here");  // optimistic
  REQUIRE(bob.flush(3s));
  REQUIRE(ready(h.outcome));
  const auto outcome = h.outcome.get();
  CHECK(outcome.kind == client::OutcomeKind::Failed);
  CHECK(outcome.error == "Unauthorized");
  CHECK(titles(bob) == std::map<std::string, std::string>{{"x1", "alice's"}, {"y1", "bob's own"}});
  REQUIRE(alice.pullOnce());
  CHECK(titles(alice).at("x1") == "alice's");
}

TEST_CASE("client: injected 5xx, 429 and dropped connections never duplicate a mutation", "[client]") {
  TempDir dir, node_dir, check_dir;
  NodeProcess node(node_dir.path());
  auto real = client::httpTransport("127.0.0.1", node.port(), 2s);
  std::mutex mu;
  int calls = 0, dropped_after = 0, fivexx = 0, four29 = 0;
  auto o = optionsFor(dir.path(), node.port(), "alice");
  o.retry = {.max_attempts = 6, .initial_delay_ms = 1, .max_delay_ms = 5};
  std::vector<client::ClientError> errors;
  o.on_error = [&](const client::ClientError& e) {
    std::lock_guard l(mu);
    errors.push_back(e);
  };
  o.transport = [&](const client::TransportRequest& r) -> net::HttpResponse {
    int n;
    {
      std::lock_guard l(mu);
      n = ++calls;
    }
    switch (n % 4) {
      case 1: {  // the request reached the server, the answer was lost
        real(r);
        std::lock_guard l(mu);
        ++dropped_after;
        throw std::runtime_error("connection reset by peer (injected)");
      }
      case 2: {
        std::lock_guard l(mu);
        ++fivexx;
        return net::HttpResponse{503, "application/json", R"({"error":"Unavailable","message":"injected"})", {}};
      }
      case 3: {
        std::lock_guard l(mu);
        ++four29;
        return net::HttpResponse{429, "application/json", R"({"error":"TooMany","message":"injected"})",
                                 {{"Retry-After", "0"}}};
      }
      default:
        return real(r);
    }
  };
  client::Client c(std::move(o));
  std::vector<client::MutationHandle> handles;
  for (int i = 0; i < 6; ++i) {
    handles.push_back(c.mutate("createTodo", create("d" + std::to_string(i), "v" + std::to_string(i))));
    if (i % 2 == 1) REQUIRE(c.pushOnce());
  }
  REQUIRE(c.flush(4s));
  for (auto& h : handles) {
    REQUIRE(ready(h.outcome));
    // A duplicate run would fail (the id exists); applied or confirmed by a retry's skip.
    CHECK(h.outcome.get().kind != client::OutcomeKind::Failed);
  }
  CHECK(dropped_after > 0);
  CHECK(fivexx > 0);
  CHECK(four29 > 0);
  bool saw_server = false, saw_rate = false, saw_network = false;
  for (const auto& e : errors) {
    saw_server |= e.kind == client::ErrorKind::Server;
    saw_rate |= e.kind == client::ErrorKind::RateLimited;
    saw_network |= e.kind == client::ErrorKind::Network;
  }
  CHECK(saw_server);
  CHECK(saw_rate);
  CHECK(saw_network);

  // The server holds each todo once, and lastMutationID is exactly 6.
  client::Client check(optionsFor(check_dir.path(), node.port(), "alice"));
  REQUIRE(check.pullOnce());
  CHECK(titles(check).size() == 6);
  CHECK(titles(check) == titles(c));
  net::HttpClient http("127.0.0.1", node.port());
  const auto pull = http.request(
      "POST", "/sync/pull",
      json::serialize(json::object{{"profileID", "p"}, {"clientGroupID", c.clientGroupID()}, {"cookie", nullptr},
                                   {"pullVersion", 1}, {"schemaVersion", todo::kSchemaVersion}}),
      "application/json", {{"X-User", "alice"}});
  REQUIRE(pull.status == 200);
  CHECK(json::parse(pull.body).at("lastMutationIDChanges").at(c.clientID()).as_int64() == 6);
}

TEST_CASE("client: live queries see a rebase as one net change", "[client]") {
  TempDir dir, node_dir, other_dir;
  NodeProcess node(node_dir.path());
  client::Client c(optionsFor(dir.path(), node.port(), "alice"));
  client::Client other(optionsFor(other_dir.path(), node.port(), "alice"));
  other.mutate("createTodo", create("o1", "from other"));
  REQUIRE(other.flush(3s));

  std::atomic<int> commits{0};
  std::atomic<bool> saw_partial{false};
  auto sub = c.db().onCommit([&](const std::shared_ptr<const CommitEvent>& e) {
    ++commits;
    bool has_o1 = false, has_p1 = false;
    for (const auto& ch : e->changes) {
      if (ch.table == &todo::todos.spec() && ch.id == "o1") has_o1 = true;
      if (ch.table == &todo::todos.spec() && ch.id == "p1") has_p1 = true;
    }
    // The rebase commit adds o1 and leaves p1 (pending) untouched: p1 must
    // not appear as deleted-and-reinserted.
    if (has_o1 && has_p1) saw_partial = true;
  });
  c.mutate("createTodo", create("p1", "pending"));
  const int before = commits.load();
  REQUIRE(c.pullOnce());  // rebase: undo p1, apply o1, replay p1 — one commit
  CHECK(commits.load() == before + 1);
  CHECK_FALSE(saw_partial.load());
  CHECK(titles(c) == std::map<std::string, std::string>{{"o1", "from other"}, {"p1", "pending"}});
  CHECK(c.pendingCount() == 1);
}

namespace {
// The server's lastMutationID for a client of a group (a JSON pull without cookie).
std::int64_t serverLastMutationID(std::uint16_t port, const std::string& group, const std::string& client) {
  net::HttpClient http("127.0.0.1", port);
  const auto pull = http.request(
      "POST", "/sync/pull",
      json::serialize(json::object{{"profileID", "p"}, {"clientGroupID", group}, {"cookie", nullptr},
                                   {"pullVersion", 1}, {"schemaVersion", todo::kSchemaVersion}}),
      "application/json", {{"X-User", "alice"}});
  REQUIRE(pull.status == 200);
  const json::value body = json::parse(pull.body);
  const auto& changes = body.at("lastMutationIDChanges").as_object();
  const auto it = changes.find(client);
  return it == changes.end() ? 0 : it->value().as_int64();
}
}  // namespace

TEST_CASE("client: after a crash rolled nextMutationID back, new mutations are re-numbered above the server's", "[client]") {
  TempDir dir, snap, node_dir, check_dir;
  NodeProcess node(node_dir.path());
  std::string group, id;
  {
    client::Client c(optionsFor(dir.path(), node.port(), "alice"));
    group = c.clientGroupID();
    id = c.clientID();
    c.mutate("createTodo", create("m1", "one"));
    REQUIRE(c.flush(3s));
    c.mutate("createTodo", create("m2", "two"));  // pending in the snapshot, pushed later
  }
  // The snapshot = the state a system crash rolls back to (NoSync/NoMetaSync).
  std::filesystem::remove_all(snap.path());
  std::filesystem::copy(dir.path(), snap.path(), std::filesystem::copy_options::recursive);
  {
    client::Client c(optionsFor(dir.path(), node.port(), "alice"));
    c.mutate("createTodo", create("m3", "three"));
    REQUIRE(c.flush(3s));
  }
  REQUIRE(serverLastMutationID(node.port(), group, id) == 3);
  std::filesystem::remove_all(dir.path());
  std::filesystem::copy(snap.path(), dir.path(), std::filesystem::copy_options::recursive);

  client::Client c(optionsFor(dir.path(), node.port(), "alice"));
  CHECK(c.clientID() == id);
  CHECK(c.pendingCount() == 1);  // m2 (mid 2), which the server already applied
  auto h = c.mutate("createTodo", create("m4", "four"));
  CHECK(h.id == 3);  // the rolled-back counter: collides with m3's id
  REQUIRE(c.flush(3s));
  REQUIRE(ready(h.outcome));
  CHECK(h.outcome.get().kind == client::OutcomeKind::Applied);
  CHECK(h.outcome.get().mutation_id == 4);
  CHECK(serverLastMutationID(node.port(), group, id) == 4);
  const std::map<std::string, std::string> want{{"m1", "one"}, {"m2", "two"}, {"m3", "three"}, {"m4", "four"}};
  CHECK(titles(c) == want);
  client::Client check(optionsFor(check_dir.path(), node.port(), "alice"));
  REQUIRE(check.pullOnce());
  CHECK(titles(check) == want);
  // Later mutations continue above the floor.
  auto h5 = c.mutate("createTodo", create("m5", "five"));
  CHECK(h5.id == 5);
  REQUIRE(c.flush(3s));
  CHECK(serverLastMutationID(node.port(), group, id) == 5);
}

TEST_CASE("client: discardMutation rolls back a pending mutation - resetLocalState yields a fresh full state", "[client]") {
  TempDir dir, node_dir, other_dir;
  NodeProcess node(node_dir.path());
  client::Client other(optionsFor(other_dir.path(), node.port(), "alice"));
  other.mutate("createTodo", create("s1", "server"));
  REQUIRE(other.flush(3s));

  client::Client c(optionsFor(dir.path(), node.port(), "alice"));
  REQUIRE(c.pullOnce());
  auto h1 = c.mutate("createTodo", create("k1", "keep"));
  auto h2 = c.mutate("renameTodo", renameArgs("s1", "discard me"));
  auto h3 = c.mutate("createTodo", create("k3", "keep too"));
  CHECK(titles(c).at("s1") == "discard me");
  CHECK(c.discardMutation(h2.id));
  CHECK_FALSE(c.discardMutation(99));  // no such pending id (h3 now has id 2)
  REQUIRE(ready(h2.outcome));
  CHECK(h2.outcome.get().kind == client::OutcomeKind::Discarded);
  CHECK(c.pendingCount() == 2);
  CHECK(titles(c) == std::map<std::string, std::string>{{"s1", "server"}, {"k1", "keep"}, {"k3", "keep too"}});
  REQUIRE(c.flush(3s));
  REQUIRE(ready(h3.outcome));
  CHECK(h3.outcome.get().kind == client::OutcomeKind::Applied);
  CHECK(h3.outcome.get().mutation_id == 2);  // re-numbered: ids stay gapless
  CHECK_FALSE(c.discardMutation(h1.id));     // pushed already

  // Reset: local-only edits vanish, a new clientID, a full state at the next pull.
  c.setOffline(true);
  auto hp = c.mutate("createTodo", create("local", "never pushed"));
  const auto old_id = c.clientID();
  c.resetLocalState();
  CHECK(c.clientID() != old_id);
  CHECK(c.pendingCount() == 0);
  CHECK(titles(c).empty());
  CHECK_FALSE(c.cookie().has_value());
  REQUIRE(ready(hp.outcome));
  CHECK(hp.outcome.get().kind == client::OutcomeKind::Discarded);
  c.setOffline(false);
  REQUIRE(c.pullOnce());
  REQUIRE(other.pullOnce());
  CHECK(titles(c) == titles(other));
  CHECK(titles(c) == std::map<std::string, std::string>{{"s1", "server"}, {"k1", "keep"}, {"k3", "keep too"}});
  auto hn = c.mutate("createTodo", create("n1", "new"));
  CHECK(hn.id == 1);
  REQUIRE(c.flush(3s));
  CHECK(hn.outcome.get().kind == client::OutcomeKind::Applied);
}

TEST_CASE("client: args holding a non-finite number are refused before anything is written", "[client]") {
  // JSON cannot carry infinity or NaN: such a mutation would make the outbox unpushable.
  TempDir dir, node_dir;
  NodeProcess node(node_dir.path());
  client::Client c(optionsFor(dir.path(), node.port(), "alice"));
  auto args = create("t1", "x");
  args.as_object()["nested"] = boost::json::array{1, boost::json::object{{"v", std::numeric_limits<double>::infinity()}}};
  try {
    (void)c.mutate("createTodo", args);
    FAIL("mutate accepted an infinite number");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidArgument);
    CHECK_THAT(std::string(e.what()), Catch::Contains("not finite"));
  }
  CHECK(c.pendingCount() == 0);
  CHECK(titles(c).empty());
  args.as_object()["nested"] = std::nan("");
  CHECK_THROWS_AS(c.mutate("createTodo", args), Error);
  // The client keeps working.
  auto h = c.mutate("createTodo", create("t2", "fine"));
  REQUIRE(c.flush(3s));
  CHECK(h.outcome.get().kind == client::OutcomeKind::Applied);
}

// `createTodo` args with an extra field nested `depth` arrays and objects deep in all.
json::value deepArgs(const std::string& id, std::size_t depth) {
  json::value inner = 1;
  for (std::size_t i = 1; i < depth - 1; ++i) inner = json::array{inner};  // depth - 2 arrays
  json::value args = create(id, "deep");
  args.as_object()["nested"] = json::array{inner};  // the args object and this array: two more
  REQUIRE(sync::jsonDepth(args) == depth);
  return args;
}

TEST_CASE("client: args as deep as a push can carry sync in both encodings, deeper ones are refused", "[client]") {
  TempDir node_dir;
  NodeProcess node(node_dir.path());
  for (auto encoding : {sync::Encoding::Json, sync::Encoding::FlatBuffers}) {
    INFO((encoding == sync::Encoding::Json ? "JSON" : "FlatBuffers"));
    TempDir dir;
    client::Client c(optionsFor(dir.path(), node.port(), "alice", encoding));
    const std::string id = encoding == sync::Encoding::Json ? "deep-json" : "deep-fbs";
    try {
      (void)c.mutate("createTodo", deepArgs(id + "-too", sync::kMaxValueDepth + 1));
      FAIL("mutate accepted args deeper than a push can carry");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK_THAT(std::string(e.what()), Catch::Contains("at most " + std::to_string(sync::kMaxValueDepth)));
    }
    CHECK(c.pendingCount() == 0);
    auto h = c.mutate("createTodo", deepArgs(id, sync::kMaxValueDepth));
    REQUIRE(c.flush(3s));
    CHECK(h.outcome.get().kind == client::OutcomeKind::Applied);
    CHECK(titles(c).at(id) == "deep");
  }
}

TEST_CASE("client: a schema-version mismatch calls onSchemaMismatch - stay and reset both work", "[client]") {
  TempDir node_dir;
  NodeProcess node(node_dir.path());
  for (auto action : {client::SchemaMismatchAction::Stay, client::SchemaMismatchAction::Reset}) {
    for (auto enc : {sync::Encoding::FlatBuffers, sync::Encoding::Json}) {
      const bool reset = action == client::SchemaMismatchAction::Reset;
      INFO((reset ? "reset" : "stay") << (enc == sync::Encoding::Json ? " json" : " flatbuffers"));
      TempDir dir;
      auto o = optionsFor(dir.path(), node.port(), "alice", enc);
      o.schema_version = "not-the-servers-version";
      o.on_schema_mismatch = action;
      std::mutex mu;
      int mismatches = 0;
      o.on_error = [&](const client::ClientError& e) {
        std::lock_guard l(mu);
        if (e.kind == client::ErrorKind::SchemaMismatch) ++mismatches;
      };
      client::Client c(std::move(o));
      auto h = c.mutate("createTodo", create("sm1", "local"));
      const auto id = c.clientID();
      CHECK_FALSE(c.pushOnce());
      CHECK(c.syncStopped());
      {
        std::lock_guard l(mu);
        CHECK(mismatches == 1);
      }
      CHECK_FALSE(c.pullOnce());  // stopped: no more requests
      {
        std::lock_guard l(mu);
        CHECK(mismatches == 1);
      }
      if (reset) {
        CHECK(c.clientID() != id);
        CHECK(titles(c).empty());
        CHECK(c.pendingCount() == 0);
        REQUIRE(ready(h.outcome));
        CHECK(h.outcome.get().kind == client::OutcomeKind::Discarded);
      } else {
        CHECK(c.clientID() == id);
        CHECK(titles(c) == std::map<std::string, std::string>{{"sm1", "local"}});
        CHECK(c.pendingCount() == 1);
        CHECK_FALSE(ready(h.outcome));
      }
    }
  }
}

#endif  // PLASMA_NODE_BINARY
