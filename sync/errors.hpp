// sync/errors.hpp — what goes wrong in the sync protocol, by kind, so the
// transport can map each to a status code and a JSON error body.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace plasma::sync {

enum class SyncErrorKind {
  BadRequest,           // malformed body or parameters (400)
  Unauthorized,         // the auth hook refused (401)
  VersionNotSupported,  // push/pull protocol version or schema version (JSON: 200 + body; FlatBuffers: 409/400)
  ClientStateNotFound,  // the client knows state the server does not (JSON: 200 + body)
  PayloadTooLarge,      // body over maxPayloadBytes (413)
  NotFound,             // unknown route (404)
  MethodNotAllowed,     // known route, wrong method (405)
  Unavailable,          // shutting down or overloaded (503)
  Internal,             // storage failure or a bug (500)
};

std::string_view kindName(SyncErrorKind kind) noexcept;

class SyncError : public std::runtime_error {
 public:
  SyncError(SyncErrorKind kind, std::string message, std::string version_type = {})
      : std::runtime_error(std::move(message)), kind_(kind), version_type_(std::move(version_type)) {}
  SyncErrorKind kind() const noexcept { return kind_; }
  // For VersionNotSupported: "push", "pull" or "schema".
  const std::string& versionType() const noexcept { return version_type_; }

 private:
  SyncErrorKind kind_;
  std::string version_type_;
};

}  // namespace plasma::sync
