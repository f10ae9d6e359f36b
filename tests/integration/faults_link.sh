# Faults on the link: three offices and a hub, each office syncing through
# its own fault proxy (tests/tools/tk_proxy --faults: drops, stalls,
# truncations, corrupted bytes, reconnect storms) for $TK_FAULT_ROUNDS
# rounds (default 15), every office writing new records and editing shared
# ones (conflicts included) between rounds, and every fifth round a small
# attached file each (its chunk crosses the faulty link too). Failed syncs are expected; a
# sync must only ever fail cleanly (exit 1, no crash, no sanitizer
# report). Then clean rounds straight to the hub, after which every
# replica holds the same revisions, heads, winners and attachment chunks,
# `tunduk verify` passes everywhere, every hub revision and chunk hashes
# to its id, and nothing was
# ever rejected or quarantined: TLS turned each corrupted byte into a
# closed connection, never a stored bad record. The hub's handshake and
# idle timeouts are short (2 s, 3 s) so that a connection both ends wait on
# ends quickly.
#
# Long run: TK_FAULT_ROUNDS=200 TK_FAULT_SEED=N bash tests/integration/faults_link.sh
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

ROUNDS=${TK_FAULT_ROUNDS:-15}
SEED=${TK_FAULT_SEED:-7}
RATE=${TK_FAULT_RATE:-60}

new_hub "$TMP/hub"
# A corrupted TLS length field leaves both ends waiting for bytes that
# never come; the hub's timeouts end that (the office's own is 30 s).
HUB_CONFIG=$TMP/hub.conf
printf 'handshake_timeout_ms = 2000\nidle_timeout_ms = 3000\n' >"$HUB_CONFIG"
start_hub
OFFICES=(a b c)
declare -A HOME_OF ID_OF PROXY_PORT_OF PROXY_PID_OF PROXY_OUT_OF SEEN_OF
for o in "${OFFICES[@]}"; do
  HOME_OF[$o]=$TMP/$o
  enroll_office "$TMP/$o" "office-$o" cases:rw
  ID_OF[$o]=$OFFICE_ID
done
A=${HOME_OF[a]}
run_expect 0 tk "$A" vault create cases
run_expect 0 tk "$A" vault grant cases "${ID_OF[b]}"
run_expect 0 tk "$A" vault grant cases "${ID_OF[c]}"
SHARED=()
for i in 1 2 3; do SHARED+=("$(new_record "$A" cases "shared $i")"); done
sync_ok "$A"
sync_ok "${HOME_OF[b]}"
sync_ok "${HOME_OF[c]}"
[ "$(tk "${HOME_OF[c]}" list --json | jq length)" = 3 ] || fail "office c cannot read the shared records"

# proxy_start OFFICE N: office's fault proxy, seeded SEED+N.
proxy_start() {
  local o=$1 out=$TMP/proxy.$1 i port=
  : >"$out"
  "$BIN/tk_proxy" --listen 127.0.0.1:0 --to "127.0.0.1:$HUB_PORT" --faults $((SEED + $2)) \
    --fault-rate "$RATE" --fault-span 2500 --stall-max-ms 1500 >"$out" &
  PROXY_PID_OF[$o]=$!
  BG_PIDS+=("$!")
  PROXY_OUT_OF[$o]=$out
  for i in $(seq 1 100); do
    port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "tk_proxy printed no listening line"
  PROXY_PORT_OF[$o]=$port
  set_hub_addr "${HOME_OF[$o]}" "127.0.0.1:$port"
}
n=0
for o in "${OFFICES[@]}"; do
  n=$((n + 1))
  proxy_start "$o" "$n"
done

# edits OFFICE ROUND: one new record and one edit of a shared record
# (different offices edit the same records: conflicts).
edits() {
  local o=$1 r=$2 home=${HOME_OF[$1]} id
  id=$(case_json "F-$o-$r" "round $r by $o" | tk "$home" new case --vault cases -)
  if [ $((r % 5)) = 0 ]; then # now and then a small file: a chunk on the faulty link
    head -c $((1000 + RANDOM % 3000)) /dev/urandom >"$TMP/file.$o.$r"
    tk "$home" attach "$id" "$TMP/file.$o.$r" >/dev/null
  fi
  case_json "S-$o-$r" "edit $r by $o" |
    tk "$home" edit "${SHARED[$(((r + ${#o}) % 3))]}" - >/dev/null 2>&1 ||
    case_json "S-$o-$r" "edit $r by $o" | tk "$home" edit "${SHARED[0]}" - >/dev/null
}

step "$ROUNDS rounds through fault proxies (seed $SEED, $RATE% of connections faulted)"
ok=0 failed=0
t0=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
  pids=()
  for o in "${OFFICES[@]}"; do
    edits "$o" "$r" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "round $r: an edit failed"; done
  pids=()
  for o in "${OFFICES[@]}"; do
    "$BIN/tunduk" --home "${HOME_OF[$o]}" sync >"$TMP/sync.$o.$r" 2>&1 &
    pids+=($!)
  done
  line=""
  for i in 0 1 2; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    o=${OFFICES[$i]}
    case $rc in
    0) ok=$((ok + 1)) line+=" $o:ok" ;;
    1) failed=$((failed + 1)) line+=" $o:failed" ;;
    *) cat "$TMP/sync.$o.$r" >&2; fail "round $r: office $o's sync exited $rc" ;;
    esac
    if grep -q Sanitizer "$TMP/sync.$o.$r"; then
      cat "$TMP/sync.$o.$r" >&2
      fail "round $r: sanitizer report from office $o"
    fi
  done
  echo "   round $r:$line ($((SECONDS - t0)) s)"
  for o in "${OFFICES[@]}"; do
    # what this round's faults were, and how each failed sync ended
    tail -n +"$((${SEEN_OF[$o]:-0} + 1))" "${PROXY_OUT_OF[$o]}" | grep "^fault" | sed "s/^/     $o: /" || true
    SEEN_OF[$o]=$(wc -l <"${PROXY_OUT_OF[$o]}")
    grep -v "^$" "$TMP/sync.$o.$r" | grep -iv "^sync:\|^pushed\|^pulled" | head -2 | sed "s/^/     $o said: /" || true
  done
  hub_alive
done
echo "   $ok syncs succeeded, $failed failed, in $((SECONDS - t0)) s"

step "the proxies' faults"
for o in "${OFFICES[@]}"; do
  kill -TERM "${PROXY_PID_OF[$o]}"
  wait "${PROXY_PID_OF[$o]}" || fail "tk_proxy of office $o exited non-zero"
  grep -E '^up=[0-9]+ down=[0-9]+ connections=[0-9]+ drop=' "${PROXY_OUT_OF[$o]}" ||
    fail "tk_proxy of office $o printed no totals"
done
cat "${PROXY_OUT_OF[@]}" >"$TMP/faults"
total=0
summary=""
for k in drop stall truncate corrupt storm; do
  c=$(grep -c "^fault $k " "$TMP/faults" || true)
  declare "N_$k=$c"
  total=$((total + c))
  summary+=" $k=$c"
done
echo "   faults injected:$summary (total $total)"
[ "$total" -ge $((ROUNDS / 2)) ] || fail "only $total faults were injected in $ROUNDS rounds"
[ "$failed" -gt 0 ] || fail "no sync failed: the faults did not bite"
[ "$N_corrupt" -gt 0 ] || fail "no byte was corrupted; choose another TK_FAULT_SEED"
[ $((N_drop + N_truncate)) -gt 0 ] || fail "no connection was dropped or truncated"

step "clean rounds straight to the hub"
for o in "${OFFICES[@]}"; do set_hub_addr "${HOME_OF[$o]}" "127.0.0.1:$HUB_PORT"; done
for pass in 1 2; do
  for o in "${OFFICES[@]}"; do sync_ok "${HOME_OF[$o]}"; done
done

step "every replica converged and verifies"
hub_revs=$(hub_sql "select hex(id) from revisions order by 1")
hub_winners=$(hub_sql "select hex(id), hex(winner), nheads from records order by 1")
hub_heads=$(hub_sql "select hex(record_id), hex(rev_id) from heads order by 1, 2")
nrev=$(echo "$hub_revs" | wc -l)
want=$((3 + ROUNDS * 6 + 3 * (ROUNDS / 5)))
[ "$nrev" = "$want" ] ||
  fail "the hub holds $nrev revisions, expected $want (3 + 2 per office and round + attachments)"
hub_chunks=$(hub_sql "select hex(id) from chunks order by 1")
[ "$(hub_sql 'select count(*) from chunks')" = $((3 * (ROUNDS / 5))) ] ||
  fail "the hub holds $(hub_sql 'select count(*) from chunks') chunks, expected one per attachment"
for o in "${OFFICES[@]}"; do
  h=${HOME_OF[$o]}
  [ "$(rev_ids "$h")" = "$hub_revs" ] || fail "office $o's revisions differ from the hub's"
  [ "$(office_sql "$h" "select hex(id), hex(winner), nheads from records order by 1")" = \
    "$hub_winners" ] || fail "office $o's winners differ from the hub's"
  [ "$(office_sql "$h" "select hex(record_id), hex(rev_id) from heads order by 1, 2")" = \
    "$hub_heads" ] || fail "office $o's heads differ from the hub's"
  [ "$(office_sql "$h" "select hex(id) from chunks order by 1")" = "$hub_chunks" ] ||
    fail "office $o's attachment chunks differ from the hub's"
  run_expect 0 tk "$h" verify
  out_has " 0 failed"
  out_has ", 0 damaged"
  [ "$(office_sql "$h" "select count(*) from quarantine")" = 0 ] || fail "office $o quarantined revisions"
done
conflicts=$(hub_sql "select count(*) from records where nheads > 1")
echo "   $nrev revisions, $(hub_sql 'select count(*) from records') records ($conflicts in conflict) on all four"
mkdir "$TMP/blobs"
hub_sql "select writefile('$TMP/blobs/' || lower(hex(id)), bytes) from revisions" >/dev/null
bad=0
for f in "$TMP"/blobs/*; do
  [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=$((bad + 1))
done
[ "$bad" = 0 ] || fail "$bad hub revisions do not hash to their id"
mkdir "$TMP/chunks"
hub_sql "select writefile('$TMP/chunks/' || lower(hex(id)), data) from chunks" >/dev/null
for f in "$TMP"/chunks/*; do
  [ -e "$f" ] || continue
  [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=$((bad + 1))
done
[ "$bad" = 0 ] || fail "$bad hub chunks do not hash to their id"
[ "$(hub_sql "select count(*) from quarantine")" = 0 ] || fail "the hub quarantined revisions"
if grep -E "rejected=[1-9]|quarantined=[1-9]" "$HUB_LOG"; then fail "the hub rejected a revision"; fi
hub_alive
stop_hub
echo "ok: $ROUNDS rounds, faults:$summary, converged"
