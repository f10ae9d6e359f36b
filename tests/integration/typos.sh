# Typos are errors, through the real `tunduk` binary (issue 15): a field the
# content type does not declare is refused at write time (new, edit,
# resolve, import) with the known names suggested, unless the type allows
# extra fields; an unknown --type, --vault or --redact field is an error
# (exit 2) naming what exists; every validation problem of a record is
# reported at once (and in new --json); a UTF-8 BOM is accepted; `show
# --json | edit` works and refuses another record's output; summaries are
# cut at 256 bytes on a character boundary; `new --json` gives the record
# and revision ids and `list --json` the winner.
. "$(dirname "$0")/lib/common.sh"
SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
H=$TMP/office
new_office "$H" osh
tk "$H" vault create osh-cases >/dev/null
ok='{"case_number":"OSH-1","client_alias":"Client A-1","status":"open"}'
c1=$(printf '%s' "$ok" | tk "$H" new case --vault osh-cases -)

step "an unknown field is refused, the known names suggested, nothing stored"
before=$(store_digest "$H")
printf '%s' '{"case_number":"OSH-2","client_alias":"Client A-2","status":"open","titel":"x"}' |
  run_expect 2 tk "$H" new case --vault osh-cases -
err_has "tunduk: case record invalid: unknown field 'titel' (did you mean 'title'? known: "
err_has "case_number, client_alias"
jq -c '. + {naratve: "y"}' <<<"$ok" | run_expect 2 tk "$H" edit "$c1" -
err_has "unknown field 'naratve'"
# the engine's own fields are not typos (delete's tombstone, attachments)
run_expect 0 tk "$H" show "$c1"
[ "$(store_digest "$H")" = "$before" ] || fail "a refused unknown field changed the store"
printf 'case_number,client_alias,status,titel\r\nOSH-3,Client A-3,open,x\r\n' >"$TMP/t.csv"
run_expect 2 tk "$H" import --type case --vault osh-cases "$TMP/t.csv"
err_has "column 4 'titel': unknown field 'titel' (did you mean 'title'?"
printf '%s\n' '{"case_number":"OSH-4","client_alias":"Client A-4","status":"open","titel":"x"}' >"$TMP/t.jsonl"
run_expect 2 tk "$H" import --type case --vault osh-cases "$TMP/t.jsonl"
err_has "t.jsonl:1: unknown field 'titel' (did you mean 'title'?"
[ "$(store_digest "$H")" = "$before" ] || fail "a refused import changed the store"

step "a content type with extra_fields = true takes undeclared fields"
P=$TMP/plugins
cp -r "$SRC/plugins" "$P"
cat >"$P/note.lua" <<'LUA'
tunduk.content_type { name = "note", fields = { text = "text" }, required = { "text" },
  extra_fields = true }
LUA
n1=$(TUNDUK_PLUGINS=$P tk "$H" new note --vault osh-cases - <<<'{"text":"t","colour":"red"}') ||
  fail "extra_fields: an undeclared field was refused"
[ "$(TUNDUK_PLUGINS=$P tk "$H" show "$n1" | jq -r .colour)" = red ] || fail "extra field not kept"
run_expect 0 env TUNDUK_PLUGINS=$P "$BIN/tunduk" --home "$H" plugin list
cat >"$P/bad.lua" <<'LUA'
tunduk.content_type { name = "bad", fields = { a = "text" }, extra_fields = "yes" }
LUA
run_expect 1 env TUNDUK_PLUGINS=$P "$BIN/tunduk" --home "$H" plugin list
grep -q "'extra_fields' must be true or false" "$TMP/out" "$TMP/err" ||
  { cat "$TMP/out" "$TMP/err"; fail "a bad extra_fields is not named"; }
rm "$P/bad.lua"

step "a field the record already holds (another office's plugins declare it) may stay"
P2=$TMP/plugins2 P3=$TMP/plugins3
mkdir "$P2" "$P3"
echo 'tunduk.content_type { name = "visit", fields = { place = "text", room = "text" } }' >"$P2/visit.lua"
echo 'tunduk.content_type { name = "visit", fields = { place = "text" } }' >"$P3/visit.lua"
v=$(TUNDUK_PLUGINS=$P2 tk "$H" new visit --vault osh-cases - <<<'{"place":"IVS","room":"3"}')
TUNDUK_PLUGINS=$P3 run_expect 0 tk "$H" edit "$v" - <<<'{"place":"SIZO","room":"4"}'
TUNDUK_PLUGINS=$P3 run_expect 2 tk "$H" edit "$v" - <<<'{"place":"SIZO","room":"4","floor":"2"}'
err_has "unknown field 'floor' (known: place)"
TUNDUK_PLUGINS=$P3 run_expect 2 tk "$H" new visit --vault osh-cases - <<<'{"place":"IVS","room":"3"}'
err_has "unknown field 'room'"

step "unknown --type, --vault and --redact fields are errors naming what exists"
run_expect 2 tk "$H" list --type cases
err_has "no content type 'cases'; see 'tunduk plugin list' (did you mean 'case'? content types: "
err_has "appeal"
run_expect 2 tk "$H" list --vault osh
err_has "no vault 'osh' (see 'tunduk vault list'; vaults: osh-cases)"
run_expect 2 tk "$H" conflicts --type cases
err_has "no content type 'cases'"
run_expect 2 tk "$H" conflicts --vault osh
err_has "no vault 'osh'"
run_expect 2 tk "$H" export --format jsonl --type testimny
err_has "no content type 'testimny'; see 'tunduk plugin list' (did you mean 'testimony'?"
[ ! -s "$TMP/out" ] || fail "export --type testimny wrote something"
run_expect 2 tk "$H" export --format jsonl --vault osh
err_has "no vault 'osh'"
tk "$H" new testimony --vault osh-cases - >/dev/null <<<'{"witness_alias":"W-1","consent":"written","narrative":"secret words"}'
run_expect 2 tk "$H" export --format jsonl --redact narative
err_has "--redact: no exported content type has a field 'narative' (did you mean 'narrative'?)"
[ ! -s "$TMP/out" ] || fail "export --redact narative exported"
run_expect 0 tk "$H" export --format jsonl --redact narrative
grep -q "secret words" "$TMP/out" && fail "--redact narrative exported the narrative"
run_expect 2 tk "$H" export --format jsonl --type case --redact narrative
err_has "no exported content type has a field 'narrative'"
run_expect 2 tk "$H" new cases --vault osh-cases - <<<"$ok"
err_has "did you mean 'case'?"
run_expect 2 tk "$H" new case --vault osh - <<<"$ok"
err_has "no vault 'osh' (see 'tunduk vault list'; vaults: osh-cases)"
run_expect 2 tk "$H" import --type cases --vault osh-cases "$TMP/t.csv"
err_has "did you mean 'case'?"
# filters that exist still work
run_expect 0 tk "$H" list --type case --vault osh-cases
out_has "$c1"

step "every validation problem of a record is reported, each on its own line"
before=$(store_digest "$H")
printf '%s' '{"status":"opened","opened":"2026-02-30","titel":"x"}' |
  run_expect 2 tk "$H" new case --vault osh-cases -
for x in "field 'case_number' is required" "field 'client_alias' is required" \
  "field 'status' must be one of" "field 'opened' must be a date" "unknown field 'titel'"; do
  grep -q "^tunduk: case record invalid: $x" "$TMP/err" || { cat "$TMP/err"; fail "no line for: $x"; }
done
[ "$(grep -c '^tunduk: case record invalid: ' "$TMP/err")" = 5 ] || { cat "$TMP/err"; fail "not 5 problem lines"; }
printf '%s' '{"status":"opened","opened":"2026-02-30","titel":"x"}' |
  run_expect 2 tk "$H" new case --vault osh-cases - --json
[ "$(jq -r '.problems | map(.field) | sort | join(",")' "$TMP/out")" = "case_number,client_alias,opened,status,titel" ] ||
  { cat "$TMP/out"; fail "new --json: problems"; }
[ "$(jq -r .problems_count "$TMP/out")" = 5 ] || fail "new --json: problems_count"
# an unknown field and the plugin's own refusal together
printf '%s' '{"case_number":"OSH-5","client_alias":"C","status":"open","client_name":"A real name"}' |
  run_expect 2 tk "$H" new case --vault osh-cases -
err_has "unknown field 'client_name'"
err_has "field 'client_name' is not allowed"
jq -c '.status = "won" | .opened = "x"' <<<"$ok" | run_expect 2 tk "$H" edit "$c1" -
[ "$(grep -c '^tunduk: case record invalid: ' "$TMP/err")" = 2 ] || { cat "$TMP/err"; fail "edit: not 2 problem lines"; }
[ "$(store_digest "$H")" = "$before" ] || fail "refused records changed the store"

step "a UTF-8 BOM at the start of a record is accepted"
printf '\xef\xbb\xbf%s' '{"case_number":"OSH-6","client_alias":"Client Б","status":"open"}' >"$TMP/bom.json"
b=$(tk "$H" new case --vault osh-cases "$TMP/bom.json") || fail "a BOM file was refused"
[ "$(tk "$H" show "$b" | jq -r .client_alias)" = "Client Б" ] || fail "BOM record body"
printf '\xef\xbb\xbf%s' '{"case_number":"OSH-6","client_alias":"Client Б","status":"intake"}' |
  run_expect 0 tk "$H" edit "$b" -

step "show --json | edit: the body is taken; another record's output is refused"
tk "$H" show "$c1" --json | jq '.body.status = "investigation"' | run_expect 0 tk "$H" edit "$c1" -
[ "$(tk "$H" show "$c1" | jq -r .status)" = investigation ] || fail "show --json | edit did not edit"
[ "$(tk "$H" show "$c1" | jq 'has("body") or has("revision")')" = false ] || fail "the wrapper was stored"
before=$(store_digest "$H")
tk "$H" show "$b" --json | run_expect 2 tk "$H" edit "$c1" -
err_has "the input is 'tunduk show --json' output of record $b, not of record $c1"
[ "$(store_digest "$H")" = "$before" ] || fail "another record's show output changed the store"

step "summaries are cut at 256 bytes, never inside a character"
title=$(printf 'Задержан%.0s' $(seq 1 40)) # 40 x 16 bytes
long=$(jq -cn --arg t "$title" '{case_number: "OSH-7", client_alias: "Client C", status: "open", title: $t}')
l=$(tk "$H" new case --vault osh-cases - <<<"$long")
s=$(tk "$H" list --json | jq -r --arg id "$l" '.[] | select(.id == $id) | .summary')
n=$(printf '%s' "$s" | wc -c)
[ "$n" -gt 240 ] && [ "$n" -le 256 ] || fail "summary of $n bytes, wanted 241..256"
printf '%s' "$s" | iconv -f UTF-8 -t UTF-8 >/dev/null || fail "the summary was cut inside a character"
tk "$H" list | grep "^$l" | iconv -f UTF-8 -t UTF-8 >/dev/null || fail "list: cut inside a character"
[ "$(tk "$H" list | grep "^$l" | sed 's/^.*OSH-7/OSH-7/' | wc -c)" -gt 200 ] || fail "list: summary cut short"
# an overdue appeal's summary keeps its end
a=$(jq -cn '{addressee: "Prosecutor of the Osh oblast, department of supervision over investigations",
  subject: "Complaint about the detention conditions in the temporary holding facility of the city",
  date_sent: "2020-01-01", reply_due: "2020-02-01"}' | tk "$H" new appeal --vault osh-cases -)
tk "$H" list | grep "^$a" | grep -q "OVERDUE since 2020-02-01" || { tk "$H" list; fail "OVERDUE cut off"; }

step "new --json gives the record and revision; list --json the winner"
run_expect 0 tk "$H" new case --vault osh-cases - --json <<<'{"case_number":"OSH-8","client_alias":"D","status":"open"}'
rec=$(jq -r .record "$TMP/out")
rev=$(jq -r .revision "$TMP/out")
[ "$(tk "$H" show "$rec" --json | jq -r .revision)" = "$rev" ] || fail "new --json: revision"
[ "$(tk "$H" list --json | jq -r --arg id "$rec" '.[] | select(.id == $id) | .winner')" = "$rev" ] ||
  fail "list --json: winner"
# plain new prints just the id, one line
out=$(tk "$H" new case --vault osh-cases - <<<'{"case_number":"OSH-9","client_alias":"D","status":"open"}')
echo "$out" | grep -Eq '^[0-9a-f]{32}$' || fail "plain new printed '$out'"
run_expect 0 tk "$H" verify
