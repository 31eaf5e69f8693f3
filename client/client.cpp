// client/client.cpp — the client engine. Design and persistence layout:
// docs/client.md.
#include "client/client.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "engine/json_parse.hpp"
#include "engine/store.hpp"
#include "net/http_client.hpp"
#include "plasma/operators.hpp"
#include "sync/codec.hpp"
#include "sync/errors.hpp"

namespace plasma::client {

namespace json = boost::json;

std::string_view errorKindName(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::Network: return "Network";
    case ErrorKind::Server: return "Server";
    case ErrorKind::RateLimited: return "RateLimited";
    case ErrorKind::Unauthorized: return "Unauthorized";
    case ErrorKind::SchemaMismatch: return "SchemaMismatch";
    case ErrorKind::ClientStateNotFound: return "ClientStateNotFound";
    case ErrorKind::BadRequest: return "BadRequest";
    case ErrorKind::Protocol: return "Protocol";
    case ErrorKind::MutationRejected: return "MutationRejected";
    case ErrorKind::Storage: return "Storage";
  }
  return "?";
}

std::string_view outcomeKindName(OutcomeKind k) noexcept {
  switch (k) {
    case OutcomeKind::Applied: return "applied";
    case OutcomeKind::Failed: return "failed";
    case OutcomeKind::Confirmed: return "confirmed";
    case OutcomeKind::Discarded: return "discarded";
    case OutcomeKind::Detached: return "detached";
  }
  return "?";
}

Transport httpTransport(std::string host, std::uint16_t port, std::chrono::milliseconds timeout) {
  // The client object is created on first use; the client engine calls its
  // transport from one thread at a time (under its sync mutex).
  auto http = std::make_shared<std::unique_ptr<net::HttpClient>>();
  return [http, host = std::move(host), port, timeout](const TransportRequest& r) {
    if (!*http) *http = std::make_unique<net::HttpClient>(host, port, timeout);
    try {
      return (*http)->request(r.method, r.target, r.body, r.content_type, r.headers);
    } catch (...) {
      http->reset();  // a fresh connection next time
      throw;
    }
  };
}

namespace {

// ---- the client's internal tables (change-log suppressed: local only) ----------

// Pending mutations, in the order they were made. id: 20-digit sequence.
struct OutboxTable : Table {
  OutboxTable() : Table("plasma_client_outbox", TableOptions{.change_log_suppressed = true}) {}
  TextColumn id{this, plasma::id()};
  TextColumn client{this, text("client")};
  IntColumn mid{this, integer("mid")};
  TextColumn name{this, text("name")};
  TextColumn args{this, text("args")};
  IntColumn ts{this, integer("ts")};
  // Made before its client learnt the server's lastMutationID in this
  // session (relaxed durability only; the id floor, docs/client.md): its id
  // may be one the server confirmed for a mutation a crash lost. No member of
  // the group pushes it, and no rebase confirms it by id, until its own
  // client's first pull has re-numbered it where needed and cleared this.
  IntColumn unverified{this, integer("unverified").defaultTo(0)};
};

// Base images: for every application row a pending mutation touched, the
// row as it was before the first pending mutation touched it.
// id: "<table>/<row id>".
struct UndoTable : Table {
  UndoTable() : Table("plasma_client_undo", TableOptions{.change_log_suppressed = true}) {}
  TextColumn id{this, plasma::id()};
  TextColumn tbl{this, text("tbl")};
  TextColumn rid{this, text("rid")};
  IntColumn existed{this, integer("existed")};
  TextColumn before{this, text("before").defaultTo("")};  // the row as JSON (RowView::toJson)
};

// Key/value: clientGroupID, clientID, cookie, nextMutationID, seq.
struct MetaTable : Table {
  MetaTable() : Table("plasma_client_meta", TableOptions{.change_log_suppressed = true}) {}
  TextColumn id{this, plasma::id()};
  TextColumn value{this, text("value")};
};

// What a push answered for another client's mutation (a client of the same
// group, maybe in another process, pushed it): kept until that client's
// handle reads it. id: "<clientID>/<20-digit mutation id>".
struct ResultTable : Table {
  ResultTable() : Table("plasma_client_results", TableOptions{.change_log_suppressed = true}) {}
  TextColumn id{this, plasma::id()};
  TextColumn kind{this, text("kind")};
  TextColumn error{this, text("error").defaultTo("")};
  TextColumn message{this, text("message").defaultTo("")};
};

const OutboxTable& outboxTable() {
  static const OutboxTable t;
  return t;
}
const UndoTable& undoTable() {
  static const UndoTable t;
  return t;
}
const MetaTable& metaTable() {
  static const MetaTable t;
  return t;
}

const ResultTable& resultTable() {
  static const ResultTable t;
  return t;
}

bool isInternal(const TableSpec* t) {
  return t == &outboxTable().spec() || t == &undoTable().spec() || t == &metaTable().spec() ||
         t == &resultTable().spec();
}

// ---- one store per data directory per process ----------------------------------------
//
// LMDB must not open one environment twice in a process, so the Clients of
// one directory in a process share one Database (and so each other's live
// queries). Processes share the directory through LMDB itself.
struct SharedStore {
  std::string signature;  // schema version + tables: every Client of the dir must agree
  Schema schema;
  Database database;
};

std::mutex& registryMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::weak_ptr<SharedStore>>& registry() {
  static std::map<std::string, std::weak_ptr<SharedStore>> r;
  return r;
}

std::shared_ptr<SharedStore> openStore(const std::filesystem::path& dir, const std::string& version,
                                       const std::vector<std::reference_wrapper<const Table>>& tables,
                                       Durability durability) {
  std::filesystem::create_directories(dir);
  const std::string key = std::filesystem::canonical(dir).string();
  std::string signature = version;
  for (const auto& t : tables) signature += "|" + t.get().name();
  std::lock_guard l(registryMutex());
  if (auto existing = registry()[key].lock()) {
    if (existing->signature != signature) {
      throw Error(ErrorCode::InvalidArgument, "client: " + key +
                                                  " is open in this process by a Client with another schema ('" +
                                                  existing->signature + "', this one '" + signature + "')");
    }
    return existing;
  }
  Schema schema = defineSchema(version.empty() ? "client" : version, tables);
  OpenOptions oo;
  oo.durability = durability;
  oo.change_log = false;  // a client store serves no pulls: nothing to log
  Database db = Database::open(dir, schema, oo);
  db.ensureSchema();
  auto store = std::make_shared<SharedStore>(SharedStore{std::move(signature), std::move(schema), std::move(db)});
  registry()[key] = store;
  return store;
}

// A slot is one live Client of the directory: slot n holds the flock on
// `client-<n>.lock` (released by the kernel when the process dies, even by
// kill -9) and owns the clientID persisted under its number, so a Client
// that restarts takes the id (and the pending mutations) of the slot it gets.
struct Slot {
  int number = -1;
  int fd = -1;
  Slot() = default;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() {
    if (fd >= 0) ::close(fd);  // releases the lock
  }
};

constexpr int kMaxSlots = 64;

std::unique_ptr<Slot> takeSlot(const std::filesystem::path& dir) {
  for (int n = 0; n < kMaxSlots; ++n) {
    const std::string path = (dir / ("client-" + std::to_string(n) + ".lock")).string();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw Error(ErrorCode::Storage, "client: cannot open " + path + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      auto slot = std::make_unique<Slot>();
      slot->number = n;
      slot->fd = fd;
      return slot;
    }
    ::close(fd);
  }
  throw Error(ErrorCode::InvalidArgument, "client: " + dir.string() + " already has " + std::to_string(kMaxSlots) +
                                              " Clients open (the most one directory takes)");
}

// Per-client counters in the meta table.
std::string nextKey(const std::string& client) { return "nextMutationID/" + client; }
std::string pushedKey(const std::string& client) { return "pushedMutationID/" + client; }
std::string lmidKey(const std::string& client) { return "lmid/" + client; }

std::string slotKey(int n) { return n == 0 ? "clientID" : "clientID." + std::to_string(n); }

std::optional<std::string> getMeta(const ReadTx& tx, std::string_view key) {
  const auto row = tx.get(metaTable(), key);
  if (!row) return std::nullopt;
  return std::string(row->get(metaTable().value).value_or(""));
}

void setMeta(Tx& tx, std::string_view key, const std::string& value) {
  const auto& m = metaTable();
  if (tx.get(m, key)) {
    (void)tx.update(m).set({{m.value, value}}).where(eq(m.id, std::string(key)));
  } else {
    (void)tx.insert(m).values({{m.id, std::string(key)}, {m.value, value}});
  }
}

std::int64_t toInt(const std::optional<std::string>& s, std::int64_t dflt) {
  if (!s || s->empty()) return dflt;
  std::int64_t v = dflt;
  std::from_chars(s->data(), s->data() + s->size(), v);
  return v;
}

std::string seqKey(std::int64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(seq));
  return buf;
}

Expr idEquals(const TableSpec& spec, std::string_view id) {
  const int col = spec.findColumn("id");
  return eq(AnyColumn{&spec, static_cast<std::uint32_t>(col)}.expr(), lit(Value(std::string(id))));
}

// Runs fn with the transaction's commit-observer capture reset, and returns
// the net row changes fn made (first before-image, last after-image per
// row). Those changes are then merged back into the transaction's capture
// when someone observes commits, so observers still see the whole
// transaction as one net change.
template <class F>
std::vector<RowChange> captureScope(Tx& tx, F&& fn) {
  detail::TxnState& s = tx.state();
  const bool was_capturing = s.capture;
  auto saved = std::move(s.changes);
  auto saved_index = std::move(s.change_index);
  s.changes.clear();
  s.change_index.clear();
  s.capture = true;
  auto restore = [&](std::vector<RowChange>* inner) {
    std::vector<RowChange> mine = std::move(s.changes);
    s.changes = std::move(saved);
    s.change_index = std::move(saved_index);
    s.capture = was_capturing;
    if (inner != nullptr) {
      if (was_capturing) {
        for (const auto& c : mine) s.recordChange(c.table, c.id, c.before, c.after);
      }
      *inner = std::move(mine);
    }
  };
  try {
    fn();
  } catch (...) {
    restore(nullptr);
    throw;
  }
  std::vector<RowChange> inner;
  restore(&inner);
  return inner;
}

double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct PendingMutation {
  std::string key;  // outbox row id
  std::string client;
  std::int64_t mid = 0;
  std::string name;
  std::string args;
  std::int64_t ts = 0;
  bool unverified = false;
};

std::vector<PendingMutation> readOutbox(const ReadTx& tx, std::size_t limit = SIZE_MAX) {
  const auto& o = outboxTable();
  std::vector<PendingMutation> out;
  tx.scan(o, [&](const RowView& r) {
    out.push_back(PendingMutation{std::string(r.id()), std::string(r.get(o.client).value_or("")),
                                  r.get(o.mid).value_or(0), std::string(r.get(o.name).value_or("")),
                                  std::string(r.get(o.args).value_or("null")), r.get(o.ts).value_or(0),
                                  r.get(o.unverified).value_or(0) != 0});
    return out.size() < limit;
  });
  return out;
}

// An HTTP failure that ended an operation.
struct OperationFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

// ---- Impl -------------------------------------------------------------------------

struct Client::Impl {
  ClientOptions o;
  std::vector<std::reference_wrapper<const Table>> all_tables;
  std::shared_ptr<SharedStore> store;
  Database* database = nullptr;
  std::unique_ptr<Slot> slot;
  std::string group_id, client_id, profile_id, schema_version;
  mutable std::mutex id_mu;  // client_id (changes on resetLocalState)
  std::string cid() const {
    std::lock_guard l(id_mu);
    return client_id;
  }
  // The mutation-id floor (docs/client.md): until a pull of this session
  // has told us the server's lastMutationID for this client, the ids of
  // mutations made in this session may collide with ids the server already
  // confirmed (a relaxed-durability crash rolled nextMutationID back).
  // Mutations made before that pull are marked in the outbox (unverified);
  // guarded by the LMDB writer lock (touched only inside write transactions).
  bool floor_verified = false;
  std::atomic<bool> sync_stopped{false};  // schema mismatch

  mutable std::mutex sync_mu;  // push/pull/rebase, and the transport
  Transport transport;
  bool default_transport = false;

  std::mutex mu;  // promises, failures, stop flag, wake
  std::condition_variable cv;
  bool stopping = false;
  bool wake = false;
  std::atomic<bool> offline{false};
  std::map<std::pair<std::string, std::int64_t>, std::promise<Outcome>> promises;
  std::map<std::pair<std::string, std::int64_t>, std::shared_future<Outcome>> futures;
  std::map<std::pair<std::string, std::int64_t>, Outcome> push_results;  // what pushes reported
  std::thread loop_thread, ws_thread;
  // Presence: this client's userInfo (sent by the socket thread when
  // dirty) and the room's last list. mu.
  std::optional<json::value> my_presence;
  bool presence_dirty = false;
  std::vector<PresenceEntry> room_presence;
  bool started = false;

  mutable std::mutex stats_mu;
  ClientStats st;

  std::mt19937_64 rng{std::random_device{}()};

  explicit Impl(ClientOptions opts) : o(std::move(opts)) {
    if (!o.runner) throw Error(ErrorCode::InvalidArgument, "client: options.runner is required");
    if (o.data_dir.empty()) throw Error(ErrorCode::InvalidArgument, "client: options.data_dir is required");
    schema_version = o.schema_version;
    // With Durability::Full nextMutationID never goes back (every mutate is
    // synced before it returns), so ids made before this session's first
    // pull cannot collide with confirmed ones: there is no floor to learn.
    // (Treating them as unverified is harmful in a client group: another
    // member may push them; they were then re-numbered and run again.)
    floor_verified = o.durability == Durability::Full;
    all_tables = o.tables;
    all_tables.push_back(outboxTable());
    all_tables.push_back(undoTable());
    all_tables.push_back(metaTable());
    all_tables.push_back(resultTable());
    store = openStore(o.data_dir, schema_version, all_tables, o.durability);
    database = &store->database;
    slot = takeSlot(o.data_dir);
    database->write([&](Tx& tx) {
      auto g = getMeta(tx, "clientGroupID");
      if (!o.client_group_id.empty() && g && *g != o.client_group_id) {
        // Another group's data: the outbox and base belong to that group.
        throw Error(ErrorCode::InvalidArgument,
                    "client: data dir belongs to client group '" + *g + "', not '" + o.client_group_id + "'");
      }
      if (!g) {
        g = o.client_group_id.empty() ? plasma::newId() : o.client_group_id;
        setMeta(tx, "clientGroupID", *g);
      }
      group_id = *g;
      auto c = getMeta(tx, slotKey(slot->number));
      if (!c) {
        c = plasma::newId();
        setMeta(tx, slotKey(slot->number), *c);
      }
      client_id = *c;
      // Before client groups, the per-client counters had no clientID in
      // their key (slot 0 owned them).
      if (slot->number == 0) {
        for (const char* legacy : {"nextMutationID", "pushedMutationID"}) {
          if (auto v = getMeta(tx, legacy)) {
            setMeta(tx, std::string(legacy) + "/" + client_id, *v);
            const auto& m = metaTable();
            (void)tx.deleteFrom(m).where(eq(m.id, std::string(legacy)));
          }
        }
      }
      // Push results kept for an earlier run of this slot: their handles are gone.
      const auto& r = resultTable();
      (void)tx.deleteFrom(r).where(like(r.id, client_id + "/%"));
    });
    profile_id = o.profile_id.empty() ? "p-" + group_id : o.profile_id;
    offline = o.offline;
    if (o.transport) {
      transport = o.transport;
    } else {
      transport = httpTransport(o.host, o.port, o.request_timeout);
      default_transport = true;
    }
  }

  ~Impl() {
    stop();
    // Handles outlive their Client: resolve them rather than break them.
    std::lock_guard l(mu);
    for (auto& [key, p] : promises) p.set_value(Outcome{key.first, key.second, OutcomeKind::Detached, {}, {}});
    promises.clear();
  }

  void bump(std::uint64_t ClientStats::*field) {
    std::lock_guard l(stats_mu);
    ++(st.*field);
  }

  void report(ErrorKind kind, std::string message, int status = 0, bool will_retry = false) {
    if (o.on_error) {
      try {
        o.on_error(ClientError{kind, std::move(message), status, will_retry});
      } catch (...) {
      }
    }
  }

  // A table's depth in the foreign-key graph: 0 without references, else
  // one more than the deepest table it references (self-references and
  // cycles are cut).
  int tableRank(const std::string& name) const {
    std::function<int(const std::string&, int)> rank = [&](const std::string& n, int depth) -> int {
      const Table* t = userTable(n);
      if (t == nullptr || depth > 16) return 0;
      int r = 0;
      for (const auto& c : t->spec().columns) {
        if (c.ref && c.ref->table != n) r = std::max(r, 1 + rank(c.ref->table, depth + 1));
      }
      return r;
    };
    return rank(name, 0);
  }

  const Table* userTable(std::string_view name) const {
    for (const auto& t : o.tables) {
      if (t.get().name() == name) return &t.get();
    }
    return nullptr;
  }

  // ---- row writes through the public API -------------------------------------

  void putRow(Tx& tx, const Table& t, std::string_view id, json::object value) {
    value.erase("id");
    if (tx.get(t, id)) {
      if (!value.empty()) (void)tx.update(t).set(value).where(idEquals(t.spec(), id));
    } else {
      value["id"] = id;
      (void)tx.insert(t).values(value);
    }
  }
  void deleteRow(Tx& tx, const Table& t, std::string_view id) { (void)tx.deleteFrom(t).where(idEquals(t.spec(), id)); }

  // Records base images for the rows `changes` touched that no pending
  // mutation touched before.
  void recordUndo(Tx& tx, const std::vector<RowChange>& changes) {
    const auto& u = undoTable();
    for (const auto& c : changes) {
      if (isInternal(c.table)) continue;
      const std::string key = c.table->name + "/" + c.id;
      if (tx.get(u, key)) continue;
      (void)tx.insert(u).values({{u.id, key},
                                 {u.tbl, c.table->name},
                                 {u.rid, c.id},
                                 {u.existed, std::int64_t{c.before ? 1 : 0}},
                                 {u.before, c.before ? json::serialize(c.before->toJson()) : std::string()}});
    }
  }

  // JSON text this client stored itself: a pending mutation's args, the
  // image of a row before local mutations (up to kMaxJsonDepth deep, as
  // mutate() and the row checks allow).
  static json::value parseStored(std::string_view text) {
    return parseJsonExact(text, {}, sync::jsonParseOptions());
  }

  // Runs a pending mutation locally. Returns false when the mutator threw
  // (locally: its writes are undone, the mutation stays pending — the
  // server decides).
  bool runPending(Tx& tx, const PendingMutation& m, bool rethrow) {
    const json::value args = parseStored(m.args);
    auto changes = captureScope(tx, [&] {
      auto body = [&](Tx& inner) {
        inner.setContext(WriteContext{group_id, m.client, m.mid});
        const std::any ctx = o.get_context ? o.get_context() : o.ctx;
        o.runner(inner, sync::MutatorCallInfo{m.name, args, ctx, group_id, m.client, m.mid});
      };
      if (rethrow) {
        body(tx);
      } else {
        try {
          tx.savepoint(body);
        } catch (const std::exception&) {
        }
      }
    });
    recordUndo(tx, changes);
    return true;
  }

  MutationHandle mutate(std::string_view name, json::value args) {
    // JSON cannot carry infinity or NaN: such args would make every later push of the outbox
    // unreadable to the server, so they are refused before anything is written.
    if (!sync::allNumbersFinite(args)) {
      throw Error(ErrorCode::InvalidArgument,
                  "mutate(\"" + std::string(name) + "\"): args hold a number that is not finite (JSON cannot carry it)");
    }
    if (const std::size_t depth = sync::jsonDepth(args); depth > sync::kMaxValueDepth) {
      throw Error(ErrorCode::InvalidArgument, "mutate(\"" + std::string(name) + "\"): args nest arrays and objects " +
                                                  std::to_string(depth) + " deep; a push can carry at most " +
                                                  std::to_string(sync::kMaxValueDepth));
    }
    PendingMutation m;
    m.name = std::string(name);
    m.args = json::serialize(args);
    m.ts = static_cast<std::int64_t>(nowMs());
    std::promise<Outcome> promise;
    std::shared_future<Outcome> future = promise.get_future().share();
    database->write([&](Tx& tx) {
      m.client = cid();
      m.mid = toInt(getMeta(tx, nextKey(m.client)), 1);
      const std::int64_t seq = toInt(getMeta(tx, "seq"), 1);
      m.key = seqKey(seq);
      runPending(tx, m, /*rethrow=*/true);
      const auto& ob = outboxTable();
      (void)tx.insert(ob).values({{ob.id, m.key},
                                  {ob.client, m.client},
                                  {ob.mid, m.mid},
                                  {ob.name, m.name},
                                  {ob.args, m.args},
                                  {ob.ts, m.ts},
                                  {ob.unverified, std::int64_t{floor_verified ? 0 : 1}}});
      setMeta(tx, nextKey(m.client), std::to_string(m.mid + 1));
      setMeta(tx, "seq", std::to_string(seq + 1));
    });
    {
      std::lock_guard l(mu);
      promises.emplace(std::make_pair(m.client, m.mid), std::move(promise));
      futures.emplace(std::make_pair(m.client, m.mid), future);
      wake = true;
    }
    cv.notify_all();
    return MutationHandle{m.client, m.mid, future};
  }

  // ---- HTTP with retries ------------------------------------------------------

  // Sleeps up to `ms`, returning early (false) when stopping.
  bool sleepFor(int ms) {
    std::unique_lock l(mu);
    return !cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return stopping; });
  }

  static ErrorKind kindFor(const sync::SyncError& e) {
    switch (e.kind()) {
      case sync::SyncErrorKind::Unauthorized: return ErrorKind::Unauthorized;
      case sync::SyncErrorKind::VersionNotSupported:
        return e.versionType() == "schema" ? ErrorKind::SchemaMismatch : ErrorKind::BadRequest;
      case sync::SyncErrorKind::ClientStateNotFound: return ErrorKind::ClientStateNotFound;
      case sync::SyncErrorKind::Unavailable:
      case sync::SyncErrorKind::Internal: return ErrorKind::Server;
      default: return ErrorKind::BadRequest;
    }
  }

  // One request with retries on network errors, 5xx and 429; returns the
  // 200 body. Throws OperationFailed after reporting through onError.
  std::string exchange(std::string_view route, const std::string& body) {
    TransportRequest req;
    req.method = "POST";
    req.target = o.base_path + "/" + std::string(route);
    req.body = body;
    req.content_type = std::string(sync::contentType(o.encoding));
    req.headers = o.auth_headers;
    int delay = std::max(1, o.retry.initial_delay_ms);
    const int attempts = std::max(1, o.retry.max_attempts);
    for (int attempt = 1;; ++attempt) {
      if (offline) throw OperationFailed("offline");
      int retry_after_ms = -1;
      ErrorKind kind = ErrorKind::Network;
      std::string message;
      int status = 0;
      try {
        net::HttpResponse r = transport(req);
        if (r.status == 200) return std::move(r.body);
        status = r.status;
        bump(&ClientStats::http_errors);
        if (r.status == 429 || r.status >= 500) {
          kind = r.status == 429 ? ErrorKind::RateLimited : ErrorKind::Server;
          message = std::string(route) + ": HTTP " + std::to_string(r.status) + " " + r.body;
          for (const auto& h : r.headers) {
            if (h.name.size() == 11 && strncasecmp(h.name.c_str(), "Retry-After", 11) == 0) {
              int secs = -1;
              std::from_chars(h.value.data(), h.value.data() + h.value.size(), secs);
              if (secs >= 0) retry_after_ms = std::min(secs * 1000, o.retry.max_retry_after_ms);
            }
          }
        } else {
          // Other statuses are not retried blindly.
          try {
            sync::throwErrorJson(r.body);
          } catch (const sync::SyncError& e) {
            const ErrorKind k = r.status == 409 && std::string_view(e.what()).find("schema") != std::string_view::npos
                                    ? ErrorKind::SchemaMismatch
                                    : kindFor(e);
            report(k, std::string(route) + ": HTTP " + std::to_string(r.status) + ": " + e.what(), r.status);
            if (k == ErrorKind::SchemaMismatch) schemaMismatch();
            throw OperationFailed(e.what());
          }
        }
      } catch (const OperationFailed&) {
        throw;
      } catch (const std::exception& e) {
        bump(&ClientStats::network_errors);
        kind = ErrorKind::Network;
        message = std::string(route) + ": " + e.what();
      }
      const bool retry = attempt < attempts;
      report(kind, message, status, retry);
      if (!retry) throw OperationFailed(message);
      bump(&ClientStats::retries);
      std::uniform_int_distribution<int> jitter(delay / 2, delay);
      const int wait = retry_after_ms >= 0 ? retry_after_ms : jitter(rng);
      if (!sleepFor(wait)) throw OperationFailed("stopping");
      delay = std::min(delay * 2, std::max(1, o.retry.max_delay_ms));
    }
  }

  // Decodes a 200 body; a JSON error body (VersionNotSupported,
  // ClientStateNotFound) is reported and ends the operation.
  template <class F>
  auto decode(std::string_view route, F&& fn) {
    try {
      return fn();
    } catch (const sync::SyncError& e) {
      const bool error_body = e.kind() != sync::SyncErrorKind::BadRequest;
      const ErrorKind k = error_body ? kindFor(e) : ErrorKind::Protocol;
      report(k, std::string(route) + ": " + e.what());
      if (k == ErrorKind::SchemaMismatch) schemaMismatch();
      throw OperationFailed(e.what());
    }
  }

  // ---- push ---------------------------------------------------------------------

  // The server does not support this schema version: stop syncing (and
  // wipe the local state when asked to). Called with sync_mu held.
  void schemaMismatch() {
    sync_stopped = true;
    if (o.on_schema_mismatch == SchemaMismatchAction::Reset) {
      try {
        resetLocked();
      } catch (const std::exception& e) {
        report(ErrorKind::Storage, std::string("resetLocalState: ") + e.what());
      }
    }
  }

  bool pushLocked() {
    if (sync_stopped) return false;
    // The id floor: learn the server's lastMutationID for this client
    // before pushing ids made in this session.
    if (!floor_verified && !pullLocked()) return false;
    auto pending = database->read([&](ReadTx& tx) { return readOutbox(tx, o.max_mutations_per_push); });
    {
      // Another member's mutations that its client has not verified yet
      // wait for that client (and so do its later ones: per-client order).
      const std::string me = cid();
      std::set<std::string> held;
      std::erase_if(pending, [&](const PendingMutation& m) {
        if (m.client != me && (m.unverified || held.contains(m.client))) {
          held.insert(m.client);
          return true;
        }
        return false;
      });
    }
    if (pending.empty()) return true;
    // Remember (durably, before sending) the highest id that may have
    // reached the server: discardMutation refuses ids at or below it.
    {
      const std::string me = cid();
      std::int64_t top = 0;
      for (const auto& m : pending) {
        if (m.client == me) top = std::max(top, m.mid);
      }
      database->write([&](Tx& tx) {
        if (toInt(getMeta(tx, pushedKey(me)), 0) < top) setMeta(tx, pushedKey(me), std::to_string(top));
      });
    }
    sync::PushRequest req;
    req.profile_id = profile_id;
    req.client_group_id = group_id;
    req.schema_version = schema_version;
    for (const auto& m : pending) {
      req.mutations.push_back(sync::Mutation{m.client, m.mid, m.name, parseStored(m.args), static_cast<double>(m.ts)});
    }
    try {
      const std::string body = exchange("push", sync::encodePushRequest(o.encoding, req));
      bump(&ClientStats::pushes);
      const sync::PushResponse resp = decode("push", [&] { return sync::decodePushResponse(o.encoding, body); });
      std::unique_lock l(mu);
      std::set<std::pair<std::string, std::int64_t>> listed;
      for (const auto& r : resp.results) {
        listed.emplace(r.client_id, r.id);
        auto key = std::make_pair(r.client_id, r.id);
        switch (r.outcome) {
          case sync::MutationOutcome::Applied:
            push_results[key] = Outcome{r.client_id, r.id, OutcomeKind::Applied, {}, {}};
            break;
          case sync::MutationOutcome::Failed:
            push_results[key] = Outcome{r.client_id, r.id, OutcomeKind::Failed, r.error, r.message};
            break;
          case sync::MutationOutcome::Rejected:
            report(ErrorKind::MutationRejected, "push: mutation " + std::to_string(r.id) + " of " + r.client_id +
                                                    " rejected: " + r.error + " " + r.message);
            break;
          default:
            break;  // Skipped: known already; Deferred: sent again next time
        }
      }
      // JSON lists only what was not applied: the rest up to lastMutationIDs were applied.
      if (o.encoding == sync::Encoding::Json) {
        for (const auto& m : req.mutations) {
          const auto it = resp.last_mutation_ids.find(m.client_id);
          if (it != resp.last_mutation_ids.end() && m.id <= it->second && !listed.contains({m.client_id, m.id})) {
            push_results.try_emplace({m.client_id, m.id}, Outcome{m.client_id, m.id, OutcomeKind::Applied, {}, {}});
          }
        }
      }
      // Results for the other clients of the group go where their handles
      // look (resultTable).
      std::vector<Outcome> foreign;
      const std::string me = cid();
      for (auto it = push_results.begin(); it != push_results.end();) {
        if (it->first.first != me) {
          foreign.push_back(std::move(it->second));
          it = push_results.erase(it);
        } else {
          ++it;
        }
      }
      l.unlock();
      storeForeignResults(foreign);
      return true;
    } catch (const OperationFailed&) {
      return false;
    }
  }

  static std::string resultKey(const std::string& client, std::int64_t mid) { return client + "/" + seqKey(mid); }

  void storeForeignResults(const std::vector<Outcome>& results) {
    if (results.empty()) return;
    const auto& r = resultTable();
    database->write([&](Tx& tx) {
      for (const auto& out : results) {
        const std::string key = resultKey(out.client_id, out.mutation_id);
        const std::string kind(outcomeKindName(out.kind));
        if (tx.get(r, key)) {
          (void)tx.update(r).set({{r.kind, kind}, {r.error, out.error}, {r.message, out.message}}).where(eq(r.id, key));
        } else {
          (void)tx.insert(r).values({{r.id, key}, {r.kind, kind}, {r.error, out.error}, {r.message, out.message}});
        }
      }
    });
  }

  // Resolves the handles of this Client's mutations that left the outbox
  // without this Client's rebase noticing: another Client of the group (in
  // this process or another) rebased them away, or reset the store. The
  // outcome is what a push reported, else Confirmed when the server's
  // lastMutationID covers the id, else Discarded. sync_mu held.
  void resolveGone() {
    std::vector<std::pair<std::string, std::int64_t>> keys;
    {
      std::lock_guard l(mu);
      for (const auto& [key, p] : promises) keys.push_back(key);
    }
    if (keys.empty()) return;
    struct Gone {
      std::pair<std::string, std::int64_t> key;
      std::optional<Outcome> stored;
      std::int64_t lmid = 0;
    };
    std::vector<Gone> gone;
    const auto& r = resultTable();
    database->read([&](ReadTx& tx) {
      std::set<std::pair<std::string, std::int64_t>> pending;
      for (auto& m : readOutbox(tx)) pending.emplace(std::move(m.client), m.mid);
      for (const auto& key : keys) {
        if (pending.contains(key)) continue;
        Gone g{key, std::nullopt, toInt(getMeta(tx, lmidKey(key.first)), 0)};
        if (const auto row = tx.get(r, resultKey(key.first, key.second))) {
          const std::string_view kind = row->get(r.kind).value_or("");
          Outcome out{key.first, key.second, OutcomeKind::Confirmed, std::string(row->get(r.error).value_or("")),
                      std::string(row->get(r.message).value_or(""))};
          if (kind == "applied") out.kind = OutcomeKind::Applied;
          if (kind == "failed") out.kind = OutcomeKind::Failed;
          g.stored = std::move(out);
        }
        gone.push_back(std::move(g));
      }
    });
    if (gone.empty()) return;
    if (std::any_of(gone.begin(), gone.end(), [](const Gone& g) { return g.stored.has_value(); })) {
      database->write([&](Tx& tx) {
        for (const auto& g : gone) {
          if (g.stored) (void)tx.deleteFrom(r).where(eq(r.id, resultKey(g.key.first, g.key.second)));
        }
      });
    }
    std::lock_guard l(mu);
    for (auto& g : gone) {
      const auto it = promises.find(g.key);
      if (it == promises.end()) continue;
      Outcome out;
      if (const auto pr = push_results.find(g.key); pr != push_results.end()) {
        out = pr->second;
        push_results.erase(pr);
      } else if (g.stored) {
        out = *g.stored;
      } else {
        out = Outcome{g.key.first, g.key.second,
                      g.key.second <= g.lmid ? OutcomeKind::Confirmed : OutcomeKind::Discarded, {}, {}};
      }
      it->second.set_value(out);
      promises.erase(it);
      futures.erase(g.key);
    }
  }

  // ---- pull + rebase --------------------------------------------------------------

  bool pullLocked() {
    if (sync_stopped) return false;
    try {
      for (int page = 0; page < 10000; ++page) {
        sync::PullRequest req;
        req.profile_id = profile_id;
        req.client_group_id = group_id;
        req.schema_version = schema_version;
        auto c = database->read([&](ReadTx& tx) { return getMeta(tx, "cookie"); });
        if (c && c->empty()) c.reset();
        if (c) req.cookie = static_cast<std::uint64_t>(toInt(c, 0));
        const std::string body = exchange("pull", sync::encodePullRequest(o.encoding, req));
        bump(&ClientStats::pulls);
        sync::WirePullResponse resp = decode("pull", [&] { return sync::decodePullResponse(o.encoding, body); });
        // Another Client of the group may have rebased meanwhile: then this
        // answer is relative to a cookie the store left behind; pull again.
        if (!rebase(resp, c)) continue;
        if (!resp.more) {
          resolveGone();
          return true;
        }
      }
      return true;
    } catch (const OperationFailed&) {
      return false;
    }
  }

  // Restores every base image (the app tables become the base) and clears
  // the undo table.
  void undoAll(Tx& tx) {
    const auto& u = undoTable();
    struct Undo {
      std::string table, id, before;
      bool existed;
    };
    std::vector<Undo> undo;
    tx.scan(u, [&](const RowView& r) {
      undo.push_back(Undo{std::string(r.get(u.tbl).value_or("")), std::string(r.get(u.rid).value_or("")),
                          std::string(r.get(u.before).value_or("")), r.get(u.existed).value_or(0) != 0});
    });
    // Foreign keys: restore base rows parents first, then delete rows the
    // pending mutations created children first. A restored base row only
    // references base rows (untouched or restored before it), and a created
    // row is deleted after every base row that a pending mutation pointed at
    // it has been restored away from it.
    std::stable_sort(undo.begin(), undo.end(), [&](const Undo& a, const Undo& b) {
      if (a.existed != b.existed) return a.existed;
      const int ra = tableRank(a.table), rb = tableRank(b.table);
      return a.existed ? ra < rb : ra > rb;
    });
    for (const auto& e : undo) {
      const Table* t = userTable(e.table);
      if (t == nullptr) continue;
      if (e.existed) {
        putRow(tx, *t, e.id, parseStored(e.before).as_object());
      } else {
        deleteRow(tx, *t, e.id);
      }
    }
    if (!undo.empty()) (void)tx.deleteFrom(u).all();
  }

  void replay(Tx& tx, const std::vector<PendingMutation>& remaining) {
    for (const auto& m : remaining) runPending(tx, m, /*rethrow=*/false);
  }

  using Renames = std::vector<std::pair<std::pair<std::string, std::int64_t>, std::int64_t>>;

  // Moves promises/futures/push results of re-numbered mutations. mu held.
  void rekey(const Renames& renamed) {
    // Ids moving up go from the highest, ids moving down from the lowest,
    // so no move overwrites a key still to be moved.
    auto moveOne = [&](const std::pair<std::string, std::int64_t>& from, std::int64_t to) {
      const std::pair<std::string, std::int64_t> dst{from.first, to};
      if (auto n = promises.extract(from)) {
        n.key() = dst;
        promises.insert(std::move(n));
      }
      if (auto n = futures.extract(from)) {
        n.key() = dst;
        futures.insert(std::move(n));
      }
      if (auto n = push_results.extract(from)) {
        n.key() = dst;
        push_results.insert(std::move(n));
      }
    };
    Renames up, down;
    for (const auto& r : renamed) (r.second > r.first.second ? up : down).push_back(r);
    std::sort(up.begin(), up.end(), [](const auto& a, const auto& b) { return a.first.second > b.first.second; });
    std::sort(down.begin(), down.end(), [](const auto& a, const auto& b) { return a.first.second < b.first.second; });
    for (const auto& r : up) moveOne(r.first, r.second);
    for (const auto& r : down) moveOne(r.first, r.second);
  }

  // Resolves every pending handle Discarded. mu held.
  void discardAllPromises() {
    for (auto& [key, p] : promises) p.set_value(Outcome{key.first, key.second, OutcomeKind::Discarded, {}, {}});
    promises.clear();
    futures.clear();
    push_results.clear();
  }

  // Wipes the local state and takes a new clientID. sync_mu held.
  void resetLocked() {
    database->write([&](Tx& tx) {
      for (const auto& t : o.tables) (void)tx.deleteFrom(t.get()).all();
      (void)tx.deleteFrom(outboxTable()).all();
      (void)tx.deleteFrom(undoTable()).all();
      const auto& m = metaTable();
      const std::string old = cid();
      for (const std::string& key : {std::string("cookie"), std::string("seq"), nextKey(old), pushedKey(old)}) {
        (void)tx.deleteFrom(m).where(eq(m.id, key));
      }
      (void)tx.deleteFrom(resultTable()).all();
      const std::string fresh = plasma::newId();
      setMeta(tx, slotKey(slot->number), fresh);
      {
        std::lock_guard l(id_mu);
        client_id = fresh;
      }
      floor_verified = true;  // the server has never seen this clientID
    });
    std::lock_guard l(mu);
    discardAllPromises();
  }

  // sync_mu held.
  bool discardLocked(std::int64_t id) {
    bool ok = false;
    Renames renamed;
    std::string me;
    database->write([&](Tx& tx) {
      me = cid();
      if (id <= toInt(getMeta(tx, pushedKey(me)), 0)) return;  // may have reached the server
      auto all = readOutbox(tx);
      const auto target =
          std::find_if(all.begin(), all.end(), [&](const auto& m) { return m.client == me && m.mid == id; });
      if (target == all.end()) return;
      undoAll(tx);
      const auto& ob = outboxTable();
      (void)tx.deleteFrom(ob).where(eq(ob.id, target->key));
      all.erase(target);
      for (auto& m : all) {
        if (m.client == me && m.mid > id) {
          (void)tx.update(ob).set({{ob.mid, m.mid - 1}}).where(eq(ob.id, m.key));
          renamed.push_back({{me, m.mid}, m.mid - 1});
          m.mid -= 1;
        }
      }
      setMeta(tx, nextKey(me), std::to_string(toInt(getMeta(tx, nextKey(me)), 1) - 1));
      replay(tx, all);
      ok = true;
    });
    if (!ok) return false;
    std::lock_guard l(mu);
    const std::pair<std::string, std::int64_t> key{me, id};
    if (auto it = promises.find(key); it != promises.end()) {
      it->second.set_value(Outcome{me, id, OutcomeKind::Discarded, {}, {}});
      promises.erase(it);
    }
    futures.erase(key);
    push_results.erase(key);
    rekey(renamed);
    return true;
  }

  // The cookie the store is at; nullopt before the first pull.
  static std::optional<std::string> storedCookie(const ReadTx& tx) {
    auto c = getMeta(tx, "cookie");
    if (c && c->empty()) c.reset();
    return c;
  }

  // This client now knows the server's lastMutationID (a whole pull): its
  // pending mutations were re-numbered above it where they collided, and
  // may be pushed — by any member of the group — from now on.
  void verifyFloor(Tx& tx) {
    if (!floor_verified) {
      const auto& ob = outboxTable();
      (void)tx.update(ob).set({{ob.unverified, 0}}).where(and_(eq(ob.client, cid()), eq(ob.unverified, 1)));
    }
    floor_verified = true;
  }

  // Applies a pull answer made for `base` (the cookie sent). False, and
  // nothing written, when the store is no longer at `base`.
  bool rebase(const sync::WirePullResponse& resp, const std::optional<std::string>& base) {
    std::vector<std::pair<std::pair<std::string, std::int64_t>, Outcome>> resolved;
    bool stale = false;
    if (resp.patch.empty() && resp.last_mutation_id_changes.empty()) {
      // Nothing to roll back for: only the cookie moves.
      database->write([&](Tx& tx) {
        if (storedCookie(tx) != base) {
          stale = true;
          return;
        }
        const auto old_cookie = getMeta(tx, "cookie");
        if (!old_cookie || old_cookie->empty() || toInt(old_cookie, 0) != static_cast<std::int64_t>(resp.cookie)) {
          setMeta(tx, "cookie", std::to_string(resp.cookie));
        }
        if (!resp.more) verifyFloor(tx);
      });
      return !stale;
    }
    Renames renamed;
    database->write([&](Tx& tx) {
      if (storedCookie(tx) != base) {
        stale = true;
        return;
      }
      const auto old_cookie = getMeta(tx, "cookie");
      // The server's lastMutationIDs, for handles resolved by another
      // Client's rebase (resolveGone).
      for (const auto& [client, id] : resp.last_mutation_id_changes) {
        if (toInt(getMeta(tx, lmidKey(client)), 0) < id) setMeta(tx, lmidKey(client), std::to_string(id));
      }
      // 1. Roll back every pending mutation: restore the base images.
      undoAll(tx);
      // 2. The server's patch.
      for (const auto& op : resp.patch) {
        if (op.op == sync::PatchOpKind::Clear) {
          for (const auto& t : o.tables) (void)tx.deleteFrom(t.get()).all();
          continue;
        }
        const Table* t = userTable(op.table);
        if (t == nullptr) continue;  // a table this client does not know
        if (op.op == sync::PatchOpKind::Put) {
          if (o.encoding == sync::Encoding::Json) {
            putRow(tx, *t, op.id, op.value);
          } else {  // the stored bytes, verified by the engine
            (void)tx.putRow(*t, op.id,
                            {reinterpret_cast<const std::uint8_t*>(op.row_bytes.data()), op.row_bytes.size()});
          }
        } else {
          deleteRow(tx, *t, op.id);
        }
      }
      // 3. Drop the confirmed mutations. A mutation made in this session
      // before the id floor was known is never "confirmed" by id: its id
      // may be one the server confirmed for an earlier (crash-lost) mutation.
      const auto& ob = outboxTable();
      const std::string me = cid();
      std::vector<PendingMutation> remaining;
      for (auto& m : readOutbox(tx)) {
        const auto it = resp.last_mutation_id_changes.find(m.client);
        const bool fresh = m.unverified;  // never confirmed by id (see OutboxTable::unverified)
        if (it != resp.last_mutation_id_changes.end() && m.mid <= it->second && !fresh) {
          (void)tx.deleteFrom(ob).where(eq(ob.id, m.key));
          resolved.push_back({{m.client, m.mid}, Outcome{m.client, m.mid, OutcomeKind::Confirmed, {}, {}}});
        } else {
          remaining.push_back(std::move(m));
        }
      }
      // 3b. The id floor: nextMutationID above the server's lastMutationID;
      // re-number this client's pending mutations when one collides.
      if (const auto own = resp.last_mutation_id_changes.find(me); own != resp.last_mutation_id_changes.end()) {
        const std::int64_t floor = own->second;
        const std::int64_t old_next = toInt(getMeta(tx, nextKey(me)), 1);
        std::int64_t next = std::max(old_next, floor + 1);
        const bool collide =
            std::any_of(remaining.begin(), remaining.end(), [&](const auto& m) { return m.client == me && m.mid <= floor; });
        if (collide) {
          std::int64_t n = floor + 1;
          for (auto& m : remaining) {
            if (m.client != me) continue;
            if (m.mid != n) {
              (void)tx.update(ob).set({{ob.mid, n}}).where(eq(ob.id, m.key));
              renamed.push_back({{me, m.mid}, n});
              m.mid = n;
            }
            ++n;
          }
          next = n;
        }
        if (next != old_next) setMeta(tx, nextKey(me), std::to_string(next));
      }
      if (!resp.more) verifyFloor(tx);
      // 4. Replay the rest on the new base.
      replay(tx, remaining);
      if (!old_cookie || toInt(old_cookie, 0) != static_cast<std::int64_t>(resp.cookie) || old_cookie->empty()) {
        setMeta(tx, "cookie", std::to_string(resp.cookie));
      }
    });
    if (stale) return false;
    bump(&ClientStats::rebases);
    std::lock_guard l(mu);
    rekey(renamed);
    for (auto& [key, outcome] : resolved) {
      const auto pr = push_results.find(key);
      if (pr != push_results.end()) {
        outcome = pr->second;
        push_results.erase(pr);
      }
      const auto it = promises.find(key);
      if (it != promises.end()) {
        it->second.set_value(outcome);
        promises.erase(it);
      }
      futures.erase(key);
    }
    return true;
  }

  // ---- loop -------------------------------------------------------------------------

  void syncCycle() {
    std::lock_guard l(sync_mu);
    const bool pushed = pushLocked();
    (void)pushed;
    (void)pullLocked();
    resolveGone();
  }

  // How often the loop looks for commits of other processes on the data
  // directory (live queries, handles resolved by their rebases).
  static constexpr auto kWatchInterval = std::chrono::milliseconds(50);

  void loop() {
    auto next_sync = std::chrono::steady_clock::now();
    for (;;) {
      bool sync_now = false;
      {
        std::unique_lock l(mu);
        const auto until = std::min(next_sync, std::chrono::steady_clock::now() + kWatchInterval);
        cv.wait_until(l, until, [&] { return stopping || wake; });
        if (stopping) return;
        if (wake || std::chrono::steady_clock::now() >= next_sync) {
          sync_now = true;
          wake = false;
          next_sync = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(1, o.poll_interval_ms));
        }
      }
      try {
        const bool external = database->checkExternalCommits();
        if (!sync_now && external) {
          std::unique_lock l(sync_mu, std::try_to_lock);
          if (l.owns_lock()) resolveGone();
        }
      } catch (const std::exception& e) {
        report(ErrorKind::Storage, std::string("watch: ") + e.what());
      }
      if (!sync_now || offline || sync_stopped) continue;
      try {
        syncCycle();
      } catch (const std::exception& e) {
        report(ErrorKind::Storage, std::string("sync: ") + e.what());
      }
    }
  }

  void handleSocketMessage(const std::string& text) {
    json::value v;
    try {
      v = parseJsonExact(text, {}, sync::jsonParseOptions());
    } catch (const std::exception&) {
      return;  // not ours to judge: the node speaks JSON
    }
    const auto* obj = v.if_object();
    if (obj == nullptr) return;
    const auto* type = obj->if_contains("type");
    if (type == nullptr || !type->is_string()) return;
    if (type->as_string() == "poke") {
      bump(&ClientStats::pokes);
      {
        std::lock_guard l(mu);
        wake = true;
      }
      cv.notify_all();
    } else if (type->as_string() == "presence") {
      std::vector<PresenceEntry> list;
      if (const auto* clients = obj->if_contains("clients"); clients && clients->is_array()) {
        for (const auto& c : clients->as_array()) {
          const auto* co = c.if_object();
          if (co == nullptr) continue;
          PresenceEntry e;
          if (const auto* id = co->if_contains("clientID"); id && id->is_string()) e.client_id = id->as_string();
          if (const auto* info = co->if_contains("userInfo")) e.user_info = *info;
          list.push_back(std::move(e));
        }
      }
      {
        std::lock_guard l(mu);
        room_presence = list;
      }
      if (o.on_presence) {
        try {
          o.on_presence(list);
        } catch (...) {
        }
      }
    }
  }

  void pokeLoop() {
    int backoff = std::max(1, o.retry.initial_delay_ms);
    std::string host;
    std::uint16_t port;
    {
      std::lock_guard l(sync_mu);
      host = o.host;
      port = o.port;
    }
    for (;;) {
      {
        std::lock_guard l(mu);
        if (stopping) return;
      }
      {
        std::lock_guard l(sync_mu);
        host = o.host;
        port = o.port;
      }
      if (offline || port == 0 || sync_stopped) {
        if (!sleepFor(200)) return;
        continue;
      }
      try {
        std::string target = o.base_path + "/ws?clientGroupID=" + group_id + "&clientID=" + cid();
        if (!o.room.empty()) target += "&room=" + o.room;
        if (!o.presence) target += "&presence=off";
        for (const auto& [k, v] : o.ws_params) target += "&" + k + "=" + v;
        net::WsClient ws(host, port, target, std::chrono::milliseconds(1000));
        backoff = std::max(1, o.retry.initial_delay_ms);
        {
          std::lock_guard l(mu);
          presence_dirty = my_presence.has_value();  // again on every (re)connect
        }
        // A poke that came while the socket was down is lost: pull once now.
        {
          std::lock_guard l(mu);
          wake = true;
        }
        cv.notify_all();
        for (;;) {
          std::optional<std::string> outgoing;
          {
            std::lock_guard l(mu);
            if (stopping) return;
            if (presence_dirty && my_presence) {
              outgoing = json::serialize(json::object{{"type", "presence"}, {"userInfo", *my_presence}});
              presence_dirty = false;
            }
          }
          if (offline) break;
          if (outgoing) ws.sendText(*outgoing);
          auto msg = ws.readText(std::chrono::milliseconds(20));
          if (!msg) {
            if (!ws.isOpen()) break;
            continue;
          }
          handleSocketMessage(*msg);
        }
      } catch (const std::exception&) {
      }
      if (!sleepFor(backoff)) return;
      backoff = std::min(backoff * 2, std::max(1, o.retry.max_delay_ms));
    }
  }

  void start() {
    std::lock_guard l(mu);
    if (started) return;
    started = true;
    stopping = false;
    wake = true;
    loop_thread = std::thread([this] { loop(); });
    if (o.websocket && default_transport) ws_thread = std::thread([this] { pokeLoop(); });
  }

  void stop() {
    {
      std::lock_guard l(mu);
      stopping = true;
    }
    cv.notify_all();
    if (loop_thread.joinable()) loop_thread.join();
    if (ws_thread.joinable()) ws_thread.join();
    std::lock_guard l(mu);
    started = false;
  }

  std::size_t pendingCount() const {
    return database->read([&](ReadTx& tx) { return static_cast<std::size_t>(tx.count(outboxTable())); });
  }
};

// ---- Client ---------------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() { impl_->stop(); }

MutationHandle Client::mutate(std::string_view name, boost::json::value args) {
  return impl_->mutate(name, std::move(args));
}
Database& Client::db() noexcept { return *impl_->database; }
void Client::start() { impl_->start(); }
void Client::stop() { impl_->stop(); }

bool Client::pushOnce() {
  std::lock_guard l(impl_->sync_mu);
  return impl_->pushLocked();
}
bool Client::pullOnce() {
  std::lock_guard l(impl_->sync_mu);
  return impl_->pullLocked();
}

bool Client::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (impl_->pendingCount() == 0) return true;
    if (!impl_->offline) {
      std::lock_guard l(impl_->sync_mu);
      if (impl_->pushLocked()) (void)impl_->pullLocked();
    }
    if (impl_->pendingCount() == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Client::setPresence(boost::json::value user_info) {
  if (!impl_->o.presence) {
    throw Error(ErrorCode::InvalidArgument, "setPresence: this Client was made with options.presence off");
  }
  if (!user_info.is_object() && !user_info.is_null()) {
    throw Error(ErrorCode::InvalidArgument, "setPresence: userInfo must be a JSON object (or null)");
  }
  if (const std::size_t depth = sync::jsonDepth(user_info); depth > sync::kMaxValueDepth) {
    throw Error(ErrorCode::InvalidArgument, "setPresence: userInfo nests arrays and objects " + std::to_string(depth) +
                                                " deep; a presence list can carry at most " +
                                                std::to_string(sync::kMaxValueDepth));
  }
  if (!sync::allNumbersFinite(user_info)) {
    throw Error(ErrorCode::InvalidArgument, "setPresence: userInfo holds a number that is not finite (JSON cannot carry it)");
  }
  std::lock_guard l(impl_->mu);
  impl_->my_presence = std::move(user_info);
  impl_->presence_dirty = true;
}

std::vector<PresenceEntry> Client::presence() const {
  std::lock_guard l(impl_->mu);
  return impl_->room_presence;
}

void Client::setOffline(bool offline) {
  impl_->offline = offline;
  {
    std::lock_guard l(impl_->mu);
    impl_->wake = true;
  }
  impl_->cv.notify_all();
}

void Client::setEndpoint(std::string host, std::uint16_t port) {
  std::lock_guard l(impl_->sync_mu);
  impl_->o.host = std::move(host);
  impl_->o.port = port;
  if (impl_->default_transport) impl_->transport = httpTransport(impl_->o.host, port, impl_->o.request_timeout);
}

std::string Client::newId() const { return plasma::newId(); }
std::string Client::clientID() const { return impl_->cid(); }

bool Client::discardMutation(std::int64_t id) {
  std::lock_guard l(impl_->sync_mu);
  return impl_->discardLocked(id);
}
void Client::resetLocalState() {
  {
    std::lock_guard l(impl_->sync_mu);
    impl_->resetLocked();
  }
  {
    std::lock_guard l(impl_->mu);
    impl_->wake = true;
  }
  impl_->cv.notify_all();
}
bool Client::syncStopped() const noexcept { return impl_->sync_stopped; }
const std::string& Client::clientGroupID() const noexcept { return impl_->group_id; }
std::size_t Client::pendingCount() const { return impl_->pendingCount(); }
std::optional<std::uint64_t> Client::cookie() const {
  const auto c = impl_->database->read([&](ReadTx& tx) { return getMeta(tx, "cookie"); });
  if (!c || c->empty()) return std::nullopt;
  return static_cast<std::uint64_t>(toInt(c, 0));
}
ClientStats Client::stats() const {
  std::lock_guard l(impl_->stats_mu);
  return impl_->st;
}

}  // namespace plasma::client
