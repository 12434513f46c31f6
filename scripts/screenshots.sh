#!/usr/bin/env bash
# Refreshes docs/screenshots/ from the desktop end-to-end test, which drives the real app
# at 1366x768 and saves a screenshot of each main screen under target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/desktop-e2e.sh
mkdir -p docs/screenshots
for screen in sign-in customer-card order-editor orders attention conflicts review sync-panel dashboard; do
    cp "target/screenshots/$screen.png" "docs/screenshots/$screen.png"
done
echo "docs/screenshots/ refreshed"
