#!/usr/bin/env bash
# Runs the desktop end-to-end tests (tests/desktop): the real app in a real window under
# Xvfb, inside a private D-Bus session with an unlocked throwaway keyring, driven through
# tauri-driver + WebKitWebDriver. Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages webkit2gtk-driver gnome-keyring dbus-x11 xvfb libglib2.0-bin
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked
display=:$((80 + RANDOM % 9))
Xvfb "$display" -screen 0 1366x768x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null' EXIT
# A throwaway keyring: its own data directory, unlocked with a throwaway password.
keyrings=$(mktemp -d)
trap 'kill $xvfb 2>/dev/null; rm -rf "$keyrings"' EXIT
export DISPLAY=$display NO_AT_BRIDGE=1 WEBKIT_DISABLE_COMPOSITING_MODE=1 XDG_DATA_HOME=$keyrings
dbus-run-session -- bash -c '
  set -e
  eval "$(echo -n e2e | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
  cargo nextest run --locked -p fieldsync-tests --test desktop --no-fail-fast
'
