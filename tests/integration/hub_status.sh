# tundukd status and the metrics endpoint (issue 17, item 4): with no hub
# running, status exits 3 with a message (text and --json); a real hub and
# two offices syncing records and an attachment: status --json shows each
# device with a last-seen time and what its last session pushed and pulled,
# the connections and syncs, the store's and the chunks' sizes, the
# quarantine, the backup's age (meta last_backup); the text output says the
# same for an admin; last_seen is in the store (schema 10) and survives a
# restart; the control socket is 0600, bounds its requests, refuses
# another uid (run as root: a hub as nobody, asked by root) and a stale
# socket left by a killed hub is replaced; the metrics endpoint is off by
# default, and once configured on loopback (a non-loopback address is
# refused) GET /metrics after a sync shows non-zero revision and byte
# counters in valid Prometheus text format 0.0.4, and a hub rule that runs
# out of time counts a plugin timeout and a quarantined revision, held in
# status.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

st() { hubd --home "$HUB_HOME" status "$@"; }
# status_json: status --json into $TMP/status.json (must exit 0)
status_json() { run_expect 0 st --json; cp "$TMP/out" "$TMP/status.json"; }
js() { jq -r "$1" "$TMP/status.json"; }
jcheck() { jq -e "$1" "$TMP/status.json" >/dev/null || { cat "$TMP/status.json" >&2; fail "status: $1"; }; }

new_hub "$TMP/hub"

step "no hub running: exit 3 and a message, in text and JSON"
run_expect 3 st
err_has "no hub is running on $HUB_HOME"
run_expect 3 st --json
jq -e '.running == false and (.message | test("no hub is running"))' "$TMP/out" >/dev/null ||
  fail "status --json without a hub: $(cat "$TMP/out")"
run_expect 3 hubd --home "$TMP/nowhere" status
err_has "no hub is running on $TMP/nowhere"

step "the metrics endpoint is off by default, and refused off loopback"
start_hub
status_json
jcheck '.running == true and .metrics == null'
grep -q "serving GET /metrics" "$HUB_LOG" && fail "metrics served without the config key"
# the hub listens on exactly one TCP port: its sync port
n=$(ss -Hltnp | grep -c "pid=$HUB_PID," || true)
[ "$n" = 1 ] || { ss -ltnp >&2; fail "the hub listens on $n TCP ports, not 1"; }
[ "$(stat -c %a "$HUB_HOME/control.sock")" = 600 ] || fail "control.sock is not mode 0600"
# the HTTP library is loaded only for the metrics
grep -q libmicrohttpd "/proc/$HUB_PID/maps" && fail "libmicrohttpd loaded with the metrics off"
stop_hub
[ ! -e "$HUB_HOME/control.sock" ] || fail "a clean stop left control.sock"
printf 'metrics = 0.0.0.0:9420\n' >"$TMP/bad.conf"
run_expect 2 hubd --home "$HUB_HOME" serve --config "$TMP/bad.conf"
err_has "metrics must be a loopback address"

step "a hub with metrics on loopback; two offices sync records and an attachment"
printf 'metrics = 127.0.0.1:0\n' >"$TMP/hub.conf"
HUB_CONFIG=$TMP/hub.conf start_hub
METRICS=$(sed -n 's/.*serving GET \/metrics addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$HUB_LOG" | tail -1)
[ -n "$METRICS" ] || fail "no metrics address in the log"
grep -q libmicrohttpd "/proc/$HUB_PID/maps" || fail "metrics on, but libmicrohttpd is not loaded"
two_offices cases rw
for i in 1 2 3; do new_record "$A" cases "record $i" >/dev/null; done
REC=$(new_record "$A" cases "with a file")
head -c 600000 /dev/urandom >"$TMP/file.bin"
run_expect 0 tk "$A" attach "$REC" "$TMP/file.bin" --name file.bin
BEFORE=$(date +%s)
sync_ok "$A"
sync_ok "$B"
AFTER=$(date +%s)

step "status --json: devices with last seen and last push/pull, connections, sizes"
status_json
jcheck '.running == true and (.version | test("^[0-9]+\\.[0-9]+\\.[0-9]+"))'
jcheck ".pid == $HUB_PID and .listen == \"127.0.0.1:$HUB_PORT\" and .metrics == \"$METRICS\""
jcheck '.uptime_s >= 0 and .started <= .now'
jcheck '.connections.total >= 4 and .connections.now == 0 and .connections.max == 2000'
jcheck '.syncs >= 4'
jcheck '.devices | length == 2'
A_ID=$(tk "$A" whoami)
dev() { jq -c --arg id "$1" '.devices[] | select(.id == $id)' "$TMP/status.json"; }
DA=$(dev "$A_ID") DB=$(dev "$B_ID")
echo "A: $DA"
echo "B: $DB"
[ -n "$DA" ] && [ -n "$DB" ] || fail "status does not list both offices"
echo "$DA" | jq -e --argjson lo "$BEFORE" --argjson hi "$((AFTER + 1))" \
  '.name == "office-a" and .connected == 0 and .last_seen >= $lo and .last_seen <= $hi' >/dev/null ||
  fail "office A's last_seen is not the time of its sync"
# A's last session pushed the 5 revisions (4 records, one with a file) and its 3 chunks
echo "$DA" | jq -e '.last_session.pushed.revisions == 5 and .last_session.pushed.revision_bytes > 0
  and .last_session.pushed.chunks == 3 and .last_session.pushed.chunk_bytes > 600000
  and .last_session.end >= .last_session.start and .last_session.rejected == 0' >/dev/null ||
  fail "office A's last push is not 5 revisions and 3 chunks"
echo "$DB" | jq -e '.last_session.pulled.revisions == 5 and .last_session.pulled.chunks == 3
  and .last_session.pulled.chunk_bytes > 600000 and .last_session.pushed.revisions == 0' >/dev/null ||
  fail "office B's last pull is not 5 revisions and 3 chunks"
jcheck ".store.chunks == $(hub_sql 'select count(*) from chunks')"
jcheck ".store.chunk_bytes == $(hub_sql 'select sum(length(data)) from chunks')"
jcheck ".store.revisions == $(hub_sql 'select count(*) from revisions')"
jcheck ".store.file_bytes == $(stat -c %s "$HUB_HOME/store.db")"
jcheck ".quarantine.held == $(hub_sql 'select count(*) from quarantine where kind = 0')"
jcheck '.quarantine.refused == 0 and .backup.last == null and .backup.age_s == null'
# last_seen is in the store (schema 10), one per office
[ "$(hub_sql 'select count(*) from devices where last_seen >= '"$BEFORE")" = 2 ] ||
  fail "the store holds no last_seen for the offices"
[ "$(hub_sql 'pragma user_version')" = 10 ] || fail "the hub's store is not at schema 10"
# device list reads it from the store too (text and JSON), the hub itself without one
run_expect 0 hubd --home "$HUB_HOME" device list --json
jq -e --arg a "$A_ID" --argjson lo "$BEFORE" --argjson hi "$((AFTER + 1))" \
  '(.[] | select(.id == $a) | .last_seen >= $lo and .last_seen <= $hi) and
   (.[] | select(.hub) | .last_seen == null)' "$TMP/out" >/dev/null ||
  fail "device list --json lacks office A's last_seen: $(cat "$TMP/out")"
run_expect 0 hubd --home "$HUB_HOME" device list
grep -E "office-a +added [0-9-]+ [0-9:]+ UTC  seen $(date -u -d "@$AFTER" +%Y-%m-%d) " "$TMP/out" >/dev/null ||
  fail "device list does not say when office A was last seen: $(cat "$TMP/out")"

step "the text output, for an admin"
run_expect 0 st
cat "$TMP/out"
out_has "running (pid $HUB_PID)"
out_has "listening    127.0.0.1:$HUB_PORT; metrics on http://$METRICS"
out_has "office-a  $A_ID"
out_has "last session: pushed 5 revisions"
out_has "pulled 5 revisions"
out_has "3 attachment chunks"
out_has "last seen"
out_has "last backup  none recorded"

step "the backup's age from the store's last_backup"
hub_sql "insert or replace into meta(key, value) values('last_backup', '2026-01-02T03:04:05Z')"
status_json
jcheck '.backup.last == 1767323045 and .backup.age_s > 0'
run_expect 0 st
out_has "last backup  2026-01-02 03:04:05 UTC"
hub_sql "insert or replace into meta(key, value) values('last_backup', '2026-01-02T09:04:05+06:00')"
status_json
jcheck '.backup.last == 1767323045'

step "GET /metrics after the sync: non-zero counters, valid text format 0.0.4"
curl -sS -D "$TMP/headers" -o "$TMP/metrics" "http://$METRICS/metrics" || fail "curl /metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/headers" || { cat "$TMP/headers" >&2; fail "content type"; }
# every line a comment (# HELP / # TYPE) or name{labels} value
bad=$(grep -vE '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? -?[0-9.e+]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\} \+Inf$' "$TMP/metrics" || true)
[ -z "$bad" ] || fail "lines not in the exposition format: $bad"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$TMP/metrics"; }
for m in tundukd_revisions_received_total tundukd_revisions_sent_total \
  tundukd_revision_bytes_received_total tundukd_revision_bytes_sent_total \
  tundukd_chunk_bytes_received_total tundukd_chunk_bytes_sent_total \
  tundukd_network_bytes_received_total tundukd_network_bytes_sent_total \
  tundukd_connections_total tundukd_syncs_total tundukd_plugin_calls_total \
  'tundukd_commit_seconds_count{kind="revisions"}' 'tundukd_commit_seconds_count{kind="chunk"}'; do
  v=$(metric "$m")
  [ -n "$v" ] && [ "$v" != 0 ] || fail "metric $m is '$v' after a sync"
done
[ "$(metric tundukd_revisions_received_total)" = 5 ] || fail "revisions received is not 5"
[ "$(metric tundukd_chunks_received_total)" = 3 ] || fail "chunks received is not 3"
[ "$(metric 'tundukd_rejections_total{reason="access"}')" = 0 ] || fail "rejections by reason"
[ "$(metric tundukd_plugin_timeouts_total)" = 0 ] || fail "plugin timeouts"
grep -q "^tundukd_build_info{version=\"$(js .version)\"} 1$" "$TMP/metrics" || fail "build_info"
grep -q '^# TYPE tundukd_commit_seconds histogram$' "$TMP/metrics" || fail "histogram type"
[ "$(metric 'tundukd_commit_seconds_bucket{kind="revisions",le="+Inf"}')" = \
  "$(metric 'tundukd_commit_seconds_count{kind="revisions"}')" ] || fail "+Inf bucket != count"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/other")
[ "$code" = 404 ] || fail "GET /other answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$METRICS/metrics")
[ "$code" = 405 ] || fail "POST /metrics answered $code"

step "the control socket bounds its requests"
ask() { # ask TEXT: sends TEXT as it is on the control socket, prints the answer
  python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode())
s.shutdown(socket.SHUT_WR); print(s.makefile().read(), end="")' "$HUB_HOME/control.sock" "$1"
}
ask "$(head -c 400 /dev/zero | tr '\0' x)" | grep -q '"code":"limit"' || fail "a long request was not refused"
ask $'frobnicate\n' | grep -q "unknown request 'frobnicate'" || fail "an unknown request"
ask $'status\n' | jq -e '.hub_id' >/dev/null || fail "a status request on the socket"
# 8 control connections at once: the 9th is answered busy; one that asks
# nothing is closed after 5 s
python3 - "$HUB_HOME/control.sock" <<'PY' || fail "the control socket's connection bounds"
import socket, sys, time
held = []
for i in range(8):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
time.sleep(0.3)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.settimeout(3)
a = s.makefile().read()
assert '"code":"busy"' in a, a
t = time.time()
held[0].settimeout(10)
assert held[0].recv(1000) == b"", "an idle control connection got an answer"
assert 3 < time.time() - t + 0.3 < 8, time.time() - t
PY
hub_alive

step "the next sync is the device's last session"
sync_ok "$A"
status_json
echo "$(dev "$A_ID")" | jq -e '.last_session.pushed.revisions == 0 and .last_session.pushed.chunks == 0' \
  >/dev/null || fail "a no-op sync is not A's last session: $(dev "$A_ID")"

step "a killed hub leaves a stale socket: status says no hub runs; the next start replaces it"
kill -KILL "$HUB_PID"
wait "$HUB_PID" 2>/dev/null || true
[ -S "$HUB_HOME/control.sock" ] || fail "no socket left after SIGKILL"
run_expect 3 st
err_has "nothing answers on $HUB_HOME/control.sock"
start_hub
grep -q "replaced the stale socket" "$HUB_LOG" || fail "the stale socket was not replaced"
status_json
# last_seen survives the restart (the store's); the last session was in memory only
echo "$(dev "$A_ID")" | jq -e --argjson lo "$BEFORE" '.last_seen >= $lo and .last_session == null' \
  >/dev/null || fail "after a restart: $(dev "$A_ID")"
jcheck '.syncs == 0 and .connections.total == 0'

step "a rule that runs out of time: plugin timeouts, quarantined, held in status"
mkdir -p "$TMP/hub-plugins"
cat >"$TMP/hub-plugins/spin.lua" <<'LUA'
tunduk.moderation {
  name = "spin",
  check = function(meta)
    if meta.type == "testimony" then string.find(string.rep("a", 8000), ".-.-b") end
    return tunduk.accept()
  end,
}
LUA
stop_hub
printf 'metrics = 127.0.0.1:0\nplugins = %s\nplugin_call_ms = 200\n' "$TMP/hub-plugins" >"$TMP/hub.conf"
HUB_CONFIG=$TMP/hub.conf start_hub
METRICS=$(sed -n 's/.*serving GET \/metrics addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$HUB_LOG" | tail -1)
set_hub_addr "$A" "127.0.0.1:$HUB_PORT" # a restart took another free port
jq -cn '{witness_alias: "W-1", consent: "recorded", narrative: "seen at the station"}' |
  tk "$A" new testimony --vault cases - >/dev/null
run_expect 0 tk "$A" sync # held at the hub: not stranded
status_json
jcheck '.quarantine.held == 1'
echo "$(dev "$A_ID")" | jq -e '.last_session.rejected == 1 and .last_session.pushed.revisions == 0' \
  >/dev/null || fail "A's held testimony is not counted: $(dev "$A_ID")"
curl -sS -o "$TMP/metrics" "http://$METRICS/metrics" || fail "curl /metrics"
[ "$(metric tundukd_plugin_timeouts_total)" = 1 ] || fail "plugin timeouts is not 1"
[ "$(metric 'tundukd_rejections_total{reason="quarantined"}')" = 1 ] || fail "quarantined is not 1"
[ "$(metric tundukd_plugin_calls_total)" -ge 2 ] || fail "plugin calls"

step "another user may not ask"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
  # nobody reaches the root hub's socket only through file modes: refused there
  chmod 711 "$TMP"
  run_expect 1 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
    "$BIN/tundukd" --home "$HUB_HOME" status
  err_has "permission denied"
  # a hub run by nobody, asked by root (whom no file mode stops): SO_PEERCRED refuses
  NB=$TMP/nb
  mkdir -p "$NB" && chown nobody "$NB"
  AS_NOBODY=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups env HOME="$NB"
    TUNDUKD_PASSPHRASE="$TUNDUKD_PASSPHRASE" "$BIN/tundukd" --home "$NB/hub")
  nb() { "${AS_NOBODY[@]}" "$@"; }
  nb init --kdf interactive >/dev/null
  # setpriv and env exec: the pid is the hub's
  "${AS_NOBODY[@]}" serve --listen 127.0.0.1:0 2>"$TMP/nb.log" &
  NB_PID=$!
  BG_PIDS+=("$NB_PID")
  for i in $(seq 1 100); do grep -q "control socket" "$TMP/nb.log" && break; sleep 0.1; done
  grep -q "control socket" "$TMP/nb.log" || { cat "$TMP/nb.log" >&2; fail "the hub as nobody did not start"; }
  run_expect 1 hubd --home "$NB/hub" status
  err_has "only the hub's user (uid $(id -u nobody)) may ask it; you are uid 0"
  grep -q "control: refused uid=0" "$TMP/nb.log" || fail "the refusal is not logged"
  run_expect 0 nb status
  out_has "running (pid $NB_PID)"
  kill -TERM "$NB_PID"
  wait "$NB_PID" || fail "the hub as nobody did not stop cleanly"
  chmod 700 "$TMP"
else
  echo "SKIP: not root, or no setpriv or nobody user: the other-uid check is not run"
fi
hub_alive
stop_hub
echo "PASS"
