# The Debian package, built and run as an admin would get it: dpkg-buildpackage
# on a copy of the source tree (out of it: nothing is written into the
# checkout), lintian clean of errors and warnings, unpacked with dpkg -x into a
# scratch root, every file where Debian expects it and nowhere else, no path of
# the source or build tree in an installed binary, the versions in agreement
# (CMakeLists.txt, debian/changelog, --version, the first log line, Hello), and
# the unpacked tundukd run from the scratch root (init, serve with the packaged
# example config, its bundled plugins and jailed worker) with two offices of
# this build syncing a record through it.
# The package build takes most of the time (about 45 s at parallel=2).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/hub.sh"
unset TUNDUK_PLUGINS
SRC=${TK_SOURCE_DIR:?TK_SOURCE_DIR must name the source tree}
for tool in dpkg-buildpackage dh lintian fakeroot strings; do
  command -v "$tool" >/dev/null || fail "$tool is missing (tools/deps.sh installs it)"
done

step "versions agree: CMakeLists.txt, debian/changelog"
want=$(sed -n 's/^project(tunduk VERSION \([0-9.]*\) .*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$want" ] || fail "no project VERSION in CMakeLists.txt"
deb_version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
[ "$deb_version" = "$want" ] ||
  fail "debian/changelog is at $deb_version, CMakeLists.txt at $want: add a changelog entry"

step "dpkg-buildpackage -us -uc -b on a copy of the tree"
mkdir -p "$TMP/pkg/src"
tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./.hub \
  --exclude=./.hub.pass --exclude=./.tunduk-demo --exclude='./obj-*' \
  --exclude=./debian/tunduk --exclude=./debian/.debhelper --exclude=./debian/files \
  --exclude='./debian/*.substvars' --exclude=./debian/debhelper-build-stamp -cf - . |
  tar -C "$TMP/pkg/src" -xf -
t0=$(date +%s)
if ! (cd "$TMP/pkg/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
  dpkg-buildpackage -us -uc -b >"$TMP/pkg/build.log" 2>&1); then
  tail -40 "$TMP/pkg/build.log" >&2
  fail "dpkg-buildpackage failed"
fi
echo "   built in $(($(date +%s) - t0)) s"
DEB=$TMP/pkg/tunduk_${want}_$(dpkg-architecture -qDEB_HOST_ARCH).deb
[ -f "$DEB" ] || { ls "$TMP/pkg" >&2; fail "no $(basename "$DEB")"; }

step "lintian: no error, no warning"
set +e
lintian --fail-on error,warning "$TMP/pkg/tunduk_${want}_"*.changes >"$TMP/lintian" 2>&1
lrc=$?
set -e
{ grep -v '^running with root privileges' "$TMP/lintian" || true; } | sed 's/^/   /'
if [ "$lrc" != 0 ] || grep -Eq '^[EW]: ' "$TMP/lintian"; then
  fail "lintian exited $lrc or reported an error or a warning"
fi

step "the files are where Debian expects them"
R=$TMP/root
dpkg -x "$DEB" "$R"
dpkg-deb -e "$DEB" "$TMP/ctl"
for f in usr/bin/tunduk usr/bin/tundukd usr/libexec/tunduk/tunduk-plugin-worker; do
  [ -x "$R/$f" ] && [ -f "$R/$f" ] || fail "/$f is not in the package (or not executable)"
done
for f in usr/share/tunduk/plugins/limits.lua usr/share/tunduk/plugins/case.lua \
  usr/share/tunduk/plugins/samples/case.jsonl etc/tunduk/tundukd.conf \
  usr/share/man/man1/tunduk.1.gz usr/share/man/man5/tundukd.conf.5.gz \
  usr/share/man/man8/tundukd.8.gz usr/share/doc/tunduk/copyright; do
  [ -f "$R/$f" ] || fail "/$f is not in the package"
done
[ -d "$R/var/lib/tunduk" ] || fail "/var/lib/tunduk is not in the package"
if [ -f "$SRC/dist/systemd/tundukd.service" ]; then
  [ -f "$R/lib/systemd/system/tundukd.service" ] || fail "the unit is not in /lib/systemd/system"
fi
# nothing outside those folders
stray=$(cd "$R" && find . -mindepth 1 \( -type f -o -type l \) | sed 's|^\./||' |
  grep -Ev '^(usr/bin/tunduk|usr/bin/tundukd|usr/libexec/tunduk/|usr/share/tunduk/plugins/|usr/share/man/man[158]/|usr/share/doc/tunduk/|etc/tunduk/tundukd\.conf$|lib/systemd/system/tundukd\.service$)' || true)
[ -z "$stray" ] || fail "files in unexpected places: $stray"
grep -qx /etc/tunduk/tundukd.conf "$TMP/ctl/conffiles" || fail "/etc/tunduk/tundukd.conf is not a conffile"
# postinst, run with every command it calls replaced by a stub that logs its
# arguments (this machine's users and /var/lib stay as they are): a first
# install creates the user and the folder; a second (the user there) and one
# with an admin's statoverride leave them alone.
mkdir -p "$TMP/stubs"
for c in adduser mkdir chown chmod; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$TMP/calls" >"$TMP/stubs/$c"
done
printf '#!/bin/sh\n[ -e "%s" ]\n' "$TMP/user-there" >"$TMP/stubs/getent"
printf '#!/bin/sh\n[ -e "%s" ]\n' "$TMP/override" >"$TMP/stubs/dpkg-statoverride"
chmod +x "$TMP/stubs"/*
postinst() { : >"$TMP/calls"; PATH=$TMP/stubs /bin/sh -e "$TMP/ctl/postinst" "$@" || fail "postinst $* failed"; }
postinst configure
grep -qx 'adduser --system --group --quiet --home /var/lib/tunduk --no-create-home --gecos tunduk hub tunduk' "$TMP/calls" ||
  { cat "$TMP/calls" >&2; fail "postinst configure did not make the system user tunduk"; }
grep -qx 'chown tunduk:tunduk /var/lib/tunduk' "$TMP/calls" || fail "postinst does not chown /var/lib/tunduk"
grep -qx 'chmod 0700 /var/lib/tunduk' "$TMP/calls" || fail "postinst does not make /var/lib/tunduk 0700 (the unit's StateDirectoryMode)"
touch "$TMP/user-there" "$TMP/override"
postinst configure
! grep -Eq '^(adduser|chown|chmod) ' "$TMP/calls" || fail "postinst redid the user or overrode the admin's statoverride"
for m in tunduk.1 tundukd.conf.5 tundukd.8; do
  sec=${m##*.}
  w=$(man --warnings -l "$R/usr/share/man/man$sec/$m.gz" 2>&1 >/dev/null) || fail "man $m failed: $w"
  [ -z "$w" ] || fail "man $m: $w"
done
echo "   $(dpkg -c "$DEB" | wc -l) entries, $(du -k "$DEB" | cut -f1) KiB"

step "no path of the source or build tree in an installed binary"
# (strings into a file: with pipefail, grep -q ending the pipe early would
# make a match look like none)
for f in "$R"/usr/bin/* "$R"/usr/libexec/tunduk/*; do
  strings "$f" >"$TMP/strings"
  [ -s "$TMP/strings" ] || fail "strings found nothing in ${f#"$R"}"
  for p in "$SRC" "$TMP/pkg/src" "$(cd "$BIN/.." && pwd)"; do
    if grep -qF -- "$p" "$TMP/strings"; then
      grep -F -- "$p" "$TMP/strings" | head -5 >&2
      fail "${f#"$R"} holds '$p'"
    fi
  done
done

step "the unpacked programs: --version"
run_expect 0 "$R/usr/bin/tundukd" --version
[ "$(cat "$TMP/out")" = "tundukd $want" ] || fail "tundukd --version says '$(cat "$TMP/out")'"
run_expect 0 "$R/usr/bin/tunduk" --version
[ "$(cat "$TMP/out")" = "tunduk $want" ] || fail "tunduk --version says '$(cat "$TMP/out")'"

step "the unpacked tundukd: init, serve with the packaged config, two offices of this build sync through it"
HUB_HOME=$TMP/hub
out=$("$R/usr/bin/tundukd" --home "$HUB_HOME" init --name pkg-hub --kdf interactive)
HUB_ID=${out#hub device }
echo "$HUB_ID" | grep -Eq '^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$' || fail "tundukd init printed '$out'"
HUB_LOG=$TMP/hub.log
"$R/usr/bin/tundukd" --home "$HUB_HOME" serve --config "$R/etc/tunduk/tundukd.conf" \
  --listen 127.0.0.1:0 2>"$HUB_LOG" &
HUB_PID=$!
BG_PIDS+=("$HUB_PID")
HUB_PORT=
for i in $(seq 1 200); do
  HUB_PORT=$(sed -n 's/.*listening addr=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$HUB_LOG" | head -1)
  [ -n "$HUB_PORT" ] && break
  kill -0 "$HUB_PID" 2>/dev/null || { cat "$HUB_LOG" >&2; fail "the unpacked tundukd serve exited"; }
  sleep 0.1
done
[ -n "$HUB_PORT" ] || { cat "$HUB_LOG" >&2; fail "the unpacked tundukd printed no listening line"; }
head -1 "$HUB_LOG" | grep -q "hub: tundukd $want starting" ||
  fail "the first log line does not name the version: $(head -1 "$HUB_LOG")"
grep -q "plugins layer=bundled folder=$R/usr/share/tunduk/plugins\$" "$HUB_LOG" ||
  fail "the hub does not take the packaged plugins (/usr/share/tunduk/plugins of the root)"
grep -q "loaded plugin=limits.lua jailed=yes" "$HUB_LOG" ||
  fail "the packaged limits.lua did not load in the packaged worker"
grep -q "moderation_rules=1 failed=0 jailed=yes" "$HUB_LOG" || fail "the moderation rule is not running jailed"
# the office side of this build, against the unpacked hub
device_token() {
  local name=$1; shift
  local args=() v
  for v in "$@"; do args+=(--vault "$v"); done
  "$R/usr/bin/tundukd" --home "$HUB_HOME" device add "$name" "${args[@]}" --address "127.0.0.1:$HUB_PORT"
}
two_offices cases rw
id=$(new_record "$A" cases "through the packaged hub")
sync_ok "$A"
sync_ok "$B"
[ "$(tk "$B" show "$id" --json | jq -r .body.notes)" = "through the packaged hub" ] ||
  fail "office B did not get the record through the packaged hub"
[ "$(rev_ids "$A")" = "$(rev_ids "$B")" ] || fail "the offices do not hold the same revisions"
run_expect 0 tk "$B" status --json
[ "$(jq -r .hub.software "$TMP/out")" = "tundukd/$want" ] ||
  fail "the hub's Hello did not carry tundukd/$want: $(jq -c .hub "$TMP/out")"
run_expect 0 tk "$B" status
out_has "Hub software: tundukd/$want"
run_expect 0 "$R/usr/bin/tunduk" --home "$A" plugin list
out_has "bundled  $R/usr/share/tunduk/plugins"
kill -TERM "$HUB_PID"
rc=0
wait "$HUB_PID" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$HUB_LOG" >&2; fail "the unpacked tundukd exited $rc on SIGTERM"; }
echo ok
