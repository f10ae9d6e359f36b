# Nothing stranded on a laptop (issue 15): a revision the hub refused is
# offered again by every plain `tunduk sync` until the hub takes it, and
# sync exits 4 naming it meanwhile; `tunduk status` says what has not
# reached the hub, why and what to do; a vault this device may only read
# takes no new record; a pulled record this office's own rule refuses is
# quarantined, not dropped; `sync --json` prints an object when the hub is
# unreachable, and its duplicates leave out this office's own revisions.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
PLUG=$TMP/hub-plugins
mkdir -p "$PLUG"
cp "$SRC/plugins/limits.lua" "$PLUG/"
refuse_appeals() {
  cat >"$PLUG/rules.lua" <<'EOF'
tunduk.moderation {
  name = "no-appeals",
  check = function(meta, record)
    if meta.type == "appeal" then return tunduk.reject("appeals are refused for now") end
    return tunduk.accept()
  end,
}
EOF
}
refuse_appeals
HUB_CONFIG=$TMP/tundukd.conf
printf 'log_level = info\nplugins = %s\n' "$PLUG" >"$HUB_CONFIG"
new_hub "$TMP/hub"
start_hub

hup() {
  local mark i
  mark=$(grep -c "reloading plugins" "$HUB_LOG" || true)
  kill -HUP "$HUB_PID"
  for i in $(seq 1 100); do
    [ "$(grep -c "reloading plugins" "$HUB_LOG" || true)" -gt "$mark" ] && { sleep 0.2; return 0; }
    sleep 0.1
  done
  fail "the hub logged no reload after SIGHUP"
}
hub_has() { [ "$(hub_sql "select count(*) from revisions where hex(id) = upper('$1')")" = 1 ]; }

A=$TMP/a C=$TMP/c R=$TMP/r
enroll_office "$A" office-a cases:rw
enroll_office "$C" office-c cases:rw
C_ID=$OFFICE_ID
enroll_office "$R" office-r cases:r
R_ID=$OFFICE_ID
run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "$C_ID"
run_expect 0 tk "$A" vault grant cases "$R_ID"
sync_ok "$A"
sync_ok "$C"
sync_ok "$R"

step "status before anything is written: all at the hub, exit 0"
run_expect 0 tk "$A" status
out_has "Everything written here has reached the hub."
out_has "$HUB_ID"
run_expect 0 tk "$A" status --json
jq -e '.all_at_hub == true and .hub.id != null and (.last_sync | type) == "number"' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "status --json before anything was written"; }

step "a record not yet sent is listed by status (exit 4)"
rec=$(jq -cn '{addressee: "Ombudsman", subject: "detention appeal"}' | tk "$A" new appeal --vault cases -)
rev=$(tk "$A" show "$rec" --json | jq -r .revision)
run_expect 4 tk "$A" status --json
jq -e '.all_at_hub == false and (.vaults[] | select(.vault == "cases") | .not_yet_sent) == 1' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "status does not count the record not sent yet"; }

step "the hub refuses it: sync exits 4 and names it with the reason"
run_expect 4 tk "$A" sync
err_has "$rev"
err_has "appeals are refused for now"
hub_has "$rev" && fail "the hub stored the refused revision"
run_expect 4 tk "$A" status
out_has "Refused by the hub"
out_has "${rev:0:16}"
out_has "appeals are refused for now"
out_has "what to do:"
run_expect 4 tk "$A" status --json
jq -e --arg r "$rev" '.unsent | map(select(.revision == $r and .state == "refused" and .hub != null)) | length == 1' \
  "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "status --json lacks the refused revision"; }

step "every plain sync offers it again (the hub refuses it again), --json names it"
n0=$(grep -c "rejected.*appeals are refused" "$HUB_LOG" || true)
run_expect 4 tk "$A" sync --json
jq -e --arg r "$rev" '.stranded == 1 and (.unsent | map(select(.revision == $r)) | length == 1)' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "sync --json does not name the refused revision"; }
jq -e --arg r "$rev" '.rejected | map(select(.id == $r)) | length == 1' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "the second plain sync did not offer the refused revision again"; }

step "the hub's rule fixed: a plain sync delivers it, exit 0, status all at the hub"
rm "$PLUG/rules.lua"
hup
run_expect 0 tk "$A" sync
hub_has "$rev" || fail "a plain sync after the fix did not deliver the refused revision"
run_expect 0 tk "$A" status --json
jq -e '.all_at_hub == true and (.unsent | length) == 0' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "status still lists something after delivery"; }
sync_ok "$C"
[ "$(tk "$C" show "$rec" | jq -r .subject)" = "detention appeal" ] || fail "office c did not get the delivered record"

step "a device that may only read a vault cannot write into it: refused at write time"
sync_ok "$R"
before=$(office_sql "$R" "select count(*) from revisions")
run_expect 1 bash -c "jq -cn '{case_number: \"R-1\", client_alias: \"c\", status: \"open\"}' | '$BIN/tunduk' --home '$R' new case --vault cases -"
err_has "may only read vault 'cases'"
run_expect 1 tk "$R" edit "$rec" - <<<'{"addressee": "x", "subject": "y"}'
err_has "may only read vault 'cases'"
run_expect 1 tk "$R" delete "$rec"
err_has "may only read vault 'cases'"
[ "$(office_sql "$R" "select count(*) from revisions")" = "$before" ] || fail "the read-only device stored a revision"

step "one written before its access was known is not sent: sync exits 4, names it"
office_sql "$R" "update meta set value = 'cases:rw' where key = 'hub_access'"
rrec=$(new_record "$R" cases "written while the access was not known")
rrev=$(tk "$R" show "$rrec" --json | jq -r .revision)
run_expect 4 tk "$R" sync
err_has "$rrev"
grep -Eq "may (not write|only read) vault 'cases'" "$TMP/err" || { cat "$TMP/err"; fail "the sync does not say why"; }
run_expect 4 tk "$R" sync --json
jq -e --arg r "$rrev" '.unsent | map(select(.revision == $r and .state == "read-only")) | length == 1' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "the second sync does not name the read-only revision"; }

step "a pulled record this office's rule refuses is quarantined, not dropped"
mkdir -p "$C/plugins"
cp "$SRC/plugins/case.lua" "$SRC/plugins/appeal.lua" "$SRC/plugins/testimony.lua" "$C/plugins/"
cat >"$C/plugins/strict.lua" <<'EOF'
tunduk.moderation {
  name = "strict",
  check = function(meta, record)
    if record ~= nil and type(record.notes) == "string" and record.notes:find("NOT-HERE", 1, true) then
      return tunduk.reject("not accepted by the strict rule")
    end
    return tunduk.accept()
  end,
}
EOF
mrec=$(new_record "$A" cases "NOT-HERE marked")
mrev=$(tk "$A" show "$mrec" --json | jq -r .revision)
mrec2=$(new_record "$A" cases "NOT-HERE marked too")
mrev2=$(tk "$A" show "$mrec2" --json | jq -r .revision)
sync_ok "$A"
run_expect 0 tk "$C" sync
run_expect 0 tk "$C" quarantine list --json
for r in "$mrev" "$mrev2"; do
  jq -e --arg r "$r" 'map(select(.revision == $r and (.reason | contains("not accepted by the strict rule")))) | length == 1' \
    "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "the refused pulled revision $r is not in office c's quarantine"; }
done
run_expect 4 tk "$C" status --json
jq -e '(.held_here | length) == 2' "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "status does not list what is held here"; }
run_expect 0 tk "$C" sync # the rule still refuses: both stay held
[ "$(tk "$C" quarantine list --json | jq length)" = 2 ] || fail "a sync let in what the rule still refuses"
rm "$C/plugins/strict.lua"
run_expect 0 tk "$C" quarantine release "${mrev:0:12}"
[ "$(tk "$C" show "$mrec" | jq -r .notes)" = "NOT-HERE marked" ] || fail "the released record is not readable at office c"
step "the rule fixed: a plain sync lets in what it held"
run_expect 0 tk "$C" sync --json
jq -e '.released_here == 1' "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "the sync did not let the held revision in"; }
[ "$(tk "$C" show "$mrec2" | jq -r .notes)" = "NOT-HERE marked too" ] || fail "the record a plain sync let in is not readable"
[ "$(tk "$C" quarantine list --json | jq length)" = 0 ] || fail "the quarantine is not empty"

step "sync --json prints an object when the hub is unreachable"
addr=$(office_sql "$A" "select value from meta where key = 'hub_addr'")
set_hub_addr "$A" 127.0.0.1:1
run_expect 1 tk "$A" sync --json --timeout 5
jq -e '(.error | type) == "string" and (.error | length) > 0 and .code == 1' "$TMP/out" >/dev/null ||
  { cat "$TMP/out"; fail "sync --json printed no error object"; }
set_hub_addr "$A" "$addr"

step "sync --json: duplicates leave out this office's own revisions offered back"
run_expect 0 tk "$A" sync --all --json
own=$(office_sql "$A" "select count(*) from revisions where origin is null")
pulled=$(office_sql "$A" "select count(*) from revisions where origin is not null")
# --all: the push offers all of A's own (the hub has them: duplicates of the
# push); the pull offers everything back: A's own are "own_returned", the
# others (pulled before) duplicates.
jq -e --argjson own "$own" --argjson pulled "$pulled" \
  '.own_returned == $own and .duplicates == ($own + 2 * $pulled)' "$TMP/out" >/dev/null ||
  { echo "own=$own pulled=$pulled"; cat "$TMP/out"; fail "duplicates counts this office's own revisions"; }
