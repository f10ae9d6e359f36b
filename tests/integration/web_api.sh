#!/usr/bin/env bash
# The web UI's JSON API (README, "The web UI's API") through the real `tunduk ui`, with curl, a
# real hub and a second office: unlock, writes with every problem returned and nothing
# stored, a sync started from the page with its progress and outcome, a colleague's record
# arriving, writes refused while a sync runs, attachments streamed in (an upload cut halfway
# leaves the store exactly as it was) and out, the case report and the CSV download, lock.
source "$TK_SOURCE_DIR/tests/integration/lib/common.sh"
source "$TK_SOURCE_DIR/tests/integration/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
two_offices cases rw
step "office A's UI"
UI_OUT=$TMP/ui.out
env -u TUNDUK_PASSPHRASE "$BIN/tunduk" --home "$A" ui --no-browser >"$UI_OUT" 2>"$TMP/ui.err" &
UI_PID=$!
BG_PIDS+=("$UI_PID")
for _ in $(seq 1 100); do grep -q '^tunduk ui: http' "$UI_OUT" && break; sleep 0.1; done
URL=$(sed -n 's/^tunduk ui: //p' "$UI_OUT")
[ -n "$URL" ] || { cat "$TMP/ui.err" >&2; fail "tunduk ui printed no address"; }
BASE=${URL%%/launch*}
JAR=$TMP/jar
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$JAR" "$URL")
[ "$code" = 303 ] || fail "launch answered $code"
CSRF=$(curl -s -b "$JAR" "$BASE/api/session" | jq -r .csrf)
[ ${#CSRF} = 43 ] || fail "no CSRF token in the session"

# api METHOD PATH [BODY]: the answer's body in $TMP/body, its status printed.
api() {
  local m=$1 p=$2
  shift 2
  curl -s -o "$TMP/body" -w '%{http_code}' -b "$JAR" -X "$m" -H "X-Tunduk-CSRF: $CSRF" \
    -H 'Content-Type: application/json' ${1:+--data-binary "$1"} "$BASE$p"
}
expect() { # STATUS METHOD PATH [BODY]
  local want=$1 got
  shift
  got=$(api "$@")
  [ "$got" = "$want" ] || { cat "$TMP/body" >&2; fail "$1 $2 answered $got, wanted $want"; }
}

step "locked until the passphrase; a wrong one keeps it locked"
expect 423 POST /api/records '{"type":"case","vault":"cases","body":{}}'
expect 401 POST /api/unlock '{"passphrase":"not it"}'
[ "$(curl -s -b "$JAR" "$BASE/api/session" | jq .locked)" = true ] || fail "unlocked by a wrong passphrase"
expect 200 POST /api/unlock "$(jq -cn --arg p "$TUNDUK_PASSPHRASE" '{passphrase: $p}')"

step "a record with three problems: all of them named, nothing stored"
before=$(store_digest "$A")
expect 422 POST /api/records \
  '{"type":"case","vault":"cases","body":{"case_number":"OSH-1","status":"nope","opened":"2026-13-01"}}'
jq -e '.error.problems | length >= 3' "$TMP/body" >/dev/null || fail "not every problem: $(cat "$TMP/body")"
for f in client_alias status opened; do
  jq -e --arg f "$f" '.error.problems | map(.field) | index($f)' "$TMP/body" >/dev/null ||
    fail "no problem named '$f': $(cat "$TMP/body")"
done
[ "$(store_digest "$A")" = "$before" ] || fail "a refused record changed the store"
# the type's validate() too, though the host's field checks failed: every problem at once
expect 422 POST /api/records \
  '{"type":"case","vault":"cases","body":{"case_number":"OSH-1","status":"nope","opened":"2026-03-01","closed":"2026-02-01"}}'
[ "$(jq -c '[.error.problems[].field] | sort' "$TMP/body")" = '["client_alias","closed","status"]' ] ||
  fail "not the field problems and validate()'s: $(cat "$TMP/body")"
expect 200 POST /api/check '{"type":"case","body":{"case_number":"OSH-1","status":"nope","opened":"2026-03-01","closed":"2026-02-01"}}'
[ "$(jq '.problems | length' "$TMP/body")" = 3 ] || fail "/api/check says less than a save: $(cat "$TMP/body")"
[ "$(store_digest "$A")" = "$before" ] || fail "a refused record changed the store"
expect 422 POST /api/records '{"type":"case","vault":"cases","body":{"case_number":"X","client_alias":"A","status":"open","titel":"x"}}'
grep -q "did you mean 'title'" "$TMP/body" || fail "no suggestion for a typo: $(cat "$TMP/body")"

step "a case, an appeal of it; the list finds them by search and by field"
expect 201 POST /api/records '{"type":"case","vault":"cases","body":{"case_number":"OSH-2026-014","client_alias":"Client A-7","status":"in_court","title":"Detention in Osh"}}'
CASE=$(jq -r .record "$TMP/body")
expect 201 POST /api/records "$(jq -cn --arg c "$CASE" '{type: "appeal", vault: "cases", body: {addressee: "Prosecutor of Osh", subject: "Complaint of ill-treatment", related_case: $c, date_sent: "2026-01-10", reply_due: "2026-02-10"}}')"
APPEAL=$(jq -r .record "$TMP/body")
expect 200 GET '/api/records?q=osh'
[ "$(jq .total "$TMP/body")" = 2 ] || fail "search 'osh' found $(jq .total "$TMP/body")"
expect 200 GET '/api/records?type=case&f.status=in_court'
[ "$(jq -r '.records[0].id' "$TMP/body")" = "$CASE" ] || fail "the field filter missed the case"
expect 200 GET '/api/records?type=case&f.status=closed'
[ "$(jq .total "$TMP/body")" = 0 ] || fail "the field filter let a wrong value through"
expect 200 GET '/api/records?state=unsent'
[ "$(jq -c '[.records[].id] | sort' "$TMP/body")" = "$(jq -cn --arg c "$CASE" --arg a "$APPEAL" '[$c, $a] | sort')" ] ||
  fail "state=unsent is not the two records written here: $(cat "$TMP/body")"
expect 400 GET '/api/records?state=unsnet'
expect 200 GET "/api/records/$CASE"
[ "$(jq -r .body.title "$TMP/body")" = "Detention in Osh" ] || fail "the record's body"
jq -e '.form.fields | length > 5' "$TMP/body" >/dev/null || fail "no form with the record"

step "an attachment streamed in, read back byte for byte"
head -c 700000 /dev/urandom >"$TMP/scan.pdf"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -b "$JAR" -H "X-Tunduk-CSRF: $CSRF" \
  --data-binary @"$TMP/scan.pdf" -H 'Content-Type: application/octet-stream' \
  "$BASE/api/records/$CASE/attachments?name=scan.pdf")
[ "$code" = 201 ] || { cat "$TMP/body" >&2; fail "upload answered $code"; }
curl -s -b "$JAR" -o "$TMP/back.pdf" "$BASE/api/records/$CASE/attachments/scan.pdf"
cmp -s "$TMP/scan.pdf" "$TMP/back.pdf" || fail "the attachment came back different"
step "an upload cut halfway leaves the store as it was"
before=$(store_digest "$A")
head -c 300000 /dev/urandom >"$TMP/half"
# announces 900,000 bytes, sends 300,000, then the connection is cut
python3 - "$BASE" "$CASE" "$CSRF" "$(sed -n 's/.*tk_session\t//p' "$JAR")" "$TMP/half" <<'EOF'
import socket, sys, time, urllib.parse
base, case, csrf, cookie, path = sys.argv[1:]
u = urllib.parse.urlparse(base)
s = socket.create_connection((u.hostname, u.port))
s.sendall((f"POST /api/records/{case}/attachments?name=cut.bin HTTP/1.1\r\nHost: {u.netloc}\r\n"
           f"Cookie: tk_session={cookie}\r\nX-Tunduk-CSRF: {csrf}\r\n"
           "Content-Length: 900000\r\n\r\n").encode())
s.sendall(open(path, "rb").read())
time.sleep(0.5)
s.close()
EOF
sleep 0.5
[ "$(store_digest "$A")" = "$before" ] || fail "a cut upload changed the store"
expect 200 GET "/api/records/$CASE/attachments"
[ "$(jq length "$TMP/body")" = 1 ] || fail "a cut upload left an attachment: $(cat "$TMP/body")"
ls "$A" | grep -qi upload && [ -n "$(find "$A" -name '*upload*' -type f)" ] &&
  fail "a cut upload left a file: $(find "$A" -name '*upload*')"

step "the report of the case, with its appeal, under its own CSP"
curl -s -D "$TMP/hdr" -b "$JAR" -o "$TMP/report.html" "$BASE/api/report?record=$CASE&lang=ru&tz=360"
grep -qi "^content-type: text/html" "$TMP/hdr" || fail "the report is not HTML"
grep -qi "^content-security-policy: default-src 'none'; style-src 'unsafe-inline'" "$TMP/hdr" ||
  fail "the report's CSP: $(grep -i content-security "$TMP/hdr")"
grep -q "OSH-2026-014" "$TMP/report.html" || fail "the report lacks the case"
grep -q "Prosecutor of Osh" "$TMP/report.html" || fail "the report lacks the case's appeal"
grep -q "scan.pdf" "$TMP/report.html" || fail "the report lacks the attachment's name"

step "CSV of the filtered list"
curl -s -b "$JAR" -o "$TMP/cases.csv" "$BASE/api/export?format=csv&type=case&q=osh"
grep -q "OSH-2026-014" "$TMP/cases.csv" || fail "the CSV lacks the case"
[ "$(grep -c . "$TMP/cases.csv")" = 2 ] || fail "the CSV has $(grep -c . "$TMP/cases.csv") lines"

step "sync from the page: progress, the outcome in words; a colleague's record arrives"
sync_ok "$B" # the vault's key, granted by A
echo '{"case_number": "NAR-2026-003", "client_alias": "Client N-2", "status": "open"}' |
  run_expect 0 tk "$B" new case --vault cases
sync_ok "$B"
expect 202 POST /api/sync
got=$(api POST /api/records '{"type":"case","vault":"cases","body":{"case_number":"Z","client_alias":"Z","status":"open"}}')
[ "$got" = 409 ] || [ "$got" = 201 ] || fail "a write during a sync answered $got"
for _ in $(seq 1 300); do
  expect 200 GET /api/sync
  [ "$(jq .running "$TMP/body")" = false ] && [ "$(jq '.last != null' "$TMP/body")" = true ] && break
  sleep 0.1
done
jq -e '.last.ok' "$TMP/body" >/dev/null || fail "the sync failed: $(cat "$TMP/body")"
jq -e '.last.result.sent >= 2' "$TMP/body" >/dev/null || fail "the sync sent too little: $(cat "$TMP/body")"
jq -e '.last.message | test("Sent [0-9]+, received [0-9]+")' "$TMP/body" >/dev/null ||
  fail "no outcome in words: $(jq .last.message "$TMP/body")"
jq -e '.progress.chunk_bytes_out > 0' "$TMP/body" >/dev/null || fail "no attachment bytes in the progress"
expect 200 GET '/api/records?q=NAR-2026'
[ "$(jq .total "$TMP/body")" = 1 ] || fail "the colleague's record did not arrive"
expect 200 GET '/api/records?state=unsent'
jq -e --arg c "$CASE" --arg a "$APPEAL" '[.records[].id] | (index($c) or index($a)) | not' "$TMP/body" >/dev/null ||
  fail "records at the hub still listed as unsent: $(cat "$TMP/body")"
jq -e '[.records[].summary] | map(test("NAR-2026")) | any | not' "$TMP/body" >/dev/null ||
  fail "a record pulled from the hub is listed as unsent: $(cat "$TMP/body")"
sync_ok "$B"
run_expect 0 tk "$B" get "$CASE" scan.pdf -o "$TMP/at-b.pdf"
cmp -s "$TMP/scan.pdf" "$TMP/at-b.pdf" || fail "the colleague's copy of the attachment differs"

step "a conflict resolved through the API"
echo '{"case_number": "OSH-2026-014", "client_alias": "Client A-7", "status": "in_court", "title": "Detention in Osh", "court": "Osh city court"}' |
  run_expect 0 tk "$B" edit "$CASE" -
sync_ok "$B"
expect 200 PUT "/api/records/$CASE" '{"body":{"case_number":"OSH-2026-014","client_alias":"Client A-7","status":"in_court","title":"Detention in Osh","lawyer":"A. Lawyer"}}'
expect 202 POST /api/sync
for _ in $(seq 1 300); do
  expect 200 GET /api/sync
  [ "$(jq .running "$TMP/body")" = false ] && break
  sleep 0.1
done
expect 200 GET /api/conflicts
[ "$(jq length "$TMP/body")" = 1 ] || fail "no conflict: $(cat "$TMP/body")"
expect 200 GET "/api/records/$CASE/heads"
[ "$(jq length "$TMP/body")" = 2 ] || fail "not two heads"
expect 200 GET "/api/records/$CASE/merge"
[ "$(jq -r .body.court "$TMP/body")" = "Osh city court" ] && [ "$(jq -r .body.lawyer "$TMP/body")" = "A. Lawyer" ] ||
  fail "merge() did not take both sides: $(cat "$TMP/body")"
expect 200 POST "/api/records/$CASE/resolve" "$(jq -c '{body: .body}' "$TMP/body")"
expect 200 GET /api/conflicts
[ "$(jq length "$TMP/body")" = 0 ] || fail "still in conflict"

step "lock: keys gone, calls refused"
expect 200 POST /api/lock
expect 423 GET "/api/records/$CASE"
[ "$(curl -s -b "$JAR" "$BASE/api/session" | jq .locked)" = true ] || fail "not locked"
kill -TERM "$UI_PID"
wait "$UI_PID" || fail "tunduk ui did not exit 0 on SIGTERM"
echo "PASS"
