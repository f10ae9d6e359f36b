# --help cannot drift from what the commands accept. tunduk's help is
# printed from its commands table and refuses to print (exit 1, "internal
# error") when a command's lines do not name an option it takes or name
# one it does not; tundukd's likewise. Here, from outside: every command
# of each program has its own --help, and every option the binary accepts
# for a command (tried one by one: an option a command does not take is
# refused with "does not take") is named in that command's help.
. "$(dirname "$0")/lib/common.sh"

# names_opt OPT FILE: FILE names OPT as a whole word.
names_opt() { grep -qE -- "(^|[][ |(])$1([][ |=:,).]|$)" "$2"; }

# check PROGRAM MIN [GLOBAL]: the whole help, then each command's (at least MIN);
# GLOBAL, an option only before the command, is not tried on each.
check() {
  local prog=$1 cmds opts c o rc n=0
  run_expect 0 "$BIN/$prog" --help
  cp "$TMP/out" "$TMP/help.$prog"
  cmds=$(sed -n 's/^  \([a-z][a-z]*\)\( .*\)\{0,1\}$/\1/p' "$TMP/help.$prog" | sort -u)
  opts=$(grep -oE -- "(^|[][ |(])(--[a-z][a-z-]*|-o)" "$TMP/help.$prog" | sed 's/^[][ |(]//' |
    sort -u | grep -vx -e --home -e --passphrase-file -e --help -e "${3:---help}")
  for c in $cmds; do
    n=$((n + 1))
    run_expect 0 "$BIN/$prog" "$c" --help
    grep -qE "^  $c( |$)" "$TMP/out" || { cat "$TMP/out"; fail "'$prog $c --help' does not show $c"; }
    cp "$TMP/out" "$TMP/help.$prog.$c"
    for o in $opts; do
      # With --help last nothing runs: the option is refused or the help printed.
      set +e
      "$BIN/$prog" --home "$TMP/none" "$c" "$o" x --help >"$TMP/out" 2>"$TMP/err"
      rc=$?
      set -e
      if grep -qF "does not take -" "$TMP/err"; then
        [ "$rc" = 2 ] || fail "'$prog $c $o' refused with exit $rc, not 2"
        continue
      fi
      [ "$rc" = 0 ] || { cat "$TMP/err"; fail "'$prog $c $o x --help' exited $rc"; }
      names_opt "$o" "$TMP/help.$prog.$c" ||
        { cat "$TMP/help.$prog.$c"; fail "'$prog $c' takes $o, its --help does not name it"; }
      names_opt "$o" "$TMP/help.$prog" || fail "'$prog --help' does not name $o for $c"
    done
  done
  [ "$n" -ge "$2" ] || fail "$prog --help lists $n commands, expected at least $2"
  [ ! -e "$TMP/none" ] || fail "$prog: a --help made a home folder"
  echo "   $prog: $n commands, $(echo "$opts" | wc -w) options checked"
}

step "tunduk --help: every command, every option it takes"
check tunduk 20 # --version before a command: the version; after: plugin publish's
for want in "verify [--json]" "conflicts [--type T] [--vault V] [--json]" \
  "quarantine list [--json]"; do
  grep -qF -- "$want" "$TMP/help.tunduk" || fail "tunduk --help lacks '$want'"
done
run_expect 0 "$BIN/tunduk" verify --help
out_has "verify [--json]"
run_expect 2 "$BIN/tunduk" list --rev x --help
err_has "'list' does not take --rev"
run_expect 2 "$BIN/tunduk"
err_has "usage: tunduk"

step "tundukd --help: every command, every option it takes"
check tundukd 5 --version # the program's version, before any command
for want in "device add NAME [--vault V[:rw]]... [--address HOST:PORT] [--ttl-hours N] [--config FILE]"; do
  grep -qF -- "$want" "$TMP/help.tundukd" || fail "tundukd --help lacks '$want'"
done
run_expect 2 "$BIN/tundukd" --home "$TMP/none" device list --listen 127.0.0.1:1
err_has "'device' does not take --listen"

step "every command of --help has its entry in the program's man page"
for pm in tunduk:man/tunduk.1 tundukd:man/tundukd.8; do
  p=${pm%%:*}
  sed 's/\\-/-/g; s/\\f[BIRP]//g' "${TK_SOURCE_DIR:?}/${pm#*:}" >"$TMP/man.txt"
  sed -n 's/^  \([a-z][a-z]*\)\( [a-z][a-z]*\)\{0,1\}\( .*\)\{0,1\}$/\1\2/p' "$TMP/help.$p" |
    sort -u >"$TMP/cmds"
  [ -s "$TMP/cmds" ] || fail "no commands read from $p --help"
  while read -r x y; do
    if [ -n "$y" ]; then # "device add": its own .B line, or "| add" after ".B device ..."
      grep -qE "^\.B $x ($y\b|.*\| *($x )?$y\b)" "$TMP/man.txt"
    else
      grep -qE "^\.B ($x\b|.*\| *$x\b)" "$TMP/man.txt"
    fi || fail "${pm#*:} has no entry for '$p $x${y:+ $y}' (in $p --help)"
  done <"$TMP/cmds"
done

step "every key 'tundukd config' prints is in tundukd.conf(5)"
run_expect 0 "$BIN/tundukd" --home "$TMP/none" config
sed -n 's/^#\{0,1\} *\([a-z_]*\) = .*/\1/p' "$TMP/out" >"$TMP/keys"
[ "$(wc -l <"$TMP/keys")" -ge 20 ] || fail "too few keys read from tundukd config"
sed 's/\\-/-/g; s/\\f[BIRP]//g' "${TK_SOURCE_DIR:?}/man/tundukd.conf.5" >"$TMP/conf5.txt"
while read -r k; do
  grep -qE "^\.BR? \"?$k\b" "$TMP/conf5.txt" || fail "man/tundukd.conf.5 has no entry for the key '$k'"
done <"$TMP/keys"

step "--version: both programs say the project's version (CMakeLists.txt), exit 0"
want=$(sed -n 's/^project(tunduk VERSION \([0-9.]*\) .*/\1/p' "${TK_SOURCE_DIR:?}/CMakeLists.txt")
[ -n "$want" ] || fail "no project VERSION in CMakeLists.txt"
for m in tunduk.1 tundukd.8 tundukd.conf.5; do
  grep -q "^\.TH .* \"tunduk $want\"" "$TK_SOURCE_DIR/man/$m" || fail "man/$m is not of tunduk $want"
done
for prog in tunduk tundukd; do
  run_expect 0 "$BIN/$prog" --version
  [ "$(cat "$TMP/out")" = "$prog $want" ] || fail "'$prog --version' says '$(cat "$TMP/out")', not '$prog $want'"
  grep -qF -- "$prog --version" "$TMP/help.$prog" || fail "$prog --help does not name --version"
done
run_expect 2 "$BIN/tunduk" --home "$TMP/none" list --version 3
err_has "'list' does not take --version"
echo ok
