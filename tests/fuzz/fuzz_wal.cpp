// fuzz_wal: reading a write-ahead log (engine/wal.hpp) and replaying its
// transaction records into LMDB, as recovery does when a database opens.
// Contract: wal::read() returns or throws StorageError; wal::replay() applies
// a payload or throws StorageError, and whatever it applied leaves the
// environment usable (the transaction commits, and every database it names
// reads back).
//
// The first byte picks the input's form, the rest is:
// - even: a log file. Records are laid out as the header documents, and this
//   harness writes each record's checksum itself, so inputs reach the checks
//   behind it (a checksum is what a torn append fails, and a fuzzer would
//   rarely get one right). Each transaction record of a log read() accepts
//   is replayed, in one write transaction.
// - odd: one transaction record's payload, replayed alone.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <xxhash.h>

#include "engine/lmdb.hpp"
#include "engine/wal.hpp"
#include "plasma/error.hpp"

using namespace plasma;
using namespace plasma::detail;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const std::filesystem::path& scratchDir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("plasma-fuzz-wal-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d / "env");
    return d;
  }();
  return dir;
}

lmdb::Env& scratchEnv() {
  static lmdb::Env env = [] {
    lmdb::EnvOptions o;
    o.map_size_bytes = std::size_t{256} << 20;
    o.flags = MDB_NOSYNC;
    return lmdb::Env::open(scratchDir() / "env", o);
  }();
  return env;
}

// Replays `payloads` in one write transaction and commits it; then every
// database a payload named must still open and read.
template <class Payloads>
void replayAll(const Payloads& payloads) {
  lmdb::Txn txn = lmdb::Txn::beginWrite(scratchEnv());
  std::vector<std::pair<std::string, unsigned>> opened;
  auto open = [&](const std::string& name, unsigned flags) {
    opened.emplace_back(name, flags);
    const std::optional<MDB_dbi> dbi = txn.openDbi(name, flags, /*create=*/true);
    check(dbi.has_value());
    return *dbi;
  };
  try {
    for (std::string_view p : payloads) wal::replay(txn.get(), p, open);
  } catch (const StorageError&) {
    txn.abort();
    return;  // refused: nothing is committed
  }
  txn.commit();
  // Every database reads back; then it is deleted, so inputs do not pile up.
  lmdb::Txn after = lmdb::Txn::beginWrite(scratchEnv());
  for (const auto& [name, flags] : opened) {
    check(!name.empty());  // replay refuses a nameless database (LMDB's main one)
    const std::optional<MDB_dbi> dbi = after.openDbi(name, flags, /*create=*/false);
    if (!dbi) continue;  // dropped again, or already deleted here
    MDB_cursor* cur = nullptr;
    check(mdb_cursor_open(after.get(), *dbi, &cur) == MDB_SUCCESS);
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    check(rc == MDB_NOTFOUND);
    mdb_cursor_close(cur);
    check(mdb_drop(after.get(), *dbi, 1) == MDB_SUCCESS);
  }
  after.commit();
}

// The documented layout (engine/wal.hpp): a 24-byte header, then records of
// u32 size | u8 kind | u8[3] | u64 seq | payload | u64 XXH3 checksum.
void sealRecords(std::string& log) {
  constexpr std::size_t kHeader = 24, kHead = 16, kSum = 8;
  std::size_t at = kHeader;
  while (log.size() >= at + kHead + kSum) {
    std::uint32_t size = 0;
    std::memcpy(&size, log.data() + at, sizeof size);
    if (size > log.size() - at - kHead - kSum) return;  // cut short: the torn tail stays
    const std::uint64_t sum = XXH3_64bits(log.data() + at, kHead + size);
    std::memcpy(log.data() + at + kHead + size, &sum, sizeof sum);
    at += kHead + size + kSum;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    replayAll(std::vector<std::string_view>{body});
    return 0;
  }
  sealRecords(body);
  const std::filesystem::path file = scratchDir() / wal::kFileName;
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    check(out.good());
  }
  wal::Contents log;
  try {
    log = wal::read(file);
  } catch (const StorageError&) {
    return 0;
  }
  check(!log.records.empty() && log.records.front().kind == wal::kCheckpoint);
  check(log.metas.size() == 2 * std::size_t{log.page_size});
  std::vector<std::string_view> payloads;
  for (std::size_t i = 1; i < log.records.size(); ++i) {
    check(log.records[i].kind == wal::kTransaction);
    payloads.push_back(log.records[i].payload);
  }
  replayAll(payloads);
  return 0;
}
