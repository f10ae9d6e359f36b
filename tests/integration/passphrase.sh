# tunduk passphrase / tundukd passphrase: the key file re-encrypted under
# a new passphrase, atomically. The old one is checked first (a wrong one
# changes nothing, exit 1 as everywhere); the new one comes from
# --new-passphrase-file or the terminal, never the environment; the file
# keeps its key derivation strength unless --kdf; afterwards only the new
# one opens it, every record still reads, and no temporary file is left.
# SIGKILLs at random points of a change leave the old file or the new one
# whole, never neither.
#
#   TK_SEED   reproduces the kill points
. "$(dirname "$0")/lib/common.sh"
SEED=${TK_SEED:-$RANDOM}
RANDOM=$SEED
echo "seed $SEED (rerun with TK_SEED=$SEED)"
OLD=$TUNDUK_PASSPHRASE
H=$TMP/office
new_office "$H" osh
tk "$H" vault create cases >/dev/null
rec=$(echo '{"case_number":"P-1","client_alias":"Client P","status":"open"}' |
  tk "$H" new case --vault cases -)
key=$H/device.key
printf 'the new passphrase, long enough\n' >"$TMP/new"
NEW='the new passphrase, long enough'

# opens PASS: the key file opens with PASS (a command that needs the keys).
opens() { TUNDUK_PASSPHRASE=$1 tk "$H" show "$rec" >/dev/null 2>&1; }
no_tmp() { [ ! -e "$key.tmp" ] || fail "device.key.tmp was left behind"; }

step "a wrong old passphrase changes nothing (exit 1)"
cp "$key" "$TMP/key.before"
TUNDUK_PASSPHRASE=not-the-passphrase run_expect 1 tk "$H" passphrase --new-passphrase-file "$TMP/new"
err_has "wrong passphrase for $key"
cmp -s "$key" "$TMP/key.before" || fail "a wrong old passphrase changed the key file"
no_tmp

step "a bad new passphrase changes nothing (exit 2): too short, none to be had"
printf 'short\n' >"$TMP/short"
run_expect 2 tk "$H" passphrase --new-passphrase-file "$TMP/short"
err_has "a passphrase needs at least 8 characters"
run_expect 2 tk "$H" passphrase --new-passphrase-file "$TMP/no-such-file"
err_has "cannot open passphrase file $TMP/no-such-file"
# No terminal, and the environment is never read for the new one.
run_expect 2 setsid -w "$BIN/tunduk" --home "$H" passphrase </dev/null
err_has "no terminal to ask on; use --new-passphrase-file"
run_expect 2 tk "$H" passphrase --kdf fast --new-passphrase-file "$TMP/new"
err_has "--kdf must be"
cmp -s "$key" "$TMP/key.before" || fail "a bad new passphrase changed the key file"
no_tmp

step "the change: only the new one opens it, same strength, same identity, records read"
id_before=$(tk "$H" whoami)
run_expect 0 tk "$H" passphrase --new-passphrase-file "$TMP/new"
out_has "passphrase changed"
no_tmp
opens "$NEW" || fail "the new passphrase does not open the key file"
! opens "$OLD" || fail "the old passphrase still opens the key file"
TUNDUK_PASSPHRASE=$OLD run_expect 1 tk "$H" show "$rec"
err_has "wrong passphrase"
TUNDUK_PASSPHRASE=$NEW run_expect 0 tk "$H" show "$rec"
out_has "P-1"
[ "$(tk "$H" whoami)" = "$id_before" ] || fail "the device id changed"
[ "$(jq -c .public "$key")" = "$(jq -c .public "$TMP/key.before")" ] || fail "the public half changed"
[ "$(jq -c '.kdf | [.opslimit, .memlimit]' "$key")" = "$(jq -c '.kdf | [.opslimit, .memlimit]' "$TMP/key.before")" ] ||
  fail "the key derivation strength changed without --kdf"
[ "$(jq -r .kdf.salt "$key")" != "$(jq -r .kdf.salt "$TMP/key.before")" ] || fail "the salt was reused"
[ "$(jq -r .secret.nonce "$key")" != "$(jq -r .secret.nonce "$TMP/key.before")" ] || fail "the nonce was reused"
[ "$(stat -c %a "$key")" = 600 ] || fail "device.key is mode $(stat -c %a "$key"), not 600"
! grep -qF "$NEW" "$key" || fail "the new passphrase is in the key file"
TUNDUK_PASSPHRASE=$NEW run_expect 0 tk "$H" verify
out_has " 0 failed"

step "the old one from --passphrase-file; --kdf sets another strength"
printf '%s\n' "$NEW" >"$TMP/cur"
printf '%s\n' "$OLD" >"$TMP/back"
TUNDUK_PASSPHRASE= run_expect 0 env -u TUNDUK_PASSPHRASE "$BIN/tunduk" --home "$H" \
  --passphrase-file "$TMP/cur" passphrase --new-passphrase-file "$TMP/back" --kdf moderate
[ "$(jq .kdf.memlimit "$key")" = 268435456 ] || fail "--kdf moderate: memlimit $(jq .kdf.memlimit "$key")"
opens "$OLD" || fail "the passphrase set back does not open the key file"
TUNDUK_PASSPHRASE=$OLD run_expect 0 tk "$H" passphrase --new-passphrase-file "$TMP/back" --kdf interactive
[ "$(jq .kdf.memlimit "$key")" = 67108864 ] || fail "--kdf interactive: memlimit $(jq .kdf.memlimit "$key")"
no_tmp

step "one change of a home at a time: a second one is refused, nothing changed"
cp "$key" "$TMP/key.before"
mkfifo "$TMP/go"
flock "$H" sh -c "cat '$TMP/go' >/dev/null" &
holder=$!
sleep 0.3
TUNDUK_PASSPHRASE=$OLD run_expect 1 tk "$H" passphrase --new-passphrase-file "$TMP/new"
err_has "another passphrase change of $H is running; nothing changed"
echo >"$TMP/go"
wait "$holder"
cmp -s "$key" "$TMP/key.before" || fail "a refused change changed the key file"
no_tmp

step "SIGKILL at random points of a change: the old file or the new one, whole"
# How long a whole change takes here, to aim the kills inside one.
t0=$(date +%s%N)
TUNDUK_PASSPHRASE=$OLD tk "$H" passphrase --new-passphrase-file "$TMP/new" >/dev/null
t1=$(date +%s%N)
TUNDUK_PASSPHRASE=$NEW tk "$H" passphrase --new-passphrase-file "$TMP/back" >/dev/null
span_us=$(((t1 - t0) / 1000))
cur=$OLD next=$NEW cur_file=$TMP/back next_file=$TMP/new
kills=0 became_new=0 left_tmp=0
for i in $(seq 1 12); do
  TUNDUK_PASSPHRASE=$cur "$BIN/tunduk" --home "$H" passphrase --new-passphrase-file "$next_file" \
    >/dev/null 2>&1 &
  pid=$!
  # Between 60% and 120% of a change: most of it is the two key derivations,
  # the file is written and renamed in its last milliseconds.
  sleep "$(awk -v us="$span_us" -v r=$RANDOM 'BEGIN { printf "%.6f", us * (0.6 + 0.6 * r / 32768) / 1e6 }')"
  kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
  [ -e "$key.tmp" ] && left_tmp=$((left_tmp + 1))
  if opens "$next"; then
    ! opens "$cur" || fail "kill $i: both passphrases open the key file"
    became_new=$((became_new + 1))
    t=$cur cur=$next next=$t t=$cur_file cur_file=$next_file next_file=$t
  else
    opens "$cur" || fail "kill $i: neither passphrase opens the key file"
  fi
  jq -e .public.device_id "$key" >/dev/null || fail "kill $i: device.key is not whole"
done
# A kill between writing the temporary file and renaming it: the old file is
# whole, the half-written temporary file is not read, and the next change
# replaces it.
head -c 700 "$key" >"$key.tmp"
opens "$cur" || fail "a half-written device.key.tmp kept the key file from opening"
TUNDUK_PASSPHRASE=$cur run_expect 0 tk "$H" passphrase --new-passphrase-file "$next_file"
no_tmp
opens "$next" || fail "the change after the kills did not take"
TUNDUK_PASSPHRASE=$next run_expect 0 tk "$H" verify
echo "   $kills kills hit a running change; $became_new left the new file, $left_tmp a temporary file"

step "tundukd passphrase: the hub's key file, TUNDUKD_PASSPHRASE for the old one"
export TUNDUKD_PASSPHRASE='hub passphrase for the test'
"$BIN/tundukd" --home "$TMP/hub" init --kdf interactive >/dev/null
hub_before=$("$BIN/tundukd" --home "$TMP/hub" device list --json | jq -r '.[0].id')
TUNDUKD_PASSPHRASE=wrong-one run_expect 1 "$BIN/tundukd" --home "$TMP/hub" passphrase \
  --new-passphrase-file "$TMP/new"
err_has "wrong passphrase"
run_expect 0 "$BIN/tundukd" --home "$TMP/hub" passphrase --new-passphrase-file "$TMP/new"
[ ! -e "$TMP/hub/device.key.tmp" ] || fail "the hub's device.key.tmp was left behind"
# The old one no longer opens it; the new one does (and sets it back).
run_expect 1 "$BIN/tundukd" --home "$TMP/hub" passphrase --new-passphrase-file "$TMP/back"
err_has "wrong passphrase"
TUNDUKD_PASSPHRASE=$NEW run_expect 0 "$BIN/tundukd" --home "$TMP/hub" passphrase \
  --new-passphrase-file "$TMP/back"
[ "$("$BIN/tundukd" --home "$TMP/hub" device list --json | jq -r '.[0].id')" = "$hub_before" ] ||
  fail "the hub's identity changed"
run_expect 2 "$BIN/tundukd" --home "$TMP/empty-hub" passphrase --new-passphrase-file "$TMP/new"
err_has "run 'tundukd --home $TMP/empty-hub init' first"
echo ok
