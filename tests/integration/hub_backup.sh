# Online backup and restore of a hub (issue 17, item 5). A hub with two
# offices; office A writes records and attachments and syncs in a loop
# while `tundukd backup DIR` runs again and again: every sync of the loop
# succeeds (a backup stops nothing), at least one overlaps a backup, every
# backup is whole (SHA256SUMS checks, the manifest's counts are its store's,
# no key file unless --with-key). Both offices write more after the last
# backup; the hub is stopped; a backup with one byte changed, one whose
# manifest was changed, one cut before it was whole, one missing a file and
# one of another hub are refused, naming the file, and change nothing; the good one is
# restored (the current store kept aside), and after the offices sync,
# every revision and attachment chunk either office wrote is on the hub and
# on both offices: nothing is lost.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

now_ns() { date +%s%N; }
hub_set() { sqlite3 "$1" "select hex(id) from $2 order by 1"; }

new_hub "$TMP/hub"
printf 'max_attachment_mb = 64\n' >"$HUB_HOME/tundukd.conf"
start_hub
two_offices cases rw
# a store of some size, so a backup takes a while
head -c $((24 << 20)) /dev/urandom >"$TMP/big.bin"
R0=$(new_record "$A" cases "a record with a big attachment")
run_expect 0 tk "$A" attach "$R0" "$TMP/big.bin" --name big.bin
sync_ok "$A"
sync_ok "$B"

step "office A writes and syncs in a loop while tundukd backup runs"
loop() { # writes records and attachments, one sync each; "START END RC" per sync
  local i=0 s e rc
  while [ ! -e "$TMP/stop" ] && [ $i -lt 60 ]; do
    i=$((i + 1))
    r=$(case_json "L-$i" "loop record $i" | tk "$A" new case --vault cases -) || { echo "0 0 new-failed"; continue; }
    if [ $((i % 2)) = 0 ]; then
      head -c $((100000 + i * 7000)) /dev/urandom >"$TMP/loop-$i.bin"
      tk "$A" attach "$r" "$TMP/loop-$i.bin" --name "loop-$i.bin" >/dev/null || echo "0 0 attach-failed"
      echo "$r loop-$i.bin" >>"$TMP/loop-files"
    fi
    s=$(now_ns)
    rc=0
    tk "$A" sync >"$TMP/loop-sync.out" 2>&1 || rc=$?
    e=$(now_ns)
    echo "$s $e $rc"
  done >"$TMP/loop.log"
}
loop &
LOOP_PID=$!
BG_PIDS+=("$LOOP_PID")
sleep 1
overlap=0 n=0
while [ $n -lt 8 ]; do
  n=$((n + 1))
  bs=$(now_ns)
  run_expect 0 hubd --home "$HUB_HOME" backup "$TMP/bk$n" --json
  be=$(now_ns)
  cp "$TMP/out" "$TMP/bk$n.json"
  while read -r s e rc; do
    [ "$s" != 0 ] && [ "$s" -lt "$be" ] && [ "$e" -gt "$bs" ] && overlap=$((overlap + 1))
  done <"$TMP/loop.log"
  [ $overlap -gt 0 ] && [ $n -ge 3 ] && break
  sleep 0.3
done
touch "$TMP/stop"
wait "$LOOP_PID"
BK=$TMP/bk$n
syncs=$(wc -l <"$TMP/loop.log")
echo "backups: $n in $(jq -r .seconds "$BK.json") s each (the last), $(jq -r .bytes "$BK.json") bytes; loop syncs: $syncs, overlapping a backup: $overlap"
[ "$syncs" -ge 3 ] || fail "the loop synced only $syncs times"
if awk '$3 != 0 { bad = 1 } END { exit !bad }' "$TMP/loop.log"; then
  cat "$TMP/loop.log" "$TMP/loop-sync.out" >&2
  fail "a sync failed while tundukd backup ran"
fi
[ $overlap -gt 0 ] || fail "no sync overlapped a backup in $n tries"
hub_alive

step "every backup is whole: SHA256SUMS checks, the manifest's counts are its store's"
for i in $(seq 1 $n); do
  d=$TMP/bk$i
  [ -d "$d" ] && [ ! -e "$d.partial" ] || fail "backup $i is not where it should be"
  (cd "$d" && sha256sum -c --quiet SHA256SUMS) || fail "backup $i: SHA256SUMS does not check"
  [ "$(stat -c %a "$d")" = 700 ] || fail "backup $i's folder is not private"
  [ -e "$d/device.key" ] && fail "backup $i holds the key file without --with-key"
  [ -e "$d/tundukd.conf" ] || fail "backup $i lacks the config file"
  for c in revisions records chunks devices; do
    m=$(jq -r ".counts.$c" "$d/manifest.json")
    got=$(sqlite3 "$d/store.db" "select count(*) from $c")
    [ "$m" = "$got" ] || fail "backup $i: the manifest says $m $c, its store holds $got"
  done
  jq -e \
    '.format == "tunduk-hub-backup" and .schema_version > 0 and (.store_id | length) == 32 and .with_key == false' \
    "$d/manifest.json" >/dev/null || { cat "$d/manifest.json"; fail "backup $i: manifest"; }
  [ "$(sqlite3 "$d/store.db" "pragma journal_mode")" = delete ] || fail "backup $i's store is not a file of its own"
  [ -e "$d/store.db-wal" ] && fail "backup $i left a WAL"
  # the attachment chunks in the backup are whole: each hashes to its id
  bad=$(sqlite3 "$d/store.db" "select count(*) from chunks where length(data) = 0")
  [ "$bad" = 0 ] || fail "backup $i holds empty chunks"
done
[ "$(jq -r .counts.chunks "$BK/manifest.json")" -ge 96 ] || fail "the backup lacks the big attachment's chunks"
last=$(hub_sql "select value from meta where key = 'last_backup'")
[ "$last" = "$(jq -r .created "$BK/manifest.json")" ] || fail "last_backup is '$last', not the last backup's time"
echo "$last" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' || fail "last_backup is not RFC 3339: $last"

step "a used folder is refused; an empty one is fine; --with-key takes the key"
run_expect 1 hubd --home "$HUB_HOME" backup "$BK"
err_has "is not empty"
mkdir "$TMP/empty"
run_expect 0 hubd --home "$HUB_HOME" backup "$TMP/empty" --with-key
cmp "$TMP/empty/device.key" "$HUB_HOME/device.key" || fail "--with-key did not copy the key file"
out_has "written to $TMP/empty"
# a cut backup's leftover is cleared by the next one
mkdir "$TMP/again.partial" && echo x >"$TMP/again.partial/store.db"
run_expect 0 hubd --home "$HUB_HOME" backup "$TMP/again"
[ ! -e "$TMP/again.partial" ] || fail "the leftover .partial folder stayed"
out_has "keep a copy of"
# the config of a Debian install is not in HOME: --config names the one to copy
printf 'max_attachment_mb = 32\n' >"$TMP/etc-tundukd.conf"
run_expect 0 hubd --home "$HUB_HOME" backup "$TMP/etc" --config "$TMP/etc-tundukd.conf"
cmp "$TMP/etc/tundukd.conf" "$TMP/etc-tundukd.conf" || fail "backup --config did not copy that config"
(cd "$TMP/etc" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS of the --config backup"
run_expect 1 hubd --home "$HUB_HOME" backup "$TMP/noconf" --config "$TMP/no-such.conf"
err_has "cannot read the config $TMP/no-such.conf"
[ ! -e "$TMP/noconf" ] && [ ! -e "$TMP/noconf.partial" ] || fail "a refused backup left a folder"

step "both offices write more after the backup"
RA=$(new_record "$A" cases "after the backup, by a")
head -c 300000 /dev/urandom >"$TMP/after-a.bin"
run_expect 0 tk "$A" attach "$RA" "$TMP/after-a.bin" --name after-a.bin
RB=$(new_record "$B" cases "after the backup, by b")
head -c 200000 /dev/urandom >"$TMP/after-b.bin"
run_expect 0 tk "$B" attach "$RB" "$TMP/after-b.bin" --name after-b.bin
sync_ok "$A"
sync_ok "$B"
sync_ok "$A"
REVS_BEFORE=$(hub_set "$HUB_HOME/store.db" revisions)
CHUNKS_BEFORE=$(hub_set "$HUB_HOME/store.db" chunks)
[ "$REVS_BEFORE" = "$(rev_ids "$A")" ] && [ "$REVS_BEFORE" = "$(rev_ids "$B")" ] ||
  fail "the offices and the hub differ before the restore"

step "restore refuses a serving hub"
run_expect 1 hubd --home "$HUB_HOME" restore "$BK"
err_has "running"
stop_hub

step "a changed, cut or incomplete backup is refused, naming the file, and changes nothing"
home_state() { (cd "$HUB_HOME" && ls -A | sort && sha256sum store.db); }
state0=$(home_state)
cp -a "$BK" "$TMP/tampered"
flip_bit "$TMP/tampered/store.db" $(($(stat -c %s "$TMP/tampered/store.db") / 2))
run_expect 1 hubd --home "$HUB_HOME" restore "$TMP/tampered"
err_has "$TMP/tampered/store.db does not match its SHA-256"
cp -a "$BK" "$TMP/tampered-manifest"
sed -i 's/"revisions": \([0-9]*\)/"revisions": 1\1/' "$TMP/tampered-manifest/manifest.json"
run_expect 1 hubd --home "$HUB_HOME" restore "$TMP/tampered-manifest"
err_has "manifest.json does not match its SHA-256"
cp -a "$BK" "$TMP/cut.partial"
run_expect 2 hubd --home "$HUB_HOME" restore "$TMP/cut.partial"
err_has "cut before it was whole"
cp -a "$BK" "$TMP/cut"
rm "$TMP/cut/SHA256SUMS"
run_expect 2 hubd --home "$HUB_HOME" restore "$TMP/cut"
err_has "no SHA256SUMS"
cp -a "$BK" "$TMP/lacking"
rm "$TMP/lacking/store.db"
run_expect 2 hubd --home "$HUB_HOME" restore "$TMP/lacking"
err_has "$TMP/lacking/store.db is missing"
# a backup of another hub (made while that hub does not serve)
hubd --home "$TMP/other" init --name other --kdf interactive >/dev/null
run_expect 0 hubd --home "$TMP/other" backup "$TMP/other-bk"
run_expect 2 hubd --home "$HUB_HOME" restore "$TMP/other-bk"
err_has "is of another hub"
[ "$(home_state)" = "$state0" ] || fail "a refused restore changed the hub's home"

step "the good backup restored: the current store kept aside, a new identity"
id0=$(hub_sql "select value from meta where key = 'store_id'")
run_expect 0 hubd --home "$HUB_HOME" restore "$BK"
out_has "new store identity"
out_has "kept as $HUB_HOME/store.db.before-restore-"
aside=$(ls "$HUB_HOME"/store.db.before-restore-* | grep -v -- '-wal$')
[ "$(hub_set "$aside" revisions)" = "$REVS_BEFORE" ] || fail "the store kept aside lost revisions"
id1=$(hub_sql "select value from meta where key = 'store_id'")
[ -n "$id1" ] && [ "$id1" != "$id0" ] || fail "the restored store kept the identity $id0"
[ "$(hub_sql "select count(*) from revisions")" = "$(jq -r .counts.revisions "$BK/manifest.json")" ] ||
  fail "the restored store is not the backup's"
lacks=$(comm -23 <(echo "$REVS_BEFORE") <(hub_set "$HUB_HOME/store.db" revisions) | wc -l)
[ "$lacks" -gt 0 ] || fail "the restored hub lacks nothing: the backup was not taken before the last writes"
echo "the restored hub lacks $lacks revisions the offices hold"

step "the offices sync and converge: nothing lost"
start_hub "$HUB_PORT"
run_expect 0 tk "$A" sync --json
jq -e '.hub_restored == true' "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "office a did not notice the restore"; }
run_expect 0 tk "$B" sync --json
jq -e '.hub_restored == true' "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "office b did not notice the restore"; }
sync_ok "$A"
sync_ok "$B"
HUB_REVS=$(hub_set "$HUB_HOME/store.db" revisions)
[ -z "$(comm -23 <(echo "$REVS_BEFORE") <(echo "$HUB_REVS"))" ] || fail "revisions lost on the hub after the restore"
[ "$HUB_REVS" = "$(rev_ids "$A")" ] || fail "office a and the hub differ"
[ "$HUB_REVS" = "$(rev_ids "$B")" ] || fail "office b and the hub differ"
HUB_CHUNKS=$(hub_set "$HUB_HOME/store.db" chunks)
[ -z "$(comm -23 <(echo "$CHUNKS_BEFORE") <(echo "$HUB_CHUNKS"))" ] || fail "attachment chunks lost on the hub"
[ "$HUB_CHUNKS" = "$(hub_set "$A/store.db" chunks)" ] || fail "office a's chunks and the hub's differ"
[ "$HUB_CHUNKS" = "$(hub_set "$B/store.db" chunks)" ] || fail "office b's chunks and the hub's differ"
for who in "$A" "$B"; do
  run_expect 0 tk "$who" status --json
  jq -e '.all_at_hub == true' "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "status: not all at the hub"; }
done
# attachments written during and after the backup come back byte for byte
run_expect 0 tk "$B" get "$RA" after-a.bin -o "$TMP/got-a.bin"
cmp "$TMP/after-a.bin" "$TMP/got-a.bin" || fail "office b's copy of a's attachment differs"
run_expect 0 tk "$A" get "$RB" after-b.bin -o "$TMP/got-b.bin"
cmp "$TMP/after-b.bin" "$TMP/got-b.bin" || fail "office a's copy of b's attachment differs"
tail -1 "$TMP/loop-files" >"$TMP/lastloop"
read -r lr lf <"$TMP/lastloop"
run_expect 0 tk "$B" get "$lr" "$lf" -o "$TMP/got-loop.bin"
cmp "$TMP/$lf" "$TMP/got-loop.bin" || fail "the last loop attachment differs at office b"
hub_alive
stop_hub

step "a new machine: an empty home takes the key and config from a --with-key backup only"
mkdir -m 700 "$TMP/new1" "$TMP/new2"
run_expect 2 hubd --home "$TMP/new1" restore "$BK"
err_has "has no key file and the backup $BK holds none"
[ -e "$TMP/new1/store.db" ] && fail "a refused restore left a store"
run_expect 0 hubd --home "$TMP/new2" restore "$TMP/empty"
out_has "the key file came from the backup"
out_has "the config file came from the backup"
cmp "$TMP/new2/device.key" "$HUB_HOME/device.key" || fail "the restored key differs"
run_expect 0 hubd --home "$TMP/new2" device list --json
[ "$(jq length "$TMP/out")" = "$(sqlite3 "$TMP/empty/store.db" "select count(*) from devices")" ] ||
  fail "the new machine's hub lacks devices"
echo ok
