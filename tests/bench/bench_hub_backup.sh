#!/usr/bin/env bash
# bench_hub_backup.sh: `tundukd backup` and `tundukd restore` on a hub of N
# records (default 100k), with the real binaries on 127.0.0.1. Not in ctest
# and not in run.sh's table (it takes a few minutes to fill the hub); run
# it by hand:
#
#   tests/bench/bench_hub_backup.sh BIN_DIR [--n N] [--attach-mb M]
#
# Office A writes N ~2 KB records (bench_fill, 1,000 per transaction) and
# attaches M MiB (default 32) of random bytes to one of them, then pushes
# everything to the hub. Then, the hub serving:
#  - backup idle: wall time of `tundukd backup DIR` (the command, process
#    start included), the backup's bytes and the hub store's size on disk;
#  - backup under load: office B pushes 2,000 new records in one sync
#    while a backup runs: both times, and the sync's time alone before, so
#    the cost of a backup to a sync shows;
#  - restore: the hub stopped, `tundukd restore DIR` (hashes checked,
#    counts checked, store put in place).
# Prints a table; measures, asserts nothing about speed; exits non-zero
# only if a step fails.
set -euo pipefail

usage() { echo "usage: $0 BIN_DIR [--n N] [--attach-mb M]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BIN=$(cd "$1" && pwd); shift
N=100000 MB=32
while [ $# -gt 0 ]; do
  case $1 in
  --n) N=$2; shift 2 ;;
  --attach-mb) MB=$2; shift 2 ;;
  *) usage ;;
  esac
done
for b in tunduk tundukd bench_fill; do
  [ -x "$BIN/$b" ] || { echo "$0: no $BIN/$b (build first: make build)" >&2; exit 2; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/tk-bench-backup-XXXXXX")
HUB_PID=
cleanup() {
  [ -z "$HUB_PID" ] || { kill -TERM "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; }
  [ -n "${TK_BENCH_KEEP:-}" ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
export TUNDUKD_PASSPHRASE='bench hub passphrase, not a secret'
export TUNDUK_PASSPHRASE='bench office passphrase, not a secret'
unset TUNDUK_HOME TUNDUKD_HOME
T0=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - T0)) "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { print $1 }"; } # arithmetic on decimals (no bc)
hubd() { "$BIN/tundukd" --home "$W/hub" "$@"; }
office() { local h=$1; shift; "$BIN/tunduk" --home "$h" "$@"; }

start_hub() {
  "$BIN/tundukd" --home "$W/hub" serve --listen "127.0.0.1:${PORT:-0}" 2>>"$W/hub.log" &
  HUB_PID=$!
  local i
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/.*listening addr=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/hub.log" | tail -1)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "$0: the hub did not start" >&2
  exit 1
}
stop_hub() { kill -TERM "$HUB_PID"; wait "$HUB_PID"; HUB_PID=; }
enroll() { # HOME NAME
  office "$1" init --name "$2" --kdf interactive >/dev/null
  office "$1" enroll "$(hubd device add "$2" --vault v:rw --address "127.0.0.1:$PORT")" >/dev/null
}

hubd init --name bench-hub --kdf interactive >/dev/null
start_hub
enroll "$W/a" office-a
enroll "$W/b" office-b
office "$W/a" vault create v >/dev/null
say "filling office A with $N records"
"$BIN/bench_fill" "$W/a" v "$N" --batch 1000 >/dev/null
rec=$(office "$W/a" list --json | jq -r '.[0].id')
head -c $((MB << 20)) /dev/urandom >"$W/big.bin"
office "$W/a" attach "$rec" "$W/big.bin" --name big.bin >/dev/null
say "pushing them to the hub"
t0=$(now)
office "$W/a" sync >/dev/null
push_s=$(secs "$t0" "$(now)")
office "$W/a" vault grant v "$(office "$W/b" whoami)" >/dev/null
office "$W/a" sync >/dev/null
office "$W/b" sync >/dev/null
revs=$(sqlite3 "$W/hub/store.db" "select count(*) from revisions")
store_bytes=$(du -cb "$W/hub"/store.db* | tail -1 | cut -f1)

say "backup, idle"
t0=$(now)
hubd backup "$W/bk1" --json >"$W/bk1.json"
idle_s=$(secs "$t0" "$(now)")
bk_bytes=$(jq -r .bytes "$W/bk1.json")

say "a sync of 2,000 records alone, then one with a backup running"
"$BIN/bench_fill" "$W/b" v 2000 7 --batch 1000 --first $((N + 1)) >/dev/null
t0=$(now)
office "$W/b" sync >/dev/null
sync_alone_s=$(secs "$t0" "$(now)")
"$BIN/bench_fill" "$W/b" v 2000 8 --batch 1000 --first $((N + 2001)) >/dev/null
t0=$(now)
(office "$W/b" sync >"$W/sync-load.out" && now >"$W/sync-end") &
SYNC_PID=$!
sleep 0.1 # the sync has connected and is pushing when the backup starts
t1=$(now)
hubd backup "$W/bk2" --json >"$W/bk2.json"
load_s=$(secs "$t1" "$(now)")
wait "$SYNC_PID"
sync_load_s=$(secs "$t0" "$(cat "$W/sync-end")")

say "restore (hub stopped)"
stop_hub
t0=$(now)
hubd restore "$W/bk1" >/dev/null
restore_s=$(secs "$t0" "$(now)")

printf '\n%-52s %12s\n' "hub backup ($(nproc) cores, $(sqlite3 --version | cut -d' ' -f1) sqlite)" value
printf '%-52s %12s\n' "revisions on the hub" "$revs"
printf '%-52s %12s\n' "attachment on the hub (MiB)" "$MB"
printf '%-52s %12.1f\n' "hub store on disk (MiB, store.db + WAL)" "$(calc "$store_bytes / 1048576")"
printf '%-52s %12.1f\n' "initial push of everything (s, for scale)" "$push_s"
printf '%-52s %12.2f\n' "backup, hub idle (s, the command)" "$idle_s"
printf '%-52s %12.1f\n' "backup size (MiB, every file)" "$(calc "$bk_bytes / 1048576")"
printf '%-52s %12.0f\n' "backup rate (MiB/s)" "$(calc "$bk_bytes / 1048576 / $idle_s")"
printf '%-52s %12.2f\n' "backup while office B pushes 2,000 records (s)" "$load_s"
printf '%-52s %12.2f\n' "that push alone (s)" "$sync_alone_s"
printf '%-52s %12.2f\n' "that push with the backup running (s)" "$sync_load_s"
printf '%-52s %12.2f\n' "restore, hashes and counts checked (s)" "$restore_s"
