// engine/tree_reader.hpp: the batched B-tree reader gives exactly LMDB's
// answers, and never reads outside the map however damaged a page is.
// - lookupMany against mdb_get on trees of depth 1 to 3, with keys that
//   are prefixes of each other, absent keys, overflow values and batches
//   that cross the 64-key chunk;
// - findTree declines databases whose order or layout it does not handle;
// - a copy of a real database with random bytes flipped: every answer is
//   Unknown, Absent or a value inside the copy (run under ASan in CI);
// - queries whose index walks fetch rows in batches (read transactions)
//   return what the same queries return one lookup at a time (in a write
//   transaction), across limits around the batch size, offsets, reverse
//   walks, id lists with absent ids, overflow rows and index joins.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/lmdb.hpp"
#include "engine/store.hpp"
#include "engine/tree_reader.hpp"
#include "query/query_test_util.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;

namespace {

lmdb::Env openEnv(const TempDir& dir) {
  lmdb::EnvOptions o;
  o.map_size_bytes = std::size_t{256} << 20;
  o.max_dbs = 8;
  o.flags = MDB_NOSYNC;
  return lmdb::Env::open(dir / "env", o);
}

MDB_dbi mainDbi(const lmdb::Txn& txn) {
  MDB_dbi dbi = 0;
  lmdb::check(mdb_dbi_open(txn.get(), nullptr, 0, &dbi), "opening the unnamed database");
  return dbi;
}

std::string randomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() % 7 == 0 ? 0 : 'a' + rng() % 3);  // few letters: shared prefixes
  return s;
}

// Fills database `name` with `count` random keys (1..60 bytes, many of them
// prefixes of others) and values (a few past the overflow threshold).
std::map<std::string, std::string> fill(const lmdb::Env& env, const std::string& name, std::size_t count,
                                        std::mt19937_64& rng) {
  std::map<std::string, std::string> kv;
  auto txn = lmdb::Txn::beginWrite(env);
  const MDB_dbi dbi = *txn.openDbi(name, 0, true);
  while (kv.size() < count) {
    std::string key = randomBytes(rng, 1 + rng() % 60);
    if (!kv.empty() && rng() % 4 == 0) {  // a prefix or an extension of an existing key
      auto it = kv.lower_bound(key);
      if (it == kv.end()) --it;
      key = rng() % 2 ? it->first.substr(0, 1 + rng() % it->first.size()) : it->first + randomBytes(rng, 1 + rng() % 4);
    }
    const std::size_t vsize = rng() % 50 == 0 ? 3000 + rng() % 9000 : rng() % 200;
    std::string value = randomBytes(rng, vsize);
    txn.put(dbi, key, value);
    kv[key] = std::move(value);
  }
  txn.commit();
  return kv;
}

// Keys to look up: every stored key, and as many absent ones near them.
std::vector<std::string> probeKeys(const std::map<std::string, std::string>& kv, std::mt19937_64& rng) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : kv) {
    keys.push_back(k);
    std::string near = rng() % 2 ? k + std::string(1, '\0') : k.substr(0, k.size() - 1);
    if (rng() % 3 == 0) near = randomBytes(rng, 1 + rng() % 60);
    keys.push_back(near);
  }
  keys.push_back(std::string(1, '\xff'));
  keys.push_back(std::string(1, '\0'));
  std::shuffle(keys.begin(), keys.end(), rng);
  return keys;
}

}  // namespace

TEST_CASE("tree reader: lookupMany gives mdb_get's answers on trees of every depth", "[engine][lmdb][treereader]") {
  TempDir dir;
  auto env = openEnv(dir);
  const detail::TreeGeometry g = detail::TreeGeometry::of(env.get());
  REQUIRE(g.usable());  // LMDB 0.9 on a 4 KiB-page machine, as CI runs
  std::mt19937_64 rng(20261122);
  std::set<unsigned> depths;
  for (const std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{40}, std::size_t{3000}, std::size_t{40000}}) {
    const std::string name = "kv" + std::to_string(count);
    const auto kv = fill(env, name, count, rng);
    const std::vector<std::string> keys = probeKeys(kv, rng);
    auto txn = lmdb::Txn::beginRead(env);
    const MDB_dbi dbi = *txn.openDbi(name, 0, false);
    const auto tree = detail::findTree(txn.get(), mainDbi(txn), name, g);
    REQUIRE(tree.has_value());
    MDB_stat st;
    REQUIRE(mdb_stat(txn.get(), dbi, &st) == 0);
    CHECK(tree->depth == st.ms_depth);
    depths.insert(tree->depth);

    std::size_t at = 0, batch = 1, present = 0;
    std::vector<std::string_view> views;
    std::vector<detail::TreeHit> hits;
    while (at < keys.size()) {
      const std::size_t n = std::min(batch, keys.size() - at);
      views.assign(keys.begin() + static_cast<std::ptrdiff_t>(at), keys.begin() + static_cast<std::ptrdiff_t>(at + n));
      hits.assign(n, detail::TreeHit{});
      detail::lookupMany(*tree, views, hits);
      for (std::size_t i = 0; i < n; ++i) {
        INFO("database " << name << ", key #" << at + i << " of a batch of " << n);
        MDB_val k = lmdb::toVal(views[i]), v;
        const int rc = mdb_get(txn.get(), dbi, &k, &v);
        REQUIRE(hits[i].state != detail::TreeHit::Unknown);
        REQUIRE((hits[i].state == detail::TreeHit::Present) == (rc == MDB_SUCCESS));
        if (rc != MDB_SUCCESS) continue;
        ++present;
        CHECK(hits[i].value.data() == v.mv_data);  // the very bytes in the map
        CHECK(hits[i].value == kv.at(keys[at + i]));
        CHECK(hits[i].key == views[i]);
      }
      at += n;
      batch = batch % 150 + 13;  // 1, 14, ..., past 64 and 128
    }
    // The in-place walk visits exactly what an LMDB cursor visits.
    {
      detail::TreeCursor walk(*tree);
      lmdb::Cursor cur(txn, dbi);
      std::size_t visited = 0;
      std::string_view k, v;
      for (bool ok = cur.first(); ok; ok = cur.next()) {
        REQUIRE(walk.next(&k, &v) == detail::TreeCursor::Entry);
        CHECK(k == cur.key());
        CHECK(v.data() == cur.value().data());
        CHECK(v.size() == cur.value().size());
        ++visited;
      }
      CHECK(walk.next(&k, &v) == detail::TreeCursor::End);
      CHECK(walk.next(&k, &v) == detail::TreeCursor::End);  // and stays there
      CHECK(visited == kv.size());
    }
    // Every stored key was asked for; some absent-looking probes are stored keys too.
    const auto stored = std::count_if(keys.begin(), keys.end(), [&](const auto& k) { return kv.count(k) != 0; });
    CHECK(present == static_cast<std::size_t>(stored));
    CHECK(present >= kv.size());
  }
  CHECK(depths.count(0) == 1);
  CHECK(*depths.rbegin() >= 3);
}

TEST_CASE("tree reader: findTree declines dupsort, integer-key and missing databases", "[engine][lmdb][treereader]") {
  TempDir dir;
  auto env = openEnv(dir);
  const detail::TreeGeometry g = detail::TreeGeometry::of(env.get());
  REQUIRE(g.usable());
  {
    auto txn = lmdb::Txn::beginWrite(env);
    const MDB_dbi dup = *txn.openDbi("dup", MDB_DUPSORT, true);
    const MDB_dbi num = *txn.openDbi("num", MDB_INTEGERKEY, true);
    const MDB_dbi rev = *txn.openDbi("rev", MDB_REVERSEKEY, true);
    const MDB_dbi plain = *txn.openDbi("plain", 0, true);
    txn.put(dup, "k", "a");
    txn.put(dup, "k", "b");
    const std::uint64_t one = 1;
    txn.put(num, std::string_view(reinterpret_cast<const char*>(&one), sizeof one), "v");
    txn.put(rev, "k", "v");
    txn.put(plain, "k", "v");
    txn.commit();
  }
  auto txn = lmdb::Txn::beginRead(env);
  const MDB_dbi main = mainDbi(txn);
  CHECK_FALSE(detail::findTree(txn.get(), main, "dup", g).has_value());
  CHECK_FALSE(detail::findTree(txn.get(), main, "num", g).has_value());
  CHECK_FALSE(detail::findTree(txn.get(), main, "rev", g).has_value());
  CHECK_FALSE(detail::findTree(txn.get(), main, "absent", g).has_value());
  CHECK(detail::findTree(txn.get(), main, "plain", g).has_value());
  CHECK_FALSE(detail::findTree(txn.get(), main, "plain", detail::TreeGeometry{}).has_value());
}

TEST_CASE("tree reader: damaged pages give Unknown or a value inside the map, never a wild read",
          "[engine][lmdb][treereader]") {
  TempDir dir;
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> kv;
  std::optional<detail::Tree> real;
  {
    auto env = openEnv(dir);
    kv = fill(env, "kv", 20000, rng);
    auto txn = lmdb::Txn::beginRead(env);
    real = detail::findTree(txn.get(), mainDbi(txn), "kv", detail::TreeGeometry::of(env.get()));
    REQUIRE(real.has_value());
    REQUIRE(real->depth >= 3);
  }
  // A private copy of the file, to damage.
  std::ifstream in(dir / "env" / "data.mdb", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const unsigned psize = real->geometry.page_size;
  REQUIRE(file.size() % psize == 0);
  const std::size_t pages = file.size() / psize;
  std::unique_ptr<std::uint8_t, decltype(&std::free)> map(
      static_cast<std::uint8_t*>(std::aligned_alloc(psize, file.size())), &std::free);
  detail::Tree tree = *real;
  tree.map = map.get();
  tree.geometry.map_pages = pages;
  const std::uint8_t* const begin = map.get();
  const std::uint8_t* const end = begin + file.size();

  const std::vector<std::string> keys = probeKeys(kv, rng);
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<detail::TreeHit> hits(views.size());
  // Undamaged, the copy answers every key.
  std::memcpy(map.get(), file.data(), file.size());
  detail::lookupMany(tree, views, hits);
  CHECK(std::count_if(hits.begin(), hits.end(), [](const auto& h) { return h.state == detail::TreeHit::Present; }) ==
        std::count_if(keys.begin(), keys.end(), [&](const auto& k) { return kv.count(k) != 0; }));

  // A fresh copy with 1 to 64 bits flipped, mostly in page headers and node
  // offsets, where damage steers the walk.
  auto damage = [&] {
    std::memcpy(map.get(), file.data(), file.size());
    const int flips = 1 + static_cast<int>(rng() % 64);
    for (int f = 0; f < flips; ++f) {
      const std::size_t page = 2 + rng() % (pages - 2);
      const std::size_t off = rng() % 2 ? rng() % 96 : rng() % psize;
      map.get()[page * psize + off] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    }
  };
  std::size_t unknown = 0, wrong_present = 0, outside = 0;
  views.resize(5000);  // a sample is enough per round
  hits.resize(views.size());
  for (int round = 0; round < 200; ++round) {
    damage();
    detail::lookupMany(tree, views, hits);
    for (std::size_t i = 0; i < hits.size(); ++i) {
      const auto& h = hits[i];
      if (h.state == detail::TreeHit::Unknown) ++unknown;
      if (h.state != detail::TreeHit::Present) continue;
      const auto* v = reinterpret_cast<const std::uint8_t*>(h.value.data());
      const auto* k = reinterpret_cast<const std::uint8_t*>(h.key.data());
      if (v < begin || v + h.value.size() > end || k < begin || k + h.key.size() > end) ++outside;
      if (h.key != views[i]) ++wrong_present;
    }
  }
  CHECK(outside == 0);

  // The in-place walk over damaged copies: it ends (End or Unknown), and
  // whatever it gives before lies inside the copy.
  std::size_t walk_unknown = 0, walk_outside = 0;
  for (int round = 0; round < 200; ++round) {
    damage();
    detail::TreeCursor walk(tree);
    std::string_view k, v;
    detail::TreeCursor::Step step;
    std::size_t entries = 0;
    while ((step = walk.next(&k, &v)) == detail::TreeCursor::Entry) {
      const auto* vp = reinterpret_cast<const std::uint8_t*>(v.data());
      const auto* kp = reinterpret_cast<const std::uint8_t*>(k.data());
      if (vp < begin || vp + v.size() > end || kp < begin || kp + k.size() > end) ++walk_outside;
      REQUIRE(++entries <= pages * psize);  // bounded, whatever the damage
    }
    if (step == detail::TreeCursor::Unknown) ++walk_unknown;
  }
  CHECK(walk_outside == 0);
  CHECK(walk_unknown > 0);
  CHECK(unknown > 0);  // the damage was met, and reported as such
  CHECK(wrong_present == 0);  // a hit's key always equals the key asked for
}

namespace {

struct Owners : Table {
  Owners() : Table("owners") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
};
struct Items : Table {
  Items() : Table("items") {
    index("by_grp", {grp});
    index("by_owner", {owner});
  }
  TextColumn id{this, plasma::id()};
  IntColumn grp{this, integer("grp")};
  TextColumn owner{this, text("owner")};
  IntColumn n{this, integer("n")};
  TextColumn big{this, text("big").nullable()};
};
const Owners owners;
const Items items;
const Schema batchSchema = defineSchema("treereader-v1", {owners, items});

// A database of `count` items with ids prefix + (100000 + k * step); every
// 50th item has a value in overflow pages when `big`.
Database openItems(const TempDir& dir, int count, const std::string& prefix, int step, bool big) {
  auto db = Database::open(dir / "db", batchSchema);
  db.ensureSchema();
  db.write([&](Tx& tx) {
    for (int k = 0; k < count; ++k) {
      (void)tx.insert(items).values({{items.id, prefix + std::to_string(100000 + k * step)},
                                     {items.grp, k % 5},
                                     {items.owner, "o"},
                                     {items.n, k},
                                     Assignment(AnyColumn(items.big),
                                                big && k % 50 == 0 ? Value(std::string(5000, 'b')) : Value())});
    }
  });
  return db;
}

// The database file's size in 4 KiB pages.
std::uint64_t filePages(const TempDir& dir) {
  std::ifstream in(dir / "db" / "data.mdb", std::ios::binary | std::ios::ate);
  return static_cast<std::uint64_t>(in.tellg()) / 4096;
}

// Runs fn(state, items' bound table) in a read transaction whose cached
// tree of `items` takes the map to end at page `cut`: the tree reader
// declines every page from there on, wherever it falls in a walk.
template <class F>
void withMapCut(Database& db, std::uint64_t cut, F&& fn) {
  db.read([&](const ReadTx& tx) {
    detail::TxnState& s = tx.state();
    detail::BoundTable& t = s.db.table(items);
    auto* tree = const_cast<detail::Tree*>(s.tree(t.rows, t.rows_name));  // the cached tree of this snapshot
    REQUIRE(tree != nullptr);
    const std::uint64_t pages = tree->geometry.map_pages;
    tree->geometry.map_pages = cut;
    fn(s, t);
    tree->geometry.map_pages = pages;
  });
}

}  // namespace

TEST_CASE("queries fetch the same rows in batches (read) as one by one (write)", "[engine][query][treereader]") {
  TempDir dir;
  auto db = Database::open(dir / "db", batchSchema);
  db.ensureSchema();
  std::vector<std::string> ids;
  db.write([&](Tx& tx) {
    for (int o = 0; o < 3; ++o) (void)tx.insert(owners).values({{owners.id, "o" + std::to_string(o)}, {owners.name, "N"}});
    for (int k = 0; k < 400; ++k) {
      // ids of varying length, not in insertion order
      std::string id = "i" + std::to_string((k * 7919) % 1000) + std::string(static_cast<std::size_t>(k % 9), 'x');
      ids.push_back(id);
      (void)tx.insert(items).values({{items.id, id},
                                     {items.grp, k % 5},
                                     {items.owner, "o" + std::to_string(k % 3)},
                                     {items.n, k},
                                     Assignment(AnyColumn(items.big), k % 10 == 0 ? Value(std::string(5000, 'b')) : Value())});
    }
  });
  // The same query through a read transaction (batched fetches) and a write
  // transaction (one mdb_cursor_get per row).
  auto same = [&](const std::string& what, auto&& build) {
    INFO(what);
    const QueryResult read = db.read([&](const ReadTx& tx) { return build(tx).all(); });
    const QueryResult written = db.write([&](Tx& tx) { return build(tx).all(); });
    CHECK(qtest::render(read) == qtest::render(written));
    return read.size();
  };
  std::size_t total = 0;
  for (const std::int64_t limit : {1, 2, 49, 50, 63, 64, 65, 80, 129, 1000}) {
    for (const std::int64_t offset : {0, 3}) {
      const std::string l = " limit " + std::to_string(limit) + " offset " + std::to_string(offset);
      total += same("index eq" + l, [&](const ReadTx& tx) {
        return tx.select(items).where(eq(items.grp, 2)).orderBy(asc(items.grp)).limit(limit).offset(offset);
      });
      total += same("index range" + l, [&](const ReadTx& tx) {
        return tx.select(items).where(gte(items.grp, 1)).orderBy(asc(items.grp)).limit(limit).offset(offset);
      });
      total += same("reverse index walk" + l, [&](const ReadTx& tx) {
        return tx.select(items).orderBy(desc(items.grp)).limit(limit).offset(offset);
      });
      total += same("filtered walk" + l, [&](const ReadTx& tx) {
        return tx.select(items).where(and_(eq(items.grp, 3), gt(items.n, 200))).limit(limit).offset(offset);
      });
    }
  }
  std::vector<Value> some;
  for (std::size_t k = 0; k < ids.size(); k += 4) some.emplace_back(ids[k]);
  for (int k = 0; k < 40; ++k) some.emplace_back("absent" + std::to_string(k));
  total += same("id list with absent ids", [&](const ReadTx& tx) {
    return tx.select(items).where(inArray(items.id.expr(), some)).orderBy(asc(items.id));
  });
  total += same("index join", [&](const ReadTx& tx) {
    return tx.select({{"owner", owners.id}, {"item", items.id}, {"big", items.big}})
        .from(owners)
        .innerJoin(items, eq(items.owner, owners.id))
        .orderBy(asc(owners.id), asc(items.id));
  });
  CHECK(total > 5000);
  // The walks above are index walks (what batches), not scans.
  const std::string plan = db.select().from(items).where(eq(items.grp, 2)).explain();
  CHECK(qtest::contains(plan, "by_grp"));
  const std::string join_plan = db.select({{"i", items.id}})
                                    .from(owners)
                                    .innerJoin(items, eq(items.owner, owners.id))
                                    .explain();
  CHECK(qtest::contains(join_plan, "by_owner"));
}

TEST_CASE("a scan that meets a page the tree reader declines goes on through LMDB, every row once, in order",
          "[engine][treereader]") {
  TempDir dir;
  auto db = openItems(dir, 3000, "row", 7, /*big=*/true);
  std::vector<std::string> expected;
  db.write([&](Tx& tx) {  // a write transaction: LMDB's cursor only
    tx.scan(items, [&](const RowView& row) {
      expected.emplace_back(row.id());
      return true;
    });
  });
  REQUIRE(expected.size() == 3000);
  db.read([&](const ReadTx& tx) {
    detail::BoundTable& t = tx.state().db.table(items);
    const detail::Tree* tree = tx.state().tree(t.rows, t.rows_name);
    REQUIRE(tree != nullptr);
    REQUIRE(tree->depth >= 2);
  });
  const std::uint64_t highest = filePages(dir);
  for (std::uint64_t cut = 2; cut <= highest + 1; cut += std::max<std::uint64_t>(1, highest / 40)) {
    INFO("map cut at page " << cut);
    std::vector<std::string> seen;
    withMapCut(db, cut, [&](detail::TxnState& s, detail::BoundTable& t) {
      detail::RowScanner scanner(s, t);
      while (scanner.next()) seen.emplace_back(scanner.row().id());
    });
    CHECK(seen == expected);
  }
  // And the plain read path (every page in range) gives the same.
  std::vector<std::string> plain;
  db.read([&](const ReadTx& tx) {
    tx.scan(items, [&](const RowView& row) {
      plain.emplace_back(row.id());
      return true;
    });
  });
  CHECK(plain == expected);
}

TEST_CASE("an ordered scan from a start key gives LMDB's entries, also when the walk is cut short",
          "[engine][treereader]") {
  TempDir dir;
  auto db = openItems(dir, 2000, "k", 3, /*big=*/false);
  // Each start key and what LMDB's cursor gives from it (in a write transaction).
  const std::vector<std::string> starts = {"", "a", "k100000", "k100001", "k103000", "k105997", "k105998", "z"};
  std::map<std::string, std::vector<std::string>> expected;
  db.write([&](Tx& tx) {
    detail::TxnState& s = tx.state();
    detail::BoundTable& t = s.db.table(items);
    for (const auto& start : starts) {
      detail::OrderedScan scan(s, t.rows, t.rows_name, start);  // a write transaction: the cursor alone
      while (scan.next()) expected[start].emplace_back(scan.key());
      lmdb::Cursor cur(s.txn, t.rows);
      std::vector<std::string> direct;
      for (bool ok = start.empty() ? cur.first() : cur.seekRange(start); ok; ok = cur.next()) direct.emplace_back(cur.key());
      REQUIRE(expected[start] == direct);
    }
  });
  CHECK(expected[""].size() == 2000);
  CHECK(expected["k105998"].empty());
  const std::uint64_t highest = filePages(dir);
  for (const auto& start : starts) {
    for (std::uint64_t cut = 2; cut <= highest + 1; cut += std::max<std::uint64_t>(1, highest / 25)) {
      INFO("start '" << start << "', map cut at page " << cut);
      std::vector<std::string> seen;
      withMapCut(db, cut, [&](detail::TxnState& s, detail::BoundTable& t) {
        detail::OrderedScan scan(s, t.rows, t.rows_name, start);
        while (scan.next()) seen.emplace_back(scan.key());
      });
      CHECK(seen == expected[start]);
    }
  }
}
