# An office's plugins as one set (issue 15, "Plugins"), through the real
# `tunduk` binary: HOME/plugins overlays the bundled folder file by file
# (one new file removes nothing; a file of the same name replaces that
# plugin), HOME/plugin-set sits between the two; `plugin list` (and --json)
# says where each plugin comes from and keeps its columns lined up for long
# names; a home file that fails to load leaves the lower layer's version
# running and says so; `plugin test` shows every moderation rule's verdict
# (accept / reject / quarantine with the reason), a deletion sample shows
# what a rule sees in meta.deleted; an export counts every attachment's
# chunks as `show --json` does.
. "$(dirname "$0")/lib/common.sh"
SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
SAMPLES=$SRC/plugins/samples
H=$TMP/office
new_office "$H" osh
tk "$H" vault create osh-cases >/dev/null
unset TUNDUK_PLUGINS

case0=$(sed -n 1p "$SAMPLES/case.jsonl" | tk "$H" new case --vault osh-cases -)
step "an export counts each attachment's chunks as show --json does"
head -c 3000000 /dev/urandom >"$TMP/scan.pdf"
run_expect 0 tk "$H" attach "$case0" "$TMP/scan.pdf"
run_expect 0 tk "$H" show "$case0" --json
chunks=$(jq -r '.attachments[0].chunks' "$TMP/out")
[ "$chunks" -gt 1 ] 2>/dev/null || fail "show --json: chunks is '$chunks'"
run_expect 0 tk "$H" export --format jsonl --type case
got=$(jq -r --arg id "$case0" 'select(.id == $id) | .record._attachments[0].chunks' "$TMP/out")
[ -n "$got" ] && [ "$got" != null ] || { cat "$TMP/out"; fail "the export has no attachment"; }
[ "$got" = "$chunks" ] || fail "the export says $got chunks, show --json says $chunks"
echo "   scan.pdf: $chunks chunks in show --json and in the export"

step "plugin test shows every moderation rule's verdict"
cat >"$TMP/review.lua" <<'LUA'
tunduk.moderation {
  name = "review",
  check = function(meta, record)
    if meta.deleted then return tunduk.quarantine("deletion of a " .. meta.type .. " waits for review") end
    if record and record.status == "closed" then return tunduk.reject("closed cases are not sent") end
    return tunduk.accept()
  end,
}
LUA
{
  sed -n 1p "$SAMPLES/case.jsonl" | jq -c '. + {type: "case"}'
  sed -n 1p "$SAMPLES/case.jsonl" | jq -c '. + {type: "case", status: "closed"}'
  echo '{"type": "testimony", "witness_alias": "W-9"}'
  echo '{"type": "case", "_deleted": true}'
} >"$TMP/mod.jsonl"
run_expect 0 tk "$H" plugin test "$TMP/review.lua" "$TMP/mod.jsonl"
cat "$TMP/out"
sed -n '/^line 1:/,/^line 2:/p' "$TMP/out" | grep -qx "  rule limits (limits.lua): accept" ||
  fail "line 1: no accept from limits"
sed -n '/^line 1:/,/^line 2:/p' "$TMP/out" | grep -qx "  rule review (review.lua): accept" ||
  fail "line 1: no accept from review"
sed -n '/^line 2:/,/^line 3:/p' "$TMP/out" | grep -qx "  rule review (review.lua): reject (closed cases are not sent)" ||
  fail "line 2: no reject from review"
sed -n '/^line 3:/,/^line 4:/p' "$TMP/out" |
  grep -qx "  rule limits (limits.lua): quarantine (testimony without consent (recorded, written or withdrawn))" ||
  fail "line 3: no quarantine from limits"
out_has "line 4: deletion (case)"
sed -n '/^line 4:/,$p' "$TMP/out" |
  grep -qx "  rule review (review.lua): quarantine (deletion of a case waits for review)" ||
  fail "line 4: the rule did not see meta.deleted"

step "HOME/plugins with one new file keeps every bundled plugin"
mkdir "$H/plugins"
cat >"$H/plugins/visit.lua" <<'LUA'
tunduk.content_type {
  name = "detention_visit",
  fields = { place = "text", date = "date" },
  required = { "place", "date" },
  summary = function(r) return r.place .. " " .. r.date end,
}
LUA
run_expect 0 tk "$H" plugin list
for p in case appeal testimony csv jsonl html limits detention_visit; do
  grep -Eq "^$p " "$TMP/out" || { cat "$TMP/out"; fail "plugin list lacks $p beside HOME/plugins/visit.lua"; }
done
sed -n 1p "$SAMPLES/case.jsonl" | run_expect 0 tk "$H" new case --vault osh-cases -
case1=$(cat "$TMP/out")
echo '{"place": "Osh SIZO-5", "date": "2026-06-02"}' |
  run_expect 0 tk "$H" new detention_visit --vault osh-cases -
run_expect 0 tk "$H" export --format csv --type case
grep -q "OSH-2026-014" "$TMP/out" || fail "the bundled csv export is gone beside HOME/plugins"

step "plugin list says where each plugin comes from (bundled / set / home)"
mkdir "$H/plugin-set"
# the organisation's set replaces appeal.lua and csv.lua; home replaces csv.lua again
sed 's/name = "appeal"/name = "appeal"/' "$SRC/plugins/appeal.lua" >"$H/plugin-set/appeal.lua"
printf 'tunduk.export { name = "csv", media_type = "text/csv", write = function(r, out) out("set\\n") end }\n' \
  >"$H/plugin-set/csv.lua"
printf 'tunduk.export { name = "csv", media_type = "text/csv", write = function(r, out) out("home\\n") end }\n' \
  >"$H/plugins/csv.lua"
run_expect 0 tk "$H" plugin list
out_has "plugins from $H/plugins"
grep -Eq "^  bundled +$SRC/plugins$" "$TMP/out" || { cat "$TMP/out"; fail "no bundled layer line"; }
grep -Eq "^  set +$H/plugin-set$" "$TMP/out" || { cat "$TMP/out"; fail "no set layer line"; }
grep -Eq "^  home +$H/plugins$" "$TMP/out" || { cat "$TMP/out"; fail "no home layer line"; }
grep -Eq "^case +content type +case.lua +bundled " "$TMP/out" || { cat "$TMP/out"; fail "case is not from bundled"; }
grep -Eq "^appeal +content type +appeal.lua +set \(over bundled\) " "$TMP/out" ||
  { cat "$TMP/out"; fail "appeal is not from the set"; }
grep -Eq "^csv +export +csv.lua +home \(over set\) " "$TMP/out" || { cat "$TMP/out"; fail "csv is not from home"; }
grep -Eq "^detention_visit +content type +visit.lua +home " "$TMP/out" || { cat "$TMP/out"; fail "visit is not from home"; }
run_expect 0 tk "$H" export --format csv
[ "$(cat "$TMP/out")" = home ] || fail "the home csv.lua does not win over the set's: $(cat "$TMP/out")"
run_expect 0 tk "$H" plugin list --json
[ "$(jq -r '.plugins[] | select(.name=="csv") | [.from, .path, .overrides] | join(" ")' "$TMP/out")" = \
  "home $H/plugins/csv.lua set" ] || fail "plugin list --json: csv's origin"
[ "$(jq -r '.plugins[] | select(.name=="case") | [.from, .path] | join(" ")' "$TMP/out")" = \
  "bundled $SRC/plugins/case.lua" ] || fail "plugin list --json: case's origin"
[ "$(jq -r '[.layers[] | .name + "=" + (.present|tostring)] | join(" ")' "$TMP/out")" = \
  "bundled=true set=true home=true" ] || fail "plugin list --json: layers"
rm -r "$H/plugin-set" "$H/plugins/csv.lua"

step "plugin list keeps its columns lined up for long names"
cat >"$H/plugins/long.lua" <<'LUA'
tunduk.content_type { name = "a_content_type_with_a_long_name", fields = { x = "text" } }
tunduk.export { name = "an_export_with_a_long_name", write = function(r, out) end }
LUA
run_expect 0 tk "$H" plugin list
# Where each row's file name starts: the same column in every row.
awk '/^[a-z_]+ +(content type|export|moderation) / {
  k = index($0, ".lua"); while (k > 1 && substr($0, k - 1, 1) != " ") k--; print k }' "$TMP/out" |
  sort -u >"$TMP/cols"
[ "$(wc -l <"$TMP/cols")" = 1 ] || { cat "$TMP/out"; fail "plugin list columns slip: file names start at $(tr '\n' ' ' <"$TMP/cols")"; }
rm "$H/plugins/long.lua"

step "a home file that fails to load: the bundled version runs, and it is said"
printf -- '-- case.lua, broken\ntunduk.content_type {\n  name = "case",,\n}\n' >"$H/plugins/case.lua"
run_expect 1 tk "$H" plugin list
out_has "case.lua:3:"
out_has "using the one from bundled $SRC/plugins/case.lua"
grep -Eq "^case +content type +case.lua +bundled, its file failed" "$TMP/out" ||
  { cat "$TMP/out"; fail "plugin list does not show the bundled case running"; }
sed -n 2p "$SAMPLES/case.jsonl" | run_expect 0 tk "$H" new case --vault osh-cases -
err_has "case.lua:3:"
rm "$H/plugins/case.lua"


echo ok
