# The office workflow through the real `tunduk` binary: init, whoami,
# vaults, new, list, show, edit, history, delete, verify, --json outputs.
. "$(dirname "$0")/lib/common.sh"
H=$TMP/office

step "init and whoami"
run_expect 0 tk "$H" init --name bishkek-office --kdf interactive
out_has "device "
[ "$(stat -c %a "$H")" = 700 ] || fail "home folder is not mode 700"
[ "$(stat -c %a "$H/device.key")" = 600 ] || fail "key file is not mode 600"
id=$(tk "$H" whoami)
echo "$id" | grep -Eq '^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$' || fail "whoami printed '$id'"
[ "$(tk "$H" whoami --json | jq -r .device)" = "$id" ] || fail "whoami --json differs"
run_expect 1 tk "$H" init --kdf interactive
err_has "already holds a tunduk store"

step "vaults"
run_expect 0 tk "$H" vault create bishkek-cases
run_expect 0 tk "$H" vault create testimonies
run_expect 1 tk "$H" vault create testimonies
err_has "already exists"
[ "$(tk "$H" vault list --json | jq -r '[.[].name] | sort | join(",")')" = "bishkek-cases,testimonies" ] ||
  fail "vault list"
[ "$(tk "$H" vault list --json | jq '[.[] | select(.have_key)] | length')" = 2 ] || fail "keys"

step "new, list, show"
cat >"$TMP/case.json" <<'JSON'
{"case_number": "BSH-2026-031", "client_alias": "Client K-2", "region": "Chui",
 "court": "Pervomaisky district court", "violations": ["fair_trial"], "status": "open",
 "title": "Пытки в ИВС — unlawful detention", "hearings": [{"date": "2026-05-01", "outcome": null}]}
JSON
rec=$(tk "$H" new case --vault bishkek-cases "$TMP/case.json")
echo "$rec" | grep -Eq '^[0-9a-f]{32}$' || fail "new printed '$rec'"
rec2=$(echo '{"witness_alias":"W-3","consent":"recorded","narrative":"seen at the station"}' |
  tk "$H" new testimony --vault testimonies -)
tk "$H" list >"$TMP/list"
grep -q "^$rec  case .*Пытки в ИВС" "$TMP/list" || { cat "$TMP/list"; fail "list lacks the case"; }
grep -q "^$rec2  testimony .*W-3" "$TMP/list" || { cat "$TMP/list"; fail "list lacks testimony"; }
[ "$(tk "$H" list --type case --json | jq -r '.[].id')" = "$rec" ] || fail "list --type"
[ "$(tk "$H" list --vault testimonies --json | jq -r '.[].id')" = "$rec2" ] || fail "list --vault"
tk "$H" show "$rec" | jq -S . >"$TMP/shown"
jq -S . "$TMP/case.json" >"$TMP/orig"
cmp -s "$TMP/shown" "$TMP/orig" || { diff "$TMP/orig" "$TMP/shown"; fail "show differs from input"; }
[ "$(tk "$H" show "${rec:0:8}" --json | jq -r .body.client_alias)" = "Client K-2" ] ||
  fail "show by prefix --json"

step "edit and history"
jq '.status = "closed"' "$TMP/case.json" >"$TMP/case2.json"
rev2=$(tk "$H" edit "$rec" "$TMP/case2.json")
[ "$(tk "$H" show "$rec" | jq -r .status)" = closed ] || fail "edit not shown"
tk "$H" history "$rec" --json >"$TMP/hist"
[ "$(jq length "$TMP/hist")" = 2 ] || fail "history length"
rev1=$(jq -r '.[0].revision' "$TMP/hist")
[ "$(jq -r '.[1].revision' "$TMP/hist")" = "$rev2" ] || fail "history order"
[ "$(jq -r '.[1].parents[0]' "$TMP/hist")" = "$rev1" ] || fail "parent link"
[ "$(jq -r '.[1].generation' "$TMP/hist")" = 2 ] || fail "generation"
[ "$(jq -r '.[1].author' "$TMP/hist")" = "$id" ] || fail "author"
[ "$(tk "$H" show "$rec" --rev "${rev1:0:12}" | jq -r .status)" = open ] || fail "show --rev"
run_expect 0 tk "$H" history "$rec"
out_has "${rev2:0:16}  gen 2"
out_has "(bishkek-office)"

step "delete keeps history"
run_expect 0 tk "$H" delete "$rec"
run_expect 1 tk "$H" delete "$rec"
err_has "already deleted"
tk "$H" list >"$TMP/list"
grep -q "$rec" "$TMP/list" && fail "deleted record still listed"
tk "$H" list --all | grep -q "^$rec .*(deleted)" || fail "list --all lacks the deleted record"
[ "$(tk "$H" history "$rec" --json | jq length)" = 3 ] || fail "history after delete"
[ "$(tk "$H" show "$rec" --rev "$rev2" | jq -r .status)" = closed ] || fail "old revision lost"

step "verify"
run_expect 0 tk "$H" verify
out_has "2 records, 4 revisions: 4 verified, 0 failed"
[ "$(tk "$H" verify --json | jq .ok)" = 4 ] || fail "verify --json"
echo "ok"
