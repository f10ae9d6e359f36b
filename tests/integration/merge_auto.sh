# `tunduk resolve ID --auto`: two offices sharing a vault edit the same
# case offline in different fields; after syncing both see the conflict;
# the automatic merge (case.lua's merge) on one office writes a revision
# whose parents are both heads and whose body has both changes; after
# syncing no conflict remains and both show the same body. A merge the
# content type declines (the same field changed on both sides), a merge
# whose result fails validation, a content type without merge() and a
# record not in conflict each give a clear message and change nothing.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
two_offices cases rw

# change HOME ID JQ: an edit of the record's current body through a jq filter.
change() { tk "$1" show "$2" --json | jq -c ".body | $3" | tk "$1" edit "$2" - >/dev/null; }
body() { tk "$1" show "$2" --json | jq -S -c .body; }
heads() { tk "$1" show "$2" --json | jq -c '.heads | sort'; }
nconflicts() { tk "$1" conflicts --json | jq length; }
sync_both() { sync_ok "$A"; sync_ok "$B"; sync_ok "$A"; }

step "a case known to both offices"
jq -cn '{case_number: "OSH-2026-031", client_alias: "Client M-3", status: "open",
         court: "Osh city court", opened: "2026-02-01",
         hearings: [{date: "2026-03-01", court: "Osh city court", outcome: "adjourned"}]}' \
  >"$TMP/base.json"
c1=$(tk "$A" new case --vault cases "$TMP/base.json")
for i in 2 3 4; do
  jq -c --arg n "OSH-2026-03$i" '.case_number = $n' "$TMP/base.json" >"$TMP/base$i.json"
done
c2=$(tk "$A" new case --vault cases "$TMP/base2.json")
c3=$(tk "$A" new case --vault cases "$TMP/base3.json")
ap=$(jq -cn '{addressee: "Ombudsman", subject: "detention conditions"}' | tk "$A" new appeal --vault cases -)
sync_both
[ "$(tk "$B" list --json | jq length)" = 4 ] || fail "b does not have the 4 records"

step "offline edits of different fields on each side"
change "$A" "$c1" '.status = "in_court"'
change "$B" "$c1" '.court = "Osh regional court" |
  .hearings += [{date: "2026-04-15", court: "Osh regional court", outcome: "postponed"}]'
# the same field on both sides: case.lua declines
change "$A" "$c2" '.notes = "notes by a"'
change "$B" "$c2" '.notes = "notes by b"'
# each side valid alone, invalid together: closed before opened
change "$A" "$c3" '.opened = "2026-05-01"'
change "$B" "$c3" '.closed = "2026-04-01" | .status = "closed"'
# appeal.lua has no merge()
change "$A" "$ap" '.notes = "by a"'
change "$B" "$ap" '.notes = "by b"'
sync_both
for o in "$A" "$B"; do
  [ "$(nconflicts "$o")" = 4 ] || { tk "$o" conflicts >&2; fail "$(basename "$o") does not see 4 conflicts"; }
done
[ "$(heads "$A" "$c1")" = "$(heads "$B" "$c1")" ] || fail "the offices disagree on the heads"
[ "$(heads "$A" "$c1" | jq length)" = 2 ] || fail "c1 should have two heads"

step "a merge the content type declines: a clear message, nothing written"
d=$(store_digest "$B")
run_expect 1 tk "$B" resolve "$c2" --auto
cp "$TMP/err" "$TMP/declined.err"
err_has "both sides changed field 'notes'; resolve by hand"
[ "$(store_digest "$B")" = "$d" ] || fail "a declined merge changed the store"

step "a merged record that fails validation: a clear message, nothing written"
run_expect 2 tk "$B" resolve "$c3" --auto
cp "$TMP/err" "$TMP/invalid.err"
err_has "the merged record is not a valid case: "
[ "$(store_digest "$B")" = "$d" ] || fail "an invalid merge changed the store"

step "a content type without merge(): a clear message, nothing written"
run_expect 1 tk "$B" resolve "$ap" --auto
err_has "content type 'appeal' has no merge function; resolve by hand"
[ "$(store_digest "$B")" = "$d" ] || fail "a type without merge changed the store"

step "a record not in conflict"
c4=$(tk "$B" new case --vault cases "$TMP/base4.json")
d=$(store_digest "$B")
run_expect 2 tk "$B" resolve "$c4" --auto
err_has "is not in conflict"
[ "$(store_digest "$B")" = "$d" ] || fail "resolve of a record not in conflict changed the store"

step "the automatic merge of different fields"
heads_before=$(heads "$B" "$c1")
run_expect 0 tk "$B" resolve "$c1" --auto
rev=$(grep -Eo '^[0-9a-f]{64}$' "$TMP/out" | head -1)
[ -n "$rev" ] || { cat "$TMP/out"; fail "resolve --auto printed no revision id"; }
tk "$B" history "$c1" --json | jq -e --arg r "$rev" --argjson h "$heads_before" \
  'map(select(.revision == $r and ((.parents | sort) == $h))) | length == 1' >/dev/null ||
  { tk "$B" history "$c1" --json >&2; fail "the merge revision's parents are not both heads"; }
[ "$(heads "$B" "$c1")" = "[\"$rev\"]" ] || fail "the merge revision is not the only head"
jq -S -c '.status = "in_court" | .court = "Osh regional court" |
  .hearings += [{date: "2026-04-15", court: "Osh regional court", outcome: "postponed"}]' \
  "$TMP/base.json" >"$TMP/want.json"
[ "$(body "$B" "$c1")" = "$(cat "$TMP/want.json")" ] ||
  { body "$B" "$c1" >&2; cat "$TMP/want.json" >&2; fail "the merged body lacks a change"; }
run_expect 0 tk "$B" verify
out_has " 0 failed"

step "the others resolved by hand; after syncing no conflict remains, same bodies"
for id in "$c2" "$c3" "$ap"; do
  tk "$B" show "$id" --json | jq '.body | del(.closed) | if .status == "closed" then .status = "open" else . end' \
    >"$TMP/hand.json"
  run_expect 0 tk "$B" resolve "$id" "$TMP/hand.json"
done
sync_both
sync_ok "$B"
for o in "$A" "$B"; do
  [ "$(nconflicts "$o")" = 0 ] || { tk "$o" conflicts >&2; fail "conflicts remain in $(basename "$o")"; }
done
for id in "$c1" "$c2" "$c3" "$ap"; do
  [ "$(body "$A" "$id")" = "$(body "$B" "$id")" ] || fail "a and b show different bodies of $id"
  [ "$(heads "$A" "$id")" = "$(heads "$B" "$id")" ] || fail "a and b have different heads of $id"
done
[ "$(body "$A" "$c1")" = "$(cat "$TMP/want.json")" ] || fail "a does not show the merged body"
[ "$(tk "$A" show "$c1" --json | jq -r .revision)" = "$rev" ] || fail "a's current revision of c1"
hub_alive
stop_hub

step "the messages of the refused automatic merges, in full"
# (checked last so that a garbled message does not hide the rest)
echo "   declined: $(cat "$TMP/declined.err")"
echo "   invalid:  $(cat "$TMP/invalid.err")"
[ "$(grep -o "automatic merge declined" "$TMP/declined.err" | wc -l)" = 1 ] ||
  fail "the declined merge's message is garbled (repeats its prefix): $(cat "$TMP/declined.err")"
grep -q "content type 'case'" "$TMP/declined.err" ||
  fail "the declined merge's message does not name the content type: $(cat "$TMP/declined.err")"
[ "$(grep -o "the merged record is not a valid case" "$TMP/invalid.err" | wc -l)" = 1 ] ||
  fail "the invalid merge's message is garbled (repeats its prefix): $(cat "$TMP/invalid.err")"
grep -qF "field 'closed' (2026-04-01) is before 'opened' (2026-05-01)" "$TMP/invalid.err" ||
  fail "the invalid merge's message lacks the validation reason: $(cat "$TMP/invalid.err")"
echo ok
