# The pull is pipelined: the office sends the Pull for the next offer along
# with the Need for this one, so the hub reads and sends the next batch
# while the office still checks and stores this one (PROTOCOL.md section 6).
# Office C runs a deliberately slow moderation rule (tens of ms a record),
# so storing a batch takes a good fraction of a second; the hub logs (at
# debug) when each Pull and each Need arrives. Pipelined, each Pull arrives
# right after the Need before it; one at a time, it would come only after
# the office had stored that batch, as long after the Need as the next
# Need. The pull must also be complete and verify.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

HUB_CONFIG=$TMP/tundukd.conf
printf 'log_level = debug\nbatch_bytes = 8192\n' >"$HUB_CONFIG"
new_hub "$TMP/hub"
start_hub
two_offices cases rw
C=$B # the pulling office
slow_office "$C" 1500000
for i in $(seq 1 80); do new_record "$A" cases "record $i of the pipelined pull" >/dev/null; done
sync_ok "$A"
mark=$(wc -l <"$HUB_LOG")

step "office C pulls 80 records in batches of 8 KiB"
run_expect 0 tk "$C" sync --json
[ "$(jq .received "$TMP/out")" = 80 ] || { cat "$TMP/out"; fail "c received $(jq .received "$TMP/out") of 80"; }
run_expect 0 tk "$C" verify
out_has " 0 failed"
[ "$(rev_ids "$C")" = "$(rev_ids "$A")" ] || fail "c and a hold different revisions"

step "each Pull reached the hub right after the Need before it"
# ms since midnight of each debug line of C's session: "S" a Need served,
# "P" a Pull (after the first)
tail -n +"$((mark + 1))" "$HUB_LOG" | grep 'hub: pull device=' |
  sed -E 's/^[0-9-]+T([0-9]+):([0-9]+):([0-9.]+)Z.*pull device=[^ ]+ (since|sent)=([0-9]+).*/\1 \2 \3 \4 \5/' |
  awk '{ t = ($1 * 3600 + $2 * 60 + $3) * 1000; printf "%s %.0f\n", ($4 == "sent" ? "S" : ($5 == 0 ? "F" : "P")), t }' \
    >"$TMP/events"
cat "$TMP/events" | tr '\n' ' '
echo
nsent=$(grep -c '^S' "$TMP/events")
[ "$nsent" -ge 4 ] || fail "only $nsent batches: the test needs a pull of at least 4"
# For each Pull after a served Need: how long after that Need it came, and
# how long the next Need came after that Need (about one batch stored).
awk 'BEGIN { n = 0 }
  $1 == "S" { if (last_s != "" && pending_p != "") { pull_gap[n] = pending_p - last_s; need_gap[n] = $2 - last_s; n++ }
              last_s = $2; pending_p = "" }
  $1 == "P" { if (last_s != "") pending_p = $2 }
  END {
    if (n < 3) { print "fewer than 3 batch pairs"; exit 1 }
    bad = 0
    for (i = 0; i < n; i++) {
      printf "   batch %d: pull %d ms after the need, next need %d ms after it\n", i + 1, pull_gap[i], need_gap[i]
      if (need_gap[i] < 100) { print "   storing a batch took under 100 ms: the rule is not slow enough"; bad = 1 }
      if (pull_gap[i] * 2 > need_gap[i]) bad = 1
    }
    exit bad
  }' "$TMP/events" || fail "the office asked for the next offer only after storing a batch"
hub_alive
stop_hub
echo ok
