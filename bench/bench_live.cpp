// bench/bench_live.cpp — live queries (issue 4): what one committed
// single-row update costs until every subscribed query's delta is delivered,
// maintained incrementally (plasma_ivm) or by re-running the queries
// (plasma_rerun), through the public API only.
//
// Table `items` {id, grp (integer 0..999), n (integer), note (40-byte text)}
// with index (grp, n): kLiveRows (100,000) rows, exactly 100 per grp, every
// n distinct. Each implementation has its own database (so the re-run side
// never pays for the live-query thread and its commit snapshots), loaded
// identically once per process in untimed write transactions. Both
// databases are opened with Durability::NoSync, also for the timed commits,
// so that an fsync per transaction does not hide what is measured.
//
// Queries (query i of N, the same text on both sides):
// - select: `select * from items where grp = k order by n desc limit 10 + i / 1000`,
//   k = i % 1000 (so with N = 10,000 every grp has 10 queries, each with a
//   different limit);
// - aggregate (N = 100): `select grp, count(*), sum(n), min(n), max(n) from
//   items where grp >= 10 i and grp <= 10 i + 9 group by grp order by grp`.
//
// One transaction (one benchmark iteration, items_per_second = transactions/s):
// update one random row of a grp that some query reads, setting n to a new
// largest value (so it enters the top of its new grp: every transaction
// changes at least one result) and, every other transaction, its grp to a
// random subscribed grp; then
// - plasma_ivm: LiveQuery::sync() on one live query. sync() waits for a
//   marker queued behind every commit event on the database's single
//   live-query thread (query/live.cpp: LiveHub::sync), which maintains every
//   live query of the database and runs subscribeDelta callbacks inline, so
//   on return every live query has applied the commit and every delta has
//   been delivered. Each callback counts its delivery.
// - plasma_rerun: re-run every query on the table — a system without IVM
//   knows only that the table changed, so every query on it is "affected" —
//   as prepared queries in one fresh read transaction, and compute each
//   query's delta by row identity (id; grp for the aggregate) against its
//   previous result, counting the non-empty ones.
//
// Counters: deltas_per_txn (non-empty deltas per transaction, both sides),
// queries (N), propagate_us_per_txn (the time after the commit: IVM's
// maintenance + delivery, or re-running + diffing — the write both sides
// share is left out), and on plasma_ivm mem_bytes_per_query (the average of
// LiveQuery::memoryBytes() over the N live queries).
// After the timed loop, plasma_ivm checks a sample of live results against
// fresh executions of the same queries, and both sides check that every
// transaction delivered at least one delta.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <plasma/live.hpp>
#include <plasma/plasma.hpp>

#include "bench_common.hpp"

namespace plasma_bench {

namespace {

constexpr std::size_t kLiveRows = 100'000;
constexpr std::int64_t kGroups = 1000;
constexpr std::int64_t kSelectLimit = 10;   // query i: limit kSelectLimit + i / kGroups
constexpr std::int64_t kAggregateSpan = 10;  // aggregate query i: grp in [span * i, span * i + span)
constexpr std::size_t kLiveNoteBytes = 40;
constexpr std::uint64_t kUpdateSeed = 0x11fe'5eed'0000'0001ULL;

struct Items : plasma::Table {
  Items() : Table("items") { index("items_grp_n", {grp, n}); }
  plasma::TextColumn id{this, plasma::id()};
  plasma::IntColumn grp{this, plasma::integer("grp")};
  plasma::IntColumn n{this, plasma::integer("n")};
  plasma::TextColumn note{this, plasma::text("note")};
};

const Items& items() {
  static const Items table;
  return table;
}
const plasma::Schema& schema() {
  static const plasma::Schema s = plasma::defineSchema("bench-live-v1", {items()});
  return s;
}

enum class QueryKind { Select, Aggregate };

plasma::SelectBuilder buildQuery(const plasma::Database& db, QueryKind kind, std::size_t i) {
  const Items& t = items();
  if (kind == QueryKind::Select) {
    const auto k = static_cast<std::int64_t>(i) % kGroups;
    return db.select()
        .from(t)
        .where(eq(t.grp, k))
        .orderBy(plasma::desc(t.n))
        .limit(kSelectLimit + static_cast<std::int64_t>(i) / kGroups);
  }
  const auto lo = static_cast<std::int64_t>(i) * kAggregateSpan;
  return db.select({{"grp", t.grp},
                    {"rows", plasma::count()},
                    {"total", plasma::sum(t.n)},
                    {"lowest", plasma::min(t.n)},
                    {"highest", plasma::max(t.n)}})
      .from(t)
      .where(plasma::and_(gte(t.grp, lo), lte(t.grp, lo + kAggregateSpan - 1)))
      .groupBy(t.grp)
      .orderBy(plasma::asc(t.grp));
}

// The queries whose result the grp `g` can appear in (for the sample check).
std::vector<std::size_t> queriesOfGroup(QueryKind kind, std::int64_t g, std::size_t n) {
  std::vector<std::size_t> out;
  if (kind == QueryKind::Aggregate) {
    const auto i = static_cast<std::size_t>(g / kAggregateSpan);
    if (i < n) out.push_back(i);
    return out;
  }
  for (auto i = static_cast<std::size_t>(g); i < n; i += static_cast<std::size_t>(kGroups)) out.push_back(i);
  return out;
}

// The groups that some of the first n queries read: updates pick rows (and
// new groups) among [0, activeGroups).
std::int64_t activeGroups(QueryKind kind, std::size_t n) {
  if (kind == QueryKind::Aggregate) return std::min<std::int64_t>(kGroups, static_cast<std::int64_t>(n) * kAggregateSpan);
  return std::min<std::int64_t>(kGroups, static_cast<std::int64_t>(n));
}

// One database with the items table and the state of its update stream.
struct Store {
  std::optional<plasma::Database> db;
  std::vector<std::string> ids;    // row r's id
  std::vector<std::int64_t> grp;   // row r's grp now
  std::int64_t next_n = static_cast<std::int64_t>(kLiveRows);  // above every loaded n
  std::mt19937_64 rng{kUpdateSeed};
  std::int64_t last_old_grp = 0, last_new_grp = 0;

  // One single-row update transaction (see the file comment).
  void update(std::int64_t groups) {
    std::size_t r = 0;
    do {
      r = static_cast<std::size_t>(rng() % kLiveRows);
    } while (grp[r] >= groups);
    const std::uint64_t draw = rng();
    const std::int64_t new_grp = (draw & 1) ? static_cast<std::int64_t>((draw >> 1) % static_cast<std::uint64_t>(groups)) : grp[r];
    const std::int64_t new_n = next_n++;
    const Items& t = items();
    const auto result = db->write([&](plasma::Tx& tx) {
      return tx.update(t).set({{t.n, new_n}, {t.grp, new_grp}}).where(eq(t.id, ids[r]));
    });
    if (result.rows_affected != 1) throw std::runtime_error("live bench: update matched " + std::to_string(result.rows_affected) + " rows");
    last_old_grp = grp[r];
    last_new_grp = new_grp;
    grp[r] = new_grp;
  }
};

void load(Store& store, const char* dir_name) {
  plasma::OpenOptions options;
  options.durability = plasma::Durability::NoSync;  // loading and the timed commits (file comment)
  auto db = plasma::Database::open(workDir() / dir_name, schema(), options);
  db.ensureSchema();
  const Items& t = items();
  store.ids.clear();
  for (std::size_t r = 0; r < kLiveRows; ++r) store.ids.push_back(plasma::newId());
  std::sort(store.ids.begin(), store.ids.end());
  store.grp.resize(kLiveRows);
  std::vector<plasma::RowInput> batch;
  batch.reserve(kLoadBatchRows);
  for (std::size_t start = 0; start < kLiveRows; start += kLoadBatchRows) {
    const std::size_t end = std::min(kLiveRows, start + kLoadBatchRows);
    batch.clear();
    for (std::size_t r = start; r < end; ++r) {
      store.grp[r] = static_cast<std::int64_t>(r % static_cast<std::size_t>(kGroups));
      // 48271 is prime to 100,000: every n in [0, kLiveRows) once, so no ties in the sort key.
      const auto n = static_cast<std::int64_t>((r * 48271) % kLiveRows);
      batch.push_back({{t.id, store.ids[r]}, {t.grp, store.grp[r]}, {t.n, n}, {t.note, printableFor(0x6c697665ULL + r, kLiveNoteBytes)}});
    }
    const auto result = db.write([&](plasma::Tx& tx) { return tx.insert(t).values(batch); });
    if (result.rows_affected != end - start) throw std::runtime_error("live bench: load inserted too few rows");
  }
  store.db.emplace(std::move(db));
}

// ---- plasma_ivm -------------------------------------------------------------------

struct IvmSide {
  Store store;
  QueryKind kind = QueryKind::Select;
  std::vector<plasma::LiveQuery> live;
  std::vector<plasma::LiveSubscription> subs;
  std::shared_ptr<std::atomic<std::uint64_t>> deliveries = std::make_shared<std::atomic<std::uint64_t>>(0);

  void clear() {
    subs.clear();
    live.clear();
  }

  // The first n queries of `k` are live and subscribed (built outside the timed loop).
  void ensure(QueryKind k, std::size_t n) {
    if (k != kind) {
      clear();
      kind = k;
    }
    while (live.size() > n) {
      subs.pop_back();
      live.pop_back();
    }
    if (live.size() == n) return;
    const std::size_t before = live.size();
    const WallClock clock;
    const auto counter = deliveries;
    for (std::size_t i = before; i < n; ++i) {
      live.push_back(buildQuery(*store.db, kind, i).live());
      subs.push_back(live.back().subscribeDelta([counter](const plasma::LiveDelta&) {
        counter->fetch_add(1, std::memory_order_relaxed);
      }));
    }
    for (const auto& q : live) q.whenReady();
    live.front().sync();
    std::fprintf(stderr, "live_update_%s/plasma_ivm: %zu live queries built and ready in %.1f s\n",
                 kind == QueryKind::Select ? "select" : "aggregate", n - before, clock.seconds());
  }

  double memoryPerQuery() const {
    std::size_t total = 0;
    for (const auto& q : live) total += q.memoryBytes();
    return live.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(live.size());
  }
};

std::unique_ptr<IvmSide>& ivmSlot() {
  static std::unique_ptr<IvmSide> side;
  return side;
}

IvmSide& ivmSide() {
  auto& s = ivmSlot();
  if (!s) {
    auto side = std::make_unique<IvmSide>();
    load(side->store, "plasma_live_ivm");
    flushWorkDir();
    s = std::move(side);
  }
  return *s;
}

// Fresh results of a sample of live queries equal their maintained results.
void checkSample(benchmark::State& state, IvmSide& s) {
  std::vector<std::size_t> sample = {0, s.live.size() - 1, s.live.size() / 2};
  for (std::int64_t g : {s.store.last_old_grp, s.store.last_new_grp}) {
    for (std::size_t i : queriesOfGroup(s.kind, g, s.live.size())) sample.push_back(i);
  }
  for (std::size_t i : sample) {
    const std::vector<plasma::ResultRow> maintained = s.live[i].rows();
    const plasma::QueryResult fresh = buildQuery(*s.store.db, s.kind, i).all();
    if (!(maintained == fresh.rows)) {
      state.SkipWithError(("live query " + std::to_string(i) + ": maintained result differs from a fresh run").c_str());
      return;
    }
  }
}

void liveIvm(benchmark::State& state, QueryKind kind, std::size_t n) {
  guarded(state, [&] {
    IvmSide& s = ivmSide();
    s.ensure(kind, n);
    const std::int64_t groups = activeGroups(kind, n);
    const plasma::LiveQuery& any = s.live.front();
    const std::uint64_t delivered_before = s.deliveries->load();
    const WallClock clock;
    double propagate_seconds = 0;  // after the commit: maintenance and delivery only
    for (auto _ : state) {
      s.store.update(groups);
      const WallClock propagate;
      any.sync();  // every live query of the database applied the commit; callbacks ran
      propagate_seconds += propagate.seconds();
    }
    const double seconds = clock.seconds();
    const auto txns = static_cast<std::uint64_t>(state.iterations());
    const std::uint64_t delivered = s.deliveries->load() - delivered_before;
    reportRate(state, txns, seconds);
    state.counters["propagate_us_per_txn"] =
        benchmark::Counter(txns ? propagate_seconds * 1e6 / static_cast<double>(txns) : 0.0);
    state.counters["queries"] = benchmark::Counter(static_cast<double>(n));
    state.counters["deltas_per_txn"] = benchmark::Counter(txns ? static_cast<double>(delivered) / static_cast<double>(txns) : 0.0);
    state.counters["mem_bytes_per_query"] = benchmark::Counter(s.memoryPerQuery());
    if (delivered < txns) {
      state.SkipWithError(("only " + std::to_string(delivered) + " deltas for " + std::to_string(txns) + " transactions").c_str());
      return;
    }
    checkSample(state, s);
  });
}

// ---- plasma_rerun -----------------------------------------------------------------

struct RerunSide {
  Store store;
  QueryKind kind = QueryKind::Select;
  std::vector<plasma::PreparedQuery> prepared;
  std::vector<std::vector<plasma::ResultRow>> previous;  // each query's last result

  // The first n queries of `k` are prepared and their results current.
  void ensure(QueryKind k, std::size_t n) {
    if (k != kind) {
      prepared.clear();
      previous.clear();
      kind = k;
    }
    if (prepared.size() > n) {
      prepared.erase(prepared.begin() + static_cast<std::ptrdiff_t>(n), prepared.end());
      previous.resize(n);
    }
    for (std::size_t i = prepared.size(); i < n; ++i) {
      prepared.push_back(buildQuery(*store.db, kind, i).prepare());
      if (i == 0) std::fprintf(stderr, "live_update_%s/plasma_rerun plan of query 0:\n%s",
                               kind == QueryKind::Select ? "select" : "aggregate", prepared.back().explain().c_str());
      previous.push_back(prepared.back().all().rows);
    }
  }
};

std::unique_ptr<RerunSide>& rerunSlot() {
  static std::unique_ptr<RerunSide> side;
  return side;
}

RerunSide& rerunSide() {
  auto& s = rerunSlot();
  if (!s) {
    auto side = std::make_unique<RerunSide>();
    load(side->store, "plasma_live_rerun");
    flushWorkDir();
    s = std::move(side);
  }
  return *s;
}

// The delta from `before` to `after` by row identity (the first output
// column: the id, or the grp of an aggregate row), as a live query delivers it.
plasma::LiveDelta diffByIdentity(const std::vector<plasma::ResultRow>& before, const std::vector<plasma::ResultRow>& after) {
  plasma::LiveDelta d;
  std::vector<bool> matched(before.size(), false);
  for (const auto& row : after) {
    bool found = false;
    for (std::size_t j = 0; j < before.size(); ++j) {
      if (!matched[j] && before[j][0] == row[0]) {
        matched[j] = true;
        found = true;
        if (!(before[j] == row)) d.changed.emplace_back(before[j], row);
        break;
      }
    }
    if (!found) d.added.push_back(row);
  }
  for (std::size_t j = 0; j < before.size(); ++j) {
    if (!matched[j]) d.removed.push_back(before[j]);
  }
  return d;
}

void liveRerun(benchmark::State& state, QueryKind kind, std::size_t n) {
  guarded(state, [&] {
    RerunSide& s = rerunSide();
    s.ensure(kind, n);
    const std::int64_t groups = activeGroups(kind, n);
    std::vector<plasma::ResultRow> current;
    const std::function<bool(const plasma::ResultRow&)> collect = [&](const plasma::ResultRow& row) {
      current.push_back(row);
      return true;
    };
    std::uint64_t delivered = 0, delta_rows = 0;
    const WallClock clock;
    double propagate_seconds = 0;  // after the commit: re-running and diffing only
    for (auto _ : state) {
      s.store.update(groups);
      const WallClock propagate;
      s.store.db->read([&](plasma::ReadTx& r) {
        for (std::size_t i = 0; i < n; ++i) {
          current.clear();
          s.prepared[i].forEachIn(r.state(), collect);
          const plasma::LiveDelta d = diffByIdentity(s.previous[i], current);
          if (!d.empty()) {
            ++delivered;
            delta_rows += d.added.size() + d.removed.size() + d.changed.size();
          }
          s.previous[i].swap(current);
        }
      });
      propagate_seconds += propagate.seconds();
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(delta_rows);
    const auto txns = static_cast<std::uint64_t>(state.iterations());
    reportRate(state, txns, seconds);
    state.counters["propagate_us_per_txn"] =
        benchmark::Counter(txns ? propagate_seconds * 1e6 / static_cast<double>(txns) : 0.0);
    state.counters["queries"] = benchmark::Counter(static_cast<double>(n));
    state.counters["deltas_per_txn"] = benchmark::Counter(txns ? static_cast<double>(delivered) / static_cast<double>(txns) : 0.0);
    if (delivered < txns) {
      state.SkipWithError(("only " + std::to_string(delivered) + " deltas for " + std::to_string(txns) + " transactions").c_str());
    }
  });
}

}  // namespace

void liveUpdateSelectIvm(benchmark::State& state, std::size_t queries) { liveIvm(state, QueryKind::Select, queries); }
void liveUpdateSelectRerun(benchmark::State& state, std::size_t queries) { liveRerun(state, QueryKind::Select, queries); }
void liveUpdateAggregateIvm(benchmark::State& state, std::size_t queries) { liveIvm(state, QueryKind::Aggregate, queries); }
void liveUpdateAggregateRerun(benchmark::State& state, std::size_t queries) { liveRerun(state, QueryKind::Aggregate, queries); }

void closeLive() noexcept {
  if (auto& s = ivmSlot()) s->clear();  // live queries before their database
  ivmSlot().reset();
  rerunSlot().reset();
}

}  // namespace plasma_bench
