#!/usr/bin/env bash
# bundle_bench.sh: bundles against the live sync for the same content, with
# the real binaries on 127.0.0.1. Not in ctest; run it by hand:
#
#   tests/bench/bundle_bench.sh BIN_DIR [--n N] [--attach-mb M]
#
# Office A writes N ~2.2 KB case records (tk_fill, as the link tests) and
# then attaches M MiB (default 8) of random bytes to one record. For each
# of the two: the bundle A writes for office B (file bytes), the bytes A's
# live push to the hub put on the wire (`sync --json` bytes_out, TLS and
# frames included), and B's apply of the bundle (records/s, from the apply's
# own time) against office C's live pull of the same records from the hub.
# Prints a table; measures, asserts nothing about speed.
set -euo pipefail
usage() { echo "usage: $0 BIN_DIR [--n N] [--attach-mb M]" >&2; exit 2; }
[ $# -ge 1 ] || usage
export TK_BIN_DIR
TK_BIN_DIR=$(cd "$1" && pwd); shift
N=5000 MB=8
while [ $# -gt 0 ]; do
  case $1 in
  --n) N=$2; shift 2 ;;
  --attach-mb) MB=$2; shift 2 ;;
  *) usage ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib/common.sh"
. "$here/../integration/lib/hub.sh"
. "$here/../integration/lib/link.sh"
j() { jq -r "$1" "$TMP/out"; }

new_hub "$TMP/hub"
start_hub
two_offices bench rw
C=$TMP/c
enroll_office "$C" office-c "bench:rw"
C_ID=$OFFICE_ID
run_expect 0 tk "$A" vault grant bench "$C_ID"
B_ID=$(tk "$B" whoami)
sync_ok "$B"
sync_ok "$C"

fill "$A" bench "$N"
run_expect 0 tk "$A" bundle create -o "$TMP/recs.tkb" --for "$B_ID" --json
rb=$(j .file_bytes)
run_expect 0 tk "$A" sync --json
rw=$(j .bytes_out)
run_expect 0 tk "$B" bundle apply "$TMP/recs.tkb" --ack-out "$TMP/ack.tkb" --json
[ "$(j .accepted)" = "$N" ] || fail "B took $(j .accepted) of $N"
ba=$(j .seconds)
run_expect 0 tk "$A" bundle apply "$TMP/ack.tkb"
run_expect 0 tk "$C" sync --json
[ "$(j .received)" = "$N" ] || fail "C pulled $(j .received) of $N"
cs=$(j .seconds)

REC=$(tk "$A" list --vault bench --json | jq -r '.[0].id')
head -c $((MB << 20)) /dev/urandom >"$TMP/att.bin"
run_expect 0 tk "$A" attach "$REC" "$TMP/att.bin" --name att.bin
run_expect 0 tk "$A" bundle create -o "$TMP/att.tkb" --for "$B_ID" --json
ab=$(j .file_bytes)
[ "$(j .revisions)" = 1 ] || fail "the attachment bundle holds $(j .revisions) revisions"
run_expect 0 tk "$A" sync --json
aw=$(j .bytes_out)
run_expect 0 tk "$B" bundle apply "$TMP/att.tkb" --json
aa=$(j .seconds)

awk -v n="$N" -v rb="$rb" -v rw="$rw" -v ba="$ba" -v cs="$cs" -v mb="$MB" -v ab="$ab" \
  -v aw="$aw" -v aa="$aa" 'BEGIN {
  printf "%-44s %12s %12s\n", "", "bundle", "live sync"
  printf "%-44s %12d %12d\n", "bytes for " n " records", rb, rw
  printf "%-44s %12.0f %12.0f\n", "bytes per record", rb / n, rw / n
  printf "%-44s %12.0f %12.0f\n", "records/s applied (B bundle; C pull)", n / ba, n / cs
  printf "%-44s %12d %12d\n", "bytes for a " mb " MiB attachment (+1 revision)", ab, aw
  printf "%-44s %12.0f %12.0f\n", "bytes per MiB of attachment", ab / mb, aw / mb
  printf "%-44s %12.2f %12s\n", "attachment apply, s", aa, "-"
}'
