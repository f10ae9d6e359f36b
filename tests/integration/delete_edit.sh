# Deletion never hides a concurrent edit (issue 15), through a hub and two
# offices: office A deletes a case while office B edits it; after syncing,
# both offices show the edit (a live head wins over a tombstone), the record
# is listed by `conflicts`, and B's `resolve --auto` keeps the edit (a
# merge revision over both heads with the live head's body) without running
# an invalid merge. Two deletions resolve to a deletion. `edit` of a
# deleted record needs --undelete. A store from before schema 9 (no
# tombstone flags) learns them when the office is unlocked.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
two_offices cases rw
sync_three() { sync_ok "$A"; sync_ok "$B"; sync_ok "$A"; }
body() { tk "$1" show "$2" --json | jq -S -c .body; }
nconflicts() { tk "$1" conflicts --json | jq length; }

step "a case known to both offices"
c1=$(jq -cn '{case_number: "OSH-2026-101", client_alias: "Client D-1", status: "open"}' |
  tk "$A" new case --vault cases -)
c2=$(jq -cn '{case_number: "OSH-2026-102", client_alias: "Client D-2", status: "open"}' |
  tk "$A" new case --vault cases -)
c3=$(jq -cn '{case_number: "OSH-2026-103", client_alias: "Client D-3", status: "open"}' |
  tk "$A" new case --vault cases -)
sync_ok "$A"
sync_ok "$B"

step "A deletes while B edits; after syncing the edit wins at both offices"
run_expect 0 tk "$A" delete "$c1"
tomb=$(cat "$TMP/out")
tk "$B" show "$c1" --json | jq -c '.body | .court = "Osh city court"' | run_expect 0 tk "$B" edit "$c1" -
live=$(cat "$TMP/out")
sync_three
for o in "$A" "$B"; do
  n=$(basename "$o")
  [ "$(tk "$o" show "$c1" | jq -r .court)" = "Osh city court" ] || fail "$n: the deletion hid the edit"
  [ "$(tk "$o" show "$c1" --json | jq -r '.revision, .deleted' | paste -sd' ')" = "$live false" ] ||
    fail "$n: the winner is not the live head"
  [ "$(tk "$o" show "$c1" --json | jq -r '.heads[0]')" = "$live" ] || fail "$n: the live head is not first"
  tk "$o" list | grep -q "^$c1 " || { tk "$o" list; fail "$n: the edited record is not listed"; }
  [ "$(tk "$o" conflicts --json | jq -r --arg id "$c1" '.[] | select(.id == $id) | .heads | length')" = 2 ] ||
    fail "$n: the deletion-vs-edit conflict is not listed"
  [ "$(office_sql "$o" "select count(*) from heads h join records r on r.n = h.rec
    where r.nheads > 1 and h.deleted is null")" = 0 ] ||
    fail "$n: heads of a conflict whose tombstone flag is not known after a sync"
  [ "$(office_sql "$o" "select deleted from heads where hex(rev_id) = upper('$tomb')")" = 1 ] ||
    fail "$n: the tombstone is not flagged"
done

step "resolve --auto keeps the edit: parents both heads, the live head's body"
run_expect 0 tk "$B" resolve "$c1" --auto
merge=$(cat "$TMP/out")
[ "$(tk "$B" show "$c1" --json | jq -c '.parents | sort')" = "$(jq -cn --arg a "$tomb" --arg b "$live" '[$a, $b] | sort')" ] ||
  fail "the merge does not name both heads"
[ "$(tk "$B" show "$c1" --json | jq -r '.revision, .deleted, .body.court' | paste -sd' ')" = "$merge false Osh city court" ] ||
  fail "the merge is not the live head's body"
sync_three
[ "$(nconflicts "$A")" = 0 ] && [ "$(nconflicts "$B")" = 0 ] || fail "a conflict remains after the merge"
[ "$(body "$A" "$c1")" = "$(body "$B" "$c1")" ] || fail "the offices disagree after the merge"

step "two deletions: the record stays deleted, resolve --auto keeps the deletion"
run_expect 0 tk "$A" delete "$c3"
run_expect 0 tk "$B" delete "$c3"
sync_three
tk "$A" list | grep -q "^$c3 " && fail "a record both offices deleted is listed"
run_expect 0 tk "$A" resolve "$c3" --auto
[ "$(tk "$A" show "$c3" --json | jq -r .deleted)" = true ] || fail "two deletions resolved to a live record"

step "edit of a deleted record needs --undelete"
run_expect 0 tk "$A" delete "$c2"
before=$(store_digest "$A")
jq -cn '{case_number: "OSH-2026-102", client_alias: "Client D-2", status: "closed"}' >"$TMP/c2.json"
run_expect 2 tk "$A" edit "$c2" "$TMP/c2.json"
err_has "record $c2 is deleted; 'tunduk edit --undelete $c2' brings it back with this body"
[ "$(store_digest "$A")" = "$before" ] || fail "a refused edit of a deleted record changed the store"
run_expect 0 tk "$A" edit "$c2" "$TMP/c2.json" --undelete
[ "$(tk "$A" show "$c2" --json | jq -r '.deleted, .body.status' | paste -sd' ')" = "false closed" ] ||
  fail "--undelete did not bring the record back"
tk "$A" list | grep -q "^$c2 " || fail "the undeleted record is not listed"

step "a store from before schema 9 learns its tombstone flags when unlocked"
c4=$(jq -cn '{case_number: "OSH-2026-104", client_alias: "Client D-4", status: "open"}' |
  tk "$A" new case --vault cases -)
sync_ok "$A"
sync_ok "$B"
run_expect 0 tk "$A" delete "$c4"
tomb4=$(cat "$TMP/out")
tk "$B" show "$c4" --json | jq -c '.body | .status = "investigation"' | tk "$B" edit "$c4" - >/dev/null
sync_three
# as an older tunduk left it: no flags, and the higher revision id the winner
office_sql "$A" "update heads set deleted = null"
office_sql "$A" "update records set winner = (select rev_id from heads h where h.rec = records.n
  order by generation desc, rev_id desc limit 1) where hex(id) = upper('$c4')"
office_sql "$A" "update records set winner = x'$tomb4' where hex(id) = upper('$c4')"
run_expect 0 tk "$A" list
grep -q "^$c4 " "$TMP/out" || { cat "$TMP/out"; fail "the edit is hidden after the flags were learned"; }
[ "$(office_sql "$A" "select count(*) from heads h join records r on r.n = h.rec
  where r.nheads > 1 and h.deleted is null")" = 0 ] ||
  fail "tombstone flags not learned at unlock"
[ "$(office_sql "$A" "select hex(winner) from records where hex(id) = upper('$c4')" | tr A-F a-f)" != "$tomb4" ] ||
  fail "the winner is still the tombstone"
run_expect 0 tk "$A" verify
hub_alive
