#!/usr/bin/env bash
# Installs the Debian 12 packages tunduk builds and tests with, if any are
# missing. Runs apt-get as root, or through sudo when not root.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libuv1-dev liblua5.4-dev libsqlite3-dev
      libmbedtls-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler libjansson-dev
      libzstd-dev libseccomp-dev sqlite3 jq time clang libclang-rt-dev
      libmicrohttpd-dev libsystemd-dev systemd chromium chromium-driver python3-selenium
      debhelper dpkg-dev fakeroot lintian binutils man-db python3-nacl zstd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tunduk: installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
