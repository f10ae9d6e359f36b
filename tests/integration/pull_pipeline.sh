# The pull is pipelined: the hub sends the next steps while the office still
# checks and stores this one (PROTOCOL.md section 7: steps, at least two out
# ahead of the office's Acks). Office C runs a deliberately slow moderation
# rule (tens of ms a record), so storing a step takes a good fraction of a
# second; the hub logs (at debug) each step it sends and each Ack that
# comes back. Pipelined, when an Ack comes (every one but the last) the next
# step is already out; one at a time, each step would go out only after the
# Ack before it. The pull must also be complete and verify.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

HUB_CONFIG=$TMP/tundukd.conf
printf 'log_level = debug\nbatch_bytes = 8192\n' >"$HUB_CONFIG"
new_hub "$TMP/hub"
start_hub
two_offices cases rw
C=$B # the pulling office
slow_office "$C" 1500000
"$BIN/tk_fill" --home "$A" --vault cases --count 200 --size 300 >/dev/null
sync_ok "$A"
mark=$(wc -l <"$HUB_LOG")

step "office C pulls 200 records in steps of 8 KiB"
run_expect 0 tk "$C" sync --json
[ "$(jq .received "$TMP/out")" = 200 ] || { cat "$TMP/out"; fail "c received $(jq .received "$TMP/out") of 200"; }
run_expect 0 tk "$C" verify
out_has " 0 failed"
[ "$(rev_ids "$C")" = "$(rev_ids "$A")" ] || fail "c and a hold different revisions"

step "the next step was out before each Ack came back"
# ms since midnight of each debug line of C's session: "S" a step sent, "A"
# an Ack taken
tail -n +"$((mark + 1))" "$HUB_LOG" | grep -E "hub: pull device=${B_ID:0:9} (sent|acked)" |
  sed -E 's/^[0-9-]+T([0-9]+):([0-9]+):([0-9.]+)Z.*pull device=[^ ]+ (sent|acked).*/\1 \2 \3 \4/' |
  awk '{ t = ($1 * 3600 + $2 * 60 + $3) * 1000; printf "%s %.0f\n", ($4 == "sent" ? "S" : "A"), t }' \
    >"$TMP/events"
tr '\n' ' ' <"$TMP/events"
echo
nsent=$(grep -c '^S' "$TMP/events")
[ "$nsent" -ge 4 ] || fail "only $nsent steps: the test needs a pull of at least 4"
[ "$(grep -c '^A' "$TMP/events")" = "$nsent" ] || fail "not every step was acked once"
# (Acks of steps the office took in one read go out together: the time a
# step takes to store is the average gap.)
awk '$1 == "S" { s++ }
  $1 == "A" { a++; if (a == 1) first = $2; printf "   ack %d: %d steps out before it\n", a, s - a + 1
              if (a < s_total && s <= a) bad = 1; last = $2 }
  END { avg = (last - first) / (a - 1); printf "   %.0f ms a step\n", avg
        if (avg < 100) { print "   storing a step took under 100 ms: the rule is not slow enough"; bad = 1 }
        exit bad }' \
  s_total="$nsent" "$TMP/events" || fail "the hub waited for an Ack before sending the next step"
hub_alive
stop_hub
echo ok
