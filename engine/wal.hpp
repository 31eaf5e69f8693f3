// engine/wal.hpp — the write-ahead log of Durability::Wal and WalAsync.
//
// LMDB makes a commit durable by writing every page the transaction dirtied
// to its place in the data file and syncing twice (pages, then the meta
// page). A push of 100 mutations dirties ~100 scattered 4 KiB pages. In the
// log modes a commit instead appends the transaction's key/value operations
// (a few dozen KiB for such a push) to `plasma.wal` and syncs that one
// sequential append; LMDB commits without syncing. A *checkpoint* later
// syncs the data file once for many commits and starts a new log.
//
// Why LMDB stays recoverable although its commits are not synced: a system
// crash can leave a meta page on disk that points at pages that never got
// there. A checkpoint therefore keeps a read transaction open on the
// snapshot it synced (LMDB never reuses a page a reader can still see), and
// stores that snapshot's two meta pages in the log. Recovery writes them
// back, which turns the data file into exactly the synced snapshot, then
// re-applies the logged transactions after it. See docs/storage.md,
// "Write-ahead log".
//
// File format (little-endian), `plasma.wal`:
//   header   "plasmawal" 0 0 0 0 0 0 0 | u32 version (1) | u32 0
//   record*  u32 payload size | u8 kind | u8[3] 0 | u64 seq | payload | u64 checksum
// The checksum is XXH3-64 of everything from the size to the payload's end.
// The first record is a checkpoint (kind 1, seq = its LMDB transaction id;
// payload: u32 page size | u32 0 | the two meta pages as synced). Each
// later record is a transaction (kind 2, seq = its LMDB transaction id;
// payload: u16 database count, then per database u32 LMDB flags | u16 name
// size | name, then the operations: u8 op | u16 database (its position in
// that table) | varint key size | key [| varint value size | value]).
// Replay opens a database by name when an operation first names it,
// creating it when missing (a migration's new table or index).
// A record that is cut short or fails its checksum ends the log: what
// follows it is ignored (a torn append after a crash).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lmdb.h>

namespace plasma::detail::wal {

inline constexpr const char* kFileName = "plasma.wal";
inline constexpr const char* kLockName = "plasma.lock";

// A named LMDB database as the log names it.
struct DbiName {
  std::string name;
  unsigned flags = 0;
};

// The operations of one write transaction, in order, as they succeeded,
// and the databases they name. A database is named as it was when first
// written in the transaction: a handle freed by a drop and reused for a
// new database (a migration) gets a new entry.
class Redo {
 public:
  enum Op : std::uint8_t { kPut = 1, kDel = 2, kDelPair = 3, kClear = 4, kDrop = 5, kCreate = 6 };
  // `names[dbi]`: what each handle of the environment names (kept by the
  // database as it opens them).
  void setNames(const std::vector<DbiName>* names) noexcept { names_ = names; }
  void put(MDB_dbi dbi, std::string_view key, std::string_view value);
  void del(MDB_dbi dbi, std::string_view key, const std::string_view* value);
  void clear(MDB_dbi dbi);   // empties the database
  void drop(MDB_dbi dbi);    // deletes the database
  void create(MDB_dbi dbi);  // the database exists (created by this transaction if it did not)
  std::size_t size() const noexcept { return ops_.size(); }
  bool empty() const noexcept { return ops_.empty(); }
  // Drops the operations after the first `n` bytes (a savepoint rolled
  // back). Table entries they alone used stay; replay ignores them.
  void truncate(std::size_t n) noexcept { ops_.resize(n); }
  void reset() noexcept;
  std::string_view bytes() const noexcept { return ops_; }
  const std::vector<DbiName>& table() const noexcept { return table_; }

 private:
  void head(Op op, MDB_dbi dbi, std::string_view key);
  std::uint16_t local(MDB_dbi dbi);
  const std::vector<DbiName>* names_ = nullptr;
  std::vector<DbiName> table_;                              // by local index
  std::vector<std::pair<MDB_dbi, std::uint16_t>> current_;  // handle -> local index
  std::string ops_;
};

// One record read back from a log.
struct Record {
  std::uint8_t kind = 0;
  std::uint64_t seq = 0;
  std::string_view payload;
};
inline constexpr std::uint8_t kCheckpoint = 1;
inline constexpr std::uint8_t kTransaction = 2;

// A whole log file, read and checked.
struct Contents {
  std::string bytes;              // the file
  std::vector<Record> records;    // the valid prefix, views into `bytes`
  std::uint64_t valid_end = 0;    // where the valid prefix ends
  bool torn = false;              // bytes after the valid prefix were ignored
  // The checkpoint (the first record).
  std::uint64_t checkpoint_txnid = 0;
  std::uint32_t page_size = 0;
  std::string_view metas;  // two pages
};

// Reads `file`; throws StorageError naming the file when its header or
// first record is not a checkpoint of this format.
Contents read(const std::filesystem::path& file);

// fsync of a directory (after a file in it was created, renamed or removed).
void syncDirectory(const std::filesystem::path& dir);

// The transaction id a meta page records; 0 when `page` is not an LMDB 0.9
// meta page.
std::uint64_t metaTxnid(std::string_view page) noexcept;
// The newer of the two meta pages in `metas` (pages 0 and 1 of a data file).
std::uint64_t newestMetaTxnid(std::string_view metas, std::uint32_t page_size) noexcept;

// Applies one transaction record's operations in `txn` (a write
// transaction). `open` gives the handle of a database by name and flags.
// Throws StorageError when the payload is malformed or an operation does
// not apply as it did when it was logged (the log does not belong to the
// data file).
void replay(MDB_txn* txn, std::string_view payload,
            const std::function<MDB_dbi(const std::string& name, unsigned flags)>& open);

// An advisory lock (flock) on `plasma.lock` in a database directory: the
// log modes hold it exclusively (no other process may write what the log
// does not record), the others shared. Released when destroyed.
class DirLock {
 public:
  DirLock() = default;
  // Throws StorageError naming the directory when another process holds a
  // conflicting lock.
  static DirLock acquire(const std::filesystem::path& dir, bool exclusive);
  // From exclusive to shared (after recovery in a mode without a log).
  void share();
  ~DirLock();
  DirLock(DirLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  DirLock& operator=(DirLock&& o) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// The open log, appended to under LMDB's writer lock.
class LogFile {
 public:
  LogFile() = default;
  ~LogFile();
  LogFile(LogFile&& o) noexcept;
  LogFile& operator=(LogFile&& o) noexcept;
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // A new log is made in three steps: begin() writes `plasma.wal.new` with
  // its checkpoint record; copyFrom() appends whole records of the log it
  // replaces; publish() syncs it, renames it over plasma.wal and syncs the
  // directory.
  static LogFile begin(const std::filesystem::path& dir, std::uint64_t txnid, std::uint32_t page_size,
                       std::string_view metas);
  void copyFrom(const LogFile& old, std::uint64_t from, std::uint64_t to);
  void publish(const std::filesystem::path& dir);

  // Appends a transaction record: the redo's table and operations.
  void appendTransaction(std::uint64_t txnid, const Redo& redo);
  // Cuts the log back to `end` (an append whose commit failed).
  void truncate(std::uint64_t end);
  void sync();
  std::uint64_t end() const noexcept { return end_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  void writeAll(const void* data, std::size_t size, std::uint64_t at);
  int fd_ = -1;
  std::filesystem::path path_;
  std::uint64_t end_ = 0;
  std::string scratch_;  // the record head and database table of an append
};

}  // namespace plasma::detail::wal
