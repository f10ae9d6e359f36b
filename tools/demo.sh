#!/usr/bin/env bash
# The local demo behind `make run` (until the hub exists): makes a fresh
# office store in ./.tunduk-demo, a vault, three records, and shows them.
set -euo pipefail
bin=${1:-build/bin}
home=${TUNDUK_DEMO_HOME:-$PWD/.tunduk-demo}
export TUNDUK_PASSPHRASE=${TUNDUK_PASSPHRASE:-demo-passphrase-change-me}
t() { echo "+ tunduk $*" >&2; "$bin/tunduk" --home "$home" "$@"; }

rm -rf "$home"
echo "demo store: $home (passphrase from \$TUNDUK_PASSPHRASE for this demo only)"
t init --name osh-office --kdf interactive
t vault create osh-cases
case_id=$(t new case --vault osh-cases <<'JSON'
{"case_number": "OSH-2026-014", "client_alias": "Client A-7", "office": "Osh",
 "region": "Osh oblast", "court": "Osh city court",
 "article": "Criminal Code art. 143 (torture)", "violations": ["torture", "arbitrary_detention"],
 "status": "open", "opened": "2026-03-02",
 "title": "Detention and beating at the district police station"}
JSON
)
t new appeal --vault osh-cases >/dev/null <<JSON
{"addressee": "Prosecutor General's Office", "date_sent": "2026-03-10",
 "subject": "Request for a forensic medical examination", "related_case": "$case_id",
 "reply_due": "2026-04-10"}
JSON
t new testimony --vault osh-cases >/dev/null <<JSON
{"witness_alias": "W-12", "consent": "written", "date": "2026-03-05", "place": "Osh",
 "language": "ky", "narrative": "The witness saw Client A-7 taken from the market.",
 "related_case": "$case_id", "sensitivity": "high", "title": "Witness at the market"}
JSON
t edit "$case_id" >/dev/null <<'JSON'
{"case_number": "OSH-2026-014", "client_alias": "Client A-7", "office": "Osh",
 "region": "Osh oblast", "court": "Osh city court",
 "article": "Criminal Code art. 143 (torture)", "violations": ["torture", "arbitrary_detention"],
 "status": "appeal_filed", "opened": "2026-03-02",
 "title": "Detention and beating at the district police station"}
JSON
t list
t show "$case_id"
t history "$case_id"
t verify
