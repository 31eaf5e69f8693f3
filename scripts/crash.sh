#!/usr/bin/env bash
# Crash safety (issue 9): kill -9 the real node at random moments during
# pushes from several clients (>= 50 kills), then kill -9 a real client
# during mutate / push / pull+rebase (>= 50 kills), checking after every kill
# that every acknowledged mutation is there exactly once, the change log is
# gapless and replays to the table, lastMutationIDs match, and every client
# converges (tools/crash_harness.cpp).
#
#   scripts/crash.sh [BUILD_DIR] [extra harness flags, e.g. --seed 123 --kills 100]
#
# BUILD_DIR defaults to build-sim (configured Debug if missing). Each run
# prints its seed; `--seed S` replays a kill schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-sim}
shift || true
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLASMA_BUILD_BENCH=OFF
fi
ninja -C "$BUILD" -j2 plasma-node plasma-crash-harness
H="$BUILD/tools/plasma-crash-harness"
N="$BUILD/examples/todo/plasma-node"
echo "== node kills (durability full)"
"$H" --node "$N" --kills 50 --clients 4 --max-seconds 900 "$@"
echo "== node kills (durability wal, the node's default: recovery replays the write-ahead log)"
"$H" --node "$N" --durability wal --kills 50 --clients 4 --max-seconds 900 "$@"
echo "== node kills (durability wal-async)"
"$H" --node "$N" --durability wal-async --kills 50 --clients 4 --max-seconds 900 "$@"
echo "== node kills while it compacts its change log every 20 ms"
"$H" --node "$N" --compact --kills 50 --clients 4 --max-seconds 900 "$@"
echo "== client kills"
"$H" --node "$N" --client-crash --kills 50 --max-seconds 900 "$@"
echo "== client kills, two processes sharing the client directory (a client group)"
"$H" --node "$N" --client-crash --group-size 2 --kills 50 --max-seconds 900 "$@"
