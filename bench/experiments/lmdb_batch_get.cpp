// bench/experiments/lmdb_batch_get.cpp — an experiment, not built by CMake.
//
// 50 random row fetches by 36-byte id (the ids of one query_range_limit50 page, read from the
// orders_created index): sequential mdb_cursor_get(MDB_SET_KEY), as the engine fetches rows
// today, against an interleaved ("group prefetch") descent that reads LMDB's page format
// directly (read-only, from the memory map) and advances all 50 binary searches in lock step,
// prefetching each one's next probe, so that their cache misses overlap instead of queueing.
// It checks that both give the same data pointers, then times them.
//
// The engine now does this (engine/tree_reader.cpp, used by index walks in read transactions).
// Measured 2026-11-22 on the 1M-row orders table of the query benchmarks (2 shared cores,
// others compiling): sequential 68-77 us per 50 fetches (min), interleaved 23-24 us (min),
// i.e. ~3x. This is what an engine-level batched get could give; see docs/query.md.
//
// The database: a plasma database directory holding the query benchmarks' `orders` table
// (bench/experiments/query_fetch_floor.cpp creates one in /tmp/qscratch/db).
//   g++ -O2 -std=c++20 -o lmdb_batch_get lmdb_batch_get.cpp -llmdb && ./lmdb_batch_get [dir]
//
// Limits of the sketch (an engine version must handle them): LMDB 0.9 page layout only; no
// F_BIGDATA (overflow) values, no DUPSORT databases; read transactions only (a write
// transaction's dirty pages are not in the map); the map base is derived from a leaf page's
// own page number.
#include <lmdb.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <class T> static T ld(const uint8_t* p) { T v; std::memcpy(&v, p, sizeof v); return v; }
struct Tree { const uint8_t* map; unsigned psize; uint64_t root; unsigned depth; };
static inline const uint8_t* pageAt(const Tree& t, uint64_t pgno) { return t.map + pgno * t.psize; }
static inline unsigned nkeys(const uint8_t* p) { return (ld<uint16_t>(p + 12) - 16) >> 1; }
static inline const uint8_t* nodeAt(const uint8_t* p, unsigned i) { return p + ld<uint16_t>(p + 16 + 2 * i); }
static inline std::string_view keyOf(const uint8_t* n) { return {reinterpret_cast<const char*>(n + 8), ld<uint16_t>(n + 6)}; }
static inline int cmp(std::string_view a, std::string_view b) { return a.compare(b); }  // memcmp, then length: LMDB's default
struct State { const uint8_t* page; int lo, hi, ans; bool leaf; };
// Looks up keys[i] -> out[i] (data view, or empty when absent), all keys interleaved.
static void batchGet(const Tree& t, const std::vector<std::string_view>& keys, std::vector<std::string_view>& out) {
  const size_t K = keys.size();
  std::vector<State> st(K);
  const uint8_t* root = pageAt(t, t.root);
  for (size_t k = 0; k < K; ++k) st[k].page = root;
  for (unsigned level = 0; level < t.depth; ++level) {
    for (size_t k = 0; k < K; ++k) {
      State& s = st[k];
      const unsigned n = nkeys(s.page);
      s.leaf = ld<uint16_t>(s.page + 10) & 0x02;
      s.lo = s.leaf ? 0 : 1; s.hi = int(n) - 1; s.ans = s.leaf ? -1 : 0;
      if (s.lo <= s.hi) __builtin_prefetch(nodeAt(s.page, (s.lo + s.hi) / 2));
    }
    bool active = true;
    while (active) {
      active = false;
      for (size_t k = 0; k < K; ++k) {
        State& s = st[k];
        if (s.lo > s.hi) continue;
        const int mid = (s.lo + s.hi) / 2;
        const int c = cmp(keyOf(nodeAt(s.page, mid)), keys[k]);
        if (s.leaf) {
          if (c == 0) { s.ans = mid; s.lo = 1; s.hi = 0; continue; }
          if (c < 0) s.lo = mid + 1; else s.hi = mid - 1;
        } else {
          if (c <= 0) { s.ans = mid; s.lo = mid + 1; } else s.hi = mid - 1;
        }
        if (s.lo <= s.hi) { __builtin_prefetch(nodeAt(s.page, (s.lo + s.hi) / 2)); active = true; }
      }
    }
    if (level + 1 == t.depth) break;
    for (size_t k = 0; k < K; ++k) {
      State& s = st[k];
      const uint8_t* n = nodeAt(s.page, unsigned(s.ans));
      const uint64_t pgno = uint64_t(ld<uint16_t>(n)) | (uint64_t(ld<uint16_t>(n + 2)) << 16) | (uint64_t(ld<uint16_t>(n + 4)) << 32);
      s.page = pageAt(t, pgno);
      __builtin_prefetch(s.page); __builtin_prefetch(s.page + 64);  // header + node offsets
    }
  }
  for (size_t k = 0; k < K; ++k) {
    const State& s = st[k];
    if (s.ans < 0) { out[k] = {}; continue; }
    const uint8_t* n = nodeAt(s.page, unsigned(s.ans));
    const uint16_t flags = ld<uint16_t>(n + 4);
    if (flags & 0x01) { out[k] = {}; continue; }  // F_BIGDATA: not in this experiment
    const uint32_t size = uint32_t(ld<uint16_t>(n)) | (uint32_t(ld<uint16_t>(n + 2)) << 16);
    out[k] = {reinterpret_cast<const char*>(n + 8 + ld<uint16_t>(n + 6)), size};
  }
}
int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : "/tmp/qscratch/db";
  MDB_env* env; mdb_env_create(&env); mdb_env_set_maxdbs(env, 1024); mdb_env_set_mapsize(env, std::size_t{16} << 30);
  if (int rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0644)) { std::printf("open %s\n", mdb_strerror(rc)); return 1; }
  MDB_envinfo info; mdb_env_info(env, &info); MDB_stat es; mdb_env_stat(env, &es);
  MDB_txn* txn; mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_dbi main, rows, idx; mdb_dbi_open(txn, nullptr, 0, &main); mdb_dbi_open(txn, "t/orders", 0, &rows); mdb_dbi_open(txn, "i/orders/orders_created", 0, &idx);
  MDB_val k{8, const_cast<char*>("t/orders")}, v;
  if (mdb_get(txn, main, &k, &v)) { std::puts("no db record"); return 1; }
  Tree t{static_cast<const uint8_t*>(info.me_mapaddr), es.ms_psize, ld<uint64_t>(static_cast<const uint8_t*>(v.mv_data) + 40), ld<uint16_t>(static_cast<const uint8_t*>(v.mv_data) + 6)};
  {  // the map's base: a leaf page's header holds its page number
    MDB_cursor* c0; mdb_cursor_open(txn, rows, &c0); MDB_val k0, v0; mdb_cursor_get(c0, &k0, &v0, MDB_FIRST);
    const auto* pg = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(v0.mv_data) & ~uintptr_t(t.psize - 1));
    t.map = pg - ld<uint64_t>(pg) * t.psize; mdb_cursor_close(c0);
  }
  std::printf("map %p psize %u root %lu depth %u\n", (void*)t.map, t.psize, (unsigned long)t.root, t.depth);
  // every id in createdAt order (the index's values)
  std::string flat; std::vector<uint32_t> len;
  MDB_cursor* c; mdb_cursor_open(txn, idx, &c);
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) { flat.append((const char*)v.mv_data, v.mv_size); len.push_back(v.mv_size); }
  mdb_cursor_close(c);
  const size_t n = len.size(); std::printf("%zu index entries\n", n);
  const size_t W = len[0];
  auto idAt = [&](size_t i) { return std::string_view(flat.data() + i * W, W); };
  std::mt19937_64 rng(42);
  MDB_cursor* rc_; mdb_cursor_open(txn, rows, &rc_);
  std::vector<std::string_view> keys(50), out(50);
  // correctness
  for (int q = 0; q < 2000; ++q) {
    const size_t s = rng() % (n - 50);
    for (int i = 0; i < 50; ++i) keys[i] = idAt(s + i);
    batchGet(t, keys, out);
    for (int i = 0; i < 50; ++i) { MDB_val kk{keys[i].size(), (void*)keys[i].data()}, vv; mdb_cursor_get(rc_, &kk, &vv, MDB_SET_KEY);
      if (out[i].data() != vv.mv_data || out[i].size() != vv.mv_size) { std::printf("mismatch q %d i %d\n", q, i); return 1; } }
  }
  std::puts("batch results identical to mdb_cursor_get on 2000 x 50 keys");
  std::vector<double> seq, bat;
  const int Q = 2000; uint64_t sink = 0;
  for (int round = 0; round < 9; ++round) {
    double t0 = now();
    for (int q = 0; q < Q; ++q) {
      const size_t s = rng() % (n - 50);
      for (int i = 0; i < 50; ++i) { const auto id = idAt(s + i); MDB_val kk{id.size(), (void*)id.data()}, vv; if (!mdb_cursor_get(rc_, &kk, &vv, MDB_SET_KEY)) sink += ((const uint8_t*)vv.mv_data)[0]; }
    }
    seq.push_back((now() - t0) / Q * 1e6);
    t0 = now();
    for (int q = 0; q < Q; ++q) {
      const size_t s = rng() % (n - 50);
      for (int i = 0; i < 50; ++i) keys[i] = idAt(s + i);
      batchGet(t, keys, out);
      for (int i = 0; i < 50; ++i) sink += (uint8_t)out[i][0];
    }
    bat.push_back((now() - t0) / Q * 1e6);
  }
  std::sort(seq.begin(), seq.end()); std::sort(bat.begin(), bat.end());
  std::printf("50 fetches: sequential mdb_cursor_get min %.1f median %.1f us; interleaved descent min %.1f median %.1f us\n", seq[0], seq[4], bat[0], bat[4]);
  if (sink == 7) std::puts("");
}
