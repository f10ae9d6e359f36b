# The engine's layering (README, "Layout"; tools/check-layers.sh): the tree
# as it is passes, and a copy of it with one break of each kind fails,
# naming the file and line: an include going up a layer, a front end
# including an engine header other than tk_office.h or calling the store,
# a loop or TLS call in the sync steps, I/O in the codec, a loose file in
# core/.
. "$(dirname "$0")/lib/common.sh"
SRC=${TK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CHECK=$SRC/tools/check-layers.sh

step "the tree passes"
run_expect 0 "$CHECK" "$SRC"
out_has "every include goes down"

# broken WHAT EXPECTED CMD...: a fresh copy of core/ and clients/, CMD run in
# it to break it, then the check must fail with EXPECTED in its output.
broken() {
  local what=$1 expected=$2
  shift 2
  step "$what is refused"
  rm -rf "$TMP/tree" && mkdir -p "$TMP/tree/tools"
  cp -r "$SRC/core" "$SRC/clients" "$TMP/tree/"
  cp "$CHECK" "$TMP/tree/tools/"
  (cd "$TMP/tree" && "$@")
  run_expect 1 "$TMP/tree/tools/check-layers.sh" "$TMP/tree"
  grep -qF -- "$expected" "$TMP/out" || fail "$what: no '$expected' in: $(cat "$TMP/out")"
}

broken "the store including the office" \
  'core/store/store.c:1: includes tk_office_engine.h of layer office, above store' \
  sed -i '1i #include "tk_office_engine.h"' core/store/store.c
broken "the codec including the transport" \
  'core/wire/wire.c:1: includes tk_transport.h of layer net, above wire' \
  sed -i '1i #include "tk_transport.h"' core/wire/wire.c
broken "the CLI including the store's header" \
  'clients/cli/main.c:1: a front end includes tk_store.h' \
  sed -i '1i #include "tk_store.h"' clients/cli/main.c
broken "the CLI calling the store" \
  'a front end calls the office API, not the store' \
  sed -i '$a static void f(void) { tk_store_close(0); }' clients/cli/main.c
broken "a libuv call in the sync steps" \
  'the sync steps call no libuv or mbedtls' \
  sed -i '$a static void f(void) { uv_run(0, 0); }' core/sync/sync.c
broken "I/O in the codec" \
  'the codec does no I/O' \
  sed -i '$a static void f(void) { write(1, "", 0); }' core/wire/wire.c
broken "a file outside a layer folder" \
  'core/stray.c: an engine file outside a layer folder' \
  touch core/stray.c
echo "ok"
