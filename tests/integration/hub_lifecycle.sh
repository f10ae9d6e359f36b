# The admin's device lifecycle and the daemon's habits (issue 17, items 6
# and 7), through the real binaries: serve never makes an identity; one
# serve per home (the refusal names the running pid; a dead one's lock does
# not block); unique device names and vaults; an enrolled device's access
# changed in place and learned by its office at the next sync; pending
# tokens listed and cancelled; devices renamed; SIGHUP re-reads the config;
# public_address in tokens and the warnings about unusable addresses. Every
# refusal is checked for its message and for the store left as it was.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

# hub_digest: the hub store's content (every table), for "nothing changed".
hub_digest() { store_digest "$HUB_HOME"; }

step "serve on a home without device.key is refused and makes nothing"
run_expect 2 hubd --home "$TMP/typo" serve --listen 127.0.0.1:0
err_has "no hub in $TMP/typo (run 'tundukd --home $TMP/typo init' first): $TMP/typo/device.key is missing"
[ ! -e "$TMP/typo" ] || fail "serve made the mistyped home"
mkdir "$TMP/empty"
run_expect 2 hubd --home "$TMP/empty" serve --listen 127.0.0.1:0
err_has "$TMP/empty/device.key is missing"
[ -z "$(ls -A "$TMP/empty")" ] || fail "serve wrote into an empty home: $(ls -A "$TMP/empty")"
run_expect 2 hubd --home "$TMP/empty" serve --name x
err_has "'serve' does not take --name"

new_hub "$TMP/hub"
start_hub
FIRST_PID=$HUB_PID

step "a second serve on the same home is refused, naming the running pid"
before=$(hub_digest)
run_expect 1 hubd --home "$HUB_HOME" serve --listen 127.0.0.1:0
err_has "the hub in $HUB_HOME is already running (pid $FIRST_PID holds $HUB_HOME/tundukd.lock)"
[ "$(hub_digest)" = "$before" ] || fail "the refused serve changed the store"
hub_alive

step "the lock of a hub that was killed does not block the next serve"
kill -KILL "$HUB_PID"
wait "$HUB_PID" 2>/dev/null || true
grep -qx "$FIRST_PID" "$HUB_HOME/tundukd.lock" || fail "the lock file does not hold the pid: $(cat "$HUB_HOME/tundukd.lock")"
start_hub
[ "$HUB_PID" != "$FIRST_PID" ] || fail "same pid"
grep -qx "$HUB_PID" "$HUB_HOME/tundukd.lock" || fail "the new hub's pid is not in the lock file"
hub_alive


# add NAME VAULTSPEC...: device add at the running hub; stdout in $TMP/out.
add() {
  local name=$1; shift
  local args=() v
  for v in "$@"; do args+=(--vault "$v"); done
  hubd --home "$HUB_HOME" device add "$name" "${args[@]}" --address "127.0.0.1:$HUB_PORT"
}
# refused CODE TEXT CMD...: CMD exits CODE saying TEXT, and the hub's store is unchanged.
refused() {
  local code=$1 text=$2 before; shift 2
  before=$(hub_digest)
  run_expect "$code" "$@"
  err_has "$text"
  [ "$(hub_digest)" = "$before" ] || fail "a refused '$*' changed the hub's store"
}
token_ids() { hubd --home "$HUB_HOME" device tokens --json | jq -r '.[].id' | sort; }

step "duplicate vaults are refused, naming the vault"
refused 2 "vault 'a' is named twice" add dup a,a:rw
refused 2 "vault 'b' is named twice" add dup b:rw --vault b
[ -z "$(token_ids)" ] || fail "a refused device add left a token"

step "office a enrolls; its name is then taken (by the token, then by the device)"
new_office "$TMP/a" a
run_expect 0 add office-a cases:rw
TOKEN_A=$(cat "$TMP/out")
TID_A=$(sed -n 's/^tundukd: token \([0-9a-f]\{32\}\) for .*/\1/p' "$TMP/err")
[ -n "$TID_A" ] || { cat "$TMP/err"; fail "device add did not print the token id"; }
refused 1 "the name 'office-a' is taken by the pending token $TID_A" add office-a other:rw
refused 1 "the name 'OFFICE-A' is taken by the pending token" add OFFICE-A other:rw
run_expect 0 tk "$TMP/a" enroll "$TOKEN_A"
A_ID=$(tk "$TMP/a" whoami)
refused 1 "the name 'office-a' is taken by device $A_ID ('office-a')" add office-a other:rw
run_expect 0 tk "$TMP/a" vault create cases
REC1=$(new_record "$TMP/a" cases "first")
sync_ok "$TMP/a"

step "a second token for the enrolled office: refused by the office, the token stays pending"
run_expect 0 add office-a-again cases:rw notes:rw
TOKEN_A2=$(cat "$TMP/out")
TID_A2=$(sed -n 's/^tundukd: token \([0-9a-f]\{32\}\) for .*/\1/p' "$TMP/err")
office_before=$(store_digest "$TMP/a")
run_expect 1 tk "$TMP/a" enroll "$TOKEN_A2"
err_has "this office is already enrolled at hub $HUB_ID; a new token does not change what it may sync (the token was not used)"
err_has "tundukd device access NAME --vault V[:rw]"
[ "$(store_digest "$TMP/a")" = "$office_before" ] || fail "the refused enroll changed the office"
[ "$(token_ids)" = "$TID_A2" ] || fail "the second token is not pending: $(token_ids)"

step "device tokens lists the pending token, never its secret; device cancel cancels it"
run_expect 0 hubd --home "$HUB_HOME" device tokens
out_has "token   $TID_A2  office-a-again"
out_has "cases:rw,notes:rw  expires "
run_expect 0 hubd --home "$HUB_HOME" device tokens --json
[ "$(jq -r '.[0] | [.id, .name, (.access | map(.vault + ":" + (if .write then "rw" else "r" end)) | join(","))] | join(" ")' "$TMP/out")" = \
  "$TID_A2 office-a-again cases:rw,notes:rw" ] || { cat "$TMP/out"; fail "device tokens --json"; }
[ "$(jq -r '.[0] | (.expires > .created) and (.expired == false)' "$TMP/out")" = true ] || fail "token times"
secret_hex=$(hub_sql "select hex(secret_hash) from tokens where hex(id) = upper('$TID_A2')")
! grep -qi "$secret_hex" "$TMP/out" || fail "device tokens shows the secret's hash"
refused 2 "give at least 4 hex digits of the token id" hubd --home "$HUB_HOME" device cancel abc
refused 2 "no pending token 'ffff'" hubd --home "$HUB_HOME" device cancel ffff
refused 2 "token '$TID_A' was already used: it enrolled a device" hubd --home "$HUB_HOME" device cancel "$TID_A"
run_expect 0 hubd --home "$HUB_HOME" device cancel "${TID_A2:0:8}"
out_has "cancelled token $TID_A2 for 'office-a-again'"
[ -z "$(token_ids)" ] || fail "the cancelled token is still listed"
new_office "$TMP/c" c
run_expect 1 tk "$TMP/c" enroll "$TOKEN_A2"
err_has "unknown enrollment token"
[ "$(hub_sql "select count(*) from devices")" = 2 ] || fail "the cancelled token enrolled a device"

step "device access: office a gains vault notes, at its next sync"
refused 2 "give --vault V[:rw] or --remove V" hubd --home "$HUB_HOME" device access office-a
refused 2 "no device named 'nobody'" hubd --home "$HUB_HOME" device access nobody --vault notes:rw
refused 2 "vault 'notes' is named twice" hubd --home "$HUB_HOME" device access office-a --vault notes:rw --remove notes
refused 2 "is the hub itself" hubd --home "$HUB_HOME" device access "$HUB_ID" --vault notes:rw
refused 2 "device 'office-a' has no access to vault 'nope' to remove" \
  hubd --home "$HUB_HOME" device access office-a --vault notes:rw --remove nope
refused 2 "--remove takes a vault name without a mode" hubd --home "$HUB_HOME" device access office-a --remove cases:rw
run_expect 0 tk "$TMP/a" vault create notes
REC2=$(new_record "$TMP/a" notes "in notes")
run_expect 4 tk "$TMP/a" sync
grep -q "may not write vault 'notes'" "$TMP/out" "$TMP/err" || fail "notes was writable before the change"
run_expect 0 hubd --home "$HUB_HOME" device access "${A_ID:0:9}" --vault notes:rw
out_has "device $A_ID 'office-a' access: cases:rw,notes:rw"
sync_ok "$TMP/a"
[ "$(office_sql "$TMP/a" "select value from meta where key = 'hub_access'")" = "cases:rw,notes:rw" ] ||
  fail "the office did not learn its new access"
[ "$(hub_sql "select count(*) from records where vault = 'notes'")" = 1 ] || fail "the hub did not take the record in notes"

step "device access: office a loses write on cases (and keeps reading it)"
run_expect 0 hubd --home "$HUB_HOME" device access office-a --vault cases
out_has "access: cases:r,notes:rw"
REC3=$(new_record "$TMP/a" cases "after losing write")
run_expect 4 tk "$TMP/a" sync
grep -q "may not write vault 'cases'" "$TMP/out" "$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "cases stayed writable"; }
[ "$(office_sql "$TMP/a" "select value from meta where key = 'hub_access'")" = "cases:r,notes:rw" ] ||
  fail "the office did not learn it lost write"
run_expect 0 hubd --home "$HUB_HOME" device access office-a --remove notes
out_has "access: cases:r"
[ "$(hub_sql "select group_concat(vault || ':' || write) from access where device = (select id from devices where name = 'office-a')")" = "cases:0" ] ||
  fail "the store's access after --remove"

step "device rename, unique names"
refused 1 "the name 'test-hub' is taken by device $HUB_ID ('test-hub')" hubd --home "$HUB_HOME" device rename office-a test-hub
refused 2 "device name must be 1 to 63 bytes" hubd --home "$HUB_HOME" device rename office-a ""
run_expect 0 hubd --home "$HUB_HOME" device rename office-a osh-office
out_has "device $A_ID renamed from 'office-a' to 'osh-office'"
run_expect 0 hubd --home "$HUB_HOME" device rename osh-office OSH-Office # its own name, another case
[ "$(hub_sql "select name from devices where hex(id) != '' and name like 'osh%'")" = "OSH-Office" ] || fail "rename"

step "device list: the hub's own entry and the devices, alike in text and JSON"
run_expect 0 add office-b cases
TOKEN_B=$(cat "$TMP/out")
TID_B=$(sed -n 's/^tundukd: token \([0-9a-f]\{32\}\) for .*/\1/p' "$TMP/err")
run_expect 0 hubd --home "$HUB_HOME" device list
grep -Eq "^hub     $HUB_ID  test-hub +added [0-9-]+ [0-9:]+ UTC  \(this hub\)$" "$TMP/out" || { cat "$TMP/out"; fail "no hub line"; }
grep -Eq "^device  $A_ID  OSH-Office +added [0-9-]+ [0-9:]+ UTC  seen ([0-9-]+ [0-9:]+ UTC|never)  cases:r$" "$TMP/out" || { cat "$TMP/out"; fail "no device line"; }
out_has "token   $TID_B  office-b"
text_ids=$(awk '$1 == "hub" || $1 == "device" { print $2 }' "$TMP/out")
run_expect 0 hubd --home "$HUB_HOME" device list --json
[ "$(jq -r '.[].id' "$TMP/out")" = "$text_ids" ] || fail "text and JSON list other devices"
[ "$(jq -r '.[0] | [.id, .name, .hub] | join(" ")' "$TMP/out")" = "$HUB_ID test-hub true" ] || fail "JSON hub entry"
[ "$(jq -r '.[1] | [.name, .hub, .revoked, (.added > 0)] | join(" ")' "$TMP/out")" = "OSH-Office false false true" ] ||
  fail "JSON device entry"
run_expect 0 tk "$TMP/c" enroll "$TOKEN_B"

step "public_address: tokens carry it; unusable addresses are warned about"
stop_hub
printf 'listen = 0.0.0.0:7420\n' >"$TMP/conf.any"
run_expect 0 hubd --home "$HUB_HOME" device add office-x --vault cases --config "$TMP/conf.any"
err_has "hub address 0.0.0.0:7420."
err_has "warning: enrollment tokens carry 0.0.0.0:7420, an address no office can dial; set public_address = HOST:PORT"
printf 'listen = [::]:7420\npublic_address = hub.example.org:7420\n' >"$TMP/conf.pub"
run_expect 0 hubd --home "$HUB_HOME" device add office-y --vault cases --config "$TMP/conf.pub"
err_has "hub address hub.example.org:7420."
! grep -q "warning" "$TMP/err" || fail "a warning for a public address: $(cat "$TMP/err")"
printf 'listen = [::]:7420\npublic_address = 127.0.0.1:7420\n' >"$TMP/conf.lo"
run_expect 0 hubd --home "$HUB_HOME" device add office-z --vault cases --config "$TMP/conf.lo"
err_has "warning: enrollment tokens carry the loopback address 127.0.0.1:7420 while the hub listens on [::]:7420"
printf '# public\npublic_address = hub.example.org:0\n' >"$TMP/conf.bad0"
refused 2 "$TMP/conf.bad0:2: public_address must be host:port with a port other than 0" \
  hubd --home "$HUB_HOME" device add office-w --vault cases --config "$TMP/conf.bad0"
for t in $(token_ids); do hubd --home "$HUB_HOME" device cancel "$t" >/dev/null; done
"$BIN/tundukd" --home "$HUB_HOME" serve --listen 0.0.0.0:0 2>"$TMP/any.log" &
any=$!
BG_PIDS+=("$any")
for _ in $(seq 1 100); do grep -q "listening addr=" "$TMP/any.log" && break; sleep 0.05; done
grep -q "warn  hub: enrollment tokens carry 0.0.0.0:0, an address no office can dial" "$TMP/any.log" ||
  { cat "$TMP/any.log"; fail "serve on 0.0.0.0 did not warn about the tokens' address"; }
kill -TERM "$any"; wait "$any"

step "SIGHUP re-reads the config: live settings applied, restart-only ones logged"
HUB_CONFIG=$TMP/hub.conf
printf 'log_level = info\n' >"$HUB_CONFIG"
start_hub
set_hub_addr "$TMP/c" "127.0.0.1:$HUB_PORT"
set_hub_addr "$TMP/a" "127.0.0.1:$HUB_PORT"
# hup WHAT: SIGHUP, then waits for the config line WHAT matches (after this HUP).
hup() {
  local n i
  n=$(wc -l <"$HUB_LOG")
  kill -HUP "$HUB_PID"
  for i in $(seq 1 100); do
    if tail -n +"$((n + 1))" "$HUB_LOG" | grep -q "hub: plugins folder=\|plugin reload failed"; then
      tail -n +"$((n + 1))" "$HUB_LOG" >"$TMP/hup.log"
      return 0
    fi
    sleep 0.05
  done
  tail -n +"$((n + 1))" "$HUB_LOG" >&2
  fail "no reload after SIGHUP"
}
hup_has() { grep -qF -- "$1" "$TMP/hup.log" || { cat "$TMP/hup.log" >&2; fail "the reload did not log: $1"; }; }

tk "$TMP/c" whoami >/dev/null
run_expect 0 hubd --home "$HUB_HOME" device access office-b --vault files:rw
run_expect 0 tk "$TMP/c" vault create files
REC_C=$(new_record "$TMP/c" files "with a file")
head -c $((3 * 1024 * 1024 / 2)) /dev/urandom >"$TMP/big.bin"
run_expect 0 tk "$TMP/c" attach "$REC_C" "$TMP/big.bin"
grep -q "debug hub:" "$HUB_LOG" && fail "debug lines at log_level = info"
printf 'log_level = debug\nmax_attachment_mb = 1\nmax_connections = 10\npublic_address = hub.example.org:7420\nplugin_workers = 3\n' >"$HUB_CONFIG"
hup
hup_has "info  hub: config plugin_workers=3 (was 2)"
grep -q "hub: plugins folder=.* workers=3 " "$TMP/hup.log" || { cat "$TMP/hup.log"; fail "the plugin reload did not take plugin_workers"; }
hup_has "info  hub: config max_attachment_mb=1 (was 1024)"
hup_has "info  hub: config log_level=debug (was info)"
hup_has "info  hub: config public_address=hub.example.org:7420 (was listen)"
hup_has "warn  hub: config max_connections=10 is read at start only: 2000 stays until a restart"
hup_has "info  hub: config reloaded changed=4 need_restart=1"
run_expect 4 tk "$TMP/c" sync
grep -q "max_attachment_mb" "$TMP/out" "$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "the new max_attachment_mb was not applied"; }
grep -q "debug hub: hello device=.* name=office-b" "$HUB_LOG" || fail "the new log_level was not applied"
run_expect 0 hubd --home "$HUB_HOME" device add office-p --vault cases --config "$HUB_CONFIG"
err_has "hub address hub.example.org:7420."

step "SIGHUP with a bad config keeps the running one and logs file:line"
printf 'log_level = debug\nmax_attachment_mb = 4096\n' >"$HUB_CONFIG"
hup
hup_has "error hub: config reload failed, keeping the running config: $HUB_CONFIG:2: max_attachment_mb must be between 1 and 1024, got 4096"
! grep -q "config reloaded" "$TMP/hup.log" || fail "a bad config was applied"
run_expect 4 tk "$TMP/c" sync
grep -q "max_attachment_mb" "$TMP/out" "$TMP/err" || fail "the bad config replaced the running limit"
printf 'log_level = info\n' >"$HUB_CONFIG"
hup
hup_has "config max_attachment_mb=1024 (was 1)"
sync_ok "$TMP/c"
[ "$(hub_sql "select count(*) from records where vault = 'files'")" = 1 ] || fail "the record with its file did not arrive"
hub_alive
stop_hub
[ ! -s "$HUB_HOME/tundukd.lock" ] || fail "a stopped hub left its pid in the lock file"

step "SIGHUP: a new listen address waits for a restart; a config file gone keeps the running one"
printf 'listen = 127.0.0.1:0\n' >"$HUB_CONFIG"
"$BIN/tundukd" --home "$HUB_HOME" serve --config "$HUB_CONFIG" 2>"$TMP/l.log" &
HUB_PID=$! HUB_LOG=$TMP/l.log
BG_PIDS+=("$HUB_PID")
for _ in $(seq 1 100); do grep -q "listening addr=" "$HUB_LOG" && break; sleep 0.05; done
grep -qx "$HUB_PID" "$HUB_HOME/tundukd.lock" || fail "serve's pid is not in the lock file"
printf 'listen = 127.0.0.1:1\nmetrics = 127.0.0.1:0\n' >"$HUB_CONFIG"
hup
hup_has "warn  hub: config listen=127.0.0.1:1 is read at start only: 127.0.0.1:0 stays until a restart"
hup_has "warn  hub: config metrics=127.0.0.1:0 is read at start only: off stays until a restart"
hup_has "config reloaded changed=0 need_restart=2"
rm "$HUB_CONFIG"
hup
hup_has "config reload failed, keeping the running config: cannot open config file $HUB_CONFIG"
hub_alive
stop_hub
echo "ok"
