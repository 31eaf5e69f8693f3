// plasma::Database: opening, binding the schema to the catalog, migrations,
// transactions and the read pool.
#include <algorithm>
#include <array>
#include <cassert>
#include <system_error>

#include "engine/keys.hpp"
#include "engine/store.hpp"
#include "plasma/database.hpp"
#include "plasma/error.hpp"
#include "query/eval.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plasma {
namespace detail {

namespace {

constexpr std::string_view kCatalogKey = "catalog";
constexpr std::size_t kReadPoolMax = 64;

unsigned envFlags(Durability d) {
  switch (d) {
    case Durability::Full: return 0;
    case Durability::NoMetaSync: return MDB_NOMETASYNC;
    case Durability::NoSync: return MDB_NOSYNC;
    case Durability::Wal:
    case Durability::WalAsync: return MDB_NOSYNC;  // the log makes commits durable
  }
  return 0;
}

std::string rowsDbiName(const std::string& table) { return "t/" + table; }
std::string indexDbiName(const std::string& table, const std::string& index) { return "i/" + table + "/" + index; }

}  // namespace

const BoundIndex* BoundTable::indexLeadingWith(std::uint32_t column) const {
  for (const auto& i : indexes) {
    if (i.columns.front() == column) return &i;
  }
  return nullptr;
}

TxnState::TxnState(DatabaseImpl& d, lmdb::Txn t, WriteContext c) : db(d), txn(std::move(t)), context(std::move(c)) {}

TxnState::~TxnState() {
  if (txn.readOnly()) {
    for (auto& c : cursors_) {
      if (c.cursor != nullptr) mdb_cursor_close(c.cursor);
    }
  }
  // Write-transaction cursors are freed by LMDB when the transaction ends.
}

MDB_cursor* TxnState::cursor(MDB_dbi dbi) {
  if (dbi >= cursors_.size()) cursors_.resize(dbi + 1);
  CachedCursor& c = cursors_[dbi];
  if (c.cursor == nullptr) {
    lmdb::check(mdb_cursor_open(txn.get(), dbi, &c.cursor), "opening a cursor");
    c.generation = generation_;
  } else if (c.generation != generation_) {
    lmdb::check(mdb_cursor_renew(txn.get(), c.cursor), "renewing a cursor");
    c.generation = generation_;
  }
  return c.cursor;
}

const Tree* TxnState::tree(MDB_dbi dbi, const std::string& name) {
  if (!txn.readOnly()) return nullptr;  // dirty pages are not in the map
  if (dbi >= trees_.size()) trees_.resize(dbi + 1);
  CachedTree& c = trees_[dbi];
  if (c.generation != generation_) {
    c.tree = findTree(txn.get(), db.main_dbi, name, db.tree_geometry);
    c.generation = generation_;
  }
  return c.tree ? &*c.tree : nullptr;
}

void TxnState::beginSavepoint() {
  checkUsable();
  // Buffered log entries belong to the parent: write them there first, so a
  // rollback only has to drop what the savepoint itself buffered.
  db.flushLog(*this);
  SavepointMark mark;
  mark.head = head;
  mark.head_dirty = head_dirty;
  mark.changes_size = changes.size();
  mark.capture_undo_size = capture_undo.size();
  mark.redo_size = redo.size();
  mark.context = context;
  lmdb::Txn child = lmdb::Txn::beginNested(db.env, txn);
  mark.parent = std::exchange(txn, std::move(child));
  // LMDB shadows the parent's open cursors into the child and restores them
  // when it ends; cursors opened inside the child die with it.
  saved_cursors_.push_back(cursors_);
  savepoints.push_back(std::move(mark));
}

void TxnState::releaseSavepoint() {
  assert(!savepoints.empty());
  checkUsable();
  db.flushLog(*this);
  SavepointMark& mark = savepoints.back();
  try {
    txn.commit();  // merges the child's pages into the parent
  } catch (const std::exception& e) {
    // The child is gone; the parent cannot be trusted to hold its writes.
    txn = std::move(mark.parent);
    cursors_ = std::move(saved_cursors_.back());
    saved_cursors_.pop_back();
    savepoints.pop_back();
    failed = std::string("a savepoint failed to commit: ") + e.what();
    throw;
  }
  txn = std::move(mark.parent);
  cursors_ = std::move(saved_cursors_.back());
  saved_cursors_.pop_back();
  // Undo records for entries that predate an enclosing savepoint stay:
  // that one may still roll back.
  if (savepoints.size() == 1) capture_undo.clear();
  savepoints.pop_back();
}

void TxnState::rollbackSavepoint() noexcept {
  assert(!savepoints.empty());
  SavepointMark& mark = savepoints.back();
  txn.abort();
  txn = std::move(mark.parent);
  cursors_ = std::move(saved_cursors_.back());
  saved_cursors_.pop_back();
  log_arena.clear();
  log_pending.clear();
  head = mark.head;
  head_dirty = mark.head_dirty;
  redo.truncate(mark.redo_size);
  failed.reset();
  context = std::move(mark.context);
  // Commit-observer capture: restore after-images the savepoint replaced,
  // newest first, then forget the rows it added.
  while (capture_undo.size() > mark.capture_undo_size) {
    auto& [index, after] = capture_undo.back();
    changes[index].after = std::move(after);
    capture_undo.pop_back();
  }
  while (changes.size() > mark.changes_size) {
    const RowChange& c = changes.back();
    std::string key;
    key.append(c.table->name).push_back('\0');
    key.append(c.id);
    change_index.erase(key);
    changes.pop_back();
  }
  savepoints.pop_back();
}

void TxnState::checkWriteAuth(const BoundTable& t, const RowView& row, const char* action) {
  const AuthPredicate& build = t.spec->options.auth.write;
  if (!write_auth || !build) return;
  auto it = write_auth_predicates.find(t.spec);
  if (it == write_auth_predicates.end()) {
    it = write_auth_predicates.emplace(t.spec, build(*write_auth)).first;
    if (it->second) query::checkColumnsBelongTo(it->second, *t.spec);
  }
  if (!it->second) return;
  if (!query::matches(it->second, query::RowSource(row))) {
    throw Error(ErrorCode::Unauthorized, std::string("not allowed to ") + action + " " + t.spec->name + " '" +
                                             std::string(row.id()) + "': auth.write rejects it");
  }
}

void TxnState::checkUsable() const {
  if (failed) {
    throw Error(ErrorCode::InvalidArgument,
                "this transaction cannot continue: an earlier statement failed (" + *failed + ")");
  }
}

DatabaseImpl::DatabaseImpl(std::filesystem::path d, Schema s, OpenOptions o)
    : dir(std::move(d)), schema(std::move(s)), options(o) {
  wal_mode_ = options.durability == Durability::Wal || options.durability == Durability::WalAsync;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StorageError(ec.value(), "cannot create database directory " + dir.string() + ": " + ec.message());
  // A log left by an earlier open in a log mode must be replayed whatever
  // this open's mode is, and nobody else may write meanwhile.
  const std::filesystem::path log_path = dir / wal::kFileName;
  const bool has_log = std::filesystem::exists(log_path);
  dir_lock = wal::DirLock::acquire(dir, wal_mode_ || has_log);
  std::optional<wal::Contents> log;
  if (has_log) {
    log = wal::read(log_path);
    restoreCheckpoint(*log);
  }
  lmdb::EnvOptions eo;
  eo.map_size_bytes = options.map_size_bytes;
  eo.max_readers = options.max_readers;
  // Until a log exists, commits sync as in Full mode (an unsynced LMDB
  // commit is only safe with a checkpoint to go back to).
  eo.flags = log ? MDB_NOSYNC : envFlags(wal_mode_ ? Durability::Full : options.durability);
  env = lmdb::Env::open(dir, eo);
  // While the log is replayed, the checkpoint's snapshot stays pinned: a
  // crash before the next checkpoint (or before the log is removed) goes
  // back to it again, so its pages must not be reused meanwhile.
  lmdb::Txn recovery_pin;
  if (log) recovery_pin = lmdb::Txn::beginRead(env);
  openSystemDbis();
  if (log) replayLog(*log);
  loadCatalog();
  known_txnid_ = lastTxnId();
  if (wal_mode_) {
    MDB_stat st;
    lmdb::check(mdb_env_stat(env.get(), &st), "mdb_env_stat");
    page_size_ = st.ms_psize;
    data_fd_ = ::open((dir / "data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
    if (data_fd_ < 0) throw StorageError(errno, "cannot open " + (dir / "data.mdb").string() + ": " + std::strerror(errno));
    checkpoint();  // also the first log of a directory opened in a log mode for the first time
    {
      lmdb::Txn r = lmdb::Txn::beginRead(env);
      const auto h = r.get(meta, "head");
      durable_head_.store(h ? keys::decodeU64(lmdb::toView(*h)) : 0);  // synced by the checkpoint
    }
    recovery_pin.abort();
    lmdb::check(mdb_env_set_flags(env.get(), MDB_NOSYNC, 1), "turning LMDB's commit syncs off");
    checkpointer_ = std::thread([this] { checkpointLoop(); });
    if (options.durability == Durability::Wal) log_syncer_ = std::thread([this] { logSyncLoop(); });
  } else if (log) {
    // Back to a mode without a log: make the replayed state durable, drop
    // the log, then sync commits as the mode says.
    lmdb::check(mdb_env_sync(env.get(), 1), "syncing the replayed write-ahead log");
    std::filesystem::remove(log_path);
    wal::syncDirectory(dir);
    recovery_pin.abort();
    const unsigned want = envFlags(options.durability);
    lmdb::check(mdb_env_set_flags(env.get(), MDB_NOSYNC, (want & MDB_NOSYNC) != 0 ? 1 : 0), "mdb_env_set_flags");
    lmdb::check(mdb_env_set_flags(env.get(), MDB_NOMETASYNC, (want & MDB_NOMETASYNC) != 0 ? 1 : 0), "mdb_env_set_flags");
    dir_lock.share();
  }
}

// ---- the write-ahead log ----------------------------------------------------------

// Before LMDB opens the data file: when the file holds commits after the
// log's checkpoint, they were never synced and may be partly on disk, so
// the checkpoint's meta pages go back (its own pages were kept intact by
// the snapshot the checkpoint pinned). The log's records then redo those
// commits.
void DatabaseImpl::restoreCheckpoint(const wal::Contents& log) {
  const std::filesystem::path data = dir / "data.mdb";
  const int fd = ::open(data.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    throw StorageError(errno, "the write-ahead log in " + dir.string() + " has no data file (data.mdb) to recover: " +
                                  std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::string pages(log.metas.size(), '\0');
  const ssize_t n = ::pread(fd, pages.data(), pages.size(), 0);
  if (n != static_cast<ssize_t>(pages.size())) {
    throw StorageError(n < 0 ? errno : 0, "cannot read the meta pages of " + data.string());
  }
  const std::uint64_t on_disk = wal::newestMetaTxnid(pages, log.page_size);
  if (on_disk == log.checkpoint_txnid && pages == log.metas) return;  // nothing after the checkpoint reached the file
  if (on_disk != 0 && on_disk < log.checkpoint_txnid) {
    throw StorageError(0, data.string() + " is older (transaction " + std::to_string(on_disk) +
                              ") than its write-ahead log's checkpoint (transaction " +
                              std::to_string(log.checkpoint_txnid) + "): the files do not belong together");
  }
  if (::pwrite(fd, log.metas.data(), log.metas.size(), 0) != static_cast<ssize_t>(log.metas.size()) ||
      ::fdatasync(fd) != 0) {
    throw StorageError(errno, "cannot restore the checkpoint's meta pages in " + data.string() + ": " +
                                  std::strerror(errno));
  }
}

void DatabaseImpl::replayLog(const wal::Contents& log) {
  // A few thousand records per LMDB transaction: bounded transactions,
  // few commits.
  constexpr std::size_t kRecordsPerTxn = 256;
  std::size_t i = 1;
  while (i < log.records.size()) {
    lmdb::Txn txn = lmdb::Txn::beginWrite(env);
    auto open = [&](const std::string& name, unsigned flags) {
      return openNamed(txn, name, flags, /*create=*/true);
    };
    for (std::size_t end = std::min(log.records.size(), i + kRecordsPerTxn); i < end; ++i) {
      if (log.records[i].seq <= log.checkpoint_txnid) continue;
      wal::replay(txn.get(), log.records[i].payload, open);
    }
    txn.commit();
  }
}

void DatabaseImpl::checkpoint() {
  if (!wal_mode_) return;
  std::lock_guard one(checkpoint_mu_);
  // 1. Between two commits: the snapshot to make durable, its meta pages
  //    (the newest commit's and the one before), and where the log stands.
  lmdb::Txn snapshot;
  std::string metas;
  std::uint64_t mark = 0;
  {
    lmdb::Txn barrier = lmdb::Txn::beginWrite(env);
    snapshot = lmdb::Txn::beginRead(env);
    // LMDB writes meta pages with pwrite(): the file shows them at once.
    metas.assign(2 * std::size_t{page_size_}, '\0');
    if (::pread(data_fd_, metas.data(), metas.size(), 0) != static_cast<ssize_t>(metas.size())) {
      throw StorageError(errno, "checkpoint: cannot read the meta pages of " + (dir / "data.mdb").string());
    }
    std::lock_guard lock(log_mu_);
    mark = log_ ? log_.end() : 0;
  }
  const auto txnid = static_cast<std::uint64_t>(mdb_txn_id(snapshot.get()));
  if (wal::newestMetaTxnid(metas, page_size_) != txnid) {
    throw StorageError(0, "checkpoint: the meta pages do not show transaction " + std::to_string(txnid));
  }
  // 2. Every page of that snapshot to disk (commits go on meanwhile).
  lmdb::check(mdb_env_sync(env.get(), 1), "syncing the data file for a checkpoint");
  // 3. The new log, while commits go on: its checkpoint, then the records
  //    appended since step 1 so far. (Appends only write past the end the
  //    log had when they took log_mu_, so the range read here is stable;
  //    log_ itself is replaced only below, by this thread.)
  wal::LogFile next = wal::LogFile::begin(dir, txnid, page_size_, metas);
  const std::uint64_t records_at = next.end();
  std::uint64_t copied = mark;
  if (log_) {
    std::uint64_t upto = 0;
    {
      std::lock_guard lock(log_mu_);
      upto = log_.end();
    }
    next.copyFrom(log_, mark, upto);
    copied = upto;
  }
  // Synced now, so that the sync in step 4 has only the last few records to
  // write (under load: 0.2-1.5 ms there instead of 1.3-3 ms).
  next.sync();
  // 4. Between two commits again: the few records appended meanwhile, then
  //    the new log replaces the old one. Only this part holds the writers.
  wal::LogFile retired;
  {
    lmdb::Txn barrier = lmdb::Txn::beginWrite(env);
    std::lock_guard no_sync(log_sync_mu_);  // a sync in flight uses log_'s descriptor
    std::lock_guard lock(log_mu_);
    if (log_) next.copyFrom(log_, copied, log_.end());
    next.publish(dir);
    retired = std::exchange(log_, std::move(next));
    log_start_.store(records_at, std::memory_order_relaxed);
    log_end_.store(log_.end(), std::memory_order_relaxed);
  }
  // The old log is closed after the writers resume: its name is gone, so
  // closing its last descriptor frees the file, and for a log of tens of
  // MiB that took 7-20 ms under load, which every commit used to wait for.
  retired = wal::LogFile();
  pinned_ = std::move(snapshot);  // and the previous checkpoint's pages may be reused
  {
    MDB_envinfo info{};
    if (mdb_env_info(env.get(), &info) == MDB_SUCCESS) checkpoint_last_pgno_.store(info.me_last_pgno);
  }
  last_checkpoint_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

std::optional<std::uint64_t> DatabaseImpl::appendToLog(std::uint64_t txnid, const wal::Redo& redo) {
  if (!wal_mode_ || redo.empty()) return std::nullopt;
  std::lock_guard lock(log_mu_);
  const std::uint64_t before = log_.end();
  try {
    log_.appendTransaction(txnid, redo);
    log_unsynced_.store(true, std::memory_order_relaxed);  // Wal: synced by the log syncer, waited for by commit()
  } catch (const std::exception& e) {
    // After a failed write or sync the log's state on disk is unknown: no
    // further commit may follow this one.
    poison(std::string("the write-ahead log failed: ") + e.what());
    throw;
  }
  log_end_.store(log_.end(), std::memory_order_relaxed);
  if (log_.end() - log_start_.load(std::memory_order_relaxed) >= options.wal_checkpoint_bytes) cp_cv_.notify_one();
  return before;
}

void DatabaseImpl::unappend(std::uint64_t before) noexcept {
  std::lock_guard lock(log_mu_);
  try {
    log_.truncate(before);
    if (options.durability == Durability::Wal) log_.sync();
    log_end_.store(before, std::memory_order_relaxed);
  } catch (const std::exception& e) {
    poison(std::string("a failed commit could not be taken out of the write-ahead log: ") + e.what());
  }
}

void DatabaseImpl::syncCommitted() {
  // After a failed sync, what the file holds on disk is unknown (the kernel
  // may have dropped the pages it could not write, and a later sync would
  // then succeed without them): no further commit may claim durability.
  if (!wal_mode_) {
    try {
      lmdb::check(mdb_env_sync(env.get(), 1), "syncing " + (dir / "data.mdb").string());
    } catch (const std::exception& e) {
      poison(std::string("a sync of the data file failed: ") + e.what());
      throw;
    }
    return;
  }
  // The sync runs outside log_mu_, so that commits append meanwhile
  // (WalAsync's background sync used to hold every commit for as long as
  // the disk took). It covers every record appended before it began. log_
  // is not replaced meanwhile: the checkpoint's swap takes log_sync_mu_ too.
  std::lock_guard one(log_sync_mu_);
  {
    std::lock_guard lock(log_mu_);
    log_unsynced_.store(false, std::memory_order_relaxed);
  }
  try {
    log_.sync();
  } catch (const std::exception& e) {
    poison(std::string("the write-ahead log failed: ") + e.what());  // as after a failed append
    throw;
  }
}

void DatabaseImpl::checkpointLoop() {
  using namespace std::chrono;
  const auto interval = milliseconds(options.wal_checkpoint_interval_ms);
  const bool async = options.durability == Durability::WalAsync;
  // Short ticks: the data file's growth since the last checkpoint is
  // watched as closely as the time.
  milliseconds tick = interval.count() > 0 ? std::min(interval, milliseconds(20)) : milliseconds(20);
  if (async) tick = std::min(tick, milliseconds(std::max<std::uint32_t>(1, options.wal_sync_interval_ms)));
  auto last_sync = steady_clock::now();
  std::unique_lock lock(cp_mu_);
  while (!cp_stop_) {
    cp_cv_.wait_for(lock, tick);
    if (cp_stop_) break;
    lock.unlock();
    try {
      const std::uint64_t pending =
          log_end_.load(std::memory_order_relaxed) - log_start_.load(std::memory_order_relaxed);
      const auto now = steady_clock::now();
      if (pending > 0 && (pending >= options.wal_checkpoint_bytes || grownSinceCheckpoint() >= kCheckpointGrowth ||
                          (interval.count() > 0 &&
                           now - steady_clock::time_point(steady_clock::duration(last_checkpoint_.load(
                                     std::memory_order_relaxed))) >= interval))) {
        checkpoint();
      } else if (async && log_unsynced_.load(std::memory_order_relaxed) &&
                 now - last_sync >= milliseconds(options.wal_sync_interval_ms)) {
        syncCommitted();
        last_sync = now;
      }
    } catch (const std::exception& e) {
      poison(std::string("a background checkpoint failed: ") + e.what());
      lock.lock();
      break;
    }
    lock.lock();
  }
}

// Bytes of pages LMDB took from the end of the file since the last
// checkpoint: the snapshot a checkpoint pins keeps the pages freed after it
// from being reused, so commits take new ones until the next checkpoint.
std::uint64_t DatabaseImpl::grownSinceCheckpoint() const {
  MDB_envinfo info{};
  if (mdb_env_info(env.get(), &info) != MDB_SUCCESS) return 0;
  const std::uint64_t last = info.me_last_pgno;
  const std::uint64_t at = checkpoint_last_pgno_.load(std::memory_order_relaxed);
  return last > at ? (last - at) * page_size_ : 0;
}

std::uint64_t DatabaseImpl::requestLogSync() {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(ls_mu_);
    ticket = ++ls_requested_;
  }
  ls_cv_.notify_one();
  return ticket;
}

void DatabaseImpl::waitLogSync(std::uint64_t ticket) {
  std::unique_lock lock(ls_mu_);
  ls_done_cv_.wait(lock, [&] { return ls_done_ >= ticket; });
  if (ls_error_) throw StorageError(0, "the commit may not be durable: " + *ls_error_);
}

void DatabaseImpl::logSyncLoop() {
  std::unique_lock lock(ls_mu_);
  for (;;) {
    ls_cv_.wait(lock, [&] { return ls_stop_ || ls_requested_ > ls_done_; });
    if (ls_requested_ == ls_done_) return;  // stopping, nothing owed
    // One sync covers every ticket handed out before it began.
    const std::uint64_t upto = ls_requested_;
    lock.unlock();
    if (before_log_sync_for_test) before_log_sync_for_test();
    std::optional<std::string> error;
    if (!ls_error_) {
      try {
        syncCommitted();
      } catch (const std::exception& e) {
        error = e.what();  // syncCommitted() poisoned the database
      }
    }
    lock.lock();
    if (error) ls_error_ = std::move(error);
    ls_done_ = upto;
    ls_done_cv_.notify_all();
  }
}

namespace {
// Sets `stop` under `mu`, wakes `cv`'s waiters and joins `worker` (when it runs).
void stopWorker(std::thread& worker, std::mutex& mu, bool& stop, std::condition_variable& cv) noexcept {
  if (!worker.joinable()) return;
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  worker.join();
}
}  // namespace

void DatabaseImpl::stopLogSyncer() noexcept { stopWorker(log_syncer_, ls_mu_, ls_stop_, ls_cv_); }

void DatabaseImpl::stopCheckpoints() noexcept { stopWorker(checkpointer_, cp_mu_, cp_stop_, cp_cv_); }

void DatabaseImpl::poison(std::string why) {
  std::lock_guard lock(poison_mu_);
  if (!poisoned_) poisoned_ = std::move(why);
}

void DatabaseImpl::logWrites(lmdb::Txn& txn, wal::Redo& redo) {
  if (!wal_mode_) return;
  redo.setNames(&dbi_names_);
  txn.setRedo(&redo);
}

void DatabaseImpl::nameDbi(MDB_dbi dbi, const std::string& name, unsigned flags) {
  if (dbi >= dbi_names_.size()) dbi_names_.resize(dbi + 1);
  dbi_names_[dbi] = wal::DbiName{name, flags};
}

MDB_dbi DatabaseImpl::openNamed(lmdb::Txn& txn, const std::string& name, unsigned flags, bool create) {
  const std::optional<MDB_dbi> dbi = txn.openDbi(name, flags, create);
  if (!dbi) {
    throw StorageError(MDB_NOTFOUND, "database '" + name + "' is missing in " + dir.string());
  }
  nameDbi(*dbi, name, flags);
  // A database created in a logged transaction (a migration's new table or
  // index) must exist after replay even if nothing is written to it.
  if (create && txn.redo() != nullptr) txn.redo()->create(*dbi);
  return *dbi;
}

// The id of the newest transaction committed to the environment by anyone
// (this process or another one on the same directory).
std::uint64_t DatabaseImpl::lastTxnId() const {
  MDB_envinfo info{};
  if (mdb_env_info(env.get(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.me_last_txnid);
}

DatabaseImpl::~DatabaseImpl() {
  if (live_hub) live_hub->shutdown();  // stops the live-query thread and releases its snapshots
  live_hub.reset();
  delete fast_read_.exchange(nullptr);
  read_pool_.clear();  // every read transaction ends before the environment closes
  if (wal_mode_) {
    stopLogSyncer();
    stopCheckpoints();
    // A last checkpoint: the next open has nothing to replay.
    bool failed = false;
    {
      std::lock_guard lock(poison_mu_);
      failed = poisoned_.has_value();
    }
    if (!failed) {
      try {
        checkpoint();
      } catch (...) {
        // The log still holds every commit: the next open replays it.
      }
    }
    pinned_.abort();
  }
  if (data_fd_ >= 0) ::close(data_fd_);
}

void DatabaseImpl::openSystemDbis() {
  lmdb::Txn txn = lmdb::Txn::beginWrite(env);
  changes = openNamed(txn, kChangesName, 0, true);
  // `_latest` (table/id -> newest version) was kept by earlier versions for
  // compaction; compaction no longer needs it and every row change paid a
  // random page write for it. Drop it where it still exists.
  if (auto old = txn.openDbi("_latest", 0, false)) {
    lmdb::check(mdb_drop(txn.get(), *old, 1), "dropping _latest");
  }
  clients = openNamed(txn, "_clients", 0, true);
  meta = openNamed(txn, "_meta", 0, true);
  lmdb::check(mdb_dbi_open(txn.get(), nullptr, 0, &main_dbi), "opening the unnamed database");
  txn.commit();
  tree_geometry = TreeGeometry::of(env.get());
}

void DatabaseImpl::loadCatalog() {
  lmdb::Txn txn = lmdb::Txn::beginWrite(env);
  if (auto v = txn.get(meta, kCatalogKey)) catalog_ = decodeCatalog(lmdb::toSpan(*v));
  if (catalog_) {
    const MigrationPlan plan = [&] {
      try {
        return planMigration(catalog_, schema);
      } catch (const MigrationRefused&) {
        return MigrationPlan{SchemaDiff{.changed = {"refused"}}, {}, {}, {}, {}};
      }
    }();
    if (plan.diff.empty()) {
      bind(*catalog_, txn, /*create=*/false);
      ready_ = true;
    }
  }
  txn.commit();
}

void DatabaseImpl::requireReady() const {
  if (ready_) return;
  if (!catalog_) {
    throw Error(ErrorCode::SchemaMismatch,
                "database at " + dir.string() + " has no schema yet: call ensureSchema() first");
  }
  throw Error(ErrorCode::SchemaMismatch, "database at " + dir.string() + " was built with schema '" +
                                             catalog_->schema_version + "', which differs from schema '" +
                                             schema.version() + "' in use: call runMigrations()");
}

void DatabaseImpl::bind(const Catalog& catalog, lmdb::Txn& txn, bool create) {
  std::vector<std::unique_ptr<BoundTable>> tables;
  std::unordered_map<const TableSpec*, BoundTable*> by_spec;
  for (const auto& spec_ptr : schema.tables()) {
    const TableSpec& spec = *spec_ptr;
    const CatalogTable* ct = catalog.find(spec.name);
    assert(ct != nullptr);
    auto bt = std::make_unique<BoundTable>();
    bt->spec = &spec;
    bt->logged = options.change_log && !spec.options.change_log_suppressed;
    bt->log_before_row = bt->logged && static_cast<bool>(spec.options.auth.read);
    auto layout = std::make_shared<RowLayout>();
    layout->spec = &spec;
    for (std::uint32_t i = 0; i < spec.columns.size(); ++i) {
      const CatalogColumn* cc = ct->find(spec.columns[i].name);
      assert(cc != nullptr);
      layout->slot.push_back(cc->slot);
      layout->fill.push_back(cc->fill);
      layout->max_slot = std::max(layout->max_slot, cc->slot);
      if (spec.columns[i].type == ColumnType::Id) layout->id_column = i;
    }
    bt->layout = std::move(layout);
    bt->rows_name = rowsDbiName(spec.name);
    bt->rows = openNamed(txn, bt->rows_name, 0, create);
    for (const auto& is : ct->indexes) {
      BoundIndex bi;
      bi.spec = is;
      for (const auto& c : is.columns) bi.columns.push_back(static_cast<std::uint32_t>(spec.findColumn(c)));
      bi.dbi = openNamed(txn, indexDbiName(spec.name, is.name), MDB_DUPSORT, create);
      bt->indexes.push_back(std::move(bi));
    }
    by_spec[&spec] = bt.get();
    tables.push_back(std::move(bt));
  }
  for (auto& bt : tables) {
    for (std::uint32_t i = 0; i < bt->spec->columns.size(); ++i) {
      const auto& ref = bt->spec->columns[i].ref;
      if (!ref) continue;
      BoundTable* parent = by_spec.at(schema.find(ref->table));
      parent->children.push_back(ChildRef{bt.get(), i, ref->on_delete, bt->indexLeadingWith(i)});
      bt->parents.emplace_back(i, parent);
    }
  }
  tables_ = std::move(tables);
  by_spec_ = std::move(by_spec);
}

BoundTable& DatabaseImpl::table(const TableSpec& spec) {
  requireReady();
  // A linear pass over a few pointers beats hashing for the table counts
  // schemas have; the map serves large schemas.
  if (tables_.size() <= 16) {
    for (const auto& t : tables_) {
      if (t->spec == &spec) return *t;
    }
  }
  auto it = by_spec_.find(&spec);
  if (it == by_spec_.end()) {
    throw Error(ErrorCode::UnknownTable, "table '" + spec.name + "' is not part of schema '" + schema.version() + "'");
  }
  return *it->second;
}

BoundTable& DatabaseImpl::table(const Table& t) { return table(t.spec()); }

BoundTable* DatabaseImpl::tableByName(std::string_view name) {
  requireReady();
  for (auto& t : tables_) {
    if (t->spec->name == name) return t.get();
  }
  return nullptr;
}

// ---- transactions --------------------------------------------------------------

std::unique_ptr<TxnState> DatabaseImpl::beginWrite(const WriteContext& context) {
  {
    std::lock_guard lock(poison_mu_);
    if (poisoned_) throw Error(ErrorCode::Poisoned, "database is read-only after a fatal storage error: " + *poisoned_);
  }
  auto state = std::make_unique<TxnState>(*this, lmdb::Txn::beginWrite(env), context);
  logWrites(state->txn, state->redo);
  // Read under LMDB's writer lock: an observer registered before this point
  // (addObserver takes that lock) sees this transaction's changes.
  state->capture = observer_count_.load(std::memory_order_acquire) > 0;
  return state;
}

void DatabaseImpl::commit(TxnState& s) {
  s.checkUsable();
  flushLog(s);
  if (s.head_dirty) s.txn.put(meta, "head", keys::encodeU64(*s.head));
  s.forgetCursors();
  // Another process may have committed since our last look: this write
  // transaction took the id after the newest commit.
  const auto txnid = static_cast<std::uint64_t>(mdb_txn_id(s.txn.get()));
  const std::optional<std::uint64_t> log_before = appendToLog(txnid, s.redo);
  // Durability::Wal: the log's sync runs while LMDB writes this commit's
  // pages (unsynced); the commit returns, and observers hear of it, only
  // once the sync is done.
  const std::optional<std::uint64_t> sync_ticket =
      log_before && options.durability == Durability::Wal ? std::optional(requestLogSync()) : std::nullopt;
  std::lock_guard order(commit_mu_);  // commits and their notifications stay in order
  const bool external = known_txnid_ + 1 < txnid;
  try {
    s.txn.commit();
  } catch (const StorageError& e) {
    if (log_before) unappend(*log_before);
    if (!e.isMapFull()) poison(e.what());
    throw;
  }
  // A commit that wrote no page does not use its id.
  known_txnid_ = std::max(known_txnid_, lastTxnId() >= txnid ? txnid : txnid - 1);
  if (sync_ticket) {
    // Throws when the sync failed: the database is poisoned, and whether
    // this commit survives a reopen depends on what of the log reached the
    // disk. Observers never hear of it.
    waitLogSync(*sync_ticket);
    if (s.head) durable_head_.store(*s.head, std::memory_order_release);
  }
  if (external) notifyExternal();
  ++commit_sequence_;
  if (s.capture) notify(s);
}

bool DatabaseImpl::checkExternalCommits() {
  std::lock_guard order(commit_mu_);
  const std::uint64_t last = lastTxnId();
  if (last <= known_txnid_) return false;
  known_txnid_ = last;
  notifyExternal();
  return true;
}

// commit_mu_ held.
void DatabaseImpl::notifyExternal() {
  ++commit_sequence_;
  auto event = std::make_shared<CommitEvent>();
  event->sequence = commit_sequence_;
  event->external = true;
  std::vector<Observer> observers;
  {
    std::lock_guard lock(observers_mu_);
    observers = observers_;
  }
  const std::shared_ptr<const CommitEvent> shared = event;
  for (const auto& o : observers) o.fn(shared);
}

void TxnState::recordChange(const TableSpec* table, std::string_view id, std::optional<OwnedRow> before,
                            std::optional<OwnedRow> after) {
  std::string key;
  key.reserve(table->name.size() + 1 + id.size());
  key.append(table->name).push_back('\0');
  key.append(id);
  auto [it, inserted] = change_index.try_emplace(std::move(key), changes.size());
  if (inserted) {
    changes.push_back(RowChange{table, std::string(id), std::move(before), std::move(after)});
  } else {
    if (!savepoints.empty() && it->second < savepoints.back().changes_size) {
      capture_undo.emplace_back(it->second, changes[it->second].after);
    }
    changes[it->second].after = std::move(after);  // keep the first before-image, the last after-image
  }
}

void DatabaseImpl::notify(TxnState& s) {
  auto event = std::make_shared<CommitEvent>();
  event->sequence = commit_sequence_;
  for (auto& c : s.changes) {
    const bool unchanged = c.before.has_value() == c.after.has_value() &&
                           (!c.before || (c.before->bytes() == c.after->bytes()));
    if (!unchanged) event->changes.push_back(std::move(c));
  }
  s.changes.clear();
  s.change_index.clear();
  if (event->changes.empty()) return;
  std::vector<Observer> observers;
  {
    std::lock_guard lock(observers_mu_);
    observers = observers_;
  }
  const bool want_snapshot = std::any_of(observers.begin(), observers.end(), [](const Observer& o) { return o.with_snapshot; });
  if (want_snapshot) {
    try {
      event->snapshot = std::make_shared<ReadSnapshot>(*this, acquireRead());
    } catch (const std::exception&) {
      // No reader slot left: the commit stands; observers get no snapshot
      // and must cope (the live-query hub recomputes from a fresh one).
    }
  }
  const std::shared_ptr<const CommitEvent> shared = event;
  for (const auto& o : observers) o.fn(shared);
}

std::uint64_t DatabaseImpl::addObserver(CommitObserver observer, bool with_snapshot) {
  // Taking LMDB's writer lock waits out a write transaction in flight that
  // began before the observer existed (and so does not capture changes).
  lmdb::Txn barrier = lmdb::Txn::beginWrite(env);
  std::lock_guard lock(observers_mu_);
  const std::uint64_t id = next_observer_id_++;
  observers_.push_back(Observer{id, std::move(observer), with_snapshot});
  observer_count_.store(observers_.size(), std::memory_order_release);
  return id;
}

void DatabaseImpl::removeObserver(std::uint64_t id) noexcept {
  std::lock_guard lock(observers_mu_);
  std::erase_if(observers_, [&](const Observer& o) { return o.id == id; });
  observer_count_.store(observers_.size(), std::memory_order_release);
}

std::uint64_t DatabaseImpl::commitSequence() {
  std::lock_guard lock(commit_mu_);
  return commit_sequence_;
}

std::pair<std::uint64_t, std::shared_ptr<const ReadSnapshot>> DatabaseImpl::snapshotNow() {
  std::lock_guard lock(commit_mu_);
  return {commit_sequence_, std::make_shared<ReadSnapshot>(*this, acquireRead())};
}

}  // namespace detail

ReadSnapshot::~ReadSnapshot() { db_->releaseRead(state_); }

void ReadSnapshot::read(const std::function<void(ReadTx&)>& fn) const {
  ReadTx tx(*state_);
  fn(tx);
}

std::vector<const TableSpec*> CommitEvent::tables() const {
  std::vector<const TableSpec*> out;
  for (const auto& c : changes) {
    if (std::find(out.begin(), out.end(), c.table) == out.end()) out.push_back(c.table);
  }
  return out;
}

void CommitSubscription::reset() noexcept {
  if (db_ != nullptr) std::exchange(db_, nullptr)->removeObserver(id_);
}

bool Database::checkExternalCommits() { return impl_->checkExternalCommits(); }

CommitSubscription Database::onCommit(CommitObserver observer, bool with_snapshot) {
  return CommitSubscription(impl_.get(), impl_->addObserver(std::move(observer), with_snapshot));
}

namespace detail {

TxnState* DatabaseImpl::acquireRead() {
  std::unique_ptr<TxnState> s(fast_read_.exchange(nullptr, std::memory_order_acquire));
  if (!s) {
    std::lock_guard lock(pool_mu_);
    if (!read_pool_.empty()) {
      s = std::move(read_pool_.back());
      read_pool_.pop_back();
    }
  }
  if (s) {
    s->txn.renew();
    s->renewed();
    return s.release();
  }
  return new TxnState(*this, lmdb::Txn::beginRead(env), {});
}

void DatabaseImpl::releaseRead(TxnState* raw) noexcept {
  std::unique_ptr<TxnState> s(raw);
  s->txn.reset();
  TxnState* expected = nullptr;
  if (fast_read_.compare_exchange_strong(expected, s.get(), std::memory_order_release)) {
    (void)s.release();
    return;
  }
  std::lock_guard lock(pool_mu_);
  if (read_pool_.size() < kReadPoolMax) read_pool_.push_back(std::move(s));
}

// ---- rows ------------------------------------------------------------------------

RowView DatabaseImpl::view(BoundTable& t, std::string_view id, std::string_view bytes) const {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (options.verify_rows_on_read) verifyRow(*t.layout, {data, bytes.size()});
  return RowView(t.layout.get(), data, bytes.size(), id);
}

std::optional<RowView> DatabaseImpl::get(TxnState& s, BoundTable& t, std::string_view id) {
  if (id.empty() || id.size() > Limits::kMaxKeyBytes) return std::nullopt;
  // Through a cursor, so the view's id points at the stored key, which lives
  // as long as the transaction (the caller's string may not).
  MDB_val k = lmdb::toVal(id);
  MDB_val v;
  const int rc = mdb_cursor_get(s.cursor(t.rows), &k, &v, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) lmdb::throwError(rc, "reading table '" + t.spec->name + "'");  // no message built on success
  // A row spans two or three cache lines and reading a field walks them with
  // dependent loads (root offset -> table -> vtable -> field): start the
  // later lines' misses now, in parallel with the first.
  __builtin_prefetch(static_cast<const char*>(v.mv_data) + 64);
  __builtin_prefetch(static_cast<const char*>(v.mv_data) + 128);
  return view(t, lmdb::toView(k), lmdb::toView(v));
}

void DatabaseImpl::getMany(TxnState& s, BoundTable& t, std::span<const std::string_view> ids,
                           std::vector<std::optional<RowView>>& out) {
  out.clear();
  out.reserve(ids.size());
  const Tree* tree = ids.size() > 1 ? s.tree(t.rows, t.rows_name) : nullptr;
  if (tree == nullptr) {
    for (const auto id : ids) out.push_back(get(s, t, id));
    return;
  }
  std::array<TreeHit, 64> hits;
  for (std::size_t i = 0; i < ids.size(); i += hits.size()) {
    const std::size_t n = std::min(hits.size(), ids.size() - i);
    lookupMany(*tree, ids.subspan(i, n), hits);
    for (std::size_t k = 0; k < n; ++k) {
      const std::string_view id = ids[i + k];
      const TreeHit& h = hits[k];
      if (id.empty() || id.size() > Limits::kMaxKeyBytes || h.state == TreeHit::Absent) {
        out.emplace_back();
      } else if (h.state == TreeHit::Present) {
        out.push_back(view(t, h.key, h.value));
      } else {
        out.push_back(get(s, t, id));  // LMDB's own answer (or error)
      }
    }
  }
}

OrderedScan::OrderedScan(TxnState& s, MDB_dbi dbi, const std::string& name, std::string start)
    : state_(s), dbi_(dbi), start_(std::move(start)) {
  if (const Tree* tree = s.tree(dbi, name)) {
    walk_.emplace(*tree);
    if (!walk_->seek(start_)) walk_.reset();
  }
}

bool OrderedScan::next() {
  if (walk_) {
    switch (walk_->next(&key_, &value_)) {
      case TreeCursor::Entry: given_ = true; return true;
      case TreeCursor::End: return false;
      case TreeCursor::Unknown: break;
    }
    walk_.reset();  // go on with LMDB after the last key given
  }
  bool ok;
  if (cursor_.get() != nullptr) {
    ok = cursor_.next();
  } else {
    cursor_ = lmdb::Cursor(state_.txn, dbi_);  // opened only when the walk cannot serve
    if (!given_) {
      ok = start_.empty() ? cursor_.first() : cursor_.seekRange(start_);
    } else {
      const std::string last(key_);
      ok = cursor_.seekRange(last);
      if (ok && cursor_.key() == last) ok = cursor_.next();
    }
  }
  if (!ok) return false;
  key_ = cursor_.key();
  value_ = cursor_.value();
  given_ = true;
  return true;
}

// ---- migrations ----------------------------------------------------------------

void DatabaseImpl::buildIndex(lmdb::Txn& txn, BoundTable& t, const BoundIndex& index) {
  txn.clear(index.dbi);
  lmdb::Cursor cur(txn, t.rows);
  std::string key;
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    const RowView row = view(t, cur.key(), cur.value());
    key.clear();
    bool has_null = false;
    for (auto c : index.columns) {
      const Value v = row.get(c);
      has_null = has_null || v.isNull();
      keys::encodeKeyPart(v, key);
    }
    if (key.size() > Limits::kMaxKeyBytes) {
      throw Error(ErrorCode::InvalidArgument, "table '" + t.spec->name + "', index '" + index.spec.name +
                                                  "': value of row '" + std::string(row.id()) + "' is too long to index");
    }
    if (index.spec.unique && !has_null && txn.get(index.dbi, key)) {
      throw Error(ErrorCode::Unique, "table '" + t.spec->name + "': cannot build unique index '" + index.spec.name +
                                         "': duplicate value in row '" + std::string(row.id()) + "'");
    }
    txn.put(index.dbi, key, row.id(), MDB_NODUPDATA);
  }
}

SchemaDiff DatabaseImpl::migrate(bool apply) {
  MigrationPlan plan = planMigration(catalog_, schema);
  if (!apply || (plan.diff.empty() && ready_)) return plan.diff;
  lmdb::Txn txn = lmdb::Txn::beginWrite(env);
  wal::Redo redo;
  logWrites(txn, redo);
  auto old_tables = std::move(tables_);
  auto old_by_spec = std::move(by_spec_);
  try {
    applyPlan(plan, txn);
  } catch (...) {
    tables_ = std::move(old_tables);  // their handles belong to committed transactions
    by_spec_ = std::move(old_by_spec);
    throw;
  }
  catalog_ = std::move(plan.next);
  ready_ = true;
  return plan.diff;
}

void DatabaseImpl::applyPlan(const MigrationPlan& plan, lmdb::Txn& txn) {
  for (const auto& d : plan.drop) {
    const std::string name = indexDbiName(d.table, d.index.name);
    if (auto dbi = txn.openDbi(name, MDB_DUPSORT, false)) {
      nameDbi(*dbi, name, MDB_DUPSORT);  // the log names what it drops
      txn.drop(*dbi);
    }
  }
  bind(plan.next, txn, /*create=*/true);
  for (const auto& b : plan.build) {
    BoundTable& t = *by_spec_.at(schema.find(b.table));
    auto it = std::find_if(t.indexes.begin(), t.indexes.end(), [&](const BoundIndex& i) { return i.spec.name == b.index.name; });
    assert(it != t.indexes.end());
    buildIndex(txn, t, *it);
  }
  txn.put(meta, kCatalogKey, encodeCatalog(plan.next));
  const auto txnid = static_cast<std::uint64_t>(mdb_txn_id(txn.get()));
  const std::optional<std::uint64_t> log_before = txn.redo() ? appendToLog(txnid, *txn.redo()) : std::nullopt;
  try {
    txn.commit();
  } catch (const StorageError&) {
    if (log_before) unappend(*log_before);
    throw;
  }
  if (log_before && options.durability == Durability::Wal) waitLogSync(requestLogSync());
  std::lock_guard order(commit_mu_);  // ours, not another process's (checkExternalCommits)
  known_txnid_ = std::max(known_txnid_, txnid);
}

}  // namespace detail

// ---- Database facade -------------------------------------------------------------

Database::Database(std::unique_ptr<detail::DatabaseImpl> impl) : impl_(std::move(impl)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

Database Database::open(const std::filesystem::path& dir, const Schema& schema, OpenOptions options) {
  if (options.map_size_bytes < (std::size_t{1} << 20)) {
    throw Error(ErrorCode::InvalidArgument, "OpenOptions::map_size_bytes must be at least 1 MiB");
  }
  if (options.max_readers == 0) throw Error(ErrorCode::InvalidArgument, "OpenOptions::max_readers must be positive");
  if (options.wal_checkpoint_bytes == 0) {
    throw Error(ErrorCode::InvalidArgument, "OpenOptions::wal_checkpoint_bytes must be positive");
  }
  return Database(std::make_unique<detail::DatabaseImpl>(dir, schema, options));
}

const Schema& Database::schema() const noexcept { return impl_->schema; }
const std::filesystem::path& Database::path() const noexcept { return impl_->dir; }

void Database::ensureSchema() {
  (void)impl_->migrate(true);
}
SchemaDiff Database::runMigrations() { return impl_->migrate(true); }
SchemaDiff Database::planMigrations() const { return impl_->migrate(false); }

std::optional<OwnedRow> Database::get(const Table& table, std::string_view id) const {
  return read([&](ReadTx& r) -> std::optional<OwnedRow> {
    auto row = r.get(table, id);
    if (!row) return std::nullopt;
    return row->toOwned();
  });
}

Database::WriteScope::WriteScope(Database& db, const WriteContext& context)
    : state_(db.impl_->beginWrite(context)), db_(db.impl_.get()) {
  tx_.emplace(*state_);
}
Database::WriteScope::~WriteScope() = default;  // an uncommitted lmdb::Txn aborts
Tx& Database::WriteScope::tx() { return *tx_; }
void Database::WriteScope::commit() { db_->commit(*state_); }

Database::ReadScope::ReadScope(const Database& db) : state_(db.impl_->acquireRead()), db_(db.impl_.get()) {
  tx_.emplace(*state_);
}
Database::ReadScope::~ReadScope() { db_->releaseRead(state_); }
ReadTx& Database::ReadScope::tx() { return *tx_; }

std::string SchemaDiff::toString() const {
  std::string out;
  auto list = [&](const char* label, const std::vector<std::string>& v) {
    for (const auto& s : v) out += std::string(label) + " " + s + "\n";
  };
  list("+ table", added_tables);
  list("+ column", added_columns);
  list("+ index", added_indexes);
  list("- index", dropped_indexes);
  list("~", changed);
  if (version_changed) out += "~ schema version\n";
  return out.empty() ? "(no changes)\n" : out;
}

// ---- ReadTx ----------------------------------------------------------------------

std::optional<RowView> ReadTx::get(const Table& table, std::string_view id) const {
  auto& db = state_->db;
  return db.get(*state_, db.table(table), id);
}

namespace detail {

RowScanner::RowScanner(TxnState& state, const Table& table) : RowScanner(state, state.db.table(table)) {}

RowScanner::RowScanner(TxnState& state, BoundTable& t) {
  layout_ = t.layout.get();
  verify_ = state.db.options.verify_rows_on_read;
  // A write in the same transaction invalidates slices read ahead, so a
  // write transaction reads exactly one row at a time (the cursor itself
  // stays valid across writes: LMDB adjusts it).
  lookahead_ = state.writable() ? 1 : kLookahead;
  scan_ = std::make_unique<OrderedScan>(state, t.rows, t.rows_name, std::string());
}

RowScanner::~RowScanner() = default;

void RowScanner::fill() {
  while (!exhausted_ && count_ < lookahead_) {
    if (!scan_->next()) {
      exhausted_ = true;
      break;
    }
    const std::string_view value = scan_->value();
    __builtin_prefetch(value.data());
    __builtin_prefetch(value.data() + 64);
    ring_[(head_ + count_) % kLookahead] = Entry{scan_->key(), value};
    ++count_;
  }
}

bool RowScanner::next() {
  fill();  // top the ring up: the row handed out now was prefetched lookahead_ rows ago
  if (count_ == 0) return false;
  const Entry e = ring_[head_];
  head_ = (head_ + 1) % kLookahead;
  --count_;
  const auto* data = reinterpret_cast<const std::uint8_t*>(e.value.data());
  if (verify_) verifyRow(*layout_, {data, e.value.size()});
  row_ = RowView(layout_, data, e.value.size(), e.key);
  return true;
}

}  // namespace detail

std::uint64_t ReadTx::count(const Table& table) const {
  auto& db = state_->db;
  return state_->txn.entries(db.table(table).rows);
}

const WriteContext& Tx::context() const noexcept { return state().context; }

void Database::sync() { impl_->syncCommitted(); }
void Database::checkpoint() { impl_->checkpoint(); }

void Tx::setContext(WriteContext context) { state().context = std::move(context); }

void Tx::enforceWriteAuth(std::shared_ptr<const std::any> ctx) {
  state().write_auth = std::move(ctx);
  state().write_auth_predicates.clear();
}

void Tx::savepoint(const std::function<void(Tx&)>& fn) {
  detail::TxnState& s = state();
  s.beginSavepoint();
  try {
    fn(*this);
  } catch (...) {
    s.rollbackSavepoint();
    throw;
  }
  s.releaseSavepoint();
}

QueryContext ReadTx::queryContext() const { return QueryContext{&state_->db, state_, nullptr}; }

}  // namespace plasma
