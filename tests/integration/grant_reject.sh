# PROTOCOL.md sections 9 and 9a: how the hub refuses a grant or a log
# entry. A refused GrantPut is answered Ack{rejected: [{id, code}]} with
# id = SHA-256 of the GrantBody: REJECT_ACCESS (4) for a grant the vault's
# membership log does not allow (a made-up key from a device that is not a
# member), REJECT_SIGNATURE (3) for one whose signature does not verify. A
# LogPut whose entry does not verify is REJECT_SIGNATURE, named by the
# entry's id, SHA-256 of its body (it was the previous entry's id, or
# zeros, before). Nothing refused is stored.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b D=$TMP/d
enroll_office "$A" office-a cases:rw
enroll_office "$B" office-b cases:r
B_ID=$OFFICE_ID
enroll_office "$D" keyless cases:rw
run_expect 0 tk "$A" vault create cases
sync_ok "$A"
sync_ok "$D" # D has the log, not the key
grants_before=$(hub_sql "select count(*) from grants")

# rogue MODE ARG: runs tk_rogue; the id it sent and the one the hub named
rogue() {
  run_expect 0 "$BIN/tk_rogue" --home "$D" "$1" "$2"
  SENT=$(sed -n 's/^\(grant\|entry\) \([0-9a-f]\{64\}\)$/\2/p' "$TMP/out")
  GOT=$(sed -n 's/^rejected id \([0-9a-f]\{64\}\)$/\1/p' "$TMP/out")
  [ -n "$SENT" ] || { cat "$TMP/out"; fail "$1: tk_rogue printed no id"; }
}

step "a grant the log does not allow: REJECT_ACCESS, named by SHA-256(GrantBody)"
rogue grant-forge "cases:$B_ID"
out_has "ack accepted=0"
out_has "rejected grant: 4 "
[ "$GOT" = "$SENT" ] || { cat "$TMP/out"; fail "Rejected.id is '$GOT', not SHA-256 of the body $SENT"; }

step "a grant whose signature does not verify: REJECT_SIGNATURE, the same id"
rogue grant-badsig "cases:$B_ID"
out_has "rejected grant: 3 "
[ "$GOT" = "$SENT" ] || { cat "$TMP/out"; fail "Rejected.id is '$GOT', not SHA-256 of the body $SENT"; }
[ "$(hub_sql "select count(*) from grants")" = "$grants_before" ] || fail "the hub stored a refused grant"

step "a log entry whose signature does not verify: REJECT_SIGNATURE, named by SHA-256(body)"
entries_before=$(hub_sql "select count(*) from vault_log")
rogue logput-badsig other
out_has "ack accepted=0"
out_has "rejected: 3 "
[ "$GOT" = "$SENT" ] || { cat "$TMP/out"; fail "Rejected.id is '$GOT', not the entry's id $SENT"; }
[ "$(hub_sql "select count(*) from vault_log")" = "$entries_before" ] ||
  fail "the hub stored a refused entry"
echo PASS
