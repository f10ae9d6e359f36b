# Three offices and one hub converge: a shared vault created by office A
# and granted to B and C through the hub; records created and edited
# offline everywhere, concurrent offline edits of the same records, syncs in
# random order. At the end every replica holds the same revisions, heads,
# winners and bodies, and verifies; after one office resolves the conflicts
# and everyone syncs, no conflict remains anywhere.
# Reproduce a run with TK_SEED=<the printed seed>.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SEED=${TK_SEED:-$RANDOM}
RANDOM=$SEED
echo "seed $SEED (rerun with TK_SEED=$SEED)"

new_hub "$TMP/hub"
start_hub
A=$TMP/a B=$TMP/b C=$TMP/c
enroll_office "$A" office-a shared:rw
enroll_office "$B" office-b shared:rw
B_ID=$OFFICE_ID
enroll_office "$C" office-c shared:rw
C_ID=$OFFICE_ID
OFFICES=("$A" "$B" "$C")

step "A creates the vault and grants its key to B and C through the hub"
run_expect 0 tk "$A" vault create shared
run_expect 0 tk "$A" vault grant shared "$B_ID"
run_expect 0 tk "$A" vault grant shared "$C_ID"
for o in "$B" "$C"; do
  [ "$(tk "$o" vault list --json | jq '[.[] | select(.name == "shared" and .have_key)] | length')" = 0 ] ||
    fail "$o holds the key before syncing"
  sync_ok "$o"
  [ "$(tk "$o" vault list --json | jq '[.[] | select(.name == "shared" and .have_key)] | length')" = 1 ] ||
    { tk "$o" vault list --json >&2; fail "$(basename "$o") did not get the vault key at sync"; }
done

name_of() { basename "$1"; }
edits=0
# edit_random HOME: edits a random record the office knows (offline).
edit_random() {
  local ids n id
  mapfile -t ids < <(tk "$1" list --json | jq -r '.[].id')
  n=${#ids[@]}
  [ "$n" -gt 0 ] || return 0
  id=${ids[$((RANDOM % n))]}
  edits=$((edits + 1))
  edit_record "$1" "$id" "edit $edits by $(name_of "$1"), seed $SEED" >/dev/null
}
create_one() {
  edits=$((edits + 1))
  new_record "$1" shared "created $edits by $(name_of "$1")" >/dev/null
}
# sync_all_random: every office syncs once, in a random order.
sync_all_random() {
  local order=(0 1 2) i j t
  for i in 2 1; do
    j=$((RANDOM % (i + 1)))
    t=${order[$i]} order[$i]=${order[$j]} order[$j]=$t
  done
  echo "   sync order: ${order[*]}"
  for i in "${order[@]}"; do sync_ok "${OFFICES[$i]}"; done
}

step "offline creation, then random rounds"
for o in "${OFFICES[@]}"; do
  for _ in 1 2 3; do create_one "$o"; done
done
for round in 1 2 3; do
  for o in "${OFFICES[@]}"; do
    for _ in $(seq 0 $((RANDOM % 3))); do
      if [ $((RANDOM % 3)) = 0 ]; then create_one "$o"; else edit_random "$o"; fi
    done
  done
  sync_all_random
done

step "everyone up to date, then concurrent offline edits of the same records"
for o in "${OFFICES[@]}" "$A" "$B"; do sync_ok "$o"; done
mapfile -t common < <(tk "$A" list --json | jq -r '.[].id' | sort)
[ "${#common[@]}" -ge 9 ] || fail "expected at least 9 records, have ${#common[@]}"
R1=${common[0]} R2=${common[1]} R3=${common[2]} R4=${common[3]}
edit_record "$A" "$R1" "a on r1" >/dev/null
edit_record "$B" "$R1" "b on r1" >/dev/null
edit_record "$B" "$R2" "b on r2" >/dev/null
edit_record "$C" "$R2" "c on r2" >/dev/null
for o in "${OFFICES[@]}"; do edit_record "$o" "$R3" "$(name_of "$o") on r3" >/dev/null; done
run_expect 0 tk "$C" delete "$R4"
edit_record "$A" "$R4" "a on r4" >/dev/null
for round in 1 2; do
  for o in "${OFFICES[@]}"; do edit_random "$o"; done
  sync_all_random
done
step "final rounds"
for o in "${OFFICES[@]}" "${OFFICES[@]}"; do sync_ok "$o"; done

# same_everywhere WHAT CMD...: CMD HOME prints the same text for every office.
same_everywhere() {
  local what=$1; shift
  "$@" "$A" >"$TMP/ref"
  for o in "$B" "$C"; do
    "$@" "$o" >"$TMP/cmp"
    cmp -s "$TMP/ref" "$TMP/cmp" || { diff "$TMP/ref" "$TMP/cmp" >&2; fail "$what differs between a and $(name_of "$o")"; }
  done
}
conflicts_norm() { tk "$1" conflicts --json | jq -S 'sort_by(.id) | map(.heads |= sort)'; }
records_norm() {
  local id
  for id in $(tk "$A" list --all --json | jq -r '.[].id' | sort); do
    tk "$1" show "$id" --json | jq -S -c "{id: \"$id\", heads: (.heads | sort), revision, body}"
  done
}

step "converged: revisions, heads, winners, bodies"
rev_ids "$A" >"$TMP/revs_a"
hub_sql "select hex(id) from revisions order by 1" >"$TMP/revs_hub"
cmp -s "$TMP/revs_a" "$TMP/revs_hub" || fail "office a and the hub hold different revisions"
[ "$(wc -l <"$TMP/revs_a")" -ge 30 ] || fail "suspiciously few revisions: $(wc -l <"$TMP/revs_a")"
[ "$(sort -u "$TMP/revs_a" | wc -l)" = "$(wc -l <"$TMP/revs_a")" ] || fail "duplicate revision ids"
same_everywhere "the revision set" rev_ids
same_everywhere "the conflict list" conflicts_norm
same_everywhere "heads, winners or bodies" records_norm
conflicts_norm "$A" >"$TMP/conf"
for r in "$R1" "$R2" "$R3" "$R4"; do
  jq -e --arg r "$r" 'map(select(.id == $r and (.heads | length) >= 2 and .winner != null)) | length == 1' \
    "$TMP/conf" >/dev/null || { cat "$TMP/conf" >&2; fail "record $r should be in conflict"; }
done
[ "$(jq --arg r "$R3" '.[] | select(.id == $r) | .heads | length' "$TMP/conf")" -ge 3 ] ||
  fail "record $R3 was edited by three offices: expected three heads"
for o in "${OFFICES[@]}"; do
  run_expect 0 tk "$o" verify
  out_has " 0 failed"
  # the winner shown is the first head in winner order, the same everywhere
  w=$(tk "$o" show "$R1" --json | jq -r .revision)
  [ "$w" = "$(jq -r --arg r "$R1" '.[] | select(.id == $r) | .winner' "$TMP/conf")" ] ||
    fail "show and conflicts disagree on the winner of $R1 in $(name_of "$o")"
done

step "resolve on one office, sync, no conflict remains"
mapfile -t conflicted < <(jq -r '.[].id' "$TMP/conf")
case_json CV-R1 "resolved by hand" closed >"$TMP/merged.json"
for id in "${conflicted[@]}"; do
  heads_before=$(tk "$B" show "$id" --json | jq -c '.heads | sort')
  if [ "$id" = "$R1" ]; then
    run_expect 0 tk "$B" resolve "$id" "$TMP/merged.json"
  else
    # keep the winner's body, from stdin
    tk "$B" show "$id" --json 2>/dev/null | jq .body >"$TMP/winner.json"
    run_expect 0 tk "$B" resolve "$id" - <"$TMP/winner.json"
  fi
  rev=$(grep -Eo '[0-9a-f]{64}' "$TMP/out" | head -1)
  [ -n "$rev" ] || { cat "$TMP/out"; fail "resolve printed no revision id"; }
  tk "$B" history "$id" --json | jq -e --arg r "$rev" --argjson h "$heads_before" \
    'map(select(.revision == $r and ((.parents | sort) == $h))) | length == 1' >/dev/null ||
    fail "the merge revision of $id does not have every head as a parent"
done
[ "$(tk "$B" show "$R1" --json | jq -r .body.notes)" = "resolved by hand" ] || fail "resolve FILE body"
for o in "$B" "$A" "$C"; do sync_ok "$o"; done
for o in "${OFFICES[@]}"; do
  [ "$(tk "$o" conflicts --json | jq length)" = 0 ] ||
    { tk "$o" conflicts --json >&2; fail "conflicts remain in $(name_of "$o")"; }
  [ "$(tk "$o" show "$R1" --json | jq -r .body.notes)" = "resolved by hand" ] ||
    fail "$(name_of "$o") does not show the resolution"
done
same_everywhere "the revision set after resolving" rev_ids
same_everywhere "heads, winners or bodies after resolving" records_norm
hub_alive
stop_hub
echo ok
