# A misbehaving client (tests/tools/tk_rogue) against the hub: a revision
# with a forged signature or altered ciphertext is rejected with a reason
# and not stored; an oversized frame, a truncated frame, garbage, an
# unknown message type and a connection that never says Hello are closed
# (or answered with an error) without storing anything, and the hub keeps
# serving normal offices throughout.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"
ROGUE=$BIN/tk_rogue

new_hub "$TMP/hub"
start_hub
A=$TMP/a
enroll_office "$A" office-a cases:rw
run_expect 0 tk "$A" vault create cases
rec=$(new_record "$A" cases genuine)
rec2=$(new_record "$A" cases second)
sync_ok "$A"
edit_record "$A" "$rec2" "not yet synced edit" >/dev/null
count=$(hub_sql "select count(*) from revisions")
[ "$count" = 2 ] || fail "hub holds $count revisions, expected 2"

# normal_sync: the hub still serves an honest office (one new revision).
normal_sync() {
  new_record "$A" cases "after $1" >/dev/null
  sync_ok "$A"
  count=$(office_sql "$A" "select count(*) from revisions")
  [ "$(hub_sql "select count(*) from revisions")" = "$count" ] ||
    fail "after $1: hub holds $(hub_sql "select count(*) from revisions") revisions, the office $count"
  hub_alive
}

# rejected_sig MODE REC: the altered revision is needed, then rejected with
# code 3 (signature) and a reason, and not stored.
# With --steps as a third argument, sent as a push step (no Offer, no Need).
rejected_sig() {
  run_expect 0 "$ROGUE" --home "$A" --timeout 10 ${3:-} "$1" "$2"
  out_has "hello enrolled=1 access=cases:rw"
  local id
  id=$(sed -n 's/^offer \([0-9a-f]\{64\}\)$/\1/p' "$TMP/out")
  [ -n "$id" ] || fail "$1: the rogue offered nothing"
  [ -n "${3:-}" ] || out_has "need 1"
  grep -Eq "^rejected $id: 3 .+" "$TMP/out" || { cat "$TMP/out"; fail "$1: not rejected as a bad signature with a reason"; }
  out_has "ack accepted=0 "
  [ "$(hub_sql "select count(*) from revisions")" = "$count" ] || fail "$1: the hub stored something"
  [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$id')")" = 0 ] ||
    fail "$1: the altered revision is stored"
}

step "forged signature (a synced revision, and one the hub has not seen)"
rejected_sig forge-sig "$rec"
rejected_sig forge-sig "$rec2"
step "altered ciphertext"
rejected_sig alter-ciphertext "$rec"
rejected_sig alter-ciphertext "$rec2"
normal_sync "the altered revisions"
step "the same as push steps (protocol 3: the hub takes each id as the SHA-256 of the bytes)"
rejected_sig forge-sig "$rec2" --steps
rejected_sig alter-ciphertext "$rec2" --steps
normal_sync "the altered steps"

step "a push step of 4096 revisions is judged one by one; 4097 is ERROR_LIMIT and closed"
run_expect 0 "$ROGUE" --home "$A" --timeout 20 step-ids 4096
out_has "ack accepted=0 duplicates=0 rejected=4096"
run_expect 0 "$ROGUE" --home "$A" --timeout 20 step-ids 4097
grep -q "^error 8 " "$TMP/out" || { cat "$TMP/out"; fail "a step of 4097 not answered with ERROR_LIMIT (8)"; }
grep -q "^closed timeout" "$TMP/out" && fail "the hub kept the connection open after ERROR_LIMIT"
[ "$(hub_sql "select count(*) from revisions")" = "$count" ] || fail "a junk step stored something"
step "an Ack with no pull step out is ERROR_PROTOCOL and closed"
run_expect 0 "$ROGUE" --home "$A" --timeout 20 ack-out
grep -q "^error 1 " "$TMP/out" || { cat "$TMP/out"; fail "an Ack out of turn not answered with ERROR_PROTOCOL (1)"; }
grep -q "^closed timeout" "$TMP/out" && fail "the hub kept the connection open after the Ack"
normal_sync "the junk steps"

# closed_by_hub MODE: the hub ends the connection by itself (not our
# timeout), maybe after an Error frame, and stores nothing.
closed_by_hub() {
  local t0=$SECONDS
  run_expect 0 "$ROGUE" --home "$A" --timeout 20 "$1"
  out_has "hello enrolled=1"
  grep -q "^closed " "$TMP/out" || { cat "$TMP/out"; fail "$1: no end of connection reported"; }
  grep -q "^closed timeout" "$TMP/out" && { cat "$TMP/out"; fail "$1: the hub kept the connection open"; }
  grep -q "^frame " "$TMP/out" && { cat "$TMP/out"; fail "$1: the hub answered with a normal message"; }
  [ $((SECONDS - t0)) -lt 15 ] || fail "$1: the hub took $((SECONDS - t0)) s to close"
  [ "$(hub_sql "select count(*) from revisions")" = "$count" ] || fail "$1: the hub stored something"
  echo "   $1: $(tr '\n' ' ' <"$TMP/out")"
}

for mode in oversized truncated garbage unknown-type; do
  step "$mode frame"
  closed_by_hub "$mode"
  normal_sync "$mode"
done
grep -q "^error 1 " <("$ROGUE" --home "$A" --timeout 20 unknown-type) ||
  fail "a frame with no known message is not answered with ERROR_PROTOCOL (1)"

step "a connection that never says Hello does not block others"
"$ROGUE" --home "$A" --timeout 4 idle-hello >"$TMP/idle" 2>&1 &
idle=$!
BG_PIDS+=("$idle")
sleep 0.5
normal_sync "an idle connection opened"
wait "$idle" || fail "tk_rogue idle-hello failed: $(cat "$TMP/idle")"
echo "   idle-hello: $(cat "$TMP/idle")"
grep -Eq "^(open|closed) " "$TMP/idle" || fail "idle-hello printed: $(cat "$TMP/idle")"

step "the honest office's store verifies and matches the hub"
run_expect 0 tk "$A" verify
[ "$(rev_ids "$A")" = "$(hub_sql 'select hex(id) from revisions order by 1')" ] ||
  fail "office and hub hold different revisions"
hub_alive
stop_hub
echo ok
