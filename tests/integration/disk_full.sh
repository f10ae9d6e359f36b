# Disk full at the hub: the hub's home is on a small tmpfs (mounted in a
# private mount namespace when unshare works, unmounted at exit). With
# some records acknowledged, a filler file takes the rest of the space but
# about 1.5 MiB; office a then pushes ~3 MiB. The push is refused with a
# clear error naming the hub's failure (exit 1, not a crash), the hub keeps
# running and still serves a pull to office b, the store passes
# integrity_check and verify, and every revision office a has marked as
# acknowledged is at the hub; the hub stops cleanly and starts again on
# the full disk. Then the filler is deleted and the next sync
# sends the rest; everyone converges and verifies.
#
# Where tmpfs cannot be mounted (not root, no mount namespace), the same
# scenario runs with the hub's RLIMIT_FSIZE (prlimit; SIGXFSZ ignored, so a
# write past the limit fails with EFBIG) standing in for the full disk, and
# says so. TK_DISKFULL_MODE=fsize forces that way; =tmpfs forbids it.
if [ -z "${TK_DF_INNER:-}" ] && [ "${TK_DISKFULL_MODE:-}" != fsize ] && [ "$(id -u)" = 0 ] &&
  unshare -m --propagation private true 2>/dev/null; then
  TK_DF_INNER=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SMALL=$TMP/small
mkdir -m 700 "$SMALL"
MODE=${TK_DISKFULL_MODE:-}
if [ "$MODE" != fsize ] && mount -t tmpfs -o size=8m,mode=700 tk-disk-full "$SMALL" 2>"$TMP/mount.err"; then
  MODE=tmpfs
elif [ "$MODE" = tmpfs ]; then
  fail "TK_DISKFULL_MODE=tmpfs but tmpfs cannot be mounted: $(cat "$TMP/mount.err")"
else
  echo "NOTE: no tmpfs ($(cat "$TMP/mount.err" 2>/dev/null || echo forced)):" \
    "the full disk is simulated with the hub's RLIMIT_FSIZE"
  command -v prlimit >/dev/null || fail "neither tmpfs nor prlimit: the disk-full test cannot run"
  MODE=fsize
  trap '' XFSZ # inherited by the hub: a write past the limit fails with EFBIG
fi
echo "mode $MODE"
df_exit() {
  local rc=$? pid
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BG_PIDS=()
  [ "$MODE" != tmpfs ] || umount "$SMALL" 2>/dev/null || umount -l "$SMALL" || true
  (exit "$rc")
  cleanup
}
trap df_exit EXIT

new_hub "$SMALL/hub"
start_hub
two_offices docs r

hub_count() { hub_sql "select count(*) from revisions"; }
# acked_missing: "ACKED MISSING": office a's own revisions at or below its
# push checkpoint, and how many of them the hub lacks.
acked_missing() {
  office_sql "$A" "attach 'file:$HUB_HOME/store.db?mode=ro' as hub;
    select count(*), count(*) - count(h.id) from main.revisions r
      left join hub.revisions h on h.id = r.id
      where r.origin is null
        and r.seq <= (select coalesce(max(seq), 0) from main.checkpoints where dir = 0)" |
    tr '|' ' '
}
hub_store_ok() {
  [ "$(hub_sql "PRAGMA integrity_check")" = ok ] || fail "hub store integrity ($1)"
  TUNDUK_PASSPHRASE=$TUNDUKD_PASSPHRASE run_expect 0 tk "$HUB_HOME" verify
  out_has " $(hub_count) revisions: 0 verified, 0 failed"
}

step "300 records acknowledged while there is room"
run_expect 0 "$BIN/tk_fill" --home "$A" --vault docs --count 300 --size 1000
sync_ok "$A"
[ "$(hub_count)" = 300 ] || fail "hub holds $(hub_count) revisions, not 300"
# the WAL folded into the database, so what is left is the real room
stop_hub
hub_sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
start_hub "$HUB_PORT"

step "the disk fills up ($MODE)"
if [ "$MODE" = tmpfs ]; then
  avail=$(df --output=avail -B1 "$SMALL" | tail -1)
  room=$((5 << 19)) # leave 2.5 MiB: a batch or so fits, not three
  [ "$avail" -gt "$room" ] || fail "the tmpfs has only $avail bytes free"
  dd if=/dev/zero of="$SMALL/filler" bs=64k count=$(((avail - room) / 65536)) status=none
  echo "   $(df --output=avail -B1 "$SMALL" | tail -1) bytes free"
else
  big=0
  for f in "$HUB_HOME"/store.db*; do
    s=$(stat -c %s "$f")
    [ "$s" -le "$big" ] || big=$s
  done
  limit=$((big + (5 << 19)))
  prlimit --pid "$HUB_PID" --fsize="$limit:" # the soft limit: it can be raised back
  echo "   hub files limited to $limit bytes"
fi
run_expect 0 "$BIN/tk_fill" --home "$A" --vault docs --count 3000 --size 1000
total=$(office_sql "$A" "select count(*) from revisions")
run_expect 1 tk "$A" sync --json
echo "   office a: $(cat "$TMP/err")"
err_has "the hub could not store the batch (its disk is full)"
grep -q Sanitizer "$TMP/err" && fail "sanitizer report from the office"
hub_alive
grep -q "push failed device=" "$HUB_LOG" || fail "the hub logged no failed push"
grep "push failed device=" "$HUB_LOG" | tail -1 | sed 's/^/   hub: /'
read -r acked missing < <(acked_missing)
echo "   hub holds $(hub_count) of $total; office a counts $acked acknowledged, $missing missing"
[ "$missing" = 0 ] || fail "$missing acknowledged revisions are not at the hub"
[ "$acked" -ge 300 ] || fail "office a's push checkpoint went back: $acked acknowledged"
[ "$(hub_count)" -lt "$total" ] || fail "everything fitted: the disk was not full"
[ "$(hub_count)" = "$acked" ] || fail "the hub holds $(hub_count) revisions, office a counts $acked acknowledged"

step "the full hub still serves reads"
run_expect 0 tk "$B" sync --json
[ "$(jq .received "$TMP/out")" = "$(hub_count)" ] || fail "office b pulled $(jq .received "$TMP/out")"
hub_alive
step "a second push on the full disk is refused the same way"
run_expect 1 tk "$A" sync
err_has "the hub could not store the batch (its disk is full)"
hub_alive
hub_store_ok "while the disk is full"
step "the hub stops cleanly and starts again on the full disk"
stop_hub
start_hub "$HUB_PORT"
[ "$MODE" != fsize ] || prlimit --pid "$HUB_PID" --fsize="$limit:"
run_expect 0 tk "$B" sync --json
[ "$(jq .received "$TMP/out")" = 0 ] || fail "office b pulled again after the restart"
run_expect 1 tk "$A" sync
err_has "the hub could not store the batch (its disk is full)"
hub_alive

step "space returns: the next sync sends the rest"
if [ "$MODE" = tmpfs ]; then
  rm "$SMALL/filler"
else
  prlimit --pid "$HUB_PID" --fsize=unlimited:
fi
before=$(hub_count)
run_expect 0 tk "$A" sync --json
echo "   $(jq -c '{sent, duplicates, rejected}' "$TMP/out")"
[ "$(jq .sent "$TMP/out")" = $((total - before)) ] || fail "the resumed push sent $(jq .sent "$TMP/out"), not $((total - before))"
[ "$(hub_count)" = "$total" ] || fail "the hub holds $(hub_count) of $total after space returned"
read -r acked missing < <(acked_missing)
[ "$acked $missing" = "$total 0" ] || fail "after space returned: $acked acknowledged, $missing missing"
sync_ok "$B"
hub_sql "select hex(id) from revisions order by 1" >"$TMP/revs_hub"
for o in "$A" "$B"; do
  rev_ids "$o" | cmp -s - "$TMP/revs_hub" || fail "$(basename "$o") and the hub differ"
  run_expect 0 tk "$o" verify
  out_has " $total revisions: $total verified, 0 failed"
done
hub_alive
hub_store_ok "after space returned"
stop_hub
echo ok
