// The crash harness (tools/crash_harness.cpp) in short runs: kill -9 of the
// real node during pushes, and of a real plasma::client::Client during
// mutate/push/pull+rebase; and proof that its checker catches a lost row.
// The >= 50-kill runs are scripts/crash.sh.
#if defined(PLASMA_CRASH_HARNESS) && defined(PLASMA_NODE_BINARY)
#include <sys/wait.h>

#include <cstdio>
#include <random>
#include <string>

#include <catch2/catch.hpp>

namespace {

struct Run {
  int status = -1;
  std::string output;
};

Run harness(const std::string& flags) {
  const std::string cmd = std::string(PLASMA_CRASH_HARNESS) + " --node " + PLASMA_NODE_BINARY + " " + flags + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.output += buf;
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string seedFlag() {
  const std::uint64_t seed = std::random_device{}();
  return "--seed " + std::to_string(seed);
}

// The harness exited cleanly, reporting `what` (e.g. "8 kills") and that
// every check held after each of them.
void expectEveryCheckHeld(const Run& r, const std::string& what) {
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find(what) != std::string::npos);
  CHECK(r.output.find("every check held") != std::string::npos);
}

}  // namespace

TEST_CASE("crash: kill -9 of the node during pushes loses and duplicates nothing", "[crash]") {
  const Run r = harness("--kills 8 --clients 3 --max-seconds 120 " + seedFlag());
  expectEveryCheckHeld(r, "8 kills");
}

TEST_CASE("crash: kill -9 of the node in its default durability (wal) loses and duplicates nothing", "[crash]") {
  // Every restart recovers through the write-ahead log: the checkpoint's
  // meta pages put back, the records after it replayed.
  const Run r = harness("--durability wal --kills 8 --clients 3 --max-seconds 120 " + seedFlag());
  expectEveryCheckHeld(r, "8 kills");
  CHECK(r.output.find("durability wal") != std::string::npos);
}

TEST_CASE("crash: kill -9 of the node while it compacts its change log", "[crash]") {
  const Run r = harness("--compact --kills 5 --clients 3 --max-seconds 120 " + seedFlag());
  expectEveryCheckHeld(r, "5 kills");
}

TEST_CASE("crash: kill -9 of a client during mutate and rebase keeps its outbox and state", "[crash]") {
  const Run r = harness("--client-crash --kills 10 --max-seconds 120 " + seedFlag());
  expectEveryCheckHeld(r, "10 client kills");
}

TEST_CASE("crash: kill -9 of the processes of a client group keeps the shared store and runs each mutation once",
          "[crash]") {
  const Run r = harness("--client-crash --group-size 2 --kills 10 --max-seconds 120 " + seedFlag());
  expectEveryCheckHeld(r, "10 client kills");
}

TEST_CASE("crash: the harness reports a row deleted behind the node's back", "[crash]") {
  const Run r = harness("--kills 3 --clients 2 --sabotage --seed 1");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("VIOLATION") != std::string::npos);
}
#endif

#if defined(PLASMA_CRASH_HARNESS) && defined(PLASMA_NODE_BINARY)
TEST_CASE("faults: drops, resets, truncations, duplicates and delayed pokes through the fault proxy", "[faults]") {
  // Raw protocol clients and two real Clients (sync loop, WebSocket pokes)
  // through tools/fault_proxy.hpp; a new seeded fault profile per round.
  const Run r = harness("--faults --rounds 3 --round-ms 700 --node-kills 2 --clients 3 " + seedFlag());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("every check held") != std::string::npos);
  CHECK(r.output.find("round 3:") != std::string::npos);
}
#endif
