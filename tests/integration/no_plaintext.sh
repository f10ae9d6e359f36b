# No body plaintext in any file of the store, WAL included: unique markers
# in record bodies (small, compressible and incompressible) never appear in
# any file under the home folder, nor does the passphrase.
. "$(dirname "$0")/lib/common.sh"
H=$TMP/office
new_office "$H" naryn
tk "$H" vault create naryn-cases >/dev/null

marker="CANARY-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Hold a read transaction open so the WAL is not checkpointed away while
# the records are written: the WAL itself is searched too.
mkfifo "$TMP/hold"
(sqlite3 "$H/store.db" <"$TMP/hold" >/dev/null 2>&1 &)
exec 9>"$TMP/hold"
echo "BEGIN; SELECT count(*) FROM revisions;" >&9
sleep 0.3

echo "{\"witness_alias\":\"W-1\",\"consent\":\"written\",\"narrative\":\"$marker\",\"title\":\"t\"}" | tk "$H" new testimony --vault naryn-cases - >/dev/null
big=$(for i in $(seq 1 400); do printf '%s repeated text %d. ' "$marker" "$i"; done)
echo "{\"witness_alias\":\"W-2\",\"consent\":\"recorded\",\"narrative\":\"$big\"}" | tk "$H" new testimony --vault naryn-cases - >/dev/null
rec=$(echo "{\"case_number\":\"NRN-1\",\"status\":\"open\",\"client_alias\":\"$marker-alias\"}" | tk "$H" new case --vault naryn-cases -)
echo "{\"case_number\":\"NRN-1\",\"status\":\"open\",\"client_alias\":\"$marker-edited\"}" | tk "$H" edit "$rec" - >/dev/null
tk "$H" show "$rec" | grep -q "$marker-edited" || fail "the record does not read back"

[ -s "$H/store.db-wal" ] || fail "expected a WAL file to search"
scan() {
  if grep -rlaF -- "$1" "$H"; then fail "found '$1' in the files above"; fi
  # Also in hex/base64 folded forms would be a leak of structure, not text; the
  # plain marker and the passphrase are what must never be present.
}
scan "$marker"
scan "$TUNDUK_PASSPHRASE"
echo "COMMIT;" >&9
exec 9>&-
sleep 0.3
scan "$marker"
ls -la "$H"
echo ok
