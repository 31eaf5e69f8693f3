// engine/lmdb.hpp — RAII wrappers over LMDB that follow its lifetimes.
//
// - Env owns an MDB_env; closing it requires every transaction to be gone.
// - Txn owns an MDB_txn. commit() gives up the handle *before* calling
//   mdb_txn_commit (which frees the transaction even when it fails), so a
//   failed commit is never aborted twice. A Txn destroyed without commit()
//   aborts. A read-only Txn can be reset() and renew()ed to reuse its reader
//   slot.
// - Cursor owns an MDB_cursor. Cursors of a write transaction die with it;
//   a Cursor must not outlive its Txn.
// - Slices returned by get()/cursor ops point into the memory map and are
//   valid until the next write in the same transaction or its end.
//
// Every LMDB error code is translated in one place (lmdb.cpp) into
// StorageError, keeping the native code.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <lmdb.h>

#include "plasma/error.hpp"

namespace plasma::detail::wal {
class Redo;
}

namespace plasma::lmdb {

// Throws StorageError describing `rc` in the context of `what`.
[[noreturn]] void throwError(int rc, std::string_view what);
inline void check(int rc, std::string_view what) {
  if (rc != MDB_SUCCESS) throwError(rc, what);
}

inline MDB_val toVal(std::string_view s) noexcept {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline MDB_val toVal(std::span<const std::uint8_t> s) noexcept {
  return MDB_val{s.size(), const_cast<std::uint8_t*>(s.data())};
}
inline std::string_view toView(const MDB_val& v) noexcept {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}
inline std::span<const std::uint8_t> toSpan(const MDB_val& v) noexcept {
  return {static_cast<const std::uint8_t*>(v.mv_data), v.mv_size};
}

struct EnvOptions {
  std::size_t map_size_bytes = std::size_t{1} << 30;
  unsigned max_dbs = 1024;
  unsigned max_readers = 126;
  unsigned flags = 0;  // extra MDB_* environment flags; MDB_NOTLS is always set
};

class Env {
 public:
  Env() = default;
  // Opens the environment in directory `dir` (created if missing).
  static Env open(const std::filesystem::path& dir, const EnvOptions& options);
  Env(Env&& o) noexcept : env_(std::exchange(o.env_, nullptr)) {}
  Env& operator=(Env&& o) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() { close(); }

  // REQUIRES: no transaction of this environment is alive.
  void close() noexcept;
  MDB_env* get() const noexcept { return env_; }
  explicit operator bool() const noexcept { return env_ != nullptr; }
  std::size_t mapSize() const;
  unsigned maxKeySize() const noexcept;

 private:
  MDB_env* env_ = nullptr;
};

class Txn {
 public:
  Txn() = default;
  static Txn beginRead(const Env& env);
  static Txn beginWrite(const Env& env);
  // A transaction nested in the write transaction `parent`: until it ends,
  // only it may be used; committing merges its writes into the parent,
  // aborting drops them. (Not available with MDB_WRITEMAP.)
  static Txn beginNested(const Env& env, const Txn& parent);
  Txn(Txn&& o) noexcept
      : txn_(std::exchange(o.txn_, nullptr)), read_only_(o.read_only_), redo_(std::exchange(o.redo_, nullptr)) {}
  Txn& operator=(Txn&& o) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  // Commits and releases the handle; throws StorageError on failure (the
  // transaction is gone either way).
  void commit();
  void abort() noexcept;
  // Read-only transactions: release the snapshot but keep the reader slot.
  void reset() noexcept;
  void renew();

  MDB_txn* get() const noexcept { return txn_; }
  bool readOnly() const noexcept { return read_only_; }
  explicit operator bool() const noexcept { return txn_ != nullptr; }

  // Opens (creating, in a write txn, when `create`) the named sub-database.
  // Returns std::nullopt when it does not exist and create is false.
  std::optional<MDB_dbi> openDbi(const std::string& name, unsigned flags, bool create) const;

  // Point get; std::nullopt when the key is absent.
  std::optional<MDB_val> get(MDB_dbi dbi, std::string_view key) const;
  // Put; returns false when `flags` had MDB_NOOVERWRITE/MDB_NODUPDATA and the key (or pair) existed.
  bool put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Deletes key (and, for dupsort dbis, only the pair when `value` is given).
  // Returns false when absent.
  bool del(MDB_dbi dbi, std::string_view key, const std::string_view* value = nullptr);
  // Empties a sub-database (keeps it open).
  void clear(MDB_dbi dbi);
  // Deletes a sub-database and closes its handle.
  void drop(MDB_dbi dbi);
  std::uint64_t entries(MDB_dbi dbi) const;

  // Write transactions of a database with a write-ahead log: every put,
  // del and clear that succeeds is also recorded in `redo` (a nested
  // transaction records into its parent's).
  void setRedo(detail::wal::Redo* redo) noexcept { redo_ = redo; }
  detail::wal::Redo* redo() const noexcept { return redo_; }

 private:
  explicit Txn(MDB_txn* txn, bool read_only) noexcept : txn_(txn), read_only_(read_only) {}
  MDB_txn* txn_ = nullptr;
  bool read_only_ = false;
  detail::wal::Redo* redo_ = nullptr;
};

class Cursor {
 public:
  Cursor() = default;
  Cursor(const Txn& txn, MDB_dbi dbi);
  Cursor(Cursor&& o) noexcept : cur_(std::exchange(o.cur_, nullptr)) {}
  Cursor& operator=(Cursor&& o) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { close(); }
  void close() noexcept;

  // Positions the cursor; false when there is no such entry. On success the
  // key and value are in key()/value().
  bool first() { return move(MDB_FIRST); }
  bool last() { return move(MDB_LAST); }
  bool next() { return move(MDB_NEXT); }
  bool prev() { return move(MDB_PREV); }
  bool nextDup() { return move(MDB_NEXT_DUP); }
  bool nextNoDup() { return move(MDB_NEXT_NODUP); }
  // First key >= `key`.
  bool seekRange(std::string_view key);
  // Exactly `key` (first duplicate for dupsort).
  bool seek(std::string_view key);
  // Dupsort: exactly the pair (key, value).
  bool seekPair(std::string_view key, std::string_view value);
  // Deletes the entry under the cursor.
  void del();
  std::size_t dupCount() const;

  std::string_view key() const noexcept { return toView(key_); }
  std::string_view value() const noexcept { return toView(val_); }
  MDB_cursor* get() const noexcept { return cur_; }

 private:
  bool move(MDB_cursor_op op) {
    const int rc = mdb_cursor_get(cur_, &key_, &val_, op);
    if (rc == MDB_SUCCESS) return true;
    if (rc == MDB_NOTFOUND) return false;
    throwError(rc, "moving a cursor");
  }
  MDB_cursor* cur_ = nullptr;
  MDB_val key_{0, nullptr};
  MDB_val val_{0, nullptr};
};

}  // namespace plasma::lmdb
