#!/usr/bin/env bash
# Checks that the C sources match .clang-format (when clang-format is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format not installed; format not checked"; exit 0; }
bad=$(git ls-files 'core/*.[ch]' 'clients/*.[ch]' 'tests/*.[ch]' 2>/dev/null |
      while read -r f; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -n "$bad" ]; then
  echo "these files are not formatted (run: clang-format -i FILE):" >&2
  echo "$bad" >&2
  exit 1
fi
