# Vault membership logs against the real binaries (SECURITY.md, "vault
# membership"; PROTOCOL.md section 10), the findings of the attacker's run:
#  1. a device that syncs a vault but never held its key cannot make its
#     revision the record's current version: the hub refuses it, and its
#     own vault of the same name is refused;
#  2. a malicious hub that invents a device, a grant of a made-up key, a log
#     entry and a child of a genuine record changes nothing an office shows:
#     the forgery is kept as evidence and counted as a failure by verify;
#     vault list still names the real granter;
#  3. removing a member rotates the key: the removed device cannot read what
#     is written after; the remaining members can;
#  4. a device revoked at the hub is removed by the next writer that syncs,
#     with a new key for everyone else.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b D=$TMP/d C=$TMP/c
enroll_office "$A" osh-office cases:rw
A_ID=$OFFICE_ID
enroll_office "$B" naryn-office cases:r
B_ID=$OFFICE_ID
enroll_office "$D" keyless cases:rw
D_ID=$OFFICE_ID
enroll_office "$C" batken-office cases:r
C_ID=$OFFICE_ID

run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "$B_ID" --read
run_expect 0 tk "$A" vault grant cases "$C_ID" --read
REC=$(case_json OSH-2026-014 "genuine notes" | tk "$A" new case --vault cases -)
sync_ok "$A"
sync_ok "$B"
run_expect 0 tk "$B" show "$REC"
out_has OSH-2026-014

step "the granter shown is the real one, with its chain to the genesis"
run_expect 0 tk "$B" vault list --json
[ "$(jq -r '.[0].granted_by[0].device' "$TMP/out")" = "$A_ID" ] || fail "granter is not A"
[ "$(jq -r '.[0].granted_by[0].creator' "$TMP/out")" = true ] || fail "A is not the creator"
[ "$(jq -r '.[0].role' "$TMP/out")" = reader ] || fail "B is not a reader"

step "a keyless device: its own vault 'cases' and its forged version are refused by the hub"
sync_ok "$D"
run_expect 0 tk "$D" vault list --json
[ "$(jq '[.[] | select(.have_key)] | length' "$TMP/out")" = 0 ] || fail "D holds a key"
FORGED=$("$BIN/tk_forge" office "$D" "$REC") || fail "tk_forge office"
run_expect 4 tk "$D" sync --json # refused, and named
[ "$(jq '.rejected | length' "$TMP/out")" -ge 1 ] || fail "the hub took D's forgery"
jq -r '.rejected[0].reason' "$TMP/out" | grep -q "not a writer\|membership" ||
  fail "rejection reason: $(jq -r '.rejected[0].reason' "$TMP/out")"
[ "$(hub_sql "select count(*) from revisions where hex(id) = '$FORGED'")" = 0 ] ||
  fail "the hub stored D's forgery"
# and its grant of a made-up key to B is refused by the hub (it was accepted before)
run_expect 0 "$BIN/tk_rogue" --home "$D" grant-forge "cases:$B_ID"
out_has "ack accepted=0"
out_has "rejected grant: 4 "
[ "$(hub_sql "select count(*) from grants where granter = (select id from devices where name = 'keyless')")" = 0 ] ||
  fail "the hub stored D's grant"
D2=$TMP/d2
enroll_office "$D2" keyless-2 cases:rw
run_expect 0 tk "$D2" vault create cases
run_expect 0 tk "$D2" sync --json
jq -r '.log_refused' "$TMP/out" | grep -q "another vault named 'cases'" ||
  fail "the hub took a second genesis for 'cases': $(cat "$TMP/out")"

step "a malicious hub: invented device, made-up key, forged entry and child of the record"
stop_hub
OUT=$("$BIN/tk_forge" hub "$HUB_HOME/store.db" "$REC" "$B_ID") || fail "tk_forge hub"
HFORGED=$(echo "$OUT" | sed -n 1p)
X=$(echo "$OUT" | sed -n 2p)
hub_sql "insert into access(device, vault, write) values(x'$X', 'cases', 1)"
start_hub "$HUB_PORT"
run_expect 0 tk "$B" sync
run_expect 0 tk "$B" show "$REC"
out_has OSH-2026-014
grep -q FORGED "$TMP/out" && fail "B shows the hub's forgery"
err_has "kept aside"
run_expect 0 tk "$B" list
out_has OSH-2026-014
out_has "[forged or refused revisions kept aside]"
run_expect 0 tk "$B" list --json
[ "$(jq '.[0].refused' "$TMP/out")" = 1 ] || fail "list does not count the forgery"
run_expect 0 tk "$B" conflicts --json
[ "$(jq length "$TMP/out")" = 0 ] || fail "the forgery made a conflict"
run_expect 1 tk "$B" verify
out_has "1 failed"
grep -qi "FAIL $HFORGED: membership" "$TMP/out" || fail "verify does not name the forgery"
run_expect 0 tk "$B" quarantine list --json
jq -r '.[].reason' "$TMP/out" | grep -q membership || fail "forgery not kept as evidence"
[ "$(office_sql "$B" "select count(*) from revisions where hex(id) = '$HFORGED'")" = 0 ] ||
  fail "B stored the forgery as a version"
run_expect 0 tk "$B" vault list --json
[ "$(jq -r '.[0].granted_by[0].device' "$TMP/out")" = "$A_ID" ] || fail "granter changed"
[ "$(office_sql "$B" "select count(*) from vault_log")" = 3 ] || fail "B took a forged entry"
run_expect 1 tk "$B" quarantine release "${HFORGED:0:12}"
err_has "evidence"
# an office with the key shows the genuine version too
run_expect 0 tk "$A" sync
run_expect 0 tk "$A" show "$REC"
out_has OSH-2026-014

# the rest needs an honest hub again: the operator takes the forged entry back
hub_sql "delete from vault_log where seq = 3"

step "removing a member rotates the key: the removed device reads nothing written after"
KEY0=$(office_sql "$A" "select hex(key_id) from vaults where name = 'cases'")
run_expect 0 tk "$A" vault remove cases "$B_ID"
KEY1=$(office_sql "$A" "select hex(key_id) from vaults where name = 'cases'")
[ "$KEY0" != "$KEY1" ] || fail "the key did not change"
NEW=$(case_json OSH-2026-015 "after removal" | tk "$A" new case --vault cases -)
sync_ok "$A"
sync_ok "$B"
sync_ok "$C"
run_expect 1 tk "$B" show "$NEW"
err_has "key"
run_expect 0 tk "$B" show "$REC"  # what it had before, it still reads
run_expect 0 tk "$C" show "$NEW"
out_has OSH-2026-015
# each key C holds, with its own verified chain: the first and the rotated one
run_expect 0 tk "$C" vault list --json
[ "$(jq '.[0].keys | length' "$TMP/out")" = 2 ] || fail "C does not list both keys"
[ "$(jq -r '.[0].keys[] | select(.current) | .granted_by[0].device' "$TMP/out")" = "$A_ID" ] ||
  fail "the rotated key's granter is not A"
run_expect 0 tk "$C" vault list
out_has "older key"
[ "$(office_sql "$B" "select count(*) from wrapped_keys where hex(key_id) = '$KEY1'")" = 0 ] ||
  fail "the removed device holds the new key"

step "a removed writer that kept its old key cannot continue what was written after"
W=$TMP/w
enroll_office "$W" talas-office cases:rw
W_ID=$OFFICE_ID
run_expect 0 tk "$A" vault grant cases "$W_ID"
sync_ok "$W"
run_expect 0 tk "$W" show "$NEW"
run_expect 0 tk "$A" vault remove cases "$W_ID"
case_json OSH-2026-015 "edited after talas left" | tk "$A" edit "$NEW" - >/dev/null
sync_ok "$A"
sync_ok "$W"
WF=$("$BIN/tk_forge" office "$W" "$NEW" --own-key) || fail "tk_forge office --own-key"
run_expect 4 tk "$W" sync --json # refused, and named
jq -r '.rejected[0].reason' "$TMP/out" | grep -q "older key" ||
  fail "the hub took an old-key child: $(cat "$TMP/out")"
[ "$(hub_sql "select count(*) from revisions where hex(id) = '$WF'")" = 0 ] ||
  fail "the hub stored the old-key child"

step "a device revoked at the hub is removed and the key rotated by the next writer"
hubd --home "$HUB_HOME" device revoke "$C_ID" >/dev/null
run_expect 0 tk "$A" sync --json
[ "$(jq .rotations "$TMP/out")" = 1 ] || fail "no rotation after the revocation: $(cat "$TMP/out")"
KEY2=$(office_sql "$A" "select hex(key_id) from vaults where name = 'cases'")
[ "$KEY2" != "$KEY1" ] || fail "the key did not change after the revocation"
run_expect 0 tk "$A" vault list --json
run_expect 0 tk "$A" sync --json
[ "$(jq .rotations "$TMP/out")" = 0 ] || fail "rotated twice"
step "a store from before membership logs: the creator's vault gets a genesis when unlocked"
M=$TMP/m
enroll_office "$M" kara-suu-office old:rw
run_expect 0 tk "$M" vault create old
new_record "$M" old "written before logs" >/dev/null
office_sql "$M" "delete from vault_log; delete from meta where key like 'log_sent:%'"
run_expect 0 tk "$M" vault list
out_has "no membership log yet"
run_expect 0 tk "$M" list
[ "$(office_sql "$M" "select count(*) from vault_log where vault = 'old'")" = 1 ] ||
  fail "no genesis after the first unlock"
run_expect 0 tk "$M" sync --json
[ "$(jq .sent "$TMP/out")" = 1 ] || fail "the old record did not reach the hub: $(cat "$TMP/out")"
[ "$(hub_sql "select count(*) from vault_log where vault = 'old'")" = 1 ] ||
  fail "the hub has no log for the migrated vault"
hub_alive
echo "membership: ok"
