#!/usr/bin/env bash
# run.sh: every tunduk benchmark, then one combined table (`make bench`).
#
#   tests/bench/run.sh BIN_DIR [--quick] [--peer]
#
# Runs bench_revision, bench_store, bench_office and bench_sync.sh with
# 10,000 records (--quick: 2,000), showing each one's own table as it goes,
# and ends with a Markdown table of the main figures, the machine (cores,
# CPU model, kernel) and the date.
#
# --peer (needs node and npm): also runs the CouchDB/PouchDB replication
# peer benchmark kept outside the repository (../shared/peer-bench next to
# the repository's top folder, or $PEER_BENCH) with the same record count,
# one run, HTTPS, the "cipher" payload, and prints tunduk/peer ratios.
#
# Benchmarks measure; nothing here passes or fails on speed. Not a ctest.
set -euo pipefail

usage() { echo "usage: $0 BIN_DIR [--quick] [--peer]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BIN=$(cd "$1" && pwd); shift
HERE=$(cd "$(dirname "$0")" && pwd)
N=10000
PEER=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) N=2000; shift ;;
    --peer) PEER=1; shift ;;
    *) usage ;;
  esac
done
for b in bench_revision bench_store bench_office bench_fill tunduk tundukd; do
  [ -x "$BIN/$b" ] || { echo "run.sh: no $BIN/$b (build first: make build)" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/tk-bench-run-XXXXXX")
trap 'rm -rf "$W"' EXIT
T0=$(date +%s)

section() { printf '\n== %s ==\n' "$*"; }

section "bench_revision $N"
"$BIN/bench_revision" "$N" | tee "$W/revision.txt"
section "bench_store $N"
"$BIN/bench_store" "$N" | tee "$W/store.txt"
section "bench_office $N"
"$BIN/bench_office" "$N" | tee "$W/office.txt"
section "bench_sync.sh --n $N"
"$HERE/bench_sync.sh" "$BIN" --n "$N" --out "$W/sync.kv" | tee "$W/sync.txt"

PEER_JSON=
PEER_NOTE=
if [ "$PEER" = 1 ]; then
  top=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || true)
  peer_dir=${PEER_BENCH:-${top:+$top/../shared/peer-bench}}
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PEER_NOTE="peer benchmark skipped: node or npm is not installed"
  elif [ -z "$peer_dir" ] || [ ! -x "$peer_dir/run.sh" ]; then
    PEER_NOTE="peer benchmark skipped: no ../shared/peer-bench/run.sh (set PEER_BENCH)"
  else
    section "peer: CouchDB/PouchDB replication, $N records, https, cipher payload"
    if "$peer_dir/run.sh" --n "$N" --runs 1 --proto https --payload cipher \
      --out "$W/peer.json"; then
      PEER_JSON=$W/peer.json
    else
      PEER_NOTE="peer benchmark failed (see its output above)"
    fi
  fi
fi

# ---- the combined table ----------------------------------------------------
# C benchmarks print "label   number" rows; every such row becomes a metric.
metrics() {
  awk -v comp="$1" '
    NF >= 2 && $NF ~ /^-?[0-9]+(\.[0-9]+)?$/ {
      v = $NF; $NF = ""; sub(/[ \t]+$/, "")
      printf "| %-14s | %-52s | %14s |\n", comp, $0, v
    }' "$2"
}
kv() { awk -v k="$1" '$1 == k { print $2 }' "$W/sync.kv"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
row() { printf '| %-14s | %-52s | %14s |\n' "$1" "$2" "$3"; }

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
section "summary"
echo "tunduk benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?')"
echo "machine: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), $(uname -m)"
echo "records: $N of ~2 KB; wall time of the whole run: $(( $(date +%s) - T0 )) s"
echo
row component metric value
row "--------------" "----------------------------------------------------" "--------------"
metrics revision "$W/revision.txt"
metrics store "$W/store.txt"
metrics office "$W/office.txt"
enc=$(kv sync_encoded_bytes_per_record)
row sync "A writes (bench_fill, 1 tx each), rec/s" "$(kv sync_fill_records_per_s)"
row sync "encoded revision bytes per record" "$enc"
for p in push pull; do
  label=$([ $p = push ] && echo "A push" || echo "B initial pull")
  row sync "$label: records/s (client's exchange time)" "$(kv sync_${p}_records_per_s)"
  row sync "$label: wall s (whole command)" "$(kv sync_${p}_wall)"
  row sync "$label: wire bytes per record (both ways)" "$(kv sync_${p}_wire_per_record)"
  row sync "$label: wire / encoded revision bytes" \
    "$(calc %.3f "$(kv sync_${p}_wire_per_record) / $enc")"
  row sync "$label: round trips" "$(kv sync_${p}_round_trips)"
  row sync "$label: hub peak RSS MiB" "$(calc %.0f "$(kv sync_${p}_hub) / 1024")"
  row sync "$label: office peak RSS MiB (incl. KDF)" "$(calc %.0f "$(kv sync_${p}_rss) / 1024")"
done
row sync "B next sync: bytes out / in" "$(kv sync_reoffer_bytes_out) / $(kv sync_reoffer_bytes_in)"
row sync "B no-op sync: wall s" "$(kv sync_noop_wall)"
row sync "B no-op sync: bytes out / in" "$(kv sync_noop_bytes_out) / $(kv sync_noop_bytes_in)"
row sync "B no-op sync: round trips" "$(kv sync_noop_round_trips)"
row sync "hub RSS MiB idle" "$(calc %.0f "$(kv sync_hub_idle_kb) / 1024")"
row sync "hub store bytes per record" "$(calc %.0f "$(kv sync_hub_disk_bytes) / $N")"
row sync "hub moderation rules loaded" "$(kv sync_hub_rules)"

if [ -n "$PEER_JSON" ]; then
  pj() { jq -r ".runs[0].$1" "$PEER_JSON"; }
  p_push=$(pj push_initial.docs_per_s)
  p_pull=$(pj pull_initial.docs_per_s)
  p_push_wire=$(calc %.0f "($(pj push_initial.wire_to_hub) + $(pj push_initial.wire_from_hub)) / $N")
  p_pull_wire=$(calc %.0f "($(pj pull_initial.wire_to_hub) + $(pj pull_initial.wire_from_hub)) / $N")
  row peer "push A->hub: docs/s" "$(calc %.0f "$p_push")"
  row peer "pull hub->B: docs/s" "$(calc %.0f "$p_pull")"
  row peer "push: wire bytes per record" "$p_push_wire"
  row peer "pull: wire bytes per record" "$p_pull_wire"
  row peer "pull: hub peak RSS MiB" "$(calc %.0f "$(pj pull_initial.hub_rss_peak_kb) / 1024")"
  row ratio "tunduk/peer initial pull records/s" \
    "$(calc %.2f "$(kv sync_pull_records_per_s) / $p_pull")"
  row ratio "tunduk/peer push records/s" "$(calc %.2f "$(kv sync_push_records_per_s) / $p_push")"
  row ratio "tunduk/peer pull wire bytes per record" \
    "$(calc %.2f "$(kv sync_pull_wire_per_record) / $p_pull_wire")"
fi
if [ -n "$PEER_JSON" ]; then
  echo "peer records: $(jq -r .runs[0].avg_doc_bytes "$PEER_JSON" | cut -d. -f1) B JSON each (1.5 KB of base64 random bytes plus clear fields); tunduk: $enc B encoded (zstd then encrypted)"
fi
sed -n 's/^sync_note /note: /p' "$W/sync.kv"
[ -z "$PEER_NOTE" ] || echo "$PEER_NOTE"
