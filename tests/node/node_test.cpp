// Integration tests: the real plasma-node process (todo app) on an
// ephemeral loopback port, spoken to over real sockets in both encodings.
#ifdef PLASMA_NODE_BINARY
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

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

namespace {

const std::string kVersion = todo::kSchemaVersion;

json::object mutation(const std::string& client, std::int64_t id, const std::string& name, json::object args) {
  return json::object{{"clientID", client}, {"id", id}, {"name", name}, {"args", std::move(args)}, {"timestamp", 1}};
}
json::object createTodo(const std::string& client, std::int64_t id, const std::string& todo, const std::string& title = "t") {
  return mutation(client, id, "createTodo", {{"id", todo}, {"title", title}, {"updatedAt", id}});
}

std::string pushBody(const std::string& group, json::array mutations, const std::string& version = kVersion) {
  return json::serialize(json::object{{"profileID", "p1"},
                                      {"clientGroupID", group},
                                      {"mutations", std::move(mutations)},
                                      {"pushVersion", 1},
                                      {"schemaVersion", version}});
}
std::string pullBody(const std::string& group, json::value cookie, const std::string& version = kVersion) {
  return json::serialize(json::object{
      {"profileID", "p1"}, {"clientGroupID", group}, {"cookie", cookie}, {"pullVersion", 1}, {"schemaVersion", version}});
}

struct Client {
  net::HttpClient http;
  std::vector<net::Header> headers;
  explicit Client(std::uint16_t port, std::string user = "alice", std::string token = {})
      : http("127.0.0.1", port, std::chrono::seconds(20)) {
    headers.push_back({"X-User", std::move(user)});
    if (!token.empty()) headers.push_back({"Authorization", std::move(token)});
  }
  net::HttpResponse post(std::string_view target, std::string_view body, std::string_view type = "application/json") {
    return http.request("POST", target, body, type, headers);
  }
  json::object pushJson(const std::string& group, json::array ms) {
    const auto r = post("/sync/push", pushBody(group, std::move(ms)));
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body).as_object();
  }
  json::object pullJson(const std::string& group, json::value cookie) {
    const auto r = post("/sync/pull", pullBody(group, std::move(cookie)));
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body).as_object();
  }
};

// A client-side replica: "table/id" -> value, from JSON patches.
using Replica = std::map<std::string, json::object>;
void applyPatch(Replica& state, const json::object& response) {
  for (const auto& op : response.at("patch").as_array()) {
    const auto& o = op.as_object();
    const std::string kind(o.at("op").as_string());
    if (kind == "clear") {
      state.clear();
    } else if (kind == "put") {
      state[std::string(o.at("key").as_string())] = o.at("value").as_object();
    } else {
      state.erase(std::string(o.at("key").as_string()));
    }
  }
}

// The push response lists the mutations that were not simply applied;
// the outcome of (client, id) is "applied" when it is not listed.
std::string outcomeOf(const json::object& push, const std::string& client, std::int64_t id) {
  for (const auto& r : push.at("results").as_array()) {
    if (r.at("clientID").as_string() == client && r.at("id").as_int64() == id) return std::string(r.at("outcome").as_string());
  }
  return "applied";
}
const json::object& resultOf(const json::object& push, const std::string& client, std::int64_t id) {
  for (const auto& r : push.at("results").as_array()) {
    if (r.at("clientID").as_string() == client && r.at("id").as_int64() == id) return r.as_object();
  }
  FAIL("no result for " << client << " " << id);
  throw;
}

std::string errorOf(const net::HttpResponse& r) {
  const auto v = json::parse(r.body);
  return std::string(v.at("error").as_string());
}

}  // namespace

TEST_CASE("node: JSON push then pull round trip, Replicache-shaped", "[node][integration]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Client c(node.port());

  const auto health = c.http.request("GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(json::parse(health.body).at("ok").as_bool());

  const auto push = c.pushJson("g1", {createTodo("c1", 1, "a", "milk"), createTodo("c1", 2, "b", "eggs")});
  CHECK(push.at("lastMutationIDs").at("c1").as_int64() == 2);

  const auto pull = c.pullJson("g1", nullptr);
  const auto& patch = pull.at("patch").as_array();
  REQUIRE(patch.size() == 3);
  CHECK(patch[0].at("op").as_string() == "clear");
  CHECK(patch[1].at("op").as_string() == "put");
  CHECK(patch[1].at("key").as_string() == "todos/a");
  // Every column of the row, as a JSON object.
  const auto& value = patch[1].at("value").as_object();
  CHECK(value.at("id").as_string() == "a");
  CHECK(value.at("title").as_string() == "milk");
  CHECK(value.at("done").as_int64() == 0);
  CHECK(value.at("owner").as_string() == "alice");
  CHECK(value.size() == 6);
  CHECK(pull.at("lastMutationIDChanges").as_object() == json::object{{"c1", 2}});
  const auto cookie = pull.at("cookie").as_int64();
  CHECK(cookie > 0);

  c.pushJson("g1", {mutation("c1", 3, "markDone", {{"id", "a"}, {"updatedAt", 5}}),
                    mutation("c1", 4, "deleteTodo", {{"id", "b"}})});
  // GET with query parameters, as the original's client does.
  const auto get = c.http.request("GET", "/sync/pull?clientGroupID=g1&cookie=" + std::to_string(cookie) +
                                             "&schemaVersion=" + kVersion,
                                  {}, "application/json", c.headers);
  REQUIRE(get.status == 200);
  const auto delta = json::parse(get.body).as_object();
  CHECK(delta.at("cookie").as_int64() > cookie);
  Replica replica;
  applyPatch(replica, pull);
  applyPatch(replica, delta);
  REQUIRE(replica.size() == 1);
  CHECK(replica.at("todos/a").at("done").as_int64() == 1);
  CHECK(delta.at("lastMutationIDChanges").as_object() == json::object{{"c1", 4}});
}

TEST_CASE("node: FlatBuffers push then pull carries rows as stored bytes", "[node][integration][fbs]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Client c(node.port());
  const std::string_view fbs = sync::kFlatBuffersContentType;

  sync::PushRequest push;
  push.client_group_id = "g";
  push.schema_version = kVersion;
  push.mutations.push_back(sync::Mutation{"c", 1, "createTodo", json::object{{"id", "x"}, {"title", "fb"}, {"updatedAt", 1}}, 0});
  const auto pr = c.post("/sync/push", sync::encodePushRequest(sync::Encoding::FlatBuffers, push), fbs);
  REQUIRE(pr.status == 200);
  CHECK(pr.content_type == fbs);
  const auto pushed = sync::decodePushResponse(sync::Encoding::FlatBuffers, pr.body);
  CHECK(pushed.last_mutation_ids.at("c") == 1);
  REQUIRE(pushed.results.size() == 1);
  CHECK(pushed.results[0].outcome == sync::MutationOutcome::Applied);

  sync::PullRequest pull;
  pull.client_group_id = "g";
  pull.schema_version = kVersion;
  const auto rr = c.post("/sync/pull", sync::encodePullRequest(sync::Encoding::FlatBuffers, pull), fbs);
  REQUIRE(rr.status == 200);
  const auto resp = sync::decodePullResponse(sync::Encoding::FlatBuffers, rr.body);
  REQUIRE(resp.patch.size() == 2);
  CHECK(resp.patch[0].op == sync::PatchOpKind::Clear);
  CHECK(resp.patch[1].op == sync::PatchOpKind::Put);
  CHECK(resp.patch[1].id == "x");
  // The row bytes are the stored FlatBuffers table: read them with the schema's layout.
  TempDir local;
  auto db = Database::open(local.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  db.write([&](Tx& tx) { (void)tx.insert(todo::todos).values({{todo::todos.id, "x"}, {todo::todos.title, "fb"}, {todo::todos.updatedAt, 1}, {todo::todos.owner, "alice"}}); });
  CHECK(db.get(todo::todos, "x")->bytes() == resp.patch[1].row_bytes);
  CHECK(resp.last_mutation_id_changes.at("c") == 1);
}

TEST_CASE("node: the same push twice applies once - a gap is rejected", "[node][integration]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Client c(node.port());
  const json::array ms{createTodo("c", 1, "a"), createTodo("c", 2, "b")};
  c.pushJson("g", ms);
  const auto head = json::parse(c.http.request("GET", "/healthz").body).at("head").as_int64();
  const auto again = c.pushJson("g", ms);
  CHECK(outcomeOf(again, "c", 1) == "skipped");
  CHECK(outcomeOf(again, "c", 2) == "skipped");
  CHECK(json::parse(c.http.request("GET", "/healthz").body).at("head").as_int64() == head);

  const auto gap = c.pushJson("g", {createTodo("c", 5, "x"), createTodo("other", 1, "y")});
  CHECK(outcomeOf(gap, "c", 5) == "rejected");
  CHECK(outcomeOf(gap, "other", 1) == "applied");
  const auto& rejected = resultOf(gap, "c", 5);
  CHECK(rejected.at("error").as_string() == "MutationIDGap");
  CHECK(gap.at("lastMutationIDs").at("c").as_int64() == 2);
  Replica r;
  applyPatch(r, c.pullJson("g", nullptr));
  CHECK(r.count("todos/x") == 0);
  CHECK(r.count("todos/y") == 1);
}

TEST_CASE("node: failing mutations are reported while later ones apply", "[node][integration][errors]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Client alice(node.port(), "alice");
  Client bob(node.port(), "bob");
  alice.pushJson("ga", {createTodo("a1", 1, "mine", "alice's")});
  const auto r = bob.pushJson(
      "gb", {mutation("b1", 1, "renameTodo", {{"id", "mine"}, {"title", "stolen"}, {"updatedAt", 2}}),  // auth.write
             mutation("b1", 2, "noSuchMutator", {}),
             mutation("b1", 3, "createTodo", {{"id", "z"}, {"title", 42}, {"updatedAt", 1}}),  // wrong arg type
             createTodo("b1", 4, "bobs", "bob's")});
  for (int id = 1; id <= 3; ++id) CHECK(outcomeOf(r, "b1", id) == "failed");
  CHECK(outcomeOf(r, "b1", 4) == "applied");
  CHECK(resultOf(r, "b1", 1).at("error").as_string() == "Unauthorized");
  CHECK(resultOf(r, "b1", 2).at("error").as_string() == "MutatorNotFound");
  CHECK(std::string(resultOf(r, "b1", 2).at("message").as_string()).find("noSuchMutator") != std::string::npos);
  CHECK(resultOf(r, "b1", 3).at("error").as_string() == "MutatorArgs");
  CHECK(std::string(resultOf(r, "b1", 3).at("message").as_string()).find("title") != std::string::npos);
  CHECK(r.at("lastMutationIDs").at("b1").as_int64() == 4);
  Replica state;
  applyPatch(state, alice.pullJson("ga", nullptr));
  CHECK(state.at("todos/mine").at("title").as_string() == "alice's");
}

TEST_CASE("node: 401, 409, VersionNotSupported, ClientStateNotFound, 413, 404, 405", "[node][integration][errors]") {
  TempDir dir;
  NodeProcess node(dir.path(), {"--auth-token", "s3cret", "--max-payload-bytes", "4096"});
  Client good(node.port(), "alice", "s3cret");
  Client none(node.port(), "alice");
  Client wrong(node.port(), "alice", "guess");

  const auto body = pushBody("g", {createTodo("c", 1, "a")});
  auto r = none.post("/sync/push", body);
  CHECK(r.status == 401);
  CHECK(errorOf(r) == "Unauthorized");
  CHECK(json::parse(r.body).at("message").as_string() == "missing Authorization header");
  r = wrong.post("/sync/pull", pullBody("g", nullptr));
  CHECK(r.status == 401);
  CHECK(json::parse(r.body).at("message").as_string() == "invalid Authorization token");
  CHECK(good.post("/sync/push", body).status == 200);

  // Schema version: JSON gets Replicache's 200 + VersionNotSupported; FlatBuffers gets 409 naming both.
  r = good.post("/sync/push", pushBody("g", {createTodo("c", 2, "b")}, "todos-v0"));
  CHECK(r.status == 200);
  CHECK(json::parse(r.body).as_object() .at("error").as_string() == "VersionNotSupported");
  CHECK(json::parse(r.body).at("versionType").as_string() == "schema");
  sync::PullRequest p;
  p.client_group_id = "g";
  p.schema_version = "todos-v0";
  r = good.post("/sync/pull", sync::encodePullRequest(sync::Encoding::FlatBuffers, p), sync::kFlatBuffersContentType);
  CHECK(r.status == 409);
  CHECK(r.body.find("todos-v0") != std::string::npos);
  CHECK(r.body.find(kVersion) != std::string::npos);
  // Protocol version.
  auto bad_version = json::parse(pullBody("g", nullptr)).as_object();
  bad_version["pullVersion"] = 0;
  r = good.post("/sync/pull", json::serialize(bad_version));
  CHECK(r.status == 200);
  CHECK(json::parse(r.body).at("versionType").as_string() == "pull");
  // A cookie from the future, and a client the server never saw starting at id 9.
  r = good.post("/sync/pull", pullBody("g", 999999));
  CHECK(r.status == 200);
  CHECK(errorOf(r) == "ClientStateNotFound");
  r = good.post("/sync/push", pushBody("g", {createTodo("stranger", 9, "q")}));
  CHECK(r.status == 200);
  CHECK(errorOf(r) == "ClientStateNotFound");
  // Over maxPayloadBytes.
  r = good.post("/sync/push", pushBody("g", {createTodo("c", 2, "big", std::string(8000, 'x'))}));
  CHECK(r.status == 413);
  CHECK(errorOf(r) == "PayloadTooLarge");
  // Unknown route and wrong method.
  Client again(node.port(), "alice", "s3cret");
  r = again.http.request("GET", "/nope", {}, "application/json", again.headers);
  CHECK(r.status == 404);
  r = again.http.request("GET", "/sync/push", {}, "application/json", again.headers);
  CHECK(r.status == 405);
  // Still serving.
  CHECK(again.http.request("GET", "/healthz").status == 200);
}

TEST_CASE("node: bad input gets a status and a JSON error naming the problem - the node keeps serving",
          "[node][integration][errors]") {
  TempDir dir;
  NodeProcess node(dir.path(), {"--request-timeout-ms", "400"});
  Client c(node.port());
  auto r = c.post("/sync/push", "{\"profileID\": \"p\", \"clientGroupID\": ");
  CHECK(r.status == 400);
  CHECK(errorOf(r) == "BadRequest");
  r = c.post("/sync/push", pushBody("g", {json::object{{"clientID", "c"}, {"id", "one"}, {"name", "createTodo"}, {"args", json::object{}}}}));
  CHECK(r.status == 400);
  CHECK(r.body.find("mutations[0].id") != std::string::npos);
  r = c.post("/sync/push", std::string("\x10\x00\x00\x00garbage-not-a-flatbuffer", 28), sync::kFlatBuffersContentType);
  CHECK(r.status == 400);
  CHECK(r.body.find("FlatBuffers") != std::string::npos);
  r = c.post("/sync/push", "{}", "text/plain");
  CHECK(r.status == 400);
  CHECK(r.body.find("text/plain") != std::string::npos);

  // Oversized headers.
  {
    net::HttpClient h("127.0.0.1", node.port());
    const auto big = h.request("GET", "/healthz", {}, "application/json", {{"X-Big", std::string(64 * 1024, 'h')}});
    CHECK(big.status == 431);
  }
  // A slow client that never finishes its request is cut off; others are served meanwhile.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(node.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string partial = "POST /sync/push HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prof";
    REQUIRE(::send(fd, partial.data(), partial.size(), 0) == static_cast<ssize_t>(partial.size()));
    CHECK(c.http.request("GET", "/healthz").status == 200);
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[1024];
    ssize_t n = 0;
    // EINTR: io_uring task work of this thread's HTTP client interrupts blocking calls.
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    }
    const int recv_errno = n < 0 ? errno : 0;
    INFO("recv ended with " << n << " errno " << recv_errno);
    ::close(fd);
    INFO("slow client got: " << got);
    CHECK(got.find("408") != std::string::npos);
  }
  CHECK(c.pushJson("g", {createTodo("c", 1, "ok")}).at("lastMutationIDs").at("c").as_int64() == 1);
}

TEST_CASE("node: pulls are filtered by auth.read and an unshared row becomes a del", "[node][integration][auth]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Client alice(node.port(), "alice");
  Client bob(node.port(), "bob");
  alice.pushJson("ga", {createTodo("a", 1, "private"), createTodo("a", 2, "shared")});
  Replica bobs;
  auto p1 = bob.pullJson("gb", nullptr);
  applyPatch(bobs, p1);
  CHECK(bobs.empty());
  alice.pushJson("ga", {mutation("a", 3, "shareTodo", {{"id", "shared"}, {"shared", true}})});
  auto p2 = bob.pullJson("gb", p1.at("cookie"));
  applyPatch(bobs, p2);
  CHECK(bobs.size() == 1);
  CHECK(bobs.count("todos/shared") == 1);
  alice.pushJson("ga", {mutation("a", 4, "shareTodo", {{"id", "shared"}, {"shared", false}})});
  auto p3 = bob.pullJson("gb", p2.at("cookie"));
  REQUIRE(p3.at("patch").as_array().size() == 1);
  CHECK(p3.at("patch").as_array()[0].at("op").as_string() == "del");
  CHECK(p3.at("patch").as_array()[0].at("key").as_string() == "todos/shared");
  applyPatch(bobs, p3);
  CHECK(bobs.empty());
}

TEST_CASE("node: large pulls are paginated into consistent pages", "[node][integration][pagination]") {
  TempDir dir;
  NodeProcess node(dir.path(), {"--max-pull-bytes", "1000"});
  Client c(node.port());
  constexpr int kTodos = 120;
  for (int b = 0; b < kTodos / 20; ++b) {
    json::array ms;
    for (int i = 1; i <= 20; ++i) {
      const int k = b * 20 + i;
      ms.push_back(createTodo("c", k, "t" + std::to_string(k), "todo " + std::to_string(k)));
    }
    c.pushJson("g", std::move(ms));
  }
  Replica state;
  json::value cookie = nullptr;
  std::int64_t confirmed = 0;
  int pages = 0;
  for (;;) {
    const auto page = c.pullJson("g", cookie);
    REQUIRE(++pages < 500);
    CHECK(page.size() <= 4);
    applyPatch(state, page);
    if (page.at("lastMutationIDChanges").as_object().contains("c")) {
      confirmed = page.at("lastMutationIDChanges").at("c").as_int64();
    }
    // Each page is a consistent state: exactly the effects of mutations 1..confirmed.
    CHECK(state.size() == static_cast<std::size_t>(confirmed));
    for (std::int64_t k = 1; k <= confirmed; ++k) CHECK(state.count("todos/t" + std::to_string(k)) == 1);
    cookie = page.at("cookie");
    if (!page.contains("more")) break;
    CHECK(page.at("more").as_bool());
  }
  CHECK(pages > 3);
  CHECK(confirmed == kTodos);
}

TEST_CASE("node: concurrent pushes are group-committed and each applied once", "[node][integration][group]") {
  TempDir dir;
  // Synced commits: the writer is busy long enough for pushes to queue.
  NodeProcess node(dir.path(), {"--durability", "full"});
  constexpr int kClients = 8, kPushes = 8, kPerPush = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      try {
        Client c(node.port());
        const std::string client = "c" + std::to_string(t);
        for (int p = 0; p < kPushes; ++p) {
          json::array ms;
          for (int i = 1; i <= kPerPush; ++i) {
            const int id = p * kPerPush + i;
            ms.push_back(createTodo(client, id, client + "-" + std::to_string(id)));
          }
          const auto r = c.post("/sync/push", pushBody("g" + std::to_string(t), std::move(ms)));
          if (r.status != 200) ++failures;
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  Client c(node.port());
  const auto health = json::parse(c.http.request("GET", "/healthz").body);
  const auto& s = health.at("sync").as_object();
  CHECK(s.at("pushes").as_int64() == kClients * kPushes);
  CHECK(s.at("mutationsApplied").as_int64() == kClients * kPushes * kPerPush);
  CHECK(s.at("largestGroup").as_int64() > 1);
  CHECK(s.at("commits").as_int64() < s.at("pushes").as_int64());
  for (int t = 0; t < kClients; ++t) {
    const auto pull = c.pullJson("g" + std::to_string(t), nullptr);
    CHECK(pull.at("lastMutationIDChanges").at("c" + std::to_string(t)).as_int64() == kPushes * kPerPush);
  }
}

namespace {

// Pushes from 4 clients until the node goes away by `sig`, then restarts it
// on the same directory and checks that every acknowledged mutation is there.
void pushStreamThenStop(const std::string& durability, int sig) {
  TempDir dir;
  std::mutex mu;
  std::map<std::string, std::int64_t> acknowledged;  // client -> highest acknowledged mutation id
  {
    NodeProcess node(dir.path(), {"--durability", durability});
    constexpr int kClients = 4;
    std::atomic<bool> go{true};
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&, t] {
        const std::string client = "c" + std::to_string(t);
        std::int64_t next = 1;
        try {
          Client c(node.port());
          for (int round = 0; round < 2000 && go; ++round) {
            json::array ms;
            for (int i = 0; i < 5; ++i, ++next) ms.push_back(createTodo(client, next, client + "-" + std::to_string(next)));
            const auto r = c.post("/sync/push", pushBody("g", std::move(ms)));
            if (r.status != 200) break;
            const auto v = json::parse(r.body);
            std::lock_guard lock(mu);
            acknowledged[client] = v.at("lastMutationIDs").at(client).as_int64();
          }
        } catch (...) {
          // The connection went away with the node: expected.
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (sig == SIGTERM) {
      CHECK(node.terminate() == 0);  // graceful: exit code 0
    } else {
      node.signal(sig);
      CHECK(node.waitExit(std::chrono::seconds(20)) == 128 + sig);
    }
    go = false;
    for (auto& th : threads) th.join();
  }
  REQUIRE_FALSE(acknowledged.empty());
  // Restart on the same directory (in the tests' default mode, nometasync:
  // a log left behind is replayed whatever the mode): every acknowledged
  // mutation is there.
  NodeProcess again(dir.path());
  Client c(again.port());
  Replica state;
  const auto pull = c.pullJson("g", nullptr);
  applyPatch(state, pull);
  for (const auto& [client, last] : acknowledged) {
    INFO(client << " acknowledged up to " << last);
    CHECK(pull.at("lastMutationIDChanges").at(client).as_int64() >= last);
    for (std::int64_t k = 1; k <= last; ++k) CHECK(state.count("todos/" + client + "-" + std::to_string(k)) == 1);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() / "plasma.wal"));
}

}  // namespace

TEST_CASE("node: SIGTERM during a push stream loses no acknowledged mutation", "[node][integration][shutdown]") {
  const std::string durability = GENERATE(as<std::string>{}, "wal", "full");
  INFO("--durability " << durability);
  pushStreamThenStop(durability, SIGTERM);
}

TEST_CASE("node: SIGKILL during a push stream loses no acknowledged mutation with the write-ahead log",
          "[node][integration][shutdown][wal]") {
  pushStreamThenStop("wal", SIGKILL);
}

TEST_CASE("node: flags are validated and --help lists them", "[node][integration][flags]") {
  TempDir dir;
  auto run = [&](const std::string& args) {
    const std::string cmd = std::string(PLASMA_NODE_BINARY) + " " + args + " 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int status = pclose(p);
    return std::make_pair(WEXITSTATUS(status), out);
  };
  auto [code, out] = run("--help");
  CHECK(code == 0);
  for (const char* flag : {"--listen", "--data", "--log-level", "--auth-token"}) CHECK(out.find(flag) != std::string::npos);
  std::tie(code, out) = run("--listen nonsense");
  CHECK(code == 2);
  CHECK(out.find("--listen") != std::string::npos);
  std::tie(code, out) = run("--log-level loud");
  CHECK(code == 2);
  CHECK(out.find("loud") != std::string::npos);
  std::tie(code, out) = run("--durability sometimes");
  CHECK(code == 2);
  CHECK(out.find("sometimes") != std::string::npos);
  CHECK(out.find("wal-async") != std::string::npos);  // the choices are listed
  CHECK(out.find("--durability") != std::string::npos);
  std::tie(code, out) = run("--frobnicate");
  CHECK(code == 2);
  CHECK(out.find("--frobnicate") != std::string::npos);
}

#endif  // PLASMA_NODE_BINARY

TEST_CASE("node: a node started by a test process dies with that process", "[node][integration]") {
  // NodeProcess sets PR_SET_PDEATHSIG: a test binary that crashes or is killed by ctest's
  // timeout must not leave nodes running on its data directories.
  TempDir dir;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t tester = ::fork();
  REQUIRE(tester >= 0);
  if (tester == 0) {  // a stand-in for a test process: starts a node, reports its pid, dies
    ::close(fds[0]);
    pid_t node_pid = -1;
    try {
      auto* node = new NodeProcess(dir.path());  // never destroyed: this process just dies
      node_pid = node->pid();
    } catch (...) {
    }
    (void)!::write(fds[1], &node_pid, sizeof node_pid);
    ::_exit(0);
  }
  ::close(fds[1]);
  pid_t node_pid = -1;
  REQUIRE(::read(fds[0], &node_pid, sizeof node_pid) == static_cast<ssize_t>(sizeof node_pid));
  ::close(fds[0]);
  ::waitpid(tester, nullptr, 0);
  REQUIRE(node_pid > 0);
  // The node is not our child, so it cannot be reaped here: wait for /proc to lose it (a
  // zombie re-parented to init is reaped at once; its state is 'Z' until then).
  auto alive = [&] {
    std::ifstream stat("/proc/" + std::to_string(node_pid) + "/stat");
    std::string pid, comm, state;
    if (!(stat >> pid >> comm >> state)) return false;
    return state != "Z" && state != "X";
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (alive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const bool survived = alive();
  if (survived) ::kill(node_pid, SIGKILL);  // do not leak it when the check fails
  CHECK_FALSE(survived);
}
