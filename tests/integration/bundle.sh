# Bundles (issue 18): a sync carried on a USB stick (a folder here).
# Offices A and B sync with the hub; office C was enrolled at headquarters
# (one sync there, for its vault key) and then never reaches the hub
# again: A writes a bundle for C, C applies it, C writes records and an
# attachment and a bundle for A, A applies it and syncs, and the
# acknowledgements travel back so the checkpoints move (the next bundle
# holds nothing already delivered). In the end A, B, C and the hub hold
# the same revisions and the attachments byte for byte. Hostile bundles
# are refused each with its reason and leave C's store as it was: one byte
# changed (the offset named), truncated, sealed to another device, not a
# bundle, and a replay (applied twice: nothing more changes). A bundle is
# opaque: the file holds none of the records' text, not even the vault's
# name.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

USB=$TMP/usb
mkdir -p "$USB"
MARK=BUNDLE-PLAINTEXT-MARKER-7f3a
field() { jq -r "$1" "$TMP/out"; }
# hub_state: what a bundle may change at the hub (revisions, quarantine, chunks, logs,
# checkpoints), not the running hub's own bookkeeping
hub_state() {
  hub_sql "select hex(id) from revisions order by 1; select count(*) from quarantine;
    select count(*) from chunks; select count(*) from vault_log;
    select hex(peer), dir, seq from checkpoints order by 1, 2" | sha256sum
}

new_hub "$TMP/hub"
start_hub
two_offices cases rw
A_ID=$(tk "$A" whoami)
C=$TMP/c
enroll_office "$C" office-c "cases:rw"
C_ID=$OFFICE_ID
run_expect 0 tk "$A" vault grant cases "$C_ID"
sync_ok "$B"
sync_ok "$C"
step "A and B write and sync; C goes into the field (its hub is unreachable)"
R1=$(new_record "$A" cases "first case $MARK")
R2=$(new_record "$A" cases "second case")
head -c $((3 * 1024 * 1024)) /dev/urandom >"$TMP/a.bin"
run_expect 0 tk "$A" attach "$R1" "$TMP/a.bin" --name scan.pdf
sync_ok "$A"
sync_ok "$B"
RB=$(new_record "$B" cases "written at B")
sync_ok "$B"
sync_ok "$A"
set_hub_addr "$C" "127.0.0.1:1"
run_expect 1 tk "$C" sync --timeout 2

step "A writes a bundle for C: sealed, nothing of the records readable"
run_expect 0 tk "$A" bundle create -o "$USB/a-c.tkb" --for "$C_ID" --json
[ "$(field .revisions)" -ge 3 ] || fail "the bundle holds $(field .revisions) revisions"
[ "$(field .chunks)" -ge 12 ] || fail "the bundle holds $(field .chunks) chunks"
[ "$(head -c 8 "$USB/a-c.tkb")" = TKBUNDLE ] || fail "no bundle header"
for s in "$MARK" cases office-a scan.pdf; do
  grep -qaF "$s" "$USB/a-c.tkb" && fail "the bundle shows '$s'"
done
run_expect 1 tk "$A" bundle create -o "$USB/a-c.tkb" --for "$C_ID"
err_has "exists"

step "hostile bundles are refused and change nothing at C"
D0=$(store_digest "$C")
size=$(stat -c %s "$USB/a-c.tkb")
cp "$USB/a-c.tkb" "$TMP/flip.tkb"
flip_bit "$TMP/flip.tkb" $((size / 2))
run_expect 1 tk "$C" bundle apply "$TMP/flip.tkb"
err_has "does not verify (damaged"
err_has "byte "
head -c $((size - 100)) "$USB/a-c.tkb" >"$TMP/cut.tkb"
run_expect 1 tk "$C" bundle apply "$TMP/cut.tkb"
err_has "byte "
head -c $((92 + ((size - 92) / 65552 - 1) * 65552)) "$USB/a-c.tkb" >"$TMP/cut2.tkb"
run_expect 1 tk "$C" bundle apply "$TMP/cut2.tkb"
err_has "truncated"
head -c 50 "$USB/a-c.tkb" >"$TMP/short.tkb"
run_expect 1 tk "$C" bundle apply "$TMP/short.tkb"
err_has "too short to be a bundle"
run_expect 1 tk "$C" bundle apply "$TMP/a.bin"
err_has "not a tunduk bundle"
run_expect 0 tk "$A" bundle create -o "$USB/a-b.tkb" --for "$(tk "$B" whoami)"
run_expect 1 tk "$C" bundle apply "$USB/a-b.tkb"
err_has "not sealed to this device"
[ "$(store_digest "$C")" = "$D0" ] || fail "a refused bundle changed C's store"

step "C applies A's bundle, and once more (a replay changes nothing)"
run_expect 0 tk "$C" bundle apply "$USB/a-c.tkb" --ack-out "$USB/c-ack-a.tkb" --json
[ "$(field .accepted)" -ge 3 ] || fail "C took $(field .accepted) revisions"
run_expect 0 tk "$C" show "$RB"
out_has "written at B"
run_expect 0 tk "$C" get "$R1" scan.pdf -o "$TMP/c-a.bin"
cmp "$TMP/a.bin" "$TMP/c-a.bin" || fail "C's copy of the attachment differs"
D1=$(store_digest "$C")
run_expect 0 tk "$C" bundle apply "$USB/a-c.tkb" --json
[ "$(field .accepted)" = 0 ] || fail "the replay stored $(field .accepted) revisions"
[ "$(store_digest "$C")" = "$D1" ] || fail "the replay changed C's store"

step "C writes in the field and sends a bundle to A; A syncs it to the hub"
RC1=$(new_record "$C" cases "field report from C")
RC2=$(new_record "$C" cases "second field report")
head -c $((2 * 1024 * 1024 + 777)) /dev/urandom >"$TMP/c.bin"
run_expect 0 tk "$C" attach "$RC1" "$TMP/c.bin" --name audio.ogg
run_expect 0 tk "$C" bundle create -o "$USB/c-a.tkb" --for "$A_ID" --json
run_expect 1 tk "$B" bundle apply "$USB/c-a.tkb"
err_has "not sealed to this device"
run_expect 0 tk "$A" bundle apply "$USB/c-a.tkb" --ack-out "$USB/a-ack-c.tkb" --json
[ "$(field .accepted)" -ge 3 ] || fail "A took $(field .accepted) revisions of C's"
sync_ok "$A"
sync_ok "$B"
run_expect 0 tk "$B" get "$RC1" audio.ogg -o "$TMP/b-c.bin"
cmp "$TMP/c.bin" "$TMP/b-c.bin" || fail "B's copy of C's attachment differs"

step "C's next report goes to the hub by bundle; the hub's acknowledgement comes back"
RC3=$(new_record "$C" cases "third field report, for the hub")
run_expect 0 tk "$C" bundle create -o "$USB/c-hub.tkb" --json
[ "$(field .revisions)" -ge 4 ] || fail "C's bundle for the hub holds $(field .revisions)"
HS0=$(hub_state)
cp "$USB/c-hub.tkb" "$TMP/c-hub-flip.tkb"
flip_bit "$TMP/c-hub-flip.tkb" 200
run_expect 1 hubd --home "$HUB_HOME" bundle apply "$TMP/c-hub-flip.tkb"
err_has "byte 92: sealed chunk 0 does not verify"
run_expect 1 hubd --home "$HUB_HOME" bundle apply "$USB/a-c.tkb"
err_has "not sealed to this device"
[ "$(hub_state)" = "$HS0" ] || fail "a refused bundle changed the hub's store"
run_expect 0 hubd --home "$HUB_HOME" bundle apply "$USB/c-hub.tkb" --ack-out "$USB/hub-ack-c.tkb" --json
[ "$(field .accepted)" = 1 ] || fail "the hub took $(field .accepted) revisions, not 1 (the rest came from A)"
[ "$(field .rejected)" = 0 ] || fail "the hub refused $(field .rejected) of C's revisions"
HS1=$(hub_state)
run_expect 0 hubd --home "$HUB_HOME" bundle apply "$USB/c-hub.tkb" --json
[ "$(field .accepted)" = 0 ] || fail "the replay at the hub stored $(field .accepted)"
[ "$(hub_state)" = "$HS1" ] || fail "the replay changed the hub's store"
run_expect 0 tk "$C" bundle apply "$USB/hub-ack-c.tkb" --json
[ "$(field .acked_revs)" -gt 0 ] || fail "C's checkpoint for the hub did not move"
run_expect 0 tk "$C" bundle create -o "$USB/c-hub2.tkb" --json
[ "$(field .revisions)" = 0 ] || fail "C's next bundle for the hub re-sends $(field .revisions)"

step "the hub refuses a bundle from a device it does not know, and a forged revision"
X=$TMP/x
new_office "$X" stranger
run_expect 0 tk "$X" vault create cases
new_record "$X" cases "from a stranger" >/dev/null
for k in hub_id hub_sign_pk hub_kx_pk; do
  v=$(office_sql "$C" "select value from meta where key = '$k'")
  office_sql "$X" "insert or replace into meta(key, value) values ('$k', '$v')"
done
run_expect 0 tk "$X" bundle create -o "$USB/x-hub.tkb"
run_expect 1 hubd --home "$HUB_HOME" bundle apply "$USB/x-hub.tkb"
err_has "which this hub does not know"
Y=$TMP/y
enroll_office "$Y" office-y "cases:rw" # enrolled with access, never made a member
run_expect 0 tk "$Y" vault create cases
FORGED=$(new_record "$Y" cases "forged: Y is not a member of the hub's vault")
run_expect 0 tk "$Y" bundle create -o "$USB/y-hub.tkb"
run_expect 0 hubd --home "$HUB_HOME" bundle apply "$USB/y-hub.tkb" --json
[ "$(field .accepted)" = 0 ] && [ "$(field .rejected)" = 1 ] ||
  fail "the hub took $(field .accepted), refused $(field .rejected) of Y's forged revision"
err_has "refused revision"
[ "$(hub_state)" = "$HS1" ] || fail "a forged revision changed the hub's store"

step "the acknowledgements travel back: the next bundles hold only what is new"
run_expect 0 tk "$A" bundle apply "$USB/c-ack-a.tkb" --json
[ "$(field .acked_revs)" -gt 0 ] || fail "A's checkpoint for C did not move"
run_expect 0 tk "$C" bundle apply "$USB/a-ack-c.tkb" --json
[ "$(field .acked_revs)" -gt 0 ] || fail "C's checkpoint for A did not move"
run_expect 0 tk "$C" bundle create -o "$USB/c-a2.tkb" --for "$A_ID" --json
# only the report written since (it went to the hub, not to A)
[ "$(field .revisions)" = 1 ] && [ "$(field .chunks)" = 0 ] ||
  fail "C's next bundle holds $(field .revisions) revisions, $(field .chunks) chunks, not 1, 0"
RB2=$(new_record "$B" cases "B again, after the field reports")
sync_ok "$B"
sync_ok "$A"
run_expect 0 tk "$A" bundle create -o "$USB/a-c2.tkb" --for "$C_ID" --json
n=$(field .revisions)
# B's new record only: what came from C (by its bundle) is not sent back to it
[ "$n" = 1 ] || fail "A's second bundle holds $n revisions, not 1"
[ "$(field .chunks)" = 0 ] || fail "A's second bundle re-sends $(field .chunks) chunks"
run_expect 0 tk "$C" bundle apply "$USB/a-c2.tkb"
run_expect 0 tk "$C" show "$RB2"
out_has "B again"

step "A, B, C and the hub converge"
sync_ok "$A"
sync_ok "$B"
H=$(hub_sql "select hex(id) from revisions order by 1")
[ "$(rev_ids "$A")" = "$H" ] || fail "A and the hub differ"
[ "$(rev_ids "$B")" = "$H" ] || fail "B and the hub differ"
[ "$(rev_ids "$C")" = "$H" ] || fail "C and the hub differ"
for h in "$A" "$B" "$C"; do
  [ "$(office_sql "$h" "select count(*) from chunks")" = "$(hub_sql "select count(*) from chunks")" ] ||
    fail "$h holds another number of chunks than the hub"
done
step "an apply cut short (SIGKILL) and run again ends where one whole apply does"
"$BIN/tk_fill" --home "$A" --vault cases --count 3000 --size 1500 >/dev/null
run_expect 0 tk "$A" bundle create -o "$USB/big.tkb" --for "$C_ID" --json
[ "$(field .revisions)" -ge 3000 ] || fail "the big bundle holds $(field .revisions)"
base=$(office_sql "$C" "select count(*) from revisions")
tk "$C" bundle apply "$USB/big.tkb" >/dev/null 2>&1 &
pid=$!
# killed once some steps are committed (each is one transaction), not all
for _ in $(seq 1 400); do
  [ "$(office_sql "$C" "select count(*) from revisions")" -gt $((base + 200)) ] && break
  sleep 0.01
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
held=$(office_sql "$C" "select count(*) from revisions")
echo "   cut: C held $((held - base)) of the bundle's revisions"
[ "$held" -gt "$base" ] && [ "$held" -lt "$(office_sql "$A" "select count(*) from revisions")" ] ||
  fail "the kill did not cut the apply midway ($((held - base)) taken)"
run_expect 0 tk "$C" bundle apply "$USB/big.tkb" --json
[ "$(rev_ids "$C")" = "$(rev_ids "$A")" ] || fail "after the cut and the rerun C differs from A"
D2=$(store_digest "$C")
run_expect 0 tk "$C" bundle apply "$USB/big.tkb" --json
[ "$(field .accepted)" = 0 ] && [ "$(store_digest "$C")" = "$D2" ] ||
  fail "a third apply changed C"
step "a bundle holds no vault the recipient is not a member of"
run_expect 0 tk "$A" vault create private
case_json P-1 "only A is a member" | run_expect 0 tk "$A" new case --vault private -
run_expect 0 tk "$A" bundle create -o "$USB/priv.tkb" --for "$C_ID" --vault private --all --json
[ "$(field .revisions)" = 0 ] && [ "$(field .log_entries)" = 0 ] ||
  fail "A's bundle for C holds $(field .revisions) revisions of a vault C is not in"
run_expect 0 tk "$A" bundle create -o "$USB/all.tkb" --for "$C_ID" --all --json
n=$(field .revisions)
[ "$n" = "$(office_sql "$A" "select count(*) from revisions where vault = 'cases'")" ] ||
  fail "A's --all bundle for C holds $n revisions"
echo "ok"
