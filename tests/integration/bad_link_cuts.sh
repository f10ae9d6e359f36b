# A cut costs kilobytes (issue 14): pulls through the shaping proxy
# (tests/bench/bench_linkproxy) at 600 ms / 256 kbit/s with the real
# tundukd and tunduk.
#   - a pull whose link is cut 5 s after each connection starts (at most
#     TK_BAD_LINK_CUTS cuts, default 6): `tunduk sync` is re-run after each
#     cut until it exits 0, and every record arrives. From the proxy's byte
#     counts: the bytes re-sent per cut, (down bytes of all the cut pull's
#     connections - down bytes of one uncut pull of the same records) /
#     cuts, are at most one step (STEP_BYTES, 64 KiB) plus the proxy's
#     queue (32 KiB, bytes the hub's kernel counts as sent that the link
#     had not carried) plus what a reconnect costs (the down bytes of a
#     no-op sync with a full TLS handshake);
#   - an office SIGKILLed some seconds into a pull keeps what it stored:
#     its store opens and verifies, it holds more than nothing, and the
#     next sync completes with every record without pulling again more
#     than one step of what it kept.
# With steps, every connection stores what arrived whole before its cut,
# so the pull completes with no limit on cuts (STREAMING=1, the default)
# within one sync per step plus three, each re-run storing more.
# TK_BAD_LINK_STREAMING=0 keeps the old stand-in (at most MAX_CUTS cuts,
# then an uncut connection), for a pull that cannot.
# The records: TK_BAD_LINK_CUT_RECORDS (default 300, ~660 KB: 20 s of
# link time); TK_BAD_LINK_FULL=1 (`make test-long`) makes it 1,000 and 20
# cuts.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"
. "$(dirname "$0")/lib/link.sh"
COUNT=${TK_BAD_LINK_CUT_RECORDS:-300}
MAX_CUTS=${TK_BAD_LINK_CUTS:-6}
if [ "${TK_BAD_LINK_FULL:-0}" = 1 ]; then
  COUNT=${TK_BAD_LINK_CUT_RECORDS:-1000}
  MAX_CUTS=${TK_BAD_LINK_CUTS:-20}
fi
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || fail "TK_BAD_LINK_CUT_RECORDS must be a count, not '$COUNT'"
[[ $MAX_CUTS =~ ^[1-9][0-9]*$ ]] || fail "TK_BAD_LINK_CUTS must be a count, not '$MAX_CUTS'"
STEP_BYTES=65536
QUEUE_KB=32
LINK=(--rtt-ms 600 --kbit 256 --queue-kb "$QUEUE_KB")
WIDE=(--rtt-ms 0 --kbit 10000000) # the same proxy, no shaping: byte counts only
KILL_AFTER=12                     # s into the killed pull: past TCP, TLS, Hello, a few steps
STREAMING=${TK_BAD_LINK_STREAMING:-1} # 0: the stand-in for a pull without steps

new_hub "$TMP/hub"
start_hub
two_offices cases r
C=$TMP/c K=$TMP/k
enroll_office "$C" office-c cases:r
run_expect 0 tk "$A" vault grant cases "$OFFICE_ID"
enroll_office "$K" office-k cases:r
run_expect 0 tk "$A" vault grant cases "$OFFICE_ID"
fill "$A" cases "$COUNT"
sync_ok "$A"
[ "$(hub_sql "select count(*) from revisions where vault = 'cases'")" = "$COUNT" ] ||
  fail "the hub holds $(hub_sql "select count(*) from revisions where vault = 'cases'") of $COUNT"

step "the bytes of one uncut pull of $COUNT records, and of a no-op sync"
proxy_start "${WIDE[@]}"
set_hub_addr "$B" "127.0.0.1:$PROXY_PORT"
sync_ok "$B"
proxy_stop >/dev/null
BASE_DOWN=$PROXY_DOWN
[ "$(vault_revs "$B" cases)" = "$COUNT" ] || fail "B pulled $(vault_revs "$B" cases) of $COUNT"
set_hub_addr "$B" "127.0.0.1:$HUB_PORT"
sync_ok "$B" # the sync after a first pull may still have work (grants, re-offers)
proxy_start "${WIDE[@]}"
set_hub_addr "$B" "127.0.0.1:$PROXY_PORT"
run_expect 0 tk "$B" sync --no-resume
proxy_stop >/dev/null
NOOP_DOWN=$PROXY_DOWN
echo "uncut pull: down=$BASE_DOWN bytes; no-op sync (full TLS): down=$NOOP_DOWN bytes"

if [ "$STREAMING" = 1 ]; then
  CUT_ARGS=()
  MAX_TRIES=$((BASE_DOWN / STEP_BYTES + 3))
  step "a pull cut 5 s into every connection, re-run until it completes (at most $MAX_TRIES syncs)"
else
  CUT_ARGS=(--cuts "$MAX_CUTS")
  MAX_TRIES=$((MAX_CUTS + 5))
  step "a pull cut 5 s into each connection (at most $MAX_CUTS cuts), re-run until it completes"
fi
proxy_start "${LINK[@]}" --cut-every-ms 5000 ${CUT_ARGS[@]+"${CUT_ARGS[@]}"}
set_hub_addr "$C" "127.0.0.1:$PROXY_PORT"
t0=$(date +%s)
tries=0 rc=1 had=0 stuck=0
while [ "$rc" != 0 ]; do
  tries=$((tries + 1))
  [ "$tries" -le "$MAX_TRIES" ] || fail "the cut pull did not complete in $((tries - 1)) syncs"
  set +e
  tk "$C" sync >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  now=$(vault_revs "$C" cases)
  echo "sync $tries: exit $rc, $now of $COUNT stored $(head -1 "$TMP/err")"
  [ "$rc" = 0 ] || [ "$now" -gt "$had" ] || stuck=$((stuck + 1))
  had=$now
done
t1=$(date +%s)
proxy_stop >/dev/null
proxy_report
grep '^connection ' "$PROXY_OUT"
echo "cut pull: $((t1 - t0)) s, $tries syncs, $PROXY_CONNS connections, $PROXY_CUTS cuts, down=$PROXY_DOWN bytes"
[ "$PROXY_CUTS" -ge 3 ] || fail "only $PROXY_CUTS cuts: the pull was not cut enough to tell"
echo "cut syncs that stored nothing: $stuck of $PROXY_CUTS"
[ "$STREAMING" = 0 ] || [ "$stuck" = 0 ] || fail "$stuck cut syncs stored nothing"
[ "$(vault_revs "$C" cases)" = "$COUNT" ] || fail "C holds $(vault_revs "$C" cases) of $COUNT"
[ "$(rev_ids "$C")" = "$(rev_ids "$A")" ] || fail "office C does not hold office A's revisions"
verify_all "$C" "$COUNT"
same_sample "$A" "$C" cases
RESENT=$(((PROXY_DOWN - BASE_DOWN) / PROXY_CUTS))
BOUND=$((STEP_BYTES + QUEUE_KB * 1024 + NOOP_DOWN))
echo "bytes re-sent per cut: ($PROXY_DOWN - $BASE_DOWN) / $PROXY_CUTS = $RESENT (at most $BOUND: step $STEP_BYTES + queue $((QUEUE_KB * 1024)) + reconnect $NOOP_DOWN)"
[ "$RESENT" -le "$BOUND" ] || fail "a cut re-sent $RESENT bytes, more than one step ($BOUND)"

step "an office SIGKILLed $KILL_AFTER s into a pull keeps what it stored"
proxy_start "${LINK[@]}"
set_hub_addr "$K" "127.0.0.1:$PROXY_PORT"
"$BIN/tunduk" --home "$K" sync >"$TMP/kill.out" 2>"$TMP/kill.err" &
KILL_PID=$!
sleep "$KILL_AFTER"
kill -0 "$KILL_PID" 2>/dev/null || { cat "$TMP/kill.err" >&2; fail "the pull ended before the kill"; }
kill -KILL "$KILL_PID"
wait "$KILL_PID" 2>/dev/null || true
proxy_stop >/dev/null
kept=$(vault_revs "$K" cases)
kept_bytes=$(office_sql "$K" "select coalesce(sum(size), 0) from revisions where vault = 'cases'")
echo "killed after $KILL_AFTER s: $kept of $COUNT revisions stored ($kept_bytes bytes), down=$PROXY_DOWN bytes"
verify_all "$K" "$kept"
[ "$kept" -gt 0 ] || fail "the killed office stored nothing of $PROXY_DOWN bytes received"
[ "$kept" -lt "$COUNT" ] || fail "the pull had finished before the kill: nothing tested"
proxy_start "${LINK[@]}"
set_hub_addr "$K" "127.0.0.1:$PROXY_PORT"
run_expect 0 tk "$K" sync
proxy_stop >/dev/null
[ "$(vault_revs "$K" cases)" = "$COUNT" ] || fail "after the next sync K holds $(vault_revs "$K" cases) of $COUNT"
[ "$(rev_ids "$K")" = "$(rev_ids "$A")" ] || fail "office K does not hold office A's revisions"
verify_all "$K" "$COUNT"
echo "the next sync: down=$PROXY_DOWN bytes (an uncut pull of everything: $BASE_DOWN)"
[ "$PROXY_DOWN" -le $((BASE_DOWN - kept_bytes + STEP_BYTES)) ] ||
  fail "the next sync pulled $PROXY_DOWN bytes: more than the $((BASE_DOWN - kept_bytes)) missing plus one step"
hub_alive
echo "PASS bad_link_cuts"
