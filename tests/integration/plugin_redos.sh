# A Lua pattern that backtracks for ever (ReDoS) in plugins, against the real
# binaries. At the hub: three moderation rules, each running
# string.find(string.rep("a", 8000), ".-.-b") on testimonies only (one office
# writes them). Office F's sync is timed with a harmless rule set, then with
# the three ReDoS rules loaded (SIGHUP) while office S's testimonies are
# being moderated: F's time must stay within 1 s of the first (both are
# printed); S's revisions end up quarantined at the hub (held, not stored,
# not lost); the hub keeps serving. At an office: `plugin test`, `new` and
# `export` with a ReDoS plugin finish within the deadline plus a margin,
# print an error naming the plugin and change nothing in the store.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
REDOS='string.find(string.rep("a", 8000), ".-.-b")'
PLUG=$TMP/hub-plugins
mkdir -p "$PLUG"
cat >"$PLUG/ok.lua" <<'EOF2'
tunduk.moderation { name = "ok", check = function(meta) return tunduk.accept() end }
EOF2
HUB_CONFIG=$TMP/tundukd.conf
printf 'plugins = %s\nplugin_call_ms = 500\nplugin_workers = 2\n' "$PLUG" >"$HUB_CONFIG"

new_hub "$TMP/hub"
start_hub
grep -q "jailed=yes workers=2" "$HUB_LOG" || fail "the hub's plugins are not jailed"
F=$TMP/f S=$TMP/s
enroll_office "$F" office-f cases:rw
enroll_office "$S" office-s witness:rw
run_expect 0 tk "$F" vault create cases
run_expect 0 tk "$S" vault create witness
sync_ok "$F"
sync_ok "$S"

testimony_json() {
  jq -cn --arg w "$1" '{witness_alias: $w, consent: "recorded", narrative: "seen at the station"}'
}
# timed_sync HOME: one sync; prints its wall time in ms.
timed_sync() {
  local t0 t1
  t0=$(date +%s%N)
  run_expect 0 tk "$1" sync
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

step "office f's sync with a harmless rule"
for i in 1 2 3 4 5; do new_record "$F" cases "baseline $i" >/dev/null; done
base_ms=$(timed_sync "$F")

step "three ReDoS rules for testimonies, loaded by SIGHUP"
for n in 1 2 3; do
  cat >"$PLUG/redos$n.lua" <<EOF2
tunduk.moderation {
  name = "redos-$n",
  check = function(meta)
    if meta.type == "testimony" then $REDOS end
    return tunduk.accept()
  end,
}
EOF2
done
kill -HUP "$HUB_PID"
for i in $(seq 1 50); do
  grep -q "moderation_rules=5 failed=0 jailed=yes" "$HUB_LOG" && break
  sleep 0.1
done
grep -q "moderation_rules=5 failed=0 jailed=yes" "$HUB_LOG" || fail "the hub did not reload 5 rules (4 and the bundled limits)"

step "office s pushes 5 testimonies; office f syncs meanwhile"
for i in 1 2 3 4 5; do testimony_json "W-$i" | tk "$S" new testimony --vault witness - >/dev/null; done
s_revs=$(office_sql "$S" "select lower(hex(id)) from revisions where type = 'testimony'")
for i in 1 2 3 4 5; do new_record "$F" cases "during $i" >/dev/null; done
t0=$(date +%s%N)
tk "$S" sync >"$TMP/s.out" 2>"$TMP/s.err" &
S_PID=$!
sleep 0.3 # s is in moderation now: each testimony costs 3 x (500 + 250) ms
slow_ms=$(timed_sync "$F")
echo "office f's sync: ${base_ms} ms without the ReDoS rules, ${slow_ms} ms with them"
[ "$slow_ms" -le $((base_ms + 1000)) ] ||
  fail "office f's sync took ${slow_ms} ms beside the ReDoS rules, ${base_ms} ms without"
hub_alive
wait "$S_PID" || { cat "$TMP/s.out" "$TMP/s.err"; fail "office s's sync failed"; }
t1=$(date +%s%N)
echo "office s's sync (5 testimonies x 3 ReDoS rules): $(((t1 - t0) / 1000000)) ms"

step "s's testimonies are quarantined at the hub: held, not stored, not lost"
for r in $s_revs; do
  grep -Eq "^held for review at the hub $r: .*plugin redos1.lua: moderation rule 'redos-1', check: time limit exceeded" \
    "$TMP/s.out" || { cat "$TMP/s.out"; fail "testimony $r not reported as held by the deadline"; }
  [ "$(hub_sql "select count(*) from quarantine where hex(id) = upper('$r')")" = 1 ] ||
    fail "testimony $r is not in the hub's quarantine"
  [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$r')")" = 0 ] ||
    fail "testimony $r was accepted"
done
[ "$(hub_sql "select count(*) from revisions where type = 'case'")" = 10 ] ||
  fail "office f's 10 cases are not all at the hub"
grep -q "worker stopped plugin=redos1.lua" "$HUB_LOG" || fail "no worker was stopped at the hub"

step "the hub keeps serving"
new_record "$F" cases "after" >/dev/null
sync_ok "$F"
hub_alive

step "a batch past half the idle timeout: the rest is held without a call"
# The office would give up on its Ack after its idle timeout and send the
# same batch again, for ever; so past idle_timeout_ms / 2 (here 2 s) the
# revisions left in the batch are quarantined without calling the rules.
stop_hub
printf 'plugins = %s\nplugin_call_ms = 500\nidle_timeout_ms = 4000\n' "$PLUG" >"$HUB_CONFIG"
start_hub "$HUB_PORT"
for i in $(seq 1 10); do testimony_json "B-$i" | tk "$S" new testimony --vault witness - >/dev/null; done
b_ms=$(timed_sync "$S")
cp "$TMP/out" "$TMP/s2.out"
echo "office s's sync of 10 testimonies with a 2 s batch budget: ${b_ms} ms"
[ "$b_ms" -le 6000 ] || fail "the batch took ${b_ms} ms"
[ "$(grep -c '^held for review at the hub ' "$TMP/s2.out")" = 10 ] ||
  { cat "$TMP/s2.out"; fail "not all 10 testimonies are held"; }
grep -q "the moderation of its batch ran past 2000 ms; not checked (rule batch-time in the hub)" \
  "$TMP/s2.out" || { cat "$TMP/s2.out"; fail "no revision held by the batch budget"; }
[ "$(hub_sql "select count(*) from quarantine")" = 15 ] || fail "the hub does not hold 15 revisions"
hub_alive

step "at an office: plugin test, new and export with a ReDoS plugin"
H=$TMP/h
new_office "$H" office-h
run_expect 0 tk "$H" vault create cases
mkdir -p "$H/plugins"
cp "$SRC"/plugins/*.lua "$H/plugins/"
cat >"$H/plugins/slow.lua" <<EOF2
tunduk.content_type {
  name = "slowtype",
  fields = { title = "text" },
  validate = function(r) $REDOS return true end,
}
tunduk.export {
  name = "slowexport", media_type = "text/plain",
  write = function(records, out) for r in records do $REDOS out("x") end end,
}
EOF2
new_record "$H" cases "one case to export" >/dev/null
before=$(store_digest "$H")
# deadline: the default 2000 ms per call + 250 ms; margin for starting up
limit_ms=4000
timed() {
  local want=$1 t0 t1; shift
  t0=$(date +%s%N)
  run_expect "$want" "$@"
  t1=$(date +%s%N)
  local ms=$(((t1 - t0) / 1000000))
  echo "  $3 $4: ${ms} ms"
  [ "$ms" -le "$limit_ms" ] || fail "'$*' took ${ms} ms"
}
echo '{"title": "x"}' >"$TMP/slow.jsonl"
timed 1 tk "$H" plugin test slow.lua "$TMP/slow.jsonl"
grep -q "plugin slow.lua: content type 'slowtype', validate: time limit exceeded" \
  "$TMP/out" "$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "plugin test: no deadline message"; }
echo '{"title": "x"}' >"$TMP/new.json"
timed 1 tk "$H" new slowtype --vault cases "$TMP/new.json"
err_has "plugin slow.lua: content type 'slowtype', validate: time limit exceeded"
timed 1 tk "$H" export --format slowexport
err_has "plugin slow.lua: export 'slowexport', write: time limit exceeded"
[ "$(store_digest "$H")" = "$before" ] || fail "a failed plugin call changed the store"
