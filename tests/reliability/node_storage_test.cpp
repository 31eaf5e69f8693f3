// Storage faults under the real node (plasma-node, todo app): a full map, a
// full disk (a file-size limit the node inherits) and a read-only data
// directory. The node must answer with a clear error or refuse to start,
// never crash, never acknowledge what it did not commit, and keep serving
// every acknowledged row — also after a restart.
#ifdef PLASMA_NODE_BINARY
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "net/http_client.hpp"
#include "node/node_process.hpp"
#include "reliability/reliability_util.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::NodeProcess;
using plasma_test::TempDir;
namespace json = boost::json;

namespace {

std::string pushBody(const std::string& group, const std::string& client, std::int64_t first, int count,
                     std::size_t title_bytes) {
  json::array ms;
  for (int i = 0; i < count; ++i) {
    const std::int64_t id = first + i;
    ms.push_back(json::object{{"clientID", client},
                              {"id", id},
                              {"name", "createTodo"},
                              {"timestamp", 1},
                              {"args", json::object{{"id", "t" + std::to_string(id)},
                                                    {"title", std::string(title_bytes, static_cast<char>('a' + id % 26))},
                                                    {"updatedAt", id}}}});
  }
  return json::serialize(json::object{{"profileID", "p"},
                                      {"clientGroupID", group},
                                      {"mutations", std::move(ms)},
                                      {"pushVersion", 1},
                                      {"schemaVersion", todo::kSchemaVersion}});
}

struct Http {
  net::HttpClient http;
  explicit Http(std::uint16_t port) : http("127.0.0.1", port, std::chrono::seconds(30)) {}
  net::HttpResponse push(const std::string& body) {
    return http.request("POST", "/sync/push", body, "application/json", {{"X-User", "alice"}});
  }
  // The todos alice sees and her client's lastMutationID, from a full pull.
  std::pair<std::map<std::string, std::string>, std::int64_t> state(const std::string& group, const std::string& client) {
    const auto r = http.request("POST", "/sync/pull",
                                json::serialize(json::object{{"profileID", "p"},
                                                             {"clientGroupID", group},
                                                             {"cookie", nullptr},
                                                             {"pullVersion", 1},
                                                             {"schemaVersion", todo::kSchemaVersion}}),
                                "application/json", {{"X-User", "alice"}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    const auto v = json::parse(r.body).as_object();
    std::map<std::string, std::string> todos;
    for (const auto& op : v.at("patch").as_array()) {
      if (op.at("op").as_string() != "put") continue;
      todos[std::string(op.at("key").as_string())] = std::string(op.at("value").at("title").as_string());
    }
    std::int64_t lmid = 0;
    if (const auto* c = v.at("lastMutationIDChanges").as_object().if_contains(client)) lmid = c->as_int64();
    return {todos, lmid};
  }
};

// Pushes batches of `per_push` big todos from mutation id 1 on until a push
// is refused; returns the last acknowledged id and the refused response.
std::pair<std::int64_t, net::HttpResponse> pushUntilRefused(Http& c, int per_push, std::size_t title_bytes) {
  std::int64_t acked = 0;
  for (int round = 0; round < 400; ++round) {
    auto r = c.push(pushBody("g1", "c1", acked + 1, per_push, title_bytes));
    if (r.status != 200) return {acked, r};
    const auto v = json::parse(r.body).as_object();
    REQUIRE(v.at("lastMutationIDs").at("c1").as_int64() == acked + per_push);
    acked += per_push;
  }
  FAIL("no push was refused");
  return {};
}

void checkAcked(const std::map<std::string, std::string>& todos, std::int64_t acked, std::size_t title_bytes) {
  CHECK(todos.size() == static_cast<std::size_t>(acked));
  for (std::int64_t id = 1; id <= acked; ++id) {
    const auto it = todos.find("todos/t" + std::to_string(id));
    REQUIRE(it != todos.end());
    CHECK(it->second == std::string(title_bytes, static_cast<char>('a' + id % 26)));
  }
}

std::vector<std::string> nodeArgs(const std::filesystem::path& data, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{PLASMA_NODE_BINARY, "--listen", "127.0.0.1:0", "--data", data.string(), "--log-level",
                             "warn", "--durability", "nometasync"};
  for (auto& e : extra) a.push_back(std::move(e));
  return a;
}

}  // namespace

TEST_CASE("node: a full map refuses the push with a clear error, keeps serving, and a larger map continues",
          "[reliability][storage][mapfull][node]") {
  TempDir dir;
  const std::size_t title = 3000;
  std::int64_t acked = 0;
  {
    NodeProcess node(dir.path(), {"--map-size-mb", "1"});
    Http c(node.port());
    auto [last, refused] = pushUntilRefused(c, 5, title);
    acked = last;
    INFO("refused with " << refused.status << ": " << refused.body);
    CHECK(acked > 0);
    CHECK(refused.status == 500);
    CHECK_THAT(refused.body, Catch::Contains("map is full at 1 MiB"));
    CHECK_THAT(refused.body, Catch::Contains("--map-size-mb"));
    // Nothing of the refused push was applied; every acknowledged row is served.
    auto [todos, lmid] = c.state("g1", "c1");
    CHECK(lmid == acked);
    checkAcked(todos, acked, title);
    // Not poisoned: the same push is refused the same way (not as a poisoned database).
    auto again = c.push(pushBody("g1", "c1", acked + 1, 5, title));
    CHECK(again.status == 500);
    CHECK_THAT(again.body, Catch::Contains("map is full"));
    CHECK(node.terminate() == 0);
  }
  NodeProcess node(dir.path(), {"--map-size-mb", "16"});
  Http c(node.port());
  auto r = c.push(pushBody("g1", "c1", acked + 1, 5, title));
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body).at("lastMutationIDs").at("c1").as_int64() == acked + 5);
  CHECK(json::parse(r.body).at("results").as_array().empty());  // applied now, not skipped
  auto [todos, lmid] = c.state("g1", "c1");
  CHECK(lmid == acked + 5);
  checkAcked(todos, acked + 5, title);
}

TEST_CASE("node: a full disk refuses pushes clearly, acknowledges nothing it did not commit, and a restart "
          "serves every acknowledged row", "[reliability][storage][diskfull][node]") {
  TempDir dir;
  const auto data = dir / "data";
  const std::size_t title = 3000;
  {
    NodeProcess node(data);  // creates the store and its schema
    CHECK(node.terminate() == 0);
  }
  const auto size = std::filesystem::file_size(data / "data.mdb");
  std::int64_t acked = 0;
  {
    plasma_rel::Spawned node(nodeArgs(data), {.max_file_bytes = size + 64 * 1024}, dir.path());
    const auto port = node.listeningPort(std::chrono::seconds(20));
    INFO("stderr: " << node.err());
    REQUIRE(port.has_value());
    Http c(*port);
    auto [last, refused] = pushUntilRefused(c, 5, title);
    acked = last;
    INFO("refused with " << refused.status << ": " << refused.body);
    CHECK(refused.status == 500);
    CHECK_THAT(refused.body, Catch::Contains("push could not be committed"));
    CHECK_THAT(refused.body, Catch::Contains("the disk may be full"));
    CHECK_THAT(refused.body, Catch::Contains(data.string()));
    // Later pushes are refused loudly (the store is poisoned until a restart) ...
    auto next = c.push(pushBody("g1", "c1", acked + 1, 1, 10));
    CHECK(next.status == 500);
    CHECK_THAT(next.body, Catch::Contains("fatal storage error"));
    // ... while every acknowledged row is still served.
    auto [todos, lmid] = c.state("g1", "c1");
    CHECK(lmid == acked);
    checkAcked(todos, acked, title);
    node.signal(SIGTERM);
    const auto code = node.waitExit(std::chrono::seconds(20));
    REQUIRE(code.has_value());
    CHECK(*code < 128);  // exited, not killed by a signal
  }
  NodeProcess node(data);
  Http c(node.port());
  auto [todos, lmid] = c.state("g1", "c1");
  CHECK(lmid == acked);
  checkAcked(todos, acked, title);
  auto r = c.push(pushBody("g1", "c1", acked + 1, 5, title));
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body).at("results").as_array().empty());
  CHECK(c.state("g1", "c1").second == acked + 5);
}

TEST_CASE("node: a read-only data directory stops the node at start with a clear error and the data stays readable",
          "[reliability][storage][readonly][node]") {
  TempDir dir;
  const auto data = dir / "data";
  {
    NodeProcess node(data);
    Http c(node.port());
    REQUIRE(c.push(pushBody("g1", "c1", 1, 3, 100)).status == 200);
    CHECK(node.terminate() == 0);
  }
  plasma_rel::letNobodyIn(data);
  const auto before = std::filesystem::file_size(data / "data.mdb");
  {
    plasma_rel::Spawned node(nodeArgs(data), {.as_nobody = true}, dir.path());
    const auto code = node.waitExit(std::chrono::seconds(20));
    INFO("stdout: " << node.out() << "\nstderr: " << node.err());
    REQUIRE(code.has_value());
    CHECK(*code == 1);
    CHECK_THAT(node.err(), Catch::Contains(data.string()));
    CHECK_THAT(node.err(), Catch::Contains(std::strerror(EACCES)));
    CHECK(node.out().find("listening on") == std::string::npos);
  }
  CHECK(std::filesystem::file_size(data / "data.mdb") == before);
  NodeProcess node(data);
  Http c(node.port());
  auto [todos, lmid] = c.state("g1", "c1");
  CHECK(lmid == 3);
  checkAcked(todos, 3, 100);
}
#endif
