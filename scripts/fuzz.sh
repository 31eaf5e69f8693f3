#!/usr/bin/env bash
# scripts/fuzz.sh [seconds] [target...] — builds the libFuzzer targets
# (tests/fuzz, clang-14 with ASan+UBSan, in build-fuzz/) and runs each for
# `seconds` (default 60), starting from its seed corpus tests/fuzz/corpus/<target>/.
# New interesting inputs go to build-fuzz/corpus/<target>/ (the seeds stay
# as committed); a crash, sanitizer report, leak or hang stops that target,
# leaves the input in build-fuzz/artifacts/ and makes the script fail.
# Reproduce one: build-fuzz/tests/fuzz/<target> build-fuzz/artifacts/<file>.
#
# Environment: FUZZ_JOBS (targets run at once, default 1), FUZZ_ARGS (extra
# libFuzzer flags), CC/CXX (default clang-14/clang++-14).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET="${1:-60}"
[[ $# -gt 0 ]] && shift
ALL_TARGETS=(fuzz_sync_json fuzz_sync_fbs fuzz_row_verify fuzz_row_json fuzz_http fuzz_ws fuzz_wal)
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL_TARGETS[@]}")
BUILD=build-fuzz
JOBS="$(nproc 2>/dev/null || echo 2)"

say() { printf '\n==> %s\n' "$*" >&2; }

CC="${CC:-clang-14}"
CXX="${CXX:-clang++-14}"
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  say "Configuring $BUILD (clang, PLASMA_FUZZ=ON)"
  CC="$CC" CXX="$CXX" cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLASMA_FUZZ=ON
fi
say "Building the fuzz targets in $BUILD (-j$JOBS)"
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

mkdir -p "$BUILD/artifacts"
failed=()
run_one() {
  local t="$1"
  local seeds="tests/fuzz/corpus/$t"
  local work="$BUILD/corpus/$t"
  local log="$BUILD/fuzz-$t.log"
  mkdir -p "$work"
  local extra=()
  if [[ -n "${FUZZ_ARGS:-}" ]]; then read -r -a extra <<<"$FUZZ_ARGS"; fi
  # The network targets send each input to a node in the same process whose
  # threads allocate on their own schedule: libFuzzer's per-input leak check
  # would scan the heap after nearly every input (slow) and can blame memory
  # still in flight, so it is off there (the ASan suite checks the node for leaks).
  case "$t" in
    fuzz_http | fuzz_ws) extra=(-detect_leaks=0 "${extra[@]}") ;;
  esac
  "$BUILD/tests/fuzz/$t" "$work" "$seeds" -max_total_time="$SECONDS_PER_TARGET" -timeout=60 -rss_limit_mb=4096 \
    -max_len=65536 -artifact_prefix="$BUILD/artifacts/$t-" -print_final_stats=1 "${extra[@]}" >"$log" 2>&1
}
summary() {
  local t="$1" rc="$2" log="$BUILD/fuzz-$t.log"
  local execs cov
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
  cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)"
  if [[ "$rc" == 0 ]]; then
    printf '  %-16s ok      %8s execs in %ss, %s\n' "$t" "${execs:-?}" "$SECONDS_PER_TARGET" "${cov:-cov: ?}"
  else
    printf '  %-16s FAILED  (exit %s) — see %s; inputs in %s/artifacts/\n' "$t" "$rc" "$log" "$BUILD"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|abort' "$log" | head -20 | sed 's/^/      /'
  fi
}

say "Fuzzing ${TARGETS[*]} for ${SECONDS_PER_TARGET}s each"
declare -A rcs
if [[ "${FUZZ_JOBS:-1}" -gt 1 ]]; then
  declare -A pids
  for t in "${TARGETS[@]}"; do
    run_one "$t" &
    pids[$t]=$!
    while [[ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS}" ]]; do sleep 1; done
  done
  for t in "${TARGETS[@]}"; do
    if wait "${pids[$t]}"; then rcs[$t]=0; else rcs[$t]=$?; fi
  done
else
  for t in "${TARGETS[@]}"; do
    if run_one "$t"; then rcs[$t]=0; else rcs[$t]=$?; fi
  done
fi
say "Fuzzing results"
for t in "${TARGETS[@]}"; do
  summary "$t" "${rcs[$t]}"
  [[ "${rcs[$t]}" == 0 ]] || failed+=("$t")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: ${failed[*]} found a problem" >&2
  exit 1
fi
