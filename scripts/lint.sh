#!/usr/bin/env bash
# Style checks with the checked-in .clang-format and .clang-tidy (LLVM 14 on bookworm).
#
#   scripts/lint.sh                 # format check + clang-tidy on every C++ source
#   scripts/lint.sh --format        # format check only (fast)
#   scripts/lint.sh --fix           # reformat files in place with clang-format
#   scripts/lint.sh --tidy [FILE..] # clang-tidy only, on all sources or the given .cpp files
#
# clang-tidy needs a configured tree with compile_commands.json: it uses
# build-test/ (./plasma test) or build/ (./plasma build), whichever exists.
# Not part of CI yet: it reports, it does not gate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=all
files=()
for arg in "$@"; do
  case "$arg" in
    --format) mode=format ;;
    --fix) mode=fix ;;
    --tidy) mode=tidy ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) files+=("$arg") ;;
  esac
done

bash scripts/setup.sh clang-format clang-tidy

SOURCE_DIRS=(include engine query sync net crypto bench tests examples tools)

sources() {
  # Tracked and new (not ignored) files; generated code lives in build*/ and is ignored.
  git ls-files -co --exclude-standard -- "${SOURCE_DIRS[@]}" |
    grep -E '\.(cpp|cc|hpp|h)$' || true
}

run_format() {
  local list
  mapfile -t list < <(sources)
  [[ ${#list[@]} -gt 0 ]] || { echo "lint: no C++ sources"; return 0; }
  if [[ "$1" == "fix" ]]; then
    clang-format -i "${list[@]}"
    echo "lint: formatted ${#list[@]} files"
  else
    echo "lint: clang-format check of ${#list[@]} files"
    clang-format --dry-run -Werror "${list[@]}"
  fi
}

run_tidy() {
  local dir=""
  for d in build-test build; do
    if [[ -f "$d/compile_commands.json" ]]; then dir="$d"; break; fi
  done
  [[ -n "$dir" ]] || { echo "lint: no compile_commands.json; run ./plasma build first" >&2; return 1; }
  if [[ ${#files[@]} -gt 0 ]]; then
    clang-tidy -p "$dir" --quiet "${files[@]}"
  else
    echo "lint: clang-tidy over $dir/compile_commands.json"
    # Only our own translation units (not generated or third-party ones).
    run-clang-tidy -p "$dir" -quiet -j "$(nproc)" \
      "$(pwd)/($(IFS='|'; echo "${SOURCE_DIRS[*]}"))/"
  fi
}

case "$mode" in
  format) run_format check ;;
  fix) run_format fix ;;
  tidy) run_tidy ;;
  all)
    status=0
    run_format check || status=1
    run_tidy || status=1
    exit "$status"
    ;;
esac
