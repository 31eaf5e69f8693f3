#!/usr/bin/env bash
# scripts/soak.sh — the load soak of the reliability issue: N idle WebSocket connections held
# open while K clients push and pull for S seconds against one plasma-node, with watchers that
# pull on pokes. Passes when there are no errors, no socket is closed by the node, no poke is
# lost and the node's heap does not keep growing; reports the memory per idle socket.
#
#   scripts/soak.sh [--idle-ws 10000] [--clients 8] [--seconds 60] [--durability full|nometasync]
#
# Uses build/ (Release): builds plasma-node and plasma-sync-load there if they are missing
# (./plasma bench or ./plasma build make them). Raises `ulimit -n` to the hard limit (each side
# of loopback needs a descriptor per socket). Outputs go to build/soak/ (soak.json, soak.txt,
# node.err). The node keeps its default WebSocket ping interval (15 s), so a 60 s soak also
# checks that idle sockets answering pings stay open.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

IDLE=10000
CLIENTS=8
SECONDS_=60
DURABILITY=full
while [[ $# -gt 0 ]]; do
  case "$1" in
    --idle-ws) IDLE="$2"; shift ;;
    --clients) CLIENTS="$2"; shift ;;
    --seconds) SECONDS_="$2"; shift ;;
    --durability) DURABILITY="$2"; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

NODE=build/examples/todo/plasma-node
LOAD=build/tools/plasma-sync-load
if [[ ! -x $NODE || ! -x $LOAD ]]; then
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$(nproc)" --target plasma-node plasma-sync-load
fi

need=$((IDLE + CLIENTS * 4 + 1024))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $need ]]; then
  echo "soak.sh: ulimit -n is $(ulimit -n) (hard limit $(ulimit -Hn)); $need descriptors are needed per process" >&2
  exit 1
fi

OUT=build/soak
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/plasma-soak.XXXXXX)
NODE_PID=""
cleanup() {
  if [[ -n $NODE_PID ]]; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NODE_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$NODE" --listen 127.0.0.1:0 --data "$DATA" --log-level warn --durability "$DURABILITY" \
  --max-connections $((IDLE + CLIENTS * 4 + 100)) >"$OUT/node.out" 2>"$OUT/node.err" &
NODE_PID=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's#.*listening on http://[^:]*:\([0-9]*\).*#\1#p' "$OUT/node.out" | head -1)
  [[ -n $PORT ]] && break
  sleep 0.1
done
[[ -n $PORT ]] || { cat "$OUT/node.err" >&2; echo "soak.sh: the node did not start" >&2; exit 1; }

echo "soak: $IDLE idle WebSockets + $CLIENTS clients pushing and pulling for $SECONDS_ s (node pid $NODE_PID, port $PORT, --durability $DURABILITY)"
status=0
"$LOAD" --port "$PORT" --node-pid "$NODE_PID" --clients "$CLIENTS" --seconds "$SECONDS_" --idle-ws "$IDLE" \
  --json "$OUT/soak.json" | tee "$OUT/soak.txt" || status=$?
metrics=$(curl -s "http://127.0.0.1:$PORT/metrics" || true)
echo "$metrics" >"$OUT/metrics.txt"
kill -0 "$NODE_PID" 2>/dev/null || { echo "soak: the node died" >&2; status=1; }

set +e
python3 - "$OUT/soak.json" "$status" <<'PY' | tee -a "$OUT/soak.txt"
import json, sys
d = json.load(open(sys.argv[1]))
status = int(sys.argv[2])
idle = d.get("idle_ws", {})
anon = d.get("node_rss_anon_series_bytes", [])
rss = d.get("node_rss_series_bytes", [])
def mib(x): return x / 1048576
verdicts = []
ok = status == 0
verdicts.append(f"errors {d['errors']}, lost pokes {d['lost_pokes']}, idle sockets opened {idle.get('opened')}/{idle.get('requested')}, "
                f"closed by the node {idle.get('closed_by_node')}, messages on idle sockets {idle.get('messages')}")
ok &= d["errors"] == 0 and d["lost_pokes"] == 0 and idle.get("failed", 1) == 0 and idle.get("closed_by_node", 1) == 0
verdicts.append(f"memory per idle socket: {idle.get('bytes_per_socket', 0):,.0f} bytes of RSS "
                f"({idle.get('anon_bytes_per_socket', 0):,.0f} anonymous)")
growth_ok = True
if len(anon) >= 6:
    third = len(anon) // 3
    mid = max(anon[third:2 * third])
    last = max(anon[2 * third:])
    growth = (last - mid) / mid * 100 if mid else 0
    # Unbounded growth would keep climbing through the last third; allow allocator noise.
    growth_ok = growth < 25
    verdicts.append(f"node heap (RssAnon): {mib(anon[0]):.1f} MiB after 1 s, {mib(mid):.1f} MiB max of the middle third, "
                    f"{mib(last):.1f} MiB max of the last third ({growth:+.1f}%); VmRSS (with LMDB's mapped pages) "
                    f"{mib(rss[0]):.1f} -> {mib(rss[-1]):.1f} MiB")
ok &= growth_ok
print(f"soak: {d['mutations_per_s']:,.0f} mutations/s, push p99 {d['push_ms']['p99']:.1f} ms, pull p99 {d['pull_ms']['p99']:.1f} ms, "
      f"poke->pull p99 {d['poke_to_pull_ms']['p99']:.1f} ms over {d['poke_to_pull_ms']['count']} pushes")
for v in verdicts:
    print("soak: " + v)
print("soak: PASS" if ok else "soak: FAIL")
sys.exit(0 if ok else 1)
PY
exit "${PIPESTATUS[0]}"
