// sync/messages.hpp — the sync protocol's messages, independent of their
// encoding (JSON shaped like Replicache's push/pull v1, or FlatBuffers from
// schemas/sync.fbs; see docs/protocol.md) and of the transport.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "plasma/row.hpp"

namespace plasma::sync {

enum class Encoding { Json, FlatBuffers };

inline constexpr int kPushVersion = 1;
inline constexpr int kPullVersion = 1;

// ---- push ---------------------------------------------------------------

struct Mutation {
  std::string client_id;
  std::int64_t id = 0;        // per client, gapless, from 1
  std::string name;           // the mutator
  boost::json::value args;    // validated against the mutator's argument type when it runs
  double timestamp = 0;       // client clock, milliseconds; informational
};

struct PushRequest {
  std::string profile_id;
  std::string client_group_id;
  std::vector<Mutation> mutations;
  int push_version = kPushVersion;
  std::string schema_version;
};

enum class MutationOutcome : std::uint8_t {
  Applied,   // ran and committed
  Failed,    // the mutator threw: its writes were rolled back, lastMutationID advanced
  Skipped,   // already applied earlier (id <= lastMutationID): a retry
  Deferred,  // over maxMutationsPerPush: not looked at; the client re-sends it
  Rejected,  // not processed because an earlier mutation of its client had a gap
};

// One entry per mutation of the request, in request order.
struct MutationResult {
  std::string client_id;
  std::int64_t id = 0;
  MutationOutcome outcome = MutationOutcome::Applied;
  std::string error;    // Failed/Rejected: the error kind (ErrorCode name, "MutationIDGap", ...)
  std::string message;  // Failed/Rejected: a human-readable reason
};

struct PushResponse {
  std::vector<MutationResult> results;
  // For every client named in the request: its lastMutationID after the push.
  std::map<std::string, std::int64_t> last_mutation_ids;
  // The change log's head after the commit that carried this push.
  std::uint64_t version = 0;
};

// ---- pull ---------------------------------------------------------------

struct PullRequest {
  std::string profile_id;
  std::string client_group_id;
  std::optional<std::uint64_t> cookie;  // absent: JSON null, "send everything"
  int pull_version = kPullVersion;
  std::string schema_version;
};

enum class PatchOpKind : std::uint8_t { Clear, Put, Del };

struct PatchOp {
  PatchOpKind op = PatchOpKind::Put;
  std::string table;
  std::string id;
  std::optional<OwnedRow> row;  // Put: the row as stored
};

struct PullResponse {
  std::uint64_t cookie = 0;
  std::map<std::string, std::int64_t> last_mutation_id_changes;
  std::vector<PatchOp> patch;
  // The patch stopped at a page boundary: pull again from `cookie` for the
  // rest. (An extension; Replicache clients ignore it and pull again on
  // their next poke or interval.)
  bool more = false;
};

// ---- realtime (WebSocket) -------------------------------------------------

struct Poke {
  std::string room;
  std::uint64_t version = 0;  // the change log's head when the poke was sent
};

struct PresenceEntry {
  std::string client_id;
  boost::json::value user_info;
};

struct Presence {
  std::string room;
  std::vector<PresenceEntry> clients;
};

}  // namespace plasma::sync
