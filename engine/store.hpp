// engine/store.hpp — the internals behind plasma::Database: the bound
// tables (schema + catalog slots + LMDB handles) and transaction state.
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <xxhash.h>

#include "engine/catalog.hpp"
#include "engine/lmdb.hpp"
#include "engine/row_codec.hpp"
#include "engine/tree_reader.hpp"
#include "engine/wal.hpp"
#include "plasma/database.hpp"

namespace plasma::detail {

// Hashes encoded keys (table \0 id, index keys) for in-memory maps.
struct KeyHash {
  std::size_t operator()(std::string_view s) const noexcept { return XXH3_64bits(s.data(), s.size()); }
};

// Named limits, with the reason for each.
struct Limits {
  // LMDB's compiled-in maximum key size (also the maximum dupsort value).
  static constexpr std::size_t kMaxKeyBytes = 511;
  // Ids are keys of the row table and values of every index.
  static constexpr std::size_t kMaxIdBytes = 256;
  // Compaction deletes at most this many entries per write transaction, so
  // writers are never blocked for long.
  static constexpr std::size_t kCompactionBatch = 10'000;
  // Compaction remembers one 128-bit hash per distinct row it meets; past
  // this many log entries it makes several passes over key partitions.
  static constexpr std::uint64_t kCompactionKeysPerPass = 4'000'000;
  // Change-log entries of a transaction are buffered and written in runs of
  // up to this many bytes, so that the pages of a table and of the log are
  // allocated in long runs instead of interleaved page by page (denser
  // tables, faster scans); bounded so a huge transaction stays bounded too.
  static constexpr std::size_t kLogBufferBytes = std::size_t{4} << 20;
};

struct BoundTable;

struct BoundIndex {
  IndexSpec spec;
  std::vector<std::uint32_t> columns;  // column indexes
  MDB_dbi dbi = 0;
};

// A foreign key of `child` pointing at this table.
struct ChildRef {
  BoundTable* child = nullptr;
  std::uint32_t column = 0;
  OnDelete on_delete = OnDelete::NoAction;
  const BoundIndex* index = nullptr;  // an index whose first column is `column`
};

struct BoundTable {
  const TableSpec* spec = nullptr;
  std::shared_ptr<RowLayout> layout;
  MDB_dbi rows = 0;
  std::string rows_name;  // the rows' LMDB database name
  std::vector<BoundIndex> indexes;
  std::vector<ChildRef> children;
  std::vector<std::pair<std::uint32_t, BoundTable*>> parents;  // (column, referenced table)
  bool logged = true;
  // Logged tables with an auth.read predicate: each change-log entry also
  // carries the row's image before the write (ChangeEntry.before_row), so a
  // pull can tell whether the caller could read the row at its cookie.
  bool log_before_row = false;

  const BoundIndex* indexLeadingWith(std::uint32_t column) const;
};

class DatabaseImpl;

// The live-query machinery (query/live.cpp), owned by the database.
class LiveHubBase {
 public:
  virtual ~LiveHubBase() = default;
  virtual void shutdown() noexcept = 0;
};

// One LMDB transaction and what the engine keeps beside it.
class TxnState {
 public:
  TxnState(DatabaseImpl& db, lmdb::Txn txn, WriteContext context);

  DatabaseImpl& db;
  lmdb::Txn txn;
  WriteContext context;
  // Write transactions with a write-ahead log: what they wrote, for the log.
  wal::Redo redo;
  // Write transactions only:
  RowEncoder encoder;
  flatbuffers::FlatBufferBuilder entry_builder{512};
  std::optional<std::uint64_t> head;  // change-log head, loaded on first append
  bool head_dirty = false;
  // Buffered change-log writes (see Limits::kLogBufferBytes): entry bytes,
  // flushed in order by DatabaseImpl::flushLog.
  struct PendingEntry {
    std::uint64_t version;
    std::uint32_t entry_begin, entry_size;
  };
  std::string log_arena;
  std::vector<PendingEntry> log_pending;
  // The row's bytes before an update, copied before the row is overwritten
  // (LMDB may rewrite a dirty page in place), for ChangeEntry.before_row.
  std::string before_scratch;
  // Net row changes for commit observers (only when someone observes).
  bool capture = false;
  std::vector<RowChange> changes;
  std::unordered_map<std::string, std::size_t> change_index;  // table \0 id -> changes[i]
  void recordChange(const TableSpec* table, std::string_view id, std::optional<OwnedRow> before,
                    std::optional<OwnedRow> after);
  std::optional<std::string> failed;  // set when a statement failed: the transaction may not commit

  // Authorization (Tx::enforceWriteAuth): when set, every row written is
  // checked against its table's auth.write predicate built from this ctx.
  std::shared_ptr<const std::any> write_auth;
  std::unordered_map<const TableSpec*, Expr> write_auth_predicates;  // built lazily per table
  void checkWriteAuth(const BoundTable& t, const RowView& row, const char* action);

  // Savepoints (Tx::savepoint): nested LMDB transactions. While one is
  // open, capture changes to entries that predate it are remembered here so
  // a rollback can restore them.
  struct SavepointMark {
    lmdb::Txn parent;
    std::optional<std::uint64_t> head;
    bool head_dirty = false;
    std::size_t changes_size = 0;
    std::size_t capture_undo_size = 0;
    std::size_t redo_size = 0;
    WriteContext context;
  };
  std::vector<SavepointMark> savepoints;
  std::vector<std::pair<std::size_t, std::optional<OwnedRow>>> capture_undo;
  void beginSavepoint();
  void releaseSavepoint();   // keeps the writes
  void rollbackSavepoint() noexcept;  // undoes them

  bool writable() const noexcept { return !txn.readOnly(); }
  void checkUsable() const;

  // A cursor on `dbi` kept for the life of this state (renewed with the
  // read transaction), for point lookups that must return the stored key.
  MDB_cursor* cursor(MDB_dbi dbi);
  // Read transactions: the B-tree of `dbi` (the database named `name`) for
  // the batched tree reader, found once per snapshot; null when the reader
  // cannot be used with it.
  const Tree* tree(MDB_dbi dbi, const std::string& name);
  // Called after the read transaction was renewed.
  void renewed() noexcept { ++generation_; }
  // Write transactions: LMDB frees their cursors when the transaction ends.
  void forgetCursors() noexcept { cursors_.clear(); }
  ~TxnState();

 private:
  struct CachedCursor {
    MDB_cursor* cursor = nullptr;
    std::uint64_t generation = 0;
  };
  std::vector<CachedCursor> cursors_;  // indexed by dbi
  struct CachedTree {
    std::uint64_t generation = ~std::uint64_t{0};
    std::optional<Tree> tree;
  };
  std::vector<CachedTree> trees_;  // indexed by dbi
  std::vector<std::vector<CachedCursor>> saved_cursors_;  // per open savepoint: the parent's
  std::uint64_t generation_ = 0;
};

// The entries of database `dbi` (named `name`) from the first key >=
// `start`, in key order. In a read transaction the leaf pages are read in
// place (TreeCursor); if the walk meets anything unexpected, or in a write
// transaction, LMDB's cursor serves (after the last key already given).
class OrderedScan {
 public:
  OrderedScan(TxnState& s, MDB_dbi dbi, const std::string& name, std::string start);
  // Moves to the next entry (the first on the first call); false at the end.
  bool next();
  std::string_view key() const noexcept { return key_; }
  std::string_view value() const noexcept { return value_; }

 private:
  TxnState& state_;
  MDB_dbi dbi_;
  std::optional<TreeCursor> walk_;
  lmdb::Cursor cursor_;  // opened when the walk cannot serve; then positioned on the last entry given
  std::string start_;
  std::string_view key_, value_;
  bool given_ = false;  // an entry was given
};

class DatabaseImpl {
 public:
  DatabaseImpl(std::filesystem::path dir, Schema schema, OpenOptions options);
  ~DatabaseImpl();

  // ---- tables
  BoundTable& table(const Table& t);
  BoundTable& table(const TableSpec& spec);
  BoundTable* tableByName(std::string_view name);
  void requireReady() const;

  // ---- transactions
  std::unique_ptr<TxnState> beginWrite(const WriteContext& context);
  void commit(TxnState& state);
  TxnState* acquireRead();
  void releaseRead(TxnState* state) noexcept;

  // ---- schema
  SchemaDiff migrate(bool apply);

  // ---- live queries (query/live.cpp): created on first use, stopped
  // before anything else in the destructor.
  std::mutex live_mu;
  std::shared_ptr<LiveHubBase> live_hub;

  // ---- row reads
  std::optional<RowView> get(TxnState& s, BoundTable& t, std::string_view id);
  RowView view(BoundTable& t, std::string_view id, std::string_view bytes) const;
  // Many rows by id at once: out[i] is ids[i]'s row. In a read transaction
  // the lookups descend the tree together (engine/tree_reader.hpp), which
  // overlaps their cache misses; otherwise, and for anything the tree
  // reader does not handle, one get() each.
  void getMany(TxnState& s, BoundTable& t, std::span<const std::string_view> ids,
               std::vector<std::optional<RowView>>& out);

  // ---- change log (changelog.cpp)
  // `existed`: whether the row existed just before this write (an update or
  // a delete); `before_row`: its bytes then, for tables with log_before_row
  // (empty otherwise). See docs/change_log_format.md.
  void appendChange(TxnState& s, const BoundTable& t, ChangeOp op, std::string_view id,
                    std::span<const std::uint8_t> row, bool existed, std::span<const std::uint8_t> before_row);
  // The highest horizon the change log was ever compacted to (0: never):
  // entries at or below it may have been folded. Kept in `_meta`.
  std::uint64_t compactionHorizon(const TxnState& s) const;
  // A sync push confirmed `mutation_id` of (group, client): one entry, so
  // the head (the pull cookie) moves even when the mutation wrote nothing.
  std::uint64_t appendConfirm(TxnState& s, std::string_view group, std::string_view client, std::int64_t mutation_id);
  void queueEntry(TxnState& s, std::uint64_t version);
  void flushLog(TxnState& s);
  std::uint64_t head(const TxnState& s) const;
  // The newest change-log version a pull may hand out: head(s), but with
  // Durability::Wal never past the newest commit whose log record is synced.
  // (A Wal commit is visible to readers while its log sync runs; were the
  // machine to crash then, that commit would be gone while a client held
  // its rows and version as its cookie.)
  std::uint64_t durableHead(const TxnState& s) const;
  Change decodeChange(std::uint64_t version, std::string_view bytes);

  const std::filesystem::path dir;
  const Schema schema;
  const OpenOptions options;
  wal::DirLock dir_lock;  // released after the environment closes
  lmdb::Env env;
  MDB_dbi changes = 0, clients = 0, meta = 0;
  static constexpr const char* kChangesName = "_changes";
  MDB_dbi main_dbi = 0;          // the unnamed database (holds the named ones' records)
  TreeGeometry tree_geometry;    // for the tree reader; unusable: it is off

 private:
  void openSystemDbis();
  void loadCatalog();
  void bind(const Catalog& catalog, lmdb::Txn& txn, bool create);
  void applyPlan(const MigrationPlan& plan, lmdb::Txn& txn);
  void buildIndex(lmdb::Txn& txn, BoundTable& t, const BoundIndex& index);

  std::optional<Catalog> catalog_;
  bool ready_ = false;
  std::vector<std::unique_ptr<BoundTable>> tables_;
  std::unordered_map<const TableSpec*, BoundTable*> by_spec_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<TxnState>> read_pool_;
  // One idle read state kept outside the mutex: the common single-reader
  // case takes and returns it with one atomic exchange each.
  std::atomic<TxnState*> fast_read_{nullptr};
  std::mutex poison_mu_;
  std::optional<std::string> poisoned_;
  void poison(std::string why);

  // ---- the write-ahead log (Durability::Wal / WalAsync; engine/wal.hpp)
 public:
  // Syncs LMDB's pages and starts a new log whose checkpoint is the newest
  // commit. Not from inside a write transaction (it waits for the writer
  // lock).
  void checkpoint();
  // Makes every commit so far durable (the log's sync; LMDB's otherwise).
  void syncCommitted();
  // Tests only: runs on the log syncer's thread (Durability::Wal) before
  // each sync. Set it before the writes it should see.
  std::function<void()> before_log_sync_for_test;

 private:
  // In a log mode: `txn`'s writes are recorded into `redo` for the log.
  void logWrites(lmdb::Txn& txn, wal::Redo& redo);
  // Opens a named database and records its name for the log.
  MDB_dbi openNamed(lmdb::Txn& txn, const std::string& name, unsigned flags, bool create);
  void nameDbi(MDB_dbi dbi, const std::string& name, unsigned flags);
  void restoreCheckpoint(const wal::Contents& log);
  // Appends a commit's writes to the log (synced in Wal mode) before LMDB
  // commits it; returns where the log ended before, or nothing when there
  // is no log or nothing to append. unappend() takes it back out when
  // LMDB's commit then fails.
  std::optional<std::uint64_t> appendToLog(std::uint64_t txnid, const wal::Redo& redo);
  // Durability::Wal: a commit's log sync runs on the log syncer's thread
  // while LMDB writes the commit's pages; the commit waits for it before it
  // returns (requestLogSync() -> a ticket, waitLogSync(ticket)).
  std::uint64_t requestLogSync();
  void waitLogSync(std::uint64_t ticket);
  void logSyncLoop();
  void stopLogSyncer() noexcept;
  std::mutex ls_mu_;
  std::condition_variable ls_cv_, ls_done_cv_;
  std::uint64_t ls_requested_ = 0;  // tickets handed out
  std::uint64_t ls_done_ = 0;       // every ticket up to this one is synced (or failed)
  std::optional<std::string> ls_error_;  // a failed sync: every later ticket fails too
  bool ls_stop_ = false;
  std::thread log_syncer_;
  std::atomic<std::uint64_t> durable_head_{0};  // Wal: the head of the newest synced commit
  void unappend(std::uint64_t before) noexcept;
  void replayLog(const wal::Contents& log);
  void checkpointLoop();
  std::uint64_t grownSinceCheckpoint() const;
  // A checkpoint also runs once the data file grew this much since the last
  // one (pages freed meanwhile are not reused until then).
  static constexpr std::uint64_t kCheckpointGrowth = std::uint64_t{32} << 20;
  std::atomic<std::uint64_t> checkpoint_last_pgno_{0};
  void stopCheckpoints() noexcept;
  bool wal_mode_ = false;
  std::vector<wal::DbiName> dbi_names_;  // by handle; written under LMDB's writer lock
  std::mutex log_mu_;                    // log_'s file: appends, syncs, the swap at a checkpoint
  // syncCommitted() syncs outside log_mu_ (appends go on meanwhile) and
  // holds this instead, which the checkpoint's swap of log_ also takes.
  std::mutex log_sync_mu_;
  wal::LogFile log_;
  std::atomic<std::uint64_t> log_end_{0};         // log_.end(), for the checkpoint thread
  std::atomic<std::uint64_t> log_start_{0};       // where the records after the checkpoint begin
  std::atomic<bool> log_unsynced_{false};          // WalAsync: appended since the last sync
  std::mutex checkpoint_mu_;                       // one checkpoint at a time
  lmdb::Txn pinned_;                               // the last checkpoint's snapshot (its pages stay)
  std::uint32_t page_size_ = 0;
  int data_fd_ = -1;  // data.mdb, to read the meta pages at a checkpoint
  std::thread checkpointer_;
  std::mutex cp_mu_;
  std::condition_variable cp_cv_;
  bool cp_stop_ = false;
  std::atomic<std::chrono::steady_clock::rep> last_checkpoint_{0};  // steady_clock ticks

 public:
  // ---- commit observers (commit.hpp)
  std::uint64_t addObserver(CommitObserver observer, bool with_snapshot);
  void removeObserver(std::uint64_t id) noexcept;
  std::uint64_t commitSequence();
  // Database::checkExternalCommits.
  bool checkExternalCommits();
  // A snapshot and the sequence number of the commit it shows, taken
  // between commits (events with a larger sequence come after it).
  std::pair<std::uint64_t, std::shared_ptr<const ReadSnapshot>> snapshotNow();

 private:
  void notify(TxnState& s);
  void notifyExternal();
  std::uint64_t lastTxnId() const;
  struct Observer {
    std::uint64_t id;
    CommitObserver fn;
    bool with_snapshot;
  };
  std::mutex commit_mu_;  // commits + notifications, in order
  std::mutex observers_mu_;
  std::vector<Observer> observers_;
  std::atomic<std::size_t> observer_count_{0};
  std::uint64_t next_observer_id_ = 1;
  std::uint64_t commit_sequence_ = 0;
  // The newest LMDB transaction id this process has accounted for (its own
  // commits and other processes' commits it has noticed). commit_mu_.
  std::uint64_t known_txnid_ = 0;
};

}  // namespace plasma::detail
