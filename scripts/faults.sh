#!/usr/bin/env bash
# Faults on the wire (issue 9): raw protocol clients and real plasma Clients
# talk to the real node through a loopback fault proxy (tools/fault_proxy.hpp)
# that drops, delays and resets connections, truncates requests and answers,
# duplicates requests and delays/resets WebSocket pokes; each round draws a
# new seeded fault profile, and in 10 of the 20 rounds the node is also
# kill -9'd and restarted on its directory. Afterwards: every acknowledged
# mutation is on the node exactly once, the change log is gapless and replays
# to the table, and every client converges.
#
#   scripts/faults.sh [BUILD_DIR] [extra flags, e.g. --seed 123 --rounds 50]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-sim}
shift || true
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLASMA_BUILD_BENCH=OFF
fi
ninja -C "$BUILD" -j2 plasma-node plasma-crash-harness
"$BUILD/tools/plasma-crash-harness" --node "$BUILD/examples/todo/plasma-node" --faults --rounds 20 --round-ms 1000 --node-kills 10 "$@"
