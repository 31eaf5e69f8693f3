#include "node/sync_handler.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "plasma/error.hpp"
#include "sync/codec.hpp"

namespace plasma::node {

using sync::Encoding;
using sync::SyncError;
using sync::SyncErrorKind;

net::HttpResponse jsonError(int status, std::string_view kind, std::string_view message) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = boost::json::serialize(boost::json::object{{"error", kind}, {"message", message}});
  return r;
}

namespace {

HandlerErrorKind handlerKind(SyncErrorKind k) {
  switch (k) {
    case SyncErrorKind::BadRequest:
    case SyncErrorKind::NotFound:
    case SyncErrorKind::MethodNotAllowed: return HandlerErrorKind::BadRequest;
    case SyncErrorKind::Unauthorized: return HandlerErrorKind::Unauthorized;
    case SyncErrorKind::VersionNotSupported: return HandlerErrorKind::Version;
    case SyncErrorKind::ClientStateNotFound: return HandlerErrorKind::ClientState;
    case SyncErrorKind::PayloadTooLarge: return HandlerErrorKind::TooLarge;
    case SyncErrorKind::Unavailable: return HandlerErrorKind::Unavailable;
    case SyncErrorKind::Internal: return HandlerErrorKind::Internal;
  }
  return HandlerErrorKind::Internal;
}

// The status code of a failure. In JSON mode the Replicache conventions
// apply: version and client-state errors are a 200 whose body says so (the
// client parses error bodies only on a 200). FlatBuffers clients get 409
// for both (the request conflicts with the server's schema or state).
int statusOf(const SyncError& e, Encoding encoding) {
  switch (e.kind()) {
    case SyncErrorKind::VersionNotSupported:
      if (encoding == Encoding::Json) return 200;
      return e.versionType() == "schema" ? 409 : 400;
    case SyncErrorKind::ClientStateNotFound: return encoding == Encoding::Json ? 200 : 409;
    case SyncErrorKind::BadRequest: return 400;
    case SyncErrorKind::Unauthorized: return 401;
    case SyncErrorKind::NotFound: return 404;
    case SyncErrorKind::MethodNotAllowed: return 405;
    case SyncErrorKind::PayloadTooLarge: return 413;
    case SyncErrorKind::Unavailable: return 503;
    case SyncErrorKind::Internal: return 500;
  }
  return 500;
}

// Anything a request can throw, as a SyncError.
SyncError asSyncError(std::exception_ptr p) {
  try {
    std::rethrow_exception(p);
  } catch (const SyncError& e) {
    return e;
  } catch (const Error& e) {
    return SyncError(SyncErrorKind::Internal, std::string(errorCodeName(e.code())) + ": " + e.what());
  } catch (const std::exception& e) {
    return SyncError(SyncErrorKind::Internal, e.what());
  } catch (...) {
    return SyncError(SyncErrorKind::Internal, "unknown failure");
  }
}

}  // namespace

SyncHandler::SyncHandler(sync::SyncServer& server, SyncHandlerOptions options)
    : server_(&server), options_(std::move(options)) {
  std::string base = options_.base_path;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!base.empty() && base.front() != '/') base.insert(base.begin(), '/');
  options_.base_path = base;
  push_path_ = base + "/push";
  pull_path_ = base + "/pull";
}

bool SyncHandler::handles(std::string_view path) const { return path == push_path_ || path == pull_path_; }

void SyncHandler::complete(std::string_view route, int status, Clock::time_point started) const {
  if (!options_.on_complete) return;
  try {
    options_.on_complete(route, status, Clock::now() - started);
  } catch (...) {
    // Metrics must not change the answer.
  }
}

void SyncHandler::fail(net::Responder& respond, Encoding encoding, std::string_view route, const SyncError& e,
                       Clock::time_point started) const {
  if (options_.on_error) {
    try {
      options_.on_error(handlerKind(e.kind()), route, e.what());
    } catch (...) {
      // Logging must not change the answer.
    }
  }
  net::HttpResponse r;
  r.status = statusOf(e, encoding);
  r.content_type = "application/json";
  r.body = sync::encodeErrorJson(e);
  // Counted before the answer leaves, so a client that reads the metrics
  // right after its answer sees its own request.
  complete(route, r.status, started);
  respond(std::move(r));
}

void SyncHandler::operator()(net::HttpRequest&& request, net::Responder respond) const {
  const auto started = Clock::now();
  if (request.path == push_path_) {
    push(std::move(request), std::move(respond));
  } else if (request.path == pull_path_) {
    pull(std::move(request), std::move(respond));
  } else {
    fail(respond, Encoding::Json, "sync",
         SyncError(SyncErrorKind::NotFound, "no sync route " + request.path + " (routes: " + push_path_ + ", " +
                                                pull_path_ + ")"),
         started);
  }
}

namespace {

// What an authorized request acts as.
struct Authorized {
  std::any ctx;
  std::string user;
};

// Runs the auth hook; throws SyncError(Unauthorized) when it refuses or
// when the group it grants differs from the one the request names.
Authorized authorize(const SyncHandlerOptions& o, const net::HttpRequest& http, std::string_view group,
                   std::string_view route) {
  if (!o.auth) return {};
  AuthResult a;
  try {
    a = o.auth(AuthRequest{http, group, route});
  } catch (const std::exception& e) {
    throw SyncError(SyncErrorKind::Unauthorized, std::string("auth failed: ") + e.what());
  }
  if (!a.ok) throw SyncError(SyncErrorKind::Unauthorized, a.reason.empty() ? "not authorized" : a.reason);
  if (!a.client_group_id.empty() && a.client_group_id != group) {
    throw SyncError(SyncErrorKind::Unauthorized, "these credentials are for client group '" + a.client_group_id +
                                                     "', not '" + std::string(group) + "'");
  }
  return Authorized{std::move(a.ctx), std::move(a.user)};
}

void checkSize(const SyncHandlerOptions& o, const net::HttpRequest& request) {
  if (request.body.size() > o.max_payload_bytes) {
    throw SyncError(SyncErrorKind::PayloadTooLarge, "body of " + std::to_string(request.body.size()) +
                                                        " bytes is over maxPayloadBytes (" +
                                                        std::to_string(o.max_payload_bytes) + ")");
  }
}

}  // namespace

void SyncHandler::push(net::HttpRequest&& request, net::Responder respond) const {
  const auto started = Clock::now();
  Encoding encoding = Encoding::Json;
  try {
    if (request.method != "POST") {
      throw SyncError(SyncErrorKind::MethodNotAllowed, "push takes POST, not " + request.method);
    }
    encoding = sync::encodingFor(request.header("Content-Type"));
    checkSize(options_, request);
    sync::PushRequest push = sync::decodePush(encoding, request.body);
    Authorized auth = authorize(options_, request, push.client_group_id, "push");
    // The writer thread answers; Responder may be called from any thread.
    auto shared = std::make_shared<net::Responder>(std::move(respond));
    server_->pushAsync(std::move(push), std::move(auth.ctx),
                       [this, shared, encoding, started](sync::PushResponse* r, std::exception_ptr error) {
                         if (error) {
                           fail(*shared, encoding, "push", asSyncError(error), started);
                           return;
                         }
                         try {
                           net::HttpResponse out;
                           out.content_type = std::string(sync::contentType(encoding));
                           out.body = sync::encodePushResponse(encoding, *r);
                           complete("push", 200, started);
                           (*shared)(std::move(out));
                         } catch (...) {
                           fail(*shared, encoding, "push", asSyncError(std::current_exception()), started);
                         }
                       },
                       std::move(auth.user));
  } catch (...) {
    if (respond.valid()) fail(respond, encoding, "push", asSyncError(std::current_exception()), started);
  }
}

void SyncHandler::pull(net::HttpRequest&& request, net::Responder respond) const {
  const auto started = Clock::now();
  Encoding encoding = Encoding::Json;
  try {
    sync::PullRequest pull;
    if (request.method == "GET") {
      // The response encoding follows Accept (JSON unless FlatBuffers is asked for).
      if (request.header("Accept").find(sync::kFlatBuffersContentType) != std::string_view::npos) {
        encoding = Encoding::FlatBuffers;
      }
      pull = sync::pullFromQuery(request.query);
    } else if (request.method == "POST") {
      encoding = sync::encodingFor(request.header("Content-Type"));
      checkSize(options_, request);
      pull = sync::decodePull(encoding, request.body);
    } else {
      throw SyncError(SyncErrorKind::MethodNotAllowed, "pull takes GET or POST, not " + request.method);
    }
    const Authorized auth = authorize(options_, request, pull.client_group_id, "pull");
    if (options_.on_pull) options_.on_pull(pull);
    // Reads never wait for the writer: answer on this I/O thread.
    net::HttpResponse out;
    out.content_type = std::string(sync::contentType(encoding));
    out.body = server_->pullEncoded(pull, auth.ctx, encoding, auth.user);
    complete("pull", 200, started);
    respond(std::move(out));
  } catch (...) {
    if (respond.valid()) fail(respond, encoding, "pull", asSyncError(std::current_exception()), started);
  }
}

}  // namespace plasma::node
