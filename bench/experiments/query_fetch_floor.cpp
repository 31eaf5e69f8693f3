// bench/experiments/query_fetch_floor.cpp — an experiment, not built by CMake.
//
// Where the time of query_point, query_range_limit50 and query_join goes: each plasma query
// (through the public API, one read transaction per query) against the raw LMDB work it cannot
// avoid with today's storage layout (the index walk, and one mdb_cursor_get per fetched row, in
// index order or sorted by id). Loads the query benchmarks' data set (bench_common.cpp) into
// /tmp/qscratch/db first (kept for lmdb_batch_get.cpp). ONLY=<substring> runs some methods,
// N=<queries per round> (default 1500); prints min and median over 7 rounds.
//
// Built against a Release tree, e.g. from build-q/ (one line):
//   c++ -O2 -std=c++23 -I../include -I.. -I../bench -Igenerated -DBOOST_JSON_DYN_LINK -DBOOST_JSON_NO_LIB
//     -DBOOST_CONTAINER_DYN_LINK -DBOOST_CONTAINER_NO_LIB ../bench/experiments/query_fetch_floor.cpp
//     ../bench/bench_common.cpp ../bench/bench_query_plasma.cpp -o query_fetch_floor libplasma_engine.a -lbenchmark -lboost_json
//     -lboost_container -llmdb /usr/lib/x86_64-linux-gnu/libflatbuffers.a -lsodium -lxxhash
//
// Measured 2026-11-22 (2 shared cores, others compiling; min over 7 rounds, us per query):
//   point:  plasma query 2.05, raw one fetch in its own read txn 1.32
//   range:  plasma query 82.7, raw index walk alone 4.2, walk + 50 fetches in index order 73.1,
//           the same 50 sorted by id through one cursor 70.3 (no gain: 50 of 1M ids rarely share a leaf)
//   join:   plasma query 157-191, raw index walk + ~100 fetches 129-150
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <map>
#include <cstdlib>
#include <filesystem>
#include <plasma/plasma.hpp>
#include "engine/store.hpp"
#include "engine/keys.hpp"
#include "bench/bench_common.hpp"
#include "bench/bench_query_plasma.hpp"
using namespace plasma_bench;
const Customers& C = customers();
const Orders& O = orders();
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main() {
  const QueryDataset& data = QueryDataset::get();
  plasma::OpenOptions opt; opt.durability = plasma::Durability::NoSync;
  std::filesystem::remove_all("/tmp/qscratch/db");
  std::filesystem::create_directories("/tmp/qscratch");
  auto db = plasma::Database::open("/tmp/qscratch/db", querySchema(), opt);
  db.ensureSchema();
  loadQueryData(db, data);
  using plasma::param;
  auto join = db.select({{"id", O.id}, {"amount", O.amount}, {"name", C.name}, {"region", C.region}}).from(O).innerJoin(C, eq(O.customerId, C.id)).where(eq(O.customerId, param(0))).prepare();
  auto nojoin = db.select({{"id", O.id}, {"amount", O.amount}}).from(O).where(eq(O.customerId, param(0))).prepare();
  auto rowsq = db.select().from(O).where(eq(O.customerId, param(0))).prepare();
  auto point = db.select().from(O).where(eq(O.id, param(0))).prepare();
  auto range = db.select().from(O).where(gte(O.createdAt, param(0))).orderBy(plasma::asc(O.createdAt)).limit(50).prepare();
  const int N = std::getenv("N") ? std::atoi(std::getenv("N")) : 1500, R = 7;
  std::uint64_t sink = 0;
  std::map<std::string, std::vector<double>> res;  // method -> per-round mean (us per query)
  std::size_t salt = 0;
  auto idsOf = [&](plasma::detail::TxnState& st, int index, const plasma::Value& start, std::size_t limit, bool prefix_match) {
    auto& t = st.db.table(O);
    std::string prefix; plasma::keys::encodeKeyPart(start, prefix);
    std::vector<std::string> ids;
    plasma::lmdb::Cursor cur(st.txn, t.indexes[index].dbi);
    for (bool ok = cur.seekRange(prefix); ok && ids.size() < limit && (!prefix_match || cur.key().starts_with(prefix)); ok = cur.next()) ids.emplace_back(cur.value());
    return ids;
  };
  auto fetchAll = [&](plasma::detail::TxnState& st, const std::vector<std::string>& ids) {
    MDB_cursor* c = st.cursor(st.db.table(O).rows);
    for (auto& id : ids) { MDB_val k = plasma::lmdb::toVal(id), v; if (mdb_cursor_get(c, &k, &v, MDB_SET_KEY) == 0) sink += static_cast<const unsigned char*>(v.mv_data)[0]; }
  };
  for (int round = 0; round < R; ++round) {
    auto timeit = [&](const char* name, auto&& fn) {
      if (const char* f = std::getenv("ONLY"); f != nullptr && std::string(name).find(f) == std::string::npos) return;
      const double t0 = now();
      for (int q = 0; q < N; ++q) fn(salt++);
      res[name].push_back((now() - t0) / N * 1e6);
    };
    timeit("range: plasma query", [&](std::size_t k) { range.bind(0, plasma::Value(data.rangeStart(k))); range.forEachRow([&](const plasma::RowView& r){ sink += r.bytes()[0]; return true; }); });
    timeit("range: raw index walk (50 ids)", [&](std::size_t k) { db.read([&](const plasma::ReadTx& r) { sink += idsOf(r.state(), 1, plasma::Value(data.rangeStart(k)), 50, false).size(); }); });
    timeit("range: raw walk + 50 fetches, index order", [&](std::size_t k) { db.read([&](const plasma::ReadTx& r) { auto ids = idsOf(r.state(), 1, plasma::Value(data.rangeStart(k)), 50, false); fetchAll(r.state(), ids); }); });
    timeit("range: raw walk + 50 fetches, id order", [&](std::size_t k) { db.read([&](const plasma::ReadTx& r) { auto ids = idsOf(r.state(), 1, plasma::Value(data.rangeStart(k)), 50, false); std::sort(ids.begin(), ids.end()); fetchAll(r.state(), ids); }); });
    timeit("point: raw 1 fetch (+read txn)", [&](std::size_t k) { db.read([&](const plasma::ReadTx& r) { std::vector<std::string> one{std::string(data.base().shuffledId(k % data.orders()))}; fetchAll(r.state(), one); }); });
    timeit("point: plasma query", [&](std::size_t k) { point.bind(0, plasma::Value(data.base().shuffledId((k * 7919) % data.orders()))); point.forEachRow([&](const plasma::RowView& r){ sink += r.bytes()[0]; return true; }); });
    timeit("join: plasma query", [&](std::size_t k) { join.bind(0, plasma::Value(data.customerId(data.joinCustomer(k)))); join.forEach([&](const plasma::ResultRow& r){ sink += r[1].asInt(); return true; }); });
    timeit("join: raw interleaved walk/fetch", [&](std::size_t k) { db.read([&](const plasma::ReadTx& r) {
      auto& st = r.state(); auto& t = st.db.table(O);
      std::string prefix; plasma::keys::encodeKeyPart(plasma::Value(std::string(data.customerId(data.joinCustomer(k)))), prefix);
      plasma::lmdb::Cursor cur(st.txn, t.indexes[0].dbi);
      MDB_cursor* c = st.cursor(t.rows);
      for (bool ok = cur.seekRange(prefix); ok && cur.key().starts_with(prefix); ok = cur.next()) {
        MDB_val kk = plasma::lmdb::toVal(cur.value()), v; if (mdb_cursor_get(c, &kk, &v, MDB_SET_KEY) == 0) sink += static_cast<const unsigned char*>(v.mv_data)[0]; }
    }); });
    timeit("join: plasma no-join select o.id, o.amount", [&](std::size_t k) { nojoin.bind(0, plasma::Value(data.customerId(data.joinCustomer(k)))); nojoin.forEach([&](const plasma::ResultRow& r){ sink += r[1].asInt(); return true; }); });
    timeit("join: plasma forEachRow (no projection)", [&](std::size_t k) { rowsq.bind(0, plasma::Value(data.customerId(data.joinCustomer(k)))); rowsq.forEachRow([&](const plasma::RowView& r){ sink += r.bytes()[0]; return true; }); });
    timeit("join: raw index walk + fetches", [&](std::size_t k) { db.read([&](const plasma::ReadTx& r) { auto ids = idsOf(r.state(), 0, plasma::Value(std::string(data.customerId(data.joinCustomer(k)))), 1u << 30, true); fetchAll(r.state(), ids); }); });
  }
  for (auto& [name, v] : res) { std::sort(v.begin(), v.end()); std::printf("%-45s min %7.2f  median %7.2f us/query\n", name.c_str(), v[0], v[v.size() / 2]); }
  if (sink == 42) std::puts("");
}
