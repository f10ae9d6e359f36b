# An attachment that reaches the hub between an office's revision pull and
# its chunk pull is not passed over (PROTOCOL.md section 8, chunks_before).
# Office B stores its pulled batches slowly (a deliberately slow moderation
# rule), so there is a window after the hub's last revision offer to B and
# before B's chunk pull; office A pushes a new record with a file in that
# window. B must not be offered that file's chunk in this session (it does
# not hold the record yet: it would pass the chunk, and its checkpoint with
# it, for good); its next sync brings the record and then the file, whole.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

HUB_CONFIG=$TMP/tundukd.conf
# one batch of these records: after the hub has sent it, B takes over 2 s to store
# it, longer than A's whole sync (its key derivation, a plugin worker's start, TLS)
# even under ASan on a loaded machine
printf 'log_level = debug\nbatch_bytes = 65536\n' >"$HUB_CONFIG"
new_hub "$TMP/hub"
start_hub
two_offices cases rw
B_WHO=${B_ID:0:9}
slow_office "$B" 2500000
N=120
for i in $(seq 1 $N); do new_record "$A" cases "record $i before the file" >/dev/null; done
# a file B pulls in the same session, so that its chunk pull does happen
FIRST=$(tk "$A" list --json | jq -r '.[0].id')
head -c 1000 /dev/urandom >"$TMP/first.bin"
run_expect 0 tk "$A" attach "$FIRST" "$TMP/first.bin" --name first.bin
sync_ok "$A"
# the record with the file, written now and pushed in the window
head -c 300000 /dev/urandom >"$TMP/file.bin"
REC=$(new_record "$A" cases "the record with the file")
run_expect 0 tk "$A" attach "$REC" "$TMP/file.bin" --name file.bin

step "A pushes a record with a file while B stores its last pulled batch"
mark=$(wc -l <"$HUB_LOG")
tk "$B" sync >"$TMP/b1.out" 2>&1 &
bpid=$!
BG_PIDS+=("$bpid")
# every revision B asked for has been sent: the hub's last revision offer
# to B is out, and B is still storing
for _ in $(seq 1 600); do
  sent=$(tail -n +"$((mark + 1))" "$HUB_LOG" |
    sed -n "s/.*pull device=$B_WHO sent=\([0-9]*\).*/\1/p" | awk '{ s += $1 } END { print s + 0 }')
  [ "$sent" -ge "$N" ] && break
  kill -0 "$bpid" 2>/dev/null || break
  sleep 0.05
done
[ "$sent" -ge "$N" ] || { cat "$TMP/b1.out"; fail "the hub sent B $sent of $N revisions"; }
sync_ok "$A"
wait "$bpid" || { cat "$TMP/b1.out"; fail "B's first sync failed"; }
log=$(tail -n +"$((mark + 1))" "$HUB_LOG")
a_chunks=$(echo "$log" | grep -n "hub: chunks device=" | grep -v "device=$B_WHO" |
  grep "stored=[1-9]" | head -1 | cut -d: -f1)
b_cpull=$(echo "$log" | grep -n "hub: chunk pull device=$B_WHO since=" | head -1 | cut -d: -f1)
[ -n "$a_chunks" ] || fail "the hub did not log A's stored chunks"
[ -n "$b_cpull" ] || fail "the hub did not log B's chunk pull"
[ "$a_chunks" -lt "$b_cpull" ] ||
  fail "A's file reached the hub after B's chunk pull began: the window was missed (the rule must be slower)"
echo "   A's chunks stored at hub log line $a_chunks, B's chunk pull at line $b_cpull"
tk "$B" list --json | jq -e --arg id "$REC" 'map(select(.id == $id)) | length == 0' >/dev/null ||
  fail "B already holds the record from its first sync: the window was missed"
run_expect 0 tk "$B" get "$FIRST" first.bin -o "$TMP/first.out"
cmp -s "$TMP/first.bin" "$TMP/first.out" || fail "B's copy of the first file differs"

step "B's next sync brings the record and its file, whole"
run_expect 0 tk "$B" sync --json
[ "$(jq .chunks_received "$TMP/out")" -ge 1 ] || { cat "$TMP/out"; fail "B's next sync took no chunk"; }
run_expect 0 tk "$B" get "$REC" file.bin -o "$TMP/file.out"
cmp -s "$TMP/file.bin" "$TMP/file.out" || fail "B's copy of the file differs"
run_expect 0 tk "$B" verify
out_has " 0 failed"
hub_alive
stop_hub
echo ok
