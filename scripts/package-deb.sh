#!/usr/bin/env bash
# Builds the desktop installer: target/release/bundle/deb/Fieldsync_<version>_amd64.deb.
# Install it with `apt install ./Fieldsync_*.deb`; it puts /etc/fieldsync/config.toml in place.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" "${DESKTOP_PACKAGES[@]}"
build_ui
cd src-tauri
../ui/node_modules/.bin/tauri build --bundles deb
ls -l ../target/release/bundle/deb/*.deb
