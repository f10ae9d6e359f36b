# The hub's moderation rules during real syncs. The hub's config file names
# a plugin folder with the bundled limits.lua and a test rule that rejects
# appeals, quarantines testimonies and raises an error on vault "boom". The
# offices use the bundled content types. Checked: a rejected revision is
# reported with the rule's reason and never stored; a quarantined one is
# reported as held, listed by `tundukd quarantine list` (and --json), not
# pulled by another office until released, after which it is; `drop`
# removes one for good; a rule that errors quarantines (never accepts);
# limits.lua rejects a revision over its type's size limit, naming the limit.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
PLUG=$TMP/hub-plugins
mkdir -p "$PLUG"
cp "$SRC/plugins/limits.lua" "$PLUG/"
cat >"$PLUG/rules.lua" <<'EOF'
-- rules.lua: the test rule. The hub holds no vault key: record is nil.
tunduk.moderation {
  name = "test-rules",
  check = function(meta, record)
    if record ~= nil then return tunduk.reject("the hub was given a record") end
    if meta.vault == "boom" then error("deliberate failure in the test rule") end
    if meta.type == "appeal" then
      return tunduk.reject("appeals are refused by the test rule")
    end
    if meta.type == "testimony" then
      return tunduk.quarantine("testimonies wait for the test reviewer")
    end
    return tunduk.accept()
  end,
}
EOF
HUB_CONFIG=$TMP/tundukd.conf
printf 'log_level = info\nplugins = %s\n' "$PLUG" >"$HUB_CONFIG"

new_hub "$TMP/hub"
start_hub
grep -q "plugins folder=$PLUG moderation_rules=2 failed=0" "$HUB_LOG" ||
  { cat "$HUB_LOG" >&2; fail "the hub did not load the 2 rules of the configured folder"; }
A=$TMP/a B=$TMP/b
enroll_office "$A" office-a cases:rw boom:rw
enroll_office "$B" office-b cases:r boom:r
B_ID=$OFFICE_ID
run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault create boom
run_expect 0 tk "$A" vault grant cases "$B_ID"
run_expect 0 tk "$A" vault grant boom "$B_ID"

# head_rev HOME ID: the record's current revision id.
head_rev() { tk "$1" show "$2" --json | jq -r .revision; }
hub_has() { [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$1')")" = 1 ]; }
held_at_hub() { [ "$(hub_sql "select count(*) from quarantine where hex(id) = upper('$1')")" = 1 ]; }
office_has() { [ "$(office_sql "$1" "select count(*) from revisions where hex(id) = upper('$2')")" = 1 ]; }
testimony_json() {
  jq -cn --arg w "$1" '{witness_alias: $w, consent: "recorded", narrative: "seen at the station"}'
}
appeal_json() { jq -cn --arg s "$1" '{addressee: "Prosecutor of Osh", subject: $s}'; }

step "records of each kind, written offline"
c1=$(new_record "$A" cases "an ordinary case")
a1=$(appeal_json "refused by rule" | tk "$A" new appeal --vault cases -)
t1=$(testimony_json "Witness W-1" | tk "$A" new testimony --vault cases -)
t2=$(testimony_json "Witness W-2" | tk "$A" new testimony --vault cases -)
e1=$(new_record "$A" boom "the rule fails on this vault")
# an oversized but valid case: notes of 530 kB of base64 (about 400 kB once
# compressed; the size a rule sees is the encoded revision's), over
# limits.lua's 256 KiB for cases
head -c 400000 /dev/urandom | base64 -w0 >"$TMP/big.txt"
big=$(jq -cn --rawfile n "$TMP/big.txt" \
  '{case_number: "BIG-1", client_alias: "Client B-1", status: "open", notes: $n}' |
  tk "$A" new case --vault cases -)
c1r=$(head_rev "$A" "$c1") a1r=$(head_rev "$A" "$a1") t1r=$(head_rev "$A" "$t1")
t2r=$(head_rev "$A" "$t2") e1r=$(head_rev "$A" "$e1") bigr=$(head_rev "$A" "$big")

step "office a syncs: the verdicts are reported with the rules' reasons (exit 4: refused)"
run_expect 4 tk "$A" sync
cp "$TMP/out" "$TMP/sync_a.out"
grep -qx "rejected $a1r: appeals are refused by the test rule (rule test-rules in rules.lua)" \
  "$TMP/sync_a.out" || { cat "$TMP/sync_a.out"; fail "the appeal's rejection is not reported"; }
for r in "$t1r" "$t2r"; do
  grep -qx "held for review at the hub $r: testimonies wait for the test reviewer (rule test-rules in rules.lua)" \
    "$TMP/sync_a.out" || { cat "$TMP/sync_a.out"; fail "testimony $r not reported as held"; }
done
grep -Eq "^held for review at the hub $e1r: .*deliberate failure in the test rule" "$TMP/sync_a.out" ||
  { cat "$TMP/sync_a.out"; fail "the revision a failing rule saw is not reported as held"; }
grep -Eq "^rejected $bigr: case revision of [0-9]+ bytes is over the 262144 byte limit \(rule limits in limits.lua\)$" \
  "$TMP/sync_a.out" || { cat "$TMP/sync_a.out"; fail "the oversized case is not rejected naming the limit"; }
grep -q "$c1r" "$TMP/sync_a.out" && fail "the accepted case is reported as refused"
[ "$(grep -c "" "$TMP/sync_a.out")" -le 7 ] || { cat "$TMP/sync_a.out"; fail "unexpected lines"; }

step "the hub stores what was accepted, holds what was quarantined, nothing else"
hub_has "$c1r" || fail "the accepted case is not in the hub store"
for r in "$a1r" "$bigr" "$t1r" "$t2r" "$e1r"; do
  hub_has "$r" && fail "revision $r is in the hub store"
done
for r in "$a1r" "$bigr"; do held_at_hub "$r" && fail "the rejected $r is in the quarantine"; done
grep -q "quarantined .*rev=${e1r:0:16} " "$HUB_LOG" || fail "the hub log lacks the quarantine of $e1r"
# the office keeps everything it wrote
for r in "$c1r" "$a1r" "$bigr" "$t1r" "$t2r" "$e1r"; do office_has "$A" "$r" || fail "a lost $r"; done

step "tundukd quarantine list, plain and --json"
run_expect 0 hubd --home "$HUB_HOME" quarantine list
for r in "$t1r" "$t2r" "$e1r"; do out_has "${r:0:16}"; done
out_has "testimonies wait for the test reviewer"
out_has "deliberate failure in the test rule"
[ "$(grep -c "" "$TMP/out")" = 3 ] || { cat "$TMP/out"; fail "quarantine list: not 3 lines"; }
run_expect 0 hubd --home "$HUB_HOME" quarantine list --json
jq -e --arg t1 "$t1r" --arg t2 "$t2r" --arg e1 "$e1r" --arg rec "$t1" '
  length == 3 and
  ([.[].revision] | sort) == ([$t1, $t2, $e1] | sort) and
  (.[] | select(.revision == $t1) | .type == "testimony" and .vault == "cases" and .record == $rec
     and (.reason | contains("testimonies wait for the test reviewer")) and .size > 0) and
  (.[] | select(.revision == $e1) | .vault == "boom" and
     (.reason | contains("deliberate failure in the test rule")))' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "quarantine list --json"; }

step "a second office does not pull held revisions"
sync_ok "$B"
office_has "$B" "$c1r" || fail "b did not pull the accepted case"
for r in "$t1r" "$t2r" "$e1r" "$a1r" "$bigr"; do
  office_has "$B" "$r" && fail "b pulled $r, which the hub did not accept"
done
[ "$(tk "$B" list --json | jq length)" = 1 ] || fail "b lists other than the one case"

step "another sync of a: nothing new is accepted, nothing is lost, the hub still holds 3"
# the refused ones are offered again (and refused again: exit 4)
run_expect 4 tk "$A" sync
grep -q "^rejected $a1r: appeals are refused" "$TMP/out" || { cat "$TMP/out"; fail "the appeal was not offered again"; }
hub_has "$a1r" && fail "the rejected appeal reached the hub store on a second sync"
hub_has "$t1r" && fail "the held testimony reached the hub store on a second sync"
[ "$(hubd --home "$HUB_HOME" quarantine list --json | jq length)" = 3 ] ||
  fail "the quarantine changed on a second sync"

step "release puts a held revision in the store, and the second office pulls it"
run_expect 0 hubd --home "$HUB_HOME" quarantine release "${t1r:0:12}"
out_has "released $t1r"
hub_has "$t1r" || fail "the released testimony is not in the hub store"
held_at_hub "$t1r" && fail "the released testimony is still in the quarantine"
sync_ok "$B"
office_has "$B" "$t1r" || fail "b did not pull the released testimony"
[ "$(tk "$B" show "$t1" --json | jq -r .body.witness_alias)" = "Witness W-1" ] ||
  fail "b cannot read the released testimony"

step "drop deletes a held revision"
run_expect 0 hubd --home "$HUB_HOME" quarantine drop "$t2r"
out_has "dropped $t2r"
held_at_hub "$t2r" && fail "the dropped testimony is still in the quarantine"
hub_has "$t2r" && fail "the dropped testimony is in the hub store"
run_expect 2 hubd --home "$HUB_HOME" quarantine release "$t2r"
err_has "quarantine"
run_expect 0 hubd --home "$HUB_HOME" quarantine list --json
jq -e --arg e1 "$e1r" 'length == 1 and .[0].revision == $e1' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "after release and drop only the failing rule's revision stays held"; }
sync_ok "$B"
office_has "$B" "$t2r" && fail "b pulled the dropped testimony"

step "sync --all offers everything again: the same verdicts, each held revision once"
# (the dropped testimony is offered again by its office and held again)
run_expect 4 tk "$A" sync --all
grep -q "^rejected $a1r: appeals are refused" "$TMP/out" || { cat "$TMP/out"; fail "appeal verdict"; }
grep -q "^rejected $bigr: case revision of" "$TMP/out" || { cat "$TMP/out"; fail "limit verdict"; }
grep -q "^held for review at the hub $e1r: " "$TMP/out" || { cat "$TMP/out"; fail "error verdict"; }
grep -q "$t1r" "$TMP/out" && fail "the released testimony is refused now"
run_expect 0 hubd --home "$HUB_HOME" quarantine list --json
jq -e --arg e1 "$e1r" --arg t2 "$t2r" '([.[].revision] | sort) == ([$e1, $t2] | sort)' "$TMP/out" \
  >/dev/null || { cat "$TMP/out"; fail "the quarantine after sync --all"; }
hub_has "$a1r" && fail "the rejected appeal reached the hub store on sync --all"

step "an accepted edit still flows"
edit_record "$A" "$c1" "edited after the verdicts" >/dev/null
run_expect 4 tk "$A" sync # the appeal and the big case are still refused
sync_ok "$B"
[ "$(tk "$B" show "$c1" --json | jq -r .body.notes)" = "edited after the verdicts" ] ||
  fail "b did not get the edit"
hub_alive
stop_hub
echo ok
