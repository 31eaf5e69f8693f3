// Auth, end to end against the real node (todo app: auth.read = own or
// shared rows, auth.write = own rows; the user comes from X-User): through
// JSON and FlatBuffers, a client can neither pull rows auth.read hides nor
// write rows auth.write forbids — also not by naming another user's
// clientID or clientGroupID in the body.
#ifdef PLASMA_NODE_BINARY
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "net/http_client.hpp"
#include "node/node_process.hpp"
#include "sync/codec.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::NodeProcess;
using plasma_test::TempDir;
namespace json = boost::json;
using sync::Encoding;

namespace {

sync::Mutation mut(const std::string& client, std::int64_t id, const std::string& name, json::object args) {
  return sync::Mutation{client, id, name, std::move(args), 1};
}

const char* encName(Encoding e) { return e == Encoding::Json ? "JSON" : "FlatBuffers"; }

struct PushOutcome {
  int status = 0;
  std::string body;
  std::map<std::pair<std::string, std::int64_t>, std::pair<sync::MutationOutcome, std::string>> results;
  std::map<std::string, std::int64_t> lmids;
  // Outcome of (client, id): JSON lists only the mutations not applied.
  sync::MutationOutcome outcome(const std::string& client, std::int64_t id) const {
    auto it = results.find({client, id});
    return it == results.end() ? sync::MutationOutcome::Applied : it->second.first;
  }
  std::string error(const std::string& client, std::int64_t id) const {
    auto it = results.find({client, id});
    return it == results.end() ? std::string() : it->second.second;
  }
};

struct PullOutcome {
  int status = 0;
  std::string body;
  std::set<std::string> put_ids;  // rows the patch puts
  std::map<std::string, std::int64_t> lmid_changes;
  std::uint64_t cookie = 0;
};

struct User {
  net::HttpClient http;
  std::string name;
  User(std::uint16_t port, std::string user) : http("127.0.0.1", port, std::chrono::seconds(20)), name(std::move(user)) {}

  PushOutcome push(Encoding e, const std::string& group, std::vector<sync::Mutation> ms) {
    sync::PushRequest req;
    req.profile_id = "p-" + name;
    req.client_group_id = group;
    req.schema_version = todo::kSchemaVersion;
    req.mutations = std::move(ms);
    const auto r = http.request("POST", "/sync/push", sync::encodePushRequest(e, req), sync::contentType(e),
                                {{"X-User", name}});
    PushOutcome out;
    out.status = r.status;
    out.body = r.body;
    if (r.status == 200) {
      const auto resp = sync::decodePushResponse(e, r.body);
      for (const auto& m : resp.results) out.results[{m.client_id, m.id}] = {m.outcome, m.error};
      out.lmids = resp.last_mutation_ids;
    }
    return out;
  }

  PullOutcome pull(Encoding e, const std::string& group, std::optional<std::uint64_t> cookie = std::nullopt) {
    sync::PullRequest req;
    req.profile_id = "p-" + name;
    req.client_group_id = group;
    req.schema_version = todo::kSchemaVersion;
    req.cookie = cookie;
    const auto r = http.request("POST", "/sync/pull", sync::encodePullRequest(e, req), sync::contentType(e),
                                {{"X-User", name}});
    return readPull(e, r);
  }
  // GET {base}/pull?clientGroupID=..; FlatBuffers when Accept asks for it.
  PullOutcome pullGet(Encoding e, const std::string& group) {
    std::vector<net::Header> h{{"X-User", name}};
    if (e == Encoding::FlatBuffers) h.push_back({"Accept", std::string(sync::kFlatBuffersContentType)});
    const auto r = http.request("GET", "/sync/pull?clientGroupID=" + group + "&schemaVersion=" + todo::kSchemaVersion,
                                {}, "application/json", h);
    return readPull(e, r);
  }

  static PullOutcome readPull(Encoding e, const net::HttpResponse& r) {
    PullOutcome out;
    out.status = r.status;
    out.body = r.body;
    if (r.status != 200) return out;
    const auto resp = sync::decodePullResponse(e, r.body);
    for (const auto& op : resp.patch) {
      if (op.op == sync::PatchOpKind::Put) out.put_ids.insert(op.id);
    }
    out.lmid_changes = resp.last_mutation_id_changes;
    out.cookie = resp.cookie;
    return out;
  }
};

// Every todo as its owner's full JSON pull shows it: id -> value.
std::map<std::string, json::object> rowsSeenBy(User& u, const std::string& group) {
  const auto r = u.http.request("POST", "/sync/pull",
                                json::serialize(json::object{{"profileID", "p"},
                                                             {"clientGroupID", group},
                                                             {"cookie", nullptr},
                                                             {"pullVersion", 1},
                                                             {"schemaVersion", todo::kSchemaVersion}}),
                                "application/json", {{"X-User", u.name}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  std::map<std::string, json::object> rows;
  const json::value body = json::parse(r.body);
  for (const auto& op : body.at("patch").as_array()) {
    if (op.at("op").as_string() == "put") rows[std::string(op.at("value").at("id").as_string())] = op.at("value").as_object();
  }
  return rows;
}

// alice: group ga, client a1: a private todo and a shared one.
// bob: group gb, client b1: a private todo.
struct World {
  TempDir dir;
  NodeProcess node{dir.path()};
  User alice{node.port(), "alice"};
  User bob{node.port(), "bob"};
  World() {
    auto a = alice.push(Encoding::Json, "ga",
                        {mut("a1", 1, "createTodo", {{"id", "alice-private"}, {"title", "a secret"}, {"updatedAt", 1}}),
                         mut("a1", 2, "createTodo", {{"id", "alice-shared"}, {"title", "for all"}, {"updatedAt", 1}}),
                         mut("a1", 3, "shareTodo", {{"id", "alice-shared"}, {"shared", true}})});
    REQUIRE(a.status == 200);
    REQUIRE(a.lmids.at("a1") == 3);
    auto b = bob.push(Encoding::Json, "gb",
                      {mut("b1", 1, "createTodo", {{"id", "bob-private"}, {"title", "bob's"}, {"updatedAt", 1}})});
    REQUIRE(b.status == 200);
  }
};

}  // namespace

TEST_CASE("auth: pulls through JSON and FlatBuffers (POST and GET) never return rows auth.read hides",
          "[reliability][auth][node]") {
  World w;
  for (Encoding e : {Encoding::Json, Encoding::FlatBuffers}) {
    INFO(encName(e));
    for (bool get : {false, true}) {
      INFO((get ? "GET" : "POST"));
      const auto b = get ? w.bob.pullGet(e, "gb") : w.bob.pull(e, "gb");
      INFO(b.body);
      REQUIRE(b.status == 200);
      CHECK(b.put_ids == std::set<std::string>{"alice-shared", "bob-private"});
      const auto a = get ? w.alice.pullGet(e, "ga") : w.alice.pull(e, "ga");
      REQUIRE(a.status == 200);
      CHECK(a.put_ids == std::set<std::string>{"alice-private", "alice-shared"});
    }
  }
  // Incremental pulls: alice's change to her private row never reaches bob;
  // un-sharing turns her shared row into a del for him.
  const auto from = w.bob.pull(Encoding::FlatBuffers, "gb");
  REQUIRE(w.alice.push(Encoding::FlatBuffers, "ga",
                       {mut("a1", 4, "renameTodo", {{"id", "alice-private"}, {"title", "still secret"}, {"updatedAt", 2}})})
              .status == 200);
  for (Encoding e : {Encoding::Json, Encoding::FlatBuffers}) {
    INFO(encName(e));
    const auto next = w.bob.pull(e, "gb", from.cookie);
    REQUIRE(next.status == 200);
    // Nothing of the row, not even its id: bob never could read it, so
    // there is nothing of it to delete (issue 9).
    CHECK(next.put_ids.empty());
    CHECK(next.body.find("alice-private") == std::string::npos);
    CHECK(next.body.find("still secret") == std::string::npos);
    CHECK(next.body.find("a secret") == std::string::npos);
  }
}

TEST_CASE("auth: pushes that update, delete, re-share or overwrite another user's rows fail Unauthorized and "
          "change nothing (JSON and FlatBuffers)", "[reliability][auth][node]") {
  World w;
  const auto before = rowsSeenBy(w.alice, "ga");
  REQUIRE(before.size() == 2);
  std::int64_t next = 2;
  for (Encoding e : {Encoding::Json, Encoding::FlatBuffers}) {
    INFO(encName(e));
    // Each attack is one mutation of bob's own client; the last one is a
    // harmless write of his own that must still apply.
    const std::vector<std::pair<std::string, json::object>> attacks{
        {"renameTodo", {{"id", "alice-private"}, {"title", "pwned"}, {"updatedAt", 9}}},
        {"renameTodo", {{"id", "alice-shared"}, {"title", "pwned"}, {"updatedAt", 9}}},
        {"markDone", {{"id", "alice-shared"}, {"updatedAt", 9}}},
        {"markDone", {{"id", "alice-private"}, {"updatedAt", 9}}},
        {"shareTodo", {{"id", "alice-private"}, {"shared", true}}},
        {"shareTodo", {{"id", "alice-shared"}, {"shared", false}}},
        {"deleteTodo", {{"id", "alice-shared"}}},
        {"deleteTodo", {{"id", "alice-private"}}},
    };
    std::vector<sync::Mutation> ms;
    const std::int64_t first = next;
    for (const auto& [name, args] : attacks) ms.push_back(mut("b1", next++, name, args));
    // Taking over alice's id with a create: refused (the id exists), not an overwrite.
    ms.push_back(mut("b1", next++, "createTodo", {{"id", "alice-private"}, {"title", "pwned"}, {"updatedAt", 9}}));
    const std::int64_t own = next++;
    ms.push_back(mut("b1", own, "createTodo",
                     {{"id", std::string("bob-") + encName(e)}, {"title", "fine"}, {"updatedAt", 9}}));
    const auto r = w.bob.push(e, "gb", ms);
    INFO(r.body);
    REQUIRE(r.status == 200);
    for (std::int64_t id = first; id < first + static_cast<std::int64_t>(attacks.size()); ++id) {
      INFO("mutation " << id << " " << attacks[static_cast<std::size_t>(id - first)].first);
      CHECK(r.outcome("b1", id) == sync::MutationOutcome::Failed);
      CHECK(r.error("b1", id) == "Unauthorized");
    }
    CHECK(r.outcome("b1", own - 1) == sync::MutationOutcome::Failed);
    CHECK(r.outcome("b1", own) == sync::MutationOutcome::Applied);
    CHECK(r.lmids.at("b1") == own);
    // alice's rows are exactly as they were.
    CHECK(rowsSeenBy(w.alice, "ga") == before);
  }
}

TEST_CASE("auth: naming another user's clientID or clientGroupID in the body reveals nothing, advances none of "
          "their lastMutationIDs and writes nothing as them (JSON and FlatBuffers)", "[reliability][auth][node]") {
  World w;
  const auto before = rowsSeenBy(w.alice, "ga");
  for (Encoding e : {Encoding::Json, Encoding::FlatBuffers}) {
    INFO(encName(e));
    const std::string tag = encName(e);
    // 1. bob pushes in alice's group as alice's client, with the next id she would use.
    const auto forged = w.bob.push(e, "ga", {mut("a1", 4, "createTodo", {{"id", "forged-" + tag}, {"title", "x"}, {"updatedAt", 1}}),
                                             mut("a1", 5, "deleteTodo", {{"id", "alice-private"}})});
    INFO(forged.body);
    CHECK(forged.status == 401);
    CHECK_THAT(forged.body, Catch::Contains("Unauthorized"));
    // 2. bob pulls alice's group: refused, so neither rows nor her clients' lastMutationIDs leak.
    const auto peek = w.bob.pull(e, "ga");
    INFO(peek.body);
    CHECK(peek.status == 401);
    CHECK(peek.body.find("alice-private") == std::string::npos);
    CHECK(peek.lmid_changes.count("a1") == 0);
    const auto peek_get = w.bob.pullGet(e, "ga");
    CHECK(peek_get.status == 401);
    // 3. bob uses alice's clientID inside his own group: that is another
    // client (clients are per group), owned by bob; alice's a1 is untouched.
    const auto own_group = w.bob.push(e, "gb", {mut("a1", 1, "createTodo", {{"id", "as-a1-" + tag}, {"title", "x"}, {"updatedAt", 1}})});
    INFO(own_group.body);
    if (e == Encoding::Json) {
      REQUIRE(own_group.status == 200);
      CHECK(own_group.lmids.at("a1") == 1);
    } else {
      REQUIRE(own_group.status == 200);  // a second client a1 in gb: already at 1, this is a retry
      CHECK(own_group.outcome("a1", 1) == sync::MutationOutcome::Skipped);
    }
  }
  // alice: same rows, her client a1 still at 3, and she goes on with id 4.
  CHECK(rowsSeenBy(w.alice, "ga") == before);
  const auto a = w.alice.pull(Encoding::Json, "ga");
  REQUIRE(a.status == 200);
  CHECK(a.lmid_changes.at("a1") == 3);
  const auto go_on = w.alice.push(Encoding::Json, "ga", {mut("a1", 4, "createTodo", {{"id", "alice-4"}, {"title", "mine"}, {"updatedAt", 4}})});
  REQUIRE(go_on.status == 200);
  CHECK(go_on.outcome("a1", 4) == sync::MutationOutcome::Applied);
  CHECK(go_on.lmids.at("a1") == 4);
  // What bob wrote as "a1" in his group is his, and alice cannot see it.
  const auto bobs = rowsSeenBy(w.bob, "gb");
  REQUIRE(bobs.count("as-a1-JSON") == 1);
  CHECK(bobs.at("as-a1-JSON").at("owner").as_string() == "bob");
  CHECK(rowsSeenBy(w.alice, "ga").count("as-a1-JSON") == 0);
}

TEST_CASE("auth: a WebSocket upgrade naming another user's clientGroupID is closed 4401 and joins nothing",
          "[reliability][auth][node]") {
  World w;
  auto target = [](const std::string& group, const std::string& client, const std::string& user) {
    return "/sync/ws?clientGroupID=" + group + "&clientID=" + client + "&user=" + user;
  };
  // bob, as alice's client in alice's group: refused with the reason.
  net::WsClient forged("127.0.0.1", w.node.port(), target("ga", "a1", "bob"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (forged.isOpen() && std::chrono::steady_clock::now() < deadline) {
    (void)forged.readText(std::chrono::milliseconds(100));
  }
  REQUIRE_FALSE(forged.isOpen());
  const auto why = forged.closeReason();
  REQUIRE(why.has_value());
  CHECK(why->first == 4401);
  CHECK_THAT(why->second, Catch::Contains("belongs to another user"));
  // alice joins her own group's room and gets presence (and pokes); bob's own group works for him.
  net::WsClient mine("127.0.0.1", w.node.port(), target("ga", "a1", "alice"));
  const auto first = mine.readText(std::chrono::seconds(5));
  REQUIRE(first.has_value());
  CHECK_THAT(*first, Catch::Contains("presence"));
  CHECK(first->find("bob") == std::string::npos);
  net::WsClient his("127.0.0.1", w.node.port(), target("gb", "b1", "bob"));
  CHECK(his.readText(std::chrono::seconds(5)).has_value());
  CHECK(mine.isOpen());
  CHECK(his.isOpen());
}
#endif
