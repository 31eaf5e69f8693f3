// engine/lmdb.hpp: the RAII wrappers follow LMDB's lifetimes. A write
// transaction destroyed without commit aborts; commit consumes it; read
// transactions can be reset and renewed; cursors iterate in key order; LMDB
// error codes become StorageError keeping the native code.
#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/lmdb.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

lmdb::Env openEnv(const TempDir& dir, std::size_t map_size = std::size_t{64} << 20) {
  lmdb::EnvOptions o;
  o.map_size_bytes = map_size;
  o.max_dbs = 8;
  o.flags = MDB_NOSYNC;
  return lmdb::Env::open(dir / "env", o);
}

MDB_dbi createDbi(const lmdb::Env& env, const std::string& name, unsigned flags = 0) {
  auto txn = lmdb::Txn::beginWrite(env);
  auto dbi = txn.openDbi(name, flags, /*create=*/true);
  REQUIRE(dbi.has_value());
  txn.commit();
  return *dbi;
}

std::optional<std::string> readKey(const lmdb::Env& env, MDB_dbi dbi, std::string_view key) {
  auto txn = lmdb::Txn::beginRead(env);
  auto v = txn.get(dbi, key);
  if (!v) return std::nullopt;
  return std::string(lmdb::toView(*v));
}

}  // namespace

TEST_CASE("a write transaction destroyed without commit aborts", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "kv");
  {
    auto txn = lmdb::Txn::beginWrite(env);
    REQUIRE(txn);
    CHECK_FALSE(txn.readOnly());
    CHECK(txn.put(dbi, "k", "v"));
    // Visible inside the transaction itself.
    auto inside = txn.get(dbi, "k");
    REQUIRE(inside.has_value());
    CHECK(lmdb::toView(*inside) == "v");
  }  // destroyed without commit
  CHECK_FALSE(readKey(env, dbi, "k").has_value());
  // The writer lock was released: a new write transaction can begin at once.
  auto again = lmdb::Txn::beginWrite(env);
  CHECK(again);
  CHECK(again.entries(dbi) == 0);
}

TEST_CASE("commit persists and leaves the transaction empty", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "kv");
  auto txn = lmdb::Txn::beginWrite(env);
  CHECK(txn.put(dbi, "k", "v1"));
  txn.commit();
  CHECK_FALSE(txn);
  CHECK(txn.get() == nullptr);
  txn.abort();  // a no-op on an empty transaction
  CHECK(readKey(env, dbi, "k") == std::optional<std::string>("v1"));

  // Persists across closing and reopening the environment.
  env.close();
  CHECK_FALSE(env);
  auto env2 = openEnv(dir);
  auto rtxn = lmdb::Txn::beginRead(env2);
  auto dbi2 = rtxn.openDbi("kv", 0, false);
  REQUIRE(dbi2.has_value());
  auto v = rtxn.get(*dbi2, "k");
  REQUIRE(v.has_value());
  CHECK(lmdb::toView(*v) == "v1");
}

TEST_CASE("explicit abort discards writes and moving a transaction transfers ownership", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "kv");
  auto a = lmdb::Txn::beginWrite(env);
  CHECK(a.put(dbi, "x", "1"));
  lmdb::Txn b = std::move(a);
  CHECK_FALSE(a);
  REQUIRE(b);
  b.abort();
  CHECK_FALSE(b);
  CHECK_FALSE(readKey(env, dbi, "x").has_value());

  auto c = lmdb::Txn::beginWrite(env);
  CHECK(c.put(dbi, "y", "2"));
  lmdb::Txn d;
  d = std::move(c);
  d.commit();
  CHECK(readKey(env, dbi, "y") == std::optional<std::string>("2"));
}

TEST_CASE("put, get, del and entries report absence as values", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "kv");
  auto txn = lmdb::Txn::beginWrite(env);
  CHECK_FALSE(txn.get(dbi, "missing").has_value());
  CHECK(txn.put(dbi, "a", "1"));
  CHECK_FALSE(txn.put(dbi, "a", "2", MDB_NOOVERWRITE));
  CHECK(lmdb::toView(*txn.get(dbi, "a")) == "1");
  CHECK(txn.put(dbi, "a", "3"));
  CHECK(lmdb::toView(*txn.get(dbi, "a")) == "3");
  CHECK(txn.put(dbi, "b", std::string_view("\0\1\2", 3)));
  CHECK(txn.get(dbi, "b")->mv_size == 3);
  CHECK(txn.entries(dbi) == 2);
  CHECK(txn.del(dbi, "a"));
  CHECK_FALSE(txn.del(dbi, "a"));
  CHECK(txn.entries(dbi) == 1);
  txn.clear(dbi);
  CHECK(txn.entries(dbi) == 0);
  // A sub-database that does not exist is a value, not an error.
  CHECK_FALSE(txn.openDbi("nope", 0, false).has_value());
  txn.commit();
}

TEST_CASE("a cursor iterates in byte order forwards and backwards", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "kv");
  std::mt19937_64 rng(7);
  std::set<std::string> keys;
  while (keys.size() < 500) {
    std::string k(1 + rng() % 12, '\0');
    for (auto& ch : k) ch = static_cast<char>(rng() % 256);
    keys.insert(k);
  }
  std::vector<std::string> shuffled(keys.begin(), keys.end());
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  {
    auto txn = lmdb::Txn::beginWrite(env);
    for (const auto& k : shuffled) CHECK(txn.put(dbi, k, "v:" + k));
    txn.commit();
  }
  // std::set<std::string> orders by char_traits<char>::compare, i.e. unsigned bytes like memcmp.
  const std::vector<std::string> sorted(keys.begin(), keys.end());
  auto txn = lmdb::Txn::beginRead(env);
  CHECK(txn.readOnly());
  lmdb::Cursor cur(txn, dbi);
  std::vector<std::string> seen;
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    seen.emplace_back(cur.key());
    CHECK(cur.value() == "v:" + std::string(cur.key()));
  }
  CHECK(seen == sorted);

  std::vector<std::string> back;
  for (bool ok = cur.last(); ok; ok = cur.prev()) back.emplace_back(cur.key());
  std::reverse(back.begin(), back.end());
  CHECK(back == sorted);

  // seekRange lands on the first key >= the probe; seek needs an exact key.
  const std::string probe = sorted[250] + std::string(1, '\0');
  REQUIRE(cur.seekRange(probe));
  CHECK(cur.key() == sorted[251]);
  CHECK(cur.seek(sorted[10]));
  CHECK(cur.key() == sorted[10]);
  CHECK_FALSE(cur.seek(probe));
  CHECK_FALSE(cur.seekRange(std::string(20, '\xff')));
}

TEST_CASE("dupsort cursors visit duplicates and delete single pairs", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "idx", MDB_DUPSORT);
  auto txn = lmdb::Txn::beginWrite(env);
  for (const char* v : {"r3", "r1", "r2"}) CHECK(txn.put(dbi, "k1", v));
  CHECK(txn.put(dbi, "k2", "r9"));
  CHECK_FALSE(txn.put(dbi, "k1", "r1", MDB_NODUPDATA));
  {
    lmdb::Cursor cur(txn, dbi);
    REQUIRE(cur.seek("k1"));
    CHECK(cur.dupCount() == 3);
    std::vector<std::string> dups{std::string(cur.value())};
    while (cur.nextDup()) dups.emplace_back(cur.value());
    CHECK(dups == std::vector<std::string>{"r1", "r2", "r3"});
    REQUIRE(cur.seekPair("k1", "r2"));
    cur.del();
    REQUIRE(cur.seek("k1"));
    CHECK(cur.dupCount() == 2);
    REQUIRE(cur.nextNoDup());
    CHECK(cur.key() == "k2");
  }
  const std::string_view r3 = "r3";
  CHECK(txn.del(dbi, "k1", &r3));
  CHECK(txn.entries(dbi) == 2);  // k1/r1 and k2/r9
  txn.commit();
}

TEST_CASE("a reset and renewed read transaction sees data committed in between", "[engine][lmdb]") {
  TempDir dir;
  auto env = openEnv(dir);
  MDB_dbi dbi = createDbi(env, "kv");
  auto reader = lmdb::Txn::beginRead(env);
  CHECK_FALSE(reader.get(dbi, "k").has_value());
  {
    auto w = lmdb::Txn::beginWrite(env);
    CHECK(w.put(dbi, "k", "new"));
    w.commit();
  }
  // MVCC: the open snapshot still does not see it.
  CHECK_FALSE(reader.get(dbi, "k").has_value());
  reader.reset();
  reader.renew();
  REQUIRE(reader);
  auto v = reader.get(dbi, "k");
  REQUIRE(v.has_value());
  CHECK(lmdb::toView(*v) == "new");
}

TEST_CASE("LMDB errors become StorageError with the native code - a full map says so", "[engine][lmdb]") {
  auto e = plasma_test::expectError([] { lmdb::check(MDB_NOTFOUND, "looking up x"); }, ErrorCode::Storage,
                                    {"looking up x"});
  (void)e;
  try {
    lmdb::throwError(MDB_MAP_FULL, "writing");
    FAIL("throwError returned");
  } catch (const StorageError& se) {
    CHECK(se.nativeCode() == MDB_MAP_FULL);
    CHECK(se.isMapFull());
    CHECK(se.code() == ErrorCode::Storage);
  }

  TempDir dir;
  auto env = openEnv(dir, std::size_t{1} << 20);  // 1 MiB map
  MDB_dbi dbi = createDbi(env, "kv");
  bool map_full = false;
  {
    auto txn = lmdb::Txn::beginWrite(env);
    const std::string value(4000, 'x');
    try {
      for (int i = 0; i < 2000; ++i) txn.put(dbi, "key" + std::to_string(i), value);
    } catch (const StorageError& se) {
      map_full = se.isMapFull();
    }
  }  // aborted
  CHECK(map_full);
  // The environment is still usable after the failed transaction.
  auto txn = lmdb::Txn::beginWrite(env);
  CHECK(txn.put(dbi, "small", "ok"));
  txn.commit();
  CHECK(readKey(env, dbi, "small") == std::optional<std::string>("ok"));
}
