// The deterministic simulation (tests/sim/simulation.hpp) over many seeds.
//
//   plasma_tests "[sim]"                                 2,000 seeds from 1
//   PLASMA_SIM_SEEDS=20000 plasma_tests "[sim]"          more seeds
//   PLASMA_SIM_BASE=random plasma_tests "[sim]"          a random first seed (printed)
//   PLASMA_SIM_SEED=1234 plasma_tests "[sim]"            replay one seed exactly
//
// The databases live under /dev/shm when it exists (tmpfs: the simulation
// does not test the disk, the crash harness does).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "sim/simulation.hpp"

namespace {

std::string simBaseDir() {
  const std::filesystem::path shm = "/dev/shm";
  const std::filesystem::path root = std::filesystem::exists(shm) ? shm : std::filesystem::temp_directory_path();
  return (root / ("plasma-sim-" + std::to_string(::getpid()))).string();
}

std::uint64_t envU64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

}  // namespace

TEST_CASE("sim: seeded schedules keep every mutation exactly once and converge", "[sim]") {
  const std::string base = simBaseDir();
  std::uint64_t first = 1, count = envU64("PLASMA_SIM_SEEDS", 2000);
  if (const char* one = std::getenv("PLASMA_SIM_SEED"); one != nullptr && *one != '\0') {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  } else if (const char* b = std::getenv("PLASMA_SIM_BASE"); b != nullptr && *b != '\0') {
    first = std::string(b) == "random" ? std::random_device{}() : std::strtoull(b, nullptr, 10);
  }
  std::printf("sim: seeds %llu..%llu (replay one: PLASMA_SIM_SEED=<seed> plasma_tests \"[sim]\")\n",
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1));
  const auto t0 = std::chrono::steady_clock::now();
  sim::SimResult total;
  std::uint64_t failed = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const sim::SimResult r = sim::runSeed(seed, base);
    total.pushes += r.pushes;
    total.pulls += r.pulls;
    total.mutations += r.mutations;
    total.restarts += r.restarts;
    total.compactions += r.compactions;
    total.dropped += r.dropped;
    total.duplicated += r.duplicated;
    total.events += r.events;
    if (!r.failure.empty()) {
      ++failed;
      std::printf("sim: seed %llu FAILED: %s\n  replay: PLASMA_SIM_SEED=%llu plasma_tests \"[sim]\"\n",
                  static_cast<unsigned long long>(seed), r.failure.c_str(), static_cast<unsigned long long>(seed));
      INFO("seed " << seed << ": " << r.failure);
      CHECK(r.failure.empty());
      if (failed >= 5) break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "sim: %llu seeds in %.1f s (%.0f seeds/s): %llu mutations, %llu pushes, %llu pulls, %llu node restarts, "
      "%llu compactions, %llu messages dropped, %llu duplicated, %llu events\n",
      static_cast<unsigned long long>(count), secs, static_cast<double>(count) / secs,
      static_cast<unsigned long long>(total.mutations), static_cast<unsigned long long>(total.pushes),
      static_cast<unsigned long long>(total.pulls), static_cast<unsigned long long>(total.restarts),
      static_cast<unsigned long long>(total.compactions), static_cast<unsigned long long>(total.dropped),
      static_cast<unsigned long long>(total.duplicated), static_cast<unsigned long long>(total.events));
  CHECK(failed == 0);
  // The schedules exercised what they claim to.
  if (count >= 100) {
    CHECK(total.restarts > 0);
    CHECK(total.compactions > 0);
    CHECK(total.dropped > 0);
    CHECK(total.duplicated > 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
}

TEST_CASE("sim: the same seed replays the same schedule", "[sim]") {
  const std::string base = simBaseDir();
  for (std::uint64_t seed : {7u, 4242u}) {
    const sim::SimResult a = sim::runSeed(seed, base), b = sim::runSeed(seed, base);
    CHECK(a.failure == b.failure);
    CHECK(a.events == b.events);
    CHECK(a.pushes == b.pushes);
    CHECK(a.pulls == b.pulls);
    CHECK(a.dropped == b.dropped);
    CHECK(a.restarts == b.restarts);
  }
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
}

TEST_CASE("sim: the checker catches a mutation applied twice", "[sim]") {
  // Sabotage: one `inc` applied a second time behind the server's back.
  const std::string base = simBaseDir();
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const sim::SimResult r = sim::runSeed(seed, base, {.double_apply_after_push = 3});
    if (!r.failure.empty()) ++caught;
  }
  CHECK(caught >= 15);
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
}
