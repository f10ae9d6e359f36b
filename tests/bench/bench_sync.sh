#!/usr/bin/env bash
# bench_sync.sh: the whole sync path with the real binaries on 127.0.0.1.
#
#   tests/bench/bench_sync.sh BIN_DIR [--n N] [--out FILE]
#
# A hub (tundukd) on an ephemeral port; office A enrolls and writes N ~2 KB
# records (bench_fill, one transaction each); A syncs (push, timed); a new
# office B enrolls, A grants it the vault, B's first sync pulls the N records
# (timed); then B syncs twice more with nothing new: the first of those
# still offers the hub the ids of everything B pulled (its push checkpoint
# starts at 0), the second is the steady state. Per phase it prints wall
# time of the command, the client's own exchange time, records/s, socket
# bytes both ways (TLS included), wire bytes per record against the encoded
# revision bytes B stores, round trips, and peak RSS of the office process
# (/usr/bin/time -v) and of the hub during the phase (VmHWM, reset before
# each phase through /proc/PID/clear_refs).
#
# The hub loads its default plugin folder; TK_BENCH_PLUGINS=DIR chooses
# another. Prints a table; with --out FILE also writes "key value" lines for run.sh.
# Measures, asserts nothing about speed; exits non-zero only if a step
# fails or B does not end up with exactly the N records, all verified.
set -euo pipefail

usage() { echo "usage: $0 BIN_DIR [--n N] [--out FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BIN=$(cd "$1" && pwd); shift
N=10000
OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --n) N=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || usage
for t in jq sqlite3; do
  command -v $t >/dev/null || { echo "bench_sync: needs $t (tools/deps.sh)" >&2; exit 2; }
done
for b in tunduk tundukd bench_fill; do
  [ -x "$BIN/$b" ] || { echo "bench_sync: no $BIN/$b (build first)" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/tk-bench-sync-XXXXXX")
HUB_PID=
cleanup() {
  if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill -TERM "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT

export TUNDUKD_PASSPHRASE='bench hub passphrase, not a secret'
export TUNDUK_PASSPHRASE='bench office passphrase, not a secret'
unset TUNDUK_HOME TUNDUKD_HOME
VAULT=v

now() { date +%s.%N; }
# a - b with three decimals
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "-" }'; }
div2() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mib() { awk -v k="$1" 'BEGIN { if (k > 0) printf "%.0f", k / 1024; else print "-" }'; }

TIMEV=
[ -x /usr/bin/time ] && TIMEV=/usr/bin/time
# office HOME ARGS...: runs tunduk; its peak RSS (KiB) lands in $W/rss
office() {
  local home=$1; shift
  if [ -n "$TIMEV" ]; then
    "$TIMEV" -v -o "$W/timev" "$BIN/tunduk" --home "$home" "$@"
    awk -F': *' '/Maximum resident set size/ { print $2 }' "$W/timev" >"$W/rss"
  else
    echo 0 >"$W/rss"
    "$BIN/tunduk" --home "$home" "$@"
  fi
}

hub_status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$HUB_PID/status"; }
hub_reset_hwm() { echo 5 >"/proc/$HUB_PID/clear_refs" 2>/dev/null || true; }

# ---- hub ------------------------------------------------------------------
"$BIN/tundukd" --home "$W/hub" init --kdf interactive >/dev/null
# start_hub [ARGS...]: serve on an ephemeral port; sets HUB_PID and PORT
start_hub() {
  "$BIN/tundukd" --home "$W/hub" serve --listen 127.0.0.1:0 "$@" >"$W/hub.log" 2>&1 &
  HUB_PID=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$W/hub.log" | head -1)
    [ -n "$PORT" ] && return 0
    kill -0 "$HUB_PID" 2>/dev/null || break
    sleep 0.1
  done
  wait "$HUB_PID" 2>/dev/null || true
  HUB_PID=
  return 1
}
NOTE=
if [ -n "${TK_BENCH_PLUGINS:-}" ]; then
  printf 'plugins = %s\n' "$TK_BENCH_PLUGINS" >"$W/tundukd.conf"
  start_hub --config "$W/tundukd.conf" || true
elif ! start_hub && grep -q 'plugins: cannot read' "$W/hub.log"; then
  # The bundled plugin folder is missing (an empty folder is not in git):
  # measure with no moderation rules rather than not at all, and say so.
  NOTE="hub's bundled plugin folder missing ($(grep -o 'cannot read [^:]*' "$W/hub.log" |
    head -1)); measured with an empty plugin folder, no moderation rules"
  mkdir -p "$W/plugins"
  printf 'plugins = %s\n' "$W/plugins" >"$W/tundukd.conf"
  start_hub --config "$W/tundukd.conf" || true
fi
[ -n "$PORT" ] || { cat "$W/hub.log" >&2; echo "bench_sync: hub did not start" >&2; exit 1; }
RULES=$(sed -n 's/.*moderation_rules=\([0-9]*\).*/\1/p' "$W/hub.log" | head -1)
ADDR=127.0.0.1:$PORT
HUB_IDLE_KB=$(hub_status VmRSS)

token() { "$BIN/tundukd" --home "$W/hub" device add "$1" --vault "$VAULT:rw" --address "$ADDR" 2>/dev/null; }

# ---- office A: enroll, fill --------------------------------------------------
office "$W/a" init --name office-a --kdf interactive >/dev/null
office "$W/a" vault create "$VAULT" >/dev/null
office "$W/a" enroll "$(token office-a)" >/dev/null
FILL=$("$BIN/bench_fill" "$W/a" "$VAULT" "$N")
FILL_S=$(echo "$FILL" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
JSON_BYTES=$(echo "$FILL" | sed -n 's/.*JSON bytes \([0-9]*\).*/\1/p')

# phase PREFIX HOME: one timed `tunduk sync --json`; sets PREFIX_* variables
phase() {
  local p=$1 home=$2 t0 t1
  hub_reset_hwm
  t0=$(now)
  office "$home" sync --json >"$W/$p.json"
  t1=$(now)
  eval "${p}_wall=$(sub "$t1" "$t0")"
  eval "${p}_rss=$(cat "$W/rss")"
  eval "${p}_hub=$(hub_status VmHWM)"
  local k
  for k in sent received duplicates bytes_in bytes_out round_trips seconds; do
    eval "${p}_$k=$(jq -r ".$k" "$W/$p.json")"
  done
  [ "$(jq '.rejected | length' "$W/$p.json")" = 0 ] ||
    { cat "$W/$p.json" >&2; echo "bench_sync: $p: revisions rejected" >&2; exit 1; }
}

phase push "$W/a"
[ "$push_sent" = "$N" ] || { echo "bench_sync: A pushed $push_sent of $N" >&2; exit 1; }

# ---- office B: enroll, grant, initial pull, no-op ----------------------------
office "$W/b" init --name office-b --kdf interactive >/dev/null
office "$W/b" enroll "$(token office-b)" >/dev/null
B_ID=$("$BIN/tunduk" --home "$W/b" whoami --json | jq -r .device)
office "$W/a" vault grant "$VAULT" "$B_ID" >/dev/null

phase pull "$W/b"
[ "$pull_received" = "$N" ] || { echo "bench_sync: B pulled $pull_received of $N" >&2; exit 1; }
phase reoffer "$W/b"
phase noop "$W/b"

HUB_END_KB=$(hub_status VmRSS)
kill -TERM "$HUB_PID"
wait "$HUB_PID" || true
HUB_PID=

read -r B_REVS ENC_BYTES < <(sqlite3 -separator ' ' "$W/b/store.db" \
  "select count(*), coalesce(sum(size), 0) from revisions")
[ "$B_REVS" = "$N" ] || { echo "bench_sync: B stores $B_REVS revisions, wanted $N" >&2; exit 1; }
VERIFY=$("$BIN/tunduk" --home "$W/b" verify)
echo "$VERIFY" | grep -q " $N verified, 0 failed" ||
  { echo "bench_sync: B verify: $VERIFY" >&2; exit 1; }
HUB_DISK=$(( $(stat -c %s "$W/hub/store.db") + $(stat -c %s "$W/hub/store.db-wal" 2>/dev/null || echo 0) ))

ENC_PER=$(div "$ENC_BYTES" "$N")
row() { # phase label, prefix, records moved
  local p=$2 n=$3 w s bi bo rt rss hub
  w=$(eval echo "\$${p}_wall"); s=$(eval echo "\$${p}_seconds")
  bi=$(eval echo "\$${p}_bytes_in"); bo=$(eval echo "\$${p}_bytes_out")
  rt=$(eval echo "\$${p}_round_trips"); rss=$(eval echo "\$${p}_rss"); hub=$(eval echo "\$${p}_hub")
  local rate=- per=- ratio=-
  if [ "$n" -gt 0 ]; then
    rate=$(div "$n" "$s")
    per=$(div $((bi + bo)) "$n")
    ratio=$(div2 $((bi + bo)) "$ENC_BYTES")
  fi
  printf "$FMT" "$1" "$(printf %.3f "$w")" "$(printf %.3f "$s")" "$rate" "$bo" "$bi" "$per" \
    "$ratio" "$rt" "$(mib "$rss")" "$(mib "$hub")"
}
FMT='| %-32s | %7s | %7s | %7s | %10s | %10s | %8s | %8s | %5s | %7s | %7s |\n'

printf 'sync benchmark: %s records of ~%s B JSON, %s B encoded each; hub and offices on %s\n' \
  "$N" "$(div "$JSON_BYTES" "$N")" "$ENC_PER" "$ADDR"
printf 'A wrote them with bench_fill in %s s (%s records/s, one transaction each)\n\n' \
  "$FILL_S" "$(div "$N" "$FILL_S")"
printf "$FMT" phase "wall s" "sync s" "rec/s" "bytes out" "bytes in" "wire/rec" "wire/enc" \
  trips "RSS MiB" "hub MiB"
printf "$FMT" "" "" "" "" "" "" "" "" "" "" "" | tr ' ' '-'
row "A push, $N new" push "$N"
row "B initial pull, $N new" pull "$N"
row "B next sync (re-offers ids)" reoffer 0
row "B no-op sync" noop 0
printf '\n'
printf 'A push: hub accepted %s; A then pulled %s back (already there)\n' "$push_sent" "$push_duplicates"
printf 'B next sync: offered %s back to the hub (already there); the one after: %s\n' \
  "$reoffer_duplicates" "$noop_duplicates"
printf 'hub RSS: %s MiB idle after start, %s MiB at the end; hub store %s bytes (%s per record)\n' \
  "$(mib "$HUB_IDLE_KB")" "$(mib "$HUB_END_KB")" "$HUB_DISK" "$(div "$HUB_DISK" "$N")"
printf 'office RSS includes the passphrase key derivation (Argon2id interactive, 64 MiB)\n'
printf 'B: %s\n' "$VERIFY"
printf 'hub moderation rules loaded: %s\n' "${RULES:-?}"
[ -z "$NOTE" ] || printf 'note: %s\n' "$NOTE"

if [ -n "$OUT" ]; then
  {
    echo "sync_records $N"
    echo "sync_encoded_bytes_per_record $ENC_PER"
    echo "sync_fill_records_per_s $(div "$N" "$FILL_S")"
    for p in push pull reoffer noop; do
      for k in wall seconds bytes_in bytes_out round_trips rss hub duplicates; do
        echo "sync_${p}_$k $(eval echo "\$${p}_$k")"
      done
    done
    echo "sync_push_records_per_s $(div "$N" "$push_seconds")"
    echo "sync_pull_records_per_s $(div "$N" "$pull_seconds")"
    echo "sync_push_wire_per_record $(div $((push_bytes_in + push_bytes_out)) "$N")"
    echo "sync_pull_wire_per_record $(div $((pull_bytes_in + pull_bytes_out)) "$N")"
    echo "sync_hub_idle_kb $HUB_IDLE_KB"
    echo "sync_hub_disk_bytes $HUB_DISK"
    echo "sync_hub_rules ${RULES:-?}"
    [ -z "$NOTE" ] || echo "sync_note $NOTE"
  } >"$OUT"
fi
