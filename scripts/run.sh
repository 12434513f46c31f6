#!/usr/bin/env bash
# Builds Fieldsync, prepares a server with demo data, serves it on 127.0.0.1:8787 and,
# when a display is available, opens the desktop app against it (sign in as rep1/demo).
# Usage: ./scripts/run.sh [DATA_DIR]     (default: ./fieldsync-data)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" "${DESKTOP_PACKAGES[@]}"
DATA="${1:-./fieldsync-data}"
LISTEN="${FIELDSYNC_LISTEN:-127.0.0.1:8787}"

build_ui
cargo build --release --bin fieldsync-server --bin fieldsync
cargo build -p fieldsync-desktop
BIN=target/release
"$BIN/fieldsync-server" --data "$DATA" migrate
"$BIN/fieldsync-server" --data "$DATA" seed --demo

cat <<EOT

Fieldsync server with demo data on http://$LISTEN (Ctrl-C stops everything).
Demo users: rep1, rep2 (NORTH), rep3 (SOUTH), manager1, shipper1; password "demo".
The headless client works too, in another terminal:

  echo demo | $BIN/fieldsync --profile /tmp/rep1 login --server http://$LISTEN --user rep1 --password-stdin
  $BIN/fieldsync --profile /tmp/rep1 sync

EOT
"$BIN/fieldsync-server" --data "$DATA" serve --listen "$LISTEN" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    FIELDSYNC_SERVER="http://$LISTEN" target/debug/fieldsync-desktop || true
    echo "desktop app closed; the server keeps running (Ctrl-C stops it)"
else
    echo "no display: not starting the desktop app (the server keeps running)"
fi
wait $server
