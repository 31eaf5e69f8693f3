// bench/bench_plasma.cpp — the plasma side, through the public API only.
//
// Read data set: table `kv` {id, value (100-byte text), n (integer)} loaded
// with rowCount() rows in write transactions of kLoadBatchRows under
// Durability::NoSync (loading is untimed; reads do not depend on durability).
// Insert benchmarks use a second database opened with the default
// Durability::Full, i.e. every commit synced, like the raw LMDB baseline.
#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include <plasma/plasma.hpp>

#include "bench_common.hpp"

namespace plasma_bench {

namespace {

struct Kv : plasma::Table {
  explicit Kv(const char* name, plasma::TableOptions options = {}) : Table(name, std::move(options)) {}
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn value{this, plasma::text("value")};
  plasma::IntColumn n{this, plasma::integer("n")};
};

// `kv` is an ordinary (logged) table; `kv_nolog` is the same table with
// changeLogSuppressed, to show what the change log costs on insert.
const Kv& kv() {
  static const Kv table("kv");
  return table;
}
const Kv& kvNoLog() {
  static const Kv table("kv_nolog", plasma::TableOptions{.change_log_suppressed = true});
  return table;
}
const plasma::Schema& schema() {
  static const plasma::Schema s = plasma::defineSchema("bench-v1", {kv(), kvNoLog()});
  return s;
}

struct PlasmaSide {
  std::optional<plasma::Database> read_db;
  std::optional<plasma::Database> insert_db;
  std::size_t next_get = 0;        // position in Dataset's shuffled order, kept across runs
  std::uint64_t next_value = 0;    // value seed for inserted rows
};

std::unique_ptr<PlasmaSide>& sideSlot() {
  static std::unique_ptr<PlasmaSide> side;
  return side;
}
PlasmaSide& side() {
  auto& s = sideSlot();
  if (!s) s = std::make_unique<PlasmaSide>();
  return *s;
}

plasma::RowInput rowFor(const Kv& t, std::string id, std::uint64_t i) {
  return {{t.id, std::move(id)}, {t.value, valueFor(i)}, {t.n, static_cast<std::int64_t>(i)}};
}

void load(plasma::Database& db, const Dataset& data) {
  const Kv& t = kv();
  std::vector<plasma::RowInput> batch;
  batch.reserve(kLoadBatchRows);
  for (std::size_t start = 0; start < data.size(); start += kLoadBatchRows) {
    const std::size_t end = std::min(data.size(), start + kLoadBatchRows);
    batch.clear();
    for (std::size_t i = start; i < end; ++i) batch.push_back(rowFor(t, std::string(data.id(i)), i));
    const auto result = db.write([&](plasma::Tx& tx) { return tx.insert(t).values(batch); });
    if (result.rows_affected != end - start) {
      throw std::runtime_error("plasma load: insert reported " + std::to_string(result.rows_affected) +
                               " rows, expected " + std::to_string(end - start));
    }
  }
}

plasma::Database& readDb() {
  auto& s = side();
  if (!s.read_db) {
    const Dataset& data = Dataset::get();
    plasma::OpenOptions options;
    options.durability = plasma::Durability::NoSync;  // loading only
    auto db = plasma::Database::open(workDir() / "plasma_read", schema(), options);
    db.ensureSchema();
    load(db, data);
    flushWorkDir();
    s.read_db.emplace(std::move(db));
  }
  return *s.read_db;
}

plasma::Database& insertDb() {
  auto& s = side();
  if (!s.insert_db) {
    auto db = plasma::Database::open(workDir() / "plasma_insert", schema());  // Durability::Full
    db.ensureSchema();
    s.insert_db.emplace(std::move(db));
  }
  return *s.insert_db;
}

void insertBatch(benchmark::State& state, const Kv& t) {
  plasma::Database& db = insertDb();
  auto& s = side();
  std::vector<plasma::RowInput> batch;
  batch.reserve(kInsertBatchRows);
  const WallClock clock;
  for (auto _ : state) {
    // Building the rows is part of the cost an application pays; the raw
    // side likewise makes its ids and values inside the loop.
    batch.clear();
    for (std::size_t k = 0; k < kInsertBatchRows; ++k) batch.push_back(rowFor(t, plasma::newId(), s.next_value++));
    const auto result = db.write([&](plasma::Tx& tx) { return tx.insert(t).values(batch); });
    if (result.rows_affected != kInsertBatchRows) {
      expectCount(state, result.rows_affected, kInsertBatchRows, "rows inserted");
      break;
    }
  }
  const double seconds = clock.seconds();
  reportRate(state, static_cast<std::uint64_t>(state.iterations()) * kInsertBatchRows, seconds);
}

}  // namespace

// Each get in its own read transaction (db.read), reading the row in place.
void pointGetPlasma(benchmark::State& state) {
  guarded(state, [&] {
    const plasma::Database& db = readDb();
    const Dataset& data = Dataset::get();
    const Kv& t = kv();
    std::size_t& pos = side().next_get;
    std::uint64_t found = 0;
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      const std::string_view id = data.shuffledId(pos);
      if (++pos == data.size()) pos = 0;
      db.read([&](const plasma::ReadTx& r) {
        const auto row = r.get(t, id);
        if (!row) return;
        const auto value = row->get(t.value);
        if (!value || value->empty()) return;
        ++found;
        touched += value->size() + static_cast<unsigned char>(value->front());
      });
    }
    const double seconds = clock.seconds();
    benchmark::DoNotOptimize(touched);
    expectCount(state, found, static_cast<std::uint64_t>(state.iterations()), "rows found");
    reportRate(state, static_cast<std::uint64_t>(state.iterations()), seconds);
  });
}

void insertBatchPlasma(benchmark::State& state) {
  guarded(state, [&] { insertBatch(state, kv()); });
}

void insertBatchPlasmaNoLog(benchmark::State& state) {
  guarded(state, [&] { insertBatch(state, kvNoLog()); });
}

// One read transaction per pass; reads the value column of every row in place.
void fullScanPlasma(benchmark::State& state) {
  guarded(state, [&] {
    const plasma::Database& db = readDb();
    const Kv& t = kv();
    const std::uint64_t expected = Dataset::get().size();
    std::uint64_t touched = 0;
    const WallClock clock;
    for (auto _ : state) {
      std::uint64_t rows = 0;
      db.read([&](const plasma::ReadTx& r) {
        r.scan(t, [&](const plasma::RowView& row) {
          const auto value = row.get(t.value);
          if (value && !value->empty()) {
            ++rows;
            touched += value->size() + static_cast<unsigned char>(value->front());
          }
          return true;
        });
      });
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

void closePlasma() noexcept { sideSlot().reset(); }

}  // namespace plasma_bench
