// The FlatBuffers encoding of the sync messages (schemas/sync.fbs). See
// sync/codec.hpp and docs/protocol.md.
//
// Every buffer is a `Message` envelope whose union says which message it
// holds. Decoding verifies the whole buffer first (bounds, offsets, strings,
// nesting), then checks what the verifier cannot: the union holds the
// expected message, enums are in range, strings are UTF-8, ids positive and
// strings within their limits — the same rules and messages as the JSON
// decoder, with fields named as in JSON.
//
// Encoding reuses one FlatBufferBuilder per thread. The pull response, the
// read side's hot path, is written by hand instead (see below): each row is
// copied once, straight into the result, 8-byte aligned so a receiver can
// read it in place.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <span>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <flatbuffers/flatbuffers.h>

#include "plasma/fbs/sync_generated.h"
#include "sync/codec.hpp"
#include "sync/raw_out.hpp"

namespace plasma::sync::detail {

namespace fb = flatbuffers;
namespace wire = plasma::fbs::sync;

namespace {

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

// The calling thread's builder, cleared. A builder that grew past 8 MiB for
// one big message gives its memory back afterwards (finish()).
fb::FlatBufferBuilder& builder() {
  thread_local fb::FlatBufferBuilder b(16 * 1024);
  b.Clear();
  return b;
}

template <class T>
std::string finish(fb::FlatBufferBuilder& b, wire::Body type, fb::Offset<T> body) {
  b.Finish(wire::CreateMessage(b, type, body.Union()), wire::MessageIdentifier());
  std::string out(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  if (b.GetSize() > (8u << 20)) b.Reset();
  return out;
}

fb::Offset<fb::String> jsonText(fb::FlatBufferBuilder& b, const boost::json::value& v) {
  if (v.is_null()) return 0;  // absent reads as null
  return b.CreateString(boost::json::serialize(v));
}

fb::Offset<fb::Vector<fb::Offset<wire::ClientMutationId>>> idVector(fb::FlatBufferBuilder& b,
                                                                    const std::map<std::string, std::int64_t>& m) {
  std::vector<fb::Offset<wire::ClientMutationId>> v;
  v.reserve(m.size());
  for (const auto& [client, id] : m) v.push_back(wire::CreateClientMutationId(b, b.CreateString(client), id));
  return b.CreateVector(v);
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

constexpr const char* bodyName(wire::Body t) noexcept {
  switch (t) {
    case wire::Body::PushRequest: return "PushRequest";
    case wire::Body::PushResponse: return "PushResponse";
    case wire::Body::PullRequest: return "PullRequest";
    case wire::Body::PullResponse: return "PullResponse";
    case wire::Body::Poke: return "Poke";
    case wire::Body::Presence: return "Presence";
    default: return nullptr;
  }
}

// A verified message of the expected type. Holds an aligned copy of the body
// when the caller's bytes are not 8-byte aligned (the verifier insists on
// aligned scalars, and a body from a network buffer can sit anywhere).
class Verified {
 public:
  Verified(std::string_view body, wire::Body expected) {
    const std::string what = std::string("invalid FlatBuffers ") + bodyName(expected);
    if (body.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) badRequest(what + " (too large)");
    auto data = reinterpret_cast<const std::uint8_t*>(body.data());
    if (reinterpret_cast<std::uintptr_t>(data) % 8 != 0) {
      copy_ = std::make_unique<std::uint64_t[]>(body.size() / 8 + 1);
      std::memcpy(copy_.get(), body.data(), body.size());
      data = reinterpret_cast<const std::uint8_t*>(copy_.get());
    }
    fb::Verifier::Options opts;
    opts.max_depth = 16;  // our deepest path is Message -> PullResponse -> patch -> PatchOp -> row
    // Every table takes at least 4 bytes, so a well-formed buffer has at most
    // size/4 of them; the bound keeps buffers whose offsets share tables (a
    // verification cost far beyond their size) out.
    opts.max_tables = static_cast<fb::uoffset_t>(body.size() / 4 + 16);
    fb::Verifier v(data, body.size(), opts);
    if (!wire::VerifyMessageBuffer(v)) badRequest(what);
    msg_ = wire::GetMessage(data);
    if (msg_->body_type() != expected) {
      const char* got = bodyName(msg_->body_type());
      badRequest(what + " (the buffer holds " + (got ? std::string("a ") + got : std::string("no known message")) + ")");
    }
    // The verifier accepts a union whose type is set but whose table is absent.
    if (msg_->body() == nullptr) badRequest(what + " (the message has no body)");
  }
  const wire::Message* operator->() const noexcept { return msg_; }

 private:
  std::unique_ptr<std::uint64_t[]> copy_;
  const wire::Message* msg_ = nullptr;
};

std::string_view view(const fb::String* s) noexcept { return s ? s->string_view() : std::string_view(); }

std::string id(const Where& w, std::string_view field, const fb::String* s) {
  checkId(w, field, view(s));
  return std::string(view(s));
}

std::string shortString(const Where& w, std::string_view field, const fb::String* s) {
  checkShortString(w, field, view(s));
  return std::string(view(s));
}

// error/message texts: any length, UTF-8.
std::string text(const Where& w, std::string_view field, const fb::String* s) {
  if (!validUtf8(view(s))) badRequest(w.field(field) + " is not valid UTF-8");
  return std::string(view(s));
}

std::map<std::string, std::int64_t> idMap(const Where& parent, std::string_view array,
                                          const fb::Vector<fb::Offset<wire::ClientMutationId>>* v) {
  std::map<std::string, std::int64_t> out;
  if (v == nullptr) return out;
  Where w{parent.message, array};
  for (const wire::ClientMutationId* e : *v) {
    std::string client = id(w, "clientID", e->client_id());
    if (e->id() < 0) badRequest(w.field("id") + " must be a non-negative integer, got " + std::to_string(e->id()));
    out.insert_or_assign(std::move(client), e->id());
    ++w.index;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

std::string encodePushRequestFbs(const PushRequest& r) {
  auto& b = builder();
  std::vector<fb::Offset<wire::Mutation>> mutations;
  mutations.reserve(r.mutations.size());
  for (const Mutation& m : r.mutations) {
    mutations.push_back(wire::CreateMutation(b, b.CreateString(m.client_id), m.id, b.CreateString(m.name),
                                             jsonText(b, m.args), std::isfinite(m.timestamp) ? m.timestamp : 0));
  }
  const auto body = wire::CreatePushRequest(b, b.CreateString(r.profile_id), b.CreateString(r.client_group_id),
                                            b.CreateVector(mutations), r.push_version, b.CreateString(r.schema_version));
  return finish(b, wire::Body::PushRequest, body);
}

PushRequest decodePushFbs(std::string_view body) {
  const Verified msg(body, wire::Body::PushRequest);
  const wire::PushRequest* in = msg->body_as_PushRequest();
  checkProtocolVersion("push", in->push_version());
  const Where w{"push"};
  PushRequest r;
  r.push_version = kPushVersion;
  r.profile_id = shortString(w, "profileID", in->profile_id());
  r.client_group_id = id(w, "clientGroupID", in->client_group_id());
  r.schema_version = shortString(w, "schemaVersion", in->schema_version());
  if (const auto* mutations = in->mutations()) {
    r.mutations.reserve(mutations->size());
    Where mw{"push", "mutations"};
    for (const wire::Mutation* m : *mutations) {
      Mutation out;
      out.client_id = id(mw, "clientID", m->client_id());
      out.id = m->id();
      if (out.id <= 0) badRequest(mw.field("id") + " must be a positive integer, got " + std::to_string(out.id));
      if (view(m->name()).empty()) badRequest(mw.field("name") + " must be a non-empty string");
      out.name = shortString(mw, "name", m->name());
      if (m->args() != nullptr) out.args = parseJsonText(mw, "args", view(m->args()));
      out.timestamp = m->timestamp();
      if (!std::isfinite(out.timestamp)) badRequest(mw.field("timestamp") + " must be a finite number");
      r.mutations.push_back(std::move(out));
      ++mw.index;
    }
  }
  return r;
}

std::string encodePullRequestFbs(const PullRequest& r) {
  auto& b = builder();
  const auto profile = b.CreateString(r.profile_id);
  const auto group = b.CreateString(r.client_group_id);
  const auto schema = b.CreateString(r.schema_version);
  const wire::Cookie cookie(r.cookie.value_or(0));
  const auto body = wire::CreatePullRequest(b, profile, group, r.cookie ? &cookie : nullptr, r.pull_version, schema);
  return finish(b, wire::Body::PullRequest, body);
}

PullRequest decodePullFbs(std::string_view body) {
  const Verified msg(body, wire::Body::PullRequest);
  const wire::PullRequest* in = msg->body_as_PullRequest();
  checkProtocolVersion("pull", in->pull_version());
  const Where w{"pull"};
  PullRequest r;
  r.pull_version = kPullVersion;
  r.profile_id = shortString(w, "profileID", in->profile_id());
  r.client_group_id = id(w, "clientGroupID", in->client_group_id());
  r.schema_version = shortString(w, "schemaVersion", in->schema_version());
  if (const wire::Cookie* c = in->cookie()) r.cookie = c->value();
  return r;
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

std::string encodePushResponseFbs(const PushResponse& r) {
  auto& b = builder();
  std::vector<fb::Offset<wire::MutationResult>> results;
  results.reserve(r.results.size());
  for (const MutationResult& m : r.results) {
    const auto client = b.CreateString(m.client_id);
    const auto error = m.error.empty() ? 0 : b.CreateString(m.error);
    const auto message = m.message.empty() ? 0 : b.CreateString(m.message);
    results.push_back(wire::CreateMutationResult(b, client, m.id, static_cast<wire::MutationOutcome>(m.outcome),
                                                 error, message));
  }
  const auto results_vec = b.CreateVector(results);
  const auto ids = idVector(b, r.last_mutation_ids);
  return finish(b, wire::Body::PushResponse, wire::CreatePushResponse(b, results_vec, ids, r.version));
}

PushResponse decodePushResponseFbs(std::string_view body) {
  const Verified msg(body, wire::Body::PushResponse);
  const wire::PushResponse* in = msg->body_as_PushResponse();
  const Where w{"push response"};
  PushResponse r;
  if (const auto* results = in->results()) {
    r.results.reserve(results->size());
    Where rw{"push response", "results"};
    for (const wire::MutationResult* m : *results) {
      MutationResult out;
      out.client_id = id(rw, "clientID", m->client_id());
      out.id = m->id();
      if (out.id <= 0) badRequest(rw.field("id") + " must be a positive integer, got " + std::to_string(out.id));
      const auto outcome = static_cast<std::uint8_t>(m->outcome());
      if (outcome > static_cast<std::uint8_t>(wire::MutationOutcome::MAX)) {
        badRequest(rw.field("outcome") + " is not a known outcome (" + std::to_string(outcome) + ")");
      }
      out.outcome = static_cast<MutationOutcome>(outcome);
      out.error = text(rw, "error", m->error());
      out.message = text(rw, "message", m->message());
      r.results.push_back(std::move(out));
      ++rw.index;
    }
  }
  r.last_mutation_ids = idMap(w, "lastMutationIDs", in->last_mutation_ids());
  r.version = in->version();
  return r;
}

// ---- the pull response, written front to back ------------------------------
//
// The native read side's hot path. FlatBufferBuilder writes back to front
// into a buffer of its own, searches the earlier vtables for every table it
// ends, and its result is copied once more; a pull response always has the
// same shape, so it is written here front to back, straight into the result:
//
//   [root][PLSY][the six vtables][Message][PullResponse]
//   [lastMutationIDChanges: count, offsets][per client: table, client id]
//   [patch: count, offsets][per op: table, id, row bytes 8-byte aligned]
//   [each table name once, shared by its ops]
//
// A field's offset (uoffset_t) must point forward; a table reaches its
// vtable through a signed offset, so the vtables can come first. Table names
// come last and their offsets are patched in. Every byte is written, padding
// included. The test "codec: the FlatBuffers pull response matches the
// builder's" checks this against FlatBufferBuilder's encoding.

namespace {

static_assert(std::endian::native == std::endian::little, "FlatBuffers are little-endian");

class FbsOut {
 public:
  explicit FbsOut(std::size_t estimate) : out_(estimate) {}
  std::size_t pos() const noexcept { return out_.size(); }
  // Zero bytes until pos() + ahead is a multiple of `a`.
  void align(std::size_t a, std::size_t ahead = 0) {
    const std::size_t n = (a - (pos() + ahead) % a) % a;
    char* p = out_.need(n);
    std::memset(p, 0, n);
    out_.advance(p + n);
  }
  template <class T>
  void scalar(T v) {
    char* p = out_.need(sizeof v);
    std::memcpy(p, &v, sizeof v);
    out_.advance(p + sizeof v);
  }
  // `bytes` zeroed bytes, for offsets linked later: returns where they start.
  std::size_t slots(std::size_t bytes) {
    const std::size_t at = pos();
    char* p = out_.need(bytes);
    std::memset(p, 0, bytes);
    out_.advance(p + bytes);
    return at;
  }
  // Points the uoffset_t at `field` to `target`, which lies after it.
  void link(std::size_t field, std::size_t target) {
    const auto o = static_cast<fb::uoffset_t>(target - field);
    std::memcpy(out_.at(field), &o, sizeof o);
  }
  // A table's start: its signed offset back to `vtable`.
  std::size_t table(std::size_t vtable) {
    const std::size_t at = pos();
    scalar(static_cast<fb::soffset_t>(at - vtable));
    return at;
  }
  // A string (length, bytes, NUL); returns where it starts.
  std::size_t string(std::string_view s) {
    align(sizeof(fb::uoffset_t));
    const std::size_t at = pos();
    char* const base = out_.need(sizeof(fb::uoffset_t) + s.size() + 1) - at;
    out_.advance(base + str(base, at, s));
    return at;
  }
  // A PatchOp put or del (its table name left to link), its id and, for a
  // put, its row, in one reservation; `slot` is its element of the patch
  // vector. Returns the table's start. Layouts as in vt_put (table @4, id @8,
  // row @12, op @16) and vt_del (table @4, id @8, op @12).
  std::size_t patchOp(std::size_t vtable, std::size_t slot, wire::PatchOpKind kind, std::string_view id,
                      const std::span<const std::uint8_t>* row) {
    align(4);
    const std::size_t t = pos();
    const std::size_t offsets = row != nullptr ? 12 : 8;  // table, id[, row]
    char* const base = out_.need(4 + offsets + 1 + 3 + 5 + id.size() + (row != nullptr ? 3 + 7 + 4 + row->size() : 0)) - t;
    std::size_t p = t;
    put32(base, p, static_cast<std::uint32_t>(t - vtable));  // soffset
    std::memset(base + p, 0, offsets);
    p += offsets;
    base[p++] = static_cast<char>(kind);
    p = pad(base, p, 4, 0);
    link32(base, t + 8, p);
    p = str(base, p, id);
    if (row != nullptr) {
      p = pad(base, p, 8, 4);
      link32(base, t + 12, p);
      put32(base, p, static_cast<std::uint32_t>(row->size()));
      std::memcpy(base + p, row->data(), row->size());
      p += row->size();
    }
    link32(base, slot, t);
    out_.advance(base + p);
    return t;
  }
  void raw(std::string_view s) { out_.put(s); }
  std::string take() { return out_.take(); }

 private:
  // Writers at absolute positions over a reservation (`base` + position).
  static void put32(char* base, std::size_t& p, std::uint32_t v) {
    std::memcpy(base + p, &v, 4);
    p += 4;
  }
  static void link32(char* base, std::size_t field, std::size_t target) {
    const auto o = static_cast<std::uint32_t>(target - field);
    std::memcpy(base + field, &o, 4);
  }
  static std::size_t pad(char* base, std::size_t p, std::size_t a, std::size_t ahead) {
    while ((p + ahead) % a != 0) base[p++] = 0;
    return p;
  }
  static std::size_t str(char* base, std::size_t p, std::string_view s) {
    put32(base, p, static_cast<std::uint32_t>(s.size()));
    std::memcpy(base + p, s.data(), s.size());
    p += s.size();
    base[p++] = '\0';
    return p;
  }
  RawOut out_;
};

// A vtable: its size, its table's inline size, then each field's offset in
// the table by field (0: absent). Returns where it starts.
std::size_t vtable(FbsOut& o, std::initializer_list<std::pair<fb::voffset_t, fb::voffset_t>> fields,
                   fb::voffset_t table_size) {
  fb::voffset_t size = 4;
  for (const auto& [vt, off] : fields) size = std::max<fb::voffset_t>(size, vt + 2);
  o.align(2);
  const std::size_t at = o.pos();
  o.scalar(size);
  o.scalar(table_size);
  for (fb::voffset_t vt = 4; vt < size; vt += 2) {
    fb::voffset_t off = 0;
    for (const auto& [v, f] : fields) {
      if (v == vt) off = f;
    }
    o.scalar(off);
  }
  return at;
}

}  // namespace

std::string encodePullResponseFbs(const PullResponseView& r) {
  using M = wire::Message;
  using P = wire::PullResponse;
  using C = wire::ClientMutationId;
  using Op = wire::PatchOp;
  constexpr std::size_t kU = sizeof(fb::uoffset_t);
  std::size_t estimate = 256;
  for (const auto& [client, id] : r.last_mutation_id_changes) estimate += 32 + client.size();
  for (const PatchOpView& op : r.patch) estimate += 48 + op.id.size() + (op.row ? op.row->bytes().size() : 0);
  FbsOut o(estimate);
  const std::size_t root = o.slots(kU);
  o.raw(wire::MessageIdentifier());

  // Each table's inline layout, as offsets from its start (at 0: the signed
  // offset to its vtable). 8-byte scalars sit at offset 8 of a table that
  // starts 8-byte aligned.
  const std::size_t vt_message = vtable(o, {{M::VT_BODY, 4}, {M::VT_BODY_TYPE, 8}}, 9);
  const std::size_t vt_pull =
      vtable(o, {{P::VT_LAST_MUTATION_ID_CHANGES, 4}, {P::VT_COOKIE, 8}, {P::VT_PATCH, 16}, {P::VT_MORE, 20}}, 21);
  const std::size_t vt_client = vtable(o, {{C::VT_CLIENT_ID, 4}, {C::VT_ID, 8}}, 16);
  const std::size_t vt_put = vtable(o, {{Op::VT_TABLE, 4}, {Op::VT_ID, 8}, {Op::VT_ROW, 12}, {Op::VT_OP, 16}}, 17);
  const std::size_t vt_del = vtable(o, {{Op::VT_TABLE, 4}, {Op::VT_ID, 8}, {Op::VT_OP, 12}}, 13);
  const std::size_t vt_clear = vtable(o, {{Op::VT_OP, 4}}, 5);

  o.align(4);
  const std::size_t message = o.table(vt_message);
  o.link(root, message);
  o.slots(kU);
  o.scalar(static_cast<std::uint8_t>(wire::Body::PullResponse));

  o.align(8);
  const std::size_t pull = o.table(vt_pull);
  o.link(message + 4, pull);
  o.slots(kU);
  o.scalar<std::uint64_t>(r.cookie);
  o.slots(kU);
  o.scalar<std::uint8_t>(r.more ? 1 : 0);

  // A vector of tables: its length, then one offset per element, each
  // linked to its table once that is written.
  auto tableVector = [&](std::size_t field, std::size_t n) {
    o.align(4);
    const std::size_t vec = o.pos();
    o.link(field, vec);
    o.scalar(static_cast<fb::uoffset_t>(n));
    o.slots(n * kU);
    return vec + kU;
  };

  const std::size_t clients = tableVector(pull + 4, r.last_mutation_id_changes.size());
  for (std::size_t i = 0; i < r.last_mutation_id_changes.size(); ++i) {
    const auto& [client, id] = r.last_mutation_id_changes[i];
    o.align(8);
    const std::size_t t = o.table(vt_client);
    o.link(clients + i * kU, t);
    o.slots(kU);
    o.scalar<std::int64_t>(id);
    o.link(t + 4, o.string(client));
  }

  // Table names are written once, after every op: (field, name) to link.
  std::vector<std::string_view> names;
  std::vector<std::pair<std::size_t, std::size_t>> name_fields;
  std::size_t last = 0;
  name_fields.reserve(r.patch.size());
  const std::size_t ops = tableVector(pull + 16, r.patch.size());
  for (std::size_t i = 0; i < r.patch.size(); ++i) {
    const PatchOpView& op = r.patch[i];
    if (op.op == PatchOpKind::Clear) {
      o.align(4);
      o.link(ops + i * kU, o.table(vt_clear));
      o.scalar(static_cast<std::uint8_t>(wire::PatchOpKind::Clear));
      continue;
    }
    const bool put = op.op == PatchOpKind::Put;
    if (put && !op.row) {
      throw SyncError(SyncErrorKind::Internal, "pull: patch[" + std::to_string(i) + "] is a put without a row");
    }
    const auto row = put ? op.row->bytes() : std::span<const std::uint8_t>();
    const std::size_t t = o.patchOp(put ? vt_put : vt_del, ops + i * kU,
                                    put ? wire::PatchOpKind::Put : wire::PatchOpKind::Del, op.id, put ? &row : nullptr);
    // Runs of ops name one table, mostly through the same string_view.
    if (names.empty() || names[last].data() != op.table.data() || names[last].size() != op.table.size()) {
      last = static_cast<std::size_t>(std::find(names.begin(), names.end(), op.table) - names.begin());
      if (last == names.size()) names.push_back(op.table);
    }
    name_fields.emplace_back(t + 4, last);
  }
  std::vector<std::size_t> name_at(names.size());
  for (std::size_t n = 0; n < names.size(); ++n) name_at[n] = o.string(names[n]);
  for (const auto& [field, n] : name_fields) o.link(field, name_at[n]);

  if (o.pos() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    throw SyncError(SyncErrorKind::Internal, "pull: the response exceeds FlatBuffers' 2 GiB limit");
  }
  return o.take();
}

WirePullResponse decodePullResponseFbs(std::string_view body) {
  const Verified msg(body, wire::Body::PullResponse);
  const wire::PullResponse* in = msg->body_as_PullResponse();
  const Where w{"pull response"};
  WirePullResponse r;
  r.cookie = in->cookie();
  r.last_mutation_id_changes = idMap(w, "lastMutationIDChanges", in->last_mutation_id_changes());
  r.more = in->more();
  if (const auto* patch = in->patch()) {
    r.patch.reserve(patch->size());
    Where pw{"pull response", "patch"};
    for (const wire::PatchOp* op : *patch) {
      WirePatchOp out;
      switch (op->op()) {
        case wire::PatchOpKind::Clear: out.op = PatchOpKind::Clear; break;
        case wire::PatchOpKind::Put: out.op = PatchOpKind::Put; break;
        case wire::PatchOpKind::Del: out.op = PatchOpKind::Del; break;
        default:
          badRequest(pw.field("op") + " is not a known operation (" +
                     std::to_string(static_cast<unsigned>(op->op())) + ")");
      }
      if (out.op != PatchOpKind::Clear) {
        if (view(op->table()).empty()) badRequest(pw.field("table") + " must be a non-empty string");
        if (view(op->id()).empty()) badRequest(pw.field("id") + " must be a non-empty string");
        out.table = text(pw, "table", op->table());
        out.id = text(pw, "id", op->id());
      }
      if (out.op == PatchOpKind::Put) {
        const auto* row = op->row();
        if (row == nullptr || row->size() == 0) badRequest(pw.field("row") + " is required for a put");
        out.row_bytes.assign(reinterpret_cast<const char*>(row->data()), row->size());
      }
      r.patch.push_back(std::move(out));
      ++pw.index;
    }
  }
  return r;
}

// ---------------------------------------------------------------------------
// Realtime
// ---------------------------------------------------------------------------

std::string encodePokeFbs(const Poke& p) {
  auto& b = builder();
  const auto room = b.CreateString(p.room);
  return finish(b, wire::Body::Poke, wire::CreatePoke(b, room, p.version));
}

Poke decodePokeFbs(std::string_view body) {
  const Verified msg(body, wire::Body::Poke);
  const wire::Poke* in = msg->body_as_Poke();
  Poke p;
  p.room = shortString(Where{"poke"}, "room", in->room());
  p.version = in->version();
  return p;
}

std::string encodePresenceFbs(const Presence& p) {
  auto& b = builder();
  std::vector<fb::Offset<wire::PresenceClient>> clients;
  clients.reserve(p.clients.size());
  for (const PresenceEntry& e : p.clients) {
    clients.push_back(wire::CreatePresenceClient(b, b.CreateString(e.client_id), jsonText(b, e.user_info)));
  }
  const auto room = b.CreateString(p.room);
  const auto vec = b.CreateVector(clients);
  return finish(b, wire::Body::Presence, wire::CreatePresence(b, room, vec));
}

Presence decodePresenceFbs(std::string_view body) {
  const Verified msg(body, wire::Body::Presence);
  const wire::Presence* in = msg->body_as_Presence();
  Presence p;
  p.room = shortString(Where{"presence"}, "room", in->room());
  if (const auto* clients = in->clients()) {
    Where cw{"presence", "clients"};
    for (const wire::PresenceClient* c : *clients) {
      PresenceEntry e;
      e.client_id = id(cw, "clientID", c->client_id());
      if (c->user_info() != nullptr) e.user_info = parseJsonText(cw, "userInfo", view(c->user_info()));
      p.clients.push_back(std::move(e));
      ++cw.index;
    }
  }
  return p;
}

}  // namespace plasma::sync::detail
