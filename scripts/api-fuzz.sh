#!/usr/bin/env bash
# Fuzzes the live HTTP API with schemathesis (from PyPI) against the server's own OpenAPI
# description (/v1/openapi.json), signed in as the demo rep: no 5xx, and every status code,
# content type, header and body as described. Needs `cargo build --workspace` first.
# Usage: ./scripts/api-fuzz.sh [extra schemathesis options]
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "==> installing schemathesis into $venv"
    source scripts/lib.sh
    python3 -m venv "$venv" 2>/dev/null || { ensure_packages python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi

data=$(mktemp -d)
bin=target/debug/fieldsync-server
"$bin" --data "$data/db" seed --demo >/dev/null
"$bin" --data "$data/db" serve --listen 127.0.0.1:0 >"$data/out" 2>"$data/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT

# The server prints its address once it listens.
url=""
for _ in $(seq 1 300); do
    url=$(sed -n 's/^listening on //p' "$data/out")
    [ -n "$url" ] && break
    kill -0 $pid 2>/dev/null || { cat "$data/log"; echo "the server did not start"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "the server did not say where it listens"; exit 1; }

token=$(python3 - "$url" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/login", method="POST",
    data=json.dumps({"username": "rep1", "password": "demo"}).encode(),
    headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["token"])
PY
)

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance

# Logout is left out: it would end the session the run signs in with (tests/e2e/sessions.rs
# covers it). Long polls may wait up to 60 s, hence the request timeout. The integration
# endpoints get their own run below, with an integration token.
"$venv/bin/schemathesis" run "$url/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --exclude-path /v1/logout --exclude-path-regex '^/v1/integration/' \
    --max-time 90 --request-timeout 65 --seed 1 --no-color "$@"

# The integration API with a token that may import and export every type: random files
# into every importable type, random export queries.
integration=$("$bin" --data "$data/db" integration add fuzz --scopes 'import:*,export:*' | tail -1)
"$venv/bin/schemathesis" run "$url/v1/openapi.json" \
    --header "Authorization: Bearer $integration" \
    --checks "$checks" \
    --include-path-regex '^/v1/integration/' \
    --max-time 45 --request-timeout 65 --seed 1 --no-color "$@"
