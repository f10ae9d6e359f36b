#!/usr/bin/env bash
# tools/fuzz.sh: builds the libFuzzer harnesses of tests/fuzz (clang, ASan+UBSan) in
# build-fuzz and fuzzes each one.
#
#   tools/fuzz.sh [SECONDS]          smoke run (make test): replay every committed corpus
#                                    (ctest label fuzz-smoke, so each crash-* regression input
#                                    is checked), then fuzz each harness SECONDS (default 20)
#                                    over a throw-away copy of its corpus; the committed
#                                    corpus never changes.
#   tools/fuzz.sh --long [SECONDS]   long run (make fuzz-long): SECONDS per harness (default
#                                    1800), and new inputs are merged into tests/fuzz/corpus/
#                                    (commit the ones worth keeping).
#   FUZZ_TARGETS="revision token" tools/fuzz.sh 60    only some harnesses.
#
# Harnesses run JOBS at a time (default: number of cores). Any crash, leak, timeout or
# sanitizer report fails the script; the input is left in build-fuzz/fuzz-artifacts/ and the
# log in build-fuzz/fuzz-logs/<target>.log. Reproduce with build-fuzz/fuzz/<target> <file>,
# minimize with build-fuzz/fuzz/<target> -minimize_crash=1 -runs=100000 <file>, then keep
# it as tests/fuzz/corpus/<target>/crash-<what>.
set -euo pipefail
cd "$(dirname "$0")/.."

long=0
if [ "${1:-}" = "--long" ]; then
  long=1
  shift
fi
secs=${1:-$([ $long = 1 ] && echo 1800 || echo 20)}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
targets=${FUZZ_TARGETS:-"frame_decode hub_session client_session revision body_json token addr config vault_log"}

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (apt-get install clang)" >&2
  exit 1
fi
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTK_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
make --no-print-directory -C build-fuzz -j"$jobs" >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# 1. Replay: every committed input, once (fast; fails on any regression).
(cd build-fuzz && ctest --output-on-failure -L fuzz-smoke -j"$jobs" | tail -n 3)

# 2. Fuzz. The Lua and sqlite harnesses free lazily (garbage collector, page cache), so
# libFuzzer would run a full leak scan after most inputs there (20x slower); they check
# leaks at exit instead (ASAN_OPTIONS above) and in the replay.
flags_for() {
  case "$1" in
  hub_session | client_session) echo "-max_len=65536 -detect_leaks=0" ;;
  revision) echo "-max_len=65536" ;;
  body_json) echo "-max_len=16384 -detect_leaks=0" ;;
  *) echo "" ;;
  esac
}

out=build-fuzz/fuzz-artifacts
logs=build-fuzz/fuzz-logs
mkdir -p "$out" "$logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/tunduk-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

run_one() {
  local t=$1 corpus=tests/fuzz/corpus/$1 dir=$work/$1
  mkdir -p "$dir"
  cp "$corpus"/* "$dir"/
  # shellcheck disable=SC2046
  if TMPDIR=$work build-fuzz/fuzz/"$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$out/$t-" $(flags_for "$t") \
    "$dir" >"$logs/$t.log" 2>&1; then
    if [ $long = 1 ]; then
      build-fuzz/fuzz/"$t" -merge=1 $(flags_for "$t") "$corpus" "$dir" \
        >>"$logs/$t.log" 2>&1
    fi
    echo "fuzz $t: ok, $(grep -m1 '^stat::number_of_executed_units' "$logs/$t.log" |
      awk '{print $2}') runs in ${secs}s"
  else
    echo "fuzz $t: FAILED (log $logs/$t.log, input $out/$t-*)" >&2
    grep -E 'ERROR|SUMMARY|assertion|#[0-9]+ .* in ' "$logs/$t.log" | head -n 20 >&2
    return 1
  fi
}

fail=0
pids=()
for t in $targets; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    sleep 1
  done
  run_one "$t" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail=1
done
if [ $fail = 1 ]; then
  echo "fuzz: a harness found a problem (see above)" >&2
  exit 1
fi
echo "fuzz: all harnesses ok (${secs}s each)"
