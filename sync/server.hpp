// sync/server.hpp — the server side of the sync protocol, independent of
// the transport: push (group-committed), pull (paginated, auth-filtered),
// lastMutationID bookkeeping. net/ and the node binary put HTTP in front.
//
//   plasma::sync::SyncServer sync(db, plasma::sync::runnerFor(mutators), {.schema_version = "v1"});
//   PushResponse r = sync.push(request, ctx);        // blocks until committed (durable)
//   PullResponse p = sync.pull(pull_request, ctx);
//
// Threading: push and pull may be called from any number of threads at once.
// Pushes are queued to one writer thread, which applies every push waiting
// in the queue in one LMDB write transaction (group commit: one sync for
// many pushes) and then completes them. Pulls run on the caller's thread in
// a read transaction and never wait for writers.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "plasma/database.hpp"
#include "plasma/mutators.hpp"
#include "sync/errors.hpp"
#include "sync/messages.hpp"

namespace plasma::sync {

// Runs mutator `name` inside the transaction: the type-erased form of a
// Mutators<Ctx> registry (runnerFor). Throws Error(MutatorNotFound) for an
// unknown name, Error(MutatorArgs) for bad arguments, and whatever the
// mutator throws.
struct MutatorCallInfo {
  std::string_view name;
  const boost::json::value& args;
  const std::any& ctx;
  std::string_view client_group_id;
  std::string_view client_id;
  std::int64_t mutation_id;
};
using MutatorRunner = std::function<void(Tx&, const MutatorCallInfo&)>;

// Adapts a typed registry; the ctx passed to push() must hold a Ctx (an
// empty std::any runs the mutators with a default-constructed Ctx).
template <class Ctx>
MutatorRunner runnerFor(const Mutators<Ctx>& mutators) {
  return [&mutators](Tx& tx, const MutatorCallInfo& c) {
    static const Ctx kEmpty{};
    const Ctx* ctx = c.ctx.has_value() ? std::any_cast<Ctx>(&c.ctx) : &kEmpty;
    if (ctx == nullptr) throw Error(ErrorCode::InvalidArgument, "sync: the auth ctx does not hold the mutators' Ctx type");
    mutators.run(c.name, MutatorInvocation<Ctx>{tx, c.args, *ctx, c.client_id, c.mutation_id});
  };
}

struct SyncOptions {
  // Compared with every request's schemaVersion; empty: not checked.
  std::string schema_version;
  // New mutations applied per push (already-applied ones do not count); the
  // rest are answered Deferred and re-sent by the client.
  std::size_t max_mutations_per_push = 200;
  // A pull response's patch stops at a mutation boundary once its rows
  // reach this many bytes (stored row size); the response says `more`.
  // A single mutation or admin transaction bigger than this is split
  // between rows (see docs/protocol.md).
  std::size_t max_pull_bytes = 4u << 20;
  // With a database opened with Durability::NoMetaSync: answer a push only
  // once its commit is durable — after the next commit's data sync, or an
  // explicit sync when no other push is waiting (one sync per group commit
  // under load; docs/node.md). false: answer right after the commit (a
  // system crash may roll back the last acknowledged pushes). Ignored with
  // Full (already durable at commit) and NoSync (never durable).
  bool durable_acks = true;
  // Group commit: the writer takes at most this many queued pushes into one
  // transaction.
  std::size_t max_pushes_per_commit = 256;
  // Called after each push committed, on the writer thread (keep it quick:
  // e.g. poke the room).
  std::function<void(const PushRequest&, const PushResponse&)> on_pushed;
};

struct SyncStats {
  std::uint64_t pushes = 0;
  std::uint64_t commits = 0;              // write transactions that carried pushes
  std::uint64_t mutations_applied = 0;
  std::uint64_t mutations_failed = 0;
  std::uint64_t mutations_skipped = 0;
  std::uint64_t pulls = 0;
  std::uint64_t largest_group = 0;        // most pushes in one commit so far
  std::uint64_t careful_batches = 0;      // batches re-applied with savepoints after a mutator failed
};

// True when `client_group_id` belongs to a user other than `owner` (see
// SyncServer::push): what the node checks on a WebSocket upgrade, so no
// one joins another user's group room (its pokes and presence). False for
// an empty owner or a group nobody claimed yet.
bool groupOwnedByAnother(const Database& db, std::string_view client_group_id, std::string_view owner);

class SyncServer {
 public:
  SyncServer(Database& db, MutatorRunner runner, SyncOptions options = {});
  ~SyncServer();  // finishes queued pushes, then stops the writer
  SyncServer(const SyncServer&) = delete;
  SyncServer& operator=(const SyncServer&) = delete;

  // Applies a push and returns when it is committed (durably, as the
  // database's Durability says). Throws SyncError for requests refused as a
  // whole (schema version, unknown client state) and for storage failures.
  //
  // `owner` names who the request acts for (the node's auth hook decides;
  // empty: not checked). A client group belongs to the first owner that
  // pushes to it: a push or pull naming that group for another owner is
  // refused with SyncError(Unauthorized), so no one can advance another
  // user's lastMutationIDs or read their clients' state by naming their
  // clientGroupID.
  PushResponse push(PushRequest request, std::any ctx, std::string owner = {});

  // The same, completing on the writer thread: `done` receives the response
  // or the exception.
  using PushCallback = std::function<void(PushResponse*, std::exception_ptr)>;
  void pushAsync(PushRequest request, std::any ctx, PushCallback done, std::string owner = {});

  // Reads the changes after the request's cookie as the ctx may see them.
  PullResponse pull(const PullRequest& request, const std::any& ctx, std::string_view owner = {}) const;
  // The same, encoded straight from the read transaction (rows are copied
  // once, from LMDB's pages into the response): what the node serves.
  std::string pullEncoded(const PullRequest& request, const std::any& ctx, Encoding encoding,
                          std::string_view owner = {}) const;

  // Stops taking pushes (they fail with SyncError Unavailable), finishes the
  // queued ones, joins the writer. Idempotent.
  void stop();

  // lastMutationID of a client (0: never seen).
  std::int64_t lastMutationID(std::string_view client_group_id, std::string_view client_id) const;

  SyncStats stats() const;
  Database& database() const noexcept;
  const SyncOptions& options() const noexcept;

  struct Impl;  // opaque: defined in sync/server.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plasma::sync
