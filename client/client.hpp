// client/client.hpp — the client engine (issue 7): an optimistic local
// database, a persistent outbox, rebase on pull, and a sync loop.
//
//   plasma::client::ClientOptions o;
//   o.tables = {todo::todos};
//   o.schema_version = todo::kSchemaVersion;
//   o.runner = plasma::sync::runnerFor(todo::mutators());
//   o.ctx = todo::Ctx{"alice"};
//   o.auth_headers = {{"X-User", "alice"}};
//   o.data_dir = "./data/client";
//   o.port = 8787;
//   plasma::client::Client c(std::move(o));
//   c.start();
//   auto h = c.mutate("createTodo", {{"id", c.newId()}, {"title", "milk"}, {"updatedAt", 1}});
//   // visible in c.db() at once; h.outcome resolves once the server decided
//
// See docs/client.md for the design, the persistence layout and what each
// durability mode can lose.
//
// Threading: mutate, db(), pushOnce, pullOnce, flush may be called from any
// thread. Sync operations (push, pull + rebase) are serialized by one mutex;
// local writes are serialized by LMDB's writer lock.
//
// Client groups: several Clients may open one data directory — threads of
// one process (they share one Database, so one's mutations show in the
// others' live queries at once) or separate processes (LMDB's locks; each
// process notices the others' commits within ~50 ms and its live queries
// recompute). Each Client takes a slot (a lock file in the directory) and
// the clientID persisted for it; they share the store, the outbox and the
// cookie, and any of them pushes every pending mutation of the group.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "net/http_server.hpp"
#include "plasma/database.hpp"
#include "plasma/mutators.hpp"
#include "sync/messages.hpp"
#include "sync/server.hpp"

namespace plasma::client {

enum class ErrorKind {
  Network,              // connect/read failed or timed out (retried)
  Server,               // 5xx (retried)
  RateLimited,          // 429 (retried, honouring Retry-After)
  Unauthorized,         // 401
  SchemaMismatch,       // VersionNotSupported (schema), 409 in FlatBuffers
  ClientStateNotFound,  // the server does not know this client's state
  BadRequest,           // other 4xx / a refused request
  Protocol,             // a response we could not decode
  MutationRejected,     // a push result Rejected (MutationIDGap)
  Storage,              // the local database failed
};
std::string_view errorKindName(ErrorKind k) noexcept;

struct ClientError {
  ErrorKind kind = ErrorKind::Network;
  std::string message;
  int status = 0;          // HTTP status, 0 when none
  bool will_retry = false; // the operation is being retried
};

// One HTTP request as the client sends it. A transport throws (any
// std::exception) when the request failed without an answer.
struct TransportRequest {
  std::string method;   // "POST"
  std::string target;   // "/sync/push"
  std::string body;
  std::string content_type;
  std::vector<net::Header> headers;
};
using Transport = std::function<net::HttpResponse(const TransportRequest&)>;

// The default transport: one keep-alive net::HttpClient (created on first use).
Transport httpTransport(std::string host, std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

struct RetryOptions {
  int max_attempts = 5;       // per push/pull request, including the first
  int initial_delay_ms = 50;  // doubled per attempt, with full jitter in [d/2, d]
  int max_delay_ms = 2000;
  int max_retry_after_ms = 30000;  // a Retry-After above this is capped
};

// What the client does when the server answers that it does not support
// this client's schema version (VersionNotSupported "schema"; 409 in
// FlatBuffers). Either way the mismatch is reported through on_error
// (SchemaMismatch) and syncing stops until a new Client is made (the app
// restarts with the right version): retrying cannot succeed.
enum class SchemaMismatchAction {
  Stay,   // keep the local data (and the outbox), stop syncing
  Reset,  // resetLocalState(): wipe the local data, new clientID, stop syncing
};

struct PresenceEntry {
  std::string client_id;
  boost::json::value user_info;  // an object, or null until that client sets one
};

struct ClientOptions {
  // The application's tables; the local schema is these plus the client's
  // internal tables (docs/client.md), under schema_version.
  std::vector<std::reference_wrapper<const Table>> tables;
  std::string schema_version;
  sync::MutatorRunner runner;  // e.g. sync::runnerFor(mutators)
  std::any ctx;                // handed to local mutator runs
  // When set, called for every local mutator run (mutate and every replay in
  // a rebase) and its result is the ctx instead of `ctx` — the original's
  // getContext, for a ctx that changes (a signed-in user, a clock).
  std::function<std::any()> get_context;
  std::filesystem::path data_dir;
  Durability durability = Durability::Full;

  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string base_path = "/sync";
  std::string client_group_id;  // empty: the one persisted in data_dir (created on first open)
  std::string profile_id;       // empty: "p-" + clientGroupID
  std::vector<net::Header> auth_headers;
  // Extra query parameters of the WebSocket URL (the todo node reads the user from `user=`).
  std::vector<std::pair<std::string, std::string>> ws_params;
  Transport transport;  // empty: httpTransport(host, port, request_timeout)
  std::chrono::milliseconds request_timeout{5000};

  sync::Encoding encoding = sync::Encoding::FlatBuffers;
  int poll_interval_ms = 1000;
  bool websocket = true;  // subscribe to pokes while started
  // The socket's room (empty: the client group) and whether this client
  // takes part in the room's presence list (setPresence, presence(),
  // on_presence). Off by default: a socket out of the lists still gets pokes.
  std::string room;
  bool presence = false;
  RetryOptions retry;
  bool offline = false;
  std::size_t max_mutations_per_push = 100;
  std::function<void(const ClientError&)> on_error;
  // Called on the socket's thread with the room's whole list on every join,
  // update and leave (presence must be on).
  std::function<void(const std::vector<PresenceEntry>&)> on_presence;
  SchemaMismatchAction on_schema_mismatch = SchemaMismatchAction::Stay;
};

enum class OutcomeKind {
  Applied,    // the server ran it and reported it applied
  Failed,     // the server ran it, the mutator threw: its effects are rolled back locally
  Confirmed,  // the server confirmed the id, but the push answer that said how was lost (retry skipped it)
  Discarded,  // removed locally before it was pushed: discardMutation or resetLocalState
  Detached,   // the Client was destroyed first; the mutation stays in the outbox and syncs
              // when a Client of this directory runs again
};
std::string_view outcomeKindName(OutcomeKind k) noexcept;

struct Outcome {
  std::string client_id;
  std::int64_t mutation_id = 0;
  OutcomeKind kind = OutcomeKind::Applied;
  std::string error;    // Failed: the error kind ("Unauthorized", ...)
  std::string message;  // Failed: the server's message
};

struct MutationHandle {
  std::string client_id;
  // The id given at mutate time. A pending mutation can be re-numbered
  // (discardMutation of an earlier one; the crash-rollback id floor):
  // Outcome::mutation_id is the id the server saw.
  std::int64_t id = 0;
  // Resolves after the rebase that removed the mutation from the outbox
  // committed: the local state then reflects the server's verdict.
  std::shared_future<Outcome> outcome;
};

struct ClientStats {
  std::uint64_t pushes = 0, pulls = 0, rebases = 0, retries = 0, pokes = 0;
  std::uint64_t http_errors = 0, network_errors = 0;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();  // stop()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs the mutator locally in one write transaction (with its undo
  // records and its outbox entry), and returns without touching the
  // network. Throws whatever the mutator throws locally (nothing is
  // recorded then).
  MutationHandle mutate(std::string_view name, boost::json::value args);

  // The local, optimistic database (queries, live queries).
  Database& db() noexcept;

  // The sync loop (its own thread) and the poke socket.
  void start();
  void stop();  // idempotent; waits for the threads
  // Pushes and pulls until the outbox is empty (true) or the timeout passed.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // One push of up to max_mutations_per_push (true: answered, or nothing to push).
  bool pushOnce();
  // Pulls (every page) and rebases (true: done).
  bool pullOnce();

  // Removes a pending mutation that was never pushed and rolls back its
  // local effect (one commit: live queries see the net change). Later
  // pending mutations of this client are re-numbered down by one (ids stay
  // gapless). False when there is no such pending mutation or it may have
  // been pushed already. Its handle resolves Discarded.
  bool discardMutation(std::int64_t id);
  // Wipes the local data (app tables, outbox, undo, cookie), takes a new
  // clientID; the next pull yields a fresh full state. Pending handles
  // resolve Discarded. Does not clear a schema-mismatch stop.
  void resetLocalState();
  // True after a schema mismatch stopped syncing (see SchemaMismatchAction).
  bool syncStopped() const noexcept;

  // Presence (options.presence must be on, else InvalidArgument): this
  // client's userInfo — a JSON object, or null to clear — sent now if the
  // socket is open and again on every reconnect. presence() is the room's
  // last list (empty before the first).
  void setPresence(boost::json::value user_info);
  std::vector<PresenceEntry> presence() const;

  void setOffline(bool offline);
  void setEndpoint(std::string host, std::uint16_t port);  // default transport only

  std::string newId() const;  // UUIDv7
  std::string clientID() const;  // changes on resetLocalState
  const std::string& clientGroupID() const noexcept;
  std::size_t pendingCount() const;
  std::optional<std::uint64_t> cookie() const;
  ClientStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plasma::client
