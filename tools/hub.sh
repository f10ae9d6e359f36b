#!/usr/bin/env bash
# The hub on embedded defaults, behind `make run`: identity and store made
# on first run in ./.hub, listening on 127.0.0.1:7420. The passphrase that
# protects the hub's key file is generated once into ./.hub.pass (mode 600);
# on a real server keep it off the data disk (see README, "Hub workflow").
set -euo pipefail
bin=${1:-build/bin}
home=${TUNDUKD_HOME:-$PWD/.hub}
pass=${TUNDUKD_PASSPHRASE_FILE:-$PWD/.hub.pass}
if [ ! -s "$pass" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 >"$pass")
fi
if [ ! -f "$home/device.key" ]; then
  "$bin/tundukd" --home "$home" --passphrase-file "$pass" init --name hub
fi
cat <<MSG
tundukd: hub folder $home, listening on 127.0.0.1:7420 (Ctrl-C stops it)
tundukd: to enroll an office, in another terminal:
  $bin/tundukd --home $home device add NAME --vault VAULT:rw
MSG
exec "$bin/tundukd" --home "$home" --passphrase-file "$pass" serve
