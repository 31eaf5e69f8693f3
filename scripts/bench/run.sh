#!/usr/bin/env bash
# scripts/bench/run.sh — every benchmark of plasma and its baselines in one run, then the report.
# Called by `./plasma bench` after it built build/ (Release, io_uring) and build-epoll/ (Release,
# epoll); see docs/benchmarks/README.md.
#
#   scripts/bench/run.sh [--quick] [--compare OLD.json] [--skip-gbench] [--benchmark_* ...]
#
# Stages (each writes into $PLASMA_BENCH_RUN_DIR, default build/bench-run/):
#  1. Google Benchmark (build/bench/plasma_bench): every suite, JSON, repetitions -> medians;
#     then the growth-curve sizes (point get, indexed range, pull since a cookie) in processes of
#     their own with PLASMA_BENCH_ROWS / PLASMA_BENCH_PULL_ROWS.
#  2. The sync load harness (plasma-sync-load) against a plasma-node started here: K clients
#     pushing and pulling, push throughput against K, idle WebSocket memory against N.
#  3. wrk against the node's pull endpoint (an up-to-date client's GET), nginx serving a small
#     static file and plasma-bare-beast, with io_uring (build/) and epoll (build-epoll/).
#  4. scripts/bench/report.py: docs/benchmarks/REPORT.md, charts, bench-results.json, summary.
# Every server is started on a free loopback port and stopped on exit (trap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

QUICK=0
COMPARE=""
SKIP_GBENCH=0
GBENCH_EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --compare)
      [[ $# -ge 2 ]] || { echo "run.sh: --compare needs a file (a bench-results.json)" >&2; exit 2; }
      COMPARE="$2"
      shift
      ;;
    --compare=*) COMPARE="${1#--compare=}" ;;
    --skip-gbench) SKIP_GBENCH=1 ;;
    --benchmark_*) GBENCH_EXTRA+=("$1") ;;
    *) echo "run.sh: unknown argument '$1' (expected --quick, --compare OLD.json, --benchmark_*)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n "$COMPARE" && ! -f "$COMPARE" ]]; then
  echo "run.sh: --compare: no such file: $COMPARE" >&2
  exit 2
fi

BIN=build
BIN_EPOLL=build-epoll
RUN="${PLASMA_BENCH_RUN_DIR:-build/bench-run}"
MODE=$([[ $QUICK == 1 ]] && echo quick || echo full)
# A quick run does not overwrite the committed report of a full run.
if [[ $QUICK == 1 ]]; then OUT="${PLASMA_BENCH_OUT:-build/bench-quick}"; else OUT="${PLASMA_BENCH_OUT:-docs/benchmarks}"; fi
T_START=$(date +%s)

log() { printf '[bench %4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() { printf 'plasma bench: %s\n' "$*" >&2; exit 1; }

for exe in "$BIN/bench/plasma_bench" "$BIN/examples/todo/plasma-node" "$BIN/tools/plasma-sync-load" \
  "$BIN/bench/plasma-bare-beast" "$BIN_EPOLL/examples/todo/plasma-node" "$BIN_EPOLL/bench/plasma-bare-beast"; do
  [[ -x "$exe" ]] || die "$exe is missing: run ./plasma bench (it builds build/ and build-epoll/ first)"
done
command -v wrk >/dev/null || die "wrk is not installed: run scripts/setup.sh bench (./plasma bench does), or apt-get install wrk"
NGINX=$(command -v nginx || true)
[[ -z "$NGINX" && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
[[ -n "$NGINX" ]] || die "nginx is not installed: run scripts/setup.sh bench (./plasma bench does), or apt-get install nginx-light"
command -v gnuplot >/dev/null || die "gnuplot is not installed: run scripts/setup.sh bench, or apt-get install gnuplot-nox"
command -v python3 >/dev/null || die "python3 is not installed"

rm -rf "$RUN"
mkdir -p "$RUN" "$OUT"
SCRATCH=$(mktemp -d /tmp/plasma-bench-run.XXXXXX)

# ---- processes we start, stopped on exit --------------------------------------------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A lot of sockets: the idle-WebSocket curve opens up to 10,000 on each side of loopback.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_listening <name> <cmd...>: runs cmd in the background, waits for "listening on
# http://HOST:PORT" on its stdout; sets STARTED_PID and STARTED_PORT.
start_listening() {
  local name="$1"
  shift
  local outf="$SCRATCH/$name.out"
  "$@" >"$outf" 2>"$SCRATCH/$name.err" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  for _ in $(seq 300); do
    if grep -q 'listening on http://' "$outf" 2>/dev/null; then
      STARTED_PORT=$(sed -n 's#.*listening on http://[^:]*:\([0-9]*\).*#\1#p' "$outf" | head -1)
      return 0
    fi
    kill -0 "$STARTED_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$SCRATCH/$name.err" >&2 || true
  die "$name did not start (command: $*)"
}

stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# start_node <name> <build dir> [node flags...]: a fresh data directory each time.
start_node() {
  local name="$1" dir="$2"
  shift 2
  mkdir -p "$SCRATCH/data-$name"
  start_listening "$name" "$dir/examples/todo/plasma-node" --listen 127.0.0.1:0 --data "$SCRATCH/data-$name" \
    --log-level warn --max-connections 30000 --map-size-mb 8192 "$@"
}

# ---- machine -----------------------------------------------------------------------------
{
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "cores=$(nproc)"
  echo "mem_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "mode=$MODE"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo "+uncommitted changes")"
  echo "nginx=$("$NGINX" -v 2>&1 | sed 's/.*version: //')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
} >"$RUN/machine.txt"

# ---- 1. Google Benchmark -----------------------------------------------------------------
if [[ $QUICK == 1 ]]; then
  REPS=3
  GB_ROWS=100000
  GB_FILTER='^(point_get/(plasma|lmdb|sqlite)|full_scan/(plasma|lmdb)|query_(point|range_limit50|scan_filter|group_by|join)/(plasma|sqlite)|live_update_select_N(10|1000)/(plasma_ivm|plasma_rerun)|push100_(1pusher|8pushers)_durable/(plasma|sqlite_triggers)|pull1000/(plasma|sqlite_triggers|lmdb_scan)|poke_fanout_(10|1000)/plasma|client_mutate_(durable|nometasync)/plasma)$'
  GB_MIN_TIME=0.1
  GROWTH_ROWS=(10000)
  PULL_GROWTH_ROWS=(10000)
else
  REPS=3
  GB_ROWS=1000000
  GB_FILTER='.'
  GB_MIN_TIME=0.5
  GROWTH_ROWS=(10000 100000)
  PULL_GROWTH_ROWS=(10000 1000000)
fi
# gbench <out.json> <filter> [env...]; GBENCH_TIMEOUT=seconds bounds it, GBENCH_SOFT=1 returns
# the failure instead of stopping the run.
gbench() {
  local out="$1" filter="$2"
  shift 2
  local bound=()
  [[ -n "${GBENCH_TIMEOUT:-}" ]] && bound=(timeout --signal=TERM --kill-after=10 "$GBENCH_TIMEOUT")
  if ! "${bound[@]}" env "$@" "$BIN/bench/plasma_bench" --benchmark_filter="$filter" --benchmark_repetitions="$REPS" \
    --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true \
    --benchmark_min_time="$GB_MIN_TIME" --benchmark_out="$out" --benchmark_out_format=json \
    "${GBENCH_EXTRA[@]}" >"$out.log" 2>&1; then
    tail -30 "$out.log" >&2
    [[ "${GBENCH_SOFT:-0}" == 1 ]] && return 1
    die "plasma_bench failed (log: $out.log)"
  fi
}
if [[ $SKIP_GBENCH == 0 ]]; then
  log "Google Benchmark: every suite at $GB_ROWS rows, $REPS repetitions (medians)"
  gbench "$RUN/gbench-main.json" "$GB_FILTER" PLASMA_BENCH_ROWS="$GB_ROWS"
  for rows in "${GROWTH_ROWS[@]}"; do
    log "Google Benchmark: growth curve, point get and indexed range at $rows rows"
    gbench "$RUN/gbench-rows-$rows.json" '^(point_get/(plasma|lmdb|sqlite)|query_range_limit50/(plasma|sqlite))$' \
      PLASMA_BENCH_ROWS="$rows"
  done
  # gbench_10m <what> <name> <filter> <env>: a 10M-row growth point, full mode only and bounded in
  # time (loading the stores dominates); on a timeout the report leaves it out and says so.
  gbench_10m() {
    local what="$1" name="$2" filter="$3" env="$4"
    [[ $QUICK == 0 && "${PLASMA_BENCH_10M:-1}" == 1 ]] || return 0
    log "Google Benchmark: growth curve, $what (at most ${PLASMA_BENCH_10M_TIMEOUT:-720} s)"
    if ! GBENCH_TIMEOUT="${PLASMA_BENCH_10M_TIMEOUT:-720}" GBENCH_SOFT=1 gbench "$RUN/gbench-$name-10000000.json" \
      "$filter" "$env=10000000"; then
      log "warning: the 10M-row point ($what) did not finish in time; the report leaves it out"
      rm -f "$RUN/gbench-$name-10000000.json"
      echo "${name}_10m=timeout" >>"$RUN/machine.txt"
    fi
  }
  # Five stores of 10M rows.
  gbench_10m "point get and indexed range at 10000000 rows" rows \
    '^(point_get/(plasma|lmdb|sqlite)|query_range_limit50/(plasma|sqlite))$' PLASMA_BENCH_ROWS
  for rows in "${PULL_GROWTH_ROWS[@]}"; do
    log "Google Benchmark: growth curve, pull since a cookie with $rows rows in the store"
    gbench "$RUN/gbench-pullrows-$rows.json" '^pull1000/(plasma|sqlite_triggers|lmdb_scan)$' \
      PLASMA_BENCH_PULL_ROWS="$rows"
  done
  # Both stores loaded through their push paths: about 2.5 min and 7 GB of memory here.
  gbench_10m "pull since a cookie with 10000000 rows in the store" pullrows \
    '^pull1000/(plasma|sqlite_triggers|lmdb_scan)$' PLASMA_BENCH_PULL_ROWS
  echo "gbench_rows=$GB_ROWS" >>"$RUN/machine.txt"
fi

# ---- 2. the sync load harness ------------------------------------------------------------
if [[ $QUICK == 1 ]]; then
  LOAD_SECONDS=3; CURVE_SECONDS=2; CURVE_CLIENTS=(1 8 64); CURVE_REPS=1; IDLE_WS=(100 1000)
else
  LOAD_SECONDS=10; CURVE_SECONDS=3; CURVE_CLIENTS=(1 2 4 8 16 32 64); CURVE_REPS=3; IDLE_WS=(100 1000 3000 10000)
fi
LOAD="$BIN/tools/plasma-sync-load"
for durability in wal wal-async; do
  log "sync load: 8 clients (4 watching pokes), $LOAD_SECONDS s, node --durability $durability"
  start_node "load-$durability" "$BIN" --durability "$durability"
  "$LOAD" --port "$STARTED_PORT" --node-pid "$STARTED_PID" --clients 8 --seconds "$LOAD_SECONDS" --durability "$durability" \
    --json "$RUN/load-$durability.json" >"$RUN/load-$durability.txt" 2>&1 || {
    cat "$RUN/load-$durability.txt" >&2
    die "plasma-sync-load failed"
  }
  cat "$RUN/load-$durability.txt" >&2
  stop_pid "$STARTED_PID"
done
log "sync load: push throughput against concurrent clients (${CURVE_CLIENTS[*]}), push only, durable"
for rep in $(seq "$CURVE_REPS"); do
  for k in "${CURVE_CLIENTS[@]}"; do
    start_node "curve-$k-$rep" "$BIN"
    "$LOAD" --port "$STARTED_PORT" --node-pid "$STARTED_PID" --clients "$k" --watchers 0 --no-pull \
      --seconds "$CURVE_SECONDS" --json "$RUN/curve-clients-$k-rep$rep.json" >"$RUN/curve-clients-$k-rep$rep.txt" 2>&1 || {
      cat "$RUN/curve-clients-$k-rep$rep.txt" >&2
      die "plasma-sync-load failed (clients $k)"
    }
    stop_pid "$STARTED_PID"
  done
done
log "sync load: idle WebSocket memory against connections (${IDLE_WS[*]})"
for n in "${IDLE_WS[@]}"; do
  start_node "idle-$n" "$BIN"
  "$LOAD" --port "$STARTED_PORT" --node-pid "$STARTED_PID" --clients 0 --seconds 0 --idle-ws "$n" \
    --json "$RUN/idle-ws-$n.json" >"$RUN/idle-ws-$n.txt" 2>&1 || {
    cat "$RUN/idle-ws-$n.txt" >&2
    die "plasma-sync-load --idle-ws $n failed"
  }
  grep 'idle websockets:' "$RUN/idle-ws-$n.txt" | head -1 >&2
  stop_pid "$STARTED_PID"
done

# ---- 3. wrk: pull endpoint vs nginx vs bare Beast, io_uring and epoll ---------------------
if [[ $QUICK == 1 ]]; then WRK_SECONDS=2; WRK_REPS=1; else WRK_SECONDS=5; WRK_REPS=3; fi
WRK_THREADS=2
WRK_CONNS=64
# The static file: about the size of an up-to-date client's empty pull response.
mkdir -p "$SCRATCH/www" "$SCRATCH/nginx"
printf '{"cookie":12345,"lastMutationIDChanges":{},"patch":[]}' >"$SCRATCH/www/static.json"
BODY_BYTES=$(stat -c %s "$SCRATCH/www/static.json")
# nginx's workers run as an unprivileged user: they must be able to read the file.
chmod 755 "$SCRATCH" "$SCRATCH/www"
chmod 644 "$SCRATCH/www/static.json"
NGINX_PORT=$(free_port)
cat >"$SCRATCH/nginx/nginx.conf" <<EOF
# One worker per core, as the node runs one I/O thread per core.
worker_processes $(nproc);
daemon off;
master_process on;
pid $SCRATCH/nginx/nginx.pid;
error_log $SCRATCH/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $SCRATCH/nginx/body;
  proxy_temp_path $SCRATCH/nginx/proxy;
  fastcgi_temp_path $SCRATCH/nginx/fastcgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $SCRATCH/www;
  }
}
EOF
"$NGINX" -t -p "$SCRATCH/nginx" -c "$SCRATCH/nginx/nginx.conf" >"$SCRATCH/nginx/test.log" 2>&1 || {
  cat "$SCRATCH/nginx/test.log" >&2
  die "nginx rejected its configuration"
}
"$NGINX" -p "$SCRATCH/nginx" -c "$SCRATCH/nginx/nginx.conf" >"$SCRATCH/nginx/out.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NGINX_PORT/static.json" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$NGINX_PORT/static.json" >/dev/null ||
  die "nginx does not serve $SCRATCH/www/static.json: $(tail -3 "$SCRATCH/nginx/error.log")"

declare -A WRK_URL WRK_PID
WRK_URL[nginx_static/epoll]="http://127.0.0.1:$NGINX_PORT/static.json"
WRK_PID[nginx_static/epoll]=$NGINX_PID
for backend in io_uring epoll; do
  dir=$([[ $backend == io_uring ]] && echo "$BIN" || echo "$BIN_EPOLL")
  start_listening "bare-$backend" "$dir/bench/plasma-bare-beast" --listen 127.0.0.1:0 --body-bytes "$BODY_BYTES"
  WRK_URL[bare_beast/$backend]="http://127.0.0.1:$STARTED_PORT/"
  WRK_PID[bare_beast/$backend]=$STARTED_PID
  start_node "wrk-node-$backend" "$dir" --durability full
  port=$STARTED_PORT
  WRK_PID[plasma_pull/$backend]=$STARTED_PID
  # An up-to-date client: one push, one pull for the cookie; wrk then repeats that client's
  # poll (GET with query parameters), whose patch is empty.
  curl -sf "http://127.0.0.1:$port/sync/push" -H 'Content-Type: application/json' -H 'X-User: wrk-u' -d '{
    "profileID":"wrk","clientGroupID":"wrk-g","pushVersion":1,"schemaVersion":"todos-v2",
    "mutations":[{"clientID":"wrk-c","id":1,"name":"createTodo","timestamp":0,
                  "args":{"id":"t1","title":"poll me","updatedAt":1}}]}' >/dev/null || die "push to the wrk node failed"
  q="clientGroupID=wrk-g&schemaVersion=todos-v2&profileID=wrk&pullVersion=1"
  cookie=$(curl -sf "http://127.0.0.1:$port/sync/pull?$q" -H 'X-User: wrk-u' | python3 -c 'import json,sys; print(json.load(sys.stdin)["cookie"])') ||
    die "pull from the wrk node failed"
  url="http://127.0.0.1:$port/sync/pull?$q&cookie=$cookie"
  body=$(curl -sf "$url" -H 'X-User: wrk-u')
  echo "$body" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["patch"]==[], d' ||
    die "the up-to-date pull is not empty: $body"
  echo "pull_body_$backend=$body" >>"$RUN/machine.txt"
  WRK_URL[plasma_pull/$backend]="$url"
done

cpu_ticks() {  # user+system ticks of a process and its children threads (for nginx: its workers too)
  local total=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    if [[ -r /proc/$p/stat ]]; then
      total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
    fi
  done
  echo "$total"
}
TICKS=$(getconf CLK_TCK)
log "wrk: $WRK_REPS x ${WRK_SECONDS}s per server, $WRK_THREADS threads, $WRK_CONNS connections"
echo -e "target\trep\trequests_per_s\tcpu_us_per_request\trequests\terrors" >"$RUN/wrk.tsv"
for rep in $(seq "$WRK_REPS"); do
  for target in plasma_pull/io_uring plasma_pull/epoll bare_beast/io_uring bare_beast/epoll nginx_static/epoll; do
    pid=${WRK_PID[$target]}
    c0=$(cpu_ticks "$pid")
    wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_SECONDS}s" -H 'X-User: wrk-u' "${WRK_URL[$target]}" \
      >"$RUN/wrk-${target//\//-}-$rep.txt" 2>&1 || die "wrk failed against $target"
    c1=$(cpu_ticks "$pid")
    python3 - "$RUN/wrk-${target//\//-}-$rep.txt" "$target" "$rep" "$((c1 - c0))" "$TICKS" >>"$RUN/wrk.tsv" <<'PY'
import re, sys
path, target, rep, ticks, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s*([0-9.]+)", text).group(1))
reqs = int(re.search(r"(\d+) requests in", text).group(1))
errs = 0
m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
if m: errs += int(m.group(1))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m: errs += sum(int(x) for x in m.groups())
cpu_us = ticks / hz * 1e6 / reqs if reqs else 0
print(f"{target}\t{rep}\t{rps:.0f}\t{cpu_us:.2f}\t{reqs}\t{errs}")
PY
    tail -1 "$RUN/wrk.tsv" >&2
  done
done
echo "wrk_threads=$WRK_THREADS" >>"$RUN/machine.txt"
echo "wrk_connections=$WRK_CONNS" >>"$RUN/machine.txt"
echo "wrk_seconds=$WRK_SECONDS" >>"$RUN/machine.txt"
echo "body_bytes=$BODY_BYTES" >>"$RUN/machine.txt"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.txt"
echo "duration_s=$(($(date +%s) - T_START))" >>"$RUN/machine.txt"

# ---- 4. the report ----------------------------------------------------------------------
log "report: $OUT/REPORT.md, charts, bench-results.json"
report_args=(--run "$RUN" --out "$OUT")
[[ -n "$COMPARE" ]] && report_args+=(--compare "$COMPARE")
python3 scripts/bench/report.py "${report_args[@]}"
log "done in $(($(date +%s) - T_START)) s"
