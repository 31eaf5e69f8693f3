// plasma/database.hpp — the embedded database: one LMDB environment in a
// directory, the tables of one Schema, and the change log.
//
//   auto db = plasma::Database::open("./data", schema);
//   db.ensureSchema();
//   db.write([&](plasma::Tx& tx) {
//     tx.insert(todos).values({{todos.id, "t1"}, {todos.title, "buy milk"}, {todos.updatedAt, 1}});
//   });
//
// Durability: by default every committed write transaction is on disk when
// write() returns (LMDB synced commit). See OpenOptions::durability for the
// faster modes and what they can lose.
//
// Thread-safety: a Database may be used from many threads. Reads never block
// (MVCC snapshots); write transactions are serialized (one writer at a time).
#pragma once

#include <any>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "plasma/commit.hpp"
#include "plasma/expr.hpp"
#include "plasma/operators.hpp"
#include "plasma/query.hpp"
#include "plasma/row.hpp"
#include "plasma/schema.hpp"

namespace plasma {

namespace detail {
class DatabaseImpl;
class TxnState;
}  // namespace detail

enum class Durability {
  // Every commit is synced (data and LMDB meta page). Nothing acknowledged is lost.
  Full,
  // MDB_NOMETASYNC: data pages are synced, the meta page is not. A system
  // crash (not a process crash) can roll back the last committed
  // transactions; the database stays consistent.
  NoMetaSync,
  // MDB_NOSYNC: no sync at all. A system crash can lose every transaction
  // since the OS last flushed, and with some file systems corrupt the
  // database. For tests and rebuildable caches only.
  NoSync,
  // Write-ahead log (engine/wal.hpp): a commit appends its writes to
  // `plasma.wal` and syncs that one sequential append; LMDB's pages are
  // synced at checkpoints. Nothing acknowledged is lost, and the database
  // is never left damaged. Only one process may open the directory.
  Wal,
  // As Wal, but the log is synced in the background every
  // wal_sync_interval_ms. A process crash loses nothing; a system crash
  // loses at most the commits of the last interval; the database is never
  // left damaged. (SQLite's WAL with synchronous=NORMAL makes the same
  // promise.)
  WalAsync,
};

struct OpenOptions {
  // LMDB map size: the most the database can hold. The file grows as data is
  // written; the map is address space, not disk. When full, writes fail with
  // StorageError (isMapFull()); reopen with a larger size.
  std::size_t map_size_bytes = std::size_t{16} << 30;
  Durability durability = Durability::Full;
  unsigned max_readers = 126;
  // Re-run the schema-driven verifier on every row read from the store.
  // Rows are always verified before they are written; this guards against
  // a damaged file at the cost of ~15 ns per row.
  bool verify_rows_on_read = false;
  // Keep the change log (row_version, changesSince, pulls). A store that
  // never serves pulls — the client engine's local store — turns it off:
  // writes then append nothing and the log does not grow.
  bool change_log = true;
  // Durability::Wal / WalAsync: a checkpoint (one sync of LMDB's pages,
  // then a new log) runs in the background once the log holds this many
  // bytes, or this long after the first commit since the last checkpoint.
  // Until a checkpoint, pages freed since the previous one are not reused,
  // so the data file can grow by what the interval writes. Recovery after a
  // crash replays at most that much log.
  std::uint64_t wal_checkpoint_bytes = std::uint64_t{64} << 20;  // must be positive
  std::uint32_t wal_checkpoint_interval_ms = 1000;  // 0: only by size or Database::checkpoint()
  std::uint32_t wal_sync_interval_ms = 100;         // WalAsync: the most a system crash can lose
};

// Who a write is for: recorded in every change-log entry it appends.
struct WriteContext {
  std::string client_group_id;
  std::string client_id;
  std::int64_t mutation_id = 0;
};

struct WriteResult {
  std::size_t rows_affected = 0;  // rows inserted, updated or deleted by the statement itself
  std::size_t rows_cascaded = 0;  // further rows deleted or set NULL by foreign-key actions
};

using RowInput = std::vector<Assignment>;

// Put/Del: a row changed. Confirm: the sync node confirmed mutation_id of
// (client_group_id, client_id) — only logEntries() returns these.
enum class ChangeOp : std::uint8_t { Put, Del, Confirm };

struct Change {
  std::uint64_t version = 0;  // row_version
  ChangeOp op = ChangeOp::Put;
  std::string table;
  std::string id;
  std::optional<OwnedRow> row;  // the row image for Put
  std::string client_group_id;
  std::string client_id;
  std::int64_t mutation_id = 0;
};

struct CompactionResult {
  std::uint64_t removed = 0;  // entries at or below the horizon that were superseded
  std::uint64_t kept = 0;     // entries at or below the horizon that remain
};

// table name -> row id -> row
using Snapshot = std::map<std::string, std::map<std::string, OwnedRow, std::less<>>, std::less<>>;

// What runMigrations changed (or, before applying, would change).
struct SchemaDiff {
  std::vector<std::string> added_tables;
  std::vector<std::string> added_columns;   // "table.column"
  std::vector<std::string> added_indexes;   // "table.index"
  std::vector<std::string> dropped_indexes; // "table.index"
  std::vector<std::string> changed;         // metadata-only changes (defaults, nullability relaxed)
  bool version_changed = false;
  bool empty() const noexcept {
    return added_tables.empty() && added_columns.empty() && added_indexes.empty() &&
           dropped_indexes.empty() && changed.empty() && !version_changed;
  }
  std::string toString() const;
};

class ReadTx;

namespace detail {
// Walks the rows of one table in id order; the engine behind ReadTx::scan.
// REQUIRES: used only while its transaction is open.
struct BoundTable;
class OrderedScan;

class RowScanner {
 public:
  RowScanner(TxnState& state, const Table& table);
  RowScanner(TxnState& state, BoundTable& table);
  RowScanner(const RowScanner&) = delete;
  RowScanner& operator=(const RowScanner&) = delete;
  ~RowScanner();
  // Moves to the next row (the first on the first call); false at the end.
  bool next();
  const RowView& row() const noexcept { return row_; }

 private:
  void fill();

  // Rows run ahead of the caller by up to kLookahead entries, each
  // prefetched when it enters the ring, so the dependent loads that read a
  // FlatBuffers row (root offset -> table -> vtable -> field) hit the cache.
  static constexpr std::size_t kLookahead = 8;
  struct Entry {
    std::string_view key, value;
  };
  // The rows in key order: in a read transaction the leaf pages read in
  // place, else (or after anything unexpected) LMDB's cursor.
  std::unique_ptr<OrderedScan> scan_;
  const RowLayout* layout_ = nullptr;
  bool verify_ = false;
  std::size_t lookahead_ = kLookahead;  // 1 in write transactions (see next())
  bool exhausted_ = false;
  std::size_t head_ = 0, count_ = 0;
  Entry ring_[kLookahead];
  RowView row_{nullptr, nullptr, 0, {}};
};
}  // namespace detail

// A read-only view of one consistent snapshot.
class ReadTx {
 public:
  explicit ReadTx(detail::TxnState& state) noexcept : state_(&state) {}

  // The row with this id, read in place; valid until the callback returns.
  std::optional<RowView> get(const Table& table, std::string_view id) const;
  // Visits rows in id order until fn returns false (fn may also return
  // void to visit every row). The RowView is valid during the call only.
  template <class F>
  void scan(const Table& table, F&& fn) const {
    detail::RowScanner scanner(*state_, table);
    while (scanner.next()) {
      if constexpr (std::is_void_v<decltype(fn(scanner.row()))>) {
        fn(scanner.row());
      } else if (!fn(scanner.row())) {
        break;
      }
    }
  }
  std::uint64_t count(const Table& table) const;

  // Queries in this transaction (query.hpp). select(t) is select().from(t).
  SelectBuilder select() const { return SelectBuilder(queryContext(), {}); }
  SelectBuilder select(std::vector<ProjectionItem> projection) const {
    return SelectBuilder(queryContext(), std::move(projection));
  }
  SelectBuilder select(const Table& table) const { return select().from(table); }
  QueryContext queryContext() const;

  detail::TxnState& state() const noexcept { return *state_; }

 private:
  detail::TxnState* state_;
};

class Tx;

class [[nodiscard]] InsertStatement {
 public:
  WriteResult values(const RowInput& row);
  WriteResult values(const std::vector<RowInput>& rows);
  // Column name -> JSON value; checked against the column types at run time.
  WriteResult values(const boost::json::object& row);

 private:
  friend class Tx;
  InsertStatement(Tx* tx, const Table* table) : tx_(tx), table_(table) {}
  Tx* tx_;
  const Table* table_;
};

class [[nodiscard]] UpdateStatement {
 public:
  UpdateStatement& set(RowInput assignments);
  UpdateStatement& set(const boost::json::object& assignments);
  WriteResult where(const Expr& predicate);
  WriteResult all();

 private:
  friend class Tx;
  UpdateStatement(Tx* tx, const Table* table) : tx_(tx), table_(table) {}
  Tx* tx_;
  const Table* table_;
  RowInput set_;
};

class [[nodiscard]] DeleteStatement {
 public:
  WriteResult where(const Expr& predicate);
  WriteResult all();

 private:
  friend class Tx;
  DeleteStatement(Tx* tx, const Table* table) : tx_(tx), table_(table) {}
  Tx* tx_;
  const Table* table_;
};

// A write transaction: every statement in it commits or rolls back together.
class Tx : public ReadTx {
 public:
  explicit Tx(detail::TxnState& state) noexcept : ReadTx(state) {}

  InsertStatement insert(const Table& table) { return InsertStatement(this, &table); }
  UpdateStatement update(const Table& table) { return UpdateStatement(this, &table); }
  DeleteStatement deleteFrom(const Table& table) { return DeleteStatement(this, &table); }

  const WriteContext& context() const noexcept;
  // Who the following writes are for (recorded in their change-log entries).
  void setContext(WriteContext context);

  // Checks every row written from now on against its table's auth.write
  // predicate built from `ctx` (inserts: the new row; updates: the row
  // before and after; deletes: the row before). A rejected write throws
  // Error(Unauthorized) and fails like any statement. nullptr: no checks.
  void enforceWriteAuth(std::shared_ptr<const std::any> ctx);

  // Runs fn(*this) in a nested transaction: if it throws, exactly its
  // writes are undone (rows, indexes, change log, commit-observer capture)
  // and the exception propagates, leaving this transaction usable; if it
  // returns, its writes become part of this transaction. Savepoints nest.
  void savepoint(const std::function<void(Tx&)>& fn);

  // Writes a whole row given as its stored FlatBuffers bytes (as a pull
  // carries them): the bytes are verified against the table's layout, then
  // the row is inserted, or replaces every column of the row with this id
  // (unchanged bytes: nothing is written). Indexes, constraints, the change
  // log and commit observers see an ordinary insert or update. Returns
  // rows_affected 1 when it wrote.
  WriteResult putRow(const Table& table, std::string_view id, std::span<const std::uint8_t> row);
};

class Database {
 public:
  // Opens (creating if needed) the database in `dir`. Does not change the
  // stored schema: call ensureSchema() or runMigrations().
  static Database open(const std::filesystem::path& dir, const Schema& schema, OpenOptions options = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  const Schema& schema() const noexcept;
  const std::filesystem::path& path() const noexcept;

  // Idempotent: creates every table and index the schema declares when the
  // store is new, and applies additive changes otherwise (as runMigrations).
  void ensureSchema();
  // Applies additive changes (new tables, new nullable or defaulted columns,
  // new indexes built over existing rows, dropped indexes) without rewriting
  // rows, and returns them. Throws MigrationRefused for dropped tables or
  // columns, renames, type changes and new NOT NULL constraints; the store is
  // left unchanged then.
  SchemaDiff runMigrations();
  // What runMigrations would do, without doing it.
  SchemaDiff planMigrations() const;

  // Runs fn(Tx&) in one write transaction and commits it. If fn throws,
  // nothing it wrote remains and the exception propagates.
  template <class F>
  decltype(auto) write(F&& fn, const WriteContext& context = {}) {
    WriteScope scope(*this, context);
    if constexpr (std::is_void_v<decltype(fn(scope.tx()))>) {
      fn(scope.tx());
      scope.commit();
    } else {
      auto result = fn(scope.tx());
      scope.commit();
      return result;
    }
  }

  // Runs fn(ReadTx&) on one consistent snapshot.
  template <class F>
  decltype(auto) read(F&& fn) const {
    ReadScope scope(*this);
    return fn(scope.tx());
  }

  // Flushes every committed transaction to disk (fdatasync). With
  // Durability::NoMetaSync, a commit is durable once a later sync (this, or
  // the data sync of the next commit) has completed: the sync node uses
  // that to acknowledge pushes durably with one sync per group commit.
  // Throws StorageError when the sync fails, and the database is then
  // poisoned (ErrorCode::Poisoned for every later write until reopened):
  // after a failed sync, what the file holds on disk is unknown.
  void sync();

  // Durability::Wal / WalAsync: syncs LMDB's pages and starts a new log now
  // (checkpoints also run by themselves; see OpenOptions). A no-op in the
  // other modes.
  void checkpoint();

  // Convenience: one row copied out of its own read transaction.
  std::optional<OwnedRow> get(const Table& table, std::string_view id) const;

  // Queries, each run in a fresh read transaction (query.hpp).
  SelectBuilder select() const { return SelectBuilder(queryContext(), {}); }
  SelectBuilder select(std::vector<ProjectionItem> projection) const {
    return SelectBuilder(queryContext(), std::move(projection));
  }
  QueryContext queryContext() const noexcept { return QueryContext{impl_.get(), nullptr, nullptr}; }

  // Calls `observer` after every commit that changed rows (commit.hpp);
  // with `with_snapshot`, each event carries a snapshot of that commit.
  CommitSubscription onCommit(CommitObserver observer, bool with_snapshot = false);
  // Several processes may open one directory (LMDB serializes their
  // writers). Commits made by another process are not seen by this one's
  // observers as they happen: this notices them (it compares LMDB's newest
  // transaction id with the ones this process accounted for; a cheap read of
  // the environment's meta page) and, if there were any, delivers one
  // CommitEvent with `external` set and no row changes — live queries then
  // recompute from a fresh snapshot. A commit of this process also notices
  // (and reports first) the other processes' commits before it. Returns true
  // when it reported something. The client engine calls it on a short timer.
  bool checkExternalCommits();

  // ---- change log -------------------------------------------------------
  // The newest row_version (0 for an empty log).
  std::uint64_t headVersion() const;
  // Every row changed after `cookie`, once each, in its newest state, in
  // version order. Cost is proportional to the entries after the cookie.
  std::vector<Change> changesSince(std::uint64_t cookie) const;
  // Raw entries with after < version <= upto (0: to the head), in order.
  std::vector<Change> logEntries(std::uint64_t after, std::uint64_t upto = 0) const;
  // Folds the log at or below the horizon: for each row, only its newest
  // entry at or below `safe_up_to_version` stays (deletes stay as
  // tombstones); entries above the horizon are untouched. Clients pulling
  // from any cookie still converge; snapshotAsOf(c) stays exact for
  // c >= the horizon and loses intermediate states below it (seed 004).
  CompactionResult compactChangeLog(std::uint64_t safe_up_to_version);
  // Every table's rows as of `cookie`, replayed from the change log.
  Snapshot snapshotAsOf(std::uint64_t cookie) const;

  // A FlatBuffers schema (.fbs) for the stored rows of `root_table`, with
  // every table of the schema declared, so any FlatBuffers language can read
  // stored rows.
  std::string emitFbs(std::string_view root_table) const;

  detail::DatabaseImpl& impl() const noexcept { return *impl_; }

 private:
  explicit Database(std::unique_ptr<detail::DatabaseImpl> impl);

  class WriteScope {
   public:
    WriteScope(Database& db, const WriteContext& context);
    ~WriteScope();
    Tx& tx();
    void commit();
   private:
    std::unique_ptr<detail::TxnState> state_;
    std::optional<Tx> tx_;
    detail::DatabaseImpl* db_;
  };
  class ReadScope {
   public:
    explicit ReadScope(const Database& db);
    ~ReadScope();
    ReadTx& tx();
   private:
    detail::TxnState* state_;
    std::optional<ReadTx> tx_;
    detail::DatabaseImpl* db_;
  };

  std::unique_ptr<detail::DatabaseImpl> impl_;
};

// The original's createServerDb({schema, executor, ctx}): a read handle bound
// to a caller's context. Every query through it applies each table's
// auth.read predicate (TableOptions::auth) built from the context: to the
// `from` table and to every joined table (a left-joined row the caller may
// not read counts as no match), and inside subqueries. Tables without an
// auth.read are unrestricted.
class ServerDb {
 public:
  ServerDb(const Database& db, std::any ctx)
      : db_(&db), ctx_(std::make_shared<const std::any>(std::move(ctx))) {}
  SelectBuilder select() const { return SelectBuilder(context(), {}); }
  SelectBuilder select(std::vector<ProjectionItem> projection) const {
    return SelectBuilder(context(), std::move(projection));
  }
  const std::any& ctx() const noexcept { return *ctx_; }

 private:
  QueryContext context() const {
    QueryContext c = db_->queryContext();
    c.auth_ctx = ctx_;
    return c;
  }
  const Database* db_;
  std::shared_ptr<const std::any> ctx_;
};

inline ServerDb createServerDb(const Database& db, std::any ctx) { return ServerDb(db, std::move(ctx)); }

// A new UUIDv7 as a 36-character string: time-ordered, so ids inserted
// together land next to each other in the B+tree.
std::string newId();

}  // namespace plasma
