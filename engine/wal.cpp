// engine/wal.cpp — see wal.hpp.
#include "engine/wal.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t
#include <xxhash.h>

#include "plasma/error.hpp"

namespace plasma::detail::wal {

namespace {

constexpr char kMagic[16] = {'p', 'l', 'a', 's', 'm', 'a', 'w', 'a', 'l', 0, 0, 0, 0, 0, 0, 0};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 24;      // magic, version, 0
constexpr std::size_t kRecordHeadBytes = 16;  // size, kind, 0 0 0, seq
constexpr std::size_t kChecksumBytes = 8;
// A record's payload is at most this big (a transaction of one commit).
constexpr std::uint64_t kMaxPayload = std::uint64_t{1} << 32;

// LMDB 0.9 on a 64-bit system: a meta page is a 16-byte page header, then
// MDB_meta: magic, version, address, map size, two 48-byte MDB_db, the last
// page number and the transaction id.
constexpr std::size_t kMetaMagicAt = 16, kMetaVersionAt = 20, kMetaTxnidAt = 144;
constexpr std::uint32_t kLmdbMagic = 0xBEEFC0DE, kLmdbDataVersion = 1;

[[noreturn]] void fail(int err, const std::string& what) {
  throw StorageError(err, what + (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
}

template <class T>
T load(std::string_view s, std::size_t at) noexcept {
  T v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}
template <class T>
void store(std::string& out, T v) {
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.append(b, sizeof v);
}

void putVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads a varint at `at`; false when it runs past the end or is too long.
bool getVarint(std::string_view s, std::size_t& at, std::uint64_t& v) noexcept {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= s.size()) return false;
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= std::uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

std::string recordHead(std::uint8_t kind, std::uint64_t seq, std::uint64_t payload_size) {
  std::string h;
  store(h, static_cast<std::uint32_t>(payload_size));
  h.push_back(static_cast<char>(kind));
  h.append(3, '\0');
  store(h, seq);
  return h;
}

}  // namespace

void syncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(errno, "opening directory " + dir.string() + " to sync it");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail(err, "syncing directory " + dir.string());
}

// ---- Redo -------------------------------------------------------------------

std::uint16_t Redo::local(MDB_dbi dbi) {
  for (const auto& [handle, index] : current_) {
    if (handle == dbi) return index;
  }
  if (names_ == nullptr || dbi >= names_->size() || (*names_)[dbi].name.empty()) {
    throw StorageError(0, "write-ahead log: a transaction wrote a database the log has no name for");
  }
  if (table_.size() >= 0xffff) throw StorageError(0, "write-ahead log: one transaction wrote too many databases");
  const auto index = static_cast<std::uint16_t>(table_.size());
  table_.push_back((*names_)[dbi]);
  current_.emplace_back(dbi, index);
  return index;
}

void Redo::head(Op op, MDB_dbi dbi, std::string_view key) {
  const std::uint16_t index = local(dbi);
  ops_.push_back(static_cast<char>(op));
  store(ops_, index);
  putVarint(ops_, key.size());
  ops_.append(key);
}

void Redo::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
  head(kPut, dbi, key);
  putVarint(ops_, value.size());
  ops_.append(value);
}

void Redo::del(MDB_dbi dbi, std::string_view key, const std::string_view* value) {
  if (value == nullptr) {
    head(kDel, dbi, key);
    return;
  }
  head(kDelPair, dbi, key);
  putVarint(ops_, value->size());
  ops_.append(*value);
}

void Redo::clear(MDB_dbi dbi) { head(kClear, dbi, {}); }
void Redo::create(MDB_dbi dbi) { head(kCreate, dbi, {}); }

void Redo::drop(MDB_dbi dbi) {
  head(kDrop, dbi, {});
  // The handle is free now: a database opened later may reuse it.
  std::erase_if(current_, [&](const auto& p) { return p.first == dbi; });
}

void Redo::reset() noexcept {
  ops_.clear();
  table_.clear();
  current_.clear();
}

namespace {

// One operation of a transaction payload.
struct ParsedOp {
  Redo::Op op;
  std::uint16_t dbi;
  std::string_view key, value;
};

// Parses the operation at `at`; false when the bytes are malformed.
bool parseOp(std::string_view s, std::size_t& at, ParsedOp& out) noexcept {
  if (s.size() - at < 3) return false;
  const auto op = static_cast<std::uint8_t>(s[at]);
  if (op < Redo::kPut || op > Redo::kCreate) return false;
  out.op = static_cast<Redo::Op>(op);
  out.dbi = load<std::uint16_t>(s, at + 1);
  at += 3;
  std::uint64_t n = 0;
  if (!getVarint(s, at, n) || n > s.size() - at) return false;
  out.key = s.substr(at, n);
  at += n;
  out.value = {};
  if (out.op == Redo::kPut || out.op == Redo::kDelPair) {
    if (!getVarint(s, at, n) || n > s.size() - at) return false;
    out.value = s.substr(at, n);
    at += n;
  }
  return true;
}

}  // namespace

// ---- reading ------------------------------------------------------------------

std::uint64_t metaTxnid(std::string_view page) noexcept {
  if (page.size() < kMetaTxnidAt + 8) return 0;
  if (load<std::uint32_t>(page, kMetaMagicAt) != kLmdbMagic) return 0;
  if (load<std::uint32_t>(page, kMetaVersionAt) != kLmdbDataVersion) return 0;
  return load<std::uint64_t>(page, kMetaTxnidAt);
}

std::uint64_t newestMetaTxnid(std::string_view metas, std::uint32_t page_size) noexcept {
  return std::max(metaTxnid(metas.substr(0, page_size)), metaTxnid(metas.substr(std::min<std::size_t>(page_size, metas.size()))));
}

Contents read(const std::filesystem::path& file) {
  Contents c;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(errno, "cannot read the write-ahead log " + file.string());
    c.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) fail(errno, "cannot read the write-ahead log " + file.string());
  }
  const std::string_view s = c.bytes;
  auto refuse = [&](const std::string& why) {
    throw StorageError(0, "the write-ahead log " + file.string() + " is not usable: " + why +
                              ". The data file was left untouched; move the log away only if losing the "
                              "commits it holds is acceptable");
  };
  if (s.size() < kHeaderBytes || std::memcmp(s.data(), kMagic, sizeof kMagic) != 0) {
    refuse("it does not start with a plasma log header");
  }
  if (const auto v = load<std::uint32_t>(s, 16); v != kVersion) {
    refuse("format version " + std::to_string(v) + ", this build reads version " + std::to_string(kVersion));
  }
  std::size_t at = kHeaderBytes;
  while (s.size() - at >= kRecordHeadBytes + kChecksumBytes) {
    const std::uint64_t size = load<std::uint32_t>(s, at);
    if (size > s.size() - at - kRecordHeadBytes - kChecksumBytes) break;
    const std::size_t body = kRecordHeadBytes + size;
    if (XXH3_64bits(s.data() + at, body) != load<std::uint64_t>(s, at + body)) break;
    Record r;
    r.kind = static_cast<std::uint8_t>(s[at + 4]);
    r.seq = load<std::uint64_t>(s, at + 8);
    r.payload = s.substr(at + kRecordHeadBytes, size);
    if (r.kind != kCheckpoint && r.kind != kTransaction) break;
    c.records.push_back(r);
    at += body + kChecksumBytes;
  }
  c.valid_end = at;
  c.torn = at != s.size();
  if (c.records.empty() || c.records.front().kind != kCheckpoint) {
    refuse("its first record is missing or is not a checkpoint");
  }
  const Record& cp = c.records.front();
  if (cp.payload.size() < 8) refuse("its checkpoint record is too short");
  c.checkpoint_txnid = cp.seq;
  c.page_size = load<std::uint32_t>(cp.payload, 0);
  c.metas = cp.payload.substr(8);
  if (c.page_size < 512 || c.metas.size() != 2 * std::size_t{c.page_size}) refuse("its checkpoint record is malformed");
  if (newestMetaTxnid(c.metas, c.page_size) != c.checkpoint_txnid) refuse("its checkpoint's meta pages do not match its transaction id");
  for (std::size_t i = 1; i < c.records.size(); ++i) {
    if (c.records[i].kind != kTransaction) refuse("record " + std::to_string(i) + " is a second checkpoint");
  }
  return c;
}

void replay(MDB_txn* txn, std::string_view payload,
            const std::function<MDB_dbi(const std::string& name, unsigned flags)>& open) {
  auto malformed = [](const std::string& why) {
    throw StorageError(MDB_CORRUPTED, "replaying the write-ahead log: " + why);
  };
  if (payload.size() < 2) malformed("a transaction record is too short");
  const std::uint16_t count = load<std::uint16_t>(payload, 0);
  std::size_t at = 2;
  struct Entry {
    DbiName name;
    std::optional<MDB_dbi> handle;  // opened when an operation first names it
  };
  std::vector<Entry> table;
  table.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    if (payload.size() - at < 6) malformed("a database table is cut short");
    const auto flags = load<std::uint32_t>(payload, at);
    const auto len = load<std::uint16_t>(payload, at + 4);
    at += 6;
    if (payload.size() - at < len) malformed("a database name is cut short");
    const std::string_view name = payload.substr(at, len);
    // What plasma logs: named databases, plain or MDB_DUPSORT (indexes). An
    // empty name would be LMDB's main database, whose records are the other
    // databases; other flags change how LMDB compares and stores keys.
    if (name.empty() || name.find('\0') != std::string_view::npos) {
      malformed("database " + std::to_string(i) + " of the table has an empty name or a NUL byte in it");
    }
    if (flags != 0 && flags != MDB_DUPSORT) {
      malformed("database '" + std::string(name) + "' has flags " + std::to_string(flags) +
                " (the log only holds plain and MDB_DUPSORT databases)");
    }
    table.push_back(Entry{DbiName{std::string(name), flags}, std::nullopt});
    at += len;
  }
  ParsedOp op{};
  while (at < payload.size()) {
    if (!parseOp(payload, at, op)) malformed("an operation is malformed");
    if (op.dbi >= table.size()) malformed("an operation names a database missing from its table");
    Entry& e = table[op.dbi];
    if (!e.handle) e.handle = open(e.name.name, e.name.flags);
    MDB_val k{op.key.size(), const_cast<char*>(op.key.data())};
    MDB_val v{op.value.size(), const_cast<char*>(op.value.data())};
    int rc = MDB_SUCCESS;
    switch (op.op) {
      case Redo::kPut: rc = mdb_put(txn, *e.handle, &k, &v, 0); break;
      case Redo::kDel: rc = mdb_del(txn, *e.handle, &k, nullptr); break;
      case Redo::kDelPair: rc = mdb_del(txn, *e.handle, &k, &v); break;
      case Redo::kClear: rc = mdb_drop(txn, *e.handle, 0); break;
      case Redo::kDrop:
        rc = mdb_drop(txn, *e.handle, 1);
        e.handle.reset();
        break;
      case Redo::kCreate: break;  // opening it created it
    }
    if (rc != MDB_SUCCESS) {
      throw StorageError(rc, std::string("replaying the write-ahead log: an operation did not apply (") +
                                 mdb_strerror(rc) + "); the log does not belong to this data file");
    }
  }
}

// ---- DirLock ------------------------------------------------------------------

DirLock DirLock::acquire(const std::filesystem::path& dir, bool exclusive) {
  const std::filesystem::path path = dir / kLockName;
  DirLock l;
  l.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (l.fd_ < 0) fail(errno, "cannot open the lock file " + path.string());
  if (::flock(l.fd_, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      throw StorageError(err, "database in " + dir.string() + " is open in another process" +
                                  (exclusive ? std::string(", and write-ahead-log durability needs it alone")
                                             : std::string(" with write-ahead-log durability, which needs it alone")));
    }
    fail(err, "cannot lock " + path.string());
  }
  return l;
}

void DirLock::share() {
  if (fd_ >= 0 && ::flock(fd_, LOCK_SH | LOCK_NB) != 0) fail(errno, "cannot share the database lock");
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

DirLock& DirLock::operator=(DirLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

// ---- LogFile ------------------------------------------------------------------

LogFile::~LogFile() {
  if (fd_ >= 0) ::close(fd_);
}

LogFile::LogFile(LogFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), end_(o.end_), scratch_(std::move(o.scratch_)) {}

LogFile& LogFile::operator=(LogFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    end_ = o.end_;
    scratch_ = std::move(o.scratch_);
  }
  return *this;
}

LogFile LogFile::begin(const std::filesystem::path& dir, std::uint64_t txnid, std::uint32_t page_size,
                       std::string_view metas) {
  const std::filesystem::path tmp = dir / (std::string(kFileName) + ".new");
  LogFile f;
  f.fd_ = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f.fd_ < 0) fail(errno, "creating the write-ahead log " + tmp.string());
  f.path_ = tmp;
  std::string bytes(kMagic, sizeof kMagic);
  store(bytes, kVersion);
  store(bytes, std::uint32_t{0});
  std::string payload;
  store(payload, page_size);
  store(payload, std::uint32_t{0});
  payload.append(metas);
  const std::size_t record_at = bytes.size();
  bytes += recordHead(kCheckpoint, txnid, payload.size());
  bytes += payload;
  store(bytes, XXH3_64bits(bytes.data() + record_at, bytes.size() - record_at));
  f.writeAll(bytes.data(), bytes.size(), 0);
  f.end_ = bytes.size();
  return f;
}

void LogFile::copyFrom(const LogFile& old, std::uint64_t from, std::uint64_t to) {
  std::string chunk;
  while (from < to) {
    const std::uint64_t n = std::min<std::uint64_t>(to - from, std::uint64_t{1} << 20);
    chunk.resize(n);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(old.fd_, chunk.data() + done, n - done, static_cast<off_t>(from + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        fail(errno, "reading the write-ahead log " + old.path_.string());
      }
      if (r == 0) fail(0, "reading the write-ahead log " + old.path_.string() + ": it is shorter than written");
      done += static_cast<std::size_t>(r);
    }
    writeAll(chunk.data(), n, end_);
    end_ += n;
    from += n;
  }
}

void LogFile::publish(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kFileName;
  sync();
  if (::rename(path_.c_str(), path.c_str()) != 0) fail(errno, "renaming " + path_.string() + " to " + path.string());
  path_ = path;
  syncDirectory(dir);
}

void LogFile::writeAll(const void* data, std::size_t size, std::uint64_t at) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "writing the write-ahead log " + path_.string());
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    at += static_cast<std::uint64_t>(n);
  }
}

void LogFile::appendTransaction(std::uint64_t txnid, const Redo& redo) {
  const std::string_view ops = redo.bytes();
  std::string table;
  store(table, static_cast<std::uint16_t>(redo.table().size()));
  for (const DbiName& d : redo.table()) {
    store(table, static_cast<std::uint32_t>(d.flags));
    store(table, static_cast<std::uint16_t>(d.name.size()));
    table.append(d.name);
  }
  const std::uint64_t size = table.size() + ops.size();
  if (size >= kMaxPayload) throw StorageError(0, "write-ahead log: one transaction wrote more than 4 GiB");
  scratch_ = recordHead(kTransaction, txnid, size);
  XXH3_state_t st;  // on the stack: no allocation per commit
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, scratch_.data(), scratch_.size());
  XXH3_64bits_update(&st, table.data(), table.size());
  XXH3_64bits_update(&st, ops.data(), ops.size());
  const std::uint64_t sum = XXH3_64bits_digest(&st);
  char sum_bytes[8];
  std::memcpy(sum_bytes, &sum, 8);
  std::array<iovec, 4> iov{{{scratch_.data(), scratch_.size()},
                            {table.data(), table.size()},
                            {const_cast<char*>(ops.data()), ops.size()},
                            {sum_bytes, 8}}};
  std::size_t total = kRecordHeadBytes + size + kChecksumBytes;
  std::uint64_t at = end_;
  std::size_t first = 0;
  while (total > 0) {
    const ssize_t n = ::pwritev(fd_, iov.data() + first, static_cast<int>(iov.size() - first), static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "appending to the write-ahead log " + path_.string());
    }
    auto left = static_cast<std::size_t>(n);
    total -= left;
    at += left;
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  end_ = at;
}

void LogFile::truncate(std::uint64_t end) {
  if (::ftruncate(fd_, static_cast<off_t>(end)) != 0) fail(errno, "cutting back the write-ahead log " + path_.string());
  end_ = end;
}

void LogFile::sync() {
  if (::fdatasync(fd_) != 0) fail(errno, "syncing the write-ahead log " + path_.string());
}

}  // namespace plasma::detail::wal
