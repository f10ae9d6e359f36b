# The worst links (issue 14): pushes and pulls through the shaping proxy
# (tests/bench/bench_linkproxy: one-way delay RTT/2 and a bandwidth cap
# each way, the TCP handshake's round trip charged, 32 KiB queued) with the
# real tundukd and tunduk, `sync --timeout` left at its default.
#   - 600 ms / 256 kbit/s: office A pushes 1,000 records of about 2.2 KB
#     (the peer benchmark's workload, ~2.2 MB, over a minute of link time
#     each way), office B pulls them all; every record arrives, verifies
#     and shows the same;
#   - 600 ms / 32 kbit/s, at the same time on another vault and link:
#     office D pushes TK_BAD_LINK_RECORDS records (default 60, ~135 KB:
#     more than one 64 KiB step, about 35 s each way), office E pulls them.
#     TK_BAD_LINK_FULL=1 (`make test-long`) makes it 1,000 records, about
#     10 minutes each way: too long for the suite.
# The cut link and the office killed mid-pull are bad_link_cuts.sh.
# The 32 kbit/s half runs with the default timeout (30 s): steps are small
# there (16 KiB) and the idle rule watches the send queues every second
# once bytes are pending (core/net/conn_idle.c), so a queue that drains at
# the link's pace before the idle time is up counts as progress.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"
. "$(dirname "$0")/lib/link.sh"
COUNT=1000
SLOW_COUNT=${TK_BAD_LINK_RECORDS:-60}
[ "${TK_BAD_LINK_FULL:-0}" = 1 ] && SLOW_COUNT=${TK_BAD_LINK_RECORDS:-1000}
[[ $SLOW_COUNT =~ ^[1-9][0-9]*$ ]] || fail "TK_BAD_LINK_RECORDS must be a count, not '$SLOW_COUNT'"
FAST=(--rtt-ms 600 --kbit 256 --queue-kb 32)
SLOW=(--rtt-ms 600 --kbit 32 --queue-kb 32)
SLOW_SYNC=() # the defaults must do: --timeout is left at 30 s

new_hub "$TMP/hub"
start_hub
two_offices cases r
D=$TMP/d E=$TMP/e
enroll_office "$D" office-d slow:rw
enroll_office "$E" office-e slow:r
E_ID=$OFFICE_ID
run_expect 0 tk "$D" vault create slow
run_expect 0 tk "$D" vault grant slow "$E_ID"
fill "$A" cases "$COUNT"
fill "$D" slow "$SLOW_COUNT"
size=$(office_sql "$A" "select avg(size) from revisions where vault = 'cases'")
echo "$COUNT records of ${size%.*} B sealed in A, $SLOW_COUNT in D"

# timed_sync HOME LABEL [SYNC_ARGS...]: one sync through the proxy that
# must exit 0, with its time and the proxy's bytes.
timed_sync() {
  local t0 t1 home=$1 label=$2
  shift 2
  t0=$(date +%s)
  run_expect 0 tk "$home" sync "$@"
  t1=$(date +%s)
  proxy_stop >/dev/null
  echo "$label: $((t1 - t0)) s, up=$PROXY_UP down=$PROXY_DOWN bytes"
}

# The 32 kbit/s half, in a subshell beside the 256 kbit/s one: its own
# folder for run_expect's output, its own proxies (killed if it fails).
slow_link() {
  TMP=$TMP/slow
  mkdir -p "$TMP"
  BG_PIDS=()
  trap 'for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' EXIT
  step "32 kbit/s: D pushes $SLOW_COUNT records through 600 ms / 32 kbit/s"
  proxy_start "${SLOW[@]}"
  set_hub_addr "$D" "127.0.0.1:$PROXY_PORT"
  timed_sync "$D" "32 kbit/s push of $SLOW_COUNT" ${SLOW_SYNC[@]+"${SLOW_SYNC[@]}"}
  [ "$PROXY_UP" -gt $((SLOW_COUNT * 2000)) ] || fail "the push moved only $PROXY_UP bytes"
  step "32 kbit/s: E pulls them through the same link"
  proxy_start "${SLOW[@]}"
  set_hub_addr "$E" "127.0.0.1:$PROXY_PORT"
  timed_sync "$E" "32 kbit/s pull of $SLOW_COUNT" ${SLOW_SYNC[@]+"${SLOW_SYNC[@]}"}
  [ "$(vault_revs "$E" slow)" = "$SLOW_COUNT" ] ||
    fail "E holds $(vault_revs "$E" slow) revisions of vault slow, wanted $SLOW_COUNT"
  verify_all "$E" "$SLOW_COUNT"
  same_sample "$D" "$E" slow
  echo "PASS 32 kbit/s"
}
slow_link >"$TMP/slow.log" 2>&1 &
SLOW_PID=$!
BG_PIDS+=("$SLOW_PID")

step "256 kbit/s: A pushes $COUNT records through 600 ms / 256 kbit/s"
proxy_start "${FAST[@]}"
set_hub_addr "$A" "127.0.0.1:$PROXY_PORT"
timed_sync "$A" "256 kbit/s push of $COUNT"
[ "$PROXY_UP" -gt $((COUNT * 2000)) ] || fail "the push moved only $PROXY_UP bytes"
[ "$(hub_sql "select count(*) from revisions where vault = 'cases'")" = "$COUNT" ] ||
  fail "the hub holds $(hub_sql "select count(*) from revisions where vault = 'cases'") of $COUNT"

step "256 kbit/s: B pulls them all through the same link"
proxy_start "${FAST[@]}"
set_hub_addr "$B" "127.0.0.1:$PROXY_PORT"
timed_sync "$B" "256 kbit/s pull of $COUNT"
[ "$PROXY_DOWN" -gt $((COUNT * 2000)) ] || fail "the pull moved only $PROXY_DOWN bytes"
[ "$(vault_revs "$B" cases)" = "$COUNT" ] ||
  fail "B holds $(vault_revs "$B" cases) revisions of vault cases, wanted $COUNT"
[ "$(rev_ids "$B")" = "$(rev_ids "$A")" ] || fail "office B does not hold office A's revisions"
verify_all "$B" "$COUNT"
same_sample "$A" "$B" cases

step "waiting for the 32 kbit/s half"
rc=0
wait "$SLOW_PID" || rc=$?
cat "$TMP/slow.log"
[ "$rc" = 0 ] || fail "the 32 kbit/s half failed (exit $rc)"
hub_alive
echo "PASS bad_link"
