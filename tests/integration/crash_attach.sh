# Crash safety of attachments: an office pushes a large attachment through
# a link of about 5 MB/s while the hub is killed with SIGKILL at random
# points of the transfer and restarted; then a reading office is killed
# the same way while it pulls the chunks. After every kill, on a copy of
# exactly what the dead process left on disk: integrity_check is ok, every
# stored chunk still hashes to its id (`tunduk verify`), and no chunk
# committed before the kill is gone. Each restart resumes where the last
# transfer stopped; at the end the reader gets a byte-identical file.
#
#   TK_CRASH_KILLS   kills of each side (default 3; reliability-long.sh
#                    runs more)
#   TK_SEED          reproduces the kill timing
# Prints "RESULT crash_attach hub_kills=K office_kills=K lost=0".
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SEED=${TK_SEED:-$RANDOM}
RANDOM=$SEED
KILLS=${TK_CRASH_KILLS:-3}
MIB=$((8 * KILLS + 8))
echo "seed $SEED (rerun with TK_SEED=$SEED), $KILLS kills each side, a $MIB MiB file"

new_hub "$TMP/hub"
start_hub
PORT=$HUB_PORT
two_offices files r
head -c $((MIB << 20)) /dev/urandom >"$TMP/audio.bin"
NCHUNKS=$((MIB * 4))
REC=$(new_record "$A" files "a testimony recording")
run_expect 0 tk "$A" attach "$REC" "$TMP/audio.bin" --name testimony.ogg

# a link of about 5 MB/s between the offices and the hub
"$BIN/bench_linkproxy" --listen 127.0.0.1:0 --to "127.0.0.1:$PORT" --rtt-ms 2 --kbit 40000 \
  >"$TMP/link.log" 2>&1 &
BG_PIDS+=("$!")
for _ in $(seq 50); do grep -q listening "$TMP/link.log" && break; sleep 0.1; done
LINK=$(sed -n 's/^listening //p' "$TMP/link.log")
[ -n "$LINK" ] || fail "bench_linkproxy did not start"
set_hub_addr "$A" "$LINK"
set_hub_addr "$B" "$LINK"

# (a reader may meet the lock of a restart's recovery: it waits up to 5 s)
chunks_in() { sqlite3 -cmd ".timeout 5000" "$1/store.db" "select count(*) from chunks"; }
# check_copy HOME PASS LABEL: a copy of what is on disk now is intact and
# keeps at least $2 chunks
check_copy() {
  local copy=$TMP/copy
  rm -rf "$copy"
  mkdir -p "$copy"
  cp "$1"/device.key "$1"/store.db* "$copy"/
  [ "$(sqlite3 "$copy/store.db" 'pragma integrity_check')" = ok ] || fail "$3: integrity_check"
  local have
  have=$(chunks_in "$copy")
  [ "$have" -ge "$2" ] || fail "$3: $have chunks on disk after the kill, $2 were committed before"
  TUNDUK_PASSPHRASE=$4 "$BIN/tunduk" --home "$copy" verify --json >"$TMP/verify.json" ||
    { cat "$TMP/verify.json"; fail "$3: verify failed"; }
  [ "$(jq .bad_chunks "$TMP/verify.json")" = 0 ] || fail "$3: a damaged chunk"
  echo "   $3: $have chunks intact on disk"
}
# kill_during HOME_WATCHED PID: SIGKILL once the watched store has a few
# more chunks (random) than now; prints the count committed before the kill
kill_during() {
  local start want n i
  start=$(chunks_in "$1")
  want=$((start + 2 + RANDOM % 12))
  for i in $(seq 1 1500); do
    n=$(chunks_in "$1")
    [ "$n" -ge "$want" ] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.01
  done
  n=$(chunks_in "$1")
  if ! kill -KILL "$2" 2>/dev/null; then
    echo "   (the process had already ended: $(tail -1 "$TMP/sync.out" 2>/dev/null))" >&2
  fi
  echo "$n"
}

step "SIGKILL the hub during the chunk push, $KILLS times"
for k in $(seq 1 "$KILLS"); do
  "$BIN/tunduk" --home "$A" sync >"$TMP/sync.out" 2>&1 &
  office_pid=$!
  before=$(kill_during "$HUB_HOME" "$HUB_PID")
  wait "$HUB_PID" 2>/dev/null || true
  wait "$office_pid" 2>/dev/null || true
  [ "$before" -lt "$NCHUNKS" ] || fail "the push finished before kill $k: make the file larger"
  check_copy "$HUB_HOME" "$before" "hub kill $k" "$TUNDUKD_PASSPHRASE"
  start_hub "$PORT"
done
run_expect 0 tk "$A" sync --json
[ "$(hub_sql 'select count(*) from chunks')" = "$NCHUNKS" ] || fail "the hub lacks chunks"
echo "   resumed: $(jq -c '{chunks_sent, chunk_bytes_out}' "$TMP/out")"

step "SIGKILL the reading office during the chunk pull, $KILLS times"
for k in $(seq 1 "$KILLS"); do
  "$BIN/tunduk" --home "$B" sync >"$TMP/sync.out" 2>&1 &
  office_pid=$!
  before=$(kill_during "$B" "$office_pid")
  wait "$office_pid" 2>/dev/null || true
  [ "$before" -lt "$NCHUNKS" ] || fail "the pull finished before kill $k: make the file larger"
  check_copy "$B" "$before" "office kill $k" "$TUNDUK_PASSPHRASE"
done
run_expect 0 tk "$B" sync
run_expect 0 tk "$B" get "$REC" testimony.ogg -o "$TMP/got.bin"
cmp "$TMP/audio.bin" "$TMP/got.bin" || fail "the file differs after the kills"
run_expect 0 tk "$B" verify
hub_alive
echo "RESULT crash_attach hub_kills=$KILLS office_kills=$KILLS lost=0"
