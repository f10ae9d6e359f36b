# Upgrades (issue 17, item 8). tests/fixtures/hub-schema9 is a hub home as
# tunduk 0.17.0 wrote it (tests/fixtures/make-hub-fixture.sh), the last
# release's store: this build opens it, migrating it to its own schema when
# that is newer (the old file copied first to store.db.before-schema-N, whole:
# the way back), and serves it; an office enrolled now pulls every revision.
# A store of the schema before (8, made from the fixture the way migration
# 8 -> 9 undone looks) migrates the same way. A store written by a newer
# tunduk is refused and left as it was.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"

FIX=${TK_SOURCE_DIR:?}/tests/fixtures/hub-schema9
expect() { jq -r ".$1" "$FIX/expect.json"; }
# fixture_home DIR: a hub home from the fixture (git keeps no file modes)
fixture_home() {
  mkdir -m 700 "$1"
  cp "$FIX/device.key" "$FIX/store.db" "$1/"
  chmod 600 "$1/device.key" "$1/store.db"
  HUB_HOME=$1 HUB_ID=$(expect hub_id)
}
# this build's schema: what init writes
hubd --home "$TMP/fresh" init --name fresh --kdf interactive >/dev/null 2>&1 || fail "init of a fresh hub"
CUR=$(sqlite3 "$TMP/fresh/store.db" "pragma user_version")
[ "$CUR" -ge "$(expect schema)" ] || fail "this build's schema $CUR is older than the fixture's"
check_counts() {
  local c
  for c in revisions records chunks devices; do
    [ "$(hub_sql "select count(*) from $c")" = "$(expect "$c")" ] ||
      fail "$c: $(hub_sql "select count(*) from $c"), the fixture has $(expect "$c")"
  done
}
# pull_all NAME: a new office enrolled with read access pulls everything
pull_all() {
  enroll_office "$TMP/$1" "$1" cases:r
  sync_ok "$TMP/$1"
  [ "$(office_sql "$TMP/$1" "select count(*) from revisions")" = "$(expect revisions)" ] ||
    fail "office $1 pulled $(office_sql "$TMP/$1" "select count(*) from revisions") revisions, not $(expect revisions)"
}

step "the last release's store (schema $(expect schema)) opens, migrates to $CUR and serves"
F=$(expect schema)
[ "$(sqlite3 "$FIX/store.db" "pragma user_version")" = "$F" ] || fail "the fixture's schema"
fixture_home "$TMP/h1"
fix_digest=$(store_digest "$HUB_HOME")
start_hub
if [ "$CUR" -gt "$F" ]; then
  grep -q "schema upgrade path=$HUB_HOME/store.db from=$F to=$CUR copy=$HUB_HOME/store.db.before-schema-$CUR" "$HUB_LOG" ||
    fail "serve did not say it upgraded the fixture, keeping a copy"
  [ "$(sqlite3 "$HUB_HOME/store.db.before-schema-$CUR" .dump | sha256sum | cut -d' ' -f1)" = "$fix_digest" ] ||
    fail "the copy is not the fixture's store"
else
  ls "$HUB_HOME" | grep -q before-schema && fail "a store of the current schema was copied as if upgraded"
fi
[ "$(hub_sql "pragma user_version")" = "$CUR" ] || fail "the store was not migrated to $CUR"
check_counts
run_expect 0 hubd --home "$HUB_HOME" device list --json
[ "$(jq length "$TMP/out")" = "$(expect devices)" ] || { cat "$TMP/out"; fail "device list of the fixture"; }
pull_all office-new
stop_hub

step "a store of the schema before migrates on serve, a copy of it kept first"
fixture_home "$TMP/h2"
sqlite3 "$HUB_HOME/store.db" "ALTER TABLE heads DROP COLUMN deleted; PRAGMA user_version = 8"
old_digest=$(store_digest "$HUB_HOME")
start_hub
grep -q "schema upgrade path=$HUB_HOME/store.db from=8 to=$CUR copy=$HUB_HOME/store.db.before-schema-$CUR" "$HUB_LOG" ||
  fail "serve did not say it upgraded the store, keeping a copy"
COPY=$HUB_HOME/store.db.before-schema-$CUR
[ "$(sqlite3 "$COPY" "pragma user_version")" = 8 ] || fail "the copy is not of schema 8"
[ "$(sqlite3 "$COPY" .dump | sha256sum | cut -d' ' -f1)" = "$old_digest" ] || fail "the copy is not the old store"
[ "$(stat -c %a "$COPY")" = 600 ] || fail "the copy is not private"
[ "$(hub_sql "pragma user_version")" = "$CUR" ] || fail "the store was not migrated"
hub_sql "select deleted from heads limit 1" >/dev/null || fail "the migrated store lacks heads.deleted"
check_counts
pull_all office-d
stop_hub

step "the way back: the copy put in place is the old store as it was"
mv "$COPY" "$HUB_HOME/store.db"
rm -f "$HUB_HOME/store.db-wal" "$HUB_HOME/store.db-shm"
[ "$(store_digest "$HUB_HOME")" = "$old_digest" ] || fail "the rolled-back store differs"

step "a store written by a newer tunduk is refused, and left as it was"
fixture_home "$TMP/h3"
hub_sql "PRAGMA user_version = 99"
digest=$(sha256sum <"$HUB_HOME/store.db")
run_expect 1 hubd --home "$HUB_HOME" serve --listen 127.0.0.1:0
err_has "written by a newer tunduk"
[ "$(sha256sum <"$HUB_HOME/store.db")" = "$digest" ] || fail "a refused store changed"
ls "$HUB_HOME" | grep -q before-schema && fail "a refused store was copied"
echo ok
