#!/usr/bin/env bash
# The long versions of the crash-safety, disk-full, link-fault and load
# tests (issue 7), one command (fuzzing has its own: make fuzz-long):
#
#   tools/reliability-long.sh [BIN_DIR]        (default build/bin; an ASan
#                                               build, build-asan/bin, is the
#                                               stricter run)
#
# Runs tests/integration/crash_hub.sh with 60 SIGKILLs of the hub while
# three offices push (TK_CRASH_KILLS), crash_office.sh with 40 SIGKILLs of
# an office mid-pull (TK_CRASH_OFFICE_KILLS), crash_attach.sh with 20 SIGKILLs of
# the hub and 20 of an office in the middle of an attachment's chunks
# (TK_CRASH_ATTACH_KILLS), and disk_full.sh on tmpfs
# and again on the RLIMIT_FSIZE fallback, faults_link.sh for 200 rounds of
# random link faults (TK_FAULT_ROUNDS), and load_hub.sh with 1,000 syncing
# clients and 5,000 idle connections (TK_LOAD_CLIENTS, TK_LOAD_IDLE). TK_SEED makes the runs
# reproducible (each test prints its seed). Logs go to
# ${TK_RELIABILITY_LOGS:-$TMPDIR/tk-reliability-<time>}; the summary
# prints the kills survived, the acknowledged revisions checked and the
# revisions lost (always 0: any loss fails the test that found it, and the
# summary says FAILED). Exit status 0 only when every run passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
bin=$(cd "${1:-build/bin}" && pwd) || { echo "no binaries in ${1:-build/bin}" >&2; exit 2; }
for b in tunduk tundukd tk_fill; do
  [ -x "$bin/$b" ] || { echo "$bin/$b is missing: build first" >&2; exit 2; }
done
logs=${TK_RELIABILITY_LOGS:-${TMPDIR:-/tmp}/tk-reliability-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$logs"
export TK_BIN_DIR=$bin TK_SOURCE_DIR=$PWD
export TK_CRASH_KILLS=${TK_CRASH_KILLS:-60}
export TK_CRASH_OFFICE_KILLS=${TK_CRASH_OFFICE_KILLS:-40}
echo "binaries $bin, logs $logs"
echo "hub kills $TK_CRASH_KILLS, office kills $TK_CRASH_OFFICE_KILLS${TK_SEED:+, seed $TK_SEED}"

failed=0
# run NAME ENV... SCRIPT: one test, its log in $logs/NAME.log.
run() {
  local name=$1; shift
  local t0=$SECONDS rc=0
  env "$@" >"$logs/$name.log" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    printf '%-16s ok      %4d s\n' "$name" $((SECONDS - t0))
  else
    printf '%-16s FAILED  %4d s  (exit %d; see %s)\n' "$name" $((SECONDS - t0)) "$rc" \
      "$logs/$name.log"
    grep -E '^FAIL|seed ' "$logs/$name.log" | sed 's/^/                  /'
    failed=1
  fi
}
it=tests/integration
run crash_hub bash "$it/crash_hub.sh"
run crash_office bash "$it/crash_office.sh"
run crash_attach TK_CRASH_KILLS="${TK_CRASH_ATTACH_KILLS:-20}" bash "$it/crash_attach.sh"
if [ "$(id -u)" = 0 ]; then
  run disk_full_tmpfs TK_DISKFULL_MODE=tmpfs bash "$it/disk_full.sh"
else
  echo "disk_full_tmpfs  not run: mounting a tmpfs needs root (the fsize run stands in)"
fi
run disk_full_fsize TK_DISKFULL_MODE=fsize bash "$it/disk_full.sh"
run faults_link TK_FAULT_ROUNDS="${TK_FAULT_ROUNDS:-200}" bash "$it/faults_link.sh"
run load_hub TK_LOAD_CLIENTS="${TK_LOAD_CLIENTS:-1000}" TK_LOAD_IDLE="${TK_LOAD_IDLE:-5000}" \
  bash "$it/load_hub.sh"

# field NAME KEY: KEY=value from NAME's RESULT line.
field() {
  sed -n "s/^RESULT .* $2=\([0-9]*\).*/\1/p" "$logs/$1.log" | tail -1
}
hk=$(field crash_hub kills) hc=$(field crash_hub acked_checked) hl=$(field crash_hub lost)
ok=$(field crash_office kills) oc=$(field crash_office checkpoint_revisions_checked)
ol=$(field crash_office lost)
echo
echo "hub SIGKILLs survived:    ${hk:-none} (acknowledged-revision checks: ${hc:-0}, lost: ${hl:-?})"
echo "office SIGKILLs survived: ${ok:-none} (revisions under the pull checkpoint checked: ${oc:-0}, lost: ${ol:-?})"
ak=$(field crash_attach hub_kills) al=$(field crash_attach lost)
echo "attachment transfers killed: ${ak:-none} hub and ${ak:-none} office SIGKILLs (chunks lost: ${al:-?})"
for f in disk_full_tmpfs disk_full_fsize; do
  [ -f "$logs/$f.log" ] && grep -q '^ok$' "$logs/$f.log" && echo "$f: pushes refused, nothing acknowledged lost, recovered"
done
if [ "$failed" != 0 ]; then
  echo "FAILED: see the logs above"
  exit 1
fi
echo "lost acknowledged revisions: 0"
