#!/usr/bin/env bash
# Starts the built desktop app in a real window under Xvfb (private D-Bus session, a
# throwaway profile and keyring), waits until the window shows rendered content, and
# saves a screenshot to target/screenshots/sign-in.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/fieldsync-desktop
[ -x "$bin" ] || { echo "desktop-smoke: $bin is not built"; exit 1; }
mkdir -p target/screenshots
shot=target/screenshots/sign-in.png
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
profile=$(mktemp -d)
trap 'kill $xvfb 2>/dev/null; rm -rf "$profile"' EXIT
export DISPLAY=$display NO_AT_BRIDGE=1 WEBKIT_DISABLE_COMPOSITING_MODE=1 FIELDSYNC_PROFILES=$profile XDG_DATA_HOME=$profile
dbus-run-session -- bash -c '
  echo -n smoke | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || true
  "'"$bin"'" >"'"$profile"'/app.log" 2>&1 &
  app=$!
  # Wait for the window, then for the page to render (many colours: an error page has under 200), up to 60 s.
  for _ in $(seq 1 120); do
    if xwininfo -root -tree 2>/dev/null | grep -q "\"Fieldsync\""; then
      import -window root "'"$shot"'" 2>/dev/null || true
      colours=$(identify -format %k "'"$shot"'" 2>/dev/null || echo 0)
      [ "$colours" -gt 300 ] && { kill $app; exit 0; }
    fi
    kill -0 $app 2>/dev/null || { echo "desktop-smoke: the app exited:"; cat "'"$profile"'/app.log"; exit 1; }
    sleep 0.5
  done
  kill $app; echo "desktop-smoke: no rendered window within 60 s"; cat "'"$profile"'/app.log"; exit 1
'
echo "desktop-smoke: window rendered; screenshot $shot"
