# The small defects of issue 15, through the real binaries: tundukd's
# messages name its own variable, program and folder; an id, prefix or
# name that names nothing (or more than one thing) exits 2 in every command
# of both programs and changes nothing; a device id that is not one says
# which character is wrong and where, and one that is well formed but
# names no device says that instead; an attachment whose chunks have not
# arrived is not "bad input" (exit 1).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

step "tundukd without a passphrase names TUNDUKD_PASSPHRASE, the variable it reads"
# setsid: no controlling terminal to ask on, as under cron or systemd.
# serve needs a hub made by init first (it never makes one).
new_hub "$TMP/nopass-serve"
for cmd in init serve; do
  TUNDUKD_PASSPHRASE= run_expect 2 env -u TUNDUKD_PASSPHRASE setsid -w "$BIN/tundukd" \
    --home "$TMP/nopass-$cmd" "$cmd" </dev/null
  err_has "use --passphrase-file or set TUNDUKD_PASSPHRASE"
  ! grep -q "set TUNDUK_PASSPHRASE" "$TMP/err" || fail "tundukd $cmd names tunduk's variable"
done
# tunduk still names its own.
new_office "$TMP/o0" o0
run_expect 2 env -u TUNDUK_PASSPHRASE setsid -w "$BIN/tunduk" --home "$TMP/o0" vault create v </dev/null
err_has "use --passphrase-file or set TUNDUK_PASSPHRASE"

step "tundukd on an empty or missing home names 'tundukd init' and the folder"
mkdir "$TMP/empty"
for home in "$TMP/empty" "$TMP/missing"; do
  for args in "device list" "device add x --vault v:rw" "device revoke ABCD" \
    "quarantine list" "quarantine release abcd" "quarantine drop abcd"; do
    # shellcheck disable=SC2086
    run_expect 2 hubd --home "$home" $args
    err_has "no hub in $home (run 'tundukd --home $home init' first)"
    ! grep -q "'tunduk init'" "$TMP/err" || fail "tundukd $args names tunduk init"
  done
done
[ ! -e "$TMP/missing" ] || fail "an admin command made the missing home"
[ -z "$(ls -A "$TMP/empty")" ] || fail "an admin command wrote into the empty home"
new_hub "$TMP/hub"
run_expect 1 hubd --home "$TMP/hub" init --kdf interactive
err_has "$TMP/hub already holds a hub"

step "unknown record, revision, vault and attachment: exit 2 in every command, nothing changed"
H=$TMP/office
new_office "$H" osh
tk "$H" vault create cases >/dev/null
rec=$(case_json X-1 "first" | tk "$H" new case --vault cases -)
case_json X-1 "a body" >"$TMP/ok.json"
before=$(store_digest "$H")
U=ffff0123
for args in "show $U" "edit $U $TMP/ok.json" "delete $U" "history $U" \
  "attach $U $TMP/ok.json" "attachments $U" "get $U x.jpg -o $TMP/x" \
  "resolve $U $TMP/ok.json" "resolve $U --auto" "show $rec --rev ffff0123" \
  "quarantine release ffff0123" "quarantine drop ffff0123"; do
  # shellcheck disable=SC2086
  run_expect 2 tk "$H" $args
  grep -qE "no record with id '$U'|no revision 'ffff0123'" "$TMP/err" ||
    { cat "$TMP/err"; fail "$args: the message does not name the id"; }
done
run_expect 2 tk "$H" get "$rec" nope.jpg -o "$TMP/x"
err_has "has no attachment named 'nope.jpg'"
run_expect 2 tk "$H" new case --vault no-such-vault "$TMP/ok.json"
err_has "no vault 'no-such-vault'"
printf 'case_number,client_alias,status\nI-1,C,open\n' >"$TMP/a.csv"
run_expect 2 tk "$H" import --type case --vault no-such-vault "$TMP/a.csv"
err_has "no vault 'no-such-vault'"
run_expect 2 tk "$H" vault grant no-such-vault AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
err_has "no vault 'no-such-vault'"
run_expect 2 tk "$H" vault remove no-such-vault AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
err_has "no vault 'no-such-vault'"
run_expect 2 tk "$H" plugin test no-such-plugin "$TMP/ok.json"
err_has "no plugin 'no-such-plugin'"
run_expect 2 tk "$H" export --format no-such-format -o "$TMP/x"
err_has "no export format 'no-such-format'"
run_expect 2 tk "$TMP/no-store" list
err_has "no tunduk store in $TMP/no-store"
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after unknown ids"

step "an ambiguous id prefix: exit 2, nothing changed"
run_expect 0 "$BIN/tk_fill" --home "$H" --vault cases --count 1200 --size 50
p=$(tk "$H" list --json | jq -r '.[].id[0:4]' | sort | uniq -d | head -1)
[ -n "$p" ] || fail "1200 records and no two share 4 hex digits"
before=$(store_digest "$H")
for args in "show $p" "history $p" "delete $p" "edit $p $TMP/ok.json" "attachments $p"; do
  # shellcheck disable=SC2086
  run_expect 2 tk "$H" $args
  err_has "ambiguous"
done
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after an ambiguous prefix"

step "a malformed device id says what is wrong and where"
good=$(tk "$H" whoami)
for sub in grant remove; do
  bad="${good:0:42}0${good:43}" # the 43rd character (dashes counted) is not base32
  run_expect 2 tk "$H" vault "$sub" cases "$bad"
  err_has "'$bad' is not a device id: character 43 ('0') is not base32 (A-Z, 2-7)"
  run_expect 2 tk "$H" vault "$sub" cases "${good%?}"
  err_has "it has 51 base32 characters; a device id has 52"
  run_expect 2 tk "$H" vault "$sub" cases "${good%?}B"
  err_has "its last character 'B' cannot end a device id (only A or Q can)"
done
[ "$(store_digest "$H")" = "$before" ] || fail "store changed after a malformed device id"

step "a well-formed device id that names no device: said so, exit 2"
start_hub
two_offices shared rw
# One base32 character changed: still a device id, but no device's.
last=${B_ID: -2:1}
other=$([ "$last" = A ] && echo B || echo A)
ghost="${B_ID:0:${#B_ID}-2}$other${B_ID: -1}"
run_expect 2 tk "$A" vault grant shared "$ghost"
err_has "the hub knows no enrolled device $ghost"
run_expect 2 hubd --home "$HUB_HOME" device revoke ZZZZZZZZ
err_has "no device 'ZZZZZZZZ'"
run_expect 2 hubd --home "$HUB_HOME" quarantine release ffff0123
err_has "quarantine"

step "an attachment whose chunks have not arrived: exit 1 (not bad input)"
head -c 300000 /dev/urandom >"$TMP/photo.bin"
r=$(new_record "$A" shared "with a photo")
run_expect 0 tk "$A" attach "$r" "$TMP/photo.bin" --name photo.bin
sync_ok "$A"
sync_ok "$B"
office_sql "$B" "delete from chunks where rowid in (select rowid from chunks limit 1)"
run_expect 1 tk "$B" get "$r" photo.bin -o "$TMP/got.bin"
err_has "is incomplete"
[ ! -e "$TMP/got.bin" ] || fail "an incomplete attachment was written"
echo ok
