// tests/sim/simulation.hpp — a deterministic simulation of the sync protocol.
//
// The real plasma::sync::SyncServer on a real LMDB directory (NoSync: a
// simulated node restart closes the database cleanly and reopens it, so it
// keeps exactly the committed state — what a process crash keeps; what a
// system crash loses is the durability mode's business, tested by the crash
// harness) serves model clients through an injected transport: every request
// and response is encoded and decoded by the real codecs and travels as bytes
// through a simulated network that a seeded scheduler drops, delays,
// duplicates and reorders, with partitions, node restarts (down periods) and
// change-log compaction between the pages of pulls. Time is a simulated clock
// (milliseconds); nothing sleeps, and one seed always runs the same schedule.
//
// Invariants, checked while running and after quiescence:
//   - no mutation is lost or applied twice: an oracle replays the server's
//     reported outcomes on a map in the server's order and must match the
//     database after every push (the `inc` mutator is not idempotent); every
//     mutation a client made is processed exactly once; lastMutationID ends at
//     the client's last id; no (client, mutation id) appears twice in the log;
//   - cookies never go backwards, lastMutationIDChanges never go down;
//   - read-your-writes: when a client's pull confirms its mutation, the state
//     it received is the server's state at that cookie, which includes it;
//   - convergence after quiescence: every client holds exactly the server's
//     rows it may read; the change log replays to the tables; the index
//     agrees with a scan.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace sim {

struct SimOptions {
  // Test-only sabotage, to prove the checker catches a broken server: after
  // the Nth push the simulation applies one already-applied `inc` a second
  // time behind the server's back (0: never).
  int double_apply_after_push = 0;
};

struct SimResult {
  std::string failure;  // empty: every invariant held
  std::uint64_t pushes = 0, pulls = 0, mutations = 0, restarts = 0, compactions = 0, dropped = 0, duplicated = 0;
  std::uint64_t events = 0;
};

// Runs the schedule of `seed` on a fresh directory under `base_dir`.
SimResult runSeed(std::uint64_t seed, const std::string& base_dir, const SimOptions& options = {});

}  // namespace sim
