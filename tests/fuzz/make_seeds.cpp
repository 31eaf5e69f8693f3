// make_seeds: writes the seed corpora under tests/fuzz/corpus/<target>/ from
// the real encoders (so the seeds follow the formats as they evolve):
//   build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
// Each file is named after what it holds. Not a fuzz target.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/row_codec.hpp"
#include "fuzz_row_common.hpp"
#include "sync/codec.hpp"
#include "todo/todo_app.hpp"

namespace fs = std::filesystem;
using namespace plasma;
using sync::Encoding;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}
std::string sel(int decoder, const std::string& body) { return std::string(1, static_cast<char>(decoder)) + body; }

sync::PushRequest samplePush() {
  sync::PushRequest p;
  p.profile_id = "p1";
  p.client_group_id = "g1";
  p.schema_version = todo::kSchemaVersion;
  p.mutations.push_back({"c1", 1, "createTodo", boost::json::object{{"id", "t1"}, {"title", "milk"}, {"updatedAt", 1}}, 5});
  p.mutations.push_back({"c1", 2, "markDone", boost::json::object{{"id", "t1"}, {"updatedAt", 2}}, 6});
  p.mutations.push_back({"c2", 1, "shareTodo", boost::json::object{{"id", "t1"}, {"shared", true}}, 7});
  return p;
}
sync::PullRequest samplePull(bool cookie) {
  sync::PullRequest p;
  p.profile_id = "p1";
  p.client_group_id = "g1";
  p.schema_version = todo::kSchemaVersion;
  if (cookie) p.cookie = 7;
  return p;
}
sync::PushResponse samplePushResponse() {
  sync::PushResponse r;
  r.results.push_back({"c1", 1, sync::MutationOutcome::Applied, {}, {}});
  r.results.push_back({"c1", 2, sync::MutationOutcome::Failed, "Unauthorized", "no"});
  r.results.push_back({"c1", 3, sync::MutationOutcome::Rejected, "MutationIDGap", "gap"});
  r.last_mutation_ids = {{"c1", 2}};
  r.version = 9;
  return r;
}

std::string http(const std::string& method, const std::string& target, const std::string& type, const std::string& body,
                 const std::string& extra = "X-User: alice\r\n") {
  std::string s = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra;
  if (!type.empty()) s += "Content-Type: " + type + "\r\n";
  if (method != "GET" || !body.empty()) s += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return s + "\r\n" + body;
}

// A masked client frame (RFC 6455).
std::string frame(std::uint8_t opcode, const std::string& payload, bool fin = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  }
  const std::uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  for (auto m : mask) f.push_back(static_cast<char>(m));
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <corpus-dir>\n";
    return 2;
  }
  root = argv[1];

  // A real stored row (for pull responses with puts).
  const fs::path tmp = fs::temp_directory_path() / ("plasma-seeds-" + std::to_string(::getpid()));
  std::optional<OwnedRow> row;
  {
    auto db = Database::open(tmp, todo::schema);
    db.ensureSchema();
    db.write([&](Tx& tx) {
      (void)tx.insert(todo::todos).values({{todo::todos.id, "t1"}, {todo::todos.title, "milk"}, {todo::todos.updatedAt, 1},
                                           {todo::todos.owner, "alice"}});
    });
    row = db.get(todo::todos, "t1");
  }
  fs::remove_all(tmp);
  sync::PullResponse pr;
  pr.cookie = 3;
  pr.last_mutation_id_changes = {{"c1", 2}};
  pr.patch.push_back({sync::PatchOpKind::Clear, {}, {}, std::nullopt});
  pr.patch.push_back({sync::PatchOpKind::Put, "todos", "t1", row});
  pr.patch.push_back({sync::PatchOpKind::Del, "todos", "t0", std::nullopt});
  pr.more = true;

  for (Encoding e : {Encoding::Json, Encoding::FlatBuffers}) {
    const std::string t = e == Encoding::Json ? "fuzz_sync_json" : "fuzz_sync_fbs";
    put(t, "push", sel(0, sync::encodePushRequest(e, samplePush())));
    put(t, "pull-null-cookie", sel(1, sync::encodePullRequest(e, samplePull(false))));
    put(t, "pull-cookie", sel(1, sync::encodePullRequest(e, samplePull(true))));
    put(t, "push-response", sel(2, sync::encodePushResponse(e, samplePushResponse())));
    put(t, "pull-response", sel(3, sync::encodePullResponse(e, pr)));
    put(t, "poke", sel(4, sync::encodePoke(e, sync::Poke{"room-1", 12})));
    sync::Presence presence{"room-1", {{"c1", boost::json::object{{"name", "alice"}}}, {"c2", nullptr}}};
    put(t, "presence", sel(5, sync::encodePresence(e, presence)));
    put(t, "error", sel(6, sync::encodeErrorJson(sync::SyncError(sync::SyncErrorKind::VersionNotSupported, "old", "pull"))));
  }

  // Rows of every kind, full and sparse, for the verifier; their JSON forms.
  {
    const auto layout = plasma_fuzz::kindsLayout(false);
    const auto& k = plasma_fuzz::kindsTable();
    (void)k;
    std::vector<std::vector<Value>> rows{
        {Value("id"), Value("a title"), Value(std::int64_t{-42}), Value(std::int64_t{1} << 40), Value(true),
         Value(Bytes{0, 1, 2, 255}), Value::json(R"({"a":[1,2,3]})"), Value(FileRef{"b3:abc", 1234, "image/png"}),
         Value::json(R"({"n":5})"), Value::json(R"({"p":{"x":2},"n":{"x":1}})"), Value::json(R"({"v":"open","ts":7})"),
         Value::json(R"({"adds":{"x":["t1"]},"removes":{}})")},
        {Value("id"), Value(""), Value(std::int64_t{0}), Value(), Value(), Value(), Value(), Value(), Value(), Value(),
         Value(), Value()},
    };
    int n = 0;
    for (const auto& values : rows) {
      detail::RowEncoder enc;
      const auto bytes = enc.encode(*layout, values);
      const std::string b(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      put("fuzz_row_verify", "row-" + std::to_string(n) + "-plain", sel(0, b));
      put("fuzz_row_verify", "row-" + std::to_string(n) + "-fill", sel(1, b));
      const RowView view(layout.get(), bytes.data(), bytes.size(), "row-1");
      put("fuzz_row_json", "row-" + std::to_string(n), boost::json::serialize(view.toJson()));
      ++n;
    }
    put("fuzz_row_json", "booleans-as-ints", R"({"id":"x","title":"t","count":1,"flag":1,"big":-9007199254740993})");
  }

  // HTTP requests the node serves.
  {
    const std::string json = "application/json";
    const std::string fbs(sync::kFlatBuffersContentType);
    const std::string push = sync::encodePushRequest(Encoding::Json, samplePush());
    const std::string pull = sync::encodePullRequest(Encoding::Json, samplePull(false));
    put("fuzz_http", "push-json", http("POST", "/sync/push", json, push));
    put("fuzz_http", "pull-json", http("POST", "/sync/pull", json, pull));
    put("fuzz_http", "push-fbs", http("POST", "/sync/push", fbs, sync::encodePushRequest(Encoding::FlatBuffers, samplePush())));
    put("fuzz_http", "pull-fbs", http("POST", "/sync/pull", fbs, sync::encodePullRequest(Encoding::FlatBuffers, samplePull(true))));
    put("fuzz_http", "pull-get", http("GET", "/sync/pull?clientGroupID=g1&cookie=2&schemaVersion=todos-v2", "", ""));
    put("fuzz_http", "pipelined", http("POST", "/sync/push", json, push) + http("POST", "/sync/pull", json, pull) +
                                      http("GET", "/healthz", "", "", "Connection: close\r\n"));
    put("fuzz_http", "chunked",
        "POST /sync/pull HTTP/1.1\r\nHost: x\r\nX-User: bob\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n" +
            [&] {
              char len[16];
              std::snprintf(len, sizeof len, "%zx", pull.size());
              return std::string(len) + "\r\n" + pull + "\r\n0\r\n\r\n";
            }());
    put("fuzz_http", "metrics", http("GET", "/metrics", "", ""));
    put("fuzz_http", "poke", http("POST", "/sync/poke", json, R"({"room":"r1"})", "Authorization: x\r\n"));
    put("fuzz_http", "expect-continue", http("POST", "/sync/push", json, push, "Expect: 100-continue\r\nX-User: a\r\n"));
    put("fuzz_http", "http10", "GET /healthz HTTP/1.0\r\n\r\n");
    put("fuzz_http", "upgrade", "GET /sync/ws?clientGroupID=g&clientID=c HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n" + frame(0x1, R"({"type":"presence","userInfo":1})"));
  }

  // WebSocket frames after the upgrade.
  {
    put("fuzz_ws", "presence", frame(0x1, R"({"type":"presence","userInfo":{"name":"fuzzer","cursor":[1,2]}})"));
    put("fuzz_ws", "ping-pong-close", frame(0x9, "hi") + frame(0xA, "") + frame(0x8, std::string("\x03\xe8", 2) + "bye"));
    put("fuzz_ws", "binary", frame(0x2, std::string("\x00\x01\x02", 3)));
    put("fuzz_ws", "fragmented", frame(0x1, R"({"type":"pre)", false) + frame(0x0, R"(sence","userInfo":2})"));
    put("fuzz_ws", "unknown-type", frame(0x1, R"({"type":"poke","room":"x"})"));
    put("fuzz_ws", "long", frame(0x1, std::string(300, 'x')));
    put("fuzz_ws", "many", frame(0x1, R"({"type":"presence","userInfo":null})") + frame(0x1, "[]") + frame(0x1, "{}"));
  }
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
