// bench/bench_query_plasma.cpp — the query workloads on plasma, through the
// public query API only.
//
// Tables (QueryDataset): `orders` {id, customerId (indexed), amount, status
// (not indexed), createdAt (indexed), note} and `customers` {id, name,
// region}, ordinary (logged) tables in their own database, loaded once per
// process in untimed write transactions of kLoadBatchRows under
// Durability::NoSync.
//
// Every query is planned once (SelectBuilder::prepare() on Database::select(),
// outside the timed loop) and bound per iteration; a PreparedQuery made from
// a Database runs each call in a fresh read transaction, i.e. each query is
// its own read transaction, as an application would run it. Plain queries
// (point, range, scan) read the orders rows in place (forEachRow, zero copy);
// the aggregate and the join produce projected ResultRows (forEach). Each
// query's plan is printed to stderr once, at setup.
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include <plasma/plasma.hpp>

#include "bench_common.hpp"
#include "bench_query_plasma.hpp"

namespace plasma_bench {

// ---- the tables and their loader (bench_query_plasma.hpp) ----------------------------

const Customers& customers() {
  static const Customers table;
  return table;
}
const Orders& orders() {
  static const Orders table;
  return table;
}
const plasma::Schema& querySchema() {
  static const plasma::Schema s = plasma::defineSchema("bench-query-v1", {customers(), orders()});
  return s;
}

void loadQueryData(plasma::Database& db, const QueryDataset& data) {
  const Customers& c = customers();
  const Orders& o = orders();
  std::vector<plasma::RowInput> batch;
  batch.reserve(kQueryCustomers);
  for (std::size_t k = 0; k < kQueryCustomers; ++k) {
    batch.push_back({{c.id, std::string(data.customerId(k))},
                     {c.name, data.customerName(k)},
                     {c.region, data.customerRegion(k)}});
  }
  db.write([&](plasma::Tx& tx) { (void)tx.insert(c).values(batch); });
  batch.reserve(kLoadBatchRows);
  for (std::size_t start = 0; start < data.orders(); start += kLoadBatchRows) {
    const std::size_t end = std::min(data.orders(), start + kLoadBatchRows);
    batch.clear();
    for (std::size_t i = start; i < end; ++i) {
      const OrderFields f = data.orderAt(i);
      batch.push_back({{o.id, std::string(data.base().id(i))},
                       {o.customerId, std::string(data.customerId(f.customer))},
                       {o.amount, f.amount},
                       {o.status, f.status},
                       {o.createdAt, f.createdAt},
                       {o.note, data.noteFor(i)}});
    }
    const auto result = db.write([&](plasma::Tx& tx) { return tx.insert(o).values(batch); });
    if (result.rows_affected != end - start) {
      throw std::runtime_error("plasma query load: insert reported " + std::to_string(result.rows_affected) +
                               " rows, expected " + std::to_string(end - start));
    }
  }
}

namespace {

struct QuerySide {
  std::optional<plasma::Database> db;
  std::optional<plasma::PreparedQuery> point, range, scan, group_by, join;
  // Positions in the shared parameter sequences, kept across runs.
  std::size_t next_point = 0, next_range = 0, next_join = 0;
};

std::unique_ptr<QuerySide>& sideSlot() {
  static std::unique_ptr<QuerySide> side;
  return side;
}


plasma::PreparedQuery prepareAndShow(const char* workload, const plasma::SelectBuilder& query) {
  plasma::PreparedQuery prepared = query.prepare();
  std::fprintf(stderr, "%s/plasma plan:\n%s", workload, prepared.explain().c_str());
  return prepared;
}

QuerySide& side() {
  auto& s = sideSlot();
  if (s) return *s;
  const QueryDataset& data = QueryDataset::get();
  plasma::OpenOptions options;
  options.durability = plasma::Durability::NoSync;  // loading only; the workloads only read
  auto db = plasma::Database::open(workDir() / "plasma_query", querySchema(), options);
  db.ensureSchema();
  loadQueryData(db, data);
  flushWorkDir();

  auto side = std::make_unique<QuerySide>();
  side->db.emplace(std::move(db));
  const plasma::Database& d = *side->db;
  const Orders& o = orders();
  const Customers& c = customers();
  using plasma::param;
  side->point = prepareAndShow("query_point", d.select().from(o).where(eq(o.id, param(0))));
  side->range = prepareAndShow(
      "query_range_limit50",
      d.select().from(o).where(gte(o.createdAt, param(0))).orderBy(plasma::asc(o.createdAt)).limit(kRangeLimit));
  side->scan = prepareAndShow("query_scan_filter",
                              d.select().from(o).where(plasma::and_(eq(o.status, kScanStatus), gt(o.amount, param(0)))));
  side->scan->bind(0, plasma::Value(kScanMinAmount));
  side->group_by = prepareAndShow("query_group_by", d.select({{"status", o.status},
                                                              {"n", plasma::count()},
                                                              {"total", plasma::sum(o.amount)},
                                                              {"mean", plasma::avg(o.amount)}})
                                                        .from(o)
                                                        .groupBy(o.status));
  side->join = prepareAndShow("query_join", d.select({{"id", o.id},
                                                      {"amount", o.amount},
                                                      {"name", c.name},
                                                      {"region", c.region}})
                                                .from(o)
                                                .innerJoin(c, eq(o.customerId, c.id))
                                                .where(eq(o.customerId, param(0))));
  s = std::move(side);
  return *s;
}

std::uint64_t touchText(const std::optional<std::string_view>& v) noexcept {
  return v && !v->empty() ? v->size() + static_cast<unsigned char>(v->front()) : 0;
}

// Every column of an orders row, read in place.
std::uint64_t touchOrder(const plasma::RowView& row) {
  const Orders& o = orders();
  return touchText(row.id()) + touchText(row.get(o.customerId)) + static_cast<std::uint64_t>(*row.get(o.amount)) +
         static_cast<std::uint64_t>(*row.get(o.status)) + static_cast<std::uint64_t>(*row.get(o.createdAt)) +
         touchText(row.get(o.note));
}

}  // namespace

// SELECT * FROM orders WHERE id = ?  (a random existing id per query)
void queryPointPlasma(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const Dataset& data = QueryDataset::get().base();
    std::uint64_t found = 0, touched = 0;
    const std::function<bool(const plasma::RowView&)> consume = [&](const plasma::RowView& row) {
      touched += touchOrder(row);
      ++found;
      return true;
    };
    const WallClock clock;
    for (auto _ : state) {
      const std::string_view id = data.shuffledId(s.next_point);
      if (++s.next_point == data.size()) s.next_point = 0;
      s.point->bindText(0, id);  // reuses the bound text buffer (SQLite binds SQLITE_STATIC): no allocation per query
      s.point->forEachRow(consume);
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, found, static_cast<std::uint64_t>(state.iterations()), "rows found");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

// SELECT * FROM orders WHERE createdAt >= ? ORDER BY createdAt LIMIT 50
void queryRangeLimit50Plasma(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t rows = 0, touched = 0;
    const std::function<bool(const plasma::RowView&)> consume = [&](const plasma::RowView& row) {
      touched += touchOrder(row);
      ++rows;
      return true;
    };
    const WallClock clock;
    for (auto _ : state) {
      s.range->bind(0, plasma::Value(data.rangeStart(s.next_range++)));
      s.range->forEachRow(consume);
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, rows, static_cast<std::uint64_t>(state.iterations()) * data.rangeRows(), "rows in ranges");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

// SELECT id, amount FROM orders WHERE status = 3 AND amount > 50000 (full scan)
void queryScanFilterPlasma(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const QueryDataset& data = QueryDataset::get();
    const Orders& o = orders();
    std::uint64_t rows = 0, touched = 0;
    const std::function<bool(const plasma::RowView&)> consume = [&](const plasma::RowView& row) {
      touched += touchText(row.id()) + static_cast<std::uint64_t>(*row.get(o.amount));
      ++rows;
      return true;
    };
    const WallClock clock;
    for (auto _ : state) s.scan->forEachRow(consume);
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, rows, static_cast<std::uint64_t>(state.iterations()) * data.scanMatches(), "rows matched");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()) * data.orders(), seconds);
  });
}

// SELECT status, count(*), sum(amount), avg(amount) FROM orders GROUP BY status
void queryGroupByPlasma(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t counted = 0, groups = 0;
    double touched = 0;
    const std::function<bool(const plasma::ResultRow&)> consume = [&](const plasma::ResultRow& r) {
      ++groups;
      counted += static_cast<std::uint64_t>(r[1].asInt());
      touched += static_cast<double>(r[0].asInt() + r[2].asInt()) + r[3].asReal();
      return true;
    };
    const WallClock clock;
    for (auto _ : state) s.group_by->forEach(consume);
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    const auto iterations = static_cast<std::uint64_t>(state.iterations());
    expectCount(state, groups, iterations * kQueryStatuses, "groups");
    expectCount(state, counted, iterations * data.orders(), "rows counted");
    reportRate(state, iterations * data.orders(), seconds);
  });
}

// SELECT o.id, o.amount, c.name, c.region FROM orders o JOIN customers c ON o.customerId = c.id
// WHERE o.customerId = ?  (a random customer per query)
void queryJoinPlasma(benchmark::State& state) {
  guarded(state, [&] {
    QuerySide& s = side();
    const QueryDataset& data = QueryDataset::get();
    std::uint64_t rows = 0, expected = 0, touched = 0;
    const std::function<bool(const plasma::ResultRow&)> consume = [&](const plasma::ResultRow& r) {
      const std::string& id = r[0].asText();
      const std::string& name = r[2].asText();
      touched += id.size() + static_cast<unsigned char>(id.front()) + static_cast<std::uint64_t>(r[1].asInt()) +
                 name.size() + static_cast<unsigned char>(name.front()) + static_cast<std::uint64_t>(r[3].asInt());
      ++rows;
      return true;
    };
    const WallClock clock;
    for (auto _ : state) {
      const std::uint32_t customer = data.joinCustomer(s.next_join++);
      expected += data.ordersOfCustomer(customer);
      s.join->bindText(0, data.customerId(customer));
      s.join->forEach(consume);
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, rows, expected, "rows joined");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
    state.counters["rows_per_query"] =
        benchmark::Counter(state.iterations() > 0 ? static_cast<double>(rows) / static_cast<double>(state.iterations()) : 0.0);
  });
}

void closeQueryPlasma() noexcept { sideSlot().reset(); }

}  // namespace plasma_bench
