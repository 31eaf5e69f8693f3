// Realtime and operations against the real plasma-node process on loopback:
// WebSocket pokes and presence, the external poke endpoint, bad socket
// input, /metrics and scheduled compaction. (serverLiveSelect and the other
// server-side operations run against an in-process Node in
// server_ops_test.cpp.)
#ifdef PLASMA_NODE_BINARY
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
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
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kVersion = todo::kSchemaVersion;

std::string wsTarget(const std::string& group, const std::string& client, const std::string& user,
                     const std::string& extra = {}) {
  return "/sync/ws?clientGroupID=" + group + "&clientID=" + client + "&user=" + user + extra;
}

struct Http {
  net::HttpClient http;
  explicit Http(std::uint16_t port) : http("127.0.0.1", port, 10s) {}
  net::HttpResponse post(std::string_view target, const std::string& body, std::vector<net::Header> headers = {}) {
    return http.request("POST", target, body, "application/json", headers);
  }
  net::HttpResponse get(std::string_view target) { return http.request("GET", target); }

  // One mutation pushed as `user` for (group, client); returns the response body.
  json::object push(const std::string& user, const std::string& group, const std::string& client, std::int64_t id,
                    const std::string& name, json::object args) {
    const std::string body = json::serialize(json::object{
        {"profileID", "p"},
        {"clientGroupID", group},
        {"pushVersion", 1},
        {"schemaVersion", kVersion},
        {"mutations", json::array{json::object{
                          {"clientID", client}, {"id", id}, {"name", name}, {"args", std::move(args)}, {"timestamp", 1}}}}});
    const auto r = post("/sync/push", body, {{"X-User", user}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body).as_object();
  }
  json::object pull(const std::string& user, const std::string& group, json::value cookie) {
    const std::string body = json::serialize(json::object{{"profileID", "p"},
                                                          {"clientGroupID", group},
                                                          {"cookie", std::move(cookie)},
                                                          {"pullVersion", 1},
                                                          {"schemaVersion", kVersion}});
    const auto r = post("/sync/pull", body, {{"X-User", user}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body).as_object();
  }
};

// The next message of `type` ("poke"/"presence") within `timeout`, skipping others.
std::optional<json::object> nextOfType(net::WsClient& ws, std::string_view type, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = ws.readText(left);
    if (!m) return std::nullopt;
    auto v = json::parse(*m).as_object();
    if (v.at("type").as_string() == type) return v;
  }
}

// The presence lists a socket receives until one satisfies `pred`.
std::optional<json::array> presenceUntil(net::WsClient& ws, const std::function<bool(const json::array&)>& pred,
                                         std::chrono::milliseconds timeout = 3s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto m = nextOfType(ws, "presence", std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (!m) return std::nullopt;
    const auto& clients = m->at("clients").as_array();
    if (pred(clients)) return clients;
  }
  return std::nullopt;
}

std::vector<std::string> clientIds(const json::array& clients) {
  std::vector<std::string> out;
  for (const auto& c : clients) out.emplace_back(c.at("clientID").as_string());
  return out;
}

// Drains what a socket has queued (e.g. the presence list sent on join).
void drain(net::WsClient& ws, std::chrono::milliseconds quiet = 50ms) {
  while (ws.readText(quiet)) {
  }
}

// Reads until the server closes; returns (code, reason).
std::pair<std::uint16_t, std::string> waitClosed(net::WsClient& ws, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = Clock::now() + timeout;
  while (ws.isOpen() && Clock::now() < deadline) (void)ws.readText(50ms);
  const auto r = ws.closeReason();
  REQUIRE(r.has_value());
  return *r;
}

// /metrics as name{labels} -> value, checking every line against the text format.
std::map<std::string, double> scrape(Http& h) {
  const auto r = h.get("/metrics");
  REQUIRE(r.status == 200);
  REQUIRE(r.content_type.starts_with("text/plain"));
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$)");
  static const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::map<std::string, double> out;
  std::istringstream in(r.body);
  std::string line;
  std::map<std::string, std::string> types;
  while (std::getline(in, line)) {
    INFO(line);
    if (line.starts_with("#")) {
      REQUIRE(std::regex_match(line, comment));
      if (line.starts_with("# TYPE ")) {
        std::istringstream l(line.substr(7));
        std::string name, type;
        l >> name >> type;
        CHECK((type == "counter" || type == "gauge" || type == "histogram"));
        CHECK(types.emplace(name, type).second);  // each family declared once
      }
      continue;
    }
    std::smatch m;
    REQUIRE(std::regex_match(line, m, sample));
    const std::string key = line.substr(0, line.rfind(' '));
    CHECK(out.emplace(key, std::stod(line.substr(line.rfind(' ') + 1))).second);
  }
  return out;
}

// A WebSocket spoken by hand, for what WsClient cannot send (binary frames).
class RawWs {
 public:
  RawWs(std::uint16_t port, const std::string& target) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    send("GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    while (buf_.find("\r\n\r\n") == std::string::npos) REQUIRE(fill());
    REQUIRE(buf_.starts_with("HTTP/1.1 101"));
    buf_.erase(0, buf_.find("\r\n\r\n") + 4);
  }
  ~RawWs() { ::close(fd_); }

  void frame(std::uint8_t opcode, std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    REQUIRE(payload.size() < 126);
    f.push_back(static_cast<char>(0x80 | payload.size()));
    const char mask[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    send(f);
  }

  // Skips data frames until the close frame; returns its code and reason.
  std::optional<std::pair<std::uint16_t, std::string>> closeFrame() {
    for (;;) {
      while (buf_.size() < 2) {
        if (!fill()) return std::nullopt;
      }
      const auto op = static_cast<std::uint8_t>(buf_[0]) & 0x0f;
      std::size_t len = static_cast<std::uint8_t>(buf_[1]) & 0x7f, head = 2;
      if (len == 126) {
        while (buf_.size() < 4) {
          if (!fill()) return std::nullopt;
        }
        len = (static_cast<std::uint8_t>(buf_[2]) << 8) | static_cast<std::uint8_t>(buf_[3]);
        head = 4;
      }
      while (buf_.size() < head + len) {
        if (!fill()) return std::nullopt;
      }
      const std::string payload = buf_.substr(head, len);
      buf_.erase(0, head + len);
      if (op == 8) {
        if (payload.size() < 2) return std::make_pair(std::uint16_t{1005}, std::string());
        return std::make_pair(static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                         static_cast<std::uint8_t>(payload[1])),
                              payload.substr(2));
      }
    }
  }

 private:
  void send(std::string_view s) { REQUIRE(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }
  bool fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) return false;
    char tmp[4096];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

}  // namespace

TEST_CASE("realtime: a push pokes the rooms whose clients may see it, within milliseconds", "[node][realtime]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Http h(node.port());

  // Alice has two tabs in client group "ga" (one room) and a second device
  // (group "ga2", its own room); Bob is in "gb".
  net::WsClient tab2("127.0.0.1", node.port(), wsTarget("ga", "c2", "alice"));
  net::WsClient device("127.0.0.1", node.port(), wsTarget("ga2", "d1", "alice"));
  net::WsClient bob("127.0.0.1", node.port(), wsTarget("gb", "b1", "bob"));
  for (auto* ws : {&tab2, &device, &bob}) drain(*ws);

  // Tab 1 of "ga" pushes a private todo.
  h.push("alice", "ga", "c1", 1, "createTodo", {{"id", "t1"}, {"title", "secret"}, {"updatedAt", 1}});
  const auto answered = Clock::now();
  auto poke = nextOfType(tab2, "poke", 2s);
  REQUIRE(poke);
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - answered);
  WARN("poke after the push answer: " << latency.count() << " us");
  CHECK(latency < 250ms);  // typically well under 1 ms; the bound allows for a loaded machine
  CHECK(poke->at("room").as_string() == "ga");
  const auto v1 = poke->at("version").as_int64();
  CHECK(v1 > 0);
  // Alice's other device may read the row: poked too.
  auto other = nextOfType(device, "poke", 2s);
  REQUIRE(other);
  CHECK(other->at("room").as_string() == "ga2");
  // Bob may not read a private todo of Alice's: his room hears nothing.
  CHECK_FALSE(nextOfType(bob, "poke", 300ms));

  // Sharing it makes it visible to Bob: now his room is poked, and a pull
  // from his last state brings the row.
  h.push("alice", "ga", "c1", 2, "shareTodo", {{"id", "t1"}, {"shared", true}});
  auto bobs = nextOfType(bob, "poke", 2s);
  REQUIRE(bobs);
  CHECK(bobs->at("room").as_string() == "gb");
  CHECK(bobs->at("version").as_int64() > v1);
  const auto pulled = h.pull("bob", "gb", json::value(nullptr));
  CHECK(json::serialize(pulled.at("patch")).find("todos/t1") != std::string::npos);

  // Unsharing: the row stops being readable by Bob (its before-image was):
  // Bob is poked so his pull can delete it.
  drain(tab2);
  drain(device);
  h.push("alice", "ga", "c1", 3, "shareTodo", {{"id", "t1"}, {"shared", false}});
  CHECK(nextOfType(bob, "poke", 2s));

  // A push by Bob of his own private todo: Alice's rooms hear nothing.
  drain(tab2);
  drain(device);
  h.push("bob", "gb", "b1", 1, "createTodo", {{"id", "t2"}, {"title", "bob's"}, {"updatedAt", 1}});
  CHECK(nextOfType(bob, "poke", 2s));  // his own room (the pushing group's)
  CHECK_FALSE(nextOfType(tab2, "poke", 300ms));
  CHECK_FALSE(nextOfType(device, "poke", 50ms));
}

TEST_CASE("realtime: ?room= overrides the room - presence lists on join, update and leave",
          "[node][realtime][presence]") {
  TempDir dir;
  NodeProcess node(dir.path(), {"--poke-token", "sesame"});
  Http h(node.port());

  // Two client groups in one room "doc-1"; a third socket of group g1 stays in room g1.
  net::WsClient a("127.0.0.1", node.port(), wsTarget("g1", "ca", "alice", "&room=doc-1"));
  auto list = presenceUntil(a, [](const json::array& c) { return c.size() == 1; });
  REQUIRE(list);
  CHECK(clientIds(*list) == std::vector<std::string>{"ca"});
  CHECK(list->at(0).at("userInfo").is_null());

  net::WsClient b("127.0.0.1", node.port(), wsTarget("g2", "cb", "bob", "&room=doc-1"));
  net::WsClient elsewhere("127.0.0.1", node.port(), wsTarget("g1", "cz", "alice"));
  // Join: both members of doc-1 get the full list, in join order.
  list = presenceUntil(a, [](const json::array& c) { return c.size() == 2; });
  REQUIRE(list);
  CHECK(clientIds(*list) == std::vector<std::string>{"ca", "cb"});
  REQUIRE(presenceUntil(b, [](const json::array& c) { return c.size() == 2; }));
  // The socket in room g1 is alone there.
  auto own = presenceUntil(elsewhere, [](const json::array& c) { return c.size() == 1; });
  REQUIRE(own);
  CHECK(clientIds(*own) == std::vector<std::string>{"cz"});

  // Update.
  a.sendText(R"({"type":"presence","userInfo":{"name":"Ann","cursor":[1,2]}})");
  list = presenceUntil(b, [](const json::array& c) { return c.size() == 2 && c[0].at("userInfo").is_object(); });
  REQUIRE(list);
  CHECK(list->at(0).at("userInfo").at("name").as_string() == "Ann");
  CHECK(list->at(1).at("userInfo").is_null());
  REQUIRE(presenceUntil(a, [](const json::array& c) { return c[0].at("userInfo").is_object(); }));

  // The room override also routes pokes: poke "doc-1" from outside.
  const auto poked = h.post("/sync/poke", R"({"room":"doc-1"})", {{"Authorization", "sesame"}});
  REQUIRE(poked.status == 200);
  CHECK(json::parse(poked.body).at("sockets").as_int64() == 2);
  auto p = nextOfType(a, "poke", 2s);
  REQUIRE(p);
  CHECK(p->at("room").as_string() == "doc-1");
  CHECK(nextOfType(b, "poke", 2s));
  CHECK_FALSE(nextOfType(elsewhere, "poke", 200ms));

  // Leave (a clean close).
  b.close();
  list = presenceUntil(a, [](const json::array& c) { return c.size() == 1; });
  REQUIRE(list);
  CHECK(clientIds(*list) == std::vector<std::string>{"ca"});

}

TEST_CASE("realtime: a socket that dies without closing leaves the presence list after the ping timeout",
          "[node][realtime][presence]") {
  TempDir dir;
  // Short ping interval: a socket that stops answering is dropped after ~2
  // intervals. (Only `a` and the ghost are open: every other socket would
  // have to keep reading to stay alive.)
  NodeProcess node(dir.path(), {"--ws-ping-interval-ms", "100"});
  net::WsClient a("127.0.0.1", node.port(), wsTarget("g1", "ca", "alice", "&room=doc-1"));
  auto list = presenceUntil(a, [](const json::array& c) { return c.size() == 1; });
  REQUIRE(list);
  // The ghost joins, then never reads again (so never answers a ping). The
  // node drops it after the ping timeout and the room gets the list without it.
  {
    net::WsClient ghost("127.0.0.1", node.port(), wsTarget("g3", "cghost", "carol", "&room=doc-1"));
    list = presenceUntil(a, [](const json::array& c) { return c.size() == 2; });
    REQUIRE(list);
    CHECK(clientIds(*list) == std::vector<std::string>{"ca", "cghost"});
    const auto silent = Clock::now();
    // `a` keeps reading (and so answering pings) while the ghost is silent.
    list = presenceUntil(a, [](const json::array& c) { return c.size() == 1; }, 3s);
    REQUIRE(list);
    CHECK(clientIds(*list) == std::vector<std::string>{"ca"});
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - silent);
    CHECK(took >= 100ms);  // not before a ping went unanswered
    CHECK(took < 2s);
  }
  CHECK(a.isOpen());
}

TEST_CASE("realtime: the poke endpoint needs the poke token - without one configured it is absent",
          "[node][realtime][poke]") {
  TempDir dir;
  {
    NodeProcess node(dir.path(), {"--poke-token", "sesame"});
    Http h(node.port());
    net::WsClient ws("127.0.0.1", node.port(), wsTarget("room-1", "c1", "alice"));
    drain(ws);
    CHECK(h.post("/sync/poke", R"({"room":"room-1"})").status == 401);
    const auto wrong = h.post("/sync/poke", R"({"room":"room-1"})", {{"Authorization", "sesamE"}});
    CHECK(wrong.status == 401);
    CHECK(json::parse(wrong.body).at("error").as_string() == "Unauthorized");
    CHECK_FALSE(nextOfType(ws, "poke", 200ms));  // refused pokes poke nobody
    CHECK(h.post("/sync/poke", R"({"room":""})", {{"Authorization", "sesame"}}).status == 400);
    CHECK(h.post("/sync/poke", R"(["room-1"])", {{"Authorization", "sesame"}}).status == 400);
    CHECK(h.post("/sync/poke", "not json", {{"Authorization", "sesame"}}).status == 400);
    CHECK(h.http.request("GET", "/sync/poke", "", "application/json", {{"Authorization", "sesame"}}).status == 405);
    const auto ok = h.post("/sync/poke", R"({"room":"room-1"})", {{"Authorization", "sesame"}});
    REQUIRE(ok.status == 200);
    const auto p = nextOfType(ws, "poke", 2s);
    REQUIRE(p);
    CHECK(p->at("room").as_string() == "room-1");
    // An empty room is fine (nobody to poke).
    const auto none = h.post("/sync/poke", R"({"room":"nobody-here"})", {{"Authorization", "sesame"}});
    CHECK(none.status == 200);
    CHECK(json::parse(none.body).at("sockets").as_int64() == 0);
  }
  NodeProcess plain(dir.path());
  Http h(plain.port());
  CHECK(h.post("/sync/poke", R"({"room":"r"})", {{"Authorization", "anything"}}).status == 404);
}

TEST_CASE("realtime: bad socket input closes that socket with a reason - the node keeps serving",
          "[node][realtime][errors]") {
  TempDir dir;
  NodeProcess node(dir.path(), {"--auth-token", "tok", "--poke-token", "sesame", "--ws-max-messages-per-s", "10",
                                "--ws-max-message-bytes", "4096", "--max-presence-bytes", "256"});
  Http h(node.port());
  const std::string auth = "&token=tok";
  // A well-behaved socket that must keep working throughout.
  net::WsClient good("127.0.0.1", node.port(), wsTarget("good", "g1", "alice", auth));
  drain(good);
  auto stillServing = [&] {
    const auto r = h.post("/sync/poke", R"({"room":"good"})", {{"Authorization", "sesame"}});
    REQUIRE(r.status == 200);
    REQUIRE(nextOfType(good, "poke", 2s));
    CHECK(h.get("/healthz").status == 200);
  };
  auto opened = [&](const std::string& client) {
    auto ws = std::make_unique<net::WsClient>("127.0.0.1", node.port(), wsTarget("bad", client, "mallory", auth));
    drain(*ws);
    return ws;
  };

  SECTION("no credentials: refused on the upgrade with 4401 and the reason") {
    net::WsClient ws("127.0.0.1", node.port(), wsTarget("bad", "x", "mallory"));
    const auto [code, reason] = waitClosed(ws);
    CHECK(code == 4401);
    CHECK(reason.find("missing Authorization") != std::string::npos);
    net::WsClient wrong("127.0.0.1", node.port(), wsTarget("bad", "x", "mallory", "&token=nope"));
    CHECK(waitClosed(wrong).first == 4401);
  }
  SECTION("missing clientID: 4400") {
    net::WsClient ws("127.0.0.1", node.port(), "/sync/ws?clientGroupID=bad&token=tok");
    const auto [code, reason] = waitClosed(ws);
    CHECK(code == 4400);
    CHECK(reason.find("clientID is required") != std::string::npos);
  }
  SECTION("garbage text") {
    auto ws = opened("c1");
    ws->sendText("\x01garbage{{{");
    const auto [code, reason] = waitClosed(*ws);
    CHECK(code == 1007);
    CHECK(reason.find("invalid JSON") != std::string::npos);
  }
  SECTION("a binary frame") {
    RawWs raw(node.port(), wsTarget("bad", "c2", "mallory", auth));
    raw.frame(0x2, std::string("\x00\x01\x02\xff", 4));
    const auto close = raw.closeFrame();
    REQUIRE(close);
    CHECK(close->first == 1003);
    CHECK(close->second.find("binary") != std::string::npos);
  }
  bool counted = true;  // closed by the node (not by the network layer's frame limit)
  SECTION("an oversized frame") {
    counted = false;
    auto ws = opened("c3");
    try {
      ws->sendText(std::string(8000, 'x'));
    } catch (const std::exception&) {
      // The server may close before the whole frame is written.
    }
    const auto [code, reason] = waitClosed(*ws);
    CHECK(code == 1009);
    CHECK(reason.find("4096") != std::string::npos);
  }
  SECTION("invalid presence messages") {
    auto ws = opened("c4");
    ws->sendText(R"({"type":"presence","userInfo":5})");
    auto [code, reason] = waitClosed(*ws);
    CHECK(code == 1007);
    CHECK(reason.find("userInfo must be a JSON object") != std::string::npos);

    ws = opened("c5");
    ws->sendText(R"({"type":"presence","userInfo":{"blob":")" + std::string(300, 'y') + R"("}})");
    std::tie(code, reason) = waitClosed(*ws);
    CHECK(code == 1009);
    CHECK(reason.find("exceeds the limit of 256") != std::string::npos);

    ws = opened("c6");
    ws->sendText(R"({"type":"subscribe"})");
    std::tie(code, reason) = waitClosed(*ws);
    CHECK(code == 1008);
    CHECK(reason.find("unknown message type") != std::string::npos);

    ws = opened("c7");
    ws->sendText(R"([1,2,3])");
    std::tie(code, reason) = waitClosed(*ws);
    CHECK(code == 1007);

    // Deeper than a presence list can carry to the room's peers (the message itself parses).
    ws = opened("c7-deep");
    const std::size_t arrays = sync::kMaxValueDepth;  // inside the userInfo object: one level more
    ws->sendText(R"({"type":"presence","userInfo":{"a":)" + std::string(arrays, '[') + std::string(arrays, ']') + "}}");
    std::tie(code, reason) = waitClosed(*ws);
    CHECK(code == 1007);
    CHECK(reason.find("nests arrays and objects " + std::to_string(arrays + 1) + " deep") != std::string::npos);

    ws = opened("c7-inf");
    ws->sendText(R"({"type":"presence","userInfo":{"n":1e999}})");
    std::tie(code, reason) = waitClosed(*ws);
    CHECK(code == 1007);
    CHECK(reason.find("out of the range of a double") != std::string::npos);
  }
  SECTION("a flood of messages") {
    auto ws = opened("c8");
    try {
      for (int i = 0; i < 50; ++i) ws->sendText(R"({"type":"presence","userInfo":{"i":)" + std::to_string(i) + "}}");
    } catch (const std::exception&) {
      // Closed mid-flood.
    }
    const auto [code, reason] = waitClosed(*ws);
    CHECK(code == 1008);
    CHECK(reason.find("more than 10 messages per second") != std::string::npos);
  }
  stillServing();
  // The node counted what it closed.
  if (counted) CHECK(h.get("/metrics").body.find("plasma_ws_closed_total{reason=") != std::string::npos);
}

TEST_CASE("metrics: /metrics is Prometheus text and its counters move with traffic", "[node][metrics]") {
  TempDir dir;
  NodeProcess node(dir.path());
  Http h(node.port());
  net::WsClient ws("127.0.0.1", node.port(), wsTarget("ga", "c2", "alice"));
  drain(ws);

  const auto before = scrape(h);
  CHECK(before.at("plasma_websockets_open") == 1);
  CHECK(before.at("plasma_changelog_head") == 0);
  const std::string pushOk = R"(plasma_http_requests_total{route="push",status="200"})";
  CHECK(before.count(pushOk) == 0);

  for (int i = 1; i <= 3; ++i) {
    h.push("alice", "ga", "c1", i, "createTodo", {{"id", "t" + std::to_string(i)}, {"title", "x"}, {"updatedAt", i}});
  }
  h.push("alice", "ga", "c1", 4, "markDone", {{"id", "missing"}, {"updatedAt", 1}});  // applies, changes nothing
  h.push("alice", "ga", "c1", 5, "createTodo", {{"id", "t1"}, {"title", "dup"}, {"updatedAt", 1}});  // fails: PK
  h.pull("alice", "ga", json::value(nullptr));
  CHECK(h.post("/sync/pull", "{").status == 400);
  CHECK(h.get("/nope").status == 404);
  REQUIRE(nextOfType(ws, "poke", 2s));

  const auto after = scrape(h);
  CHECK(after.at(pushOk) == 5);
  CHECK(after.at(R"(plasma_http_requests_total{route="pull",status="200"})") == 1);
  CHECK(after.at(R"(plasma_http_requests_total{route="pull",status="400"})") == 1);
  CHECK(after.at(R"(plasma_http_requests_total{route="other",status="404"})") == 1);
  CHECK(after.at("plasma_mutations_applied_total") == 4);
  CHECK(after.at("plasma_mutations_failed_total") == 1);
  CHECK(after.at("plasma_push_duration_seconds_count") == 5);
  CHECK(after.at(R"(plasma_push_duration_seconds_bucket{le="+Inf"})") == 5);
  CHECK(after.at("plasma_push_duration_seconds_sum") > 0);
  CHECK(after.at("plasma_pull_duration_seconds_count") == 2);
  CHECK(after.at("plasma_changelog_head") >= 8);  // 3 rows + 5 confirmations
  CHECK(after.at("plasma_changelog_entries") >= 8);
  CHECK(after.at("plasma_pokes_sent_total") >= 1);
  CHECK(after.at("plasma_commits_total") == 5);
  // Each push committed alone here; the histogram sees the acknowledged ones.
  CHECK(after.at("plasma_group_commit_pushes_count") >= 4);
  CHECK(after.at(R"(plasma_group_commit_pushes_bucket{le="1"})") >= 4);
  CHECK(after.at("plasma_poke_fanout_seconds_count") >= 1);
  // The scrape itself is counted (by the next scrape).
  CHECK(after.at(R"(plasma_http_requests_total{route="metrics",status="200"})") == 1);

  // --metrics off: no endpoint.
  NodeProcess off(dir.path() / "off", {"--metrics", "off"});
  Http h2(off.port());
  CHECK(h2.get("/metrics").status == 404);
}

TEST_CASE("compaction: scheduled runs fold the log - a client with an old cookie still converges",
          "[node][compaction]") {
  TempDir dir;
  NodeProcess node(dir.path(), {"--compact-interval-ms", "150", "--compact-margin", "0", "--compact-active-window-s", "1",
                                "--log-level", "info"});
  Http h(node.port());
  h.push("alice", "ga", "c1", 1, "createTodo", {{"id", "t1"}, {"title", "v0"}, {"updatedAt", 1}});
  h.push("alice", "ga", "c1", 2, "createTodo", {{"id", "t2"}, {"title", "gone soon"}, {"updatedAt", 1}});
  // The old client syncs now, then goes away for longer than the window.
  const auto old = h.pull("alice", "old", json::value(nullptr));
  const auto old_cookie = old.at("cookie").as_int64();
  for (int i = 3; i < 23; ++i) {
    h.push("alice", "ga", "c1", i, "renameTodo", {{"id", "t1"}, {"title", "v" + std::to_string(i)}, {"updatedAt", i}});
  }
  h.push("alice", "ga", "c1", 23, "deleteTodo", {{"id", "t2"}});
  const auto entries_before = scrape(h).at("plasma_changelog_entries");
  std::this_thread::sleep_for(1100ms);  // "old" leaves the active window
  const auto fresh = h.pull("alice", "ga", json::value(nullptr));  // an active client at the head

  // Wait (bounded) for a scheduled run past the old cookie.
  std::map<std::string, double> m;
  const auto deadline = Clock::now() + 4s;
  do {
    std::this_thread::sleep_for(100ms);
    m = scrape(h);
  } while (m.at("plasma_compaction_horizon") < fresh.at("cookie").as_int64() && Clock::now() < deadline);
  REQUIRE(m.at("plasma_compactions_total") >= 1);
  CHECK(m.at("plasma_compaction_horizon") == fresh.at("cookie").as_int64());
  CHECK(m.at("plasma_compaction_removed_total") >= 19);  // the intermediate renames
  CHECK(m.at("plasma_changelog_entries") < entries_before);

  // The old client pulls from its old cookie and ends in the same state as a
  // fresh full pull: t1 at its last title, t2 deleted.
  std::map<std::string, std::string> replica;
  for (const auto& op : old.at("patch").as_array()) {
    if (op.at("op").as_string() == "put") replica[std::string(op.at("key").as_string())] = json::serialize(op.at("value"));
  }
  json::value cookie = old_cookie;
  for (int page = 0; page < 10; ++page) {
    const auto r = h.pull("alice", "old", cookie);
    for (const auto& op : r.at("patch").as_array()) {
      const std::string kind(op.at("op").as_string());
      if (kind == "clear") replica.clear();
      if (kind == "put") replica[std::string(op.at("key").as_string())] = json::serialize(op.at("value"));
      if (kind == "del") replica.erase(std::string(op.at("key").as_string()));
    }
    cookie = r.at("cookie");
    if (!r.contains("more") || !r.at("more").as_bool()) break;
  }
  std::map<std::string, std::string> expected;
  for (const auto& op : fresh.at("patch").as_array()) {
    if (op.at("op").as_string() == "put") expected[std::string(op.at("key").as_string())] = json::serialize(op.at("value"));
  }
  CHECK(replica == expected);
  REQUIRE(replica.count("todos/t1") == 1);
  CHECK(replica["todos/t1"].find("\"v22\"") != std::string::npos);
  CHECK(replica.count("todos/t2") == 0);
}

#endif  // PLASMA_NODE_BINARY
