# Edits travel as deltas (PROTOCOL.md section 5): office A writes a ~2 KB
# case record whose notes are incompressible (as encrypted records are) and
# edits one field of it 10 times, then once more marking it REVIEW-ME; it
# syncs through a real hub. Asserted: every edit revision within the chain
# bound is under 400 bytes, stored and at the hub (a new record is ~2 KB),
# and the TK_MAX_DELTA_CHAIN + 1-th edit is full again; office B, whose
# moderation rule quarantines a record it cannot read, pulls them all in
# one batch (each delta's parent earlier in the same batch, not yet stored)
# and keeps the marked one aside for its mark, not for being unreadable;
# B shows every version as A wrote it; `verify` calls both stores genuine;
# after a key rotation the next edit is full, the one after a delta again.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
CHAIN=8 # TK_MAX_DELTA_CHAIN
new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b
enroll_office "$A" office-a cases:rw
enroll_office "$B" office-b cases:rw
B_ID=$OFFICE_ID
mkdir -p "$B/plugins"
cp "$SRC/plugins/case.lua" "$SRC/plugins/appeal.lua" "$SRC/plugins/testimony.lua" "$B/plugins/"
cat >"$B/plugins/marker.lua" <<'LUA'
tunduk.moderation {
  name = "marker",
  check = function(meta, record)
    if record == nil then
      return tunduk.quarantine("the rule could not read the record")
    end
    if type(record.notes) == "string" and record.notes:find("REVIEW-ME", 1, true) then
      return tunduk.quarantine("marked REVIEW-ME by its author")
    end
    return tunduk.accept()
  end,
}
LUA
run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "$B_ID"
sync_ok "$B"

notes=$(head -c 1500 /dev/urandom | base64 -w0)
body() { jq -cn --arg a "$1" --arg notes "$2" \
  '{case_number: "OSH-2024-0173", client_alias: $a, status: "open", region: "Osh", notes: $notes}'; }
step "a ~2 KB record and 10 one-field edits"
rec=$(body "Client 0" "$notes" | tk "$A" new case --vault cases -)
for i in $(seq 1 10); do
  body "Client $i" "$notes" | run_expect 0 tk "$A" edit "$rec" -
done
body "Client 10" "$notes REVIEW-ME" | run_expect 0 tk "$A" edit "$rec" -
sizes() { sqlite3 "$1" "select generation, size from revisions where hex(record_id) = upper('$rec') order by generation"; }
sizes "$A/store.db" >"$TMP/sizes"
cat "$TMP/sizes"
[ "$(wc -l <"$TMP/sizes")" = 12 ] || fail "A holds $(wc -l <"$TMP/sizes") revisions of the record, not 12"
new_size=$(awk -F'|' '$1 == 1 { print $2 }' "$TMP/sizes")
[ "$new_size" -gt 1800 ] || fail "the new record is only $new_size bytes: not the ~2 KB record meant"
while IFS='|' read -r gen size; do
  [ "$gen" = 1 ] && continue
  if [ "$gen" = $((CHAIN + 2)) ]; then # its parent is at depth CHAIN: full again
    [ "$size" -gt 1800 ] || fail "generation $gen is $size bytes: the chain bound wrote no full body"
  else
    [ "$size" -lt 400 ] || fail "edit generation $gen is $size bytes, not under 400 (a new record: $new_size)"
  fi
done <"$TMP/sizes"

step "through the hub: the same bytes"
sync_ok "$A"
[ "$(hub_sql "select count(*) from revisions")" -ge 12 ] || fail "the hub lacks revisions"
hub_sql "select hex(id), size from revisions order by 1" >"$TMP/hub_sizes"
sqlite3 "$A/store.db" "select hex(id), size from revisions order by 1" >"$TMP/a_sizes"
grep -vxFf "$TMP/hub_sizes" "$TMP/a_sizes" && fail "A's revisions above are not at the hub as they are at A"

step "B pulls the chain in one batch; its rule reads every delta"
run_expect 0 tk "$B" sync
grep -q "could not read the record" "$TMP/out" && { cat "$TMP/out"; fail "B's rule could not read a delta"; }
grep -q "marked REVIEW-ME by its author" "$TMP/out" || { cat "$TMP/out"; fail "B did not read the mark in the last edit"; }
[ "$(sizes "$B/store.db" | wc -l)" = 11 ] || fail "B stores $(sizes "$B/store.db" | wc -l) revisions, not the 11 unmarked"

step "B shows every version as A wrote it"
tk "$A" history "$rec" --json | jq -r '.[].revision' >"$TMP/revs"
n=0
while read -r r; do
  want=$(tk "$A" show "$rec" --rev "$r" | jq -S -c .)
  if [ "$(tk "$A" show "$rec" --rev "$r" | jq -r .notes)" = "$notes REVIEW-ME" ]; then continue; fi
  got=$(tk "$B" show "$rec" --rev "$r" | jq -S -c .) || fail "B cannot show revision $r"
  [ "$got" = "$want" ] || fail "B shows revision $r as $got, A as $want"
  n=$((n + 1))
done <"$TMP/revs"
[ "$n" = 11 ] || fail "compared $n versions, not 11"
[ "$(tk "$B" show "$rec" | jq -r .client_alias)" = "Client 10" ] || fail "B's winner is not the last unmarked edit"

step "verify: both stores genuine"
run_expect 0 tk "$A" verify
run_expect 0 tk "$B" verify

step "after a key rotation the next edit is full (a newcomer holds only the new key)"
run_expect 0 tk "$A" vault remove cases "$B_ID"
body "Client 11" "$notes" | run_expect 0 tk "$A" edit "$rec" -
body "Client 12" "$notes" | run_expect 0 tk "$A" edit "$rec" -
sizes "$A/store.db" | tail -2 >"$TMP/sizes"
cat "$TMP/sizes"
{ IFS='|' read -r _ s1; IFS='|' read -r _ s2; } <"$TMP/sizes"
[ "$s1" -gt 1800 ] || fail "the first edit under the new key is $s1 bytes: a delta on a body under the old key"
[ "$s2" -lt 400 ] || fail "the next edit under the new key is $s2 bytes, not a delta"
[ "$(tk "$A" show "$rec" | jq -r .client_alias)" = "Client 12" ] || fail "A does not read its last edit"
run_expect 0 tk "$A" verify
echo ok
