// node/sync_handler.hpp — the sync protocol over HTTP: the original's
// createSyncHandler. Routes `{basePath}/push` and `{basePath}/pull` to a
// SyncServer, choosing the encoding from Content-Type, calling the auth hook
// on every request and mapping every failure to a status code and a JSON
// error body (docs/protocol.md).
#pragma once

#include <any>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "sync/server.hpp"

namespace plasma::node {

// What the auth hook decides for one request.
struct AuthResult {
  bool ok = false;
  std::string reason;           // when !ok: sent back with the 401
  std::string client_group_id;  // when set, the request's clientGroupID must equal it
  std::string client_id;        // informational (mutations name their own clientID)
  std::any ctx;                 // handed to mutators and auth.read/auth.write predicates
  // Who the request acts for (e.g. the user id). When set, a client group
  // belongs to the first user that pushes to it, and pushes and pulls naming
  // it for anyone else are refused with 401 (sync::SyncServer::push). Empty:
  // any credentials may use any group (bind them with client_group_id).
  std::string user;
  static AuthResult allow(std::any ctx = {}, std::string user = {}) {
    return AuthResult{true, {}, {}, {}, std::move(ctx), std::move(user)};
  }
  static AuthResult deny(std::string reason) { return AuthResult{false, std::move(reason), {}, {}, {}, {}}; }
};

// The request as the auth hook sees it: the HTTP request, and the
// clientGroupID the decoded message names.
struct AuthRequest {
  const net::HttpRequest& http;
  std::string_view client_group_id;
  std::string_view route;  // "push", "pull", or "ws" (the WebSocket upgrade: node/realtime.hpp)
};
using AuthHook = std::function<AuthResult(const AuthRequest&)>;

enum class HandlerErrorKind { BadRequest, Unauthorized, Version, ClientState, TooLarge, Internal, Unavailable };

struct SyncHandlerOptions {
  std::string base_path = "/sync";
  AuthHook auth;  // empty: every request is allowed with an empty ctx
  // Bodies over this are refused with 413 (the network layer enforces the
  // same limit while reading, so such a body is never buffered whole).
  std::size_t max_payload_bytes = 1u << 20;
  // Called for every request that failed, with its kind and the message
  // sent to the client (logging, metrics).
  std::function<void(HandlerErrorKind, std::string_view route, std::string_view message)> on_error;
  // Called once per request when its answer is handed to the network:
  // route ("push" or "pull"), status code, time since the handler got it
  // (metrics). May run on the writer thread (push).
  std::function<void(std::string_view route, int status, std::chrono::nanoseconds took)> on_complete;
  // Called for every authorized pull before it is served (the node tracks
  // the cookies of active client groups for compaction).
  std::function<void(const sync::PullRequest&)> on_pull;
};

class SyncHandler {
 public:
  SyncHandler(sync::SyncServer& server, SyncHandlerOptions options);

  // True if `path` is one of this handler's routes (under base_path).
  bool handles(std::string_view path) const;
  void operator()(net::HttpRequest&& request, net::Responder respond) const;

  const SyncHandlerOptions& options() const noexcept { return options_; }

 private:
  void push(net::HttpRequest&& request, net::Responder respond) const;
  void pull(net::HttpRequest&& request, net::Responder respond) const;
  using Clock = std::chrono::steady_clock;
  void fail(net::Responder& respond, sync::Encoding encoding, std::string_view route, const sync::SyncError& e,
            Clock::time_point started) const;
  void complete(std::string_view route, int status, Clock::time_point started) const;

  sync::SyncServer* server_;
  SyncHandlerOptions options_;
  std::string push_path_, pull_path_;
};

// A JSON error body {"error": kind, "message": ...}.
net::HttpResponse jsonError(int status, std::string_view kind, std::string_view message);

}  // namespace plasma::node
