# The hub's access rules, seen from offices: no revisions of a vault an
# office may not read; a read-only office cannot push (rejected, listed,
# exit 0); a revoked device is refused; a token works once; a device that
# never enrolled is refused; an office refuses a hub that is not the one it
# pinned.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b R=$TMP/r
enroll_office "$A" office-a x:rw y:rw
A_ID=$OFFICE_ID
enroll_office "$B" office-b y:rw
B_ID=$OFFICE_ID
enroll_office "$R" office-r y:r
R_ID=$OFFICE_ID

step "an office without access to vault x receives none of x"
run_expect 0 tk "$A" vault create x
run_expect 0 tk "$A" vault create y
for i in 1 2 3; do new_record "$A" x "secret case $i" >/dev/null; done
for i in 1 2; do new_record "$A" y "shared case $i" >/dev/null; done
run_expect 0 tk "$A" vault grant y "$B_ID"
run_expect 0 tk "$A" vault grant y "$R_ID"
sync_ok "$A"
sync_ok "$B"
sync_ok "$R"
[ "$(hub_sql "select count(*) from revisions where vault = 'x'")" = 3 ] || fail "hub lacks x"
[ "$(hub_sql "select count(*) from revisions where vault = 'y'")" = 2 ] || fail "hub lacks y"
[ "$(office_sql "$B" "select count(*) from revisions where vault = 'x'")" = 0 ] ||
  fail "office b received revisions of vault x"
[ "$(office_sql "$B" "select count(*) from revisions where vault = 'y'")" = 2 ] ||
  fail "office b did not receive vault y"
[ "$(tk "$B" list --json | jq length)" = 2 ] || fail "office b lists other than the 2 y records"

step "a read-only office cannot push: refused at write time; one written anyway is named, exit 4"
[ "$(office_sql "$R" "select count(*) from revisions where vault = 'y'")" = 2 ] ||
  fail "read-only office r did not pull vault y"
run_expect 1 bash -c "$(declare -f case_json); case_json R-0 x | '$BIN/tunduk' --home '$R' new case --vault y -"
grep -q "may only read vault 'y'" "$TMP/err" || { cat "$TMP/err"; fail "the write is not refused naming the access"; }
# as an office that wrote before it learnt its access would have
office_sql "$R" "update meta set value = 'y:rw' where key = 'hub_access'"
rrec=$(new_record "$R" y "from the read-only office")
rrev=$(tk "$R" history "$rrec" --json | jq -r '.[0].revision')
run_expect 4 tk "$R" sync
grep -Eq "^(rejected $rrev: .+|not sent: [0-9]+ revisions? .*may not write)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the sync does not report the revision it could not push"; }
grep -q "$rrev" "$TMP/err" || { cat "$TMP/err"; fail "the sync does not name the revision on stderr"; }
run_expect 4 tk "$R" sync --json
# The hub enforces it too, for a client that offers it anyway.
run_expect 0 "$BIN/tk_rogue" --home "$R" --timeout 10 push "$rrec"
out_has "hello enrolled=1 access=y:r"
grep -Eq "^rejected $rrev: 4 .+" "$TMP/out" || { cat "$TMP/out"; fail "the hub did not reject with REJECT_ACCESS"; }
out_has "ack accepted=0 "
[ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$rrev')")" = 0 ] ||
  fail "the hub stored a revision from a read-only device"
[ "$(hub_sql "select count(*) from revisions where vault = 'y'")" = 2 ] || fail "hub y count changed"
# The office keeps its own revision.
[ "$(tk "$R" show "$rrec" | jq -r .notes)" = "from the read-only office" ] || fail "r lost its own record"

step "a revoked device is refused, and its open connection closed"
"$BIN/tk_rogue" --home "$B" --timeout 20 hold >"$TMP/hold.out" 2>&1 &
holder=$!
BG_PIDS+=("$holder")
for _ in $(seq 1 100); do grep -q "^hello" "$TMP/hold.out" && break; sleep 0.05; done
grep -q "^hello enrolled=1" "$TMP/hold.out" || fail "the held connection: $(cat "$TMP/hold.out")"
t0=$SECONDS
run_expect 0 hubd --home "$HUB_HOME" device revoke "$B_ID"
wait "$holder" || fail "tk_rogue hold failed: $(cat "$TMP/hold.out")"
echo "   open connection: $(tr '\n' ' ' <"$TMP/hold.out")"
grep -q "^closed timeout" "$TMP/hold.out" && fail "the revoked device's connection stayed open"
[ $((SECONDS - t0)) -le 5 ] || fail "the revoked device's connection was closed after $((SECONDS - t0)) s"
hubd --home "$HUB_HOME" device list --json |
  jq -e --arg id "$B_ID" '.[] | select(.id == $id) | .revoked | . != false and . != 0 and . != null' \
    >/dev/null || fail "device list: not revoked"
new_record "$A" y "after revocation" >/dev/null
sync_ok "$A"
before=$(office_sql "$B" "select count(*) from revisions")
run_expect 1 tk "$B" sync
grep -qi "revoked" "$TMP/err" || { cat "$TMP/err"; fail "the refusal does not say revoked"; }
[ "$(office_sql "$B" "select count(*) from revisions")" = "$before" ] || fail "revoked b received revisions"

step "an enrollment token works once"
token=$(device_token office-d y)
new_office "$TMP/d" office-d
run_expect 0 tk "$TMP/d" enroll "$token"
new_office "$TMP/e" office-e
run_expect 1 tk "$TMP/e" enroll "$token"
grep -qi "token" "$TMP/err" || { cat "$TMP/err"; fail "the refusal does not name the token"; }
[ "$(hubd --home "$HUB_HOME" device list --json | jq '[.[] | select(.name == "office-e")] | length')" = 0 ] ||
  fail "office-e was enrolled with a used token"
run_expect 2 tk "$TMP/e" sync

step "a device that never enrolled is refused"
U=$TMP/u
new_office "$U" office-u
office_sql "$U" "insert or replace into meta(key, value) values ('hub_id', '$HUB_ID'), ('hub_addr', '127.0.0.1:$HUB_PORT')"
run_expect 0 "$BIN/tk_rogue" --home "$U" --timeout 10 pull
out_has "hello enrolled=0"
out_has "error 4 "
grep -q "^offer" "$TMP/out" && fail "an unknown device was offered revisions"

step "an office refuses a hub that is not the one it pinned"
office_sql "$A" "update meta set value = '$B_ID' where key = 'hub_id'"
new_record "$A" y "not sent" >/dev/null
run_expect 1 tk "$A" sync
grep -Eqi "pinned|mismatch|does not match|not the hub" "$TMP/err" ||
  { cat "$TMP/err"; fail "the refusal does not name the mismatch"; }
[ "$(hub_sql "select count(*) from revisions where vault = 'y'")" = 3 ] ||
  fail "the office sent revisions to a hub it does not trust"
office_sql "$A" "update meta set value = '$HUB_ID' where key = 'hub_id'"
sync_ok "$A"
[ "$(hub_sql "select count(*) from revisions where vault = 'y'")" = 4 ] || fail "sync after restoring the pin"
hub_alive
stop_hub
echo ok
