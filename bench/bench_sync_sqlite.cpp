// bench/bench_sync_sqlite.cpp — `sqlite_triggers`: the original's sync
// server design (seeds: SQLite/D1 with a `_plasma_changes` log filled by
// AFTER INSERT/UPDATE/DELETE triggers, pull = range select on it), written
// as a careful C++ engineer would:
//
// - WAL; synchronous=FULL (durable) or NORMAL (relaxed); busy_timeout;
//   wal_autocheckpoint=0 with a PASSIVE checkpoint every 10 ms on a thread
//   of its own (not inside a pusher's COMMIT, holding the write lock);
//   mmap_size 1 GiB, cache_size 64 MiB; one connection per pusher thread
//   (SQLITE_OPEN_NOMUTEX: never used by two threads at once), every statement
//   prepared once per connection (SQLITE_PREPARE_PERSISTENT).
// - todos(id TEXT PRIMARY KEY, title, done DEFAULT 0, updatedAt) WITHOUT
//   ROWID (one B-tree descent per id; faster here than a rowid table plus
//   its automatic id index), _plasma_clients(client_group_id, client_id,
//   last_mutation_id, PRIMARY KEY(...)) WITHOUT ROWID, and
//   _plasma_changes(row_version INTEGER PRIMARY KEY, table_name, row_id, op,
//   row_json) — a plain rowid alias (no AUTOINCREMENT bookkeeping), appended
//   by three triggers on todos; row_json = json_object(...) of NEW.
// - push: Boost.JSON parse (monotonic buffer reused per connection); BEGIN
//   IMMEDIATE; per client its lastMutationID read once; per mutation the id
//   check, SAVEPOINT, the mutator as one prepared statement, RELEASE (or
//   ROLLBACK TO on failure: a failed mutator still uses up its id);
//   lastMutationIDs upserted; head = max(row_version); COMMIT; the response
//   in plasma's JSON shape ({"results":[non-applied],"lastMutationIDs":{..},
//   "version":n}) by string appends.
// - pull: BEGIN; SELECT ... FROM _plasma_changes WHERE row_version > ?
//   ORDER BY row_version, deduplicated to each row's newest entry in C++ (one
//   arena, one hash map, both reused); lastMutationIDChanges from
//   _plasma_clients of the group; COMMIT; the Replicache JSON response by
//   string appends, splicing row_json as stored.
#include <sqlite3.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

#include "bench_common.hpp"
#include "bench_sync.hpp"

namespace plasma_bench::syncbench {

namespace {

// ---- thin SQLite wrappers (own ones: NOMUTEX connections) -----------------------

class Db {
 public:
  explicit Db(const std::filesystem::path& file) {
    const int rc = sqlite3_open_v2(file.c_str(), &db_,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw std::runtime_error("sqlite open " + file.string() + ": " + msg);
    }
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(db_); }
  sqlite3* get() const noexcept { return db_; }
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
  }
  void exec(const char* sql) const {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
  }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(const Db& db, const char* sql) : db_(&db) {
    if (sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) db.fail(sql);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const noexcept { return stmt_; }
  void text(int i, std::string_view s) const {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void integer(int i, std::int64_t v) const { sqlite3_bind_int64(stmt_, i, v); }
  // Steps once; returns SQLITE_ROW or SQLITE_DONE, throws on anything else.
  int step() const {
    const int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      sqlite3_reset(stmt_);
      db_->fail(sqlite3_sql(stmt_));
    }
    return rc;
  }
  // A statement that returns no rows: step, reset.
  void run() const {
    step();
    sqlite3_reset(stmt_);
  }
  void reset() const { sqlite3_reset(stmt_); }

 private:
  const Db* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS todos(
  id TEXT PRIMARY KEY NOT NULL, title TEXT, done INTEGER DEFAULT 0, updatedAt INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _plasma_clients(
  client_group_id TEXT NOT NULL, client_id TEXT NOT NULL, last_mutation_id INTEGER NOT NULL,
  PRIMARY KEY(client_group_id, client_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _plasma_changes(
  row_version INTEGER PRIMARY KEY, table_name TEXT NOT NULL, row_id TEXT NOT NULL, op TEXT NOT NULL, row_json TEXT);
CREATE TRIGGER IF NOT EXISTS todos_changes_insert AFTER INSERT ON todos BEGIN
  INSERT INTO _plasma_changes(table_name, row_id, op, row_json) VALUES('todos', NEW.id, 'put',
    json_object('id', NEW.id, 'title', NEW.title, 'done', NEW.done, 'updatedAt', NEW.updatedAt));
END;
CREATE TRIGGER IF NOT EXISTS todos_changes_update AFTER UPDATE ON todos BEGIN
  INSERT INTO _plasma_changes(table_name, row_id, op, row_json) VALUES('todos', NEW.id, 'put',
    json_object('id', NEW.id, 'title', NEW.title, 'done', NEW.done, 'updatedAt', NEW.updatedAt));
END;
CREATE TRIGGER IF NOT EXISTS todos_changes_delete AFTER DELETE ON todos BEGIN
  INSERT INTO _plasma_changes(table_name, row_id, op, row_json) VALUES('todos', OLD.id, 'del', NULL);
END;
)sql";

std::unique_ptr<Db> openDb(const std::filesystem::path& file, const char* synchronous) {
  auto db = std::make_unique<Db>(file);
  db->exec("PRAGMA journal_mode=WAL");
  db->exec(synchronous);
  db->exec("PRAGMA busy_timeout=10000");
  db->exec("PRAGMA mmap_size=1073741824");
  db->exec("PRAGMA cache_size=-65536");
  return db;
}

void appendInt(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A mutator's failure: rolled back to its savepoint, reported, id used up.
struct MutatorFailure : std::runtime_error {
  MutatorFailure(const char* kind, std::string message) : std::runtime_error(std::move(message)), kind(kind) {}
  const char* kind;
};

const boost::json::value& field(const boost::json::object& o, std::string_view name, const char* where) {
  const auto* v = o.if_contains(name);
  if (v == nullptr) throw std::runtime_error(std::string(where) + ": missing field " + std::string(name));
  return *v;
}
std::string_view stringField(const boost::json::object& o, std::string_view name, const char* where) {
  const auto& v = field(o, name, where);
  if (!v.is_string()) throw std::runtime_error(std::string(where) + ": " + std::string(name) + " must be a string");
  return v.get_string();
}
std::int64_t intField(const boost::json::object& o, std::string_view name, const char* where) {
  const auto& v = field(o, name, where);
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.get_uint64());
  throw std::runtime_error(std::string(where) + ": " + std::string(name) + " must be an integer");
}

// Mutator arguments: the fields the mutator declares, with their types.
std::string_view argString(const boost::json::object& a, std::string_view name) {
  const auto* v = a.if_contains(name);
  if (v == nullptr || !v->is_string()) throw MutatorFailure("MutatorArgs", "args." + std::string(name) + " must be a string");
  return v->get_string();
}
std::int64_t argInt(const boost::json::object& a, std::string_view name) {
  const auto* v = a.if_contains(name);
  if (v != nullptr && v->is_int64()) return v->get_int64();
  throw MutatorFailure("MutatorArgs", "args." + std::string(name) + " must be an integer");
}

// ---- the push endpoint ------------------------------------------------------------

enum class Outcome : std::uint8_t { Applied, Failed, Skipped, Rejected };

struct PushConnection {
  std::unique_ptr<Db> db;
  Stmt begin, commit, rollback, savepoint, release, rollback_to;
  Stmt get_client, put_client, head;
  Stmt create, mark_done, rename, remove;

  explicit PushConnection(std::unique_ptr<Db> d)
      : db(std::move(d)),
        begin(*db, "BEGIN IMMEDIATE"),
        commit(*db, "COMMIT"),
        rollback(*db, "ROLLBACK"),
        savepoint(*db, "SAVEPOINT m"),
        release(*db, "RELEASE m"),
        rollback_to(*db, "ROLLBACK TO m"),
        get_client(*db, "SELECT last_mutation_id FROM _plasma_clients WHERE client_group_id = ?1 AND client_id = ?2"),
        put_client(*db,
                   "INSERT INTO _plasma_clients(client_group_id, client_id, last_mutation_id) VALUES(?1, ?2, ?3) "
                   "ON CONFLICT(client_group_id, client_id) DO UPDATE SET last_mutation_id = excluded.last_mutation_id"),
        head(*db, "SELECT max(row_version) FROM _plasma_changes"),
        create(*db, "INSERT INTO todos(id, title, updatedAt) VALUES(?1, ?2, ?3)"),
        mark_done(*db, "UPDATE todos SET done = 1, updatedAt = ?2 WHERE id = ?1"),
        rename(*db, "UPDATE todos SET title = ?2, updatedAt = ?3 WHERE id = ?1"),
        remove(*db, "DELETE FROM todos WHERE id = ?1") {}

  // Runs one prepared mutator statement; a constraint violation is the
  // mutator's failure, anything else fails the push.
  void runMutatorStatement(const Stmt& s) {
    const int rc = sqlite3_step(s.get());
    sqlite3_reset(s.get());
    if (rc == SQLITE_DONE) return;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) throw MutatorFailure("Constraint", sqlite3_errmsg(db->get()));
    db->fail("mutator statement");
  }

  void runMutator(std::string_view name, const boost::json::value& args_value) {
    if (!args_value.is_object()) throw MutatorFailure("MutatorArgs", "args must be an object");
    const auto& a = args_value.get_object();
    if (name == "createTodo") {
      const auto id = argString(a, "id");
      const auto title = argString(a, "title");
      create.text(1, id);
      create.text(2, title);
      create.integer(3, argInt(a, "updatedAt"));
      runMutatorStatement(create);
    } else if (name == "markDone") {
      const auto id = argString(a, "id");
      mark_done.text(1, id);
      mark_done.integer(2, argInt(a, "updatedAt"));
      runMutatorStatement(mark_done);
    } else if (name == "renameTodo") {
      const auto id = argString(a, "id");
      const auto title = argString(a, "title");
      rename.text(1, id);
      rename.text(2, title);
      rename.integer(3, argInt(a, "updatedAt"));
      runMutatorStatement(rename);
    } else if (name == "deleteTodo") {
      remove.text(1, argString(a, "id"));
      runMutatorStatement(remove);
    } else {
      throw MutatorFailure("MutatorNotFound", "no mutator named " + std::string(name));
    }
  }

  struct ClientState {
    std::string_view client_id;
    std::int64_t last = 0;
    bool known = false;
    bool dirty = false;
    bool stopped = false;
  };
  struct Result {
    std::string_view client_id;
    std::int64_t id;
    Outcome outcome;
    std::string error, message;
  };

  ClientState& clientState(std::vector<ClientState>& clients, std::string_view group, std::string_view client) {
    for (auto& c : clients) {
      if (c.client_id == client) return c;
    }
    ClientState st{client};
    get_client.text(1, group);
    get_client.text(2, client);
    if (get_client.step() == SQLITE_ROW) {
      st.last = sqlite3_column_int64(get_client.get(), 0);
      st.known = true;
    }
    get_client.reset();
    clients.push_back(st);
    return clients.back();
  }

  // `writer_lock`, when given, is held from BEGIN IMMEDIATE to COMMIT, so
  // that pushers of this process queue for SQLite's write lock on a mutex
  // instead of sleeping in the busy handler.
  PushResult push(const std::string& body, std::vector<unsigned char>& parse_buffer, std::mutex* writer_lock,
                  std::atomic<std::uint64_t>& commits, std::uint64_t* version_out) {
    boost::json::monotonic_resource mr(parse_buffer.data(), parse_buffer.size());
    const boost::json::value doc = boost::json::parse(body, &mr);
    const char* where = "push";
    if (!doc.is_object()) throw std::runtime_error("push: the body must be an object");
    const auto& o = doc.get_object();
    const std::string_view group = stringField(o, "clientGroupID", where);
    if (group.empty()) throw std::runtime_error("push: clientGroupID is empty");
    (void)stringField(o, "profileID", where);
    if (intField(o, "pushVersion", where) != 1) throw std::runtime_error("push: pushVersion must be 1");
    if (stringField(o, "schemaVersion", where) != kSchemaVersion) throw std::runtime_error("push: schema version mismatch");
    const auto& mv = field(o, "mutations", where);
    if (!mv.is_array()) throw std::runtime_error("push: mutations must be an array");
    const auto& mutations = mv.get_array();
    for (const auto& m : mutations) {
      if (!m.is_object()) throw std::runtime_error("push: a mutation must be an object");
      const auto& mo = m.get_object();
      (void)stringField(mo, "clientID", "mutation");
      if (intField(mo, "id", "mutation") <= 0) throw std::runtime_error("push: mutation ids start at 1");
      (void)stringField(mo, "name", "mutation");
      (void)field(mo, "args", "mutation");
      if (!field(mo, "timestamp", "mutation").is_number()) throw std::runtime_error("push: timestamp must be a number");
    }

    std::vector<ClientState> clients;
    std::vector<Result> results;
    results.reserve(mutations.size());
    std::unique_lock<std::mutex> guard;
    if (writer_lock != nullptr) guard = std::unique_lock(*writer_lock);
    begin.run();
    try {
      // A client the server does not know must start at mutation id 1.
      for (const auto& m : mutations) {
        const auto& mo = m.get_object();
        const std::string_view client = mo.at("clientID").get_string();
        bool seen = false;
        for (const auto& c : clients) seen = seen || c.client_id == client;
        if (seen) continue;
        const ClientState& st = clientState(clients, group, client);
        if (!st.known && mo.at("id").as_int64() > 1) throw std::runtime_error("push: ClientStateNotFound");
      }
      std::size_t applied = 0;
      for (const auto& m : mutations) {
        const auto& mo = m.get_object();
        const std::string_view client = mo.at("clientID").get_string();
        const std::int64_t id = mo.at("id").as_int64();
        ClientState& st = clientState(clients, group, client);
        Result r{client, id, Outcome::Applied, {}, {}};
        if (st.stopped) {
          r.outcome = Outcome::Rejected;
          r.error = "MutationIDGap";
        } else if (id <= st.last) {
          r.outcome = Outcome::Skipped;
        } else if (id > st.last + 1) {
          r.outcome = Outcome::Rejected;
          r.error = "MutationIDGap";
          r.message = "expected mutation id " + std::to_string(st.last + 1) + ", got " + std::to_string(id);
          st.stopped = true;
        } else {
          savepoint.run();
          try {
            runMutator(mo.at("name").get_string(), mo.at("args"));
            release.run();
            ++applied;
          } catch (const MutatorFailure& e) {
            rollback_to.run();
            release.run();
            r.outcome = Outcome::Failed;
            r.error = e.kind;
            r.message = e.what();
          }
          st.last = id;
          st.dirty = true;
        }
        results.push_back(std::move(r));
      }
      for (const auto& c : clients) {
        if (!c.dirty) continue;
        put_client.text(1, group);
        put_client.text(2, c.client_id);
        put_client.integer(3, c.last);
        put_client.run();
      }
      head.step();
      const std::int64_t version = sqlite3_column_int64(head.get(), 0);
      head.reset();
      commit.run();
      if (guard.owns_lock()) guard.unlock();
      commits.fetch_add(1, std::memory_order_relaxed);
      if (version_out != nullptr) *version_out = static_cast<std::uint64_t>(version);

      // The response, in plasma's JSON shape.
      std::string out;
      out.reserve(64 + clients.size() * 48);
      out += "{\"results\":[";
      bool first = true;
      for (const auto& r : results) {
        if (r.outcome == Outcome::Applied) continue;
        if (!first) out.push_back(',');
        first = false;
        out += "{\"clientID\":";
        appendJsonString(out, r.client_id);
        out += ",\"id\":";
        appendInt(out, r.id);
        out += r.outcome == Outcome::Failed ? ",\"outcome\":\"failed\"" : r.outcome == Outcome::Skipped ? ",\"outcome\":\"skipped\"" : ",\"outcome\":\"rejected\"";
        if (!r.error.empty()) {
          out += ",\"error\":";
          appendJsonString(out, r.error);
        }
        if (!r.message.empty()) {
          out += ",\"message\":";
          appendJsonString(out, r.message);
        }
        out.push_back('}');
      }
      out += "],\"lastMutationIDs\":{";
      for (std::size_t i = 0; i < clients.size(); ++i) {
        if (i) out.push_back(',');
        appendJsonString(out, clients[i].client_id);
        out.push_back(':');
        appendInt(out, clients[i].last);
      }
      out += "},\"version\":";
      appendInt(out, version);
      out.push_back('}');
      return {applied, out.size()};
    } catch (...) {
      sqlite3_exec(db->get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
};

class SqlitePushEndpoint final : public PushEndpoint {
 public:
  SqlitePushEndpoint(const std::filesystem::path& file, const char* synchronous, std::size_t pushers,
                     WriterMode mode = WriterMode::Mutex)
      : mode_(mode), parse_buffers_(pushers, std::vector<unsigned char>(256 << 10)) {
    const std::size_t connections = mode == WriterMode::SharedConnection ? 1 : pushers;
    for (std::size_t i = 0; i < connections; ++i) {
      auto db = openDb(file, synchronous);
      if (i == 0) db->exec(kSchemaSql);
      // Checkpoints run on their own thread (below), not inside a pusher's
      // COMMIT, where they would hold the write lock through their syncs.
      db->exec("PRAGMA wal_autocheckpoint=0");
      conns_.push_back(std::make_unique<PushConnection>(std::move(db)));
    }
    checkpoint_db_ = openDb(file, synchronous);
    checkpointer_ = std::thread([this] { checkpointLoop(); });
  }
  ~SqlitePushEndpoint() override {
    {
      std::lock_guard lock(checkpoint_mu_);
      stop_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpointer_.join();
  }
  PushResult push(std::size_t pusher, const std::string& body) override {
    return conns_[conns_.size() == 1 ? 0 : pusher]->push(body, parse_buffers_[pusher], lock(), commits_, nullptr);
  }
  // The change log's head after the push.
  std::uint64_t pushVersion(const std::string& body) {
    std::uint64_t version = 0;
    const PushResult r = conns_[0]->push(body, parse_buffers_[0], lock(), commits_, &version);
    if (r.applied != kMutationsPerPush) throw std::runtime_error("sqlite push: a mutation was not applied");
    return version;
  }
  std::uint64_t countTodos() override {
    Stmt count(*conns_[0]->db, "SELECT count(*) FROM todos");
    count.step();
    return static_cast<std::uint64_t>(sqlite3_column_int64(count.get(), 0));
  }
  std::uint64_t commits() override { return commits_.load(); }
  Db& db() { return *conns_[0]->db; }

 private:
  std::mutex* lock() noexcept { return mode_ == WriterMode::Busy ? nullptr : &writer_lock_; }
  // A PASSIVE checkpoint every kCheckpointEvery: it copies WAL frames into
  // the database file (and syncs it, as `synchronous` says) without
  // blocking writers; SQLite restarts the WAL once it is fully copied.
  void checkpointLoop() {
    static constexpr auto kCheckpointEvery = std::chrono::milliseconds(10);
    std::unique_lock lock(checkpoint_mu_);
    while (!checkpoint_cv_.wait_for(lock, kCheckpointEvery, [&] { return stop_; })) {
      lock.unlock();
      sqlite3_wal_checkpoint_v2(checkpoint_db_->get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
  }
  const WriterMode mode_;
  std::vector<std::vector<unsigned char>> parse_buffers_;  // per pusher: parsing happens outside the lock
  std::vector<std::unique_ptr<PushConnection>> conns_;
  std::atomic<std::uint64_t> commits_{0};
  std::mutex writer_lock_;
  std::unique_ptr<Db> checkpoint_db_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool stop_ = false;
  std::thread checkpointer_;
};

// ---- pull -------------------------------------------------------------------------

struct PullReader {
  std::unique_ptr<Db> db;
  Stmt begin, commit, changes, clients;
  std::uint64_t cookie = 0, head = 0;

  // Reused between pulls: entry bytes, entries and the newest-entry index.
  struct Entry {
    std::uint64_t version;
    std::uint32_t key_at, table_len, id_len;  // arena: table '\0' id
    std::uint32_t json_at, json_len;          // arena: row_json (put)
    bool put;
    bool superseded;
  };
  struct KeyRef {
    std::uint32_t at, len;
  };
  struct KeyHash {
    const std::string* arena;
    std::size_t operator()(const KeyRef& k) const noexcept {
      return std::hash<std::string_view>{}(std::string_view(arena->data() + k.at, k.len));
    }
  };
  struct KeyEq {
    const std::string* arena;
    bool operator()(const KeyRef& a, const KeyRef& b) const noexcept {
      return std::string_view(arena->data() + a.at, a.len) == std::string_view(arena->data() + b.at, b.len);
    }
  };
  std::string arena;
  std::vector<Entry> entries;
  std::unordered_map<KeyRef, std::size_t, KeyHash, KeyEq> newest{64, KeyHash{&arena}, KeyEq{&arena}};

  explicit PullReader(std::unique_ptr<Db> d)
      : db(std::move(d)),
        begin(*db, "BEGIN"),
        commit(*db, "COMMIT"),
        changes(*db,
                "SELECT row_version, table_name, row_id, op, row_json FROM _plasma_changes "
                "WHERE row_version > ?1 ORDER BY row_version"),
        clients(*db, "SELECT client_id, last_mutation_id FROM _plasma_clients WHERE client_group_id = ?1") {}

  struct Pulled {
    std::string body;
    std::size_t puts = 0, dels = 0, clients = 0;
    std::uint64_t cookie = 0;
  };

  Pulled pull(std::string_view client_group_id, std::uint64_t from) {
    Pulled out;
    arena.clear();
    entries.clear();
    newest.clear();
    std::uint64_t cookie = from;
    std::string response;
    bool first = true;
    begin.run();
    try {
      changes.integer(1, static_cast<std::int64_t>(from));
      sqlite3_stmt* s = changes.get();
      while (changes.step() == SQLITE_ROW) {
        Entry e{};
        e.version = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        const auto* table = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
        e.table_len = static_cast<std::uint32_t>(sqlite3_column_bytes(s, 1));
        const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(s, 2));
        e.id_len = static_cast<std::uint32_t>(sqlite3_column_bytes(s, 2));
        const auto* op = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
        e.put = op != nullptr && op[0] == 'p';
        e.key_at = static_cast<std::uint32_t>(arena.size());
        arena.append(table, e.table_len).push_back('\0');
        arena.append(id, e.id_len);
        if (e.put) {
          const auto* json = reinterpret_cast<const char*>(sqlite3_column_text(s, 4));
          e.json_len = static_cast<std::uint32_t>(sqlite3_column_bytes(s, 4));
          e.json_at = static_cast<std::uint32_t>(arena.size());
          arena.append(json, e.json_len);
        }
        const KeyRef key{e.key_at, e.table_len + 1 + e.id_len};
        auto [it, inserted] = newest.try_emplace(key, entries.size());
        if (!inserted) {
          entries[it->second].superseded = true;
          it->second = entries.size();
        }
        entries.push_back(e);
        cookie = e.version;
      }
      changes.reset();

      response.reserve(128 + arena.size() + entries.size() * 48);
      response += "{\"cookie\":";
      appendInt(response, static_cast<std::int64_t>(cookie));
      response += ",\"lastMutationIDChanges\":{";
      clients.text(1, client_group_id);
      while (clients.step() == SQLITE_ROW) {
        if (!first) response.push_back(',');
        first = false;
        const auto* cid = reinterpret_cast<const char*>(sqlite3_column_text(clients.get(), 0));
        appendJsonString(response, std::string_view(cid, static_cast<std::size_t>(sqlite3_column_bytes(clients.get(), 0))));
        response.push_back(':');
        appendInt(response, sqlite3_column_int64(clients.get(), 1));
        ++out.clients;
      }
      clients.reset();
      commit.run();
    } catch (...) {
      changes.reset();
      clients.reset();
      sqlite3_exec(db->get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    response += "},\"patch\":[";
    std::string key;
    first = true;
    for (const Entry& e : entries) {
      if (e.superseded) continue;
      if (!first) response.push_back(',');
      first = false;
      key.assign(arena, e.key_at, e.table_len);
      key.push_back('/');
      key.append(arena, e.key_at + e.table_len + 1, e.id_len);
      response += e.put ? "{\"op\":\"put\",\"key\":" : "{\"op\":\"del\",\"key\":";
      appendJsonString(response, key);
      if (e.put) {
        response += ",\"value\":";
        response.append(arena, e.json_at, e.json_len);
        ++out.puts;
      } else {
        ++out.dels;
      }
      response.push_back('}');
    }
    response += "]}";
    out.body = std::move(response);
    out.cookie = cookie;
    return out;
  }
};

struct SqliteSyncSide {
  std::map<std::string, std::unique_ptr<PushBench>> push;  // by workload
  std::unique_ptr<PullReader> pull;
};

std::unique_ptr<SqliteSyncSide>& sideSlot() {
  static std::unique_ptr<SqliteSyncSide> side;
  return side;
}
SqliteSyncSide& side() {
  auto& s = sideSlot();
  if (!s) s = std::make_unique<SqliteSyncSide>();
  return *s;
}

PullReader& pullReader() {
  auto& s = side();
  if (!s.pull) {
    const auto file = workDir() / "sync_pull_sqlite.db";
    std::uint64_t cookie = 0, head = 0;
    {
      // Loaded through the same push path, without syncing (pulls only read).
      SqlitePushEndpoint loader(file, "PRAGMA synchronous=OFF", 1);
      const PullScript& script = pullScript();
      for (const auto& body : script.preload) cookie = loader.pushVersion(body);
      for (const auto& body : script.tail) head = loader.pushVersion(body);
      loader.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    flushWorkDir();
    auto reader = std::make_unique<PullReader>(openDb(file, "PRAGMA synchronous=NORMAL"));
    reader->cookie = cookie;
    reader->head = head;
    s.pull = std::move(reader);
  }
  return *s.pull;
}

}  // namespace

void syncPushSqlite(benchmark::State& state, std::size_t pushers, bool durable, WriterMode mode) {
  guarded(state, [&] {
    const std::string key = std::string(durable ? "durable" : "relaxed") + std::to_string(pushers) +
                            (mode == WriterMode::Busy ? "_busy" : mode == WriterMode::SharedConnection ? "_1conn" : "");
    auto& slot = side().push[key];
    if (!slot) {
      auto endpoint = std::make_unique<SqlitePushEndpoint>(
          workDir() / ("sync_push_sqlite_" + key + ".db"),
          durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", pushers, mode);
      slot = makePushBench(std::move(endpoint), "sqlite-" + key, pushers);
    }
    runPushWorkload(state, *slot);
  });
}

void syncPullSqlite(benchmark::State& state) {
  guarded(state, [&] {
    PullReader& r = pullReader();
    const PullScript& script = pullScript();
    std::uint64_t bytes = 0, bad = 0;
    const WallClock clock;
    for (auto _ : state) {
      const auto p = r.pull(script.client_group_id, r.cookie);
      bytes += p.body.size();
      if (p.puts + p.dels != kPullChanges || p.dels != kPullDeletes || p.cookie != r.head || p.clients != 1) ++bad;
    }
    const double seconds = clock.seconds();
    expectCount(state, bad, 0, "pulls with a wrong patch, cookie or lastMutationIDChanges");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * kPullChanges, seconds);
    state.counters["response_bytes"] =
        state.iterations() > 0 ? static_cast<double>(bytes) / static_cast<double>(state.iterations()) : 0;
  });
}

void closeSyncSqlite() noexcept { sideSlot().reset(); }

}  // namespace plasma_bench::syncbench
