# A commit no longer blocks other sessions' I/O: the hub's writes run on its
# store thread (core/store/store_thread.c, core/hub/hub_store.c). The hub runs with
# TK_TEST_STORE_DELAY_MS (tests only: the store thread sleeps that long
# before each job, so every commit takes at least that long). Office A
# pushes a batch; once the hub's debug log shows the batch queued for the
# store thread, office B runs a whole no-op sync (Hello, LogQuery,
# GrantQuery, Pull and their answers). B must finish, with an exchange
# well under the delay, while A is still waiting for its Ack, and before
# the hub logs A's stored batch ("push device=A accepted=": logged in the
# completion, after the commit). Then A's sync ends and its records are at
# the hub.
#
# With the old behaviour (the batch applied and committed on the loop
# thread) this fails: the "queued" point would be the loop entering the
# slow commit, and the loop would read nothing of B's connection until
# the commit returned, and then log A's "accepted" line in the same
# callback before serving B's Hello; so B could never complete a sync
# between A's batch arriving and A's accepted line, and its exchange would
# last at least the rest of the delay.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

DELAY_MS=6000

new_hub "$TMP/hub"
start_hub
PORT=$HUB_PORT
two_offices cases r
sync_ok "$A"
sync_ok "$B"
for i in 1 2 3 4 5; do new_record "$A" cases "slow commit $i" >/dev/null; done
stop_hub

step "hub restarted with TK_TEST_STORE_DELAY_MS=$DELAY_MS and debug logs"
mark=$(wc -l <"$HUB_LOG")
TK_TEST_STORE_DELAY_MS=$DELAY_MS "$BIN/tundukd" --home "$HUB_HOME" serve \
  --listen "127.0.0.1:$PORT" --log-level debug 2>>"$HUB_LOG" &
HUB_PID=$!
BG_PIDS+=("$HUB_PID")
newlog() { tail -n +"$((mark + 1))" "$HUB_LOG"; }
for i in $(seq 1 100); do
  newlog | grep -q "listening addr=" && break
  sleep 0.1
done
newlog | grep -q "listening addr=" || { cat "$HUB_LOG" >&2; fail "the hub did not start"; }
newlog | grep -q "TK_TEST_STORE_DELAY_MS=$DELAY_MS" || fail "the hub did not take the test delay"

step "A pushes; B syncs while A's commit is pending"
tk "$A" sync --json >"$TMP/a.json" 2>"$TMP/a.err" &
A_PID=$!
for i in $(seq 1 200); do
  newlog | grep -q "push device=.* queued=5" && break
  kill -0 "$A_PID" 2>/dev/null || { cat "$TMP/a.err" >&2; fail "A's sync ended early"; }
  sleep 0.05
done
newlog | grep -q "push device=.* queued=5" || { newlog >&2; fail "A's batch never queued"; }
A_WHO=$(newlog | sed -n 's/.*push device=\([^ ]*\) queued=5.*/\1/p' | head -1)
run_expect 0 tk "$B" sync --json
cp "$TMP/out" "$TMP/b.json"
kill -0 "$A_PID" 2>/dev/null || fail "A's sync ended before B's: the commit was not slow"
if newlog | grep -q "push device=$A_WHO accepted="; then
  newlog >&2
  fail "A's batch was committed before B's sync ended: B's exchange did not overlap it"
fi
b_secs=$(jq -r .seconds "$TMP/b.json")
echo "B's exchange: ${b_secs}s while A's commit (>= ${DELAY_MS} ms) was pending"
awk -v s="$b_secs" -v d="$DELAY_MS" 'BEGIN { exit !(s * 1000 < d / 2) }' ||
  fail "B's no-op sync took ${b_secs}s, not well under the ${DELAY_MS} ms commit"
newlog | grep -q "pull device=" || fail "B's Pull is not in the hub's debug log"

step "A's batch is acked after its commit"
wait "$A_PID" || { cat "$TMP/a.err" >&2; fail "A's sync failed"; }
[ "$(jq -r .sent "$TMP/a.json")" = 5 ] || { cat "$TMP/a.json" >&2; fail "A did not send 5"; }
newlog | grep -q "push device=$A_WHO accepted=5" || fail "the hub did not log A's 5 accepted"
[ "$(hub_sql 'select count(*) from revisions')" -ge 5 ] || fail "the hub lacks A's revisions"

step "SIGTERM while a batch waits for its commit: drained, committed, not acked"
for i in 6 7 8; do new_record "$A" cases "slow commit $i" >/dev/null; done
mark=$(wc -l <"$HUB_LOG")
tk "$A" sync --json >"$TMP/a2.json" 2>"$TMP/a2.err" &
A_PID=$!
for i in $(seq 1 200); do
  newlog | grep -q "push device=.* queued=3" && break
  sleep 0.05
done
newlog | grep -q "push device=.* queued=3" || { newlog >&2; fail "A's second batch never queued"; }
stop_hub # exits 0 only after the store thread ran the queued batch
a_rc=0
wait "$A_PID" || a_rc=$?
[ "$a_rc" != 0 ] || fail "A's sync succeeded: an Ack was sent by a stopping hub"
if newlog | grep -q "push device=$A_WHO accepted=3"; then fail "the stopping hub acked"; fi
[ "$(hub_sql 'select count(*) from revisions')" -ge 8 ] ||
  fail "the drained batch was not committed"
[ "$(hub_sql 'pragma integrity_check')" = ok ] || fail "integrity_check after the drain"
echo "RESULT store_thread b_seconds=$b_secs delay_ms=$DELAY_MS"
