# Crash safety of the hub: three offices push (and pull) concurrently, each
# in a loop of "make records quickly with tk_fill, then sync", while the
# hub is killed with SIGKILL at random moments and restarted on the same
# home and port. After every kill, on a copy of exactly what the dead hub
# left on disk (store.db and its WAL): PRAGMA integrity_check is ok,
# `tunduk verify` (the hub home has the office layout: device.key +
# store.db) re-checks every revision's hash, signature and parents with no
# failure, and every revision an office has marked as acknowledged (its
# own revisions, origin NULL, at or below its push checkpoint) is in it.
# After every restart the live store passes integrity_check again, and the
# hub never logs an error (its log shows every restart's work). At the
# end a final sync round converges every office and the hub, with no
# duplicate, and verify passes everywhere.
#
#   TK_CRASH_KILLS   number of SIGKILLs (default 8; tools/reliability-long.sh
#                    runs 60)
#   TK_SEED          reproduces the kill timing and record counts
#   TK_CRASH_MAX     records each office makes at most (default 3000)
# Prints "RESULT crash_hub kills=K acked_checked=N lost=0" at the end.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SEED=${TK_SEED:-$RANDOM}
RANDOM=$SEED
KILLS=${TK_CRASH_KILLS:-8}
MAXREC=${TK_CRASH_MAX:-3000}
echo "seed $SEED (rerun with TK_SEED=$SEED), $KILLS kills"

new_hub "$TMP/hub"
start_hub
PORT=$HUB_PORT
A=$TMP/a B=$TMP/b C=$TMP/c
enroll_office "$A" office-a shared:rw
enroll_office "$B" office-b shared:rw
B_ID=$OFFICE_ID
enroll_office "$C" office-c shared:rw
C_ID=$OFFICE_ID
OFFICES=("$A" "$B" "$C")
run_expect 0 tk "$A" vault create shared
run_expect 0 tk "$A" vault grant shared "$B_ID"
run_expect 0 tk "$A" vault grant shared "$C_ID"
sync_ok "$B"
sync_ok "$C"

# drop_bg PID: PID is gone; forget it (the cleanup must never signal a
# process id that may have been reused).
drop_bg() {
  local keep=() p
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BG_PIDS=(${keep[@]+"${keep[@]}"})
}
kill_hub() {
  kill -KILL "$HUB_PID"
  wait "$HUB_PID" 2>/dev/null || true
  drop_bg "$HUB_PID"
}

# office_loop HOME SEED: until $TMP/stop exists, makes 5-60 small records
# or, one time in five, 200-600 larger ones (while under its paced share
# of MAXREC)
# and syncs; logs each sync's JSON (success) or
# stderr (failure) to HOME.syncs / HOME.fails.
office_loop() {
  set +e
  local home=$1 n mine size k
  RANDOM=$2
  while [ ! -e "$TMP/stop" ]; do
    mine=$(sqlite3 -cmd ".timeout 5000" "$home/store.db" "select count(*) from revisions where origin is null")
    # paced: by kill k, at most MAXREC * k / KILLS records (so the last
    # kills of a long run still find new pushes in flight)
    k=$(cat "$TMP/kill_no" 2>/dev/null || echo 1)
    if [ "${mine:-0}" -lt $((MAXREC * k / KILLS)) ]; then
      n=$((5 + RANDOM % 56)) size=$((100 + RANDOM % 900))
      # now and then a push of several batches (batch_bytes is 1 MiB)
      [ $((RANDOM % 5)) != 0 ] || n=$((200 + RANDOM % 400)) size=$((2000 + RANDOM % 1000))
      "$BIN/tk_fill" --home "$home" --vault shared --count "$n" --size "$size" \
        >/dev/null 2>>"$home.fails" || echo "tk_fill failed" >>"$home.fails"
    fi
    if "$BIN/tunduk" --home "$home" sync --json >"$home.out" 2>"$home.err"; then
      jq -c . "$home.out" >>"$home.syncs"
    else
      cat "$home.err" >>"$home.fails"
      sleep 0.$((1 + RANDOM % 3))
    fi
  done
}

# check_snapshot: copies the dead hub's store (db + WAL, as the crash left
# them) and checks it: integrity, verify, acknowledged revisions present.
# Adds to CHECKED the acknowledged revisions it checked.
CHECKED=0
check_snapshot() {
  local snap=$TMP/snap o ack missing got
  rm -rf "$snap"
  mkdir -m 700 "$snap"
  cp "$HUB_HOME/device.key" "$HUB_HOME/store.db" "$snap/"
  [ ! -e "$HUB_HOME/store.db-wal" ] || cp "$HUB_HOME/store.db-wal" "$snap/"
  got=$(sqlite3 "$snap/store.db" "PRAGMA integrity_check")
  [ "$got" = ok ] || fail "hub store after kill $k: integrity_check says: $got"
  TUNDUK_PASSPHRASE=$TUNDUKD_PASSPHRASE run_expect 0 tk "$snap" verify
  out_has " 0 failed"
  got=$(sqlite3 "$snap/store.db" "select count(*) from revisions")
  out_has " $got revisions:"
  for o in "${OFFICES[@]}"; do
    # one statement: the checkpoint and the revisions under it are read
    # from one snapshot of the office store (its loop goes on meanwhile)
    read -r ack missing < <(sqlite3 -cmd ".timeout 5000" -separator ' ' "$o/store.db" "
      attach 'file:$snap/store.db?mode=ro' as hub;
      with ck as (select coalesce(max(seq), 0) as s from main.checkpoints where dir = 0)
      select count(*), count(*) - count(h.id) from main.revisions r
        left join hub.revisions h on h.id = r.id
        where r.origin is null and r.seq <= (select s from ck)")
    [[ "$ack $missing" =~ ^[0-9]+\ [0-9]+$ ]] ||
      fail "kill $k: cannot read $(basename "$o")'s push checkpoint and revisions"
    if [ "$missing" != 0 ]; then
      sqlite3 -cmd ".timeout 5000" "$o/store.db" "attach 'file:$snap/store.db?mode=ro' as hub;
        select r.seq, hex(r.id) from main.revisions r where r.origin is null
          and r.seq <= (select max(seq) from checkpoints where dir = 0)
          and r.id not in (select id from hub.revisions) limit 10" >&2
      fail "kill $k: $missing of $ack revisions $(basename "$o") had acknowledged are missing at the hub"
    fi
    CHECKED=$((CHECKED + ack))
    ACKED[$o]=$ack
  done
}
declare -A ACKED

step "three offices sync in loops while the hub is killed $KILLS times"
rm -f "$TMP/stop"
LOOPS=()
i=0
for o in "${OFFICES[@]}"; do
  i=$((i + 1))
  office_loop "$o" $((SEED * 3 + i)) &
  LOOPS+=($!)
  BG_PIDS+=($!)
done
# wait_for_kill: picks the moment of the next kill, by one of four ways
# (printed): "any" a random 0.2-2 s after the restart (startup,
# handshakes, idle or busy); "session" 0-0.8 s after a device's hello
# reaches the new hub (mid-push or mid-pull, mostly); "ack" 0-0.3 s after
# the new hub acknowledged a batch (between batches, or in the next one);
# "write" the moment the hub's WAL file changes (mid-commit) after a random
# 0.2-1.2 s. The waits for activity give up after 8 s and kill then.
# log_wait PATTERN: waits (8 s at most) for PATTERN in the restarted hub's log.
log_wait() {
  local i
  for i in $(seq 1 400); do
    tail -n +"$((LOG_MARK + 1))" "$HUB_LOG" | grep -q "$1" && return 0
    sleep 0.02
  done
}
wait_for_kill() {
  local i sig now
  case $((RANDOM % 4)) in
  0)
    KILL_HOW=any
    sleep "$((RANDOM % 2)).$((2 + RANDOM % 8))$((RANDOM % 10))"
    ;;
  1)
    KILL_HOW=session
    log_wait "hello device="
    sleep "0.$((RANDOM % 8))$((RANDOM % 10))"
    ;;
  2)
    KILL_HOW=ack
    log_wait "push device=.*accepted="
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    ;;
  3)
    KILL_HOW=write
    sleep "$((RANDOM % 2)).$((2 + RANDOM % 8))"
    sig=$(stat -c '%s %y' "$HUB_HOME/store.db-wal" 2>/dev/null || true)
    for i in $(seq 1 4000); do
      now=$(stat -c '%s %y' "$HUB_HOME/store.db-wal" 2>/dev/null || true)
      [ "$now" = "$sig" ] || break
    done
    ;;
  esac
}
LOG_MARK=0 PROGRESS=0
for k in $(seq 1 "$KILLS"); do
  if [ "$k" = "$KILLS" ]; then
    # the last kill waits until every office has had a whole sync, so
    # that it always has acknowledged revisions to check
    for o in "${OFFICES[@]}"; do
      for _ in $(seq 1 600); do
        [ ! -s "$o.syncs" ] || break
        sleep 0.1
      done
    done
  fi
  echo "$k" >"$TMP/kill_no"
  wait_for_kill
  hub_alive
  kill_hub
  check_snapshot
  prev_count=${hub_count:-0}
  hub_count=$(sqlite3 "$TMP/snap/store.db" "select count(*) from revisions")
  [ "$hub_count" -ge "$prev_count" ] ||
    fail "kill $k: the hub store shrank from $prev_count to $hub_count revisions"
  [ "$hub_count" = "$prev_count" ] || PROGRESS=$((PROGRESS + 1))
  echo "   kill $k ($KILL_HOW): hub had $hub_count revisions;" \
    "acknowledged a=${ACKED[$A]} b=${ACKED[$B]} c=${ACKED[$C]}, all present"
  LOG_MARK=$(wc -l <"$HUB_LOG")
  start_hub "$PORT"
  [ "$HUB_PORT" = "$PORT" ] || fail "the hub came back on port $HUB_PORT, not $PORT"
  got=$(sqlite3 -cmd ".timeout 5000" "$HUB_HOME/store.db" "PRAGMA integrity_check")
  [ "$got" = ok ] || fail "live hub store after restart $k: integrity_check says: $got"
done
touch "$TMP/stop"
for p in "${LOOPS[@]}"; do
  wait "$p" || fail "an office loop exited $?"
  drop_bg "$p"
done

step "what the loops saw"
for o in "${OFFICES[@]}"; do
  touch "$o.syncs" "$o.fails"
  nok=$(wc -l <"$o.syncs")
  nfail=$(grep -c . "$o.fails" || true)
  sent=$(jq -s 'map(.sent) | add // 0' "$o.syncs")
  echo "   $(basename "$o"): $nok syncs ok (sent $sent), $nfail failure lines"
  [ ! -s "$o.fails" ] || sed -E 's/[0-9]+/N/g' "$o.fails" | sort | uniq -c | sed 's/^/      /'
  [ "$nok" -gt 0 ] || fail "$(basename "$o") never completed a sync"
  if grep -E "Sanitizer|damaged|tk_fill failed" "$o.fails" >&2; then
    fail "$(basename "$o") reported more than a lost connection"
  fi
  jq -e -s 'map(.rejected + .refused | length) | add == 0' "$o.syncs" >/dev/null ||
    fail "$(basename "$o") had revisions rejected or refused"
done
echo "   hub log, warnings and errors:"
grep -E '^[^ ]+ (warn|error) ' "$HUB_LOG" | cut -d' ' -f2- | sed -E 's/=[^ ]+/=./g' | sort | uniq -c |
  sed 's/^/     /' || true
if grep -E '^[^ ]+ error ' "$HUB_LOG" >&2; then
  fail "the hub logged errors (a restarted hub failing to store, or worse)"
fi
echo "   $PROGRESS of $KILLS kills found the hub holding more revisions than the previous one"
[ "$CHECKED" -gt 0 ] || fail "no acknowledged revision was ever checked"

step "final syncs: every office and the hub converge"
for o in "${OFFICES[@]}" "${OFFICES[@]}"; do sync_ok "$o"; done
hub_sql "select hex(id) from revisions order by 1" >"$TMP/revs_hub"
total=$(wc -l <"$TMP/revs_hub")
made=0
for o in "${OFFICES[@]}"; do
  made=$((made + $(office_sql "$o" "select count(*) from revisions where origin is null")))
  rev_ids "$o" >"$TMP/revs_o"
  cmp -s "$TMP/revs_o" "$TMP/revs_hub" ||
    fail "$(basename "$o") and the hub hold different revisions after the final syncs"
  [ "$(office_sql "$o" "select count(*) from checkpoints where dir = 0 and seq >=
      (select max(seq) from revisions where origin is null)")" = 1 ] ||
    fail "$(basename "$o")'s push checkpoint is not past its last revision"
  run_expect 0 tk "$o" verify
  out_has " 0 failed"
  out_has " $total revisions: $total verified"
done
[ "$made" = "$total" ] || fail "the offices made $made revisions, the hub holds $total"
[ "$(sort -u "$TMP/revs_hub" | wc -l)" = "$total" ] || fail "duplicate revision ids"
hub_alive
stop_hub
[ "$(hub_sql "PRAGMA integrity_check")" = ok ] || fail "hub store integrity after stopping"
TUNDUK_PASSPHRASE=$TUNDUKD_PASSPHRASE run_expect 0 tk "$HUB_HOME" verify
out_has " $total revisions: 0 verified, 0 failed, $total not decrypted"
echo "   $total revisions everywhere"
echo "RESULT crash_hub kills=$KILLS acked_checked=$CHECKED lost=0 revisions=$total"
echo ok
