# Bad input gets a clear error, a non-zero exit, and leaves the store
# exactly as it was: malformed JSON, wrong passphrase, unknown ids and
# vaults, a missing store, a store locked by another process.
. "$(dirname "$0")/lib/common.sh"
H=$TMP/office
new_office "$H" osh
tk "$H" vault create osh-cases >/dev/null
rec=$(echo '{"case_number":"OSH-1","client_alias":"Client O-1","status":"open"}' | tk "$H" new case --vault osh-cases)
before=$(store_digest "$H")

step "malformed JSON: line and column, exit 2, store unchanged"
printf '{"case_number": "OSH-2",\n "status": "open",\n "region" "Osh"}\n' >"$TMP/bad.json"
run_expect 2 tk "$H" new case --vault osh-cases "$TMP/bad.json"
err_has "$TMP/bad.json:3:"
err_has "invalid JSON"
printf '{"a": 1,\n  "b": [1, 2,\n' | run_expect 2 tk "$H" new case --vault osh-cases -
err_has "stdin:"
run_expect 2 tk "$H" edit "$rec" "$TMP/bad.json"
err_has "bad.json:3:"
echo '[1,2,3]' | run_expect 2 tk "$H" new case --vault osh-cases -
err_has "must be a JSON object"
echo '{"a":1,"a":2}' | run_expect 2 tk "$H" new case --vault osh-cases -
err_has "duplicate"
python_deep=$(printf '{"a":%.0s' $(seq 1 80); printf '1'; printf '}%.0s' $(seq 1 80))
echo "$python_deep" | run_expect 2 tk "$H" new case --vault osh-cases -
err_has "deeper than"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$TMP/huge.json"
run_expect 2 tk "$H" new case --vault osh-cases "$TMP/huge.json"
err_has "larger than"
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after bad input"

step "wrong passphrase"
echo '{"case_number":"OSH-3","client_alias":"Client O-3","status":"intake"}' >"$TMP/ok.json"
TUNDUK_PASSPHRASE=wrong-passphrase run_expect 1 tk "$H" new case --vault osh-cases "$TMP/ok.json"
err_has "wrong passphrase"
printf 'wrong-again\n' >"$TMP/pass"
run_expect 1 tk "$H" --passphrase-file "$TMP/pass" show "$rec"
err_has "wrong passphrase"
printf '%s\n' "$TUNDUK_PASSPHRASE" >"$TMP/pass"
TUNDUK_PASSPHRASE= run_expect 0 tk "$H" --passphrase-file "$TMP/pass" show "$rec"
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after wrong passphrase"

step "unknown ids, vaults, types, options"
run_expect 1 tk "$H" show ffffffffffffffff
err_has "no record with id 'ffffffffffffffff'"
run_expect 1 tk "$H" history 0000
err_has "no record"
run_expect 2 tk "$H" show zz
err_has "hex digits"
run_expect 2 tk "$H" new case --vault no-such-vault "$TMP/ok.json"
err_has "no vault 'no-such-vault'"
run_expect 2 tk "$H" new 'Bad Type' --vault osh-cases "$TMP/ok.json"
err_has "type name"
run_expect 2 tk "$H" new case "$TMP/ok.json"
err_has "needs --vault"
run_expect 2 tk "$H" list --rev abc
err_has "does not take --rev"
run_expect 2 tk "$H" frobnicate
err_has "unknown command"
run_expect 1 tk "$H" show "$rec" --rev 0123456789
err_has "no revision"
run_expect 2 tk "$H" vault create 'Osh Cases'
err_has "not allowed"
for sub in grant remove; do
  run_expect 2 tk "$H" vault "$sub" osh-cases BADID
  err_has "'BADID' is not a device id (52 base32 characters)"
  ! grep -q "unknown error" "$TMP/err" || fail "vault $sub: a second, meaningless error line"
done
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after unknown ids"

step "missing store"
run_expect 1 tk "$TMP/nowhere" list
err_has "no tunduk store in $TMP/nowhere"
TUNDUK_HOME=$TMP/nowhere2 run_expect 1 "$BIN/tunduk" whoami
err_has "no tunduk store in $TMP/nowhere2"

step "locked store"
mkfifo "$TMP/hold"
(sqlite3 "$H/store.db" <"$TMP/hold" >/dev/null 2>&1 &)
exec 9>"$TMP/hold"
echo "BEGIN IMMEDIATE; INSERT INTO meta(key, value) VALUES ('lock-test', 'x');" >&9
sleep 0.5
run_expect 1 tk "$H" new case --vault osh-cases "$TMP/ok.json"
err_has "locked"
echo "ROLLBACK;" >&9
exec 9>&-
sleep 0.3
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after a locked write"
run_expect 0 tk "$H" new case --vault osh-cases "$TMP/ok.json"
echo ok
