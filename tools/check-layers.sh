#!/usr/bin/env bash
# The engine's layers (README, "Layout"), lowest first. A file of core/<layer>/ may include
# headers of its own layer and of the layers below it, never of one above; a front end
# (clients/cli, clients/web) includes the office API (tk_office.h) and nothing else of the
# engine; every engine file sits in a layer folder. Programs (clients/plugin_worker, hub/)
# and tests may include anything. Prints each violation as file:line and exits 1 if any.
#   tools/check-layers.sh [repository root]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
layers=(base crypto model store plugin wire net sync office hub)
front_ends=(clients/cli clients/web)
public_header=tk_office.h

declare -A rank where
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
bad=0
for f in core/*; do
  if [[ -f $f ]]; then
    echo "$f: an engine file outside a layer folder (core/<layer>/)"
    bad=1
  elif [[ -z ${rank[$(basename "$f")]+x} ]]; then
    echo "$f: not a layer (${layers[*]})"
    bad=1
  fi
done
for l in "${layers[@]}"; do
  [[ -d core/$l ]] || continue
  for h in core/"$l"/*.h; do
    [[ -e $h ]] || continue
    n=$(basename "$h")
    if [[ -n ${where[$n]+x} ]]; then
      echo "$h: the same header name as core/${where[$n]}/$n"
      bad=1
    fi
    where[$n]=$l
  done
done

# includes FILE: each quoted include as "line name"
includes() { grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$1" |
  sed -E 's/^([0-9]+):[^"]*"([^"]+)".*/\1 \2/'; }

for l in "${layers[@]}"; do
  [[ -d core/$l ]] || continue
  for f in core/"$l"/*.[ch]; do
    [[ -e $f ]] || continue
    while read -r line inc; do
      n=$(basename "$inc")
      [[ -n ${where[$n]+x} ]] || continue # generated (tunduk.pb-c.h) or not ours
      if ((${rank[${where[$n]}]} > ${rank[$l]})); then
        echo "$f:$line: includes $n of layer ${where[$n]}, above $l"
        bad=1
      fi
    done < <(includes "$f")
  done
done
for d in "${front_ends[@]}"; do
  [[ -d $d ]] || continue
  while IFS= read -r f; do
    while read -r line inc; do
      n=$(basename "$inc")
      if [[ -n ${where[$n]+x} && $n != "$public_header" ]]; then
        echo "$f:$line: a front end includes $n; it may include only $public_header of the engine"
        bad=1
      fi
    done < <(includes "$f")
  done < <(find "$d" -name '*.[ch]')
done
# The protocol steps talk to a transport (net/tk_transport.h), not to libuv or mbedtls;
# the codec encodes and decodes only; front ends reach the store through the office API.
forbid() { # DIR REGEX WHAT
  [[ -d $1 ]] || return 0
  local hits
  hits=$(grep -rnE "$2" "$1" --include='*.[ch]' | grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)' || true)
  if [[ -n $hits ]]; then
    echo "$hits" | sed "s|\$| ($3)|"
    bad=1
  fi
}
forbid core/sync '\<(uv_[a-z_]+|mbedtls_[a-z_]+|tk_conn_[a-z_]+)\>|#include[[:space:]]*[<"](uv|mbedtls/[a-z_]+|tk_conn)\.h' \
  'the sync steps call no libuv or mbedtls: they use a transport'
forbid core/wire '\<(uv_[a-z_]+|mbedtls_[a-z_]+|tk_conn_[a-z_]+|tk_transport_[a-z_]+|write|send|fwrite)\(' \
  'the codec does no I/O'
for d in "${front_ends[@]}"; do
  forbid "$d" '\<tk_store_[a-z_]+' 'a front end calls the office API, not the store'
done

if ((bad)); then
  echo "check-layers: the layering above is broken (README, \"Layout\")" >&2
  exit 1
fi
echo "check-layers: ${#where[@]} headers in ${#layers[@]} layers, every include goes down"
