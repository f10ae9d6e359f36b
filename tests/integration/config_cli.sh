# `tunduk config [KEY [VALUE]]`: the defaults, a setting kept in the store
# (Cyrillic too), each bad key or value refused with exit 2 naming it and
# the store unchanged, and no passphrase asked (settings need no keys).
. "$(dirname "$0")/lib/common.sh"

A=$TMP/a
new_office "$A" a
unset TUNDUK_PASSPHRASE

step "defaults"
run_expect 0 tk "$A" config
out_has "organisation = "
out_has "ui_idle_minutes = 15"
out_has "ui_language = en"

step "set and read back, without the passphrase"
run_expect 0 tk "$A" config organisation "Адилет — правовая клиника" </dev/null
run_expect 0 tk "$A" config ui_language ky </dev/null
run_expect 0 tk "$A" config organisation
[ "$(cat "$TMP/out")" = "Адилет — правовая клиника" ] || fail "organisation not kept"
run_expect 0 tk "$A" config --json
[ "$(jq -r .ui_language "$TMP/out")" = ky ] || fail "--json lacks ui_language ky"

step "refused, naming what is wrong; nothing changed"
d=$(store_digest "$A")
run_expect 2 tk "$A" config colour red
err_has "no setting 'colour'; the settings are: organisation, ui_idle_minutes, ui_language"
run_expect 2 tk "$A" config colour
err_has "no setting 'colour'"
run_expect 2 tk "$A" config ui_idle_minutes 481
err_has "ui_idle_minutes must be a whole number of minutes from 1 to 480"
run_expect 2 tk "$A" config ui_language de
err_has "en, ru, ky"
run_expect 2 tk "$A" config organisation "$(printf 'a\tb')"
err_has "control character"
[ "$(store_digest "$A")" = "$d" ] || fail "a refused setting changed the store"
run_expect 2 tk "$A" config a b c
echo "OK"
