# PROTOCOL.md section 7: a receiver answers every Offer with a Need, an
# empty Offer with an empty Need, and the hub takes that Need. An office
# that may read none of the vaults the hub's new chunks belong to is
# offered an empty chunk batch; its empty Need must not end the session in
# ERROR_PROTOCOL ("need without an offer"), and its chunk-pull checkpoint
# moves past the chunks it was not offered, so the next sync skips the
# chunk pull.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b
enroll_office "$A" office-a x:rw y:rw
enroll_office "$B" office-b y:rw

step "office a stores an attachment in vault x, which office b may not read"
run_expect 0 tk "$A" vault create x
REC=$(new_record "$A" x "a case with a file")
head -c 1000 /dev/urandom >"$TMP/file.bin"
run_expect 0 tk "$A" attach "$REC" "$TMP/file.bin" --name file.bin
sync_ok "$A"
[ "$(hub_sql "select count(*) from chunks")" = 1 ] || fail "the hub does not hold the chunk"

step "office b's chunk pull is an empty Offer answered by an empty Need"
mark=$(wc -l <"$HUB_LOG")
run_expect 0 tk "$B" sync --json
[ "$(jq -r .chunks_received "$TMP/out")" = 0 ] || fail "office b received a chunk of vault x"
sleep 0.3 # the hub logs the session's end after the office has gone
tail -n +"$((mark + 1))" "$HUB_LOG" >"$TMP/hub.tail"
grep -q "need without an offer" "$TMP/hub.tail" && { cat "$TMP/hub.tail"; fail "the hub refused the empty Need"; }
grep -q "closing device=.*reason=" "$TMP/hub.tail" && { cat "$TMP/hub.tail"; fail "the hub closed the session on an error"; }
ckpt=$(office_sql "$B" "select seq from checkpoints where dir = 3")
[ "$ckpt" = 1 ] || fail "office b's chunk-pull checkpoint is '$ckpt', not 1 (past the chunk it may not read)"

step "the next sync skips the chunk pull (its checkpoint is at chunk_feed_end - 1)"
run_expect 0 tk "$B" sync --json
[ "$(jq -r .round_trips "$TMP/out")" = 1 ] || { cat "$TMP/out"; fail "a no-op sync took more than its one Pull"; }
echo "PASS"
