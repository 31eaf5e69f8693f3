// Regression (found by plasma-crash-harness --client-crash --group-size 2):
// in a client group, a member that restarted makes mutations before its
// first pull ("unverified" for the mutation-id floor); another member pushes
// them with the group's outbox and the server applies them; the restarted
// member's pull then did not treat them as confirmed but re-numbered them
// above the server's lastMutationID and pushed them again — the same
// mutation ran twice (here: a createTodo failing on its own id). With
// Durability::Full ids never go back, so there is no floor to learn.
#ifdef PLASMA_NODE_BINARY
#include <chrono>
#include <map>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "client/client.hpp"
#include "net/http_client.hpp"
#include "node/node_process.hpp"
#include "sync/codec.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using namespace std::chrono_literals;

namespace {

client::ClientOptions durableMember(const std::filesystem::path& dir, std::uint16_t port,
                                    Durability durability = Durability::Full) {
  client::ClientOptions o;
  o.tables = {todo::todos};
  o.schema_version = todo::kSchemaVersion;
  o.runner = sync::runnerFor(todo::mutators());
  o.ctx = todo::Ctx{"alice"};
  o.data_dir = dir;
  o.durability = durability;  // Full, the default: nothing acknowledged to the app is ever rolled back
  o.port = port;
  o.auth_headers = {{"X-User", "alice"}};
  o.websocket = false;
  o.request_timeout = 2s;
  o.retry = {.max_attempts = 3, .initial_delay_ms = 5, .max_delay_ms = 50};
  return o;
}

boost::json::value create(const std::string& id) {
  return boost::json::object{{"id", id}, {"title", id}, {"updatedAt", 1}};
}

}  // namespace

TEST_CASE("crash: a group member's mutations pushed by another member before its first pull run once", "[crash][client]") {
  // Full: ids never go back, no floor. NoSync: b's mutation made before its
  // first pull is held (no member pushes it) until b's pull verified it.
  const Durability durability = GENERATE(Durability::Full, Durability::NoSync);
  INFO("durability " << (durability == Durability::Full ? "full" : "nosync"));
  plasma_test::TempDir dir, node_dir;
  plasma_test::NodeProcess node(node_dir.path());
  client::Client a(durableMember(dir.path(), node.port(), durability));
  std::string b_id;
  {
    client::Client b(durableMember(dir.path(), node.port(), durability));
    b_id = b.clientID();
    b.mutate("createTodo", create("x1"));
    REQUIRE(b.flush(5s));
  }
  // b restarts (same slot, same clientID) and mutates before any pull.
  client::Client b(durableMember(dir.path(), node.port(), durability));
  REQUIRE(b.clientID() == b_id);
  auto h = b.mutate("createTodo", create("x2"));
  CHECK(h.id == 2);
  REQUIRE(a.pushOnce());  // Full: a pushes the group's outbox, x2 included (b/2); NoSync: x2 is held
  REQUIRE(b.pullOnce());  // b learns lastMutationID 2 for itself
  REQUIRE(b.flush(5s));
  REQUIRE(a.pullOnce());
  REQUIRE(h.outcome.wait_for(0s) == std::future_status::ready);
  const auto outcome = h.outcome.get();
  CHECK(outcome.mutation_id == 2);  // not re-numbered
  CHECK(outcome.kind != client::OutcomeKind::Failed);
  CHECK(b.pendingCount() == 0);
  // The server ran it once: b's lastMutationID is 2, not 3.
  sync::PullRequest pull;
  pull.client_group_id = a.clientGroupID();
  pull.schema_version = todo::kSchemaVersion;
  net::HttpClient http("127.0.0.1", node.port());
  const auto resp = http.request("POST", "/sync/pull", sync::encodePullRequest(sync::Encoding::Json, pull),
                                 sync::kJsonContentType, {{"X-User", "alice"}});
  REQUIRE(resp.status == 200);
  CHECK(sync::decodePullResponse(sync::Encoding::Json, resp.body).last_mutation_id_changes.at(b_id) == 2);
  plasma_test::TempDir probe_dir;
  auto po = durableMember(probe_dir.path(), node.port());
  po.durability = Durability::NoSync;
  client::Client probe(std::move(po));
  REQUIRE(probe.pullOnce());
  std::size_t todos = 0;
  probe.db().read([&](const ReadTx& tx) { todos = tx.count(todo::todos); });
  CHECK(todos == 2);
}
#endif
