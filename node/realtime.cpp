#include "node/realtime.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "engine/json_parse.hpp"
#include "plasma/commit.hpp"
#include "query/eval.hpp"
#include "query/filter.hpp"
#include "sync/codec.hpp"

namespace plasma::node {

namespace {

using Clock = std::chrono::steady_clock;

// Set on the SyncServer's writer thread (by the wrapped mutator runner,
// which runs before any push commit): commits observed on this thread are
// push commits, poked only once acknowledged.
thread_local bool t_sync_writer = false;

// ---- view classes -----------------------------------------------------------------
//
// A socket's "view" is the list of read predicates its ctx yields, one per
// table with auth.read. Sockets whose predicates are structurally equal see
// the same rows, so they share one ViewClass and a commit is checked once per
// class. The key is a length-prefixed serialization of the expression trees
// (Expr::toString is for humans and does not escape literals).

void appendLength(std::string& k, std::size_t n) {
  k.append(std::to_string(n)).push_back(':');
}

void appendBytes(std::string& k, std::string_view s) {
  appendLength(k, s.size());
  k.append(s);
}

void appendValueKey(std::string& k, const Value& v) {
  k.push_back(static_cast<char>('0' + static_cast<int>(v.kind())));
  switch (v.kind()) {
    case Kind::Text: appendBytes(k, v.asText()); break;
    case Kind::Json: appendBytes(k, v.asJson()); break;
    case Kind::Blob: {
      const auto& b = v.asBlob();
      appendBytes(k, std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
      break;
    }
    default: appendBytes(k, v.toString()); break;  // numbers, booleans, NULL, file refs: unambiguous
  }
}

void appendExprKey(std::string& k, const Expr& e) {
  if (!e) {
    k.push_back('~');
    return;
  }
  const ExprNode& n = e.node();
  k.push_back('(');
  k.append(std::to_string(static_cast<int>(n.op))).push_back(',');
  char ptr[32];
  std::snprintf(ptr, sizeof ptr, "%p,", static_cast<const void*>(n.table));
  k.append(ptr).append(std::to_string(n.column)).push_back(',');
  appendValueKey(k, n.value);
  appendLength(k, n.values.size());
  for (const auto& v : n.values) appendValueKey(k, v);
  k.append(std::to_string(static_cast<int>(n.aggregate))).push_back(',');
  appendBytes(k, n.alias);
  appendBytes(k, n.name);
  k.append(std::to_string(n.param)).push_back(',');
  appendLength(k, n.children.size());
  for (const auto& c : n.children) appendExprKey(k, c);
  k.push_back(')');
}

const std::vector<Value> kNoParams;

struct ViewClass {
  struct Pred {
    const TableSpec* table = nullptr;
    Expr expr;  // empty: every row is visible
    // expr's top-level OR split into disjuncts, each compiled: the common
    // `owner = $user OR shared = 1` becomes two direct column tests on the
    // stored row instead of a generic evaluation. The filters view expr's
    // literals: expr must outlive them (it does: same struct).
    std::vector<query::CompiledFilter> any_of;
  };
  std::string key;
  std::vector<std::unique_ptr<Pred>> preds;  // immutable once built; read without the lock

  // Guarded by Impl::mu: the rooms holding sockets of this class, with counts.
  std::unordered_map<std::string, std::size_t> rooms;
  std::size_t sockets = 0;

  // The predicate for `table`; nullptr when the table has no auth.read.
  const Pred* predFor(const TableSpec* table) const {
    for (const auto& p : preds) {
      if (p->table == table) return p.get();
    }
    for (const auto& p : preds) {  // a TableSpec copy (should not happen): by name
      if (p->table->name == table->name) return p.get();
    }
    return nullptr;
  }
};

// The disjuncts of a top-level OR tree (e itself when it is not an OR).
void flattenOr(const Expr& e, std::vector<Expr>& out) {
  if (e && e.node().op == ExprOp::Or) {
    for (const auto& c : e.node().children) flattenOr(c, out);
  } else {
    out.push_back(e);
  }
}

// True when the row exists and the predicate is TRUE for it (SQL: an OR is
// true when one of its operands is).
bool rowVisible(const ViewClass::Pred& p, const std::optional<OwnedRow>& row) {
  if (!row) return false;
  if (!p.expr) return true;
  const RowView view = row->view();
  const query::RowSource src(view);
  for (const auto& f : p.any_of) {
    if (f.matches(view, src)) return true;
  }
  return false;
}

// ---- sockets ----------------------------------------------------------------------

struct Socket {
  std::shared_ptr<net::WsConnection> conn;
  std::string room;
  std::string client_id;
  bool presence = true;                 // listed in its room's presence and told about it
  boost::json::value user_info;         // null until the client sends presence
  std::shared_ptr<ViewClass> view;
  Clock::time_point window_start{};     // flood control: a one-second window
  unsigned window_messages = 0;
};

struct Room {
  std::vector<Socket*> sockets;  // in join order (the presence list's order)
};

// A short, printable rendering of untrusted text for a close reason.
std::string shortQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 40)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  if (s.size() > 40) out += "...";
  out += "'";
  return out;
}

// clientGroupID / clientID / room: non-empty, at most kMaxIdBytes. (UTF-8
// is already checked: query parameters are decoded from the URL, and only
// ever sent back inside JSON, which escapes them.)
std::string checkParam(std::string_view name, std::optional<std::string_view> v, bool required) {
  if (!v || v->empty()) {
    if (required) return std::string(name) + " is required";
    return {};
  }
  if (v->size() > sync::kMaxIdBytes) return std::string(name) + " is longer than " + std::to_string(sync::kMaxIdBytes) + " bytes";
  if (!sync::detail::validUtf8(*v)) return std::string(name) + " is not valid UTF-8";
  return {};
}

}  // namespace

// ---- Impl ---------------------------------------------------------------------------

struct Realtime::Impl {
  Database& db;
  RealtimeOptions options;

  // The registry: sockets, rooms, view classes. Touched by the I/O threads
  // (open, message, close) and the realtime thread (fan-out).
  mutable std::mutex mu;
  std::unordered_map<std::uint64_t, std::unique_ptr<Socket>> sockets;
  std::unordered_map<std::string, Room> rooms;
  std::unordered_map<std::string, std::shared_ptr<ViewClass>> classes;
  std::map<std::string, std::uint64_t> closed;  // by reason

  // Work for the realtime thread.
  struct Item {
    enum class Kind : std::uint8_t { Commit, Ack, Poke, Presence } kind;
    std::uint64_t version = 0;
    std::shared_ptr<const CommitEvent> event;  // Commit
    bool deferred = false;                     // Commit: wait for its Ack
    std::string room;                          // Ack (the pushing group), Poke, Presence
    Clock::time_point at{};
  };
  std::mutex qmu;
  std::condition_variable qcv;
  std::vector<Item> queue;
  bool stopping = false;
  bool stopped = false;
  std::thread thread;
  CommitSubscription subscription;

  // Realtime thread only: push commits waiting for their acknowledgement.
  struct PendingCommit {
    std::uint64_t version;
    std::vector<std::string> rooms;
  };
  std::vector<PendingCommit> pending;

  std::atomic<std::uint64_t> poke_messages{0}, poke_rounds{0}, presence_messages{0};

  Impl(Database& d, RealtimeOptions o) : db(d), options(std::move(o)) {}

  void enqueue(Item item) {
    {
      std::lock_guard lock(qmu);
      if (stopping) return;
      queue.push_back(std::move(item));
    }
    qcv.notify_one();
  }

  // ---- commit observer (committing thread; quick) ----

  void onCommit(const std::shared_ptr<const CommitEvent>& event) {
    // The observer runs under the engine's commit order lock: no other
    // commit can land before headVersion() reads this one's head.
    Item item{Item::Kind::Commit};
    item.version = db.headVersion();
    item.event = event;
    item.deferred = t_sync_writer;
    item.at = Clock::now();
    enqueue(std::move(item));
  }

  // ---- socket lifecycle (I/O threads) ----

  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) const {
    if (options.log != nullptr) options.log->log(level, msg, fields);
  }

  void closeSocket(const std::shared_ptr<net::WsConnection>& conn, std::uint16_t code, std::string reason,
                   const char* kind) {
    {
      std::lock_guard lock(mu);
      ++closed[kind];
    }
    log(LogLevel::Debug, "websocket closed", {{"id", std::to_string(conn->id())}, {"kind", kind}, {"reason", reason}});
    conn->close(code, std::move(reason));
    drop(conn->id());  // leave the room now, not after the closing handshake
  }

  std::shared_ptr<ViewClass> buildClass(const std::any& ctx) {
    auto view = std::make_shared<ViewClass>();
    for (const auto& t : db.schema().tables()) {
      if (!t->options.auth.read || t->options.change_log_suppressed) continue;
      auto p = std::make_unique<ViewClass::Pred>();
      p->table = t.get();
      p->expr = t->options.auth.read(ctx);
      if (p->expr) {
        std::vector<Expr> disjuncts;
        flattenOr(p->expr, disjuncts);
        for (const auto& d : disjuncts) p->any_of.emplace_back(d, *t, kNoParams);
      }
      view->key.append(t->name).push_back('=');
      appendExprKey(view->key, p->expr);
      view->key.push_back(';');
      view->preds.push_back(std::move(p));
    }
    return view;
  }

  void onOpen(const std::shared_ptr<net::WsConnection>& conn) {
    const net::HttpRequest& req = conn->upgradeRequest();
    const auto group = req.queryParam("clientGroupID");
    const auto client = req.queryParam("clientID");
    const auto room = req.queryParam("room");
    for (const auto& problem : {checkParam("clientGroupID", group, true), checkParam("clientID", client, true),
                                checkParam("room", room, false)}) {
      if (!problem.empty()) {
        closeSocket(conn, kCloseBadRequest, "bad request: " + problem, "bad_request");
        return;
      }
    }
    std::any ctx;
    if (options.auth) {
      AuthResult a;
      try {
        a = options.auth(AuthRequest{req, *group, "ws"});
      } catch (const std::exception& e) {
        a = AuthResult::deny(std::string("auth failed: ") + e.what());
      }
      if (!a.ok) {
        closeSocket(conn, kCloseUnauthorized, "unauthorized: " + (a.reason.empty() ? std::string("not authorized") : a.reason),
                    "unauthorized");
        return;
      }
      if (!a.client_group_id.empty() && a.client_group_id != *group) {
        closeSocket(conn, kCloseUnauthorized, "unauthorized: these credentials are for another client group",
                    "unauthorized");
        return;
      }
      bool foreign = false;
      try {
        foreign = sync::groupOwnedByAnother(db, *group, a.user);
      } catch (const std::exception& e) {
        log(LogLevel::Error, "websocket: reading the client group's owner failed", {{"error", e.what()}});
        closeSocket(conn, kCloseInternal, "internal error: the client group could not be checked", "internal");
        return;
      }
      if (foreign) {
        closeSocket(conn, kCloseUnauthorized, "unauthorized: client group '" + std::string(*group) +
                                                  "' belongs to another user", "unauthorized");
        return;
      }
      ctx = std::move(a.ctx);
    }
    std::shared_ptr<ViewClass> view;
    try {
      view = buildClass(ctx);
    } catch (const std::exception& e) {
      log(LogLevel::Error, "websocket: auth.read failed for the socket's ctx", {{"error", e.what()}});
      closeSocket(conn, kCloseInternal, "internal error: the read predicates could not be built", "internal");
      return;
    }
    const auto presence_param = req.queryParam("presence");
    auto socket = std::make_unique<Socket>();
    socket->conn = conn;
    socket->room = room && !room->empty() ? std::string(*room) : std::string(*group);
    socket->client_id = std::string(*client);
    socket->presence = !(presence_param && (*presence_param == "off" || *presence_param == "0" || *presence_param == "false"));
    const std::string room_name = socket->room;
    const bool listed = socket->presence;
    {
      std::lock_guard lock(mu);
      auto [it, inserted] = classes.try_emplace(view->key, view);
      socket->view = it->second;  // share an existing class with the same predicates
      ++socket->view->sockets;
      ++socket->view->rooms[room_name];
      rooms[room_name].sockets.push_back(socket.get());
      sockets.emplace(conn->id(), std::move(socket));
    }
    if (listed) enqueue(Item{Item::Kind::Presence, 0, nullptr, false, room_name, Clock::now()});
  }

  // Removes a socket from the registry (idempotent); a listed socket's room
  // gets a new presence list.
  void drop(std::uint64_t id) {
    std::string room_name;
    bool listed = false;
    {
      std::lock_guard lock(mu);
      auto it = sockets.find(id);
      if (it == sockets.end()) return;
      Socket* s = it->second.get();
      room_name = s->room;
      listed = s->presence;
      if (auto r = rooms.find(room_name); r != rooms.end()) {
        std::erase(r->second.sockets, s);
        if (r->second.sockets.empty()) rooms.erase(r);
      }
      ViewClass& v = *s->view;
      if (auto r = v.rooms.find(room_name); r != v.rooms.end() && --r->second == 0) v.rooms.erase(r);
      if (--v.sockets == 0) classes.erase(v.key);
      sockets.erase(it);
    }
    if (listed) enqueue(Item{Item::Kind::Presence, 0, nullptr, false, room_name, Clock::now()});
  }

  void onMessage(const std::shared_ptr<net::WsConnection>& conn, std::string_view message, bool binary) {
    bool flood = false;
    {
      std::lock_guard lock(mu);
      auto it = sockets.find(conn->id());
      if (it == sockets.end()) return;  // being closed: ignore what it still sends
      Socket& s = *it->second;
      const auto now = Clock::now();
      if (now - s.window_start >= std::chrono::seconds(1)) {
        s.window_start = now;
        s.window_messages = 0;
      }
      flood = ++s.window_messages > options.max_messages_per_second;
    }
    if (flood) {
      closeSocket(conn, kClosePolicy,
                  "flood: more than " + std::to_string(options.max_messages_per_second) + " messages per second", "flood");
      return;
    }
    if (binary) {
      closeSocket(conn, kCloseUnsupportedData, "binary frames are not accepted: send JSON text", "binary");
      return;
    }
    boost::system::error_code ec;
    boost::json::value v = parseJsonExact(message, ec, {}, sync::jsonParseOptions());
    if (ec) {
      closeSocket(conn, kCloseInvalidPayload, "invalid JSON: " + ec.message(), "invalid_json");
      return;
    }
    const auto* obj = v.if_object();
    const auto* type = obj != nullptr ? obj->if_contains("type") : nullptr;
    if (type == nullptr || !type->is_string()) {
      closeSocket(conn, kCloseInvalidPayload, "a message must be a JSON object with a string \"type\"",
                  "invalid_message");
      return;
    }
    if (type->as_string() != "presence") {
      closeSocket(conn, kClosePolicy,
                  "unknown message type " + shortQuote(type->as_string()) + " (expected \"presence\")",
                  "invalid_message");
      return;
    }
    const boost::json::value* info = obj->if_contains("userInfo");
    if (info == nullptr || !(info->is_object() || info->is_null())) {
      closeSocket(conn, kCloseInvalidPayload, "presence: userInfo must be a JSON object (or null)", "invalid_message");
      return;
    }
    // The presence list carries userInfo three levels down: deeper would be
    // more than the peers' parsers accept.
    if (const std::size_t depth = sync::jsonDepth(*info); depth > sync::kMaxValueDepth) {
      closeSocket(conn, kCloseInvalidPayload,
                  "presence: userInfo nests arrays and objects " + std::to_string(depth) + " deep; at most " +
                      std::to_string(sync::kMaxValueDepth),
                  "invalid_message");
      return;
    }
    if (!sync::allNumbersFinite(*info)) {
      closeSocket(conn, kCloseInvalidPayload,
                  "presence: userInfo holds a number out of the range of a double (such as 1e999)", "invalid_message");
      return;
    }
    const std::size_t size = boost::json::serialize(*info).size();
    if (size > options.max_user_info_bytes) {
      closeSocket(conn, kCloseTooBig,
                  "presence: userInfo of " + std::to_string(size) + " bytes exceeds the limit of " +
                      std::to_string(options.max_user_info_bytes),
                  "user_info_too_large");
      return;
    }
    std::string room_name;
    {
      std::lock_guard lock(mu);
      auto it = sockets.find(conn->id());
      if (it == sockets.end()) return;
      it->second->user_info = *info;
      if (!it->second->presence) return;  // opted out: remembered, not broadcast
      room_name = it->second->room;
    }
    enqueue(Item{Item::Kind::Presence, 0, nullptr, false, std::move(room_name), Clock::now()});
  }

  // ---- the realtime thread ----

  // The rooms whose sockets may see one of the event's rows.
  std::vector<std::string> roomsFor(const CommitEvent& event) {
    std::vector<std::shared_ptr<ViewClass>> snapshot;
    {
      std::lock_guard lock(mu);
      if (rooms.empty()) return {};
      snapshot.reserve(classes.size());
      for (const auto& [key, c] : classes) snapshot.push_back(c);
    }
    std::vector<char> hit(snapshot.size(), 0);
    std::size_t hits = 0;
    bool everyone = false;
    for (const RowChange& change : event.changes) {
      const TableSpec* table = change.table;
      if (table == nullptr || table->options.change_log_suppressed) continue;  // never synced
      if (!table->options.auth.read) {
        everyone = true;
        break;
      }
      for (std::size_t i = 0; i < snapshot.size(); ++i) {
        if (hit[i]) continue;
        const ViewClass::Pred* p = snapshot[i]->predFor(table);
        bool visible = true;
        if (p != nullptr) {
          try {
            visible = rowVisible(*p, change.before) || rowVisible(*p, change.after);
          } catch (const std::exception&) {
            visible = true;  // cannot tell: a spurious poke costs one pull
          }
        }
        if (visible) {
          hit[i] = 1;
          ++hits;
        }
      }
      if (hits == snapshot.size()) break;
    }
    std::vector<std::string> out;
    std::lock_guard lock(mu);
    if (everyone) {
      out.reserve(rooms.size());
      for (const auto& [name, r] : rooms) out.push_back(name);
      return out;
    }
    for (std::size_t i = 0; i < snapshot.size(); ++i) {
      if (!hit[i]) continue;
      for (const auto& [name, n] : snapshot[i]->rooms) out.push_back(name);
    }
    return out;
  }

  void sendPokes(const std::unordered_set<std::string>& targets, std::uint64_t version, Clock::time_point since) {
    std::vector<std::shared_ptr<net::WsConnection>> conns;
    std::size_t sent = 0;
    for (const auto& room : targets) {
      conns.clear();
      {
        std::lock_guard lock(mu);
        auto it = rooms.find(room);
        if (it == rooms.end()) continue;
        conns.reserve(it->second.sockets.size());
        for (const Socket* s : it->second.sockets) conns.push_back(s->conn);
      }
      if (conns.empty()) continue;
      const std::string msg = sync::encodePoke(sync::Encoding::Json, sync::Poke{room, version});
      net::WsConnection::broadcastText(conns, msg);
      sent += conns.size();
    }
    if (sent == 0) return;
    poke_messages.fetch_add(sent, std::memory_order_relaxed);
    poke_rounds.fetch_add(1, std::memory_order_relaxed);
    if (options.on_fanout) options.on_fanout(Clock::now() - since);
  }

  void sendPresence(const std::string& room) {
    std::vector<std::shared_ptr<net::WsConnection>> conns;
    sync::Presence p;
    p.room = room;
    {
      std::lock_guard lock(mu);
      auto it = rooms.find(room);
      if (it == rooms.end()) return;  // everyone left
      for (const Socket* s : it->second.sockets) {
        if (!s->presence) continue;
        p.clients.push_back(sync::PresenceEntry{s->client_id, s->user_info});
        conns.push_back(s->conn);
      }
    }
    if (conns.empty()) return;
    const std::string msg = sync::encodePresence(sync::Encoding::Json, p);
    net::WsConnection::broadcastText(conns, msg);
    presence_messages.fetch_add(conns.size(), std::memory_order_relaxed);
  }

  void run() {
    std::vector<Item> items;
    for (;;) {
      {
        std::unique_lock lock(qmu);
        qcv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping and drained
        items.swap(queue);
      }
      // Everything queued so far is handled as one round: a burst of
      // acknowledgements (a group commit) or joins sends one message per
      // room, not one per event.
      std::unordered_set<std::string> poke_rooms;
      std::unordered_set<std::string> presence_rooms;
      std::uint64_t version = 0;
      Clock::time_point since = Clock::time_point::max();
      for (auto& item : items) {
        switch (item.kind) {
          case Item::Kind::Commit: {
            std::vector<std::string> affected = roomsFor(*item.event);
            if (item.deferred) {
              pending.push_back(PendingCommit{item.version, std::move(affected)});
            } else {
              for (auto& r : affected) poke_rooms.insert(std::move(r));
              version = std::max(version, item.version);
              since = std::min(since, item.at);
            }
            break;
          }
          case Item::Kind::Ack: {
            // Durability is monotonic: every push commit at or before the
            // acknowledged version is durable now.
            auto end = std::find_if(pending.begin(), pending.end(),
                                    [&](const PendingCommit& c) { return c.version > item.version; });
            for (auto it = pending.begin(); it != end; ++it) {
              for (auto& r : it->rooms) poke_rooms.insert(std::move(r));
            }
            pending.erase(pending.begin(), end);
            poke_rooms.insert(std::move(item.room));
            version = std::max(version, item.version);
            since = std::min(since, item.at);
            break;
          }
          case Item::Kind::Poke:
            poke_rooms.insert(std::move(item.room));
            version = std::max(version, item.version);
            since = std::min(since, item.at);
            break;
          case Item::Kind::Presence: presence_rooms.insert(std::move(item.room)); break;
        }
      }
      items.clear();
      try {
        if (!poke_rooms.empty()) sendPokes(poke_rooms, version, since);
        for (const auto& room : presence_rooms) sendPresence(room);
      } catch (const std::exception& e) {
        log(LogLevel::Error, "realtime: fan-out failed", {{"error", e.what()}});
      }
    }
  }
};

// ---- Realtime -----------------------------------------------------------------------

Realtime::Realtime(Database& db, RealtimeOptions options) : impl_(std::make_unique<Impl>(db, std::move(options))) {
  Impl* m = impl_.get();
  m->thread = std::thread([m] { m->run(); });
  m->subscription = db.onCommit([m](const std::shared_ptr<const CommitEvent>& e) { m->onCommit(e); });
}

Realtime::~Realtime() { stop(); }

void Realtime::stop() {
  Impl& m = *impl_;
  m.subscription.reset();
  {
    std::lock_guard lock(m.qmu);
    if (m.stopped) return;
    m.stopping = true;
    m.stopped = true;
  }
  m.qcv.notify_one();
  if (m.thread.joinable()) m.thread.join();
}

net::WsHandler Realtime::wsHandler() {
  Impl* m = impl_.get();
  net::WsHandler h;
  h.path = m->options.ws_path;
  h.onOpen = [m](const std::shared_ptr<net::WsConnection>& c) { m->onOpen(c); };
  h.onMessage = [m](const std::shared_ptr<net::WsConnection>& c, std::string_view msg, bool binary) {
    m->onMessage(c, msg, binary);
  };
  h.onClose = [m](const std::shared_ptr<net::WsConnection>& c) { m->drop(c->id()); };
  return h;
}

sync::MutatorRunner Realtime::markWriter(sync::MutatorRunner runner) {
  return [inner = std::move(runner)](Tx& tx, const sync::MutatorCallInfo& call) {
    t_sync_writer = true;
    inner(tx, call);
  };
}

void Realtime::onPushed(const sync::PushRequest& request, const sync::PushResponse& response) {
  impl_->enqueue(Impl::Item{Impl::Item::Kind::Ack, response.version, nullptr, false, request.client_group_id,
                            Clock::now()});
}

std::size_t Realtime::poke(std::string_view room, std::uint64_t version) {
  std::size_t n = 0;
  {
    std::lock_guard lock(impl_->mu);
    if (auto it = impl_->rooms.find(std::string(room)); it != impl_->rooms.end()) n = it->second.sockets.size();
  }
  impl_->enqueue(Impl::Item{Impl::Item::Kind::Poke, version, nullptr, false, std::string(room), Clock::now()});
  return n;
}

RealtimeStats Realtime::stats() const {
  const Impl& m = *impl_;
  RealtimeStats s;
  {
    std::lock_guard lock(m.mu);
    s.open_sockets = m.sockets.size();
    s.rooms = m.rooms.size();
    s.view_classes = m.classes.size();
    s.closed = m.closed;
  }
  s.poke_messages = m.poke_messages.load(std::memory_order_relaxed);
  s.poke_rounds = m.poke_rounds.load(std::memory_order_relaxed);
  s.presence_messages = m.presence_messages.load(std::memory_order_relaxed);
  return s;
}

}  // namespace plasma::node
