// bench/bench_common.cpp — the shared data set and scratch directory.
#include "bench_common.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <numeric>
#include <random>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <plasma/database.hpp>

namespace plasma_bench {

namespace {

constexpr std::size_t kDefaultRows = 1'000'000;
constexpr std::uint64_t kShuffleSeed = 0x5eed'1234'abcdULL;
constexpr std::uint64_t kOrderSeed = 0x0bde'5eed'0000'0001ULL;  // query data set: order columns
constexpr std::uint64_t kParamSeed = 0x0bde'5eed'0000'0002ULL;  // query data set: parameters

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::filesystem::path& workDirSlot() {
  static std::filesystem::path dir;
  return dir;
}

}  // namespace

std::size_t rowCount() {
  static const std::size_t rows = [] {
    const char* env = std::getenv("PLASMA_BENCH_ROWS");
    if (env == nullptr || *env == '\0') return kDefaultRows;
    std::size_t n = 0;
    std::string_view s(env);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || n == 0) {
      throw std::invalid_argument("PLASMA_BENCH_ROWS must be a positive integer, got '" + std::string(s) + "'");
    }
    return n;
  }();
  return rows;
}

const Dataset& Dataset::get() {
  static const Dataset instance;
  return instance;
}

Dataset::Dataset() : rows_(rowCount()) {
  std::vector<std::string> ids;
  ids.reserve(rows_);
  for (std::size_t i = 0; i < rows_; ++i) {
    ids.push_back(plasma::newId());
    if (ids.back().size() != kIdBytes) {
      throw std::runtime_error("plasma::newId() returned " + std::to_string(ids.back().size()) +
                               " bytes, expected 36: '" + ids.back() + "'");
    }
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
    throw std::runtime_error("plasma::newId() returned a duplicate id");
  }
  sorted_.reserve(rows_ * kIdBytes);
  for (const auto& id : ids) sorted_ += id;

  std::vector<std::size_t> order(rows_);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937_64(kShuffleSeed));
  shuffled_.reserve(rows_ * kIdBytes);
  for (std::size_t i : order) shuffled_ += ids[i];
}

std::string printableFor(std::uint64_t seed, std::size_t bytes) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
  static_assert(kAlphabet.size() == 64);
  std::string out(bytes, '\0');
  std::uint64_t state = seed;
  std::uint64_t bits = 0;
  for (std::size_t k = 0; k < bytes; ++k) {
    if (k % 10 == 0) bits = splitmix64(state);  // 10 six-bit symbols per draw
    out[k] = kAlphabet[bits & 63];
    bits >>= 6;
  }
  return out;
}

std::string valueFor(std::uint64_t i) { return printableFor(i, kValueBytes); }

const QueryDataset& QueryDataset::get() {
  static const QueryDataset instance;
  return instance;
}

OrderFields QueryDataset::orderAt(std::size_t i) const noexcept {
  std::uint64_t state = kOrderSeed ^ (static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
  OrderFields f;
  f.customer = static_cast<std::uint32_t>(splitmix64(state) % kQueryCustomers);
  f.amount = static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(kAmountRange));
  f.status = static_cast<std::int64_t>(splitmix64(state) % kQueryStatuses);
  f.createdAt = kCreatedAtBase + static_cast<std::int64_t>(splitmix64(state) % (orders() * 1000));
  return f;
}

QueryDataset::QueryDataset() : base_(&Dataset::get()) {
  std::vector<std::string> ids;
  ids.reserve(kQueryCustomers);
  for (std::size_t c = 0; c < kQueryCustomers; ++c) ids.push_back(plasma::newId());
  std::sort(ids.begin(), ids.end());
  customer_ids_.reserve(kQueryCustomers * kIdBytes);
  for (const auto& id : ids) customer_ids_ += id;

  const std::size_t n = orders();
  orders_per_customer_.assign(kQueryCustomers, 0);
  std::vector<std::int64_t> created(n);
  for (std::size_t i = 0; i < n; ++i) {
    const OrderFields f = orderAt(i);
    ++orders_per_customer_[f.customer];
    if (f.status == kScanStatus && f.amount > kScanMinAmount) ++scan_matches_;
    created[i] = f.createdAt;
  }

  // Range starts in [min createdAt, the kRangeLimit-th largest createdAt], so
  // that every query finds a full page of kRangeLimit rows.
  range_rows_ = std::min<std::uint64_t>(n, static_cast<std::uint64_t>(kRangeLimit));
  const std::size_t top = n - range_rows_;
  std::nth_element(created.begin(), created.begin() + static_cast<std::ptrdiff_t>(top), created.end());
  const std::int64_t hi = created[top];
  const std::int64_t lo = *std::min_element(created.begin(), created.end());
  std::uint64_t state = kParamSeed;
  range_starts_.resize(kParams);
  join_customers_.resize(kParams);
  for (std::size_t k = 0; k < kParams; ++k) {
    range_starts_[k] = lo + static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(hi - lo + 1));
    join_customers_[k] = static_cast<std::uint32_t>(splitmix64(state) % kQueryCustomers);
  }
}

const std::filesystem::path& workDir() {
  auto& dir = workDirSlot();
  if (dir.empty()) {
    std::string tmpl = "/tmp/plasma_bench.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    }
    dir = tmpl;
  }
  return dir;
}

void removeWorkDir() noexcept {
  auto& dir = workDirSlot();
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  dir.clear();
}

void reportRate(benchmark::State& state, std::uint64_t items, double wall_seconds) {
  const double items_d = static_cast<double>(items);
  state.counters["items_per_second"] = benchmark::Counter(wall_seconds > 0 ? items_d / wall_seconds : 0.0);
  state.counters["items"] = benchmark::Counter(items_d);
}

void flushWorkDir() {
  const int fd = ::open(workDir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + workDir().string());
  const int rc = ::syncfs(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw std::system_error(err, std::generic_category(), "syncfs " + workDir().string());
}

void expectCount(benchmark::State& state, std::uint64_t found, std::uint64_t expected, const char* what) {
  if (found != expected) {
    state.SkipWithError((std::string(what) + ": expected " + std::to_string(expected) + ", got " +
                         std::to_string(found))
                            .c_str());
  }
}

}  // namespace plasma_bench
