# `kill -HUP` reloads the hub's plugins without dropping connections. An
# office connection held open (tk_rogue hold) lives through every reload; a
# plugin with a syntax error is logged with file:line and left out while
# the other rule keeps working; a rule changed on disk takes effect at the
# next HUP (not before); a folder that cannot be read keeps the old rules.
# The configured folder overlays the bundled one: its rule and the bundled
# limits.lua make 2 rules.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

PLUG=$TMP/hub-plugins
mkdir -p "$PLUG"
# write_rule VERSION REFUSED_TYPE...: rules.lua rejecting those types.
write_rule() {
  local v=$1 t list=""; shift
  for t in "$@"; do list="$list[\"$t\"] = true, "; done
  cat >"$PLUG/rules.lua.tmp" <<EOF
-- rules.lua: the test rule, version $v.
local refused = { $list}
tunduk.moderation {
  name = "test-rules",
  check = function(meta, record)
    if refused[meta.type] then
      return tunduk.reject(meta.type .. " refused by rule $v")
    end
    return tunduk.accept()
  end,
}
EOF
  mv "$PLUG/rules.lua.tmp" "$PLUG/rules.lua"
}
write_rule v1 appeal
HUB_CONFIG=$TMP/tundukd.conf
printf 'plugins = %s\n' "$PLUG" >"$HUB_CONFIG"

new_hub "$TMP/hub"
start_hub
A=$TMP/a
enroll_office "$A" office-a cases:rw
run_expect 0 tk "$A" vault create cases

head_rev() { tk "$1" show "$2" --json | jq -r .revision; }
hub_has() { [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$1')")" = 1 ]; }
appeal() { jq -cn --arg s "$1" '{addressee: "Ombudsman", subject: $s}' | tk "$A" new appeal --vault cases -; }
testimony() {
  jq -cn --arg w "$1" '{witness_alias: $w, consent: "written"}' | tk "$A" new testimony --vault cases -
}
# hup: SIGHUP, then waits for the reload's summary line; prints that line.
hup() {
  local mark n i line
  mark=$(grep -c "reloading plugins" "$HUB_LOG" || true)
  n=$(wc -l <"$HUB_LOG")
  kill -HUP "$HUB_PID"
  for i in $(seq 1 100); do
    if [ "$(grep -c "reloading plugins" "$HUB_LOG" || true)" -gt "$mark" ]; then
      line=$(tail -n +"$((n + 1))" "$HUB_LOG" | grep -E "hub: (plugins folder=|plugin reload failed)" || true)
      [ -n "$line" ] && { echo "$line"; return 0; }
    fi
    sleep 0.1
  done
  tail -n +"$((n + 1))" "$HUB_LOG" >&2
  fail "the hub logged no reload after SIGHUP"
}
# still_held: the held connection is open and the hub sent it nothing.
still_held() {
  kill -0 "$holder" 2>/dev/null || fail "the held connection ended: $(cat "$TMP/hold.out")"
  [ "$(grep -vc "^hello" "$TMP/hold.out")" = 0 ] || fail "the held connection got: $(cat "$TMP/hold.out")"
}

step "an office connection is held open"
"$BIN/tk_rogue" --home "$A" --timeout 60 hold >"$TMP/hold.out" 2>&1 &
holder=$!
BG_PIDS+=("$holder")
for _ in $(seq 1 100); do grep -q "^hello" "$TMP/hold.out" && break; sleep 0.05; done
grep -q "^hello enrolled=1 access=cases:rw" "$TMP/hold.out" || fail "the held connection: $(cat "$TMP/hold.out")"

step "the good rule works"
a1=$(appeal "first"); t1=$(testimony "W-1")
a1r=$(head_rev "$A" "$a1") t1r=$(head_rev "$A" "$t1")
run_expect 4 tk "$A" sync # a refused appeal is named and offered again
grep -qx "rejected $a1r: appeal refused by rule v1 (rule test-rules in rules.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "rule v1 did not reject the appeal"; }
hub_has "$t1r" || fail "the testimony was not accepted"

step "SIGHUP with nothing changed: same rules, the connection stays"
line=$(hup)
echo "   $line"
echo "$line" | grep -q "plugins folder=$PLUG moderation_rules=2 failed=0" || fail "reload: $line"
hub_alive
still_held

step "a plugin with a syntax error: logged with file:line, the other rule keeps working"
printf -- '-- broken.lua\nlocal x = 1\nlocal y = = 2\n' >"$PLUG/broken.lua"
line=$(hup)
echo "   $line"
echo "$line" | grep -q "moderation_rules=2 failed=1" || fail "reload with a broken file: $line"
grep -Eq "plugin not loaded: .*broken\.lua:3: " "$HUB_LOG" ||
  { tail -5 "$HUB_LOG" >&2; fail "the hub log does not name broken.lua:3"; }
hub_alive
still_held
a2=$(appeal "second"); t2=$(testimony "W-2")
a2r=$(head_rev "$A" "$a2") t2r=$(head_rev "$A" "$t2")
run_expect 4 tk "$A" sync # a refused appeal is named and offered again
grep -qx "rejected $a2r: appeal refused by rule v1 (rule test-rules in rules.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the good rule stopped working next to a broken plugin"; }
hub_has "$t2r" || fail "a testimony was refused next to a broken plugin"
hub_has "$a2r" && fail "the appeal was stored next to a broken plugin"

step "a rule changed on disk takes effect at the next SIGHUP"
write_rule v2 appeal testimony
t3=$(testimony "W-3")
t3r=$(head_rev "$A" "$t3")
run_expect 4 tk "$A" sync # a refused appeal is named and offered again
hub_has "$t3r" || { cat "$TMP/out"; fail "the changed rule took effect before SIGHUP"; }
line=$(hup)
echo "   $line"
echo "$line" | grep -q "moderation_rules=2 failed=1" || fail "reload after the change: $line"
t4=$(testimony "W-4"); a4=$(appeal "fourth")
t4r=$(head_rev "$A" "$t4") a4r=$(head_rev "$A" "$a4")
run_expect 4 tk "$A" sync # a refused appeal is named and offered again
grep -qx "rejected $t4r: testimony refused by rule v2 (rule test-rules in rules.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the changed rule did not reject the testimony"; }
grep -qx "rejected $a4r: appeal refused by rule v2 (rule test-rules in rules.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the changed rule did not reject the appeal"; }
hub_has "$t4r" && fail "a testimony was stored after the rule changed"
still_held

step "a folder that cannot be read: the reload fails and the old rules stay"
mv "$PLUG" "$PLUG.away"
line=$(hup)
echo "   $line"
echo "$line" | grep -q "plugin reload failed" || fail "reload of a missing folder: $line"
t5=$(testimony "W-5")
t5r=$(head_rev "$A" "$t5")
run_expect 4 tk "$A" sync # a refused appeal is named and offered again
grep -qx "rejected $t5r: testimony refused by rule v2 (rule test-rules in rules.lua)" "$TMP/out" ||
  { cat "$TMP/out"; fail "the rules were lost when a reload failed"; }
mv "$PLUG.away" "$PLUG"
rm "$PLUG/broken.lua"
line=$(hup)
echo "   $line"
echo "$line" | grep -q "moderation_rules=2 failed=0" || fail "reload after the fix: $line"
hub_alive
still_held

step "the held connection lived through every reload: it ends when the hub stops"
stop_hub
wait "$holder" || fail "tk_rogue hold failed: $(cat "$TMP/hold.out")"
echo "   held connection: $(tr '\n' ' ' <"$TMP/hold.out")"
grep -q "^error [0-9]* the hub is stopping" "$TMP/hold.out" ||
  fail "the held connection was not open until the hub stopped: $(cat "$TMP/hold.out")"
[ "$(grep -c "reloading plugins" "$HUB_LOG")" = 5 ] || fail "expected 5 reloads in the hub log"
echo ok
