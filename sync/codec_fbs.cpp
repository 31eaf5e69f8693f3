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
// Encoding reuses one FlatBufferBuilder per thread, so a pull response's
// rows are copied once into the builder (8-byte aligned, so a receiver can
// read them in place) and the finished buffer once into the result.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <flatbuffers/flatbuffers.h>

#include "plasma/fbs/sync_generated.h"
#include "sync/codec.hpp"

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

std::string encodePullResponseFbs(const PullResponseView& r) {
  auto& b = builder();
  std::vector<fb::Offset<wire::PatchOp>> ops;
  ops.reserve(r.patch.size());
  for (std::size_t i = 0; i < r.patch.size(); ++i) {
    const PatchOpView& op = r.patch[i];
    if (op.op == PatchOpKind::Clear) {
      ops.push_back(wire::CreatePatchOp(b, wire::PatchOpKind::Clear));
      continue;
    }
    const auto table = b.CreateString(op.table.data(), op.table.size());
    const auto row_id = b.CreateString(op.id.data(), op.id.size());
    fb::Offset<fb::Vector<std::uint8_t>> row;
    if (op.op == PatchOpKind::Put) {
      if (!op.row) {
        throw SyncError(SyncErrorKind::Internal, "pull: patch[" + std::to_string(i) + "] is a put without a row");
      }
      const auto bytes = op.row->bytes();
      // A stored row is itself a FlatBuffers table with 8-byte scalars:
      // aligned, the receiver can verify and read it where it lies.
      b.ForceVectorAlignment(bytes.size(), sizeof(std::uint8_t), 8);
      row = b.CreateVector(bytes.data(), bytes.size());
    }
    ops.push_back(wire::CreatePatchOp(b, op.op == PatchOpKind::Put ? wire::PatchOpKind::Put : wire::PatchOpKind::Del,
                                      table, row_id, row));
  }
  const auto patch = b.CreateVector(ops);
  std::vector<fb::Offset<wire::ClientMutationId>> idv;
  idv.reserve(r.last_mutation_id_changes.size());
  for (const auto& [client, id] : r.last_mutation_id_changes) {
    idv.push_back(wire::CreateClientMutationId(b, b.CreateString(client.data(), client.size()), id));
  }
  const auto ids = b.CreateVector(idv);
  return finish(b, wire::Body::PullResponse, wire::CreatePullResponse(b, r.cookie, ids, patch, r.more));
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
