// The one place LMDB return codes become exceptions.
#include "engine/lmdb.hpp"

#include "engine/wal.hpp"

#include <cassert>
#include <cerrno>
#include <system_error>

namespace plasma {

bool StorageError::isMapFull() const noexcept { return native_code_ == MDB_MAP_FULL; }

namespace lmdb {

namespace {

std::string describe(int rc) {
  switch (rc) {
    case MDB_MAP_FULL:
      return "the database map is full (OpenOptions::map_size_bytes); reopen with a larger map";
    case MDB_READERS_FULL:
      return "too many concurrent readers (OpenOptions::max_readers)";
    case MDB_DBS_FULL:
      return "too many named sub-databases";
    case MDB_TXN_FULL:
      return "the transaction has too many dirty pages";
    case MDB_CORRUPTED:
      return "the database file is corrupted";
    case MDB_PANIC:
      return "LMDB hit a fatal error; the environment must be reopened";
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
      return "not an LMDB database of a compatible version";
    case MDB_BAD_VALSIZE:
      return "key or value of an unsupported size";
    default:
      return mdb_strerror(rc);
  }
}

// A failure inside a write transaction, naming the database directory; a
// full map also names the map size and how to grow it.
[[noreturn]] void throwTxnError(MDB_env* env, int rc, std::string_view what) {
  const char* path = nullptr;
  const std::string dir = env != nullptr && mdb_env_get_path(env, &path) == MDB_SUCCESS && path != nullptr
                              ? std::string(path)
                              : std::string("?");
  if (rc == MDB_MAP_FULL) {
    MDB_envinfo info{};
    std::string size = "?";
    if (env != nullptr && mdb_env_info(env, &info) == MDB_SUCCESS) {
      const std::size_t bytes = info.me_mapsize;
      size = bytes % (std::size_t{1} << 20) == 0 ? std::to_string(bytes >> 20) + " MiB"
                                                 : std::to_string(bytes) + " bytes";
    }
    throw StorageError(rc, std::string(what) + " in " + dir + ": the database map is full at " + size +
                               "; nothing of this transaction was written. Grow it by reopening with a larger "
                               "OpenOptions::map_size_bytes (plasma-node: --map-size-mb)");
  }
  std::string message = std::string(what) + " in " + dir + ": " + describe(rc);
  if (rc == EIO || rc == ENOSPC || rc == EFBIG || rc == EDQUOT) {
    // LMDB reports a short write (a full disk) as EIO.
    message += " (the disk may be full or failing; nothing of this transaction was committed: free space, then "
               "reopen the database)";
  }
  throw StorageError(rc, message);
}

void checkTxn(MDB_txn* txn, int rc, std::string_view what) {
  if (rc != MDB_SUCCESS) throwTxnError(txn != nullptr ? mdb_txn_env(txn) : nullptr, rc, what);
}

}  // namespace

void throwError(int rc, std::string_view what) {
  assert(rc != MDB_SUCCESS);
  throw StorageError(rc, std::string(what) + ": " + describe(rc));
}

// ---- Env -------------------------------------------------------------------

Env Env::open(const std::filesystem::path& dir, const EnvOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StorageError(ec.value(), "cannot create database directory " + dir.string() + ": " + ec.message());
  Env env;
  check(mdb_env_create(&env.env_), "mdb_env_create");
  check(mdb_env_set_maxdbs(env.env_, options.max_dbs), "mdb_env_set_maxdbs");
  check(mdb_env_set_maxreaders(env.env_, options.max_readers), "mdb_env_set_maxreaders");
  check(mdb_env_set_mapsize(env.env_, options.map_size_bytes), "mdb_env_set_mapsize");
  const unsigned flags = options.flags | MDB_NOTLS;
  const int rc = mdb_env_open(env.env_, dir.c_str(), flags, 0644);
  if (rc != MDB_SUCCESS) {
    if (rc == EACCES || rc == EROFS) {
      throw StorageError(rc, "cannot open database in " + dir.string() + ": " + std::strerror(rc));
    }
    throwError(rc, "opening database in " + dir.string());
  }
  return env;
}

Env& Env::operator=(Env&& o) noexcept {
  if (this != &o) {
    close();
    env_ = std::exchange(o.env_, nullptr);
  }
  return *this;
}

void Env::close() noexcept {
  if (env_ != nullptr) mdb_env_close(std::exchange(env_, nullptr));
}

std::size_t Env::mapSize() const {
  MDB_envinfo info;
  check(mdb_env_info(env_, &info), "mdb_env_info");
  return info.me_mapsize;
}

unsigned Env::maxKeySize() const noexcept { return static_cast<unsigned>(mdb_env_get_maxkeysize(env_)); }

// ---- Txn -------------------------------------------------------------------

Txn Txn::beginRead(const Env& env) {
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn), "beginning a read transaction");
  return Txn(txn, true);
}

Txn Txn::beginWrite(const Env& env) {
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env.get(), nullptr, 0, &txn), "beginning a write transaction");
  return Txn(txn, false);
}

Txn Txn::beginNested(const Env& env, const Txn& parent) {
  assert(parent.txn_ != nullptr && !parent.read_only_);
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env.get(), parent.txn_, 0, &txn), "beginning a nested transaction");
  Txn child(txn, false);
  child.redo_ = parent.redo_;
  return child;
}

Txn& Txn::operator=(Txn&& o) noexcept {
  if (this != &o) {
    abort();
    txn_ = std::exchange(o.txn_, nullptr);
    read_only_ = o.read_only_;
    redo_ = std::exchange(o.redo_, nullptr);
  }
  return *this;
}

void Txn::commit() {
  assert(txn_ != nullptr);
  // mdb_txn_commit frees the transaction even when it fails: give up the
  // handle first so the destructor cannot abort a freed transaction.
  MDB_txn* txn = std::exchange(txn_, nullptr);
  MDB_env* env = mdb_txn_env(txn);
  const int rc = mdb_txn_commit(txn);
  if (rc != MDB_SUCCESS) throwTxnError(env, rc, "committing");
}

void Txn::abort() noexcept {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

void Txn::reset() noexcept {
  assert(read_only_ && txn_ != nullptr);
  mdb_txn_reset(txn_);
}

void Txn::renew() {
  assert(read_only_ && txn_ != nullptr);
  check(mdb_txn_renew(txn_), "renewing a read transaction");
}

std::optional<MDB_dbi> Txn::openDbi(const std::string& name, unsigned flags, bool create) const {
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn_, name.empty() ? nullptr : name.c_str(), flags | (create ? MDB_CREATE : 0u), &dbi);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkTxn(txn_, rc, "opening sub-database '" + name + "'");
  return dbi;
}

std::optional<MDB_val> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = toVal(key);
  MDB_val v;
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "reading");
  return v;
}

bool Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = toVal(key);
  MDB_val v = toVal(value);
  const int rc = mdb_put(txn_, dbi, &k, &v, flags);
  if (rc == MDB_KEYEXIST) return false;
  checkTxn(txn_, rc, "writing");
  if (redo_ != nullptr) redo_->put(dbi, key, value);
  return true;
}

bool Txn::del(MDB_dbi dbi, std::string_view key, const std::string_view* value) {
  MDB_val k = toVal(key);
  MDB_val v;
  if (value != nullptr) v = toVal(*value);
  const int rc = mdb_del(txn_, dbi, &k, value != nullptr ? &v : nullptr);
  if (rc == MDB_NOTFOUND) return false;
  checkTxn(txn_, rc, "deleting");
  if (redo_ != nullptr) redo_->del(dbi, key, value);
  return true;
}

void Txn::clear(MDB_dbi dbi) {
  checkTxn(txn_, mdb_drop(txn_, dbi, 0), "emptying a sub-database");
  if (redo_ != nullptr) redo_->clear(dbi);
}

void Txn::drop(MDB_dbi dbi) {
  checkTxn(txn_, mdb_drop(txn_, dbi, 1), "deleting a sub-database");
  if (redo_ != nullptr) redo_->drop(dbi);
}

std::uint64_t Txn::entries(MDB_dbi dbi) const {
  MDB_stat st;
  check(mdb_stat(txn_, dbi, &st), "mdb_stat");
  return st.ms_entries;
}

// ---- Cursor ----------------------------------------------------------------

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) { check(mdb_cursor_open(txn.get(), dbi, &cur_), "opening a cursor"); }

Cursor& Cursor::operator=(Cursor&& o) noexcept {
  if (this != &o) {
    close();
    cur_ = std::exchange(o.cur_, nullptr);
    key_ = o.key_;
    val_ = o.val_;
  }
  return *this;
}

void Cursor::close() noexcept {
  if (cur_ != nullptr) mdb_cursor_close(std::exchange(cur_, nullptr));
}

bool Cursor::seekRange(std::string_view key) {
  key_ = toVal(key);
  return move(MDB_SET_RANGE);
}

bool Cursor::seek(std::string_view key) {
  key_ = toVal(key);
  return move(MDB_SET_KEY);
}

bool Cursor::seekPair(std::string_view key, std::string_view value) {
  key_ = toVal(key);
  val_ = toVal(value);
  return move(MDB_GET_BOTH);
}

void Cursor::del() { checkTxn(mdb_cursor_txn(cur_), mdb_cursor_del(cur_, 0), "deleting at a cursor"); }

std::size_t Cursor::dupCount() const {
  std::size_t n = 0;
  check(mdb_cursor_count(cur_, &n), "counting duplicates");
  return n;
}

}  // namespace lmdb
}  // namespace plasma
