// sync/codec.hpp — the sync messages (sync/messages.hpp) on the wire, in
// both encodings: JSON shaped exactly like Replicache's push/pull protocol
// version 1, and FlatBuffers (schemas/sync.fbs). docs/protocol.md is the
// reference for both.
//
// Server side: decode requests, encode responses and error bodies.
// Client side (tests, benchmarks, the native client): encode requests, decode
// responses.
//
// Every decoder validates its whole input — types, required fields, ranges,
// lengths — and throws SyncError: BadRequest with a message naming the field
// and what was wrong (`push: mutations[3].id must be a positive integer, got
// "x"`), or VersionNotSupported (versionType "push"/"pull") for a
// pushVersion/pullVersion other than 1. No input makes a decoder crash or
// throw anything else. Unknown JSON fields are ignored. The decoders do not
// know the server's schema version: comparing schemaVersion is the server's
// job.
//
// Thread-safety: every function may be called from any number of threads at
// once (the FlatBuffers builders they reuse are thread_local).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>

#include "plasma/row.hpp"
#include "sync/errors.hpp"
#include "sync/messages.hpp"

namespace plasma::sync {

// ---- limits ------------------------------------------------------------------

// Longest clientGroupID, clientID, profileID, schemaVersion and mutation name
// the decoders accept, in bytes.
inline constexpr std::size_t kMaxIdBytes = 256;

// ---- content types -------------------------------------------------------------

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kFlatBuffersContentType = "application/x-plasma-flatbuffers";

// The encoding a request body's Content-Type names: application/json (with
// any parameters, e.g. charset) or empty -> Json; application/x-plasma-
// flatbuffers -> FlatBuffers. Media types compare case-insensitively.
// Anything else throws SyncError(BadRequest) naming the content type.
Encoding encodingFor(std::string_view content_type);

// The Content-Type of a body in `e` (responses carry their request's).
std::string_view contentType(Encoding e) noexcept;

// ---- server side -------------------------------------------------------------

// JSON: the mutations' args share one reference-counted arena holding the
// parsed body (they move out of the tree instead of being copied). A copy of
// an args value allocates from that arena too, which is not thread-safe: do
// not copy args of the same request on several threads at once (reading
// them is fine).
PushRequest decodePush(Encoding e, std::string_view body);
PullRequest decodePull(Encoding e, std::string_view body);

// GET {base}/pull: the query parameters, already percent-decoded, in order.
// clientGroupID is required; cookie absent, empty or "null" means null,
// otherwise a non-negative decimal integer; profileID and schemaVersion
// default to ""; pullVersion defaults to 1 and must be 1 when given. A
// parameter given twice is refused; unknown parameters are ignored.
PullRequest pullFromQuery(const std::vector<std::pair<std::string, std::string>>& params);

// JSON push responses list only the mutations whose outcome is not Applied
// (an applied mutation is visible in lastMutationIDs; this keeps the common
// response small). FlatBuffers lists every mutation.
std::string encodePushResponse(Encoding e, const PushResponse& r);

// Put values in JSON are RowView::toJson()'s column values, written straight
// from the stored row into the output (no intermediate JSON tree). Throws
// SyncError(Internal) for a put without a row.
std::string encodePullResponse(Encoding e, const PullResponse& r);

// The same response with every row viewed in place — the form the server
// encodes straight out of its read transaction (no copy per row). Views
// must stay valid for the call.
struct PatchOpView {
  PatchOpView() = default;
  // Leaves `row` empty without zeroing its storage first (a pull fills
  // thousands of these in place).
  PatchOpView(PatchOpKind op, std::string_view table, std::string_view id) noexcept : op(op), table(table), id(id) {}
  PatchOpKind op = PatchOpKind::Put;
  std::string_view table;
  std::string_view id;
  std::optional<RowView> row;  // Put
};
struct PullResponseView {
  std::uint64_t cookie = 0;
  std::vector<std::pair<std::string_view, std::int64_t>> last_mutation_id_changes;  // distinct clients
  std::vector<PatchOpView> patch;
  bool more = false;
};
std::string encodePullResponse(Encoding e, const PullResponseView& r);

// The JSON error body for `e` (error bodies are JSON in both encodings):
//   VersionNotSupported -> {"error":"VersionNotSupported","versionType":"push"|"pull"|"schema","message":...}
//   ClientStateNotFound -> {"error":"ClientStateNotFound","message":...}
//   others              -> {"error":"<kindName>","message":...}
std::string encodeErrorJson(const SyncError& e);

// The kind a kindName() names (for clients reading error bodies); Internal
// for an unknown name.
SyncErrorKind kindFromName(std::string_view name) noexcept;

// ---- client side -------------------------------------------------------------

std::string encodePushRequest(Encoding e, const PushRequest& r);
std::string encodePullRequest(Encoding e, const PullRequest& r);

// A JSON body holding an "error" field (the Replicache convention: an error
// answered with 200) throws the SyncError it describes, as throwErrorJson
// does.
PushResponse decodePushResponse(Encoding e, std::string_view body);

// A patch operation as a client receives it: the row's stored FlatBuffers
// bytes (FlatBuffers encoding; to be checked with the schema-driven row
// verifier before use) or its column values (JSON encoding).
struct WirePatchOp {
  PatchOpKind op = PatchOpKind::Put;
  std::string table;            // Put/Del
  std::string id;               // Put/Del
  std::string row_bytes;        // Put, FlatBuffers
  boost::json::object value;    // Put, JSON: every column
};

struct WirePullResponse {
  std::uint64_t cookie = 0;
  std::map<std::string, std::int64_t> last_mutation_id_changes;
  std::vector<WirePatchOp> patch;
  bool more = false;
};

WirePullResponse decodePullResponse(Encoding e, std::string_view body);

// Throws the SyncError an error body describes; BadRequest when the body is
// not an error body.
[[noreturn]] void throwErrorJson(std::string_view body);

// ---- realtime (WebSocket messages) ------------------------------------------------
//
// JSON: {"type":"poke","room":..,"version":n} and
// {"type":"presence","room":..,"clients":[{"clientID":..,"userInfo":any}]}.

std::string encodePoke(Encoding e, const Poke& p);
Poke decodePoke(Encoding e, std::string_view body);
std::string encodePresence(Encoding e, const Presence& p);
Presence decodePresence(Encoding e, std::string_view body);

// False when `v` holds a non-finite number anywhere (infinity, NaN — e.g. from parsing 1e999):
// JSON text cannot carry one, so args and userInfo holding one are refused, by the decoders and by
// the client's mutate().
bool allNumbersFinite(const boost::json::value& v) noexcept;

// How deeply arrays and objects may nest in a JSON body (and in args or
// userInfo text of a FlatBuffers body): deeper text is refused when parsed.
// jsonDepth counts the arrays and objects around the innermost value (0 for a
// scalar, 1 for `[]` and `[1]`, 2 for `[[1]]`); the parsers accept exactly
// jsonDepth <= kMaxJsonDepth.
inline constexpr std::size_t kMaxJsonDepth = 64;
// How deeply a mutation's args or a presence userInfo may nest: a JSON push
// body holds args three levels down (body, mutations, mutation), a presence
// list holds userInfo three levels down (message, clients, entry), so values
// this deep still make messages every peer accepts. Checked by the client's
// mutate() and setPresence() and by the node for userInfo.
inline constexpr std::size_t kMaxValueDepth = kMaxJsonDepth - 3;
std::size_t jsonDepth(const boost::json::value& v);
// Parse options for JSON of the protocol: max_depth = kMaxJsonDepth.
boost::json::parse_options jsonParseOptions() noexcept;

// ---- internals shared by codec_json.cpp and codec_fbs.cpp ------------------------

namespace detail {

PushRequest decodePushFbs(std::string_view body);
PullRequest decodePullFbs(std::string_view body);
std::string encodePushResponseFbs(const PushResponse& r);
std::string encodePullResponseFbs(const PullResponseView& r);
std::string encodePushRequestFbs(const PushRequest& r);
std::string encodePullRequestFbs(const PullRequest& r);
PushResponse decodePushResponseFbs(std::string_view body);
WirePullResponse decodePullResponseFbs(std::string_view body);
std::string encodePokeFbs(const Poke& p);
Poke decodePokeFbs(std::string_view body);
std::string encodePresenceFbs(const Presence& p);
Presence decodePresenceFbs(std::string_view body);

// Names a field in an error message: "push: mutations[3].id" (array empty:
// "push: id"). Built only when an error is thrown.
struct Where {
  std::string_view message;  // "push", "pull", "push response", ...
  std::string_view array;    // "mutations", "patch", ... or empty
  std::size_t index = 0;
  std::string field(std::string_view name) const;
};

[[noreturn]] void badRequest(std::string message);
bool validUtf8(std::string_view s) noexcept;
// clientGroupID, clientID: a non-empty UTF-8 string of at most kMaxIdBytes.
void checkId(const Where& w, std::string_view field, std::string_view s);
// profileID, schemaVersion: UTF-8, at most kMaxIdBytes, may be empty.
void checkShortString(const Where& w, std::string_view field, std::string_view s);
// pushVersion/pullVersion must be kPushVersion/kPullVersion.
void checkProtocolVersion(std::string_view type, std::int64_t version);
// JSON text (args, userInfo) into a value with the default allocator; checked by
// requireFiniteNumbers.
boost::json::value parseJsonText(const Where& w, std::string_view field, std::string_view text);
// Throws BadRequest naming the field unless allNumbersFinite(v).
void requireFiniteNumbers(const Where& w, std::string_view field, const boost::json::value& v);
std::string_view outcomeName(MutationOutcome o) noexcept;
// A short, printable rendering of untrusted text for an error message.
std::string quoted(std::string_view s);

}  // namespace detail

}  // namespace plasma::sync
