// node/realtime.hpp — the node's WebSocket side: rooms, pokes after
// committed pushes, presence, and pokes requested from outside (the
// original's SyncCoordinator + pokeCoordinator, docs/node.md "Realtime").
//
// Sockets connect to `{base}/ws?clientGroupID=G&clientID=C[&room=R]`; the
// room is R, else G. The app's auth hook runs on the upgrade request (route
// "ws"); its ctx decides which commits the socket hears about.
//
// Who gets poked. After a commit, each room holding a socket whose ctx may
// read one of the changed rows (its before- or after-image, through the
// table's auth.read; a table without auth.read is visible to everyone), and,
// for a push, the room named by the pushing clientGroupID. Sockets are
// grouped into "view classes" by their per-table read predicates (sockets of
// the same user share one), so a commit costs O(changed rows x classes), not
// O(rows x sockets).
//
// Threads. The commit observer (on the committing thread, under the
// engine's commit order) only reads the log head and queues the event.
// Everything else — predicate evaluation, waiting for a push's durable
// acknowledgement, building messages, handing them to the sockets
// (WsConnection::sendText posts to each socket's I/O thread) — happens on
// one realtime thread. WsHandler callbacks run on the I/O threads and only
// touch the registry under its mutex.
//
// Ordering with durability: a commit made by the sync writer (a push) is
// held back until on_pushed reports a version at or after it — the push is
// then durable and acknowledged — so a client never hears of a change the
// server could still lose. Commits made by other threads (server code:
// invokeMutator, db.write) are poked at once (they have the database's
// NoMetaSync semantics, docs/node.md).
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "node/log.hpp"
#include "node/sync_handler.hpp"
#include "plasma/database.hpp"
#include "sync/server.hpp"

namespace plasma::node {

struct RealtimeOptions {
  std::string ws_path = "/sync/ws";
  AuthHook auth;  // run on every upgrade with route "ws"; empty: everyone, empty ctx
  // presence: the largest userInfo accepted, serialized, in bytes.
  std::size_t max_user_info_bytes = 4096;
  // Messages a socket may send per second (a fixed one-second window);
  // more closes it with 1008.
  unsigned max_messages_per_second = 20;
  // Observes each poke round: from the triggering acknowledgement (or poke
  // request) to the last socket's message queued.
  std::function<void(std::chrono::nanoseconds)> on_fanout;
  const Logger* log = nullptr;  // optional
};

struct RealtimeStats {
  std::uint64_t open_sockets = 0;
  std::uint64_t rooms = 0;
  std::uint64_t view_classes = 0;       // distinct read-predicate sets among open sockets
  std::uint64_t poke_messages = 0;      // poke frames handed to sockets
  std::uint64_t poke_rounds = 0;        // batches of pokes sent together
  std::uint64_t presence_messages = 0;  // presence frames handed to sockets
  // Sockets the node closed, by reason ("unauthorized", "bad_request",
  // "binary", "invalid_json", "invalid_message", "user_info_too_large",
  // "flood", "internal").
  std::map<std::string, std::uint64_t> closed;
};

// WebSocket close codes the node uses (besides the network layer's 1009 for
// oversized frames and 1001 at shutdown).
inline constexpr std::uint16_t kCloseUnsupportedData = 1003;  // binary frame
inline constexpr std::uint16_t kCloseInvalidPayload = 1007;   // not JSON / not a valid message
inline constexpr std::uint16_t kClosePolicy = 1008;           // flood, unknown message type
inline constexpr std::uint16_t kCloseTooBig = 1009;           // userInfo over the limit
inline constexpr std::uint16_t kCloseInternal = 1011;
inline constexpr std::uint16_t kCloseBadRequest = 4400;       // missing/invalid query parameters
inline constexpr std::uint16_t kCloseUnauthorized = 4401;     // the auth hook refused

class Realtime {
 public:
  // Subscribes to db's commits and starts the realtime thread.
  Realtime(Database& db, RealtimeOptions options);
  ~Realtime();  // stop()
  Realtime(const Realtime&) = delete;
  Realtime& operator=(const Realtime&) = delete;

  // The handler to give the network server.
  net::WsHandler wsHandler();

  // Wraps the SyncServer's runner so that commits made on its writer thread
  // are recognised as push commits (held back until acknowledged).
  sync::MutatorRunner markWriter(sync::MutatorRunner runner);

  // SyncOptions::on_pushed: quick (queues a note for the realtime thread).
  void onPushed(const sync::PushRequest& request, const sync::PushResponse& response);

  // Pokes every socket of `room` with `version`; returns the sockets in the
  // room now (the pokes follow asynchronously). Any thread.
  std::size_t poke(std::string_view room, std::uint64_t version);

  // Unsubscribes and joins the thread; later calls are ignored. Idempotent.
  void stop();

  RealtimeStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plasma::node
