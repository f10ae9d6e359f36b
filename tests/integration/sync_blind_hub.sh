# The hub is blind: record bodies carrying unique markers (small, large and
# compressible, edited) travel office A -> hub -> office B, and no file in
# the hub's home folder, WAL included, ever holds a marker or the office
# passphrase; the receiving office reads the markers back.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
two_offices cases rw
sync_ok "$B"

marker="CANARY-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Hold a read transaction open on the hub's store so that its WAL is not
# checkpointed away while revisions arrive: the WAL is searched too.
mkfifo "$TMP/hold"
sqlite3 "$HUB_HOME/store.db" <"$TMP/hold" >/dev/null 2>&1 &
BG_PIDS+=($!)
exec 9>"$TMP/hold"
echo "BEGIN; SELECT count(*) FROM revisions;" >&9
sleep 0.3

step "records with markers, synced through the hub"
new_record "$A" cases "$marker" >/dev/null
big=$(for i in $(seq 1 400); do printf '%s repeated text %d. ' "$marker" "$i"; done)
new_record "$A" cases "$big" >/dev/null
rec=$(new_record "$A" cases "$marker-alias")
edit_record "$A" "$rec" "$marker-edited" >/dev/null
sync_ok "$A"
sync_ok "$B"
[ "$(hub_sql 'select count(*) from revisions')" = 4 ] || fail "the hub does not hold the 4 revisions"
[ -s "$HUB_HOME/store.db-wal" ] || fail "expected a WAL file on the hub to search"

scan() {
  if grep -rlaF -- "$1" "$HUB_HOME"; then fail "found $2 in the hub files above"; fi
}
scan "$marker" "a record marker"
scan "CANARY-" "the marker prefix"
scan "$TUNDUK_PASSPHRASE" "the office passphrase"

step "the receiving office reads the markers"
[ "$(tk "$B" show "$rec" | jq -r .notes)" = "$marker-edited" ] || fail "B does not read the edit"
tk "$B" list --json | jq -r '.[].id' >"$TMP/ids"
[ "$(wc -l <"$TMP/ids")" = 3 ] || fail "B lists $(wc -l <"$TMP/ids") records, not 3"
n=0
while read -r id; do
  tk "$B" show "$id" | grep -qF "$marker" && n=$((n + 1))
done <"$TMP/ids"
[ "$n" = 3 ] || fail "B reads the marker in $n of 3 records"

step "still nothing after the WAL is checkpointed and the hub stops"
echo "COMMIT;" >&9
exec 9>&-
sleep 0.3
hub_alive
stop_hub
scan "$marker" "a record marker"
scan "$TUNDUK_PASSPHRASE" "the office passphrase"
echo ok
