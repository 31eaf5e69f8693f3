// Storage faults: a full LMDB map, a full disk (a file-size limit in a
// forked child, and a real ENOSPC on a small tmpfs where mounting is
// allowed) and a read-only directory (as the user nobody). Each must give a
// clear error, commit nothing half-way, poison nothing silently and leave
// every committed row readable — in the process that hit the fault and
// after a reopen.
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "reliability/reliability_util.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

struct Notes : Table {
  Notes() : Table("notes") {}
  TextColumn id{this, plasma::id()};
  TextColumn body{this, plasma::text("body")};
  IntColumn batch{this, plasma::integer("batch")};
};
const Notes notes;
const Schema notesSchema = defineSchema("notes-v1", {notes});

std::string noteId(int batch, int i) { return "b" + std::to_string(batch) + "-" + std::to_string(i); }
std::string bodyOf(int batch, int i) { return std::string(2000, static_cast<char>('a' + (batch + i) % 26)); }

// One transaction of `rows` notes of ~2 KB each.
void writeBatch(Database& db, int batch, int rows = 10) {
  db.write([&](Tx& tx) {
    for (int i = 0; i < rows; ++i) {
      (void)tx.insert(notes).values({{notes.id, noteId(batch, i)}, {notes.body, bodyOf(batch, i)}, {notes.batch, batch}});
    }
  });
}

// Every committed batch 0..batches-1 is there with its exact content, no
// row of any later batch is, and the change log has one entry per row.
// Returns "" when so, else what is wrong.
std::string checkBatches(const Database& db, int batches, int rows = 10) {
  std::string wrong;
  db.read([&](const ReadTx& tx) {
    std::size_t n = 0;
    for (const auto& row : tx.select(notes).rows()) {
      ++n;
      const int b = static_cast<int>(*row.get(notes.batch));
      if (b >= batches) wrong += "row " + std::string(row.id()) + " of uncommitted batch " + std::to_string(b) + "; ";
    }
    if (n != static_cast<std::size_t>(batches * rows)) {
      wrong += std::to_string(n) + " rows, expected " + std::to_string(batches * rows) + "; ";
    }
    for (int b = 0; b < batches; ++b) {
      for (int i = 0; i < rows; ++i) {
        auto row = tx.get(notes, noteId(b, i));
        if (!row || *row->get(notes.body) != bodyOf(b, i)) wrong += "row " + noteId(b, i) + " missing or changed; ";
      }
    }
  });
  const auto changes = db.changesSince(0);
  if (changes.size() != static_cast<std::size_t>(batches * rows)) {
    wrong += "change log has " + std::to_string(changes.size()) + " entries, expected " +
             std::to_string(batches * rows) + "; ";
  }
  return wrong;
}

OpenOptions withMap(std::size_t bytes) {
  OpenOptions o;
  o.map_size_bytes = bytes;
  o.durability = Durability::NoMetaSync;
  return o;
}

}  // namespace

TEST_CASE("storage: a full map fails only that transaction, names the map size, and a larger map grows it",
          "[reliability][storage][mapfull]") {
  TempDir dir;
  int committed = 0;
  {
    auto db = Database::open(dir.path(), notesSchema, withMap(std::size_t{1} << 20));
    db.ensureSchema();
    std::optional<Error> full;
    for (; committed < 1000; ++committed) {
      full = plasma_test::catchError([&] { writeBatch(db, committed); });
      if (full) break;
    }
    REQUIRE(full.has_value());
    INFO("error: " << full->what());
    CHECK(full->code() == ErrorCode::Storage);
    CHECK_THAT(std::string(full->what()), Catch::Contains("map is full"));
    CHECK_THAT(std::string(full->what()), Catch::Contains("1 MiB"));  // the size it hit
    CHECK_THAT(std::string(full->what()), Catch::Contains("map_size_bytes"));  // how to grow it
    CHECK(committed > 10);  // the map held real data before it filled
    // Nothing of the failed transaction was written; every committed row reads back.
    CHECK(checkBatches(db, committed) == "");
    // Not poisoned: the next write fails the same clear way, not as Poisoned.
    auto again = plasma_test::catchError([&] { writeBatch(db, committed); });
    REQUIRE(again.has_value());
    CHECK(again->code() == ErrorCode::Storage);
    CHECK_THAT(std::string(again->what()), Catch::Contains("map is full"));
    // A small write that frees space still goes through.
    db.write([&](Tx& tx) { (void)tx.deleteFrom(notes).where(eq(notes.id, noteId(committed - 1, 9))); });
    db.write([&](Tx& tx) {
      (void)tx.insert(notes).values({{notes.id, noteId(committed - 1, 9)}, {notes.body, bodyOf(committed - 1, 9)},
                                     {notes.batch, committed - 1}});
    });
  }
  // Growing the map: reopen with a larger one; everything is there and the
  // batch that did not fit now commits.
  auto db = Database::open(dir.path(), notesSchema, withMap(std::size_t{8} << 20));
  db.ensureSchema();
  const auto changes_before = db.changesSince(0).size();
  writeBatch(db, committed);
  db.read([&](const ReadTx& tx) {
    for (int i = 0; i < 10; ++i) CHECK(tx.get(notes, noteId(committed, i)).has_value());
    for (int b = 0; b < committed; ++b) CHECK(tx.get(notes, noteId(b, 0)).has_value());
  });
  CHECK(db.changesSince(0).size() == changes_before + 10);
}

TEST_CASE("storage: a full disk (file-size limit) fails the commit clearly, poisons loudly, and loses nothing "
          "committed", "[reliability][storage][diskfull]") {
  TempDir dir;
  {
    auto db = Database::open(dir.path(), notesSchema, withMap(std::size_t{64} << 20));
    db.ensureSchema();
    for (int b = 0; b < 5; ++b) writeBatch(db, b);
  }
  const auto size = std::filesystem::file_size(dir / "data.mdb");
  // The child may grow the file by 16 KiB: a batch of ~20 KB cannot fit.
  const auto r = plasma_rel::runChild({.max_file_bytes = size + 16 * 1024}, [&](std::string& say) {
    auto db = Database::open(dir.path(), notesSchema, withMap(std::size_t{64} << 20));
    db.ensureSchema();
    int b = 5;
    std::optional<Error> failed;
    for (; b < 50 && !failed; ++b) failed = plasma_test::catchError([&] { writeBatch(db, b); });
    if (!failed) {
      say = "no write failed under the file-size limit";
      return 1;
    }
    say = failed->what();
    if (failed->code() != ErrorCode::Storage) return 2;
    // Further writes are refused loudly, naming the original failure.
    auto next = plasma_test::catchError([&] { writeBatch(db, 99); });
    if (!next || next->code() != ErrorCode::Poisoned || std::string(next->what()).find(say) == std::string::npos) {
      say += "\nnext write: " + std::string(next ? next->what() : "succeeded");
      return 3;
    }
    // Reads still work in the process that hit the fault.
    const std::string wrong = checkBatches(db, b - 1);
    if (!wrong.empty()) {
      say += "\nread after the failure: " + wrong;
      return 4;
    }
    say += "\ncommitted batches: " + std::to_string(b - 1);
    return 0;
  });
  INFO("child said: " << r.said);
  REQUIRE(r.exit_code == 0);
  // LMDB sees a short write and reports EIO; the message says what it likely means.
  CHECK_THAT(r.said, Catch::Contains("the disk may be full"));
  CHECK_THAT(r.said, Catch::Contains(dir.path().string()));  // which database
  const int batches = std::stoi(r.said.substr(r.said.rfind(": ") + 2));
  // Reopened without the limit: consistent, everything committed is there,
  // and writes work again.
  auto db = Database::open(dir.path(), notesSchema, withMap(std::size_t{64} << 20));
  db.ensureSchema();
  CHECK(checkBatches(db, batches) == "");
  writeBatch(db, batches);
  CHECK(checkBatches(db, batches + 1) == "");
}

TEST_CASE("storage: a full disk (tmpfs, ENOSPC) fails clearly and the data stays readable after a reopen",
          "[reliability][storage][diskfull]") {
  TempDir dir;
  plasma_rel::TmpfsMount mnt(dir / "small", 512 * 1024);
  if (!mnt.ok()) {
    WARN("skipped: no tmpfs here (" << mnt.why() << "); the file-size-limit test covers the same path");
    return;
  }
  const auto path = dir / "small" / "db";
  int batches = 0;
  std::string message;
  {
    auto db = Database::open(path, notesSchema, withMap(std::size_t{64} << 20));
    db.ensureSchema();
    std::optional<Error> failed;
    for (; batches < 200 && !failed; ++batches) failed = plasma_test::catchError([&] { writeBatch(db, batches); });
    REQUIRE(failed.has_value());
    --batches;  // the one that failed
    message = failed->what();
    INFO("error: " << message);
    CHECK(failed->code() == ErrorCode::Storage);
    CHECK_THAT(message, Catch::Contains("the disk may be full"));
    CHECK_THAT(message, Catch::Contains(path.string()));
    CHECK(checkBatches(db, batches) == "");
    auto next = plasma_test::catchError([&] { writeBatch(db, 999); });
    REQUIRE(next.has_value());
    CHECK(next->code() == ErrorCode::Poisoned);
  }
  auto db = Database::open(path, notesSchema, withMap(std::size_t{64} << 20));
  db.ensureSchema();
  CHECK(checkBatches(db, batches) == "");
}

TEST_CASE("storage: a read-only database directory is refused with a clear error and stays readable",
          "[reliability][storage][readonly]") {
  TempDir dir;
  const auto path = dir / "db";
  {
    auto db = Database::open(path, notesSchema, withMap(std::size_t{16} << 20));
    db.ensureSchema();
    for (int b = 0; b < 3; ++b) writeBatch(db, b);
  }
  plasma_rel::letNobodyIn(path);
  const auto before = std::filesystem::file_size(path / "data.mdb");
  // nobody can read the files but write neither them nor the directory.
  const auto r = plasma_rel::runChild({.as_nobody = true}, [&](std::string& say) {
    auto e = plasma_test::catchError([&] { (void)Database::open(path, notesSchema, withMap(std::size_t{16} << 20)); });
    if (!e) {
      say = "open succeeded";
      return 1;
    }
    say = e->what();
    if (e->code() != ErrorCode::Storage) return 2;
    // A database that does not exist yet, under the read-only directory.
    auto e2 = plasma_test::catchError([&] { (void)Database::open(path / "new", notesSchema, withMap(std::size_t{16} << 20)); });
    say += "\n";
    say += e2 ? e2->what() : "open of a new database succeeded";
    return e2 && e2->code() == ErrorCode::Storage ? 0 : 3;
  });
  INFO("child said: " << r.said);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.said, Catch::Contains(path.string()));
  CHECK_THAT(r.said, Catch::Contains(std::strerror(EACCES)));
  CHECK_THAT(r.said, Catch::Contains("cannot create database directory " + (path / "new").string()));
  CHECK(std::filesystem::file_size(path / "data.mdb") == before);
  auto db = Database::open(path, notesSchema, withMap(std::size_t{16} << 20));
  db.ensureSchema();
  CHECK(checkBatches(db, 3) == "");
}

namespace {

// Puts /dev/null in place of every descriptor of this process open on
// `file`: writes still succeed (and go nowhere), but fdatasync() fails with
// EINVAL, as a sync on a failing disk would. Returns how many were replaced.
int breakSyncsOf(const std::filesystem::path& file) {
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) return -1;
  int replaced = 0;
  const auto target = std::filesystem::canonical(file);
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto points_to = std::filesystem::read_symlink(e.path(), ec);
    if (ec || points_to != target) continue;
    const int fd = std::stoi(e.path().filename().string());
    if (::dup2(null_fd, fd) == fd) ++replaced;
  }
  ::close(null_fd);
  return replaced;
}

}  // namespace

TEST_CASE("storage: a failed sync poisons the database, naming the failure, and loses nothing committed",
          "[reliability][storage][sync]") {
  // After a failed fdatasync the kernel may have dropped the pages it could
  // not write, so a later sync could succeed without them: the sync must
  // fail loudly and no later write may claim durability.
  TempDir dir;
  OpenOptions o = withMap(std::size_t{64} << 20);
  std::filesystem::path broken;
  bool by_commit = false;  // the failing sync is a commit's own (Wal), not Database::sync()
  SECTION("the write-ahead log, synced by Database::sync() (WalAsync)") {
    o.durability = Durability::WalAsync;
    o.wal_sync_interval_ms = 600'000;  // no background sync: this test's sync is the one that fails
    o.wal_checkpoint_interval_ms = 0;  // nor a checkpoint
    broken = dir / "plasma.wal";
  }
  SECTION("the write-ahead log, synced by each commit (Wal)") {
    o.durability = Durability::Wal;
    o.wal_checkpoint_interval_ms = 0;
    broken = dir / "plasma.wal";
    by_commit = true;
  }
  SECTION("LMDB's data file (NoMetaSync)") {
    o.durability = Durability::NoMetaSync;
    broken = dir / "data.mdb";
  }
  std::string failure;
  {
    auto db = Database::open(dir.path(), notesSchema, o);
    db.ensureSchema();
    for (int b = 0; b < 3; ++b) writeBatch(db, b);
    db.sync();  // the disk is still fine
    if (!by_commit) writeBatch(db, 3);
    REQUIRE(breakSyncsOf(broken) >= 1);
    // Wal: the commit of batch 3 fails (LMDB committed it while its log
    // record was being synced; it may not be durable, so it is an error).
    const auto e = plasma_test::catchError([&] { by_commit ? writeBatch(db, 3) : db.sync(); });
    REQUIRE(e.has_value());
    failure = e->what();
    CHECK(e->code() == ErrorCode::Storage);
    // Every later write is refused, naming the failed sync.
    const auto next = plasma_test::catchError([&] { writeBatch(db, 4); });
    REQUIRE(next.has_value());
    CHECK(next->code() == ErrorCode::Poisoned);
    CHECK_THAT(std::string(next->what()), Catch::Contains("syncing") && Catch::Contains(broken.string()));
    // Reads still work in the process that hit the fault. (Wal: they show
    // batch 3, which LMDB committed though its write failed; a sync node's
    // pulls do not, see "sync: with Durability::Wal a pull never returns...".)
    CHECK(checkBatches(db, 4) == "");
  }
  CHECK_THAT(failure, Catch::Contains("syncing") && Catch::Contains(broken.string()));  // which file
  // The process did not crash: the page cache still holds every commit made
  // before the fault. Wal: batch 3's record went to /dev/null, so the reopen
  // (which replays the log) does not have it, as after a crash.
  auto db = Database::open(dir.path(), notesSchema, withMap(std::size_t{64} << 20));
  db.ensureSchema();
  const int kept = by_commit ? 3 : 4;
  CHECK(checkBatches(db, kept) == "");
  writeBatch(db, kept);
  CHECK(checkBatches(db, kept + 1) == "");
}
