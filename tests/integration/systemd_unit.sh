# tundukd as a systemd service, without systemd as PID 1 (none here): the unit
# dist/systemd/tundukd.service passes `systemd-analyze verify` (with ExecStart
# pointed at this build's tundukd) and its `systemd-analyze security` exposure
# is printed and must stay at or below SYSTEMD_MAX_EXPOSURE; `tundukd serve`
# under a fake $NOTIFY_SOCKET (a datagram listener, as systemd's) sends
# STATUS= while it unlocks, READY=1 only once its port accepts connections,
# WATCHDOG=1 every half $WATCHDOG_USEC (and none when $WATCHDOG_PID is
# another process), RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
# SIGTERM; the passphrase comes from $CREDENTIALS_DIRECTORY/tundukd-passphrase
# when no --passphrase-file is given (a wrong one fails to unlock, and
# --passphrase-file wins over it); with $JOURNAL_STREAM naming its stderr,
# every log line starts with its syslog priority (<3> error, <4> warn, <6>
# info, <7> debug) and carries no time, and with a $JOURNAL_STREAM that names
# another file the lines keep their time. The hub and its plugin workers
# load, moderate a push and reload under the unit's SystemCallFilter= and
# MemoryDenyWriteExecute= (tk_sysfilter; @system-service alone lacks the
# seccomp call each worker jails itself with, and no plugin loaded).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

SRC=${TK_SOURCE_DIR:?}
UNIT=$SRC/dist/systemd/tundukd.service
MAX_EXPOSURE=${SYSTEMD_MAX_EXPOSURE:-2.0}
PY=/usr/bin/python3
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (Debian's systemd package)"

step "systemd-analyze verify"
mkdir -p "$TMP/unit"
# verify checks that ExecStart's program exists: this build's, at the same place in the line.
grep -q '^ExecStart=/usr/bin/tundukd ' "$UNIT" || fail "the unit's ExecStart is not /usr/bin/tundukd"
sed "s|^ExecStart=/usr/bin/tundukd |ExecStart=$BIN/tundukd |" "$UNIT" >"$TMP/unit/tundukd.service"
# --man=no: the man page named in Documentation= is installed by the package, not here.
systemd-analyze verify --man=no "$TMP/unit/tundukd.service" >"$TMP/verify" 2>&1 ||
  { cat "$TMP/verify" >&2; fail "systemd-analyze verify failed"; }
[ ! -s "$TMP/verify" ] || { cat "$TMP/verify" >&2; fail "systemd-analyze verify is not clean"; }
for key in Type=notify WatchdogSec=30 Restart=on-failure User=tunduk StateDirectory=tunduk \
  LoadCredential=tundukd-passphrase: ProtectSystem=strict MemoryDenyWriteExecute=yes \
  'SystemCallFilter=@system-service' NoNewPrivileges=yes 'CapabilityBoundingSet=$'; do
  grep -q "^$key" "$UNIT" || fail "the unit lacks $key"
done

step "systemd-analyze security"
systemd-analyze security --offline=true "$TMP/unit/tundukd.service" >"$TMP/security" 2>&1 ||
  { cat "$TMP/security" >&2; fail "systemd-analyze security failed"; }
grep '✗' "$TMP/security" | sed 's/  */ /g' || true
EXPOSURE=$(sed -n 's/.*Overall exposure level for tundukd.service: \([0-9.]*\).*/\1/p' "$TMP/security")
[ -n "$EXPOSURE" ] || { cat "$TMP/security" >&2; fail "no exposure level in systemd-analyze security"; }
echo "systemd-analyze security exposure=$EXPOSURE (at most $MAX_EXPOSURE)"
awk -v e="$EXPOSURE" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
  fail "exposure $EXPOSURE is above $MAX_EXPOSURE"

# ---- the notify protocol ---------------------------------------------------

# notify_listen: a datagram socket at $TMP/notify.sock, as systemd's; every
# message becomes one line of $NOTIFY_LOG ("TIME FIELD|FIELD..."); a READY=1
# is followed by "connect=ok" or "connect=refused": a TCP connect to
# 127.0.0.1:$PORT made the moment READY=1 arrived.
notify_listen() {
  NOTIFY_SOCK=$TMP/notify.sock NOTIFY_LOG=$TMP/notify.log
  rm -f "$NOTIFY_SOCK"
  : >"$NOTIFY_LOG"
  "$PY" - "$NOTIFY_SOCK" "$NOTIFY_LOG" "$PORT" <<'PY' &
import socket, sys, time
path, log, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write("%.3f %s\n" % (time.monotonic(), msg.strip().replace("\n", "|")))
        if "READY=1" in msg.split("\n"):
            c = socket.socket()
            try:
                c.connect(("127.0.0.1", port))
                out.write("connect=ok\n")
            except OSError:
                out.write("connect=refused\n")
            c.close()
PY
  NOTIFY_PID=$!
  BG_PIDS+=("$NOTIFY_PID")
  local i
  for i in $(seq 1 50); do [ -S "$NOTIFY_SOCK" ] && return 0; sleep 0.1; done
  fail "the notify listener did not start"
}
# wait_notify FIELD N: waits up to 15 s for the Nth message with FIELD.
wait_notify() {
  local i
  for i in $(seq 1 150); do
    [ "$(grep -c -- "$1" "$NOTIFY_LOG")" -ge "$2" ] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$SERVE_LOG" >&2; fail "tundukd serve exited before $1"; }
    sleep 0.1
  done
  cat "$NOTIFY_LOG" "$SERVE_LOG" >&2
  fail "no $1 (#$2) on the notify socket"
}
# serve_bg ENV...: `tundukd serve` on 127.0.0.1:$PORT in the background with
# those variables and its own pid as $WATCHDOG_PID unless ENV sets one; sets
# SERVE_PID, SERVE_LOG (its stderr). EXTRA_ARGS go before "serve".
serve_bg() {
  SERVE_LOG=$TMP/serve.$RANDOM.log
  env "$@" bash -c '[ -n "${WATCHDOG_PID:-}" ] || export WATCHDOG_PID=$$; exec "$0" "${@}"' \
    "$BIN/tundukd" --home "$HUB_HOME" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} serve \
    --listen "127.0.0.1:$PORT" 2>"$SERVE_LOG" &
  SERVE_PID=$!
  BG_PIDS+=("$SERVE_PID")
}
stop_serve() {
  kill -TERM "$SERVE_PID"
  local rc=0 i
  for i in $(seq 1 300); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -KILL "$SERVE_PID"
    cat "$SERVE_LOG" >&2
    fail "tundukd serve did not stop within 30 s of SIGTERM"
  fi
  wait "$SERVE_PID" || rc=$?
  [ "$rc" = 0 ] || { cat "$SERVE_LOG" >&2; fail "tundukd serve exited $rc on SIGTERM"; }
}
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

new_hub "$TMP/hub"
PORT=$(free_port)
EXTRA_ARGS=()

step "READY=1 after the port listens, STATUS= lines, WATCHDOG=1 every half interval"
notify_listen
serve_bg NOTIFY_SOCKET="$NOTIFY_SOCK" WATCHDOG_USEC=2000000
wait_notify 'READY=1' 1
grep -q "^connect=ok$" "$NOTIFY_LOG" || { cat "$NOTIFY_LOG" >&2; fail "READY=1 came before the port accepted connections"; }
grep -q "listening addr=127.0.0.1:$PORT" "$SERVE_LOG" || fail "the hub does not listen on $PORT"
# The order: unlocking, then ready.
head -1 "$NOTIFY_LOG" | grep -q 'STATUS=unlocking the key file' ||
  { cat "$NOTIFY_LOG" >&2; fail "the first message is not STATUS=unlocking the key file"; }
grep 'READY=1' "$NOTIFY_LOG" | grep -q "STATUS=serving on 127.0.0.1:$PORT" ||
  { cat "$NOTIFY_LOG" >&2; fail "READY=1 without STATUS=serving on 127.0.0.1:$PORT"; }
ready_at=$(grep -m1 'READY=1' "$NOTIFY_LOG" | cut -d' ' -f1)
sleep 3.3
pings=$(grep -c 'WATCHDOG=1' "$NOTIFY_LOG" || true)
echo "watchdog pings in 3.3 s at WATCHDOG_USEC=2000000: $pings"
# A ping at once, then every 1 s: 4 in 3.3 s (3 to 5 with scheduling slack).
[ "$pings" -ge 3 ] && [ "$pings" -le 5 ] || { cat "$NOTIFY_LOG" >&2; fail "$pings watchdog pings in 3.3 s, wanted about 4"; }
first_ping=$(grep -m1 'WATCHDOG=1' "$NOTIFY_LOG" | cut -d' ' -f1)
awk -v r="$ready_at" -v p="$first_ping" 'BEGIN { exit !(p >= r) }' || fail "a watchdog ping before READY=1"
grep 'WATCHDOG=1' "$NOTIFY_LOG" | grep -q 'STATUS=serving on .*, 0 connections' ||
  { cat "$NOTIFY_LOG" >&2; fail "the watchdog's STATUS= lacks the connection count"; }
grep -q 'systemd watchdog every_ms=1000' "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; fail "no watchdog log line"; }

step "SIGHUP: RELOADING=1, then READY=1; SIGTERM: STOPPING=1"
kill -HUP "$SERVE_PID"
wait_notify 'READY=1' 2
grep -n 'RELOADING=1\|READY=1' "$NOTIFY_LOG" | tail -2 | head -1 | grep -q 'RELOADING=1' ||
  { cat "$NOTIFY_LOG" >&2; fail "no RELOADING=1 before the second READY=1"; }
grep 'RELOADING=1' "$NOTIFY_LOG" | grep -Eq 'MONOTONIC_USEC=[0-9]+' ||
  { cat "$NOTIFY_LOG" >&2; fail "RELOADING=1 without MONOTONIC_USEC="; }
stop_serve
grep -q 'STOPPING=1' "$NOTIFY_LOG" || { cat "$NOTIFY_LOG" >&2; fail "no STOPPING=1 on SIGTERM"; }
n=$(grep -c 'WATCHDOG=1' "$NOTIFY_LOG")
sleep 1.2
[ "$(grep -c 'WATCHDOG=1' "$NOTIFY_LOG")" = "$n" ] || fail "watchdog pings after the hub stopped"

step "the passphrase from \$CREDENTIALS_DIRECTORY, and no watchdog for another WATCHDOG_PID"
CRED=$TMP/credentials
mkdir -m 0700 "$CRED"
printf '%s\n' "$TUNDUKD_PASSPHRASE" >"$CRED/tundukd-passphrase"
chmod 0400 "$CRED/tundukd-passphrase"
: >"$NOTIFY_LOG"
serve_bg -u TUNDUKD_PASSPHRASE CREDENTIALS_DIRECTORY="$CRED" NOTIFY_SOCKET="$NOTIFY_SOCK" \
  WATCHDOG_USEC=2000000 WATCHDOG_PID=1
wait_notify 'READY=1' 1
sleep 2.2
! grep -q 'WATCHDOG=1' "$NOTIFY_LOG" || { cat "$NOTIFY_LOG" >&2; fail "watchdog pings with WATCHDOG_PID=1 (not the hub)"; }
! grep -q 'systemd watchdog' "$SERVE_LOG" || fail "a watchdog timer with WATCHDOG_PID=1"
stop_serve

# A wrong passphrase in the credential: the hub reads it, and refuses to start.
chmod 0600 "$CRED/tundukd-passphrase"
printf 'not the passphrase\n' >"$CRED/tundukd-passphrase"
serve_bg -u TUNDUKD_PASSPHRASE CREDENTIALS_DIRECTORY="$CRED"
rc=0
wait "$SERVE_PID" || rc=$?
[ "$rc" != 0 ] || fail "tundukd serve started with a wrong passphrase in the credential"
grep -qi 'passphrase' "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; fail "the refusal does not name the passphrase"; }
# --passphrase-file wins over the credential.
printf '%s\n' "$TUNDUKD_PASSPHRASE" >"$TMP/pass"
EXTRA_ARGS=(--passphrase-file "$TMP/pass")
: >"$NOTIFY_LOG"
serve_bg -u TUNDUKD_PASSPHRASE CREDENTIALS_DIRECTORY="$CRED" NOTIFY_SOCKET="$NOTIFY_SOCK"
wait_notify 'READY=1' 1
stop_serve
EXTRA_ARGS=()

step "the hub and its plugin workers under the unit's SystemCallFilter= and MemoryDenyWriteExecute="
# unit_syscalls UNIT: the system calls its SystemCallFilter= lines allow (the
# allow lines' groups expanded by systemd-analyze, less the ~ lines').
unit_syscalls() {
  systemd-analyze syscall-filter >"$TMP/groups" 2>/dev/null
  grep '^SystemCallFilter=' "$1" | sed 's/^SystemCallFilter=//' |
    awk -v groups="$TMP/groups" '
      BEGIN {
        while ((getline line < groups) > 0) {
          if (line ~ /^@/) { g = line; sub(/[ \t].*/, "", g); continue }
          if (line ~ /^    [^ #]/) { m = line; gsub(/[ \t]/, "", m); members[g] = members[g] " " m }
        }
      }
      function expand(name, into,   n, parts, k) {
        if (name !~ /^@/) { into[name] = 1; return }
        if (seen[name]++) return
        n = split(members[name], parts, " ")
        for (k = 1; k <= n; k++) expand(parts[k], into)
      }
      {
        deny = sub(/^~/, "")
        for (k = 1; k <= NF; k++) { delete seen; if (deny) expand($k, denied); else expand($k, allowed) }
      }
      END { for (s in allowed) if (!(s in denied)) print s }' | sort
}
unit_syscalls "$UNIT" >"$TMP/allow"
grep -qx seccomp "$TMP/allow" || fail "the unit's SystemCallFilter= does not allow seccomp: the plugin workers cannot jail themselves"
grep -qx setuid "$TMP/allow" && fail "the unit's SystemCallFilter= allows setuid (@privileged)"
if [ "$(id -u)" = 0 ]; then
  # Run as root (this machine), sqlite gives the -wal and -shm files it makes the
  # database's owner (fchown); as User=tunduk it never calls it.
  printf '%s\n' fchown fchownat chown >>"$TMP/allow"
fi
echo "the unit allows $(wc -l <"$TMP/allow") system calls"
# The jail itself: --mdwe refuses a writable and executable page, and only that.
"$PY" -c 'import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE)' ||
  fail "python3 cannot map a page"
"$BIN/tk_sysfilter" --allow "$TMP/allow" --mdwe -- "$PY" -c 'import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE)' ||
  fail "tk_sysfilter --mdwe refuses a writable page"
rc=0
# (in a shell of its own, whose "Bad system call" notice goes to /dev/null)
bash -c '"$@"; exit $?' - "$BIN/tk_sysfilter" --allow "$TMP/allow" --mdwe -- "$PY" -c \
  'import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)' 2>/dev/null || rc=$?
[ "$rc" = 159 ] || fail "tk_sysfilter --mdwe let a writable, executable page through (exit $rc, wanted SIGSYS)"
SERVE_LOG=$TMP/filtered.log
# In a sanitizer build, no leak check for this one process: LeakSanitizer stops the world
# with ptrace, which no service is allowed (the other runs above check leaks).
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$BIN/tk_sysfilter" --allow "$TMP/allow" --mdwe -- "$BIN/tundukd" --home "$HUB_HOME" serve \
  --listen "127.0.0.1:$PORT" 2>"$SERVE_LOG" &
SERVE_PID=$!
BG_PIDS+=("$SERVE_PID")
for i in $(seq 1 150); do grep -q 'listening addr=' "$SERVE_LOG" && break; sleep 0.1; done
grep -q 'listening addr=' "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; fail "tundukd serve does not start under the unit's filter"; }
HUB_PORT=$PORT
enroll_office "$TMP/office" office-a cases:rw
run_expect 0 tk "$TMP/office" vault create cases
rec=$(new_record "$TMP/office" cases "a record moderated by a jailed worker")
sync_ok "$TMP/office"
kill -HUP "$SERVE_PID"
for i in $(seq 1 50); do [ "$(grep -c 'plugins folder=' "$SERVE_LOG")" -ge 2 ] && break; sleep 0.1; done
stop_serve
! grep -q 'killed by its jail' "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; fail "a plugin worker was killed under the unit's filter"; }
[ "$(grep -c 'plugins .*moderation_rules=1 failed=0 jailed=yes' "$SERVE_LOG")" = 2 ] ||
  { cat "$SERVE_LOG" >&2; fail "the plugins did not load (and reload) in their workers under the unit's filter"; }
grep -q 'push device=.* accepted=[1-9]' "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; fail "the push was not accepted"; }
[ "$(hub_sql "select count(*) from quarantine")" = 0 ] || fail "a record was quarantined (a plugin call failed)"
[ "$(hub_sql "select count(*) from records where hex(id) = upper('$rec')")" = 1 ] ||
  fail "the record is not at the hub"

step "log lines for the journal: a syslog priority, no time"
PLUG=$TMP/plugins
mkdir -p "$PLUG"
cp "$SRC/plugins/case.lua" "$PLUG/"
printf 'this is not lua (\n' >"$PLUG/broken.lua" # a warning: plugin not loaded
printf 'plugins = %s\n' "$PLUG" >"$TMP/tundukd.conf"
JLOG=$TMP/journal.log
: >"$JLOG"
JOURNAL_STREAM=$(stat -c '%d:%i' "$JLOG")
JOURNAL_STREAM=$JOURNAL_STREAM "$BIN/tundukd" --home "$HUB_HOME" serve --listen "127.0.0.1:$PORT" \
  --config "$TMP/tundukd.conf" --log-level debug 2>>"$JLOG" &
SERVE_PID=$!
SERVE_LOG=$JLOG
BG_PIDS+=("$SERVE_PID")
for i in $(seq 1 150); do grep -q 'listening addr=' "$JLOG" && break; sleep 0.1; done
grep -q 'listening addr=' "$JLOG" || { cat "$JLOG" >&2; fail "no listening line"; }
# A debug line: a connection that says nothing and goes.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 3>&-
for i in $(seq 1 50); do grep -q '^<7>' "$JLOG" && break; sleep 0.1; done
# An error: the plugin folder is gone at the reload (the old plugins stay).
rm -rf "$PLUG"
kill -HUP "$SERVE_PID"
for i in $(seq 1 50); do grep -q 'plugin reload failed' "$JLOG" && break; sleep 0.1; done
stop_serve
echo "the journal's lines (first of each priority):"
for p in 3 4 6 7; do grep -m1 "^<$p>" "$JLOG" || true; done
bad=$(grep -Ev '^<(3>error|4>warn|6>info|7>debug) [a-z]+: ' "$JLOG" || true)
[ -z "$bad" ] || { echo "$bad" >&2; fail "log lines without their priority for the journal"; }
! grep -Eq '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}' "$JLOG" || fail "a time in the journal's lines"
for want in '<3>error hub: plugin reload failed' '<4>warn plugin: plugin not loaded' \
  '<6>info hub: listening addr=' '<7>debug '; do
  grep -qF "$want" "$JLOG" || { cat "$JLOG" >&2; fail "no line '$want'"; }
done

# $JOURNAL_STREAM naming another file (stderr redirected): the terminal's format.
OTHER=$TMP/other
: >"$OTHER"
serve_bg JOURNAL_STREAM="$(stat -c '%d:%i' "$OTHER")"
for i in $(seq 1 150); do grep -q 'listening addr=' "$SERVE_LOG" && break; sleep 0.1; done
stop_serve
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info  hub: listening addr=' "$SERVE_LOG" ||
  { cat "$SERVE_LOG" >&2; fail "with stderr not the journal, the lines lost their time"; }
! grep -q '^<' "$SERVE_LOG" || fail "a priority prefix on stderr that is not the journal"
echo "ok"
