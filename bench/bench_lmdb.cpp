// bench/bench_lmdb.cpp — the raw LMDB baseline, on the same data as plasma.
//
// Key: the 36-byte id. Value: 8 bytes of `n` (little-endian) followed by the
// 100-byte value — the same fields plasma stores, without a row format.
// Rows go into the unnamed main database with plain mdb_put (flags 0, no
// MDB_APPEND), as an application would write them.
//
// Read environment: opened with MDB_NOSYNC (loading only; reads do not depend
// on durability). Insert environment: default flags, so every commit is
// synced (data and meta page), like plasma's Durability::Full.
#include <lmdb.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <plasma/database.hpp>  // plasma::newId, so both sides store the same kind of key

#include "bench_common.hpp"

namespace plasma_bench {

namespace {

constexpr std::size_t kIntBytes = 8;

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw std::runtime_error(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

class RawEnv {
 public:
  RawEnv(const std::filesystem::path& dir, unsigned flags) {
    std::filesystem::create_directories(dir);
    check(mdb_env_create(&env_), "env_create");
    check(mdb_env_set_mapsize(env_, kMapSizeBytes), "env_set_mapsize");
    check(mdb_env_open(env_, dir.c_str(), flags, 0644), "env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    const int rc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
    if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
    check(rc, "dbi_open");
    check(mdb_txn_commit(txn), "txn_commit");
  }
  RawEnv(const RawEnv&) = delete;
  RawEnv& operator=(const RawEnv&) = delete;
  ~RawEnv() { mdb_env_close(env_); }

  MDB_env* env() const noexcept { return env_; }
  MDB_dbi dbi() const noexcept { return dbi_; }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

// A write transaction that aborts unless committed.
class WriteTxn {
 public:
  explicit WriteTxn(const RawEnv& env) { check(mdb_txn_begin(env.env(), nullptr, 0, &txn_), "txn_begin"); }
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;
  ~WriteTxn() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  MDB_txn* get() const noexcept { return txn_; }
  void commit() {
    MDB_txn* txn = txn_;
    txn_ = nullptr;  // mdb_txn_commit frees it even on failure
    check(mdb_txn_commit(txn), "txn_commit");
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// value bytes = n (8 bytes LE) + valueFor(n)
void encodeValue(std::string& out, std::uint64_t n) {
  out.resize(kIntBytes);
  for (std::size_t b = 0; b < kIntBytes; ++b) out[b] = static_cast<char>((n >> (8 * b)) & 0xff);
  out += valueFor(n);
}

void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string& value) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), value.data()};
  check(mdb_put(txn, dbi, &k, &v, 0), "put");
}

// Reads the value bytes behind the 8-byte integer, as plasma's side reads its
// value column: its size and first byte.
std::uint64_t touch(const MDB_val& v) noexcept {
  if (v.mv_size <= kIntBytes) return 0;
  return (v.mv_size - kIntBytes) + static_cast<const unsigned char*>(v.mv_data)[kIntBytes];
}

struct LmdbSide {
  std::unique_ptr<RawEnv> read_env;
  std::unique_ptr<RawEnv> insert_env;
  MDB_txn* get_txn = nullptr;  // the reset/renew read handle; aborted before read_env closes
  std::size_t next_get = 0;
  std::uint64_t next_value = 0;

  LmdbSide() = default;
  LmdbSide(const LmdbSide&) = delete;
  LmdbSide& operator=(const LmdbSide&) = delete;
  ~LmdbSide() {
    if (get_txn != nullptr) mdb_txn_abort(get_txn);
  }
};

std::unique_ptr<LmdbSide>& sideSlot() {
  static std::unique_ptr<LmdbSide> side;
  return side;
}
LmdbSide& side() {
  auto& s = sideSlot();
  if (!s) s = std::make_unique<LmdbSide>();
  return *s;
}

const RawEnv& readEnv() {
  auto& s = side();
  if (!s.read_env) {
    const Dataset& data = Dataset::get();
    auto env = std::make_unique<RawEnv>(workDir() / "lmdb_read", MDB_NOSYNC);
    std::string value;
    for (std::size_t start = 0; start < data.size(); start += kLoadBatchRows) {
      const std::size_t end = std::min(data.size(), start + kLoadBatchRows);
      WriteTxn txn(*env);
      for (std::size_t i = start; i < end; ++i) {
        encodeValue(value, i);
        put(txn.get(), env->dbi(), data.id(i), value);
      }
      txn.commit();
    }
    flushWorkDir();
    s.read_env = std::move(env);
  }
  return *s.read_env;
}

const RawEnv& insertEnv() {
  auto& s = side();
  if (!s.insert_env) s.insert_env = std::make_unique<RawEnv>(workDir() / "lmdb_insert", 0);
  return *s.insert_env;
}

}  // namespace

// The fastest honest per-get transaction: one MDB_RDONLY handle per thread,
// mdb_txn_renew before each get and mdb_txn_reset after it. Each get still
// sees a fresh snapshot and holds its reader slot only while it runs.
void pointGetLmdb(benchmark::State& state) {
  guarded(state, [&] {
    const RawEnv& env = readEnv();
    const Dataset& data = Dataset::get();
    auto& s = side();
    if (s.get_txn == nullptr) {
      check(mdb_txn_begin(env.env(), nullptr, MDB_RDONLY, &s.get_txn), "txn_begin");
      mdb_txn_reset(s.get_txn);
    }
    std::size_t& pos = s.next_get;
    std::uint64_t found = 0;
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      const std::string_view id = data.shuffledId(pos);
      if (++pos == data.size()) pos = 0;
      check(mdb_txn_renew(s.get_txn), "txn_renew");
      MDB_val k{id.size(), const_cast<char*>(id.data())};
      MDB_val v;
      if (mdb_get(s.get_txn, env.dbi(), &k, &v) == MDB_SUCCESS) {
        ++found;
        touched += touch(v);
      }
      mdb_txn_reset(s.get_txn);
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, found, static_cast<std::uint64_t>(state.iterations()), "rows found");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

// The plain per-get transaction: mdb_txn_begin(MDB_RDONLY) + mdb_get + mdb_txn_abort.
void pointGetLmdbTxnBegin(benchmark::State& state) {
  guarded(state, [&] {
    const RawEnv& env = readEnv();
    const Dataset& data = Dataset::get();
    std::size_t& pos = side().next_get;
    std::uint64_t found = 0;
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      const std::string_view id = data.shuffledId(pos);
      if (++pos == data.size()) pos = 0;
      MDB_txn* txn = nullptr;
      check(mdb_txn_begin(env.env(), nullptr, MDB_RDONLY, &txn), "txn_begin");
      MDB_val k{id.size(), const_cast<char*>(id.data())};
      MDB_val v;
      if (mdb_get(txn, env.dbi(), &k, &v) == MDB_SUCCESS) {
        ++found;
        touched += touch(v);
      }
      mdb_txn_abort(txn);
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, found, static_cast<std::uint64_t>(state.iterations()), "rows found");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

// 1,000 mdb_put of fresh newId() keys per synced commit.
void insertBatchLmdb(benchmark::State& state) {
  guarded(state, [&] {
    const RawEnv& env = insertEnv();
    auto& s = side();
    std::string value;
    const WallClock clock;
    for (auto _ : state) {
      WriteTxn txn(env);
      for (std::size_t k = 0; k < kInsertBatchRows; ++k) {
        const std::string id = plasma::newId();
        encodeValue(value, s.next_value++);
        put(txn.get(), env.dbi(), id, value);
      }
      txn.commit();
    }
    const double seconds = clock.seconds();
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * kInsertBatchRows, seconds);
  });
}

// One read transaction and cursor per pass, MDB_NEXT over every row.
void fullScanLmdb(benchmark::State& state) {
  guarded(state, [&] {
    const RawEnv& env = readEnv();
    const std::uint64_t expected = Dataset::get().size();
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      MDB_txn* txn = nullptr;
      check(mdb_txn_begin(env.env(), nullptr, MDB_RDONLY, &txn), "txn_begin");
      MDB_cursor* cur = nullptr;
      const int rc = mdb_cursor_open(txn, env.dbi(), &cur);
      if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
      check(rc, "cursor_open");
      std::uint64_t rows = 0;
      MDB_val k;
      MDB_val v;
      while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == MDB_SUCCESS) {
        ++rows;
        touched += touch(v);
      }
      mdb_cursor_close(cur);
      mdb_txn_abort(txn);
      if (rows != expected) {
        expectCount(state, rows, expected, "rows scanned");
        break;
      }
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * expected, seconds);
  });
}

void closeLmdb() noexcept { sideSlot().reset(); }

}  // namespace plasma_bench
