# Shared by the bad-link tests (bad_link.sh, bad_link_cuts.sh): records of
# the peer benchmark's size, and the shaping proxy's report. Sourced after
# lib/common.sh and lib/hub.sh, not run.
PROXY_BIN=$BIN/bench_linkproxy
NOTES=3600 # hex characters of notes: a sealed revision of about 2.2 KB

# fill HOME VAULT COUNT: COUNT case records of about 2.2 KB in VAULT.
fill() { "$BIN/tk_fill" --home "$1" --vault "$2" --count "$3" --size "$NOTES" >/dev/null; }

# vault_revs HOME VAULT: how many revisions of VAULT a store holds.
vault_revs() { office_sql "$1" "select count(*) from revisions where vault = '$2'"; }

# proxy_report: after proxy_stop, sets PROXY_CUTS and PROXY_CONNS from the
# proxy's totals line ("up=.. down=.. connections=N cuts=N").
proxy_report() {
  local totals
  totals=$(grep -E '^up=[0-9]+ down=[0-9]+ connections=[0-9]+ cuts=[0-9]+$' "$PROXY_OUT") ||
    fail "bench_linkproxy printed no totals with cuts"
  PROXY_CONNS=$(echo "$totals" | sed 's/.* connections=\([0-9]*\) .*/\1/')
  PROXY_CUTS=$(echo "$totals" | sed 's/.* cuts=\([0-9]*\)$/\1/')
}

# verify_all HOME N: `tunduk verify` passes and counts N revisions, every
# one verified.
verify_all() {
  run_expect 0 tk "$1" verify --json
  local ok failed nokey
  ok=$(jq -r .ok "$TMP/out") failed=$(jq -r .failed "$TMP/out") nokey=$(jq -r .no_key "$TMP/out")
  [ "$ok" = "$2" ] && [ "$failed" = 0 ] && [ "$nokey" = 0 ] ||
    { cat "$TMP/out" >&2; fail "verify in $1: $ok verified, $failed failed, $nokey without key; wanted $2"; }
}

# same_sample FROM TO VAULT: the first, the middle and the last record of
# VAULT (in FROM's list) show the same in TO as in FROM.
same_sample() {
  local ids n id
  ids=$(tk "$1" list --vault "$3" --json | jq -r '.[].id')
  n=$(echo "$ids" | wc -l)
  for id in $(echo "$ids" | sed -n "1p;$(((n + 1) / 2))p;${n}p"); do
    [ "$(tk "$1" show "$id")" = "$(tk "$2" show "$id")" ] || fail "record $id differs in $2"
  done
}
