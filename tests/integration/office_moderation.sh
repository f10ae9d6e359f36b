# Moderation on an office's pull. Office C has its own HOME/plugins: copies
# of the bundled content types and a rule that quarantines any record whose
# notes carry a marker (C holds the vault key, so the rule sees the record).
# After `tunduk sync` a marked record is not in C's list, `tunduk quarantine
# list` (and --json) shows it with the reason; `release` brings it in;
# `drop` removes one; `tunduk sync --all` afterwards completes without error.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
new_hub "$TMP/hub"
start_hub
A=$TMP/a C=$TMP/c
enroll_office "$A" office-a cases:rw
enroll_office "$C" office-c cases:rw
C_ID=$OFFICE_ID
mkdir -p "$C/plugins"
cp "$SRC/plugins/case.lua" "$SRC/plugins/appeal.lua" "$SRC/plugins/testimony.lua" "$C/plugins/"
cat >"$C/plugins/marker.lua" <<'EOF'
-- marker.lua: records marked for review are kept aside on arrival.
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
EOF
run_expect 0 tk "$C" plugin list --json
jq -e '[.. | objects | select(.name? == "marker")] | length >= 1' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "office c did not load its rule"; }

run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "$C_ID"
sync_ok "$C"
[ "$(tk "$C" vault list --json | jq '[.[] | select(.name == "cases" and .have_key)] | length')" = 1 ] ||
  fail "office c did not receive the vault key"

head_rev() { tk "$1" show "$2" --json | jq -r .revision; }
listed() { tk "$C" list --json | jq -e --arg id "$1" 'map(select(.id == $id)) | length == 1' >/dev/null; }
r1=$(new_record "$A" cases "an ordinary case")
r2=$(new_record "$A" cases "please REVIEW-ME before use")
r3=$(new_record "$A" cases "REVIEW-ME as well")
r1r=$(head_rev "$A" "$r1") r2r=$(head_rev "$A" "$r2") r3r=$(head_rev "$A" "$r3")
sync_ok "$A"

step "the pull keeps marked records aside"
run_expect 0 tk "$C" sync
cp "$TMP/out" "$TMP/sync_c.out"
for r in "$r2r" "$r3r"; do
  grep -qx "held for review here (see 'tunduk quarantine list') $r: marked REVIEW-ME by its author (rule marker in marker.lua)" \
    "$TMP/sync_c.out" || { cat "$TMP/sync_c.out"; fail "the sync does not report $r as held"; }
done
grep -q "$r1r" "$TMP/sync_c.out" && fail "the ordinary case is reported as held"
listed "$r1" || fail "the ordinary case is not in c's list"
listed "$r2" && fail "a held record is in c's list"
listed "$r3" && fail "a held record is in c's list"
[ "$(office_sql "$C" "select count(*) from revisions where hex(id) in (upper('$r2r'), upper('$r3r'))")" = 0 ] ||
  fail "a held revision is in c's store of revisions"
run_expect 2 tk "$C" show "$r2"
err_has "no record"

step "tunduk quarantine list, plain and --json"
run_expect 0 tk "$C" quarantine list
out_has "${r2r:0:16}"
out_has "${r3r:0:16}"
out_has "marked REVIEW-ME by its author"
[ "$(grep -c "" "$TMP/out")" = 2 ] || { cat "$TMP/out"; fail "quarantine list: not 2 lines"; }
run_expect 0 tk "$C" quarantine list --json
jq -e --arg r2 "$r2r" --arg r3 "$r3r" --arg rec "$r2" '
  length == 2 and ([.[].revision] | sort) == ([$r2, $r3] | sort) and
  (.[] | select(.revision == $r2) | .record == $rec and .type == "case" and .vault == "cases"
     and (.reason | contains("marked REVIEW-ME by its author")))' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "quarantine list --json"; }

step "a second sync: nothing new is held, nothing duplicated"
run_expect 0 tk "$C" sync
[ "$(tk "$C" quarantine list --json | jq length)" = 2 ] || fail "the quarantine changed on a second sync"

step "release brings a record in, drop removes one"
run_expect 0 tk "$C" quarantine release "${r2r:0:10}"
out_has "released $r2r"
listed "$r2" || fail "the released record is not in c's list"
[ "$(tk "$C" show "$r2" --json | jq -r .body.notes)" = "please REVIEW-ME before use" ] ||
  fail "c cannot read the released record"
run_expect 0 tk "$C" quarantine drop "$r3r"
out_has "dropped $r3r"
listed "$r3" && fail "the dropped record is in c's list"
[ "$(tk "$C" quarantine list --json | jq length)" = 0 ] || fail "the quarantine is not empty"
run_expect 2 tk "$C" quarantine release "$r3r"
err_has "quarantine"
run_expect 0 tk "$C" verify
out_has " 0 failed"

step "tunduk sync --all afterwards completes"
run_expect 0 tk "$C" sync --all
grep -q "$r2r" "$TMP/out" && { cat "$TMP/out"; fail "the released revision was refused again"; }
# re-asked for, the dropped revision passes the rule again: held, never slipped in
listed "$r3" && fail "the dropped record slipped into c's list on sync --all"
tk "$C" quarantine list --json | jq -e --arg r3 "$r3r" 'map(.revision) - [$r3] == []' >/dev/null ||
  fail "the quarantine after sync --all holds other than the dropped revision"
listed "$r1" || fail "r1 left c's list"
listed "$r2" || fail "the released record left c's list"
run_expect 0 tk "$C" verify
out_has " 0 failed"
# an edit of the released record by a flows on; one marked again is held
edit_record "$A" "$r2" "reviewed, clean now" >/dev/null
edit_record "$A" "$r1" "now REVIEW-ME too" >/dev/null
e1r=$(head_rev "$A" "$r1")
sync_ok "$A"
run_expect 0 tk "$C" sync
grep -q "^held for review here (see 'tunduk quarantine list') $e1r: " "$TMP/out" ||
  { cat "$TMP/out"; fail "the marked edit is not held"; }
[ "$(tk "$C" show "$r2" --json | jq -r .body.notes)" = "reviewed, clean now" ] || fail "the clean edit"
[ "$(tk "$C" show "$r1" --json | jq -r .body.notes)" = "an ordinary case" ] ||
  fail "c shows the held edit"
run_expect 0 tk "$C" sync --all
listed "$r3" && fail "the dropped record slipped into c's list"

step "reads: the rule sees the records of the types it names, nil for the rest"
# reads_rule TYPE: marker.lua again, reading only records of TYPE
reads_rule() { sed "s/  name = \"marker\",/  name = \"marker\", reads = { \"$1\" },/" \
  "$C/plugins/marker.lua" >"$TMP/m.lua" && mv "$TMP/m.lua" "$C/plugins/marker.lua"; }
reads_rule case
grep -q 'reads = { "case" }' "$C/plugins/marker.lua" || fail "the rule was not rewritten"
r4=$(new_record "$A" cases "REVIEW-ME, read as a case")
r4r=$(head_rev "$A" "$r4")
sync_ok "$A"
run_expect 0 tk "$C" sync
grep -q "^held for review here (see 'tunduk quarantine list') $r4r: marked REVIEW-ME" "$TMP/out" ||
  { cat "$TMP/out"; fail "a rule reading cases did not see the case"; }
sed -i 's/reads = { "case" }/reads = { "appeal" }/' "$C/plugins/marker.lua"
r5=$(new_record "$A" cases "an ordinary case the rule does not read")
r5r=$(head_rev "$A" "$r5")
sync_ok "$A"
run_expect 0 tk "$C" sync
grep -q "^held for review here (see 'tunduk quarantine list') $r5r: the rule could not read the record" \
  "$TMP/out" || { cat "$TMP/out"; fail "a rule reading only appeals was given a case"; }
hub_alive
stop_hub
echo ok
