# A revision altered in the store is caught: verify names it and exits
# non-zero, show refuses to display it, and untouched records still verify.
. "$(dirname "$0")/lib/common.sh"
H=$TMP/office
new_office "$H" jalal-abad
tk "$H" vault create ja-cases >/dev/null
a=$(echo '{"case_number":"JA-1","client_alias":"Client J-1","status":"open"}' | tk "$H" new case --vault ja-cases -)
b=$(echo '{"case_number":"JA-2","client_alias":"Client J-2","status":"open"}' | tk "$H" new case --vault ja-cases -)
run_expect 0 tk "$H" verify

rev=$(tk "$H" show "$a" --json | jq -r .revision)
# Flip one bit in the middle of the stored bytes of a's revision.
sqlite3 "$H/store.db" "SELECT writefile('$TMP/rev.bin', bytes) FROM revisions WHERE hex(id) = upper('$rev');" >/dev/null
flip_bit "$TMP/rev.bin" 100
sqlite3 "$H/store.db" "UPDATE revisions SET bytes = readfile('$TMP/rev.bin') WHERE hex(id) = upper('$rev');"
run_expect 1 tk "$H" verify
out_has "FAIL $rev"
out_has "1 failed"
run_expect 1 tk "$H" show "$a"
run_expect 0 tk "$H" show "$b"

step "a removed parent is reported"
H2=$TMP/office2
new_office "$H2" talas
tk "$H2" vault create t >/dev/null
c=$(echo '{"case_number":"TLS-1","client_alias":"Client T-1","status":"open"}' | tk "$H2" new case --vault t -)
echo '{"case_number":"TLS-1","client_alias":"Client T-1","status":"closed"}' | tk "$H2" edit "$c" - >/dev/null
first=$(tk "$H2" history "$c" --json | jq -r '.[0].revision')
sqlite3 "$H2/store.db" "PRAGMA foreign_keys=OFF; DELETE FROM revisions WHERE hex(id) = upper('$first');"
run_expect 1 tk "$H2" verify
out_has "missing"
echo ok
