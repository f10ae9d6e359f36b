# A restored or replaced hub is noticed (issue 15): `tundukd backup DIR`
# copies the store while the hub serves; `tundukd restore DIR` refuses a
# running hub, then installs the backup with a new store identity; the
# next plain `tunduk sync` of an office sees the identity change in the
# hub's Hello and re-offers what the hub lacks (a record pushed after the
# backup). A store copied back by hand (cp of an older store.db) is noticed
# too: the hub renews its identity at start (its mark file). And `tunduk
# enroll --move` re-pins an office to a new hub, keeping every record.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

hub_has() { [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$1')")" = 1 ]; }
head_rev() { tk "$1" show "$2" --json | jq -r .revision; }

new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b
enroll_office "$A" office-a cases:rw
enroll_office "$B" office-b cases:rw
B_ID=$OFFICE_ID
run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "$B_ID"
r1=$(new_record "$A" cases "before the backup")
sync_ok "$A"
sync_ok "$B"
id0=$(hub_sql "select value from meta where key = 'store_id'")
[ "${#id0}" = 32 ] || fail "the hub's store has no identity: '$id0'"

step "tundukd backup while the hub serves"
run_expect 0 hubd --home "$HUB_HOME" backup "$TMP/backup"
[ "$(stat -c %a "$TMP/backup/store.db")" = 600 ] || fail "the backup is not mode 600"
[ "$(sqlite3 "$TMP/backup/store.db" "select count(*) from revisions")" = "$(hub_sql "select count(*) from revisions")" ] ||
  fail "the backup lacks revisions"
run_expect 1 hubd --home "$HUB_HOME" backup "$TMP/backup"
err_has "not empty"

step "a record pushed after the backup"
r2=$(new_record "$A" cases "after the backup")
r2r=$(head_rev "$A" "$r2")
sync_ok "$A"
hub_has "$r2r" || fail "the hub did not take the record"

step "tundukd restore refuses a running hub"
run_expect 1 hubd --home "$HUB_HOME" restore "$TMP/backup"
err_has "running"
hub_has "$r2r" || fail "a refused restore changed the store"

step "the hub restored from the backup: new identity, the record is gone there"
stop_hub
# hostile or broken input first: not a store, a missing file; nothing changes
digest=$(sha256sum <"$HUB_HOME/store.db")
mkdir "$TMP/garbage"
head -c 8192 /dev/urandom >"$TMP/garbage/store.db"
(cd "$TMP/garbage" && sha256sum store.db >SHA256SUMS)
run_expect 2 hubd --home "$HUB_HOME" restore "$TMP/garbage"
err_has "does not list manifest.json"
run_expect 2 hubd --home "$HUB_HOME" restore "$TMP/no-such"
err_has "no-such"
[ "$(sha256sum <"$HUB_HOME/store.db")" = "$digest" ] || fail "a failed restore changed the store"
ls "$HUB_HOME" | grep -q restore && fail "a failed restore left a file: $(ls "$HUB_HOME")"
run_expect 0 hubd --home "$HUB_HOME" restore "$TMP/backup"
out_has "new store identity"
id1=$(hub_sql "select value from meta where key = 'store_id'")
[ -n "$id1" ] && [ "$id1" != "$id0" ] || fail "the restored store kept its identity ($id1)"
start_hub "$HUB_PORT"
hub_has "$r2r" && fail "the restored hub has the record pushed after the backup"

step "a plain sync re-offers what the restored hub lacks"
run_expect 0 tk "$A" sync --json
jq -e '.hub_restored == true' "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "the sync did not notice the restore"; }
hub_has "$r2r" || fail "a plain sync after the restore did not re-send the record"
run_expect 0 tk "$A" sync --json
jq -e '.hub_restored == false and .sent == 0' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "the next sync is not a plain one again"; }
sync_ok "$B"
[ "$(tk "$B" show "$r2" | jq -r .notes)" = "after the backup" ] || fail "office b lacks the re-sent record"

step "a store copied back by hand is noticed at start"
stop_hub
cp "$HUB_HOME/store.db" "$TMP/old-store.db"
start_hub "$HUB_PORT"
r3=$(new_record "$A" cases "after the hand copy")
r3r=$(head_rev "$A" "$r3")
sync_ok "$A"
sleep 1.5 # the hub marks the feed end it served once a second
stop_hub
cp "$TMP/old-store.db" "$HUB_HOME/store.db"
rm -f "$HUB_HOME/store.db-wal" "$HUB_HOME/store.db-shm"
start_hub "$HUB_PORT"
grep -q "an older copy of the store" "$HUB_LOG" || fail "the hub did not notice the older store"
id2=$(hub_sql "select value from meta where key = 'store_id'")
[ "$id2" != "$id1" ] || fail "the hand-copied store kept its identity"
hub_has "$r3r" && fail "the old copy has the newer record"
run_expect 0 tk "$A" sync
hub_has "$r3r" || fail "a plain sync did not re-send the record to the hand-copied store"

step "enroll at another hub: refused without --move, naming it"
OLD_ID=$HUB_ID
stop_hub
HUB_LOG=$TMP/hub2.log
new_hub "$TMP/hub2"
start_hub
token=$(device_token office-a2 cases:rw)
run_expect 1 tk "$A" enroll "$token"
err_has "already enrolled at hub $OLD_ID"
err_has "--move"

step "enroll --move: a bad token is a usage error; not on a terminal, it needs --yes"
run_expect 2 tk "$A" enroll --move --yes "tk1-not-a-token"
run_expect 2 tk "$A" enroll --yes "$token"
err_has "--move"
run_expect 2 tk "$A" enroll --move "$token" </dev/null
err_has "--yes"
[ "$(office_sql "$A" "select value from meta where key = 'hub_id'")" = "$OLD_ID" ] || fail "the pin changed unconfirmed"

step "enroll --move --yes: re-pinned, every record kept, the next sync offers all of them"
before=$(rev_ids "$A")
run_expect 0 tk "$A" enroll --move --yes "$token"
out_has "$HUB_ID"
[ "$(office_sql "$A" "select value from meta where key = 'hub_id'")" = "$HUB_ID" ] || fail "not re-pinned"
[ "$(rev_ids "$A")" = "$before" ] || fail "the move changed the office's revisions"
sync_ok "$A"
for r in "$r2r" "$r3r"; do hub_has "$r" || fail "the new hub lacks $r after the first sync"; done
[ "$(hub_sql "select count(*) from revisions")" = "$(office_sql "$A" "select count(*) from revisions")" ] ||
  fail "the new hub does not hold every revision of the moved office"
run_expect 0 tk "$A" status --json
jq -e --arg h "$HUB_ID" '.hub.id == $h and .all_at_hub == true' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "status after the move"; }
hub_alive
stop_hub
echo ok
