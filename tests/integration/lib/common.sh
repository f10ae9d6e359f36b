# Shared by the integration tests: a temporary folder, the real binaries,
# and small assertion helpers. Sourced, not run.
set -euo pipefail
BIN=${TK_BIN_DIR:?TK_BIN_DIR must name the folder with the built binaries}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tk-it-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export TUNDUK_PASSPHRASE='correct horse battery staple'
unset TUNDUK_HOME

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "-- $*"; }

# tk HOME ARGS...: the office binary on a home folder.
tk() { local home=$1; shift; "$BIN/tunduk" --home "$home" "$@"; }

# run_expect CODE CMD...: runs CMD with stdout in $TMP/out and stderr in
# $TMP/err and fails the test unless it exits with CODE.
run_expect() {
  local want=$1; shift
  set +e
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "command: $*" >&2; echo "stdout:" >&2; cat "$TMP/out" >&2
    echo "stderr:" >&2; cat "$TMP/err" >&2
    fail "exit code $got, wanted $want"
  fi
}

# err_has TEXT / out_has TEXT: the last run_expect's stderr/stdout contains TEXT.
err_has() { grep -qF -- "$1" "$TMP/err" || { cat "$TMP/err" >&2; fail "stderr lacks: $1"; }; }
out_has() { grep -qF -- "$1" "$TMP/out" || { cat "$TMP/out" >&2; fail "stdout lacks: $1"; }; }

# store_digest HOME: a digest of the store's logical content (every table).
store_digest() { sqlite3 "$1/store.db" .dump | sha256sum | cut -d' ' -f1; }

# new_office HOME NAME: init with fast key derivation, and one vault.
new_office() {
  tk "$1" init --name "$2" --kdf interactive >/dev/null
}

# flip_bit FILE OFFSET: flips the lowest bit of the byte at OFFSET in place.
flip_bit() {
  local b
  b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
