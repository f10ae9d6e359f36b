# Every size, count and depth that comes from outside, at its limit and one
# past it, through the real binaries (and tests/tools/tk_rogue for what an
# honest client never sends): record body bytes and JSON depth, vault and
# type names, device names, passphrase and enrollment token lengths, the
# hub's config values and config file, frame size at the hub, ids in one
# Offer, parents of one revision, a frame's minimum rate. Limits:
# core/base/tk_common.h, core/wire/tk_wire.h, core/net/tk_conn.h, core/crypto/tk_token.h, core/hub/config.c;
# PROTOCOL.md section 11.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"
ROGUE=$BIN/tk_rogue
SWARM=$BIN/tk_swarm
SRC=${TK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# rep N CHAR: CHAR repeated N times.
rep() { head -c "$1" /dev/zero | tr '\0' "$2"; }

step "passphrase: 1024 bytes (TK_MAX_PASSPHRASE) accepted, 1025 refused"
P1024=$(rep 1024 p)
TUNDUK_PASSPHRASE=$P1024 run_expect 0 tk "$TMP/p1024" init --kdf interactive
TUNDUK_PASSPHRASE=$P1024 run_expect 0 tk "$TMP/p1024" vault create v
TUNDUK_PASSPHRASE=${P1024}q run_expect 2 tk "$TMP/p1025" init --kdf interactive
err_has "passphrase is longer than 1024 bytes"
[ ! -e "$TMP/p1025/store.db" ] || fail "a store was made with a 1025-byte passphrase"
printf '%s\n' "${P1024}q" >"$TMP/pass1025"
run_expect 2 tk "$TMP/p1025" --passphrase-file "$TMP/pass1025" init --kdf interactive
err_has "passphrase is longer than 1024 bytes"
printf '%s\n' "$P1024" >"$TMP/pass1024"
run_expect 0 tk "$TMP/p1024" --passphrase-file "$TMP/pass1024" vault create w

step "device name: 63 bytes accepted, 64 refused (init --name)"
run_expect 0 tk "$TMP/n63" init --name "$(rep 63 n)" --kdf interactive
run_expect 2 tk "$TMP/n64" init --name "$(rep 64 n)" --kdf interactive
[ ! -e "$TMP/n64/store.db" ] || fail "a store was made with a 64-byte name"

O=$TMP/office
new_office "$O" office
step "vault name: 64 bytes (TK_MAX_VAULT_LEN) accepted, 65 refused"
V64=$(rep 64 v)
run_expect 0 tk "$O" vault create "$V64"
run_expect 2 tk "$O" vault create "$(rep 65 v)"
err_has "64"
[ "$(office_sql "$O" "select count(*) from vaults")" = 1 ] || fail "the 65-byte vault was made"

step "content type name: 32 bytes (TK_MAX_TYPE_LEN) accepted, 33 refused"
T32=$(rep 32 t)
T33=$(rep 33 t)
mkdir "$O/plugins"
cat >"$O/plugins/free.lua" <<EOF
tunduk.content_type { name = "$T32", fields = { data = "text", n = "list" } }
EOF
run_expect 0 tk "$O" plugin list
out_has "$T32"
run_expect 0 tk "$O" new "$T32" --vault "$V64" - <<<'{"data": "x"}'
run_expect 2 tk "$O" new "$T33" --vault "$V64" - <<<'{"data": "x"}'
err_has "type"
cat >"$O/plugins/long.lua" <<EOF
tunduk.content_type { name = "$T33", fields = { data = "text" } }
EOF
run_expect 1 tk "$O" plugin list
grep -q "^$T33 " "$TMP/out" && fail "a plugin declared a 33-byte type name"
out_has "long.lua:1: tunduk.content_type: 'name' must be 1 to 32 bytes"
rm "$O/plugins/long.lua"

step "record body: 1 MiB of JSON (TK_MAX_BODY_JSON) accepted, 1 MiB + 1 refused"
# {"data":"xxx..."}: 11 bytes of framing
body_of() { printf '{"data":"%s"}' "$(rep $(($1 - 11)) x)"; }
body_of 1048576 >"$TMP/body.max"
body_of 1048577 >"$TMP/body.over"
[ "$(stat -c %s "$TMP/body.max")" = 1048576 ] || fail "body.max is not 1 MiB"
run_expect 0 tk "$O" new "$T32" --vault "$V64" "$TMP/body.max"
big=$(cat "$TMP/out")
run_expect 0 tk "$O" show "$big" --json
[ "$(jq -r '.body.data // .data' "$TMP/out" | wc -c)" = $((1048576 - 11 + 1)) ] ||
  fail "the 1 MiB body does not read back whole"
run_expect 2 tk "$O" new "$T32" --vault "$V64" "$TMP/body.over"
err_has "record body is larger than 1048576 bytes"
run_expect 2 tk "$O" new "$T32" --vault "$V64" - <"$TMP/body.over"
err_has "larger than 1048576 bytes"

step "record body: JSON nesting 64 (TK_MAX_JSON_DEPTH) accepted, 65 refused"
# nest D: an object D levels deep (the body itself is level 1).
nested() {
  local d=$1 s='1' i
  for ((i = 2; i <= d; i++)); do s="[$s]"; done
  printf '{"data":"d","n":%s}' "$s"
}
# level 1 is the body, level 2 the "n" array ... level D the innermost 1
nested 63 >"$TMP/deep.max" # arrays at levels 2..63, the number at level 64
nested 64 >"$TMP/deep.over"
run_expect 0 tk "$O" new "$T32" --vault "$V64" "$TMP/deep.max"
run_expect 2 tk "$O" new "$T32" --vault "$V64" "$TMP/deep.over"
err_has "nests deeper than 64 levels"
before=$(office_sql "$O" "select count(*) from revisions")
[ "$before" = 3 ] || fail "the office holds $before revisions, expected 3"
run_expect 0 tk "$O" verify
out_has " 0 failed"

step "hub config: each value at its bounds starts; one past refuses with FILE:LINE"
new_hub "$TMP/hub"
# key min max
BOUNDS="handshake_timeout_ms 100 600000
idle_timeout_ms 1000 86400000
max_frame 2162688 4194304
max_connections 1 100000
batch_bytes 4096 3145728
token_ttl_hours 1 8760
max_attachment_mb 1 1024
vault_quota_mb 0 16777216
frame_min_rate 64 1048576
tls_ticket_lifetime_s 0 604800
out_budget_mb 1 4096
auth_timeout_ms 1000 600000
preauth_max_connections 1 100000
preauth_per_address 1 100000"
{
  echo "# the lowest values"
  while read -r k lo hi; do echo "$k = $lo"; done <<<"$BOUNDS"
} >"$TMP/conf.min"
{
  echo "# the highest values"
  while read -r k lo hi; do echo "$k = $hi"; done <<<"$BOUNDS"
} >"$TMP/conf.max"
for which in min max; do
  HUB_CONFIG=$TMP/conf.$which
  start_hub
  hub_alive
  stop_hub
done
while read -r k lo hi; do
  for bad in $((lo - 1)) $((hi + 1)); do
    printf '# line 1\n%s = %s\n' "$k" "$bad" >"$TMP/conf.bad"
    run_expect 2 hubd --home "$TMP/hub" serve --listen 127.0.0.1:0 --config "$TMP/conf.bad"
    if [ "$bad" -lt 0 ]; then # below 0: not a count at all
      err_has "$TMP/conf.bad:2: $k must be a whole number, got '$bad'"
    else
      err_has "$TMP/conf.bad:2: $k must be between $lo and $hi, got $bad"
    fi
  done
done <<<"$BOUNDS"
echo "   $(wc -l <<<"$BOUNDS") keys x (min, max) start; out-of-range values refused with FILE:LINE"

step "hub config: a 1022-byte line and a 64 KiB file load; 1023 and 64 KiB + 1 do not"
PLUG=$SRC/plugins
long_path=$PLUG # "plugins = " (10 bytes) + 1012 bytes of path = 1022
while [ ${#long_path} -lt 1011 ]; do long_path+=/.; done
[ ${#long_path} = 1012 ] || long_path+=/
printf 'plugins = %s\n' "$long_path" >"$TMP/conf.line"
[ "$(head -1 "$TMP/conf.line" | wc -c)" = 1023 ] || fail "conf.line is not 1022 bytes + newline"
HUB_CONFIG=$TMP/conf.line
start_hub
grep -q "plugins folder=.*moderation_rules=1" "$HUB_LOG" || fail "the long plugins path was not used"
stop_hub
printf 'plugins = %s/\n' "$long_path" >"$TMP/conf.line2"
run_expect 2 hubd --home "$TMP/hub" serve --listen 127.0.0.1:0 --config "$TMP/conf.line2"
err_has "$TMP/conf.line2:1: line is longer than 1022 bytes"
echo "max_connections = 50" >"$TMP/conf.64k"
while :; do # comment lines of at most 1001 bytes up to exactly 64 KiB
  left=$((65536 - $(stat -c %s "$TMP/conf.64k")))
  [ "$left" -gt 0 ] || break
  chunk=$((left > 1001 ? 1000 : left))
  printf '#%s\n' "$(rep $((chunk - 2)) c)" >>"$TMP/conf.64k"
done
[ "$(stat -c %s "$TMP/conf.64k")" = 65536 ] || fail "conf.64k is not 64 KiB"
HUB_CONFIG=$TMP/conf.64k
start_hub
stop_hub
{ cat "$TMP/conf.64k"; echo; } >"$TMP/conf.64k1"
run_expect 2 hubd --home "$TMP/hub" serve --listen 127.0.0.1:0 --config "$TMP/conf.64k1"
err_has "config file is larger than 65536 bytes"

step "hub device name: 63 bytes accepted, 64 refused (device add)"
HUB_CONFIG=$TMP/hub.conf
printf 'max_frame = 2162688\nlog_level = debug\n' >"$HUB_CONFIG"
start_hub
run_expect 0 hubd --home "$HUB_HOME" device add "$(rep 63 d)" --vault x
run_expect 2 hubd --home "$HUB_HOME" device add "$(rep 64 d)" --vault x
err_has "device name must be 1 to 63 bytes"

step "enrollment token: 512 characters (TK_TOKEN_MAX_TEXT) parsed, 513 refused unread"
# A real token is far shorter (about 160 characters; at most 464 with a
# 255-byte address), so the limit is probed with 'A's: at 512 the parser
# reads it and finds it damaged, at 513 it refuses it for its length.
A=$TMP/a
new_office "$A" office-a
run_expect 2 tk "$A" enroll "tk1-$(rep 508 A)"
err_has "enrollment token"
grep -q "longer than" "$TMP/err" && fail "a 512-character token was refused for its length"
run_expect 2 tk "$A" enroll "tk1-$(rep 509 A)"
err_has "enrollment token is longer than 512 characters"
token=$(device_token office-a "$V64:rw")
TOKEN_TEXT=$token
run_expect 0 tk "$A" enroll "  $token$(rep 40 ' ')"
out_has "$HUB_ID"

step "frame size at the hub: max_frame (2162688) passes the framing layer, 2162689 closes"
run_expect 0 "$ROGUE" --home "$A" --timeout 10 frame 2162688
out_has "frame bytes=2162688"
grep -q "^error 1 " "$TMP/out" || { cat "$TMP/out"; fail "a frame of max_frame bytes was not decoded"; }
run_expect 0 "$ROGUE" --home "$A" --timeout 10 frame 2162689
grep -q "^closed " "$TMP/out" || { cat "$TMP/out"; fail "no end of connection reported"; }
grep -q "^closed timeout" "$TMP/out" && fail "the hub kept a connection with an oversized frame open"
grep -Eq "^error |^frame [A-Za-z_]+$" "$TMP/out" && { cat "$TMP/out"; fail "the hub answered an oversized frame"; }
grep -q "frame of 2162689 bytes over the limit 2162688" "$HUB_LOG" || fail "the hub did not log the oversized frame"
hub_alive
stop_hub

# tk_swarm loris --kind frame: a header announcing 1000 bytes, then one byte
# every I ms (never idle). A frame in progress may take the idle timeout (1 s
# here) plus what has arrived of it at frame_min_rate: the announced length
# does not count, so it must keep above the rate.
step "frame_min_rate: at 1048576 (max) a trickled frame is cut after ~1 s; at 64 (min) one at 100 B/s stays"
printf 'idle_timeout_ms = 1000\nframe_min_rate = 1048576\nlog_level = debug\n' >"$TMP/rate.conf"
HUB_CONFIG=$TMP/rate.conf
start_hub
run_expect 0 "$SWARM" loris --home "$A" --to "127.0.0.1:$HUB_PORT" --count 2 --kind frame \
  --interval-ms 200 --max 8
out_has "loris kind=frame count=2 closed=2 open=0"
last=$(sed -n 's/.*last_close=\([0-9]*\)\..*/\1/p' "$TMP/out")
[ "$last" -le 4 ] || fail "trickled frames were cut only after $last s (allowance about 1 s)"
grep -q "arrives slower than 1048576 bytes/s" "$HUB_LOG" || fail "the hub did not log the slow frame"
stop_hub
printf 'idle_timeout_ms = 1000\nframe_min_rate = 64\n' >"$TMP/rate.conf"
start_hub
run_expect 0 "$SWARM" loris --home "$A" --to "127.0.0.1:$HUB_PORT" --count 2 --kind frame \
  --interval-ms 10 --max 4
out_has "loris kind=frame count=2 closed=0 open=2"
run_expect 0 "$SWARM" loris --home "$A" --to "127.0.0.1:$HUB_PORT" --count 2 --kind frame \
  --interval-ms 200 --max 4
out_has "loris kind=frame count=2 closed=2 open=0"
hub_alive
stop_hub
# An authenticated device that announces the largest frame (2 MiB + 64 KiB
# here) and sends 5 B/s: by its length it would have had 1 s + 2112 s; by
# what arrives it has about 1 s.
step "frame_min_rate (default 1024): a trickled max_frame announcement is cut after ~1 s, not ~2113 s"
printf 'idle_timeout_ms = 1000\nmax_frame = 2162688\nlog_level = debug\n' >"$TMP/rate.conf"
start_hub
run_expect 0 "$ROGUE" --home "$A" --to "127.0.0.1:$HUB_PORT" --timeout 10 --interval-ms 200 \
  trickle 2162688
out_has "hello enrolled=1"
grep -Eq "^closed .* after [0-3]\.[0-9] s" "$TMP/out" || { cat "$TMP/out"; fail "the trickled 2 MiB frame was not cut within ~1 s"; }
grep -q "a frame of 2162688 bytes from .* arrives slower than 1024 bytes/s" "$HUB_LOG" ||
  fail "the hub did not log the slow frame"
hub_alive
stop_hub
HUB_CONFIG=
start_hub
office_sql "$A" "update meta set value = '127.0.0.1:$HUB_PORT' where key = 'hub_addr'"

step "ids in one Offer: 4096 (TK_MAX_OFFER_IDS) needed, 4097 ERROR_LIMIT and closed"
run_expect 0 "$ROGUE" --home "$A" --timeout 10 offer-ids 4096
out_has "need 4096"
run_expect 0 "$ROGUE" --home "$A" --timeout 10 offer-ids 4097
grep -q "^error 8 " "$TMP/out" || { cat "$TMP/out"; fail "4097 ids not answered with ERROR_LIMIT (8)"; }
grep -q "^closed " "$TMP/out" || fail "the connection stayed open after ERROR_LIMIT"
grep -q "^closed timeout" "$TMP/out" && fail "the hub kept the connection open after ERROR_LIMIT"
hub_alive

step "parents of one revision: 64 (TK_MAX_PARENTS) accepted, 65 REJECT_MALFORMED"
run_expect 0 tk "$A" vault create "$V64"
rec=$(new_record "$A" "$V64" "parent of them all")
sync_ok "$A"
n0=$(hub_sql "select count(*) from revisions")
run_expect 0 "$ROGUE" --home "$A" --timeout 20 parents 64 "$rec"
out_has "need 65"
out_has "ack accepted=65 duplicates=0"
grep -q "^rejected" "$TMP/out" && { cat "$TMP/out"; fail "a revision with 64 parents was rejected"; }
merge=$(sed -n 's/^offer \([0-9a-f]*\)$/\1/p' "$TMP/out" | tail -1)
[ "$(hub_sql "select count(*) from parents where hex(rev_id) = upper('$merge')")" = 64 ] ||
  fail "the hub does not hold the 64 parents of the merge"
run_expect 0 "$ROGUE" --home "$A" --timeout 20 parents 65 "$rec"
out_has "need 66"
out_has "ack accepted=65 duplicates=0"
merge=$(sed -n 's/^offer \([0-9a-f]*\)$/\1/p' "$TMP/out" | tail -1)
grep -Eq "^rejected $merge: 1 .*parent" "$TMP/out" ||
  { cat "$TMP/out"; fail "65 parents not rejected as malformed (1) with a reason naming parents"; }
[ "$(hub_sql "select count(*) from revisions")" = $((n0 + 65 + 65)) ] ||
  fail "the hub holds $(hub_sql "select count(*) from revisions") revisions, expected $((n0 + 130))"
step "the office pulls the 64-parent merge and verifies"
sync_ok "$A"
run_expect 0 tk "$A" verify
out_has " 0 failed"
[ "$(office_sql "$A" "select max(c) from (select count(*) c from parents group by rev_id)")" = 64 ] ||
  fail "the office did not store the 64-parent merge"

# A regression test: tk_token_parse used to measure the text with
# strnlen(text, 513) and then trim trailing white space from that prefix,
# so whatever followed 513 characters of token and spaces was never read
# (fixed on main in 6a2f962).
step "a token followed by spaces and junk is refused (not cut at 513 characters)"
B=$TMP/b
new_office "$B" office-b
token=$(device_token office-b "$V64:r")
run_expect 2 tk "$B" enroll "$token$(rep 10 ' ')JUNK"
err_has "enrollment token is damaged"
run_expect 2 tk "$B" enroll "$token$(rep 600 ' ')JUNK"
hub_alive
stop_hub
echo ok
