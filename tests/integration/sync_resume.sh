# A sync cut in the middle is repaired by syncing again, re-sending at most
# about one batch: (a) the client is killed with SIGKILL during a large
# push; (b) a fault proxy (tests/tools/tk_proxy) closes the connection
# mid-push, then mid-pull. Each time the next sync converges, nothing is
# duplicated, and what it sends (or receives) is the remainder plus at most
# one batch, far below the whole transfer.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

BATCH=$((1 << 20))          # batch_bytes, PROTOCOL.md section 6
SLACK=$((BATCH + (256 << 10))) # one batch again, plus framing and TLS overhead

new_hub "$TMP/hub"
start_hub
two_offices bulk r

hub_count() { hub_sql "select count(*) from revisions"; }
# bytes the hub lacks of what A holds
missing_bytes() {
  office_sql "$A" "attach '$HUB_HOME/store.db' as hub;
    select coalesce(sum(size), 0) from revisions where id not in (select id from hub.revisions)"
}

step "(a) SIGKILL during a large push"
run_expect 0 "$BIN/tk_fill" --home "$A" --vault bulk --count 6000 --size 2000
total=$(office_sql "$A" "select count(*) from revisions")
full=$(office_sql "$A" "select sum(size) from revisions")
echo "   $total revisions, $full bytes"
[ "$full" -gt $((3 * BATCH)) ] || fail "the push is too small to cut: $full bytes"
"$BIN/tunduk" --home "$A" sync >"$TMP/killed.out" 2>&1 &
victim=$!
for _ in $(seq 1 1000); do
  [ "$(hub_count)" -gt 0 ] && break
  kill -0 "$victim" 2>/dev/null || break
  sleep 0.01
done
kill -KILL "$victim" 2>/dev/null || true
wait "$victim" 2>/dev/null || true
partial=$(hub_count)
echo "   killed with $partial of $total revisions at the hub"
[ "$partial" -lt "$total" ] || fail "the push finished before it could be killed: make it larger"
remaining=$(missing_bytes)
run_expect 0 tk "$A" sync --json
out=$(cat "$TMP/out")
echo "   resumed: $(echo "$out" | jq -c .)"
[ "$(hub_count)" = "$total" ] || fail "hub holds $(hub_count) revisions after resuming, not $total"
[ "$(rev_ids "$A")" = "$(hub_sql 'select hex(id) from revisions order by 1')" ] ||
  fail "office and hub differ after resuming"
[ "$(office_sql "$A" "select count(*) from revisions")" = "$total" ] || fail "the office duplicated revisions"
sent=$(echo "$out" | jq .sent)
bout=$(echo "$out" | jq .bytes_out)
[ "$sent" -le "$((total - partial + 4096))" ] || fail "resumed push sent $sent revisions"
[ "$bout" -le "$((remaining + SLACK))" ] ||
  fail "resumed push sent $bout bytes; $remaining were missing (allowed one batch more)"

step "(b) the proxy cuts the connection mid-push"
run_expect 0 "$BIN/tk_fill" --home "$A" --vault bulk --count 2000 --size 2000
total=$(office_sql "$A" "select count(*) from revisions")
push=$(missing_bytes)
cut=$((push * 6 / 10))
proxy_start --cut-after "$cut" --cut-dir up
set_hub_addr "$A" "127.0.0.1:$PROXY_PORT"
run_expect 1 tk "$A" sync
echo "   cut after $cut of $push bytes: $(tr '\n' ' ' <"$TMP/err")"
partial=$(hub_count)
[ "$partial" -lt "$total" ] || fail "the cut push completed"
remaining=$(missing_bytes)
[ "$remaining" -lt "$push" ] || fail "no batch was committed before the cut at $cut of $push bytes"
run_expect 0 tk "$A" sync --json
out=$(cat "$TMP/out")
echo "   resumed through the proxy: $(echo "$out" | jq -c .)"
bout=$(echo "$out" | jq .bytes_out)
[ "$(hub_count)" = "$total" ] || fail "hub holds $(hub_count) revisions, not $total"
[ "$bout" -le "$((remaining + SLACK))" ] || fail "resumed push sent $bout bytes, $remaining were missing"
# How much the hub committed before the cut depends on the step window in
# flight (up to 2 s of the link's rate), so the check is against what the hub
# lacked: revision bytes beyond that are at most the one step that was in flight.
rbout=$(echo "$out" | jq .rev_bytes_out)
echo "   $remaining of $push bytes were missing at the hub; the resume sent $rbout revision bytes"
[ "$rbout" -le "$((remaining + BATCH))" ] || fail "resumed push sent $rbout revision bytes, $remaining were missing"
proxy_stop
set_hub_addr "$A" "127.0.0.1:$HUB_PORT"

step "(b) the proxy cuts the connection mid-pull"
pull=$(hub_sql "select sum(size) from revisions")
cut=$((pull / 2))
proxy_start --cut-after "$cut" --cut-dir down
set_hub_addr "$B" "127.0.0.1:$PROXY_PORT"
run_expect 1 tk "$B" sync
echo "   cut after $cut of $pull bytes: $(tr '\n' ' ' <"$TMP/err")"
got=$(office_sql "$B" "select count(*) from revisions")
[ "$got" -lt "$total" ] || fail "the cut pull completed"
[ "$got" -gt 0 ] || fail "no pull batch was committed before the cut at $cut of $pull bytes"
have=$(office_sql "$B" "select coalesce(sum(size), 0) from revisions")
run_expect 0 tk "$B" sync --json
out=$(cat "$TMP/out")
echo "   resumed pull: $(echo "$out" | jq -c .)"
bin=$(echo "$out" | jq .bytes_in)
[ "$(rev_ids "$B")" = "$(hub_sql 'select hex(id) from revisions order by 1')" ] ||
  fail "office b and the hub differ after the resumed pull"
[ "$bin" -le "$((pull - have + SLACK))" ] ||
  fail "resumed pull received $bin bytes; $((pull - have)) were missing"
proxy_stop
set_hub_addr "$B" "127.0.0.1:$HUB_PORT"

step "no-op syncs, verified stores"
run_expect 0 tk "$B" sync --json
[ "$(jq .received "$TMP/out")" = 0 ] || fail "a no-op pull received revisions"
run_expect 0 tk "$A" sync --json
[ "$(jq .sent "$TMP/out")" = 0 ] || fail "a no-op push sent revisions"
run_expect 0 tk "$B" verify
out_has " 0 failed"
[ "$(tk "$B" list --json | jq length)" = "$total" ] || fail "office b does not list every record"
hub_alive
stop_hub
echo ok
