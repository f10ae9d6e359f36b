# Shared by the sync scenario tests: a hub on a free loopback port, offices
# enrolled at it, background processes killed at exit. Sourced after
# lib/common.sh, not run.
export TUNDUKD_PASSPHRASE='hub passphrase for the sync tests'
unset TUNDUKD_HOME

BG_PIDS=()
cleanup() {
  local rc=$? pid
  if [ "$rc" != 0 ] && [ -s "${HUB_LOG:-/nonexistent}" ]; then
    echo "---- last lines of the hub log ($HUB_LOG)" >&2
    tail -25 "$HUB_LOG" >&2
  fi
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# hubd ARGS...: the hub binary.
hubd() { "$BIN/tundukd" "$@"; }

# new_hub HOME: makes the hub's identity (fast key derivation); sets HUB_HOME
# and HUB_ID.
new_hub() {
  HUB_HOME=$1
  local out
  out=$(hubd --home "$HUB_HOME" init --name test-hub --kdf interactive)
  HUB_ID=${out#hub device }
  echo "$HUB_ID" | grep -Eq '^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$' || fail "tundukd init printed '$out'"
}

# start_hub [PORT]: serves HUB_HOME on 127.0.0.1:PORT (default 0, a free
# port) in the background, waits for its "listening" line; sets HUB_PORT,
# HUB_PID, HUB_LOG (its stderr, appended across restarts). HUB_CONFIG, when
# set, names a config file for `serve --config`.
start_hub() {
  local port=${1:-0} i
  HUB_LOG=$TMP/hub.log
  local mark
  touch "$HUB_LOG"
  mark=$(wc -l <"$HUB_LOG")
  local conf=()
  [ -z "${HUB_CONFIG:-}" ] || conf=(--config "$HUB_CONFIG")
  "$BIN/tundukd" --home "$HUB_HOME" serve --listen "127.0.0.1:$port" ${conf[@]+"${conf[@]}"} \
    2>>"$HUB_LOG" &
  HUB_PID=$!
  BG_PIDS+=("$HUB_PID")
  HUB_PORT=
  for i in $(seq 1 200); do
    HUB_PORT=$(tail -n +"$((mark + 1))" "$HUB_LOG" |
      sed -n 's/.*listening addr=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' | head -1)
    [ -n "$HUB_PORT" ] && break
    kill -0 "$HUB_PID" 2>/dev/null || { cat "$HUB_LOG" >&2; fail "tundukd serve exited"; }
    sleep 0.1
  done
  [ -n "$HUB_PORT" ] || { cat "$HUB_LOG" >&2; fail "tundukd serve printed no listening line"; }
}

# stop_hub: SIGTERM, and it must exit 0.
stop_hub() {
  kill -TERM "$HUB_PID"
  local rc=0
  wait "$HUB_PID" || rc=$?
  [ "$rc" = 0 ] || { tail -20 "$HUB_LOG" >&2; fail "tundukd serve exited $rc on SIGTERM"; }
}

# hub_alive: the hub is still running, and its log has no sanitizer report.
hub_alive() {
  kill -0 "$HUB_PID" 2>/dev/null || { tail -30 "$HUB_LOG" >&2; fail "the hub died"; }
  if grep -q "Sanitizer" "$HUB_LOG"; then cat "$HUB_LOG" >&2; fail "sanitizer report in hub log"; fi
}

# hub_sql SQL: a query on the hub's store.
hub_sql() { sqlite3 "$HUB_HOME/store.db" "$1"; }
# office_sql HOME SQL: a query on an office's store.
office_sql() { sqlite3 "$1/store.db" "$2"; }

# device_token NAME VAULTSPEC...: prints a fresh enrollment token.
device_token() {
  local name=$1; shift
  local args=() v
  for v in "$@"; do args+=(--vault "$v"); done
  hubd --home "$HUB_HOME" device add "$name" "${args[@]}" --address "127.0.0.1:$HUB_PORT"
}

# enroll_office HOME NAME VAULTSPEC...: a new office (fast key derivation),
# enrolled at the running hub with that access; sets OFFICE_ID.
enroll_office() {
  local home=$1 name=$2; shift 2
  local token
  new_office "$home" "$name"
  token=$(device_token "$name" "$@")
  case $token in tk1-*) ;; *) fail "device add printed '$token'" ;; esac
  run_expect 0 tk "$home" enroll "$token"
  out_has "$HUB_ID"
  OFFICE_ID=$(tk "$home" whoami)
}

# sync_ok HOME: one sync that must succeed.
sync_ok() { run_expect 0 tk "$1" sync; }

# rev_ids HOME: every revision id in a store, sorted.
rev_ids() { sqlite3 "$1/store.db" "select hex(id) from revisions order by 1"; }

# case_json NUMBER NOTES [STATUS]: a valid "case" body (plugins/case.lua).
case_json() {
  jq -cn --arg n "$1" --arg notes "$2" --arg s "${3:-open}" \
    '{case_number: $n, client_alias: "Client T-1", status: $s, notes: $notes}'
}
# new_record HOME VAULT NOTES: creates a case record with those notes;
# prints its id.
CASE_N=0
new_record() { CASE_N=$((CASE_N + 1)); case_json "T-$CASE_N" "$3" | tk "$1" new case --vault "$2" -; }
# edit_record HOME ID NOTES: a new revision of a case with those notes.
edit_record() { CASE_N=$((CASE_N + 1)); case_json "T-$CASE_N" "$3" | tk "$1" edit "$2" -; }

# two_offices VAULT MODE: office A (VAULT:rw) makes the vault and grants its
# key to office B (VAULT:MODE, r or rw); sets A, B and B_ID.
two_offices() {
  A=$TMP/a B=$TMP/b
  enroll_office "$A" office-a "$1:rw"
  enroll_office "$B" office-b "$1:$2"
  B_ID=$OFFICE_ID
  run_expect 0 tk "$A" vault create "$1"
  run_expect 0 tk "$A" vault grant "$1" "$B_ID"
}

# proxy_start TK_PROXY_ARGS...: a tk_proxy to the hub (e.g. --cut-after N
# --cut-dir up --cuts K); sets PROXY_PORT, PROXY_PID, PROXY_OUT. With
# PROXY_BIN set, that proxy instead (the same --listen/--to, listening line
# and totals: tests/bench/bench_linkproxy for a slow link).
proxy_start() {
  PROXY_OUT=$TMP/proxy.$RANDOM
  : >"$PROXY_OUT" # exists before the background job opens it, for the sed below
  "${PROXY_BIN:-$BIN/tk_proxy}" --listen 127.0.0.1:0 --to "127.0.0.1:$HUB_PORT" "$@" >"$PROXY_OUT" 2>"$PROXY_OUT.err" &
  PROXY_PID=$!
  BG_PIDS+=("$PROXY_PID")
  local i
  for i in $(seq 1 100); do
    PROXY_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$PROXY_OUT")
    [ -n "$PROXY_PORT" ] && return 0
    sleep 0.05
  done
  fail "tk_proxy printed no listening line"
}
# proxy_stop: SIGTERM; prints the proxy's totals line and sets PROXY_UP and
# PROXY_DOWN (bytes forwarded each way over all its connections).
proxy_stop() {
  kill -TERM "$PROXY_PID" 2>/dev/null || { cat "$PROXY_OUT.err" >&2; fail "tk_proxy is gone"; }
  wait "$PROXY_PID" || { cat "$PROXY_OUT.err" >&2; fail "tk_proxy exited non-zero"; }
  local totals
  totals=$(grep -E '^up=[0-9]+ down=[0-9]+ connections=[0-9]+' "$PROXY_OUT") || fail "tk_proxy totals"
  echo "$totals"
  PROXY_UP=$(echo "$totals" | sed 's/^up=\([0-9]*\) .*/\1/')
  PROXY_DOWN=$(echo "$totals" | sed 's/.* down=\([0-9]*\) .*/\1/')
}
# set_hub_addr HOME ADDR: points an office at another address (a proxy).
set_hub_addr() { office_sql "$1" "update meta set value = '$2' where key = 'hub_addr'"; }

# slow_office HOME N: office HOME gets a plugin folder of its own with the
# bundled case type and a moderation rule that spins N loop iterations over
# every record it pulls (well inside the per-call instruction limit), so
# storing a pulled batch takes a while (pipelining and race tests).
slow_office() {
  mkdir -p "$1/plugins"
  cp "${TK_SOURCE_DIR:?}/plugins/case.lua" "$1/plugins/"
  cat >"$1/plugins/slow.lua" <<LUA
tunduk.moderation {
  name = "slow",
  check = function(meta, record)
    local x = 0
    for i = 1, $2 do x = x + i end
    return tunduk.accept()
  end,
}
LUA
}
