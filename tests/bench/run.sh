#!/usr/bin/env bash
# run.sh: tunduk's benchmark command (`make bench`); prints ONE table.
#
#   tests/bench/run.sh BIN_DIR [--quick] [--peer] [--attach-only | --sync-only]
#
# Everything runs on this machine over 127.0.0.1 with the real binaries
# (tundukd, tunduk) and three helpers from tests/bench: bench_fill (writes
# ~2 KB case / appeal / testimony records into an office), bench_linkproxy
# (a TCP proxy with a one-way delay and a bandwidth cap per direction) and
# bench_swarm (many offices in one process; many idle TLS connections).
#
# Workloads, in order (full mode; --quick: 2k / 10k records, 200 offices,
# a 50 MiB file; --attach-only: workload 0 alone; --sync-only: workloads 1
# and 2 and the verify ceiling, for quick turns on the sync rates):
#  0. hub R; office X attaches a 200 MiB file to a record and pushes it;
#     office Y pulls it and gets it back (compared byte for byte): MiB/s of
#     chunk bytes over the exchange time, wire bytes per MiB of file, the
#     hub's peak RSS for each direction.
#  1. hub H; office A writes 10k records and pushes them; a newly enrolled
#     office B pulls them (initial sync), syncs again (the re-offer), then a
#     no-op sync twice: with a full TLS handshake (--no-resume) and with TLS
#     session resumption; A makes 100 edits + 100 new records, pushes; B pulls.
#  2. A grows the store to 100k and pushes; new office C pulls everything;
#     the same re-offer, no-op and incremental rounds on the 100k store.
#  3. bad links: A's incremental push and C's pull through bench_linkproxy
#     at 300 ms RTT / 1 Mbit/s and at 600 ms RTT / 256 kbit/s, a fresh proxy
#     per sync for its byte counts. Per row: the wall time (the command, and
#     on the link: connect to end, sync --json "seconds"), the floor (the
#     larger direction's bytes on the wire / link rate + 2 RTT for the TCP
#     and the TLS 1.3 handshakes), link time / floor, and the RTTs not
#     covered by the bytes: (link time - bytes / rate) / RTT.
#  3b. hub L (fresh): office L1 writes 1,000 records of ~2.2 KB
#     incompressible (tk_fill, the peer benchmark's workload; --quick: 100)
#     and pushes them; office L2 pulls them through 600 ms / 256 kbit/s with
#     the link cut 5 s into each connection (at most 6 cuts, --quick 2; then
#     the proxy lets connections be), `tunduk sync` re-run until it exits 0:
#     wall time, syncs, cuts, records stored before the last sync, bytes
#     re-sent per cut ((down bytes of every connection - down bytes of
#     office L3's uncut pull of the same records) / cuts); then L2's no-op
#     sync through 600 ms / 256 kbit/s with a full TLS handshake and
#     resumed: RTTs = time on the link / RTT (TCP and TLS included).
#  4. hub S (fresh): RSS idle; with 1,000 idle TLS connections; then 200
#     and 1,000 offices (5 records each in their own vault, and read access
#     to 100 shared records) syncing at once.
#  4b. plugin calls (bench_plugin): validate, summary and moderation through
#     the bundled plugins, in-process and in a jailed worker process.
#  4b'. bulk import (bench_import_gen, tunduk import): a fresh office imports
#     10k and 50k case records (--quick: 2k, 10k) from CSV, the first size
#     from JSON Lines too: records/s over the check and write passes, and
#     over the whole command (process start and key derivation included).
#  4c. the verify ceiling (bench_revision): parse + Ed25519 check of one
#     revision per second on one core, times the cores (nproc): no sync can
#     store received revisions faster; the sync rows print their share of it.
#     Its delta rows too: the revision bytes of a new ~2 KB record and of an
#     edit of one field, sent full and as a delta, and the µs to read a body
#     at chain depth 0 and at the bound (TK_MAX_DELTA_CHAIN parents).
#  5. --peer (needs node and npm): the CouchDB/PouchDB replication peer
#     (../shared/peer-bench next to the repository's top folder, or
#     $PEER_BENCH), HTTPS, "cipher" payload, one run per size; its phases
#     are push, pull and incremental, so only those rows get a ratio.
#
# Records/s is revisions moved / the client's exchange time (sync --json
# "seconds", after the process start and key derivation); wall time is the
# whole `tunduk sync` command. Wire bytes are socket bytes both ways (TLS
# included); "wire / revision bytes" divides them by the revision bytes
# moved. CPU s: user + system time of the office process and of the hub
# during the phase; disk writes: bytes the office and the hub wrote to disk
# (getrusage, /proc/PID/io: their stores, WAL and checkpoints), per revision
# moved. Both shift less than rates when the machine is busy. Peak RSS: the
# office process (/usr/bin/time -v, includes the 64 MiB Argon2id of its
# passphrase), the hub's VmHWM reset before each phase.
#
# TK_BENCH_KEEP=1 keeps the work folder (hubs' and offices' stores) for a
# closer look afterwards.
#
# Benchmarks measure; nothing here passes or fails on speed. Not a ctest.
# Exits non-zero only when a step fails (a sync error, a missing record).
set -euo pipefail

usage() { echo "usage: $0 BIN_DIR [--quick] [--peer] [--attach-only | --sync-only]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BIN=$(cd "$1" && pwd); shift
HERE=$(cd "$(dirname "$0")" && pwd)
QUICK=0
PEER=0
ATTACH_ONLY=0
SYNC_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; shift ;;
    --peer) PEER=1; shift ;;
    --attach-only) ATTACH_ONLY=1; shift ;;
    --sync-only) SYNC_ONLY=1; shift ;;
    *) usage ;;
  esac
done
if [ $QUICK = 1 ]; then N1=2000 N2=10000 SWARMS="200"; else N1=10000 N2=100000 SWARMS="200 1000"; fi
if [ $QUICK = 1 ]; then ATT_MB=50; else ATT_MB=200; fi
if [ $QUICK = 1 ]; then CUT_N=100 CUT_MAX=2; else CUT_N=1000 CUT_MAX=6; fi
IDLE_CONNS=1000
SWARM_WRITE=5
SHARED=100
for b in tunduk tundukd bench_fill bench_linkproxy bench_swarm tk_fill; do
  [ -x "$BIN/$b" ] || { echo "run.sh: no $BIN/$b (build first: make build)" >&2; exit 2; }
done
for t in jq sqlite3; do
  command -v $t >/dev/null || { echo "run.sh: needs $t (tools/deps.sh)" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/tk-bench-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -n "${TK_BENCH_KEEP:-}" ] && echo "run.sh: kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

export TUNDUKD_PASSPHRASE='bench hub passphrase, not a secret'
export TUNDUK_PASSPHRASE='bench office passphrase, not a secret'
unset TUNDUK_HOME TUNDUKD_HOME
VAULT=v

say() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# ratio A B: A/B with two decimals, "-" when either is missing
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { if (k > 0) printf "%.1f", k / 1024; else print "-" }'; }

# K[name]=value: every measured figure
declare -A K

# ---- hubs ------------------------------------------------------------------
# start_hub NAME: init and serve hub home $W/NAME on an ephemeral port;
# sets HUB_PID, PORT. The hub loads its bundled plugins, or an empty plugin
# folder when those are missing (noted).
NOTE=
start_hub() {
  local home=$W/$1
  "$BIN/tundukd" --home "$home" init --kdf interactive >/dev/null
  # Every bench client comes from 127.0.0.1 and the idle connections never
  # authenticate: the pre-authentication pool is opened wide so the figures
  # measure the hub, not its eviction of strangers (it_preauth tests that).
  printf 'auth_timeout_ms = 600000\npreauth_max_connections = 100000\npreauth_per_address = 100000\n' >"$home.conf"
  if [ -n "${TK_BENCH_PLUGINS:-}" ]; then
    printf 'plugins = %s\n' "$TK_BENCH_PLUGINS" >>"$home.conf"
  fi
  local cfg=(--config "$home.conf")
  local try
  for try in 1 2; do
    : >"$home.log" # before the background job opens it: the sed below reads it at once
    "$BIN/tundukd" --home "$home" serve --listen 127.0.0.1:0 "${cfg[@]}" >"$home.log" 2>&1 &
    HUB_PID=$!
    PORT=
    for _ in $(seq 100); do
      PORT=$(sed -n 's/.*listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$home.log" | head -1)
      [ -n "$PORT" ] && break
      kill -0 "$HUB_PID" 2>/dev/null || break
      sleep 0.1
    done
    if [ -n "$PORT" ]; then PIDS+=("$HUB_PID"); return 0; fi
    wait "$HUB_PID" 2>/dev/null || true
    if [ $try = 1 ] && grep -q 'plugins: cannot read' "$home.log"; then
      NOTE="the hub's bundled plugin folder is missing; measured with no moderation rules"
      mkdir -p "$W/plugins"
      printf 'plugins = %s\n' "$W/plugins" >"$home.conf"
      cfg=(--config "$home.conf")
      continue
    fi
    cat "$home.log" >&2
    echo "run.sh: hub $1 did not start" >&2
    exit 1
  done
}
hub_status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$2/status"; }
hub_reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
# hub_cpuio PID: "CPU seconds (user + system) bytes written to disk" so far
hub_cpuio() {
  local tck w
  tck=$(getconf CLK_TCK)
  w=$(awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0)
  awk -v t="$tck" -v w="${w:-0}" '{ sub(/^.*\) /, ""); printf "%.2f %d\n", ($12 + $13) / t, w }' \
    "/proc/$1/stat"
}
token() { # HUBNAME DEVICE ADDR VAULTSPEC...
  local home=$W/$1 name=$2 addr=$3; shift 3
  local a=()
  for v in "$@"; do a+=(--vault "$v"); done
  "$BIN/tundukd" --home "$home" device add "$name" "${a[@]}" --address "$addr" 2>/dev/null
}

TIMEV=
[ -x /usr/bin/time ] && TIMEV=/usr/bin/time
# office HOME ARGS...: runs tunduk; its peak RSS (KiB) lands in $W/rss
office() {
  local home=$1; shift
  if [ -n "$TIMEV" ]; then
    "$TIMEV" -v -o "$W/timev" "$BIN/tunduk" --home "$home" "$@"
    awk -F': *' '/Maximum resident set size/ { print $2 }' "$W/timev" >"$W/rss"
    awk -F': *' '/User time/ { u = $2 } /System time/ { s = $2 }
      /File system outputs/ { o = $2 } END { printf "%.2f %d\n", u + s, o * 512 }' \
      "$W/timev" >"$W/cpuio"
  else
    echo 0 >"$W/rss"
    echo "- -" >"$W/cpuio"
    "$BIN/tunduk" --home "$home" "$@"
  fi
}
new_office() { # HOME NAME HUBNAME ADDR: init + enroll with v:rw
  office "$1" init --name "$2" --kdf interactive >/dev/null
  office "$1" enroll "$(token "$3" "$2" "$4" "$VAULT:rw")" >/dev/null
}
fill() { # HOME ARGS... (bench_fill, 1,000 writes per transaction)
  "$BIN/bench_fill" "$1" "$VAULT" "${@:2}" --batch 1000 >/dev/null
}

# phase KEY HOME [SYNC_ARGS...]: one timed `tunduk sync --json` against hub
# $HUB_PID; fills K[KEY_*]
phase() {
  local p=$1 home=$2 t0 t1 k
  shift 2
  hub_reset_hwm "$HUB_PID"
  local hc0 hw0 hc1 hw1
  read -r hc0 hw0 < <(hub_cpuio "$HUB_PID")
  t0=$(now)
  office "$home" sync --json "$@" >"$W/$p.json"
  t1=$(now)
  read -r hc1 hw1 < <(hub_cpuio "$HUB_PID")
  read -r K[${p}_office_cpu] K[${p}_office_wr] <"$W/cpuio"
  K[${p}_hub_cpu]=$(calc %.2f "$hc1 - $hc0")
  K[${p}_hub_wr]=$((hw1 - hw0))
  K[${p}_wall]=$(calc %.3f "$t1 - $t0")
  K[${p}_office_kb]=$(cat "$W/rss")
  K[${p}_hub_kb]=$(hub_status VmHWM "$HUB_PID")
  for k in sent received duplicates bytes_in bytes_out rev_bytes_in rev_bytes_out \
    round_trips seconds chunk_bytes_in chunk_bytes_out tls_resumed; do
    K[${p}_$k]=$(jq -r ".$k" "$W/$p.json")
  done
  K[${p}_moved]=$(( K[${p}_sent] + K[${p}_received] ))
  K[${p}_wire]=$(( K[${p}_bytes_in] + K[${p}_bytes_out] ))
  K[${p}_revbytes]=$(( K[${p}_rev_bytes_in] + K[${p}_rev_bytes_out] ))
  [ "$(jq '.rejected | length' "$W/$p.json")" = 0 ] ||
    { cat "$W/$p.json" >&2; echo "run.sh: $p: revisions rejected" >&2; exit 1; }
}
expect() { # KEY FIELD WANT
  [ "${K[${1}_$2]}" = "$3" ] ||
    { echo "run.sh: $1: $2 is ${K[${1}_$2]}, wanted $3" >&2; cat "$W/$1.json" >&2; exit 1; }
}
device_id() { "$BIN/tunduk" --home "$1" whoami --json | jq -r .device; }

# ---- 0. attachments: one file relayed office -> hub -> office ----------------
if [ "$SYNC_ONLY" = 0 ]; then
start_hub r
HUB_PID_R=$HUB_PID
RADDR=127.0.0.1:$PORT
say "hub R on $RADDR: a $ATT_MB MiB attachment, office X -> hub -> office Y"
new_office "$W/x" office-x r "$RADDR"
office "$W/x" vault create "$VAULT" >/dev/null
new_office "$W/y" office-y r "$RADDR"
office "$W/x" vault grant "$VAULT" "$(device_id "$W/y")" >/dev/null
head -c $((ATT_MB << 20)) /dev/urandom >"$W/att.bin"
REC=$(echo '{"case_number":"B-1","client_alias":"bench","status":"open"}' |
  "$BIN/tunduk" --home "$W/x" new case --vault "$VAULT" -)
t0=$(now)
office "$W/x" attach "$REC" "$W/att.bin" --name att.bin >/dev/null
K[att_local_s]=$(calc %.3f "$(now) - $t0")
K[att_local_kb]=$(cat "$W/rss")
phase attpush "$W/x"
expect attpush chunk_bytes_out $(( (ATT_MB << 20) + ATT_MB * 4 * 16 ))
phase attpull "$W/y"
expect attpull chunk_bytes_in $(( (ATT_MB << 20) + ATT_MB * 4 * 16 ))
t0=$(now)
office "$W/y" get "$REC" att.bin -o "$W/att.out" >/dev/null
K[att_get_s]=$(calc %.3f "$(now) - $t0")
cmp -s "$W/att.bin" "$W/att.out" || { echo "run.sh: the relayed attachment differs" >&2; exit 1; }
rm -f "$W/att.bin" "$W/att.out"
kill -TERM "$HUB_PID_R"
wait "$HUB_PID_R" 2>/dev/null || true
fi # SYNC_ONLY

if [ "$ATTACH_ONLY" = 0 ]; then
# ---- 1. hub H, 10k store ----------------------------------------------------
start_hub h
H_PID=$HUB_PID
ADDR=127.0.0.1:$PORT
say "hub H on $ADDR; office A writes $N1 records"
new_office "$W/a" office-a h "$ADDR"
office "$W/a" vault create "$VAULT" >/dev/null
fill "$W/a" "$N1"
phase push1 "$W/a"
expect push1 sent "$N1"

# a new office at a hub holding NREC records: init, enroll, grant, pull,
# re-offer, no-op with a full TLS handshake, no-op resumed; K[<tag>_*]
fresh_pull() { # HOME NAME TAG NREVS
  new_office "$1" "$2" h "$ADDR"
  office "$W/a" vault grant "$VAULT" "$(device_id "$1")" >/dev/null
  phase "init$3" "$1"
  expect "init$3" received "$4"
  phase "reoffer$3" "$1"
  phase "noop$3" "$1" --no-resume
  expect "noop$3" tls_resumed false
  phase "noopr$3" "$1"
  expect "noopr$3" tls_resumed true
}
# A edits 100 and writes 100 new; A pushes, PULLER pulls; K[incpush<tag>], K[inc<tag>]
incremental() { # PULLER TAG FIRST
  "$BIN/bench_fill" "$W/a" "$VAULT" 100 $((7 + $3)) --first "$3" --edit 100 >/dev/null
  phase "incpush$2" "$W/a"
  expect "incpush$2" sent 200
  phase "inc$2" "$1"
  expect "inc$2" received 200
}

say "office B: initial pull of $N1, re-offer, no-op, incremental"
fresh_pull "$W/b" office-b 1 "$N1"
incremental "$W/b" 1 "$N1"

# ---- 2. the same on the larger store ---------------------------------------
say "office A grows the store to $N2 records and pushes"
fill "$W/a" $((N2 - N1 - 100)) 11 --first $((N1 + 100))
phase push2 "$W/a"
NREVS2=$(sqlite3 "$W/a/store.db" "select count(*) from revisions")
say "office C: initial pull of $NREVS2 revisions ($N2 records), re-offer, no-op, incremental"
fresh_pull "$W/c" office-c 2 "$NREVS2"
incremental "$W/c" 2 "$N2"
VERIFY=$("$BIN/tunduk" --home "$W/c" verify)
echo "$VERIFY" | grep -q " 0 failed" || { echo "run.sh: C verify: $VERIFY" >&2; exit 1; }
K[h_disk]=$(( $(stat -c %s "$W/h/store.db") + $(stat -c %s "$W/h/store.db-wal" 2>/dev/null || echo 0) ))

# ---- 3. bad links ------------------------------------------------------------
set_hub_addr() { sqlite3 "$1/store.db" "update meta set value='$2' where key='hub_addr'"; }
# link_start TO RTT KBIT [PROXY_ARGS...]: a bench_linkproxy to TO; sets PX, PADDR, PXLOG
link_start() {
  local to=$1 rtt=$2 kbit=$3
  shift 3
  PXLOG=$W/proxy.$RANDOM.log
  "$BIN/bench_linkproxy" --listen 127.0.0.1:0 --to "$to" --rtt-ms "$rtt" --kbit "$kbit" "$@" \
    >"$PXLOG" 2>&1 &
  PX=$!
  PIDS+=("$PX")
  for _ in $(seq 50); do grep -q listening "$PXLOG" && break; sleep 0.1; done
  PADDR=$(sed -n 's/^listening //p' "$PXLOG")
  [ -n "$PADDR" ] || { cat "$PXLOG" >&2; echo "run.sh: bench_linkproxy did not start" >&2; exit 1; }
}
# link_stop KEY: stops the proxy; K[KEY_up/down/conns/cuts] from its totals line
link_stop() {
  kill -TERM "$PX"
  wait "$PX" 2>/dev/null || true
  local t
  t=$(grep -E '^up=[0-9]+ down=[0-9]+ connections=[0-9]+ cuts=[0-9]+$' "$PXLOG") ||
    { cat "$PXLOG" >&2; echo "run.sh: bench_linkproxy printed no totals" >&2; exit 1; }
  K[${1}_up]=$(echo "$t" | sed 's/^up=\([0-9]*\) .*/\1/')
  K[${1}_down]=$(echo "$t" | sed 's/.* down=\([0-9]*\) .*/\1/')
  K[${1}_conns]=$(echo "$t" | sed 's/.* connections=\([0-9]*\) .*/\1/')
  K[${1}_cuts]=$(echo "$t" | sed 's/.* cuts=\([0-9]*\)$/\1/')
}
# link_phase KEY HOME TO RTT KBIT [SYNC_ARGS...]: one `phase` through a fresh
# proxy; K[KEY_floor], K[KEY_vs_floor], K[KEY_rtts_left] as run.sh's header says
link_phase() {
  local p=$1 home=$2 to=$3 rtt=$4 kbit=$5
  shift 5
  link_start "$to" "$rtt" "$kbit"
  set_hub_addr "$home" "$PADDR"
  phase "$p" "$home" "$@"
  set_hub_addr "$home" "$to"
  link_stop "$p"
  local big=$(( K[${p}_up] > K[${p}_down] ? K[${p}_up] : K[${p}_down] ))
  local xfer
  xfer=$(calc %.3f "$big * 8 / ($kbit * 1000)")
  K[${p}_floor]=$(calc %.3f "$xfer + 2 * $rtt / 1000")
  K[${p}_vs_floor]=$(ratio "${K[${p}_seconds]}" "${K[${p}_floor]}")
  K[${p}_rtts_left]=$(calc %.1f "(${K[${p}_seconds]} - $xfer) * 1000 / $rtt")
}
LINKS=("300 1000" "600 256")
[ "$SYNC_ONLY" = 0 ] || LINKS=()
li=0
for link in ${LINKS[@]+"${LINKS[@]}"}; do
  read -r rtt kbit <<<"$link"
  li=$((li + 1))
  say "bad link $li: ${rtt} ms RTT, ${kbit} kbit/s: A pushes 100 edits + 100 new, C pulls"
  "$BIN/bench_fill" "$W/a" "$VAULT" 100 $((13 + li)) --first $((N2 + 100 * li)) \
    --edit 100 >/dev/null
  link_phase "badpush$li" "$W/a" "$ADDR" "$rtt" "$kbit"
  expect "badpush$li" sent 200
  link_phase "bad$li" "$W/c" "$ADDR" "$rtt" "$kbit"
  expect "bad$li" received 200
done
kill -TERM "$H_PID"
wait "$H_PID" 2>/dev/null || true

# ---- 3b. a cut link, and the no-op's round trips ------------------------------
if [ "$SYNC_ONLY" = 0 ]; then
start_hub l
L_PID=$HUB_PID
LADDR=127.0.0.1:$PORT
HUB_PID=$L_PID
say "hub L on $LADDR: $CUT_N records of ~2.2 KB, pulled through 600 ms / 256 kbit/s cut every 5 s"
for o in 1 2 3; do new_office "$W/l$o" "office-l$o" l "$LADDR"; done
office "$W/l1" vault create "$VAULT" >/dev/null
for o in 2 3; do office "$W/l1" vault grant "$VAULT" "$(device_id "$W/l$o")" >/dev/null; done
"$BIN/tk_fill" --home "$W/l1" --vault "$VAULT" --count "$CUT_N" --size 3600 >/dev/null
phase cutpush "$W/l1"
expect cutpush sent "$CUT_N"
phase cutbase "$W/l3" # uncut, straight to the hub: the bytes one pull takes
expect cutbase received "$CUT_N"
link_start "$LADDR" 600 256 --queue-kb 32 --cut-every-ms 5000 --cuts "$CUT_MAX"
set_hub_addr "$W/l2" "$PADDR"
K[cut_syncs]=0
K[cut_before_last]=0
t0=$(now)
while :; do
  K[cut_syncs]=$((K[cut_syncs] + 1))
  [ "${K[cut_syncs]}" -le $((CUT_MAX + 3)) ] ||
    { echo "run.sh: the cut pull did not complete in $((CUT_MAX + 3)) syncs" >&2; exit 1; }
  "$BIN/tunduk" --home "$W/l2" sync >/dev/null 2>"$W/cut.err" && break
  K[cut_before_last]=$(sqlite3 "$W/l2/store.db" "select count(*) from revisions")
done
K[cut_wall]=$(calc %.1f "$(now) - $t0")
set_hub_addr "$W/l2" "$LADDR"
link_stop cut
[ "$(sqlite3 "$W/l2/store.db" "select count(*) from revisions")" = "$CUT_N" ] ||
  { echo "run.sh: the cut pull stored $(sqlite3 "$W/l2/store.db" "select count(*) from revisions") of $CUT_N" >&2; exit 1; }
K[cut_resent]=$(awk -v a="${K[cut_down]}" -v b="${K[cutbase_bytes_in]}" -v c="${K[cut_cuts]}" \
  'BEGIN { if (c > 0) printf "%.0f", (a - b) / c; else print "-" }')
say "no-op sync through 600 ms / 256 kbit/s: full TLS, then resumed"
# one proxy for both: the office keeps its TLS session per hub address
link_start "$LADDR" 600 256
set_hub_addr "$W/l2" "$PADDR"
phase noopl "$W/l2" --no-resume
expect noopl tls_resumed false
phase noopr "$W/l2"
expect noopr tls_resumed true
set_hub_addr "$W/l2" "$LADDR"
link_stop noopl
kill -TERM "$L_PID"
wait "$L_PID" 2>/dev/null || true
fi # SYNC_ONLY

# ---- 4. hub S: idle, idle connections, many offices ------------------------
if [ "$SYNC_ONLY" = 0 ]; then
start_hub s
S_PID=$HUB_PID
SADDR=127.0.0.1:$PORT
HUB_PID=$S_PID
sleep 1
K[s_idle_kb]=$(hub_status VmRSS "$S_PID")
say "hub S on $SADDR: $IDLE_CONNS idle TLS connections"
"$BIN/bench_swarm" idle "$SADDR" "$IDLE_CONNS" --inflight 32 --hub-pid "$S_PID" >"$W/idle.kv"
while read -r k v; do K[$k]=$v; done <"$W/idle.kv"
sleep 1
K[s_after_idle_kb]=$(hub_status VmRSS "$S_PID")
# shared records every swarm office may read
new_office "$W/a2" office-a2 s "$SADDR"
office "$W/a2" vault create "$VAULT" >/dev/null
fill "$W/a2" "$SHARED"
phase spush "$W/a2"
for n in $SWARMS; do
  say "$n offices: create, enroll ($SWARM_WRITE records each), then all sync at once"
  : >"$W/tokens$n"
  for i in $(seq "$n"); do
    token s "sw$n-$i" "$SADDR" "$VAULT:r" "s${n}o$((i - 1)):rw" >>"$W/tokens$n"
  done
  mkdir -p "$W/swarm$n"
  "$BIN/bench_swarm" offices "$W/swarm$n" "$W/tokens$n" "$(nproc)" --write "$SWARM_WRITE" --prefix "s${n}o" \
    --hub-pid "$S_PID" >"$W/swarm$n.kv"
  while read -r k v; do K[sw${n}_$k]=$v; done <"$W/swarm$n.kv"
  rm -rf "$W/swarm$n"
done
kill -TERM "$S_PID"
wait "$S_PID" 2>/dev/null || true
fi # SYNC_ONLY
fi # ATTACH_ONLY

# ---- 5. the peer ---------------------------------------------------------------
PEER_NOTE=
declare -A P
if [ "$PEER" = 1 ] && [ "$ATTACH_ONLY" = 0 ]; then
  top=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || true)
  peer_dir=${PEER_BENCH:-}
  [ -n "$peer_dir" ] || { [ -n "$top" ] && [ -x "$top/../shared/peer-bench/run.sh" ] &&
    peer_dir=$top/../shared/peer-bench; } || true
  [ -n "$peer_dir" ] || { [ -x /work/shared/peer-bench/run.sh ] &&
    peer_dir=/work/shared/peer-bench; } || true
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PEER_NOTE="peer skipped: node or npm is not installed"
  elif [ -z "$peer_dir" ]; then
    PEER_NOTE="peer skipped: no ../shared/peer-bench/run.sh (set PEER_BENCH)"
  else
    for n in $N1 $N2; do
      say "peer: CouchDB/PouchDB replication, $n records, https, cipher payload"
      if "$peer_dir/run.sh" --n "$n" --runs 1 --proto https --payload cipher \
        --out "$W/peer$n.json" >"$W/peer$n.log" 2>&1; then
        pj() { jq -r ".runs[0].$1" "$W/peer$n.json"; }
        for ph in push_initial pull_initial push_incr pull_incr; do
          P[${n}_${ph}_secs]=$(pj $ph.secs)
          P[${n}_${ph}_rate]=$(pj $ph.docs_per_s)
          P[${n}_${ph}_wire]=$(( $(pj $ph.wire_to_hub) + $(pj $ph.wire_from_hub) ))
          P[${n}_${ph}_hub_kb]=$(pj $ph.hub_rss_peak_kb)
        done
        P[${n}_idle_kb]=$(pj hub_rss_idle_kb)
        P[${n}_doc_bytes]=$(pj avg_doc_bytes)
      else
        PEER_NOTE="peer failed at $n records (its log: $(tail -2 "$W/peer$n.log" | tr '\n' ' '))"
        break
      fi
    done
  fi
fi

# ---- plugin calls: in-process vs a jailed worker (bench_plugin) ------------------
if [ "$ATTACH_ONLY" = 0 ] && [ "$SYNC_ONLY" = 0 ]; then
  say "plugin calls: in-process and in a jailed worker"
  while IFS='=' read -r k v; do K[$k]=$v; done < <("$BIN/bench_plugin" "$([ $QUICK = 1 ] && echo 5000 || echo 20000)" --kv)
fi

# ---- bulk import (tunduk import, bench_import_gen) -------------------------------------
# A fresh office imports IMPORTS case records of the workload as CSV (and the
# first size as JSON Lines too) through the real binary: every row checked
# by case.lua in the jailed worker, then written in transactions of 1,000.
if [ $QUICK = 1 ]; then IMPORTS="2000 10000"; else IMPORTS="10000 50000"; fi
import_phase() { # KEY FORMAT N
  local p=$1 f=$2 n=$3 t0 t1
  "$BIN/bench_import_gen" "$f" "$n" "$W/$p.$f" >/dev/null
  office "$W/$p" init --name "import-$p" --kdf interactive >/dev/null
  office "$W/$p" vault create "$VAULT" >/dev/null
  t0=$(now)
  office "$W/$p" import --type case --vault "$VAULT" "$W/$p.$f" --json >"$W/$p.json" 2>"$W/$p.err"
  t1=$(now)
  K[${p}_wall]=$(calc %.3f "$t1 - $t0")
  K[${p}_office_kb]=$(cat "$W/rss")
  for k in written check_s write_s records_per_s; do K[${p}_$k]=$(jq -r ".$k" "$W/$p.json"); done
  [ "${K[${p}_written]}" = "$n" ] ||
    { cat "$W/$p.json" >&2; echo "run.sh: $p: wrote ${K[${p}_written]} of $n" >&2; exit 1; }
  K[${p}_file_mb]=$(calc %.1f "$(stat -c %s "$W/$p.$f") / 1048576")
  rm -rf "$W/$p" "$W/$p.$f"
}
if [ "$ATTACH_ONLY" = 0 ] && [ -x "$BIN/bench_import_gen" ]; then
  for n in $IMPORTS; do
    say "import: $n case records from CSV"
    import_phase "impcsv$n" csv "$n"
  done
  n=${IMPORTS%% *}
  say "import: $n case records from JSON Lines"
  import_phase "impjsonl$n" jsonl "$n"
fi

# ---- the verify ceiling (bench_revision) ---------------------------------------------
if [ "$ATTACH_ONLY" = 0 ]; then
  say "verify ceiling: parse + signature check per core"
  "$BIN/bench_revision" "$([ $QUICK = 1 ] && echo 10000 || echo 50000)" >"$W/bench_revision.out"
  K[verify_core]=$(awk '/^parse \+ verify signature/ { print $NF }' "$W/bench_revision.out")
  # the delta rows: a one-field edit of a ~2 KB record, and reading a body
  while read -r k v; do K[$k]=$v; done < <(awk '
    /^delta new record bytes/ { print "delta_new", $NF }
    /^delta edit full bytes/ { print "delta_full", $NF }
    /^delta edit delta bytes/ { print "delta_delta", $NF }
    /^delta read us depth 0/ { print "delta_us0", $NF }
    /^delta read us depth [1-9]/ { print "delta_usmax", $NF; print "delta_bound", $(NF - 1) }' "$W/bench_revision.out")
  K[verify_ceiling]=$(calc %.0f "${K[verify_core]} * $(nproc)")
fi

# ---- the table -----------------------------------------------------------------
FMT='| %-46s | %-34s | %14s | %14s | %8s |\n'
row() { printf "$FMT" "$1" "$2" "$3" "${4:--}" "$(ratio "$3" "${4:-}")"; }
rate() { calc %.0f "${K[${1}_moved]} / ${K[${1}_seconds]}"; }
wirex() { ratio "${K[${1}_wire]}" "${K[${1}_revbytes]}"; }
# cpuio PHASE cpu|wr: "office / hub" CPU seconds, or disk bytes written per
# revision moved (KB)
cpuio() {
  local o=${K[${1}_office_$2]:--} h=${K[${1}_hub_$2]:--}
  if [ "$2" = wr ]; then
    o=$(awk -v b="$o" -v n="${K[${1}_moved]}" 'BEGIN { if (b == "-" || n == 0) print "-"; else printf "%.1f", b / n / 1000 }')
    h=$(awk -v b="$h" -v n="${K[${1}_moved]}" 'BEGIN { if (b == "-" || n == 0) print "-"; else printf "%.1f", b / n / 1000 }')
  fi
  echo "$o / $h"
}
pv() { echo "${P[$1]:-}"; }
pcalc() { [ -n "${P[$2]:-}" ] && calc "$1" "${P[$2]}" || true; }
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
ENC=$(sqlite3 "$W/c/store.db" "select sum(size) / count(*) from revisions" 2>/dev/null || echo '?')
mbps() { calc %.1f "$1 / 1048576 / $2"; }
ceiling_share() { awk -v r="$1" -v c="${K[verify_ceiling]:-}" 'BEGIN { if (c + 0 > 0 && r != "") printf "%.0f%%", 100 * r / c; else print "-" }'; }

echo
echo "tunduk benchmarks $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), mode: $([ $QUICK = 1 ] && echo quick || echo full)"
echo "machine: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), load before $LOAD0; run took $(( $(date +%s) - T0 )) s"
[ -n "${K[verify_ceiling]:-}" ] && echo "verify ceiling: ${K[verify_core]} revisions/s per core (bench_revision: parse + Ed25519 check) x $(nproc) cores = ${K[verify_ceiling]}/s"
echo "records: ~2 KB JSON (case/appeal/testimony), $ENC B per revision encoded (zstd, encrypted, signed)${P[${N1}_doc_bytes]:+; peer: $(calc %.0f "${P[${N1}_doc_bytes]}") B JSON (cipher payload)}"
echo
printf "$FMT" workload metric tunduk peer "t/peer"
printf "$FMT" "" "" "" "" "" | tr ' ' '-'
if [ "$SYNC_ONLY" = 0 ]; then
row "attachment $ATT_MB MiB: attach (encrypt, store)" "s / office peak RSS MiB" "${K[att_local_s]} / $(mib "${K[att_local_kb]}")"
for d in push pull; do
  f=$([ $d = push ] && echo out || echo in)
  row "  relay: office $([ $d = push ] && echo '-> hub' || echo '<- hub')" "MiB/s over TLS (exchange)" "$(mbps "${K[att${d}_chunk_bytes_$f]}" "${K[att${d}_seconds]}")"
  row "" "wall s (whole command)" "${K[att${d}_wall]}"
  row "" "wire bytes per MiB of file" "$(calc %.0f "${K[att${d}_wire]} / $ATT_MB")"
  row "" "hub peak RSS MiB" "$(mib "${K[att${d}_hub_kb]}")"
  row "" "office peak RSS MiB (64 MiB KDF)" "$(mib "${K[att${d}_office_kb]}")"
done
row "  get (decrypt, check, write)" "s" "${K[att_get_s]}"
fi # SYNC_ONLY
if [ "$ATTACH_ONLY" = 0 ]; then
for t in 1 2; do
  n=$([ $t = 1 ] && echo $N1 || echo $N2)
  row "initial sync hub -> new office, $n" "records/s" "$(rate init$t)" "$(pcalc %.0f ${n}_pull_initial_rate)"
  row "" "share of the verify ceiling" "$(ceiling_share "$(rate init$t)")"
  row "" "wall s (tunduk: whole command)" "${K[init${t}_wall]}" "$(pcalc %.3f ${n}_pull_initial_secs)"
  row "" "wire bytes" "${K[init${t}_wire]}" "$(pv ${n}_pull_initial_wire)"
  row "" "wire / revision bytes" "$(wirex init$t)"
  row "" "round trips" "${K[init${t}_round_trips]}"
  row "" "hub peak RSS MiB" "$(mib "${K[init${t}_hub_kb]}")" "$(mib "$(pv ${n}_pull_initial_hub_kb)")"
  row "" "office peak RSS MiB (64 MiB KDF)" "$(mib "${K[init${t}_office_kb]}")"
  row "" "CPU s office / hub" "$(cpuio init$t cpu)"
  row "" "disk writes, KB per record: office / hub" "$(cpuio init$t wr)"
  row "  the push before it (A -> hub, $n)" "records/s" "$(rate push$t)" "$(pcalc %.0f ${n}_push_initial_rate)"
  row "" "share of the verify ceiling" "$(ceiling_share "$(rate push$t)")"
  row "" "CPU s office / hub" "$(cpuio push$t cpu)"
  row "" "disk writes, KB per record: office / hub" "$(cpuio push$t wr)"
  row "  next sync after it (re-offer)" "wall s / round trips" "${K[reoffer${t}_wall]} / ${K[reoffer${t}_round_trips]}"
done
row "initial sync: $N2 / $N1 records" "pull / push records/s ratio" "$(ratio "$(rate init2)" "$(rate init1)") / $(ratio "$(rate push2)" "$(rate push1)")"
for t in 1 2; do
  n=$([ $t = 1 ] && echo $N1 || echo $N2)
  row "incremental 100 edits + 100 new, $n store" "pull: wall s (process, KDF included)" "${K[inc${t}_wall]}"
  row "" "pull: exchange s" "$(calc %.3f "${K[inc${t}_seconds]}")" "$(pcalc %.3f ${n}_pull_incr_secs)"
  row "" "pull: round trips" "${K[inc${t}_round_trips]}"
  row "" "pull: wire / revision bytes" "$(wirex inc$t)"
  row "" "pull: disk writes KB/record, office / hub" "$(cpuio inc$t wr)"
  row "" "push: wall s (process, KDF included)" "${K[incpush${t}_wall]}"
  row "" "push: exchange s" "$(calc %.3f "${K[incpush${t}_seconds]}")" "$(pcalc %.3f ${n}_push_incr_secs)"
  row "" "push: round trips" "${K[incpush${t}_round_trips]}"
  row "" "push: disk writes KB/record, office / hub" "$(cpuio incpush$t wr)"
done
row "incremental: $N2 store / $N1 store" "pull exchange s ratio" "$(ratio "${K[inc2_seconds]}" "${K[inc1_seconds]}")"
row "" "push exchange s ratio" "$(ratio "${K[incpush2_seconds]}" "${K[incpush1_seconds]}")"
for t in 1 2; do
  n=$([ $t = 1 ] && echo $N1 || echo $N2)
  row "no-op sync, $n store (full TLS handshake)" "wall s" "${K[noop${t}_wall]}"
  row "" "exchange s" "$(calc %.3f "${K[noop${t}_seconds]}")"
  row "" "round trips after handshake" "${K[noop${t}_round_trips]}"
  row "" "bytes out / in" "${K[noop${t}_bytes_out]} / ${K[noop${t}_bytes_in]}"
  row "no-op sync with TLS session resumption, $n" "wall s" "${K[noopr${t}_wall]}"
  row "" "exchange s" "$(calc %.3f "${K[noopr${t}_seconds]}")"
  row "" "round trips after handshake" "${K[noopr${t}_round_trips]}"
  row "" "bytes out / in" "${K[noopr${t}_bytes_out]} / ${K[noopr${t}_bytes_in]}"
  row "" "exchange s resumed / full" "$(ratio "${K[noopr${t}_seconds]}" "${K[noop${t}_seconds]}")"
done
li=0
for link in ${LINKS[@]+"${LINKS[@]}"}; do
  read -r rtt kbit <<<"$link"
  li=$((li + 1))
  for d in push pull; do
    k=$([ $d = push ] && echo badpush$li || echo bad$li)
    row "$([ $d = push ] && echo "bad link ${rtt} ms RTT, ${kbit} kbit/s, 200 changes")" "$d: wall s, command / link" "${K[${k}_wall]} / $(calc %.3f "${K[${k}_seconds]}")"
    row "" "$d: floor s (bytes/rate + 2 RTT)" "${K[${k}_floor]}"
    row "" "$d: link s / floor" "${K[${k}_vs_floor]}"
    row "" "$d: RTTs not covered / exchanges" "${K[${k}_rtts_left]} / ${K[${k}_round_trips]}"
    row "" "$d: bytes up / down" "${K[${k}_up]} / ${K[${k}_down]}"
  done
  row "" "pull: wire / revision bytes" "$(wirex bad$li)"
done
if [ "$SYNC_ONLY" = 0 ]; then
row "initial pull $CUT_N x 2.2 KB, 600 ms/256 kbit/s" "wall s (every sync)" "${K[cut_wall]}"
row "  cut 5 s into each connection (<= $CUT_MAX cuts)" "syncs / cuts" "${K[cut_syncs]} / ${K[cut_cuts]}"
row "" "stored before the last sync" "${K[cut_before_last]}"
row "" "bytes re-sent per cut" "${K[cut_resent]}"
row "" "down bytes: all conns / uncut" "${K[cut_down]} / ${K[cutbase_bytes_in]}"
for t in l r; do
  row "$([ $t = l ] && echo "no-op sync, 600 ms / 256 kbit/s, full TLS" || echo "no-op sync, 600 ms / 256 kbit/s, resumed TLS")" "RTTs (link s / 0.6, TCP+TLS incl.)" "$(calc %.2f "${K[noop${t}_seconds]} / 0.6")"
  row "" "wall s, command / link" "${K[noop${t}_wall]} / $(calc %.3f "${K[noop${t}_seconds]}")"
  row "" "exchanges after handshake (--json)" "${K[noop${t}_round_trips]}"
done
fi
[ "$SYNC_ONLY" = 0 ] || SWARMS=
for n in $SWARMS; do
  row "$n offices syncing at once" "errors" "${K[sw${n}_swarm_sync_errors]:-?} (setup ${K[sw${n}_swarm_setup_errors]:-?})"
  row "" "total s (slowest office)" "${K[sw${n}_swarm_total_s]:-?}"
  row "" "median office s" "${K[sw${n}_swarm_median_s]:-?}"
  row "" "revisions pushed / pulled" "${K[sw${n}_swarm_pushed]:-?} / ${K[sw${n}_swarm_pulled]:-?}"
  row "" "hub peak RSS MiB" "$(mib "${K[sw${n}_swarm_hub_hwm_kb]:-0}")"
  row "" "hub CPU s (utime+stime)" "${K[sw${n}_swarm_hub_cpu_s]:-?}"
  row "" "setup s (create+KDF+enroll)" "${K[sw${n}_swarm_setup_s]:-?}"
  row "" "setup ms/office: create/unlock/write/enroll" "${K[sw${n}_swarm_setup_create_ms]:-?}/${K[sw${n}_swarm_setup_unlock_ms]:-?}/${K[sw${n}_swarm_setup_write_ms]:-?}/${K[sw${n}_swarm_setup_enroll_ms]:-?}"
done
if [ "$SYNC_ONLY" = 0 ]; then
for op in validate summary moderate_meta moderate_rec moderate_batch_meta moderate_batch_rec; do
  metric="us/call: jailed worker / in-process"
  case $op in
    validate) label="plugin call, case.lua on ~2 KB: validate" ;;
    summary) label="  summary" ;;
    moderate_meta) label="  moderation, metadata only (a hub)" ;;
    moderate_rec) label="  moderation with the record (an office)" ;;
    moderate_batch_meta) label="  the same in batches of 500 (a hub)" metric="us/revision: jailed worker / in-process" ;;
    moderate_batch_rec) label="  the same in batches of 500 (an office)" metric="us/revision: jailed worker / in-process" ;;
  esac
  row "$label" "$metric" "${K[plugin_${op}_worker_us]} / ${K[plugin_${op}_inproc_us]}"
done
for n in $IMPORTS; do
  for f in csv jsonl; do
    p=imp$f$n
    [ -n "${K[${p}_written]:-}" ] || continue
    row "import $n ~2 KB case records, $([ $f = csv ] && echo CSV || echo JSON Lines)" "records/s (check + write)" "$(calc %.0f "${K[${p}_records_per_s]}")"
    row "" "records/s, whole command (wall)" "$(calc %.0f "$n / ${K[${p}_wall]}")"
    row "" "check s / write s" "$(calc %.2f "${K[${p}_check_s]}") / $(calc %.2f "${K[${p}_write_s]}")"
    row "" "file MiB / office peak RSS MiB" "${K[${p}_file_mb]} / $(mib "${K[${p}_office_kb]}")"
  done
done
row "hub RSS idle" "MiB" "$(mib "${K[s_idle_kb]}")" "$(mib "$(pv ${N1}_idle_kb)")"
row "hub RSS, $IDLE_CONNS idle TLS connections" "MiB" "$(mib "${K[idle_hub_rss_kb]}")"
row "" "ready / failed" "${K[idle_ready]} / ${K[idle_failed]}"
row "" "connect s (32 handshakes at a time)" "${K[idle_connect_s]}"
fi # SYNC_ONLY
row "hub store on disk, $N2 records" "bytes per revision" "$(calc %.0f "${K[h_disk]} / $NREVS2")"
row "edit of one field, ~2 KB record" "revision bytes: the new record" "${K[delta_new]:-?}"
row "" "revision bytes: the edit, full" "${K[delta_full]:-?}"
row "" "revision bytes: the edit, delta" "${K[delta_delta]:-?}"
row "" "read a body, us: depth 0 / ${K[delta_bound]:-?}" "${K[delta_us0]:-?} / ${K[delta_usmax]:-?}"
fi # ATTACH_ONLY
echo
echo "round trips: request/answer exchanges after the TLS handshake (tunduk sync --json)."
echo "bad-link rows: bench_linkproxy (one-way delay RTT/2, the rate each way, the TCP handshake's RTT charged); 'link' s is sync --json seconds (connect to end; the command adds the process start and the key derivation); floor = the larger direction's bytes on the wire / rate + 2 RTT (TCP, TLS 1.3); RTTs not covered = (link s - bytes / rate) / RTT, handshakes included; bytes re-sent per cut = (down bytes of every connection - down bytes of an uncut pull) / cuts."
echo "no-op rows: the same office twice, 'sync --no-resume' (full mutual-TLS handshake) then 'sync' resuming the session (RFC 5077 ticket) the previous sync saved."
echo "peer rows: PouchDB 9 <-> express-pouchdb over HTTPS, one run, batch_size 100; its wire bytes are both ways."
[ -z "$NOTE" ] || echo "note: $NOTE"
[ -z "$PEER_NOTE" ] || echo "note: $PEER_NOTE"
