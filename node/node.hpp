// node/node.hpp — the server node: one LMDB database, a SyncServer and the
// HTTP/WebSocket server in front of it, with command-line flags, logging
// and graceful shutdown. An application's node binary is a few lines:
//
//   int main(int argc, char** argv) {
//     return plasma::node::runMain(argc, argv, {
//         .program = "plasma-node", .schema = app::schema,
//         .runner = plasma::sync::runnerFor(app::mutators()),
//         .make_auth = [](const plasma::node::NodeOptions& o) { return ...; }});
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "node/compactor.hpp"
#include "node/log.hpp"
#include "node/metrics.hpp"
#include "node/realtime.hpp"
#include "node/sync_handler.hpp"
#include "plasma/database.hpp"
#include "sync/server.hpp"

namespace plasma::node {

// The --durability spelling of a mode ("wal", "wal-async", "full",
// "nometasync", "nosync").
const char* durabilityName(Durability d);
// The mode a --durability value names; std::nullopt for anything else.
std::optional<Durability> parseDurability(std::string_view name);
inline constexpr const char* kDurabilityChoices = "wal, wal-async, full, nometasync or nosync";

struct NodeOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;  // 0: pick a free port
  std::filesystem::path data_dir = "./data/node";
  LogLevel log_level = LogLevel::Info;
  std::optional<std::string> auth_token;  // when set, every sync request must carry `Authorization: <token>`
  Durability durability = Durability::Wal;
  std::string base_path = "/sync";
  unsigned threads = 0;  // I/O threads; 0: one per core
  std::size_t max_payload_bytes = 1u << 20;
  std::size_t max_mutations_per_push = 200;
  std::size_t max_pull_bytes = 4u << 20;
  std::size_t max_connections = 10000;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds shutdown_grace{10000};
  std::size_t map_size_bytes = std::size_t{16} << 30;

  // Realtime (docs/node.md, "Realtime").
  std::optional<std::string> poke_token;  // POST {base}/poke needs `Authorization: <token>`; unset: 404
  std::chrono::milliseconds ws_ping_interval{15000};  // dead sockets are closed after two intervals
  std::size_t ws_max_message_bytes = 16 * 1024;       // larger frames: close 1009
  unsigned ws_max_messages_per_second = 20;           // more: close 1008
  std::size_t max_presence_bytes = 4096;              // largest userInfo, serialized

  // Operations.
  bool metrics = true;                             // GET /metrics
  std::chrono::milliseconds compact_interval{0};   // 0: no scheduled compaction
  std::uint64_t compact_margin = 1000;             // versions kept below the oldest active cookie
  std::chrono::milliseconds compact_active_window{std::chrono::hours(24)};
};

// Bad command-line arguments: the message names the flag and what was wrong.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the flags (see usage()); throws UsageError. `--help` sets *help.
NodeOptions parseArgs(int argc, const char* const* argv, bool* help = nullptr);
std::string usage(std::string_view program);

// Splits "HOST:PORT" ("[::1]:8080" for IPv6); throws UsageError.
std::pair<std::string, std::uint16_t> parseListen(std::string_view s);

// Compares secrets in time independent of where they differ (or of their
// lengths): both are hashed, then the digests compared in constant time.
bool secretEquals(std::string_view a, std::string_view b);

class Node;

struct AppSpec {
  std::string program = "plasma-node";
  const Schema* schema = nullptr;
  sync::MutatorRunner runner;
  // Builds the auth hook from the options (e.g. to check --auth-token).
  std::function<AuthHook(const NodeOptions&)> make_auth;
  // Called once the node serves, e.g. to start serverLiveSelect handles or
  // jobs on node.database(); what it returns is kept alive until stop()
  // (destroyed after the network stops, before the writer and the database).
  std::function<std::shared_ptr<void>(Node&)> on_start;
};

class Node {
 public:
  Node(NodeOptions options, const AppSpec& app);
  ~Node();  // stop()
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Opens the database (creating or migrating its schema additively), starts
  // the writer and the network. Throws with a clear message on failure.
  void start();
  std::string host() const;
  std::uint16_t port() const;
  // Graceful: stop accepting, finish in-flight requests (pushes commit and
  // are answered), stop the writer, close the database. Idempotent.
  void stop();

  Database& database();
  sync::SyncServer& syncServer();
  // The WebSocket side (pokes, presence); poke(room) is what POST {base}/poke does.
  Realtime& realtime();
  // Compacts the change log now, with the same horizon as the schedule.
  CompactionRun compactNow();
  const NodeOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole program: parse flags, start, print "listening on http://HOST:PORT"
// to stdout, wait for SIGINT/SIGTERM, shut down gracefully. Returns the exit
// code (0 clean, 2 usage error, 1 any other failure).
int runMain(int argc, const char* const* argv, const AppSpec& app);

}  // namespace plasma::node
