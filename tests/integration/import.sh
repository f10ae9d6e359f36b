# tunduk import through the real binary, store and plugin worker: CSV with
# quotes, line breaks, a BOM and CRLF, every record shown as it was in the
# file; JSON Lines; --map with renames, types and left-out columns; rows
# with errors all reported by line and reason and nothing written (the
# store unchanged); --skip-invalid (exit 3); malformed files named by
# file:line; an unknown type, vault, format, map column or map field; the
# line and record bounds at and one past; a finished import refused, again
# with --again; an import killed mid-way leaves whole batches and a re-run
# writes the rest exactly once; --json.
. "$(dirname "$0")/lib/common.sh"
H=$TMP/office
new_office "$H" import-office
tk "$H" vault create cases >/dev/null
count() { tk "$H" list --json | jq length; }

step "CSV: quotes, commas and line breaks in quotes, BOM, CRLF, Cyrillic"
printf '\xef\xbb\xbfcase_number,client_alias,status,violations,title,notes\r\n' >"$TMP/a.csv"
printf 'OSH-1,Client A-1,open,torture;fair_trial,"Пытки, в ИВС ""Ош""",plain\r\n' >>"$TMP/a.csv"
printf 'OSH-2,Client A-2,in_court,"[""arbitrary_detention""]","two\r\nlines, and a comma",\r\n' >>"$TMP/a.csv"
printf '\r\n' >>"$TMP/a.csv" # a blank line is skipped
printf 'OSH-3,Client A-3,closed,,"Кардар ""кармалган""",last\r\n' >>"$TMP/a.csv"
run_expect 0 tk "$H" import --type case --vault cases "$TMP/a.csv"
out_has "imported 3 case records into vault cases"
err_has "3 rows, 3 written, 0 rejected"
cat >"$TMP/a.want" <<'JSON'
{"case_number":"OSH-1","client_alias":"Client A-1","status":"open","violations":["torture","fair_trial"],"title":"Пытки, в ИВС \"Ош\"","notes":"plain"}
{"case_number":"OSH-2","client_alias":"Client A-2","status":"in_court","violations":["arbitrary_detention"],"title":"two\r\nlines, and a comma"}
{"case_number":"OSH-3","client_alias":"Client A-3","status":"closed","title":"Кардар \"кармалган\"","notes":"last"}
JSON
shown() { # every record of type $1, each as compact JSON with sorted keys, sorted
  for id in $(tk "$H" list --type "$1" --json | jq -r '.[].id'); do tk "$H" show "$id" | jq -cS .; done | sort
}
shown case >"$TMP/a.got"
jq -cS . "$TMP/a.want" | sort >"$TMP/a.want.s"
cmp -s "$TMP/a.got" "$TMP/a.want.s" || { diff "$TMP/a.want.s" "$TMP/a.got"; fail "imported CSV records differ"; }
run_expect 0 tk "$H" verify
[ "$(tk "$H" history "$(tk "$H" list --json | jq -r '.[0].id')" --json | jq length)" = 1 ] ||
  fail "an imported record has more than one revision"

step "a finished import is refused; --again imports it once more"
run_expect 1 tk "$H" import --type case --vault cases "$TMP/a.csv"
err_has "was imported into vault 'cases' as case records before (3 written); --again"
[ "$(count)" = 3 ] || fail "a refused import wrote"
run_expect 0 tk "$H" import --type case --vault cases "$TMP/a.csv" --again
[ "$(count)" = 6 ] || fail "--again did not write the rows once more"

step "JSON Lines: blank lines skipped, values kept as they are"
H2=$TMP/office2
new_office "$H2" jsonl-office
tk "$H2" vault create t >/dev/null
cat >"$TMP/b.jsonl" <<'JSON'
{"witness_alias":"W-1","consent":"recorded","narrative":"Көрсөтмө","date":"2024-05-01"}

{"witness_alias":"W-2","consent":"written","sensitivity":"high"}
   
JSON
printf '{"witness_alias":"W-3","consent":"withdrawn"}\r\n' >>"$TMP/b.jsonl"
run_expect 0 tk "$H2" import --type testimony --vault t "$TMP/b.jsonl"
out_has "imported 3 testimony records"
H_SAVE=$H
H=$H2
shown testimony >"$TMP/b.got"
grep -v '^ *$' "$TMP/b.jsonl" | tr -d '\r' | jq -cS . | sort >"$TMP/b.want"
cmp -s "$TMP/b.got" "$TMP/b.want" || { diff "$TMP/b.want" "$TMP/b.got"; fail "JSONL records differ"; }
H=$H_SAVE

step "--map: renames, a date in DD.MM.YYYY, integers and booleans from a content type's kinds, a left-out column"
H3=$TMP/office3
new_office "$H3" map-office
tk "$H3" vault create v >/dev/null
mkdir -p "$H3/plugins"
cp "$TK_SOURCE_DIR/plugins/case.lua" "$H3/plugins/"
cat >"$H3/plugins/intake.lua" <<'LUA'
tunduk.content_type {
  name = "intake",
  fields = {
    ref = { kind = "text" }, received = { kind = "date" }, people = { kind = "integer" },
    urgent = { kind = "boolean" }, tags = { kind = "list" }, channel = { kind = "enum", values = { "phone", "visit" } },
  },
  required = { "ref", "people" },
  validate = function(r)
    if r.people < 1 then return nil, "field 'people' must be at least 1" end
    return true
  end,
}
LUA
printf 'Ref No,Received,People,Urgent?,Tags,Old id,Channel,Meta\n' >"$TMP/m.csv"
printf 'R-1,05.03.2024,3,yes,a; b ;c,17,phone,"{""k"":[1,true]}"\n' >>"$TMP/m.csv"
printf 'R-2,2024-03-06,1,FALSE,,18,visit,\n' >>"$TMP/m.csv"
cat >"$TMP/map.json" <<'JSON'
{"Ref No": "ref", "Received": {"field": "received", "type": "date"}, "People": "people",
 "Urgent?": "urgent", "Tags": "tags", "Old id": null, "Channel": "channel",
 "Meta": {"field": "meta", "type": "json"}}
JSON
# "meta" is no field of intake: a map naming an undeclared field is an error
run_expect 2 tk "$H3" import --type intake --vault v "$TMP/m.csv" --map "$TMP/map.json"
err_has "'Meta' -> 'meta': content type 'intake' has no field 'meta'"
jq '.Meta = null' "$TMP/map.json" >"$TMP/map2.json"
run_expect 0 tk "$H3" import --type intake --vault v "$TMP/m.csv" --map "$TMP/map2.json"
H=$H3
shown intake >"$TMP/m.got"
H=$H_SAVE
cat >"$TMP/m.want" <<'JSON'
{"channel":"phone","people":3,"received":"2024-03-05","ref":"R-1","tags":["a","b","c"],"urgent":true}
{"channel":"visit","people":1,"received":"2024-03-06","ref":"R-2","urgent":false}
JSON
cmp -s "$TMP/m.got" "$TMP/m.want" || { diff "$TMP/m.want" "$TMP/m.got"; fail "mapped records differ"; }
echo '{"Ref No": "ref", "Nope": "people"}' >"$TMP/map3.json"
run_expect 2 tk "$H3" import --type intake --vault v "$TMP/m.csv" --map "$TMP/map3.json"
err_has "no column 'Nope' in $TMP/m.csv (its columns: Ref No, Received, People, Urgent?, Tags, Old id, Channel, Meta)"
echo '{"Ref No": {"field": "ref", "type": "roman"}}' >"$TMP/map4.json"
run_expect 2 tk "$H3" import --type intake --vault v "$TMP/m.csv" --map "$TMP/map4.json"
err_has "'Ref No': no type 'roman'"
echo '[1]' >"$TMP/map5.json"
run_expect 2 tk "$H3" import --type intake --vault v "$TMP/m.csv" --map "$TMP/map5.json"
err_has "a map is a JSON object"

step "rows with errors: every one reported by line, column and reason; nothing written"
before=$(store_digest "$H")
tk "$H" list --all >"$TMP/list.before"
cat >"$TMP/bad.csv" <<'CSV'
case_number,client_alias,status,violations,closed,opened
OK-1,Client B-1,open,torture,,
BAD-2,,open,,,
BAD-3,Client B-3,pending,,,
BAD-4,Client B-4,open,flying,,
"BAD-5
still 5",Client B-5,open,,2020-01-01,2021-01-01
BAD-7,Client B-7,open,,,2021-02-30
OK-8,Client B-8,closed,,,
BAD-9,Client B-9,open
CSV
printf 'BAD-10,Client \xce\xf8,open,,,\n' >>"$TMP/bad.csv"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/bad.csv"
err_has "$TMP/bad.csv:3: column 2 'client_alias': field 'client_alias' is required"
err_has "$TMP/bad.csv:4: column 3 'status': field 'status' must be one of: intake, open"
err_has "$TMP/bad.csv:5: column 4 'violations': field 'violations' item 1 ('flying') must be one of"
err_has "$TMP/bad.csv:6: field 'closed' (2020-01-01) is before 'opened' (2021-01-01)"
err_has "$TMP/bad.csv:8: column 6 'opened': field 'opened'"
err_has "$TMP/bad.csv:10: 3 columns; the header has 6"
err_has "$TMP/bad.csv:11: column 2 'client_alias': invalid UTF-8 (is the file in another encoding?)"
err_has "tunduk: 7 of 9 rows rejected; nothing written (fix them and run again, or --skip-invalid to write the other 2)"
[ "$(grep -c "^$TMP/bad.csv:" "$TMP/err")" = 7 ] || { cat "$TMP/err"; fail "not one line per problem"; }
[ "$(store_digest "$H")" = "$before" ] || fail "a rejected import changed the store"
tk "$H" list --all >"$TMP/list.after"
cmp -s "$TMP/list.before" "$TMP/list.after" || fail "a rejected import changed the listing"

step "--json: a summary with every problem"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/bad.csv" --json
[ "$(jq -r '[.rows, .rejected, .written, (.problems | length)] | join(" ")' "$TMP/out")" = "9 7 0 7" ] ||
  { cat "$TMP/out"; fail "import --json counts"; }
[ "$(jq -r '.problems[] | select(.line == 4) | .field' "$TMP/out")" = status ] || fail "--json problem field"
jq -e '.error | test("7 of 9 rows rejected")' "$TMP/out" >/dev/null || fail "--json error"

step "--skip-invalid writes only the accepted rows (exit 3)"
n0=$(count)
run_expect 3 tk "$H" import --type case --vault cases "$TMP/bad.csv" --skip-invalid
err_has "9 rows, 2 written, 7 rejected and left out"
[ "$(count)" = $((n0 + 2)) ] || fail "--skip-invalid did not write the two good rows"
[ "$(tk "$H" list --json | jq -r '[.[].summary | select(test("^(OK|BAD)-"))] | map(split(" ")[0]) | sort | join(",")')" = "OK-1,OK-8" ] ||
  fail "--skip-invalid wrote the wrong rows"

step "malformed files: the file, the line and the column; nothing written"
before=$(store_digest "$H")
printf 'case_number,client_alias,status\nQ-1,Client Q,open\nQ-2,"Client\nnever closed,open\nQ-3,x,open\n' >"$TMP/q.csv"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/q.csv"
err_has "$TMP/q.csv:3, column 2: a quote not closed by the end of the file"
printf 'a,a\n1,2\n' >"$TMP/dup.csv"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/dup.csv"
err_has "$TMP/dup.csv:1: columns 1 and 2 are both 'a'"
printf 'case_number,_deleted\n1,true\n' >"$TMP/under.csv"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/under.csv"
err_has "column 2 '_deleted': field names starting with '_' are kept by tunduk"
printf '{"case_number":"J-1","client_alias":"x","status":"open"}\n{"case_number": oops}\n[1]\n{"_attachments":[],"case_number":"J-4","client_alias":"x","status":"open"}\n' >"$TMP/j.jsonl"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/j.jsonl"
err_has "$TMP/j.jsonl:2: not JSON:"
err_has "$TMP/j.jsonl:3: not a JSON object"
err_has "$TMP/j.jsonl:4: field '_attachments': names starting with '_' are kept by tunduk"
[ "$(store_digest "$H")" = "$before" ] || fail "a malformed file changed the store"

step "an unknown type, vault or format; no file"
run_expect 2 tk "$H" import --type nosuch --vault cases "$TMP/a.csv"
err_has "no content type 'nosuch'; see 'tunduk plugin list'"
run_expect 2 tk "$H" import --type case --vault nosuch "$TMP/a.csv"
err_has "no vault 'nosuch' (see 'tunduk vault list'; vaults: cases)"
cp "$TMP/a.csv" "$TMP/a.txt"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/a.txt"
err_has "cannot tell the format from the name (.csv, .jsonl, .ndjson); give --format csv|jsonl"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/a.txt" --format xml
err_has "no import format 'xml' (csv, jsonl)"
run_expect 0 tk "$H" import --type case --vault cases "$TMP/a.txt" --format csv --again
run_expect 1 tk "$H" import --type case --vault cases "$TMP/none.csv"
err_has "$TMP/none.csv: No such file or directory"
run_expect 2 tk "$H" import --vault cases "$TMP/a.csv"
err_has "'import' needs --type T"
run_expect 2 tk "$H" import --type case --vault cases - <"$TMP/a.csv"
err_has "an import reads its file twice (check, then write): give a file, not stdin"

step "bounds: a line of 1 MiB is read, one byte more is not"
# {"case_number":"L","client_alias":"x","status":"open","notes":"zzz..."} of exactly 1 MiB
pre='{"case_number":"L","client_alias":"x","status":"open","notes":"'
pad=$((1048576 - ${#pre} - 2))
{ printf '%s' "$pre"; head -c "$pad" /dev/zero | tr '\0' z; printf '"}\n'; } >"$TMP/max.jsonl"
[ "$(head -1 "$TMP/max.jsonl" | tr -d '\n' | wc -c)" = 1048576 ] || fail "the test line is not 1 MiB"
run_expect 0 tk "$H" import --type case --vault cases "$TMP/max.jsonl"
out_has "imported 1 case records"
{ printf '%s' "$pre"; head -c $((pad + 1)) /dev/zero | tr '\0' z; printf '"}\n'; } >"$TMP/over.jsonl"
before=$(store_digest "$H")
run_expect 2 tk "$H" import --type case --vault cases "$TMP/over.jsonl"
err_has "$TMP/over.jsonl:1: a line of more than 1048576 bytes"
# CSV: a record of 1 MiB of field bytes is read (then too big a record as JSON); one more is not
{ printf 'case_number,client_alias,status,notes\n'; printf 'C,x,open,'; head -c $((1048576 - 6)) /dev/zero | tr '\0' z; printf '\n'; } >"$TMP/max.csv"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/max.csv"
err_has "$TMP/max.csv:2: the record is 1048635 bytes as JSON; at most 1048576"
{ printf 'case_number,client_alias,status,notes\n'; printf 'C,x,open,'; head -c $((1048576 - 5)) /dev/zero | tr '\0' z; printf '\n'; } >"$TMP/over.csv"
run_expect 2 tk "$H" import --type case --vault cases "$TMP/over.csv"
err_has "$TMP/over.csv:2: a record of more than 1048576 bytes (a quote not closed?)"
[ "$(store_digest "$H")" = "$before" ] || fail "an import past the bounds changed the store"

step "an import killed mid-way keeps whole batches; the re-run writes the rest once"
H4=$TMP/office4
new_office "$H4" crash-office
tk "$H4" vault create cases >/dev/null
"$BIN/bench_import_gen" csv 5000 "$TMP/big.csv" >/dev/null
"$BIN/tunduk" --home "$H4" import --type case --vault cases "$TMP/big.csv" >"$TMP/crash.out" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  sqlite3 "$H4/store.db" "select value from meta where key like 'import/%'" 2>/dev/null | grep -q 'done=0' && break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
progress=$(sqlite3 "$H4/store.db" "select value from meta where key like 'import/%'")
echo "   killed at: $progress"
written=$(echo "$progress" | sed -n 's/.*written=\([0-9]*\).*/\1/p')
[ -n "$written" ] || fail "no progress kept"
got=$(sqlite3 "$H4/store.db" "select count(*) from records")
[ "$got" = "$written" ] || fail "the store holds $got records, the progress says $written"
[ $((got % 1000)) = 0 ] || [ "$got" = 5000 ] || fail "$got records: not whole batches of 1000"
run_expect 0 tk "$H4" import --type case --vault cases "$TMP/big.csv"
[ "$(sqlite3 "$H4/store.db" "select count(*) from records")" = 5000 ] || fail "the re-run did not make it 5000 records exactly"
[ "$got" = 5000 ] || out_has "more written by an interrupted run before"
run_expect 0 tk "$H4" verify
run_expect 1 tk "$H4" import --type case --vault cases "$TMP/big.csv"
err_has "(5000 written); --again"

echo "import: all passed"
