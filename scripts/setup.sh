#!/usr/bin/env bash
# Installs the Debian (bookworm) packages plasma needs to build, test and
# benchmark, and only those that are missing. Idempotent: when everything is
# present it makes no network call and returns in well under a second.
#
#   scripts/setup.sh              # the build/test dependencies
#   scripts/setup.sh python3      # ... plus extra packages
#   scripts/setup.sh bench        # ... plus what only ./plasma bench needs: python3, wrk,
#                                 #     nginx-light, gnuplot-nox (never installed by build/test)
#
# Runs apt-get directly as root, through sudo otherwise.
# PLASMA_SKIP_SETUP=1 skips it (for machines whose dependencies come from elsewhere).
set -euo pipefail

# Keep this list in sync with docs/building.md. Debian's default libboost-dev
# is 1.74; plasma needs Boost >= 1.81, hence the versioned boost packages.
REQUIRED_PACKAGES=(
  cmake
  ninja-build
  g++
  pkg-config
  ccache
  liblmdb-dev
  lmdb-utils
  flatbuffers-compiler
  libflatbuffers-dev
  liburing-dev
  libboost1.81-dev
  libboost-json1.81-dev
  libboost-system1.81-dev
  libboost-url1.81-dev
  libsodium-dev
  libxxhash-dev
  libbenchmark-dev
  catch2
  libsqlite3-dev
)

log() { printf '[setup] %s\n' "$*" >&2; }

if [[ "${PLASMA_SKIP_SETUP:-0}" == "1" ]]; then
  log "PLASMA_SKIP_SETUP=1: not checking system packages"
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  log "this is not a Debian-based system (no dpkg-query/apt-get)."
  log "install these packages (or their equivalents) yourself, then rerun with PLASMA_SKIP_SETUP=1:"
  log "  ${REQUIRED_PACKAGES[*]}"
  exit 1
fi

is_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]]
}

# `bench` stands for the benchmark-only packages (scripts/bench/run.sh).
BENCH_PACKAGES=(python3 wrk nginx-light gnuplot-nox)
extra=()
for arg in "$@"; do
  if [[ "$arg" == "bench" ]]; then
    extra+=("${BENCH_PACKAGES[@]}")
  else
    extra+=("$arg")
  fi
done

missing=()
for pkg in "${REQUIRED_PACKAGES[@]}" "${extra[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all required packages are installed"
  exit 0
fi

log "missing packages: ${missing[*]}"

as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "not running as root and sudo is not available; as root, run:"
    log "  apt-get update && apt-get install -y ${missing[*]}"
    exit 1
  fi
  as_root=(sudo)
fi

apt_env=(env DEBIAN_FRONTEND=noninteractive)
log "running apt-get update"
"${as_root[@]}" "${apt_env[@]}" apt-get update -q
log "installing: ${missing[*]}"
"${as_root[@]}" "${apt_env[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# Verify: apt-get can succeed and still leave a package unconfigured.
still_missing=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
  log "still not installed after apt-get: ${still_missing[*]}"
  exit 1
fi
log "installed ${#missing[@]} package(s)"
