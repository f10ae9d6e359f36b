# Attachments at the office: `attach` checks before it writes and changes
# nothing on bad input; `show`, `export` and plugins never see an
# attachment's key; `edit` keeps the attachments (the input may not name
# them); a conflict between two offices that each attached a file resolves
# into a merge that keeps both files (nothing is dropped).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

new_hub "$TMP/hub"
start_hub
enroll_office "$TMP/a" office-a "files:rw"
A=$TMP/a
enroll_office "$TMP/b" office-b "files:rw"
B=$TMP/b
B_ID=$OFFICE_ID
run_expect 0 tk "$A" vault create files
run_expect 0 tk "$A" vault grant files "$B_ID"
head -c 700000 /dev/urandom >"$TMP/photo.jpg"
REC=$(new_record "$A" files "a case with photos")

step "bad input changes nothing"
before=$(store_digest "$A")
run_expect 1 tk "$A" attach "$REC" "$TMP/missing.jpg"
err_has "cannot open $TMP/missing.jpg"
run_expect 2 tk "$A" attach "$REC" "$TMP"
err_has "is not a regular file"
run_expect 2 tk "$A" attach "$REC" "$TMP/photo.jpg" --name "a/b"
err_has "control character or '/'"
run_expect 2 tk "$A" attach "$REC" "$TMP/photo.jpg" --name ""
err_has "attachment name must be 1 to 255 bytes"
run_expect 2 tk "$A" attach ffff0000 "$TMP/photo.jpg"
case_json X-1 "with keys" | jq -c '. + {"_attachments": []}' >"$TMP/bad.json"
run_expect 2 tk "$A" edit "$REC" "$TMP/bad.json"
err_has "$TMP/bad.json: the field \"_attachments\" is kept by tunduk"
run_expect 2 tk "$A" new case --vault files "$TMP/bad.json"
[ "$(store_digest "$A")" = "$before" ] || fail "bad input changed the store"

step "attach; show and export carry no key"
run_expect 0 tk "$A" attach "$REC" "$TMP/photo.jpg"
run_expect 0 tk "$A" attachments "$REC" --json
[ "$(jq -r '.[0].name' "$TMP/out")" = photo.jpg ] || fail "default name is not the file name"
[ "$(jq -r '.[0].size' "$TMP/out")" = 700000 ] || fail "size"
[ "$(jq -r '.[0].sha256' "$TMP/out")" = "$(sha256sum "$TMP/photo.jpg" | cut -d' ' -f1)" ] ||
  fail "the listed sha256 is not the file's"
run_expect 0 tk "$A" show "$REC" --json
jq -e '.body._attachments' "$TMP/out" >/dev/null && fail "show prints the attachment list with keys"
[ "$(jq -r '.attachments[0].name' "$TMP/out")" = photo.jpg ] || fail "show --json lacks attachments"
grep -q '"key"' "$TMP/out" && fail "show prints a key"
run_expect 0 tk "$A" export --format jsonl
grep -q photo.jpg "$TMP/out" || fail "export lacks the attachment's name"
grep -q '"key"' "$TMP/out" && fail "export carries an attachment key"
grep -q '"chunks":\[' "$TMP/out" && fail "export carries chunk ids"

step "show --json body round-trips through edit; the attachment stays"
run_expect 0 tk "$A" show "$REC" --json
jq '.body | .notes = "edited"' "$TMP/out" >"$TMP/edited.json"
run_expect 0 tk "$A" edit "$REC" "$TMP/edited.json"
run_expect 0 tk "$A" get "$REC" photo.jpg -o "$TMP/photo.out"
cmp "$TMP/photo.jpg" "$TMP/photo.out" || fail "the attachment changed across an edit"
run_expect 0 tk "$A" get "$REC" photo.jpg -o -
cmp "$TMP/photo.jpg" "$TMP/out" || fail "get -o - is not the file"
run_expect 2 tk "$A" get "$REC" nope.jpg -o "$TMP/x"
err_has "has no attachment named 'nope.jpg'"

step "a conflict where each office attached a file: the merge keeps both"
run_expect 0 tk "$A" sync
run_expect 0 tk "$B" sync
head -c 300000 /dev/urandom >"$TMP/scan-a.pdf"
head -c 400000 /dev/urandom >"$TMP/scan-b.pdf"
run_expect 0 tk "$A" attach "$REC" "$TMP/scan-a.pdf" --name scan.pdf
run_expect 0 tk "$B" attach "$REC" "$TMP/scan-b.pdf" --name scan.pdf
run_expect 0 tk "$A" sync
run_expect 0 tk "$B" sync
run_expect 0 tk "$B" conflicts --json
[ "$(jq length "$TMP/out")" = 1 ] || fail "no conflict"
case_json X-9 "merged by hand" | tk "$B" resolve "$REC" - >/dev/null
run_expect 0 tk "$B" attachments "$REC" --json
names=$(jq -r '[.[].name] | sort | join(",")' "$TMP/out")
[ "$names" = "photo.jpg,scan.pdf,scan.pdf~2" ] || fail "the merge kept: $names"
run_expect 0 tk "$B" sync
run_expect 0 tk "$A" sync
for n in scan.pdf scan.pdf~2; do
  run_expect 0 tk "$A" get "$REC" "$n" -o "$TMP/$n.out"
done
if cmp -s "$TMP/scan.pdf.out" "$TMP/scan-a.pdf"; then other=$TMP/scan-b.pdf; else other=$TMP/scan-a.pdf; fi
cmp "$TMP/scan.pdf~2.out" "$other" || fail "one of the conflicting files was lost"

step "delete: a tombstone names no chunks; nothing can be attached to it"
run_expect 0 tk "$A" delete "$REC"
run_expect 2 tk "$A" attach "$REC" "$TMP/photo.jpg" --name again.jpg
err_has "the record is deleted"
run_expect 0 tk "$A" verify
echo PASS
