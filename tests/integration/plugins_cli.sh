# The bundled plugins through the real `tunduk` binary: every content type
# accepts realistic records and refuses bad ones naming the field, storing
# nothing; exports (csv parses back to the same rows; redaction; a
# withdrawn-consent narrative never exported, even by an admin's own export
# plugin; HTML escaping; -o writes whole files or none); plugin list and
# plugin test; an admin plugin folder with a broken plugin.
. "$(dirname "$0")/lib/common.sh"
SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
SAMPLES=$SRC/plugins/samples
H=$TMP/office
new_office "$H" osh
tk "$H" vault create osh-cases >/dev/null
unset TUNDUK_PLUGINS

step "plugin list shows the bundled plugins"
run_expect 0 tk "$H" plugin list
for p in "case .*content type .*case.lua" "appeal .*content type .*appeal.lua" \
  "testimony .*content type .*testimony.lua" "csv .*export .*csv.lua .*text/csv" \
  "jsonl .*export .*jsonl.lua" "html .*export .*html.lua .*text/html" \
  "limits .*moderation .*limits.lua"; do
  grep -Eq "^$p" "$TMP/out" || { cat "$TMP/out"; fail "plugin list lacks /$p/"; }
done
out_has "plugins from $SRC/plugins"
[ "$(tk "$H" plugin list --json | jq -r '.plugins[] | select(.name=="testimony") | .fields[] | select(.name=="consent") | [.required, (.values|join(","))] | map(tostring) | join(" ")')" = "true recorded,written,withdrawn" ] ||
  fail "plugin list --json: testimony consent"

step "realistic samples of every content type are accepted"
declare -A ids
for t in case appeal testimony; do
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    id=$(printf '%s' "$line" | tk "$H" new "$t" --vault osh-cases -) || fail "$t sample $n refused"
    ids[$t$n]=$id
  done <"$SAMPLES/$t.jsonl"
done
case1=${ids[case1]}
# A case whose text needs CSV quoting and HTML escaping.
tricky=$(jq -cn '{case_number: "CHU-2026-009", client_alias: "Client \"Q\", Chui",
  title: "<script>alert(1)</script> detained,\nthen released", status: "open",
  violations: ["arbitrary_detention"], opened: "2026-06-01"}')
ids[case5]=$(printf '%s' "$tricky" | tk "$H" new case --vault osh-cases -)
# Records that link to each other: a testimony and an appeal of case 1.
jq -c --arg c "$case1" '. + {related_case: $c}' <(sed -n 1p "$SAMPLES/testimony.jsonl") |
  tk "$H" new testimony --vault osh-cases - >/dev/null
tk "$H" list >"$TMP/list"
grep -q "^$case1  case .*OSH-2026-014 · Client A-7 · investigation · Beaten" "$TMP/list" ||
  { cat "$TMP/list"; fail "list does not use the case summary"; }
grep -q "W-14 · CONSENT WITHDRAWN" "$TMP/list" || fail "list does not use the testimony summary"

step "bad records are refused with the field named, and nothing is stored"
before=$(store_digest "$H")
bad() { # TYPE JSON TEXT...: new TYPE refuses JSON with exit 2 and each TEXT in stderr
  local t=$1 j=$2; shift 2
  printf '%s' "$j" | run_expect 2 tk "$H" new "$t" --vault osh-cases -
  err_has "tunduk: $t record invalid: "
  for x in "$@"; do err_has "$x"; done
}
ok_case='"case_number":"OSH-2026-020","client_alias":"Client C-3"'
bad case "{$ok_case}" "field 'status' is required"
bad case '{"case_number":"OSH-2026-020","status":"open"}' "field 'client_alias' is required"
bad case "{$ok_case,\"status\":\"opened\"}" "field 'status' must be one of: intake, open"
bad case "{$ok_case,\"status\":\"open\",\"opened\":\"2026-02-30\"}" "field 'opened' must be a date"
bad case "{$ok_case,\"status\":\"open\",\"violations\":\"torture\"}" "field 'violations' must be a list"
bad case "{$ok_case,\"status\":\"open\",\"violations\":[\"torture\",\"beating\"]}" \
  "field 'violations' item 2 ('beating')"
bad case "{$ok_case,\"status\":\"open\",\"hearings\":[{\"date\":\"15.04.2026\"}]}" \
  "field 'hearings' item 1: 'date'"
bad case "{$ok_case,\"status\":\"open\",\"client_name\":\"A real name\"}" \
  "field 'client_name' is not allowed"
bad case "{$ok_case,\"status\":\"closed\",\"opened\":\"2026-03-01\",\"closed\":\"2026-01-01\"}" \
  "field 'closed'"
bad case "{$ok_case,\"status\":\"open\",\"appeals\":[\"12345\"]}" "field 'appeals' item 1"
bad appeal '{"addressee":"Prosecutor of Osh oblast"}' "field 'subject' is required"
bad appeal '{"addressee":"Prosecutor","subject":"s","reply_due":"10.04.2026"}' \
  "field 'reply_due' must be a date"
bad appeal '{"addressee":"Prosecutor","subject":"s","date_sent":"2026-03-10","reply_due":"2026-03-01"}' \
  "field 'reply_due' (2026-03-01) is before 'date_sent'"
bad appeal '{"addressee":"Prosecutor","subject":"s","outcome":"refused"}' \
  "field 'reply_received' is required"
bad appeal '{"addressee":"Prosecutor","subject":"s","related_case":"OSH-2026-014"}' \
  "field 'related_case' must be a record id"
bad testimony '{"witness_alias":"W-30","narrative":"no consent recorded"}' \
  "field 'consent' is required"
bad testimony '{"witness_alias":"W-30","consent":"verbal"}' \
  "field 'consent' must be one of: recorded, written, withdrawn"
bad testimony '{"witness_alias":"W-30","consent":"written","language":"kyrgyz"}' "field 'language'"
bad testimony '{"consent":"written"}' "field 'witness_alias' is required"
echo '{"x":1}' | run_expect 2 tk "$H" new complaint --vault osh-cases -
err_has "no content type 'complaint'; see 'tunduk plugin list'"
# edit is checked through the record's own type
echo '{"case_number":"OSH-2026-014","client_alias":"Client A-7","status":"won"}' |
  run_expect 2 tk "$H" edit "$case1" -
err_has "tunduk: case record invalid: field 'status' must be one of"
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after refused records"
# a valid edit goes through; delete needs no validation
jq -c '.status = "in_court"' <(sed -n 1p "$SAMPLES/case.jsonl") | run_expect 0 tk "$H" edit "$case1" -
[ "$(tk "$H" show "$case1" | jq -r .status)" = in_court ] || fail "valid edit not stored"
run_expect 0 tk "$H" delete "${ids[case4]}"

step "a form's record: every bad list item reported with its place, nothing stored"
before=$(store_digest "$H")
two_bad='{"case_number":"OSH-2026-031","client_alias":"Client F-2","status":"in_court",
  "hearings":[{"date":"2026-04-01","court":"Osh city court"},{"date":"01.05.2026"},
  {"court":"Osh oblast court","outcome":"postponed"}],"violations":["torture","beating"]}'
printf '%s' "$two_bad" | run_expect 2 tk "$H" new case --vault osh-cases -
err_has "tunduk: case record invalid: field 'hearings' item 2: 'date' must be a date YYYY-MM-DD"
err_has "tunduk: case record invalid: field 'hearings' item 3: 'date' is required"
err_has "tunduk: case record invalid: field 'violations' item 2 ('beating') must be one of"
printf '%s' "$two_bad" | run_expect 2 tk "$H" --json new case --vault osh-cases -
[ "$(jq -c '[.problems[].field]' "$TMP/out")" = '["hearings[2].date","hearings[3].date","violations[2]"]' ] ||
  { cat "$TMP/out"; fail "new --json: problems lack their places"; }
[ "$(jq -r .problems_count "$TMP/out")" = 3 ] || fail "new --json: problems_count"
# validate()'s refusal names its field
printf '%s' '{"case_number":"OSH-2026-032","client_alias":"Client F-3","status":"closed",
  "opened":"2026-03-01","closed":"2026-01-01"}' | run_expect 2 tk "$H" --json new case --vault osh-cases -
[ "$(jq -r '.problems[0].field' "$TMP/out")" = closed ] || { cat "$TMP/out"; fail "validate problem has no field"; }
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after refused form records"

step "plugin list --json carries the form: labels in en/ru/ky, value labels, items, order"
tk "$H" plugin list --json >"$TMP/plugins.json"
q() { jq -r ".plugins[] | select(.name==\"$1\") | $2" "$TMP/plugins.json"; }
[ "$(q case '.label')" = Case ] || fail "case label"
[ "$(q case '.labels | [.en, .ru, .ky] | join("|")')" = "Case|Дело|Иш" ] || fail "case labels"
[ "$(q appeal '.labels.ky')" = "Кайрылуу" ] || fail "appeal ky label"
[ "$(q testimony '.labels.ky')" = "Көрсөтмө" ] || fail "testimony ky label"
[ "$(q case '[.fields[].name][0:3] | join(",")')" = "case_number,client_alias,title" ] ||
  fail "case fields not in its order"
[ "$(q case '.fields[] | select(.name=="status") | [.label, .labels.ru, .labels.ky] | join("|")')" = "Status|Статус|Абалы" ] ||
  fail "status labels"
[ "$(q case '.fields[] | select(.name=="status") | .value_labels.in_court | [.en, .ru, .ky] | join("|")')" = "In court|В суде|Сотто" ] ||
  fail "status value labels"
[ "$(q case '.fields[] | select(.name=="hearings") | .items | [.kind, (.fields | map(.name) | join(","))] | join(" ")')" = "object date,court,outcome" ] ||
  fail "hearings items"
[ "$(q case '.fields[] | select(.name=="violations") | .items.value_labels.torture.ky')" = "Кыйноо" ] ||
  fail "violations item labels"
[ "$(q case '.fields[] | select(.name=="appeals") | .items.ref_type')" = appeal ] || fail "appeals ref_type"
[ "$(q testimony '.fields[] | select(.name=="related_case") | .ref_type')" = case ] ||
  fail "testimony related_case ref_type"
# every label of the bundled types is there in all three languages
[ "$(jq '[.plugins[] | select(.kind=="content type") | .fields[] | .labels | [.en, .ru, .ky] | map(select(. == null or . == "")) | length] | add' "$TMP/plugins.json")" = 0 ] ||
  fail "a bundled field lacks a label"

step "a malformed form declaration is a load error naming the plugin, field and key"
mkdir -p "$H/plugins"
cat >"$H/plugins/visit.lua" <<'LUA'
tunduk.content_type { name = "visit",
  fields = { held = { kind = "list", items = { kind = "object", fields = { day = { kind = "date", lable = "Day" } } } } } }
LUA
run_expect 1 tk "$H" plugin list --json
[ "$(jq -r '.errors[]' "$TMP/out" | grep -c "visit.lua.*field 'held' items field 'day': unknown key 'lable'")" = 1 ] ||
  { cat "$TMP/out"; fail "malformed items: no load error naming field and key"; }
rm -r "$H/plugins"

step "csv export parses back to the same rows"
tk "$H" export --format csv --type case >"$TMP/cases.csv"
grep -q $'\r$' "$TMP/cases.csv" || fail "csv lines do not end in CRLF"
python3 - "$TMP/cases.csv" "$SAMPLES/case.jsonl" "$tricky" "$case1" "${ids[case2]}" \
  "${ids[case3]}" "${ids[case5]}" "${ids[case4]}" <<'PY'
import csv, json, sys
path, samples, tricky, c1, c2, c3, c5, deleted = sys.argv[1:]
src = [json.loads(l) for l in open(samples, encoding="utf-8")]
src[0]["status"] = "in_court"                      # edited above
want = {c1: src[0], c2: src[1], c3: src[2], c5: json.loads(tricky)}
with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
head, body = rows[0], rows[1:]
assert head[:4] == ["id", "type", "vault", "updated"] and head[-1] == "other", head
got = {r[0]: dict(zip(head, r)) for r in body}
assert len(body) == 4 and set(got) == set(want), (len(body), set(got) ^ set(want))
assert deleted not in got
def cell(v):
    if v is None: return ""
    if isinstance(v, list) and all(isinstance(x, str) for x in v): return "; ".join(v)
    return v
for rid, rec in want.items():
    row = got[rid]
    assert row["type"] == "case" and row["vault"] == "osh-cases", row
    for k in head[4:-1]:
        v = rec.get(k)
        if isinstance(v, list) and v and isinstance(v[0], dict):
            assert json.loads(row[k]) == v, (k, row[k], v)
        else:
            assert row[k] == cell(v), (rid, k, row[k], cell(v))
    assert row["other"] == "", row["other"]
print("csv rows ok:", len(body))
PY

step "redacted fields are absent from every format"
for f in csv jsonl html; do
  tk "$H" export --format "$f" --redact client_alias,lawyer >"$TMP/red.$f"
  for secret in "Client B-2" "Client D-11" "S. Latipov" "K. Saliev"; do
    grep -qF "$secret" "$TMP/red.$f" && fail "$f export still holds redacted '$secret'"
  done
  grep -qF "OSH-2026-014" "$TMP/red.$f" || fail "$f export lost unredacted fields"
done
[ "$(jq -s '[.[] | .record | has("client_alias") or has("lawyer")] | any' "$TMP/red.jsonl")" = false ] ||
  fail "jsonl records still have redacted keys"

step "a withdrawn-consent narrative is in no export"
withdrawn="This narrative must never appear in an export"
kept="The witness saw two officers take Client A-7"
tk "$H" show "${ids[testimony3]}" | grep -qF "$withdrawn" || fail "narrative lost from the store"
for f in csv jsonl html; do
  tk "$H" export --format "$f" >"$TMP/all.$f"
  grep -qF "$withdrawn" "$TMP/all.$f" && fail "$f export holds a withdrawn narrative"
  grep -qF "$kept" "$TMP/all.$f" || fail "$f export lacks a consented narrative"
done
[ "$(jq -r 'select(.record.witness_alias=="W-14") | .record | has("narrative")' "$TMP/all.jsonl")" = false ] ||
  fail "jsonl: W-14 has a narrative"
grep -qF "Narrative withheld: consent withdrawn" "$TMP/all.html" || fail "html does not say withheld"

step "html escapes record text and groups a case's records"
grep -qF "&lt;script&gt;alert(1)&lt;/script&gt;" "$TMP/all.html" || fail "html lacks escaped title"
grep -qF "<script>" "$TMP/all.html" && fail "html holds a raw <script>"
grep -qF "Client &quot;Q&quot;, Chui" "$TMP/all.html" || fail "html quotes not escaped"
python3 - "$TMP/all.html" <<'PY'
import sys
h = open(sys.argv[1], encoding="utf-8").read()
sec = h[h.index("OSH-2026-014"):]
sec = sec[:sec.index("</section>")]
assert "W-12" in sec, "the linked testimony is not under its case"
print("html grouping ok")
PY

step "-o writes a whole 0600 file"
run_expect 0 tk "$H" export --format jsonl -o "$TMP/out.jsonl"
err_has "exported"
[ "$(stat -c %a "$TMP/out.jsonl")" = 600 ] || fail "export file is not mode 600"
cmp -s "$TMP/out.jsonl" "$TMP/all.jsonl" || fail "-o output differs from stdout"
[ "$(wc -l <"$TMP/out.jsonl")" = 12 ] || fail "jsonl line count $(wc -l <"$TMP/out.jsonl")"
run_expect 2 tk "$H" export --format pdf
err_has "no export format 'pdf'"
run_expect 2 tk "$H" export
err_has "needs --format"

step "plugin test reports sample files"
for t in case appeal testimony; do
  run_expect 0 tk "$H" plugin test "$t" "$SAMPLES/$t.jsonl"
  out_has "line 1: ok ($t)"
  out_has "0 invalid"
  grep -Eq "^  csv +[0-9]+ bytes" "$TMP/out" || fail "plugin test $t: no csv size"
  grep -Eq "^  html +[0-9]+ bytes" "$TMP/out" || fail "plugin test $t: no html size"
done
run_expect 0 tk "$H" plugin test csv "$SAMPLES/mixed.jsonl"
out_has "line 3: ok (testimony): W-21"
out_has "4 valid, 0 invalid"
{
  sed -n 1p "$SAMPLES/case.jsonl"
  echo '{"case_number":"X-1","client_alias":"C","status":"unknown"}'
  echo '{"type":"appeal","addressee":"Court"}'
} >"$TMP/mixed_bad.jsonl"
run_expect 0 tk "$H" plugin test case.lua "$TMP/mixed_bad.jsonl"
out_has "line 1: ok (case): OSH-2026-014"
out_has "line 2: invalid (case): field 'status' must be one of"
out_has "line 3: invalid (appeal): field 'subject' is required"
out_has "1 valid, 2 invalid"
printf '%s\n{"case_number": "X-2",\n' "$(sed -n 1p "$SAMPLES/case.jsonl")" >"$TMP/broken.jsonl"
run_expect 1 tk "$H" plugin test case "$TMP/broken.jsonl"
err_has "broken.jsonl:2:"
# an admin's new plugin file, tested before it is installed
cat >"$TMP/visit.lua" <<'LUA'
tunduk.content_type {
  name = "visit",
  fields = { place = "text", date = "date", detainees = "integer" },
  required = { "place", "date" },
  summary = function(r) return r.place .. " " .. r.date end,
}
LUA
printf '%s\n' '{"place":"Osh SIZO-5","date":"2026-06-02","detainees":41}' \
  '{"place":"Osh SIZO-5","date":"2026-06-31"}' >"$TMP/visit.jsonl"
run_expect 0 tk "$H" plugin test "$TMP/visit.lua" "$TMP/visit.jsonl"
out_has "line 1: ok (visit): Osh SIZO-5 2026-06-02"
out_has "line 2: invalid (visit): field 'date' must be a date"

step "an admin plugin folder: a broken plugin is reported, the others work"
mkdir "$H/plugins"
cp "$SRC"/plugins/*.lua "$H/plugins/"
printf -- '-- broken on purpose\ntunduk.content_type {\n  name = "visit",, \n}\n' >"$H/plugins/broken.lua"
# An admin's export that tries to leak everything it is given.
cat >"$H/plugins/leak.lua" <<'LUA'
tunduk.export { name = "leak", write = function(records, out)
  for r in records do for k, v in pairs(r) do out(k, "=", tostring(v), "\n") end end
end }
tunduk.export { name = "failing", write = function(records, out)
  out("partial output\n")
  for r in records do end
  error("report service quota exceeded")
end }
LUA
run_expect 1 tk "$H" plugin list
out_has "plugins from $H/plugins"
out_has "broken.lua:3:"
out_has "leak "
grep -Eq "^case +content type" "$TMP/out" || fail "case missing beside the broken plugin"
sed -n 1p "$SAMPLES/case.jsonl" | run_expect 0 tk "$H" new case --vault osh-cases -
err_has "broken.lua:3:"
tk "$H" export --format leak >"$TMP/leak.txt" 2>/dev/null
grep -qF "$kept" "$TMP/leak.txt" || fail "leak export got no narratives at all"
grep -qF "$withdrawn" "$TMP/leak.txt" && fail "an admin export plugin received a withdrawn narrative"
tk "$H" export --format leak --redact narrative,client_alias >"$TMP/leak2.txt" 2>/dev/null
grep -Eq "^(narrative|client_alias)=" "$TMP/leak2.txt" && fail "an export plugin received redacted fields"
run_expect 1 tk "$H" export --format failing -o "$TMP/failed.txt"
err_has "report service quota exceeded"
[ -e "$TMP/failed.txt" ] && fail "a failed export left its file"
ls "$TMP" | grep -q "failed.txt.tmp" && fail "a failed export left a temporary file"
echo ok
