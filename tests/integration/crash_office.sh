# Crash safety of an office: a large pull (4000 records, several batches)
# is killed with SIGKILL at random points, several times (the points are
# scaled by how long an uninterrupted pull of the same data took another
# office, so they land mid-pull on a fast build and under ASan alike). After each kill
# the office's store passes `tunduk verify` and PRAGMA integrity_check, its
# denormalised tables agree with its revisions, and the pull checkpoint is
# atomic with what was stored: every hub revision at or below it is
# present. When a pull completes before its kill, the office's store is
# put back to its empty state after enrollment (like restoring an old
# backup), so the next kill again lands mid-pull. A final sync leaves
# the office with exactly the hub's set of revisions, no duplicate, every
# one verified.
#
#   TK_CRASH_OFFICE_KILLS  SIGKILLs that land mid-sync (default 6;
#                          tools/reliability-long.sh runs more)
#   TK_SEED                reproduces the kill points
# Prints "RESULT crash_office kills=K checkpoint_revisions_checked=N lost=0".
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SEED=${TK_SEED:-$RANDOM}
RANDOM=$SEED
KILLS=${TK_CRASH_OFFICE_KILLS:-6}
echo "seed $SEED (rerun with TK_SEED=$SEED), $KILLS kills"

new_hub "$TMP/hub"
start_hub
two_offices bulk r
office_sql "$B" ".backup '$TMP/b-empty.db'"   # enrolled, nothing pulled yet
chmod 600 "$TMP/b-empty.db"

# fill_hub N: office A makes N records of ~1 kB and pushes them.
fill_hub() {
  run_expect 0 "$BIN/tk_fill" --home "$A" --vault bulk --count "$1" --size 800
  sync_ok "$A"
}
step "office a pushes 4000 records"
fill_hub 4000
hub_total() { sqlite3 -cmd ".timeout 5000" "$HUB_HOME/store.db" "select count(*) from revisions"; }
# b_count: office b's revisions (read while its sync may be writing, so
# with a busy timeout: opening a WAL store can briefly be locked)
b_count() { sqlite3 -cmd ".timeout 5000" "$B/store.db" "select count(*) from revisions"; }
echo "   hub holds $(hub_total) revisions, $(hub_sql "select sum(size) from revisions") bytes"

step "office c pulls it all uninterrupted: how long a whole pull takes here"
enroll_office "$TMP/c" office-c bulk:r
t0=$(date +%s%N)
sync_ok "$TMP/c"
FULL_MS=$((($(date +%s%N) - t0) / 1000000))
[ "$(rev_ids "$TMP/c")" = "$(hub_sql "select hex(id) from revisions order by 1")" ] ||
  fail "office c's uninterrupted pull does not match the hub"
echo "   $FULL_MS ms"
# nap MS: sleeps MS milliseconds.
nap() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# check_b: the checks on office b's store after a kill.
CHECKED=0
check_b() {
  local got lost
  # tunduk's own open first: it recovers the WAL as the next sync would
  run_expect 0 tk "$B" verify
  out_has " 0 failed"
  got=$(office_sql "$B" "PRAGMA integrity_check")
  [ "$got" = ok ] || fail "pull $attempts: office b integrity_check says: $got"
  got=$(office_sql "$B" "select
      (select count(*) from records) = (select count(distinct record_id) from revisions),
      (select count(*) from records r where nheads !=
        (select count(*) from heads h where h.record_id = r.id)),
      (select count(*) from revisions where origin is null)")
  [ "$got" = "1|0|0" ] || fail "pull $attempts: office b's records, heads or origins are inconsistent ($got)"
  # the pull checkpoint moves in the same transaction as the revisions:
  # every hub revision at or below it is here, and nothing is here that
  # the hub lacks
  read -r below lost extra < <(office_sql "$B" "
    attach 'file:$HUB_HOME/store.db?mode=ro' as hub;
    with ck as (select coalesce(max(seq), 0) as s from main.checkpoints where dir = 1)
    select (select count(*) from hub.revisions where seq <= (select s from ck)),
      (select count(*) from hub.revisions where seq <= (select s from ck)
        and id not in (select id from main.revisions)),
      (select count(*) from main.revisions where id not in (select id from hub.revisions))" |
    tr '|' ' ')
  [ "$lost" = 0 ] ||
    fail "pull $attempts: $lost of the $below hub revisions under office b's pull checkpoint are missing"
  [ "$extra" = 0 ] || fail "pull $attempts: office b holds $extra revisions the hub does not"
  CHECKED=$((CHECKED + below))
}

step "office b pulls, killed with SIGKILL at random points"
killed=0 attempts=0 completed=0
while [ "$killed" -lt "$KILLS" ]; do
  attempts=$((attempts + 1))
  [ "$attempts" -le $((KILLS * 4)) ] || fail "only $killed of $attempts pulls could be killed"
  if [ "$(b_count)" = "$(hub_total)" ]; then
    echo "   office b is up to date: back to its empty store, to pull it all again"
    rm -f "$B"/store.db*
    cp -p "$TMP/b-empty.db" "$B/store.db"
  fi
  before=$(b_count)
  left_ms=$((FULL_MS * ($(hub_total) - before) / $(hub_total) + 1))
  "$BIN/tunduk" --home "$B" sync >"$TMP/b.out" 2>"$TMP/b.err" &
  victim=$!
  BG_PIDS+=("$victim")
  # the kill point, by one of three ways: "delay" a random time within
  # what the rest of the pull should take (office c's whole pull, scaled by
  # the part b lacks); "batch" just after a batch was committed (b's
  # revision count grew) plus up to a quarter of that; "write" the moment
  # b's WAL changes (mid-commit) after a random delay
  case $((RANDOM % 3)) in
  0)
    how=delay
    nap $(((RANDOM * 32768 + RANDOM) % left_ms))
    ;;
  1)
    how=batch
    for _ in $(seq 1 500); do
      [ "$(b_count)" = "$before" ] || break
      kill -0 "$victim" 2>/dev/null || break
      sleep 0.02
    done
    nap $((RANDOM % (left_ms / 4 + 1)))
    ;;
  2)
    how=write
    nap $((RANDOM % left_ms))
    sig=$(stat -c '%s %y' "$B/store.db-wal" 2>/dev/null || true)
    for _ in $(seq 1 4000); do
      [ "$(stat -c '%s %y' "$B/store.db-wal" 2>/dev/null || true)" = "$sig" ] || break
      kill -0 "$victim" 2>/dev/null || break
    done
    ;;
  esac
  if kill -KILL "$victim" 2>/dev/null; then
    wait "$victim" 2>/dev/null || true
    what="killed"
  else
    rc=0
    wait "$victim" || rc=$?
    [ "$rc" = 0 ] || { cat "$TMP/b.err" >&2; fail "office b's sync failed ($rc) before its kill"; }
    what="completed before the kill"
  fi
  BG_PIDS=("${BG_PIDS[@]:0:${#BG_PIDS[@]}-1}")
  [ "$what" = killed ] && killed=$((killed + 1)) || completed=$((completed + 1))
  check_b
  echo "   pull $attempts ($how): $what with $(b_count) of $(hub_total) revisions;" \
    "the $below under its checkpoint all present"
  hub_alive
done

step "a final sync completes the pull"
run_expect 0 tk "$B" sync --json
echo "   $(jq -c '{received, duplicates, seconds}' "$TMP/out")"
total=$(hub_total)
rev_ids "$B" >"$TMP/revs_b"
hub_sql "select hex(id) from revisions order by 1" >"$TMP/revs_hub"
cmp -s "$TMP/revs_b" "$TMP/revs_hub" || fail "office b and the hub hold different revisions"
[ "$(sort -u "$TMP/revs_b" | wc -l)" = "$total" ] || fail "duplicate revision ids in office b"
[ "$(tk "$B" list --json | jq length)" = "$total" ] || fail "office b does not list $total records"
run_expect 0 tk "$B" verify
out_has " $total revisions: $total verified, 0 failed"
[ "$(office_sql "$B" "PRAGMA integrity_check")" = ok ] || fail "office b integrity at the end"
run_expect 0 tk "$B" sync --json
[ "$(jq .received "$TMP/out")" = 0 ] || fail "a no-op sync received revisions"
hub_alive
stop_hub
echo "RESULT crash_office kills=$killed checkpoint_revisions_checked=$CHECKED lost=0" \
  "completed_before_kill=$completed revisions=$total"
echo ok
