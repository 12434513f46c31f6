#!/usr/bin/env bash
# Builds the desktop installers for Linux, offline:
#   target/release/bundle/deb/Fieldsync_<version>_amd64.deb
#   target/release/bundle/rpm/Fieldsync-<version>-1.x86_64.rpm
# Both put /etc/fieldsync/config.toml (packaging/config.toml, all commented) in place.
# Install with `apt install ./Fieldsync_*.deb` or `dnf install ./Fieldsync-*.rpm`.
# Windows and macOS installers are built on those systems: docs/INSTALLERS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" "${DESKTOP_PACKAGES[@]}"
build_ui
cd src-tauri
../ui/node_modules/.bin/tauri build --bundles deb,rpm
ls -l ../target/release/bundle/deb/*.deb ../target/release/bundle/rpm/*.rpm
