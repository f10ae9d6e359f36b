# TLS session resumption (RFC 5077 tickets) between office and hub: the
# first sync does a full handshake and saves the session sealed in the
# office store; the next one resumes it; --no-resume forces a full one; a
# hub restart ends every ticket; a revoked device is refused even when it
# resumes (the hub's device checks run on the session's kept certificate);
# a tampered, moved or foreign saved session costs a full handshake and
# nothing else; a hub with tls_ticket_lifetime_s = 0 never resumes; enroll
# never saves or offers a session.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

# resumed HOME [ARGS...]: one sync that must succeed; prints tls_resumed.
resumed() {
  local home=$1; shift
  run_expect 0 tk "$home" sync --json "$@"
  jq -r '.tls_resumed | if type == "boolean" then tostring else "not a boolean" end' "$TMP/out"
}
# expect_resumed WANT HOME [ARGS...]
expect_resumed() {
  local want=$1 got; shift
  got=$(resumed "$@")
  [ "$got" = "$want" ] || { cat "$TMP/out" >&2; fail "sync $*: tls_resumed=$got, wanted $want"; }
}
saved() { office_sql "$1" "select coalesce((select value from meta where key = 'hub_tls_session'), '')"; }
# hub_resumes: handshakes the hub logged as resumed (debug level) so far.
hub_resumes() { grep -c "tls ready .*resumed=yes" "$HUB_LOG" || true; }

new_hub "$TMP/hub"
HUB_CONFIG=$TMP/hub.conf
echo "log_level = debug" >"$HUB_CONFIG"
start_hub
two_offices v rw

step "enroll saves no session"
[ -z "$(saved "$A")" ] || fail "enroll saved a TLS session"
grep -q "resumed=yes" "$HUB_LOG" && fail "a handshake resumed during enrollment"

step "first sync: full handshake, session saved sealed; second: resumed"
expect_resumed false "$A"
s1=$(saved "$A")
[ -n "$s1" ] || fail "no TLS session saved after a sync"
echo "$s1" | grep -Eq '^[0-9a-f]+$' || fail "the saved session is not the sealed hex format"
expect_resumed true "$A"
[ "$(saved "$A")" = "$s1" ] || fail "a resumed sync replaced the saved session"
[ "$(hub_resumes)" = 1 ] || fail "the hub logged $(hub_resumes) resumed handshakes, wanted 1"

step "records still move over resumed sessions"
rec=$(new_record "$A" v "over a resumed session")
expect_resumed true "$A"
[ "$(jq .sent "$TMP/out")" = 1 ] || fail "resumed sync sent $(jq .sent "$TMP/out") revisions"
expect_resumed false "$B"
expect_resumed true "$B"
[ "$(tk "$B" show "$rec" | jq -r .notes)" = "over a resumed session" ] || fail "B lacks the record"

step "--no-resume: a full handshake, and the new session is saved"
expect_resumed false "$A" --no-resume
s2=$(saved "$A")
[ -n "$s2" ] && [ "$s2" != "$s1" ] || fail "--no-resume did not save its new session"
expect_resumed true "$A"

step "a hub restart ends every ticket"
port=$HUB_PORT
stop_hub
start_hub "$port"
expect_resumed false "$A"
expect_resumed true "$A"

step "a tampered saved session: full handshake, sync still works"
s=$(saved "$A")
mid=$(( ${#s} / 2 ))
c=${s:$mid:1}
[ "$c" = 0 ] && n=1 || n=0
office_sql "$A" "update meta set value = '${s:0:$mid}$n${s:$((mid + 1))}' where key = 'hub_tls_session'"
expect_resumed false "$A"
expect_resumed true "$A"
office_sql "$A" "update meta set value = 'not hex at all' where key = 'hub_tls_session'"
expect_resumed false "$A"
office_sql "$A" "update meta set value = substr(value, 1, 200) where key = 'hub_tls_session'"
expect_resumed false "$A"
expect_resumed true "$A"

step "a session saved by another office, or for another hub address, is not offered"
office_sql "$B" "update meta set value = '$(saved "$A")' where key = 'hub_tls_session'"
expect_resumed false "$B"
expect_resumed true "$B"
set_hub_addr "$A" "localhost:$HUB_PORT"
expect_resumed false "$A"
set_hub_addr "$A" "127.0.0.1:$HUB_PORT"
expect_resumed false "$A"
expect_resumed true "$A"

step "a revoked device is refused even when it resumes; its store is unchanged"
[ -n "$(saved "$B")" ] || fail "B has no saved session"
before=$(store_digest "$B")
r0=$(hub_resumes)
run_expect 0 hubd --home "$HUB_HOME" device revoke "$B_ID"
run_expect 1 tk "$B" sync --json
grep -qi "revoked" "$TMP/err" || { cat "$TMP/err"; fail "the refusal does not say revoked"; }
[ "$(hub_resumes)" = $((r0 + 1)) ] || fail "the revoked device's handshake did not resume (the test proves nothing)"
[ "$(store_digest "$B")" = "$before" ] || fail "the refused sync changed the office store"
run_expect 1 tk "$B" sync --no-resume
grep -qi "revoked" "$TMP/err" || fail "the full-handshake refusal does not say revoked"
[ "$(store_digest "$B")" = "$before" ] || fail "the refused sync changed the office store"
expect_resumed true "$A"

step "tls_ticket_lifetime_s = 0: never resumed, and the saved session is dropped"
stop_hub
printf 'log_level = debug\ntls_ticket_lifetime_s = 0\n' >"$HUB_CONFIG"
start_hub "$port"
expect_resumed false "$A"
[ -z "$(saved "$A")" ] || fail "a session without a ticket stayed saved"
expect_resumed false "$A"
expect_resumed false "$A"

step "the config key is bounded"
printf 'tls_ticket_lifetime_s = 604801\n' >"$TMP/bad.conf"
run_expect 2 hubd --home "$HUB_HOME" serve --listen 127.0.0.1:0 --config "$TMP/bad.conf"
err_has "tls_ticket_lifetime_s must be between 0 and 604800"
hubd config | grep -q "^tls_ticket_lifetime_s = 3600 " || fail "tundukd config lacks the key"

hub_alive
grep -q "Sanitizer" "$HUB_LOG" && fail "sanitizer report"
echo "ok"
