# Hello, the grant query and the first Pull or push step travel together
# (PROTOCOL.md, "Order at the start of a session"): a no-op sync of an
# office with nothing to push sends its LogQuery, GrantQuery and Pull right
# behind its Hello, without waiting for the hub's Hello, and an office with
# a few records to push sends them as its first step in the same flight. Through bench_linkproxy with
# a 600 ms round trip, the hub's debug log shows the Pull arriving with the
# Hello (well under one round trip after it; one at a time it would come a
# whole round trip later, after our office had read the hub's Hello).
# A hub with another identity but a copy of the real hub's store answers
# the early frames in full; the office, pinned to the real hub, stops at
# its Hello and stores nothing. A revoked device's pipelined frames get nothing: the hub refuses at the
# Hello, answers nothing else, and the office stores nothing.
# Prints "RESULT sync_early wall_ms=W resumed_wall_ms=R hello_to_pull_ms=G" (the
# no-op sync's wall time through the link, full and resumed TLS).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

RTT=600
HUB_CONFIG=$TMP/tundukd.conf
printf 'log_level = debug\n' >"$HUB_CONFIG"
new_hub "$TMP/hub"
start_hub
two_offices cases rw
for i in 1 2 3; do new_record "$A" cases "record $i" >/dev/null; done
sync_ok "$A"
sync_ok "$B" # pulls them: after its push checkpoint, only what the hub sent it

"$BIN/bench_linkproxy" --listen 127.0.0.1:0 --to "127.0.0.1:$HUB_PORT" --rtt-ms $RTT \
  --kbit 100000 >"$TMP/link.log" 2>&1 &
BG_PIDS+=("$!")
for _ in $(seq 50); do grep -q listening "$TMP/link.log" && break; sleep 0.1; done
LINK=$(sed -n 's/^listening //p' "$TMP/link.log")
[ -n "$LINK" ] || fail "bench_linkproxy did not start"
set_hub_addr "$B" "$LINK"

# ms since midnight of a hub log line
line_ms() {
  sed -E 's/^[0-9-]+T([0-9]+):([0-9]+):([0-9.]+)Z.*/\1 \2 \3/' | awk '{ printf "%.0f\n", ($1 * 3600 + $2 * 60 + $3) * 1000 }'
}

step "a no-op sync through a ${RTT} ms link: the Pull comes with the Hello"
mark=$(wc -l <"$HUB_LOG")
t0=$(date +%s%N)
run_expect 0 tk "$B" sync --json
wall=$((($(date +%s%N) - t0) / 1000000))
[ "$(jq .received "$TMP/out")" = 0 ] || { cat "$TMP/out"; fail "the sync was not a no-op"; }
echo "   round_trips=$(jq .round_trips "$TMP/out") tls_resumed=$(jq .tls_resumed "$TMP/out") wall=${wall} ms"
tail -n +"$((mark + 1))" "$HUB_LOG" >"$TMP/session.log"
hello=$(grep -m1 'hub: hello device=.* known=yes' "$TMP/session.log" | line_ms)
pull=$(grep -m1 'hub: pull device=.* since=' "$TMP/session.log" | line_ms)
[ -n "$hello" ] && [ -n "$pull" ] || { cat "$TMP/session.log"; fail "no hello or pull line in the hub's log"; }
gap=$((pull - hello))
echo "   the hub read the Pull $gap ms after the Hello"
[ "$gap" -lt $((RTT / 2)) ] || fail "the Pull came $gap ms after the Hello: it waited for the hub's Hello"

step "again, on a resumed TLS session"
t0=$(date +%s%N)
run_expect 0 tk "$B" sync --json
wall2=$((($(date +%s%N) - t0) / 1000000))
echo "   round_trips=$(jq .round_trips "$TMP/out") tls_resumed=$(jq .tls_resumed "$TMP/out") wall=${wall2} ms"

step "a push of two records through the link: the first step comes with the Hello"
set_hub_addr "$A" "$LINK"
for i in 4 5; do new_record "$A" cases "record $i" >/dev/null; done
mark=$(wc -l <"$HUB_LOG")
run_expect 0 tk "$A" sync --json
[ "$(jq .sent "$TMP/out")" = 2 ] || { cat "$TMP/out"; fail "the push sent $(jq .sent "$TMP/out") of 2"; }
tail -n +"$((mark + 1))" "$HUB_LOG" >"$TMP/push.log"
hello=$(grep -m1 'hub: hello device=.* known=yes' "$TMP/push.log" | line_ms)
push=$(grep -m1 'hub: push device=.* accepted=2 ' "$TMP/push.log" | line_ms)
[ -n "$hello" ] && [ -n "$push" ] || { cat "$TMP/push.log"; fail "no hello or push line in the hub's log"; }
pgap=$((push - hello))
echo "   the hub stored the push $pgap ms after the Hello"
[ "$pgap" -lt $((RTT / 2)) ] || fail "the push came $pgap ms after the Hello: it waited for the hub's Hello"
set_hub_addr "$A" "127.0.0.1:$HUB_PORT"
sync_ok "$B"

step "a hub that is not the pinned one: sent nothing early, stores nothing"
# a second hub with its own identity and a copy of the real hub's store: it
# knows office B and answers its early frames with the real logs, grants
# and a new record
new_record "$A" cases "only on the impostor" >/dev/null
sync_ok "$A"
REAL_HOME=$HUB_HOME REAL_PORT=$HUB_PORT REAL_PID=$HUB_PID REAL_LOG=$HUB_LOG
new_hub "$TMP/hub2"
sqlite3 "$REAL_HOME/store.db" ".backup '$TMP/hub2.db'"
mv "$TMP/hub2.db" "$TMP/hub2/store.db"
rm -f "$TMP/hub2/store.db-wal" "$TMP/hub2/store.db-shm"
mv "$TMP/hub.log" "$TMP/hub1.log" # the real hub keeps writing to it (same file)
start_hub
IMPOSTOR_LOG=$HUB_LOG
set_hub_addr "$B" "127.0.0.1:$HUB_PORT"
before=$(store_digest "$B")
run_expect 1 tk "$B" sync
err_has "hub identity mismatch"
[ "$(store_digest "$B")" = "$before" ] || fail "the office stored something from a hub that is not its own"
# its TLS key is not the one the real hub's Hello proved: the office waits
# for its Hello (and refuses it), so the impostor reads no Pull at all
grep 'hub: pull device=' "$IMPOSTOR_LOG" && fail "an impostor read the office's early Pull"
stop_hub
mv "$TMP/hub.log" "$TMP/impostor.log"
mv "$TMP/hub1.log" "$TMP/hub.log"
HUB_HOME=$REAL_HOME HUB_PORT=$REAL_PORT HUB_PID=$REAL_PID HUB_LOG=$REAL_LOG

step "a revoked device's pipelined frames get nothing"
set_hub_addr "$B" "127.0.0.1:$HUB_PORT"
run_expect 0 hubd --home "$HUB_HOME" device revoke "$B_ID"
new_record "$A" cases "after revocation" >/dev/null
sync_ok "$A"
before=$(store_digest "$B")
mark=$(wc -l <"$HUB_LOG")
run_expect 1 tk "$B" sync
err_has "revoked"
sleep 0.2
tail -n +"$((mark + 1))" "$HUB_LOG" >"$TMP/revoked.log"
grep -q 'reason="this device was revoked"' "$TMP/revoked.log" || { cat "$TMP/revoked.log"; fail "the hub did not refuse the Hello"; }
grep -E 'hub: (chunk )?pull |hub: push ' "$TMP/revoked.log" && fail "the hub answered a revoked device's pipelined frames"
[ "$(grep -c 'hub: closing device=' "$TMP/revoked.log")" = 1 ] ||
  { cat "$TMP/revoked.log"; fail "the hub answered more than the Hello's Error"; }
[ "$(store_digest "$B")" = "$before" ] || fail "the revoked office's store changed"
hub_alive
stop_hub
echo "RESULT sync_early wall_ms=$wall resumed_wall_ms=$wall2 hello_to_pull_ms=$gap hello_to_push_ms=$pgap"
echo ok
