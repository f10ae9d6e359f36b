# Per-session write back-pressure at the hub (core/hub/hub.c; PROTOCOL.md
# section 11): a hub reads no further frame from a connection while more
# than max_frame bytes it sent are unread. A device that pipelines Pull and
# Need frames without ever reading the answers (tests/tools/tk_rogue flood)
# must not make the hub queue one Offer (thousands of ids) per Pull in
# memory. The hub holds a few thousand small revisions the rogue may read;
# while the rogue floods, the hub's VmRSS is sampled and must grow by less
# than $BOUND_MB MiB; an honest office still pulls everything (pipelined)
# meanwhile, and the hub lives on. A paused session is not kept forever:
# with idle_timeout_ms = 4000 the hub closes the rogue's connection once it
# has taken none of the queued bytes for 4 s (a write stall), and says so.
#
# Measured peak growth of VmRSS over the 8 s sampled (3000 revisions of
# about 330 bytes, so each Offer is about 100 KB; flood 2000):
#   without back-pressure (on_frame never pauses): +160 MiB (RelWithDebInfo),
#                                                  +97 MiB (ASan, slower)
#   with back-pressure (paused after ~40 Offers):  +4 MiB (RelWithDebInfo),
#                                                  +29 MiB (ASan, quarantine 16 MiB)
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"
ROGUE=$BIN/tk_rogue
COUNT=3000
FLOOD=2000
BOUND_MB=${TK_BP_BOUND_MB:-64}

vmrss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$HUB_PID/status"; }
vmhwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$HUB_PID/status"; }

# ASan keeps freed memory in a quarantine (256 MiB by default), which would
# show as growth here: a small one keeps the figure about live memory.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
HUB_CONFIG=$TMP/hub.conf
printf 'log_level = debug\nidle_timeout_ms = 4000\n' >"$HUB_CONFIG"
new_hub "$TMP/hub"
start_hub
two_offices cases r # A writes, B (the rogue's office) may read
enroll_office "$TMP/c" office-c cases:r
C=$TMP/c
run_expect 0 tk "$A" vault grant cases "$OFFICE_ID"

step "office A pushes $COUNT small revisions"
run_expect 0 "$BIN/tk_fill" --home "$A" --vault cases --count "$COUNT" --size 40
sync_ok "$A"
[ "$(hub_sql "select count(*) from revisions")" = "$COUNT" ] || fail "the hub lacks revisions"

step "the rogue floods $FLOOD Pull+Need pairs and reads nothing"
base=$(vmrss)
echo "   hub before the flood: VmRSS $base kB, VmHWM $(vmhwm) kB"
mark=$(wc -l <"$HUB_LOG")
"$ROGUE" --home "$B" --timeout 12 flood "$FLOOD" >"$TMP/rogue.out" 2>"$TMP/rogue.err" &
ROGUE_PID=$!
BG_PIDS+=("$ROGUE_PID")
peak=$base
for i in $(seq 1 80); do # 8 s
  r=$(vmrss)
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.1
done
grow=$(((peak - base) / 1024))
echo "   hub during the flood: peak VmRSS $peak kB (+$grow MiB; bound $BOUND_MB MiB)"
[ "$grow" -lt "$BOUND_MB" ] || fail "the hub grew by $grow MiB under a flood of unread answers"

step "an honest office pulls everything while the rogue's session is held"
kill -0 "$ROGUE_PID" 2>/dev/null || { cat "$TMP/rogue.out" "$TMP/rogue.err"; fail "the rogue ended early"; }
run_expect 0 tk "$C" sync --json
[ "$(jq .received "$TMP/out")" = "$COUNT" ] || { cat "$TMP/out"; fail "c received $(jq .received "$TMP/out") of $COUNT"; }
kill -0 "$ROGUE_PID" 2>/dev/null || fail "the rogue ended before the honest pull did"
run_expect 0 tk "$C" verify
out_has " 0 failed"
[ "$(rev_ids "$C")" = "$(rev_ids "$A")" ] || fail "c and a hold different revisions"

step "the hub paused the rogue's session, not the honest one"
wait "$ROGUE_PID" || { cat "$TMP/rogue.err"; fail "tk_rogue flood exited non-zero"; }
cat "$TMP/rogue.out"
grep -Eq '^flooded [0-9]+$' "$TMP/rogue.out" || fail "tk_rogue printed no 'flooded' line"
tail -n +"$((mark + 1))" "$HUB_LOG" | grep -q "hub: paused device=" ||
  fail "the hub never paused the rogue's session"
tail -n +"$((mark + 1))" "$HUB_LOG" | grep -Eq "hub: closed device=.* took none of [0-9]+ bytes for 4000 ms" ||
  fail "the hub kept the rogue's stalled session open"
hub_alive
sync_ok "$C"
hub_alive
stop_hub

step "the hub's output budget: frames of other devices wait while a reader-less device holds it"
# out_budget_mb = 1: the rogue's unread answers (more than 1 MiB) alone put
# the hub over its budget, so what office C sends is held until the rogue's
# connection is closed for its write stall (4 s); then C is served.
printf 'log_level = debug\nidle_timeout_ms = 4000\nout_budget_mb = 1\n' >"$HUB_CONFIG"
start_hub "$HUB_PORT"
mark=$(wc -l <"$HUB_LOG")
"$ROGUE" --home "$B" --timeout 12 flood "$FLOOD" >"$TMP/rogue2.out" 2>"$TMP/rogue2.err" &
ROGUE_PID=$!
BG_PIDS+=("$ROGUE_PID")
# the rogue's own frames are held first, once its unread answers pass 1 MiB
for _ in $(seq 1 100); do
  tail -n +"$((mark + 1))" "$HUB_LOG" | grep -q "hub: held device=" && break
  sleep 0.1
done
tail -n +"$((mark + 1))" "$HUB_LOG" | grep -q "hub: held device=" ||
  fail "the rogue's unread answers never put the hub over its budget"
t0=$SECONDS
run_expect 0 tk "$C" sync --json
waited=$((SECONDS - t0))
echo "   office c's sync took $waited s"
# the rogue's session is held once (then reads nothing more); a second held
# frame is office c's (its Hello: the device is not named before it)
held=$(tail -n +"$((mark + 1))" "$HUB_LOG" | grep -c "hub: held device=" || true)
[ "$held" -ge 2 ] || fail "the hub did not hold office c's frames while over its budget"
[ "$waited" -ge 2 ] || fail "office c was served at once ($waited s) while the hub was over its budget"
tail -n +"$((mark + 1))" "$HUB_LOG" | grep -Eq "hub: closed device=.* took none of [0-9]+ bytes for 4000 ms" ||
  fail "the rogue's stalled connection was not closed"
[ "$(jq .received "$TMP/out")" = 0 ] || fail "office c's second pull received revisions"
wait "$ROGUE_PID" || true
hub_alive
stop_hub
echo ok
