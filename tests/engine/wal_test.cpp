// The write-ahead log (Durability::Wal / WalAsync; engine/wal.hpp): commits
// survive closing, a process crash (a forked child that _exits or is
// SIGKILLed with the database open) and a simulated system crash (the
// newest meta pages on disk, the data pages written after the last
// checkpoint garbage); a torn log tail is ignored; a rolled-back savepoint
// is not replayed; the directory lock keeps a second open out; a log that
// cannot be read stops the open and leaves the data file alone; migrations
// are logged like any transaction.
//
// Expected states come from a reference database (Durability::NoSync, in
// another directory) that ran the same deterministic transactions; they are
// compared as a fingerprint: every row with its stored bytes, the change
// log entry by entry, and its head.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/lmdb.hpp"
#include "engine/wal.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;
namespace fs = std::filesystem;
namespace wal = plasma::detail::wal;

namespace {

// ---- schemas ----------------------------------------------------------------------

struct Items : Table {
  Items() : Table("wal_items") { index("by_n", {n}); }
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n")};
  TextColumn body{this, text("body").defaultTo("")};
};
const Items items;
const Schema schema = defineSchema("wal-v1", {items});

// v1 plus a column and an index on items, and a new table with an index.
namespace v2 {
struct Items : Table {
  Items() : Table("wal_items") {
    index("by_n", {n});
    index("by_tag", {tag});
  }
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n")};
  TextColumn body{this, text("body").defaultTo("")};
  TextColumn tag{this, text("tag").nullable()};
};
const Items items;
struct Tags : Table {
  Tags() : Table("wal_tags") { index("by_label", {label}); }
  TextColumn id{this, plasma::id()};
  TextColumn label{this, text("label")};
};
const Tags tags;
const Schema schema = defineSchema("wal-v2", {items, tags});
}  // namespace v2

// v2 without the by_tag index.
namespace v3 {
struct Items : Table {
  Items() : Table("wal_items") { index("by_n", {n}); }
  TextColumn id{this, plasma::id()};
  IntColumn n{this, integer("n")};
  TextColumn body{this, text("body").defaultTo("")};
  TextColumn tag{this, text("tag").nullable()};
};
const Items items;
const Schema schema = defineSchema("wal-v3", {items, v2::tags});
}  // namespace v3

// ---- options and files ------------------------------------------------------------

// A log mode with no automatic checkpoint: only the one at open, close and
// Database::checkpoint().
OpenOptions walOptions(Durability d = Durability::Wal) {
  OpenOptions o;
  o.map_size_bytes = std::size_t{256} << 20;
  o.durability = d;
  o.wal_checkpoint_interval_ms = 0;
  o.wal_checkpoint_bytes = std::uint64_t{1} << 40;
  return o;
}

OpenOptions fullOptions() {
  OpenOptions o;
  o.map_size_bytes = std::size_t{256} << 20;
  o.durability = Durability::Full;
  return o;
}

fs::path logOf(const fs::path& dir) { return dir / wal::kFileName; }
fs::path dataOf(const fs::path& dir) { return dir / "data.mdb"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spit(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  REQUIRE(out.good());
}

// The newest transaction id of the two meta pages at the start of `file`.
std::uint64_t newestMeta(std::string_view file, std::size_t page_size) {
  REQUIRE(file.size() >= 2 * page_size);
  return std::max(wal::metaTxnid(file.substr(0, page_size)), wal::metaTxnid(file.substr(page_size, page_size)));
}

// ---- the workload -----------------------------------------------------------------

constexpr const char* kProgress = "~progress";  // n = transactions committed

std::string rowId(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "r%05d", i);
  return b;
}

std::string bodyOf(int i, int version = 0) {
  return std::string(120 + static_cast<std::size_t>(i % 50), static_cast<char>('a' + (i + version) % 26)) + "#" +
         std::to_string(i) + "." + std::to_string(version);
}

// Transaction i: inserts row i, every third updates row i-1, every fifth
// deletes row i-2, and the progress row counts the transactions.
void step(Tx& tx, int i) {
  (void)tx.insert(items).values({{items.id, rowId(i)}, {items.n, i}, {items.body, bodyOf(i)}});
  if (i % 3 == 1) {
    (void)tx.update(items).set({{items.n, -i}, {items.body, bodyOf(i, 1)}}).where(eq(items.id, rowId(i - 1)));
  }
  if (i % 5 == 4) (void)tx.deleteFrom(items).where(eq(items.id, rowId(i - 2)));
  if (i == 0) {
    (void)tx.insert(items).values({{items.id, kProgress}, {items.n, 1}});
  } else {
    (void)tx.update(items).set({{items.n, i + 1}}).where(eq(items.id, kProgress));
  }
}

void runStep(Database& db, int i) {
  db.write([&](Tx& tx) { step(tx, i); }, WriteContext{"g", "c", i + 1});
}

int progress(const Database& db) {
  const auto row = db.get(items, kProgress);
  return row ? static_cast<int>(row->get(items.n).value_or(-1)) : 0;
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(2 * s.size());
  for (const unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

// Every row of `tables` (values and stored bytes), the change log entry by
// entry, and its head.
std::string fingerprint(const Database& db, std::initializer_list<std::reference_wrapper<const Table>> tables) {
  const plasma_test::DbState s = plasma_test::captureState(db, tables);
  std::string out = plasma_test::renderState(s);
  for (const auto& [t, rows] : s.bytes) {
    for (const auto& [id, bytes] : rows) out += "\nbytes " + t + "/" + id + " " + hex(bytes);
  }
  for (const Change& c : db.logEntries(0)) {
    out += "\nlog " + std::to_string(c.version) + " " + std::to_string(static_cast<int>(c.op)) + " " + c.table + "/" +
           c.id + " " + c.client_group_id + "/" + c.client_id + "/" + std::to_string(c.mutation_id) + " " +
           (c.row ? hex(c.row->bytes()) : std::string("-"));
  }
  return out;
}

std::string fingerprint(const Database& db) { return fingerprint(db, {items}); }

// "" when the fingerprints are equal, else where they first differ (the
// whole fingerprints are too long to read in a failure).
std::string difference(const std::string& got, const std::string& want) {
  if (got == want) return {};
  std::size_t line = 1, at = 0;
  while (at < got.size() && at < want.size() && got[at] == want[at]) {
    if (got[at] == '\n') ++line;
    ++at;
  }
  auto lineAround = [](const std::string& s, std::size_t i) {
    const std::size_t b = s.rfind('\n', i == 0 ? 0 : i - 1);
    const std::size_t begin = b == std::string::npos ? 0 : b + 1;
    const std::size_t end = s.find('\n', i);
    return s.substr(begin, std::min<std::size_t>(160, (end == std::string::npos ? s.size() : end) - begin));
  };
  return "line " + std::to_string(line) + ": got '" + lineAround(got, at) + "', want '" + lineAround(want, at) +
         "' (got " + std::to_string(std::count(got.begin(), got.end(), '\n') + 1) + " lines, want " +
         std::to_string(std::count(want.begin(), want.end(), '\n') + 1) + ")";
}

// The fingerprint of a database that committed transactions 0..k-1.
std::string expectedAfter(int k) {
  TempDir dir;
  auto db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  db.ensureSchema();
  for (int i = 0; i < k; ++i) runStep(db, i);
  REQUIRE(progress(db) == k);
  return fingerprint(db);
}

// ---- child processes --------------------------------------------------------------

// A forked child running `body`; it reports lines to the parent through a
// pipe. The child ends with _exit: 0 when body returns, 125 (after
// reporting "error: ...") when it throws. Crash scenarios call ::_exit
// themselves with the database still open.
class Child {
 public:
  explicit Child(const std::function<void(Child&)>& body) {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // A crash in the child is reported by its exit status, not by the
      // test framework's handlers inherited from the parent.
      for (const int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
      ::close(p[0]);
      wr_ = p[1];
      int code = 0;
      try {
        body(*this);
      } catch (const std::exception& e) {
        say(std::string("error: ") + e.what());
        code = 125;
      } catch (...) {
        say("error: an exception that is not a std::exception");
        code = 125;
      }
      ::_exit(code);
    }
    ::close(p[1]);
    rd_ = p[0];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
    if (rd_ >= 0) ::close(rd_);
  }

  // Child side: one line (newlines in it are carried through).
  void say(std::string line) {
    std::replace(line.begin(), line.end(), '\n', '\x1f');
    line.push_back('\n');
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(wr_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(124);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }

  // Parent side: the next line, nullopt once the child closed the pipe.
  std::optional<std::string> nextLine() {
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        std::replace(line.begin(), line.end(), '\x1f', '\n');
        return line;
      }
      char b[4096];
      const ssize_t n = ::read(rd_, b, sizeof b);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (buf_.empty()) return std::nullopt;
        std::string line = std::exchange(buf_, {});
        std::replace(line.begin(), line.end(), '\x1f', '\n');
        return line;
      }
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }

  void kill() { ::kill(pid_, SIGKILL); }

  // Parent side: reaps the child; its exit code, or 128 + the signal.
  int wait() {
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
  }

 private:
  pid_t pid_ = -1;
  int rd_ = -1, wr_ = -1;
  bool reaped_ = false;
  std::string buf_;
};

// What a child reported, once it ended.
struct Outcome {
  int status = -1;
  int committed = 0;                // the highest "committed <k>"
  std::optional<std::string> state; // "state <fingerprint>"
  std::vector<std::string> errors;  // "error: ..."
  void take(const std::string& line) {
    if (line.rfind("committed ", 0) == 0) {
      committed = std::max(committed, std::stoi(line.substr(10)));
    } else if (line.rfind("state ", 0) == 0) {
      state = line.substr(6);
    } else if (line.rfind("error: ", 0) == 0) {
      errors.push_back(line);
    }
  }
};

// Reads what is left, then reaps the child.
Outcome finish(Child& c, Outcome o = {}) {
  while (auto line = c.nextLine()) o.take(*line);
  o.status = c.wait();
  return o;
}

// Lets the child run until it reported `k` commits, SIGKILLs it, then
// collects what it reported before it died.
Outcome killAfter(Child& c, int k) {
  Outcome o;
  while (o.committed < k && o.errors.empty()) {
    auto line = c.nextLine();
    if (!line) break;
    o.take(*line);
  }
  c.kill();
  return finish(c, std::move(o));
}

void requireClean(const Outcome& o) {
  for (const auto& e : o.errors) UNSCOPED_INFO("child: " << e);
  REQUIRE(o.errors.empty());
}

// The child of the crash tests: opens `dir`, creates the schema (a logged
// transaction after the checkpoint at open), commits transactions 0..n-1 and
// reports each; with `sync_each`, Database::sync() before each report. Then
// _exit with the database open.
void commitThenCrash(Child& c, const fs::path& dir, OpenOptions o, int n, bool sync_each = false) {
  auto db = Database::open(dir, schema, o);
  db.ensureSchema();
  for (int i = 0; i < n; ++i) {
    runStep(db, i);
    if (sync_each) db.sync();
    c.say("committed " + std::to_string(i + 1));
  }
  ::_exit(0);
}

// Reopens `dir` after a crash: the committed transactions it holds are a
// prefix of the workload no shorter than `at_least`, equal to the reference
// run; then writes go on, and survive a clean close and reopen.
void requireRecovered(const fs::path& dir, OpenOptions o, int at_least, std::optional<int> exactly = std::nullopt) {
  int k = 0;
  {
    auto db = Database::open(dir, schema, o);
    k = progress(db);
    INFO("the child reported " << at_least << " commits, the reopened database holds " << k);
    CHECK(k >= at_least);
    if (exactly) CHECK(k == *exactly);
    CHECK(difference(fingerprint(db), expectedAfter(k)) == "");
    runStep(db, k);
    CHECK(progress(db) == k + 1);
  }
  auto db = Database::open(dir, schema, o);
  CHECK(difference(fingerprint(db), expectedAfter(k + 1)) == "");
}

}  // namespace

// ---- 1. closing and reopening ---------------------------------------------------------

TEST_CASE("wal: inserts, updates and deletes survive a clean close and reopen", "[wal][engine]") {
  TempDir dir;
  std::string before;
  {
    auto db = Database::open(dir.path(), schema, walOptions());
    db.ensureSchema();
    for (int i = 0; i < 12; ++i) runStep(db, i);
    before = fingerprint(db);
  }
  REQUIRE(difference(before, expectedAfter(12)) == "");
  // A clean close checkpoints: the log holds its checkpoint only, and that
  // checkpoint is the data file's newest transaction.
  const wal::Contents log = wal::read(logOf(dir.path()));
  CHECK(log.records.size() == 1);
  CHECK_FALSE(log.torn);
  CHECK(log.page_size == static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE)));
  CHECK(newestMeta(slurp(dataOf(dir.path())), log.page_size) == log.checkpoint_txnid);

  SECTION("reopened in Wal mode") {
    auto db = Database::open(dir.path(), schema, walOptions());
    CHECK(difference(fingerprint(db), before) == "");
    runStep(db, 12);
    CHECK(difference(fingerprint(db), expectedAfter(13)) == "");
  }
  SECTION("reopened in Full mode, which drops the log") {
    auto db = Database::open(dir.path(), schema, fullOptions());
    CHECK(difference(fingerprint(db), before) == "");
    CHECK_FALSE(fs::exists(logOf(dir.path())));
    runStep(db, 12);
    CHECK(difference(fingerprint(db), expectedAfter(13)) == "");
  }
}

// ---- 2. process crashes ------------------------------------------------------------------

namespace {

// Reopens after the crash in Wal mode, and (in another section) in Full
// mode, which replays the log, syncs and drops it.
void reopenAfterCrash(const fs::path& dir, int reported, std::optional<int> exactly) {
  SECTION("reopened in Wal mode") {
    requireRecovered(dir, walOptions(), reported, exactly);
    CHECK(fs::exists(logOf(dir)));
  }
  SECTION("reopened in Full mode") {
    requireRecovered(dir, fullOptions(), reported, exactly);
    CHECK_FALSE(fs::exists(logOf(dir)));
  }
}

}  // namespace

TEST_CASE("wal: every commit a crashed process reported is there after reopening", "[wal][engine]") {
  TempDir dir;
  constexpr int kCommits = 25;
  SECTION("the child exits without closing") {
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(), kCommits); });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.status == 0);
    REQUIRE(out.committed == kCommits);
    // Nothing was checkpointed after the open: the log holds the migration
    // and every commit, so reopening must replay them.
    const wal::Contents log = wal::read(logOf(dir.path()));
    CHECK(log.records.size() == std::size_t{2 + kCommits});
    CHECK_FALSE(log.torn);
    reopenAfterCrash(dir.path(), kCommits, kCommits);
  }
  SECTION("the child is killed while it commits") {
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(), 100000); });
    const Outcome out = killAfter(child, kCommits);
    requireClean(out);
    REQUIRE(out.status == 128 + SIGKILL);
    REQUIRE(out.committed >= kCommits);
    CHECK(wal::read(logOf(dir.path())).records.size() >= std::size_t(2 + out.committed));
    reopenAfterCrash(dir.path(), out.committed, std::nullopt);
  }
}

TEST_CASE("wal: commits racing background checkpoints survive a kill", "[wal][engine]") {
  TempDir dir;
  OpenOptions o = walOptions();
  o.wal_checkpoint_bytes = 8 << 10;  // a checkpoint every few commits
  o.wal_checkpoint_interval_ms = 2;
  Child child([&](Child& c) { commitThenCrash(c, dir.path(), o, 100000); });
  const Outcome out = killAfter(child, 150);
  requireClean(out);
  REQUIRE(out.committed >= 150);
  // The log was started over after the open: checkpoints ran.
  CHECK(wal::read(logOf(dir.path())).records.size() < std::size_t(2 + out.committed));
  requireRecovered(dir.path(), walOptions(), out.committed);
}

TEST_CASE("wal: a change-log compaction is replayed", "[wal][engine]") {
  TempDir dir;
  Child child([&](Child& c) {
    auto db = Database::open(dir.path(), schema, walOptions());
    db.ensureSchema();
    for (int i = 0; i < 30; ++i) runStep(db, i);
    const CompactionResult r = db.compactChangeLog(db.headVersion() - 10);
    c.say(r.removed > 0 ? "compacted" : "error: the compaction removed nothing");
    runStep(db, 30);
    c.say("state " + fingerprint(db));
    ::_exit(0);
  });
  const Outcome out = finish(child);
  requireClean(out);
  REQUIRE(out.state.has_value());
  auto db = Database::open(dir.path(), schema, walOptions());
  CHECK(difference(fingerprint(db), *out.state) == "");
}

// ---- 3. a system crash -------------------------------------------------------------------

// The copy of a live database's files is what a system crash could leave:
// the newest meta pages reached the disk but no page written since the
// checkpoint did. Recovery must go back to the checkpoint (whose pages the
// pinned snapshot kept intact) and replay the log.
TEST_CASE("wal: a system crash that lost every page written after the checkpoint recovers from it",
          "[wal][engine]") {
  TempDir live, crashed;
  const std::size_t ps = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::string at_checkpoint, data_now, log_now, live_state;
  std::uint64_t checkpoint_txnid = 0;
  constexpr int kRows = 1500, kLater = 24;
  {
    auto db = Database::open(live.path(), schema, walOptions());
    db.ensureSchema();
    for (int t = 0; t < 5; ++t) {
      db.write([&](Tx& tx) {
        for (int j = t * kRows / 5; j < (t + 1) * kRows / 5; ++j) {
          (void)tx.insert(items).values({{items.id, rowId(j)}, {items.n, j}, {items.body, bodyOf(j)}});
        }
      });
    }
    db.checkpoint();
    at_checkpoint = slurp(dataOf(live.path()));
    checkpoint_txnid = wal::read(logOf(live.path())).checkpoint_txnid;
    REQUIRE(newestMeta(at_checkpoint, ps) == checkpoint_txnid);
    // Updates all over the table, deletes and inserts: many pages, and
    // (were the snapshot not pinned) reuse of the checkpoint's pages.
    for (int t = 0; t < kLater; ++t) {
      db.write([&](Tx& tx) {
        for (int j = t; j < kRows; j += kLater) {
          (void)tx.update(items).set({{items.n, j + 100000 * (t + 1)}, {items.body, bodyOf(j, t + 1)}}).where(
              eq(items.id, rowId(j)));
        }
        for (int j = 7 * t; j < 7 * t + 5; ++j) (void)tx.deleteFrom(items).where(eq(items.id, rowId((j * 37) % kRows)));
        for (int j = 0; j < 20; ++j) {
          const int id = kRows + 20 * t + j;
          (void)tx.insert(items).values({{items.id, rowId(id)}, {items.n, id}, {items.body, bodyOf(id)}});
        }
      });
    }
    // Every commit's record is synced: the files as they are now.
    data_now = slurp(dataOf(live.path()));
    log_now = slurp(logOf(live.path()));
    live_state = fingerprint(db);
  }
  // The crashed directory: the current meta pages (newer than the
  // checkpoint), every other page that changed since the checkpoint garbage.
  REQUIRE(newestMeta(data_now, ps) > checkpoint_txnid);
  std::string data = data_now;
  std::mt19937_64 rng(20240613);
  std::size_t garbled = 0;
  for (std::size_t p = 2; (p + 1) * ps <= data.size(); ++p) {
    const bool same = (p + 1) * ps <= at_checkpoint.size() &&
                      std::memcmp(data.data() + p * ps, at_checkpoint.data() + p * ps, ps) == 0;
    if (same) continue;
    for (std::size_t b = 0; b < ps; b += 8) {
      const std::uint64_t r = rng();
      std::memcpy(data.data() + p * ps + b, &r, 8);
    }
    ++garbled;
  }
  INFO("pages garbled: " << garbled << " of " << data.size() / ps);
  REQUIRE(garbled > 100);
  spit(dataOf(crashed.path()), data);
  spit(logOf(crashed.path()), log_now);
  {
    const wal::Contents log = wal::read(logOf(crashed.path()));
    REQUIRE(log.checkpoint_txnid == checkpoint_txnid);  // no checkpoint ran after db.checkpoint()
    REQUIRE(log.records.size() == std::size_t{1 + kLater});
  }
  // Recovery runs in a child: reading garbage pages may crash a process.
  Child child([&](Child& c) {
    auto db = Database::open(crashed.path(), schema, walOptions());
    c.say("state " + fingerprint(db));
  });
  const Outcome out = finish(child);
  requireClean(out);
  REQUIRE(out.status == 0);
  REQUIRE(out.state.has_value());
  CHECK(difference(*out.state, live_state) == "");
  // And the recovered directory is an ordinary one now.
  auto db = Database::open(crashed.path(), schema, walOptions());
  CHECK(difference(fingerprint(db), live_state) == "");
  db.write([&](Tx& tx) { (void)tx.deleteFrom(items).where(eq(items.id, rowId(kRows + 1))); });
  CHECK_FALSE(db.get(items, rowId(kRows + 1)).has_value());
}

// A recovery can itself be cut short: it replays the log in LMDB
// transactions, then takes a checkpoint (a new log). When it stops before
// the new log is in place (a crash, or here the new log cannot be created,
// as on a full disk), the data file holds the replayed commits and the old
// log remains; the next open goes back to the old checkpoint again, so the
// replay must have left the checkpoint's pages intact.
TEST_CASE("wal: a recovery that stops before its checkpoint is recovered by the next open", "[wal][engine]") {
  TempDir dir;
  // A long log (the replay takes several LMDB transactions), but short of
  // the data file growth that starts a checkpoint by itself.
  constexpr int kCommits = 600;
  {
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(Durability::WalAsync), kCommits); });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.committed == kCommits);
    REQUIRE(wal::read(logOf(dir.path())).records.size() == std::size_t{2 + kCommits});
  }
  const std::string log_before = slurp(logOf(dir.path()));
  // The new log cannot be created: the recovery replays, then fails.
  const fs::path obstacle = dir.path() / (std::string(wal::kFileName) + ".new");
  fs::create_directory(obstacle);
  expectError([&] { (void)Database::open(dir.path(), schema, walOptions()); }, ErrorCode::Storage,
              {wal::kFileName});
  CHECK(slurp(logOf(dir.path())) == log_before);
  CHECK(newestMeta(slurp(dataOf(dir.path())), static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) >
        wal::read(logOf(dir.path())).checkpoint_txnid);  // the replay committed
  fs::remove(obstacle);
  // Recovery again, in a child (a damaged data file may crash a process).
  Child child([&](Child& c) {
    auto db = Database::open(dir.path(), schema, walOptions());
    c.say("committed " + std::to_string(progress(db)));
    c.say("state " + fingerprint(db));
  });
  const Outcome out = finish(child);
  requireClean(out);
  REQUIRE(out.status == 0);
  CHECK(out.committed == kCommits);
  REQUIRE(out.state.has_value());
  CHECK(difference(*out.state, expectedAfter(kCommits)) == "");
}

// ---- 4. a torn log tail ------------------------------------------------------------------

TEST_CASE("wal: a torn tail of the log after a crash is ignored", "[wal][engine]") {
  TempDir dir;
  constexpr int kCommits = 12;
  {
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(), kCommits); });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.committed == kCommits);
  }
  const fs::path log_path = logOf(dir.path());
  int expect = kCommits;
  SECTION("garbage appended") {
    std::string bytes = slurp(log_path);
    bytes += std::string("\x13\x00\x00\x00garbage after the last record\xff\xfe", 36);
    spit(log_path, bytes);
    const wal::Contents log = wal::read(log_path);
    CHECK(log.torn);
    CHECK(log.records.size() == std::size_t{2 + kCommits});
  }
  SECTION("the last record cut in half") {
    const wal::Contents log = wal::read(log_path);
    REQUIRE(log.records.size() == std::size_t{2 + kCommits});
    const wal::Record& last = log.records.back();
    const std::size_t begin = static_cast<std::size_t>(last.payload.data() - log.bytes.data()) - 16;
    REQUIRE(log.bytes.size() == begin + 16 + last.payload.size() + 8);
    fs::resize_file(log_path, begin + (log.bytes.size() - begin) / 2);
    const wal::Contents cut = wal::read(log_path);
    CHECK(cut.torn);
    CHECK(cut.records.size() == std::size_t{1 + kCommits});
    expect = kCommits - 1;  // the data file had it, but no log record does
  }
  SECTION("the last record's checksum cut off") {
    fs::resize_file(log_path, fs::file_size(log_path) - 3);
    CHECK(wal::read(log_path).records.size() == std::size_t{1 + kCommits});
    expect = kCommits - 1;
  }
  requireRecovered(dir.path(), walOptions(), expect, expect);
  // The log was started over: nothing torn remains.
  const wal::Contents log = wal::read(log_path);
  CHECK_FALSE(log.torn);
  CHECK(log.records.size() == 1);
}

// ---- 5. savepoints -------------------------------------------------------------------------

TEST_CASE("wal: the writes of a rolled-back savepoint are not replayed", "[wal][engine]") {
  TempDir dir;
  Child child([&](Child& c) {
    auto db = Database::open(dir.path(), schema, walOptions());
    db.ensureSchema();
    db.write([&](Tx& tx) {
      (void)tx.insert(items).values({{items.id, "keep"}, {items.n, 1}});
      (void)tx.insert(items).values({{items.id, "victim"}, {items.n, 2}});
    });
    db.write([&](Tx& tx) {
      try {
        tx.savepoint([&](Tx& s) {
          (void)s.insert(items).values({{items.id, "rolled-back"}, {items.n, 3}});
          (void)s.update(items).set({{items.n, 99}}).where(eq(items.id, "victim"));
          (void)s.deleteFrom(items).where(eq(items.id, "keep"));
          throw plasma_test::Rollback{};
        });
      } catch (const plasma_test::Rollback&) {
      }
      (void)tx.insert(items).values({{items.id, "second"}, {items.n, 4}});
      tx.savepoint([&](Tx& s) {
        (void)s.insert(items).values({{items.id, "released"}, {items.n, 5}});
        try {
          s.savepoint([&](Tx& inner) {
            (void)inner.insert(items).values({{items.id, "inner-rolled-back"}, {items.n, 6}});
            (void)inner.deleteFrom(items).where(eq(items.id, "victim"));
            throw plasma_test::Rollback{};
          });
        } catch (const plasma_test::Rollback&) {
        }
      });
    });
    c.say("state " + fingerprint(db));
    ::_exit(0);
  });
  const Outcome out = finish(child);
  requireClean(out);
  REQUIRE(out.state.has_value());
  REQUIRE(wal::read(logOf(dir.path())).records.size() == 4);  // checkpoint, schema, two transactions

  auto db = Database::open(dir.path(), schema, walOptions());
  CHECK(plasma_test::idsOf(db, items) == std::vector<std::string>{"keep", "released", "second", "victim"});
  CHECK(db.get(items, "victim")->get(items.n) == std::optional<std::int64_t>(2));
  CHECK(difference(fingerprint(db), *out.state) == "");
}

// ---- 6. exclusive access ------------------------------------------------------------------

TEST_CASE("wal: a directory open in a log mode cannot be opened again", "[wal][engine]") {
  TempDir dir;
  auto db = Database::open(dir.path(), schema, walOptions());
  db.ensureSchema();
  runStep(db, 0);
  const std::string before = fingerprint(db);
  const std::string data_before = slurp(dataOf(dir.path()));
  const std::string log_before = slurp(logOf(dir.path()));
  SECTION("in Wal mode") {
    expectError([&] { (void)Database::open(dir.path(), schema, walOptions()); }, ErrorCode::Storage,
                {"another process", dir.path().string()});
  }
  SECTION("in WalAsync mode") {
    expectError([&] { (void)Database::open(dir.path(), schema, walOptions(Durability::WalAsync)); },
                ErrorCode::Storage, {"another process"});
  }
  SECTION("in Full mode") {
    expectError([&] { (void)Database::open(dir.path(), schema, fullOptions()); }, ErrorCode::Storage,
                {"another process"});
  }
  // The refused open touched nothing, and the open database goes on.
  CHECK(slurp(dataOf(dir.path())) == data_before);
  CHECK(slurp(logOf(dir.path())) == log_before);
  CHECK(difference(fingerprint(db), before) == "");
  runStep(db, 1);
  CHECK(progress(db) == 2);
}

TEST_CASE("wal: a directory open in Full mode cannot be opened in a log mode", "[wal][engine]") {
  TempDir dir;
  {
    auto db = Database::open(dir.path(), schema, fullOptions());
    db.ensureSchema();
    runStep(db, 0);
    expectError([&] { (void)Database::open(dir.path(), schema, walOptions()); }, ErrorCode::Storage,
                {"another process"});
    CHECK_FALSE(fs::exists(logOf(dir.path())));
    runStep(db, 1);
  }
  // Once it is closed, a log mode may open it.
  auto db = Database::open(dir.path(), schema, walOptions());
  CHECK(fs::exists(logOf(dir.path())));
  CHECK(difference(fingerprint(db), expectedAfter(2)) == "");
}

TEST_CASE("wal: another process holding the directory keeps an open out until it dies", "[wal][engine]") {
  TempDir dir;
  Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(), 100000); });
  Outcome out;
  while (out.committed < 3 && out.errors.empty()) {
    auto line = child.nextLine();
    REQUIRE(line.has_value());
    out.take(*line);
  }
  requireClean(out);
  // The child is alive and committing.
  expectError([&] { (void)Database::open(dir.path(), schema, walOptions()); }, ErrorCode::Storage,
              {"another process"});
  expectError([&] { (void)Database::open(dir.path(), schema, fullOptions()); }, ErrorCode::Storage,
              {"another process"});
  child.kill();
  out = finish(child, out);
  requireClean(out);
  requireRecovered(dir.path(), walOptions(), out.committed);
}

// ---- 7. a log that cannot be read -----------------------------------------------------------

TEST_CASE("wal: a log that is not a plasma log stops the open and leaves the data file alone", "[wal][engine]") {
  TempDir dir;
  {
    auto db = Database::open(dir.path(), schema, walOptions());
    db.ensureSchema();
    for (int i = 0; i < 5; ++i) runStep(db, i);
  }
  const fs::path log_path = logOf(dir.path());
  std::string log = slurp(log_path);
  SECTION("a garbage header") {
    std::memcpy(log.data(), "this is no log!!", 16);
  }
  SECTION("a header and nothing else") {
    log.resize(24);
  }
  SECTION("a damaged checkpoint record") {
    log[100] = static_cast<char>(log[100] ^ 0x5a);  // inside its meta pages: the checksum fails
  }
  spit(log_path, log);
  const std::string data_before = slurp(dataOf(dir.path()));
  for (const Durability d : {Durability::Wal, Durability::WalAsync, Durability::Full}) {
    INFO("durability " << static_cast<int>(d));
    expectError([&] { (void)Database::open(dir.path(), schema, d == Durability::Full ? fullOptions() : walOptions(d)); },
                ErrorCode::Storage, {"plasma.wal"});
    CHECK(slurp(dataOf(dir.path())) == data_before);
    CHECK(slurp(log_path) == log);
  }
}

TEST_CASE("wal: a data file older than its log's checkpoint is refused", "[wal][engine]") {
  TempDir dir;
  {
    auto db = Database::open(dir.path(), schema, walOptions());
    db.ensureSchema();
    runStep(db, 0);
  }
  const std::string old_data = slurp(dataOf(dir.path()));
  {
    auto db = Database::open(dir.path(), schema, walOptions());
    for (int i = 1; i < 4; ++i) runStep(db, i);
  }
  spit(dataOf(dir.path()), old_data);
  expectError([&] { (void)Database::open(dir.path(), schema, walOptions()); }, ErrorCode::Storage,
              {"data.mdb", "older"});
  CHECK(slurp(dataOf(dir.path())) == old_data);
}

TEST_CASE("wal: a checkpoint size of zero is refused at open and creates nothing", "[wal][engine]") {
  TempDir dir;
  OpenOptions o = walOptions();
  o.wal_checkpoint_bytes = 0;
  expectError([&] { (void)Database::open(dir.path() / "db", schema, o); }, ErrorCode::InvalidArgument,
              {"wal_checkpoint_bytes"});
  CHECK_FALSE(std::filesystem::exists(dir.path() / "db"));
}

// ---- 8. WalAsync ----------------------------------------------------------------------------

TEST_CASE("wal: WalAsync keeps commits across a close and a crash", "[wal][engine]") {
  TempDir dir;
  SECTION("a clean close and reopen") {
    {
      auto db = Database::open(dir.path(), schema, walOptions(Durability::WalAsync));
      db.ensureSchema();
      for (int i = 0; i < 10; ++i) runStep(db, i);
    }
    CHECK(wal::read(logOf(dir.path())).records.size() == 1);
    auto db = Database::open(dir.path(), schema, walOptions(Durability::WalAsync));
    CHECK(difference(fingerprint(db), expectedAfter(10)) == "");
  }
  SECTION("a crash after Database::sync") {
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(Durability::WalAsync), 15, true); });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.committed == 15);
    CHECK(wal::read(logOf(dir.path())).records.size() == 2 + 15);
    requireRecovered(dir.path(), walOptions(Durability::WalAsync), 15, 15);
  }
  SECTION("a crash while the background sync runs") {
    OpenOptions o = walOptions(Durability::WalAsync);
    o.wal_sync_interval_ms = 1;
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), o, 100000); });
    const Outcome out = killAfter(child, 40);
    requireClean(out);
    requireRecovered(dir.path(), o, out.committed);
  }
}

// ---- 9. migrations --------------------------------------------------------------------------

TEST_CASE("wal: a migration is replayed like any transaction", "[wal][engine]") {
  TempDir dir;
  SECTION("the first ensureSchema, then rows") {
    Child child([&](Child& c) { commitThenCrash(c, dir.path(), walOptions(), 6); });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.committed == 6);
    requireRecovered(dir.path(), walOptions(), 6, 6);
  }
  SECTION("the first ensureSchema and no rows") {
    Child child([&](Child& c) {
      auto db = Database::open(dir.path(), schema, walOptions());
      db.ensureSchema();
      c.say("committed 0");
      ::_exit(0);
    });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(wal::read(logOf(dir.path())).records.size() == 2);
    requireRecovered(dir.path(), walOptions(), 0, 0);
  }
  SECTION("a second table and its index left empty") {
    Child child([&](Child& c) {
      auto db = Database::open(dir.path(), v2::schema, walOptions());
      db.ensureSchema();
      db.write([&](Tx& tx) {
        (void)tx.insert(v2::items).values({{v2::items.id, "a"}, {v2::items.n, 1}, {v2::items.tag, "x"}});
      });
      c.say("state " + fingerprint(db, {v2::items, v2::tags}));
      ::_exit(0);
    });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.state.has_value());
    auto db = Database::open(dir.path(), v2::schema, walOptions());
    CHECK(difference(fingerprint(db, {v2::items, v2::tags}), *out.state) == "");
    db.write([&](Tx& tx) { (void)tx.insert(v2::tags).values({{v2::tags.id, "t"}, {v2::tags.label, "red"}}); });
    CHECK(db.read([&](const ReadTx& tx) {
      return plasma_test::idsOf(tx.select(v2::tags).where(eq(v2::tags.label, "red")).rows());
    }) == std::vector<std::string>{"t"});
  }
  SECTION("a later migration adds a column, an index over existing rows and a table") {
    Child child([&](Child& c) {
      {
        auto db = Database::open(dir.path(), schema, walOptions());
        db.ensureSchema();
        for (int i = 0; i < 5; ++i) runStep(db, i);
      }  // a clean close: the v1 state is the checkpoint
      auto db = Database::open(dir.path(), v2::schema, walOptions());
      (void)db.runMigrations();
      db.write([&](Tx& tx) {
        (void)tx.update(v2::items).set({{v2::items.tag, "hot"}}).where(eq(v2::items.id, rowId(3)));
        (void)tx.insert(v2::items).values({{v2::items.id, "b"}, {v2::items.n, 7}, {v2::items.tag, "hot"}});
        (void)tx.insert(v2::tags).values({{v2::tags.id, "t1"}, {v2::tags.label, "hot"}});
      });
      c.say("state " + fingerprint(db, {v2::items, v2::tags}));
      ::_exit(0);
    });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.state.has_value());
    REQUIRE(wal::read(logOf(dir.path())).records.size() == 3);  // checkpoint, migration, one write
    auto db = Database::open(dir.path(), v2::schema, walOptions());
    CHECK(db.planMigrations().empty());
    CHECK(difference(fingerprint(db, {v2::items, v2::tags}), *out.state) == "");
    // The index built by the migration answers queries.
    CHECK(db.read([&](const ReadTx& tx) {
      return plasma_test::idsOf(tx.select(v2::items).where(eq(v2::items.tag, "hot")).orderBy({asc(v2::items.id)}).rows());
    }) == std::vector<std::string>{"b", rowId(3)});
    db.write([&](Tx& tx) { (void)tx.insert(v2::tags).values({{v2::tags.id, "t2"}, {v2::tags.label, "cold"}}); });
    CHECK(plasma_test::idsOf(db, v2::tags) == std::vector<std::string>{"t1", "t2"});
  }
  SECTION("a later migration drops an index") {
    Child child([&](Child& c) {
      {
        auto db = Database::open(dir.path(), v2::schema, walOptions());
        db.ensureSchema();
        db.write([&](Tx& tx) {
          (void)tx.insert(v2::items).values({{v2::items.id, "a"}, {v2::items.n, 1}, {v2::items.tag, "x"}});
          (void)tx.insert(v2::tags).values({{v2::tags.id, "t1"}, {v2::tags.label, "x"}});
        });
      }
      auto db = Database::open(dir.path(), v3::schema, walOptions());
      c.say("dropped " + db.runMigrations().toString());
      db.write([&](Tx& tx) {
        (void)tx.insert(v3::items).values({{v3::items.id, "b"}, {v3::items.n, 2}, {v3::items.tag, "y"}});
      });
      c.say("state " + fingerprint(db, {v3::items, v2::tags}));
      ::_exit(0);
    });
    const Outcome out = finish(child);
    requireClean(out);
    REQUIRE(out.state.has_value());
    auto db = Database::open(dir.path(), v3::schema, walOptions());
    CHECK(db.planMigrations().empty());
    CHECK(difference(fingerprint(db, {v3::items, v2::tags}), *out.state) == "");
  }
}

// A transaction record is checksummed, so these payloads take a damaged or
// forged log; replay refuses them before LMDB sees them.
TEST_CASE("wal: replay refuses a record naming LMDB's main database or flags plasma never logs", "[wal][engine]") {
  TempDir dir;
  lmdb::EnvOptions o;
  o.flags = MDB_NOSYNC;
  lmdb::Env env = lmdb::Env::open(dir.path() / "env", o);
  // u16 count | u32 flags | u16 name size | name, then one put of k -> v.
  auto payload = [](unsigned flags, std::string_view name) {
    std::string p;
    auto put = [&](auto v) { p.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(std::uint16_t{1});
    put(std::uint32_t{flags});
    put(static_cast<std::uint16_t>(name.size()));
    p += name;
    p += std::string("\x01\x00\x00\x01k\x01v", 7);  // put, database 0, key "k", value "v"
    return p;
  };
  auto replay = [&](const std::string& p) {
    lmdb::Txn txn = lmdb::Txn::beginWrite(env);
    wal::replay(txn.get(), p, [&](const std::string& name, unsigned flags) { return *txn.openDbi(name, flags, true); });
    txn.commit();
  };
  auto refused = [&](const std::string& p, const std::string& why) {
    try {
      replay(p);
      FAIL("replayed: " + why);
    } catch (const StorageError& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(why));
    }
  };
  refused(payload(MDB_DUPSORT, ""), "empty name");
  refused(payload(0, std::string("t/a\0b", 5)), "NUL byte");
  refused(payload(MDB_INTEGERKEY, "t/ints"), "flags 8");
  refused(payload(MDB_DUPSORT | MDB_DUPFIXED, "i/t/x"), "flags");
  // The main database kept its flags: its records (the named databases) still read.
  lmdb::Txn txn = lmdb::Txn::beginWrite(env);
  MDB_dbi main = 0;
  REQUIRE(mdb_dbi_open(txn.get(), nullptr, 0, &main) == MDB_SUCCESS);
  unsigned main_flags = 99;
  REQUIRE(mdb_dbi_flags(txn.get(), main, &main_flags) == MDB_SUCCESS);
  CHECK(main_flags == 0);
  txn.abort();
  // What plasma does log replays.
  replay(payload(0, "t/todos"));
  replay(payload(MDB_DUPSORT, "i/todos/by_done"));
}
