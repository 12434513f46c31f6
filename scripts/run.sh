#!/usr/bin/env bash
# Builds Fieldsync, prepares a server with demo data and serves it on 127.0.0.1:8787.
# Usage: ./scripts/run.sh [DATA_DIR]     (default: ./fieldsync-data)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}"
DATA="${1:-./fieldsync-data}"
LISTEN="${FIELDSYNC_LISTEN:-127.0.0.1:8787}"

cargo build --release --bin fieldsync-server --bin fieldsync
BIN=target/release
"$BIN/fieldsync-server" --data "$DATA" migrate
"$BIN/fieldsync-server" --data "$DATA" seed --demo

cat <<EOT

Fieldsync server with demo data starts below (Ctrl-C stops it). In another terminal:

  echo demo | $BIN/fieldsync --profile /tmp/rep1 login --server http://$LISTEN --user rep1 --password-stdin
  $BIN/fieldsync --profile /tmp/rep1 sync
  $BIN/fieldsync --profile /tmp/rep1 list customers --where city=Bergen
  $BIN/fieldsync --profile /tmp/rep1 status

Demo users: rep1, rep2 (NORTH), rep3 (SOUTH), manager1, shipper1; password "demo".

EOT
exec "$BIN/fieldsync-server" --data "$DATA" serve --listen "$LISTEN"
