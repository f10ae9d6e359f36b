# Attachments through the hub (issue 5): a 50 MB file synced office ->
# hub -> office is byte-identical after `get`; the same with the link cut
# three times mid-transfer re-sends at most about one chunk per cut
# (measured against an uncut transfer of a file of the same size through
# the same proxy); a record written after the big attachment reaches the
# other office before the attachment's chunks, and until they come the
# record is marked incomplete; a chunk damaged in a store is refused by
# the receiver in both directions; the hub's store and the reader's hold
# no plaintext of the file; the hub's attachment limits reject a revision
# with a clear reason and keep nothing of it.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

MB=$((1 << 20))
CHUNK=$((256 * 1024 + 16)) # TK_CHUNK_MAX
MARKER=TUNDUK-ATTACHMENT-PLAINTEXT-MARKER-5e1f
# make_file PATH MIB: random bytes with the marker every MiB
make_file() {
  local i
  : >"$1"
  for i in $(seq 1 "$2"); do
    head -c $((MB - ${#MARKER})) /dev/urandom >>"$1"
    printf '%s' "$MARKER" >>"$1"
  done
}
hub_chunks() { hub_sql "select count(*) from chunks"; }
# SYNC_RC: the exit code wanted (4 while a revision the hub refused is offered again)
sync_json() { run_expect "${SYNC_RC:-0}" tk "$1" sync --json "${@:2}"; cat "$TMP/out" >"$TMP/sync.json"; }
jget() { jq -r "$1" "$TMP/sync.json"; }

new_hub "$TMP/hub"
start_hub
two_offices files r

step "reference: a 50 MiB attachment through an uncut proxy"
make_file "$TMP/ref.bin" 50
REF=$(new_record "$A" files "reference")
run_expect 0 tk "$A" attach "$REF" "$TMP/ref.bin" --name ref.bin
proxy_start
set_hub_addr "$A" "127.0.0.1:$PROXY_PORT"
sync_json "$A"
[ "$(jget .chunks_sent)" = 200 ] || fail "sent $(jget .chunks_sent) chunks, not 200"
proxy_stop
REF_UP=$PROXY_UP
echo "   uncut: $REF_UP bytes up for 200 chunks"

step "a 50 MiB testimony, then a record written after it; the link is cut 3 times"
make_file "$TMP/audio.bin" 50
REC=$(new_record "$A" files "testimony with audio")
run_expect 0 tk "$A" attach "$REC" "$TMP/audio.bin" --name testimony.ogg
run_expect 1 tk "$A" attach "$REC" "$TMP/audio.bin" --name testimony.ogg
err_has "already has an attachment named 'testimony.ogg'"
LATER=$(new_record "$A" files "written after the audio")
proxy_start --cut-after $((15 * MB)) --cut-dir up --cuts 3
set_hub_addr "$A" "127.0.0.1:$PROXY_PORT"
run_expect 1 tk "$A" sync
err_has "connection to the hub lost"
cut1=$(hub_chunks)
echo "   after the first cut the hub holds $cut1 chunks"
[ "$cut1" -gt 200 ] && [ "$cut1" -lt 400 ] || fail "the first cut left $cut1 chunks at the hub"

step "text before media: the other office has the later record; the audio is incomplete"
sync_json "$B"
run_expect 0 tk "$B" show "$LATER"
out_has "written after the audio"
run_expect 0 tk "$B" list
grep "^$REC" "$TMP/out" | grep -qF "[attachments incomplete]" ||
  { cat "$TMP/out"; fail "list does not mark the incomplete record"; }
grep "^$LATER" "$TMP/out" | grep -qF "incomplete" && fail "the complete record is marked incomplete"
run_expect 0 tk "$B" show "$REC"
err_has "attachments incomplete"
run_expect 1 tk "$B" get "$REC" testimony.ogg -o "$TMP/early.bin"
err_has "is incomplete"
[ ! -e "$TMP/early.bin" ] || fail "get wrote a file for an incomplete attachment"
run_expect 0 tk "$B" attachments "$REC" --json
[ "$(jq -r '.[0].complete' "$TMP/out")" = false ] || fail "attachments says complete"

step "two more cuts, then the rest: at most about one chunk re-sent per cut"
run_expect 1 tk "$A" sync
run_expect 1 tk "$A" sync
sync_json "$A"
proxy_stop
[ "$(hub_chunks)" = 400 ] || fail "the hub holds $(hub_chunks) chunks, not 400"
extra=$((PROXY_UP - REF_UP))
echo "   cut transfer: $PROXY_UP bytes up over 4 connections; $extra more than uncut"
[ "$extra" -le $((3 * (CHUNK + 32 * 1024))) ] ||
  fail "$extra bytes re-sent over 3 cuts; at most one chunk (+ reconnect) each allowed"
set_hub_addr "$A" "127.0.0.1:$HUB_PORT"

step "the reader gets a byte-identical file"
sync_json "$B"
[ "$(office_sql "$B" "select count(*) from chunks")" = 400 ] || fail "office B holds $(office_sql "$B" "select count(*) from chunks") chunks, not 400"
run_expect 0 tk "$B" get "$REC" testimony.ogg -o "$TMP/got.bin"
cmp "$TMP/audio.bin" "$TMP/got.bin" || fail "the file differs after office -> hub -> office"
run_expect 0 tk "$B" get "$REF" ref.bin -o "$TMP/ref.got"
cmp "$TMP/ref.bin" "$TMP/ref.got" || fail "the reference file differs"
run_expect 0 tk "$B" list
grep -qF incomplete "$TMP/out" && fail "a record is still marked incomplete"
run_expect 0 tk "$B" verify
out_has " 0 failed"
sync_json "$B"
[ "$(jget .round_trips)" = 1 ] ||
  fail "a no-op sync with attachments at the hub took $(jget .round_trips) round trips, not 1"

step "an edit keeps the attachment; the chunks are not stored or sent twice"
edit_record "$A" "$REC" "testimony, transcribed" >/dev/null
sync_json "$A"
[ "$(jget .chunks_sent)" = 0 ] || fail "an edit re-sent $(jget .chunks_sent) chunks"
[ "$(hub_chunks)" = 400 ] || fail "the hub holds $(hub_chunks) chunks after an edit"
sync_json "$B"
run_expect 0 tk "$B" get "$REC" testimony.ogg -o "$TMP/got2.bin"
cmp "$TMP/audio.bin" "$TMP/got2.bin" || fail "the attachment changed across an edit"

step "no plaintext of the files at the hub or in the reader's store"
for f in "$HUB_HOME"/store.db* "$B"/store.db* "$A"/store.db*; do
  ! grep -qaF "$MARKER" "$f" || fail "plaintext marker found in $f"
done

step "a chunk damaged in the hub's store is refused by the reader"
C=$TMP/c
enroll_office "$C" office-c "files:r"
run_expect 0 tk "$A" vault grant files "$OFFICE_ID"
hub_sql "update chunks set data = zeroblob(length(data)) where seq = (select min(seq) from chunks)"
sync_json "$C"
[ "$(jget .chunks_refused)" = 1 ] || fail "office C refused $(jget .chunks_refused) chunks, not 1"
jq -e '.refused[] | select(.reason | contains("does not match"))' "$TMP/sync.json" >/dev/null ||
  fail "the refusal is not reported"
[ "$(office_sql "$C" "select count(*) from chunks")" = 399 ] || fail "office C stored a bad chunk"
run_expect 1 tk "$C" get "$REF" ref.bin -o "$TMP/bad.bin"
err_has "is incomplete"
run_expect 0 tk "$C" verify

step "a chunk damaged in the office's store is refused by the hub"
R2=$(new_record "$A" files "scan")
head -c $((3 * MB)) /dev/urandom >"$TMP/scan.pdf"
run_expect 0 tk "$A" attach "$R2" "$TMP/scan.pdf"
office_sql "$A" "update chunks set data = zeroblob(length(data)) where seq = (select max(seq) from chunks)"
run_expect 1 tk "$A" verify
out_has "attachment chunk"
before=$(hub_chunks)
sync_json "$A"
[ "$(jget .chunks_refused)" = 1 ] || fail "the hub refused $(jget .chunks_refused) chunks, not 1"
[ "$(jget .chunks_sent)" = 11 ] || fail "the hub stored $(jget .chunks_sent) of the 11 good chunks"
[ "$(hub_chunks)" = $((before + 11)) ] || fail "the hub stored a damaged chunk"

step "a hub restored from an older backup: sync --all offers the chunks again"
n=$(hub_chunks)
hub_sql "delete from chunks where seq in (select seq from chunks order by seq desc limit 3)"
sync_json "$A"
[ "$(hub_chunks)" = $((n - 3)) ] || fail "a plain sync re-sent chunks past its checkpoint"
sync_json "$A" --all
[ "$(jget .chunks_sent)" = 3 ] || fail "sync --all sent $(jget .chunks_sent) chunks, not the 3 missing"
[ "$(hub_chunks)" = "$n" ] || fail "the hub holds $(hub_chunks) chunks after sync --all, not $n"

step "hub limits: max_attachment_mb and vault_quota_mb refuse the revision, keep nothing"
stop_hub
HUB_CONFIG=$TMP/hub.conf
printf 'max_attachment_mb = 2\nvault_quota_mb = 105\n' >"$HUB_CONFIG"
start_hub
set_hub_addr "$A" "127.0.0.1:$HUB_PORT"
set_hub_addr "$B" "127.0.0.1:$HUB_PORT"
BIG=$(new_record "$A" files "too big")
head -c $((2 * MB + 1)) /dev/urandom >"$TMP/big.bin"
run_expect 0 tk "$A" attach "$BIG" "$TMP/big.bin"
revs=$(hub_sql "select count(*) from revisions")
chunks=$(hub_chunks)
SYNC_RC=4 # the refused revision is named, and offered again by every sync after
sync_json "$A"
jq -e '.rejected[] | select(.code == 9 and (.reason | contains("max_attachment_mb")))' \
  "$TMP/sync.json" >/dev/null || { cat "$TMP/sync.json"; fail "no max_attachment_mb rejection"; }
[ "$(hub_sql "select count(*) from revisions")" = $((revs + 1)) ] ||
  fail "the hub kept the over-limit revision (or lost the record's first one)"
[ "$(hub_chunks)" = "$chunks" ] || fail "the hub kept chunks of the refused attachment"
# the vault now names 412 chunks (103 MiB); 8 more reach the quota exactly
[ "$(hub_sql "select count(distinct chunk) from chunk_refs")" = 412 ] || fail "unexpected chunk count"
OK=$(new_record "$A" files "fits the size")
head -c $((2 * MB)) /dev/urandom >"$TMP/two.bin"
run_expect 0 tk "$A" attach "$OK" "$TMP/two.bin"
sync_json "$A"
[ "$(jget .chunks_sent)" = 8 ] || fail "a 2 MiB attachment (at the limit) was not taken"
jq -e '.rejected[] | select(.reason | contains("vault_quota_mb"))' "$TMP/sync.json" >/dev/null &&
  fail "refused under the quota"
ANOTHER=$(new_record "$A" files "over the quota")
run_expect 0 tk "$A" attach "$ANOTHER" "$TMP/two.bin" --name second-copy.bin
sync_json "$A"
jq -e '.rejected[] | select(.code == 9 and (.reason | contains("vault_quota_mb")))' \
  "$TMP/sync.json" >/dev/null || { cat "$TMP/sync.json"; fail "no vault_quota_mb rejection"; }
[ "$(jget .chunks_sent)" = 0 ] || fail "chunks of a refused revision were taken"
hub_alive
echo "PASS"
