# Plugins as one set at a hub and two offices (issue 15, "Plugins"), through
# the real binaries. The hub's configured plugin folder overlays the bundled
# one; it holds the bundled limits.lua and a rule "hold" that quarantines
# testimonies. Checked: a new content type (declared in both offices'
# HOME/plugins) passes limits.lua at the hub and reaches the other office;
# a vault restricted in limits.lua refuses other types; `tundukd plugin
# test` shows each rule's verdict on samples as the hub sees them (no
# record, no meta.deleted); a rule file broken on disk and reloaded by
# SIGHUP keeps its previous version (a testimony is still held) and the log
# names the file and line; an office rule that reads the body sees
# meta.deleted on a pulled deletion.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
PLUG=$TMP/hub-plugins
mkdir -p "$PLUG"
cp "$SRC/plugins/limits.lua" "$PLUG/"
write_hold() {
  cat >"$PLUG/hold.lua.tmp" <<'EOF'
-- hold.lua: testimonies wait for a reviewer at the hub.
tunduk.moderation {
  name = "hold",
  check = function(meta, record)
    if meta.type == "testimony" then
      return tunduk.quarantine("testimonies wait for review (deleted=" .. tostring(meta.deleted) .. ")")
    end
    return tunduk.accept()
  end,
}
EOF
  mv "$PLUG/hold.lua.tmp" "$PLUG/hold.lua"
}
write_hold
HUB_CONFIG=$TMP/tundukd.conf
printf 'log_level = info\nplugins = %s\n' "$PLUG" >"$HUB_CONFIG"

new_hub "$TMP/hub"
start_hub
grep -q "plugins folder=$PLUG moderation_rules=2 failed=0" "$HUB_LOG" || { cat "$HUB_LOG" >&2; fail "the hub did not load 2 rules"; }
A=$TMP/a B=$TMP/b
enroll_office "$A" office-a cases:rw
enroll_office "$B" office-b cases:rw
B_ID=$OFFICE_ID
run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "$B_ID"
for o in "$A" "$B"; do
  mkdir -p "$o/plugins"
  cat >"$o/plugins/visit.lua" <<'LUA'
tunduk.content_type {
  name = "detention_visit",
  fields = { place = "text", date = "date" },
  required = { "place", "date" },
}
LUA
done
head_rev() { tk "$1" show "$2" --json | jq -r .revision; }
hub_has() { [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$1')")" = 1 ]; }
# hup: SIGHUP, then waits for the reload's summary line; prints that line.
hup() {
  local n i line
  n=$(wc -l <"$HUB_LOG")
  kill -HUP "$HUB_PID"
  for i in $(seq 1 100); do
    line=$(tail -n +"$((n + 1))" "$HUB_LOG" | grep -E "hub: (plugins folder=|plugin reload failed)" || true)
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  fail "the hub logged no reload after SIGHUP"
}

step "tundukd plugin list: the hub's folders and where each rule comes from"
"$BIN/tundukd" --home "$HUB_HOME" --config "$HUB_CONFIG" plugin list >"$TMP/out" 2>"$TMP/err" ||
  { cat "$TMP/out" "$TMP/err"; fail "tundukd plugin list failed"; }
cat "$TMP/out"
out_has "plugins from $PLUG"
grep -Eq "^  bundled +$SRC/plugins$" "$TMP/out" || fail "no bundled layer line"
grep -Eq "^  set +$HUB_HOME/plugin-set \(none\)$" "$TMP/out" || fail "no set layer line"
grep -Eq "^  home +$PLUG$" "$TMP/out" || fail "no home layer line (the configured folder)"
grep -Eq "^limits +moderation +limits.lua +home \(over bundled\)$" "$TMP/out" || fail "limits is not the configured folder's"
grep -Eq "^hold +moderation +hold.lua +home$" "$TMP/out" || fail "hold is not the configured folder's"
grep -Eq "^case +content type +case.lua +bundled$" "$TMP/out" || fail "the bundled case is not listed"
"$BIN/tundukd" --home "$HUB_HOME" --config "$HUB_CONFIG" plugin list --json >"$TMP/out"
[ "$(jq -r '.plugins[] | select(.name=="limits") | [.from, .path, .overrides] | join(" ")' "$TMP/out")" = \
  "home $PLUG/limits.lua bundled" ] || fail "tundukd plugin list --json: limits' origin"

step "a new content type passes limits.lua at the hub and reaches the other office"
grep -q "plugins layer=bundled folder=$SRC/plugins" "$HUB_LOG" || { cat "$HUB_LOG" >&2; fail "no bundled layer in the hub's log"; }
v1=$(echo '{"place": "Osh SIZO-5", "date": "2026-06-02"}' | tk "$A" new detention_visit --vault cases -)
v1r=$(head_rev "$A" "$v1")
run_expect 0 tk "$A" sync
grep -q "does not take" "$TMP/out" && { cat "$TMP/out"; fail "the hub refused the new content type"; }
hub_has "$v1r" || { cat "$TMP/out"; fail "the hub did not store the detention_visit record"; }
run_expect 0 tk "$B" sync
grep -q "does not take" "$TMP/out" && { cat "$TMP/out"; fail "office b refused the new content type"; }
run_expect 0 tk "$B" show "$v1" --json
[ "$(jq -r .body.place "$TMP/out")" = "Osh SIZO-5" ] || fail "office b does not have the visit"

step "a vault restricted in limits.lua refuses the other types"
sed -i 's|^  -- \["osh-testimonies"\] = { "testimony" },|  ["cases"] = { "case", "testimony", "detention_visit" },|' "$PLUG/limits.lua"
grep -q '^  \["cases"\]' "$PLUG/limits.lua" || fail "limits.lua has no commented vault example to restrict"
line=$(hup)
echo "   $line"
a1=$(jq -cn '{addressee: "Ombudsman", subject: "restricted"}' | tk "$A" new appeal --vault cases -)
a1r=$(head_rev "$A" "$a1")
# exit 4 from here on: the refused appeal stays unsent, offered again each sync
run_expect 4 tk "$A" sync
grep -qx "rejected $a1r: vault 'cases' does not take 'appeal' records (rule limits in limits.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the restricted vault took an appeal"; }

step "tundukd plugin test: each rule's verdict as the hub sees the samples"
{
  echo '{"type": "testimony", "_vault": "cases", "witness_alias": "W-1", "consent": "written"}'
  echo '{"type": "appeal", "_vault": "cases", "addressee": "Ombudsman", "subject": "x"}'
  echo '{"type": "testimony", "_vault": "cases", "_deleted": true}'
} >"$TMP/samples.jsonl"
"$BIN/tundukd" --home "$HUB_HOME" --config "$HUB_CONFIG" plugin test hold "$TMP/samples.jsonl" \
  >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "tundukd plugin test failed"; }
cat "$TMP/out"
sed -n '/^line 1:/,/^line 2:/p' "$TMP/out" |
  grep -qx "  rule hold (hold.lua): quarantine (testimonies wait for review (deleted=nil))" ||
  fail "line 1: no quarantine from hold"
sed -n '/^line 1:/,/^line 2:/p' "$TMP/out" | grep -qx "  rule limits (limits.lua): accept" ||
  fail "line 1: no accept from limits"
sed -n '/^line 2:/,/^line 3:/p' "$TMP/out" |
  grep -qx "  rule limits (limits.lua): reject (vault 'cases' does not take 'appeal' records)" ||
  fail "line 2: no reject from limits"
# a deletion: the hub cannot read the body, so the rule has no meta.deleted
out_has "line 3: deletion (testimony)"
sed -n '/^line 3:/,$p' "$TMP/out" |
  grep -qx "  rule hold (hold.lua): quarantine (testimonies wait for review (deleted=nil))" ||
  fail "line 3: the hub's rule was shown a deleted flag"
"$BIN/tundukd" --home "$HUB_HOME" plugin test nope "$TMP/samples.jsonl" >"$TMP/out" 2>"$TMP/err" &&
  fail "tundukd plugin test of no plugin succeeded"
grep -q "no plugin 'nope'" "$TMP/err" || { cat "$TMP/err"; fail "tundukd plugin test nope: $(cat "$TMP/err")"; }

step "a rule broken on disk: SIGHUP keeps its previous version, the log says why"
printf -- '-- hold.lua, half edited\ntunduk.moderation {\n  name = "hold",,\n}\n' >"$PLUG/hold.lua"
line=$(hup)
echo "   $line"
echo "$line" | grep -q "moderation_rules=2 failed=1 .*kept=1" || fail "reload with a broken rule: $line"
grep -Eq "plugin not loaded: plugin hold.lua: hold.lua:3: .*; keeping the previous version \(home $PLUG/hold.lua\)" \
  "$HUB_LOG" || { tail -5 "$HUB_LOG" >&2; fail "the hub log does not name hold.lua:3 and the kept version"; }
t1=$(jq -cn '{witness_alias: "W-2", consent: "written"}' | tk "$A" new testimony --vault cases -)
t1r=$(head_rev "$A" "$t1")
run_expect 4 tk "$A" sync
grep -qx "held for review at the hub $t1r: testimonies wait for review (deleted=nil) (rule hold in hold.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the testimony was not held after the broken reload"; }
hub_has "$t1r" && fail "the hub stored a testimony its rule must hold"
write_hold
line=$(hup)
echo "   $line"
echo "$line" | grep -q "moderation_rules=2 failed=0 .*kept=0" || fail "reload after the fix: $line"

step "an office rule that reads the body sees meta.deleted on a pulled deletion"
cat >"$B/plugins/review.lua" <<'LUA'
tunduk.moderation {
  name = "review",
  check = function(meta, record)
    if meta.deleted then return tunduk.quarantine("deletions wait for review here") end
    return tunduk.accept()
  end,
}
LUA
c1=$(new_record "$A" cases "a case office b holds")
run_expect 4 tk "$A" sync
run_expect 0 tk "$B" sync
run_expect 0 tk "$A" delete "$c1"
d1r=$(head_rev "$A" "$c1")
run_expect 4 tk "$A" sync
hub_has "$d1r" || { cat "$TMP/out"; fail "the hub did not take the deletion"; }
run_expect 0 tk "$B" sync
grep -q "^held for review here (see 'tunduk quarantine list') $d1r: deletions wait for review here (rule review in review.lua)" \
  "$TMP/out" || { cat "$TMP/out"; fail "office b's rule did not see meta.deleted"; }
run_expect 0 tk "$B" show "$c1" --json
[ "$(jq -r .deleted "$TMP/out")" = false ] || fail "office b applied a deletion its rule holds"
echo ok
