#!/usr/bin/env bash
# Tests the server package as IT would use it: builds it from the debug binary, checks its
# contents and its systemd unit, installs it with dpkg -i, runs the installed binary with
# the installed settings as the service would (user fieldsync, the unit's working
# directory, a NOTIFY_SOCKET that must receive READY=1 and STOPPING=1), and purges it.
# This machine runs no systemd, so the unit is checked with systemd-analyze, not started.
#
# It changes the system (a package, the fieldsync user, /var/lib/fieldsync), so it refuses
# to run where the package is already installed, and removes what it added.
# Usage: ./scripts/test-server-package.sh   (as root; needs target/debug/fieldsync-server)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

fail() { echo "server package test FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run it as root (it installs the package)"
if dpkg -s fieldsync-server >/dev/null 2>&1 || [ -e /var/lib/fieldsync ] || [ -e /var/backups/fieldsync ]; then
    fail "fieldsync-server is installed on this machine (or its data is); the test would disturb it"
fi
had_user=$(getent passwd fieldsync >/dev/null && echo yes || echo no)
work=$(mktemp -d)
cleanup() {
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "${notify_pid:-}" ] && kill "$notify_pid" 2>/dev/null || true
    dpkg --purge fieldsync-server >/dev/null 2>&1 || true
    rm -rf /var/lib/fieldsync /var/backups/fieldsync "$work"
    if [ "$had_user" = no ] && getent passwd fieldsync >/dev/null; then
        userdel fieldsync || true
        getent group fieldsync >/dev/null && groupdel fieldsync || true
    fi
}
trap cleanup EXIT

deb=$(./scripts/package-server-deb.sh --debug)
echo "==> $deb"

echo "==> contents"
dpkg-deb -c "$deb" > "$work/contents"
for path in ./usr/bin/fieldsync-server ./etc/fieldsync/server.toml ./lib/systemd/system/fieldsync-server.service \
    ./usr/share/doc/fieldsync-server/OPERATIONS.md; do
    grep -q " $path\$" "$work/contents" || fail "the package lacks $path"
done
# (Read whole before grep: `grep -q` would stop reading and fail the pipeline.)
dpkg-deb --ctrl-tarfile "$deb" > "$work/control.tar"
tar -xOf "$work/control.tar" ./conffiles > "$work/conffiles"
grep -qx /etc/fieldsync/server.toml "$work/conffiles" || fail "/etc/fieldsync/server.toml is not a conffile"
tar -tf "$work/control.tar" > "$work/control.list"
for script in postinst prerm postrm; do
    grep -qx "./$script" "$work/control.list" || fail "the package has no $script"
done

echo "==> install (dpkg -i)"
dpkg -i "$deb" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i failed"; }
getent passwd fieldsync | grep -q ':/usr/sbin/nologin$' || fail "postinst did not create the fieldsync system user"
[ -L /etc/systemd/system/multi-user.target.wants/fieldsync-server.service ] || fail "postinst did not enable the service"
[ "$(stat -c %U:%a /var/lib/fieldsync)" = fieldsync:700 ] || fail "/var/lib/fieldsync is $(stat -c %U:%a /var/lib/fieldsync)"
[ "$(stat -c %U:%G:%a /etc/fieldsync/server.toml)" = root:fieldsync:640 ] \
    || fail "/etc/fieldsync/server.toml is $(stat -c %U:%G:%a /etc/fieldsync/server.toml)"
ls /var/lib/fieldsync/*.db >/dev/null 2>&1 || { cat "$work/install.log"; fail "postinst did not migrate a database into /var/lib/fieldsync"; }
[ "$(stat -c %U "$(ls /var/lib/fieldsync/*.db | head -1)")" = fieldsync ] || fail "the database is not the service user's"
fieldsync-server --config /etc/fieldsync/server.toml config check /etc/fieldsync/server.toml \
    || fail "the installed settings do not pass config check"

echo "==> administration commands run as the service user, never as root"
if fieldsync-server --config /etc/fieldsync/server.toml devices > "$work/root.out" 2>&1; then
    fail "root could open the service's database (files it creates would lock the service out)"
fi
grep -q "sudo -u fieldsync" "$work/root.out" || { cat "$work/root.out"; fail "the refusal does not say how to run it"; }
runuser -u fieldsync -- sh -c 'cd /var/lib/fieldsync && fieldsync-server --config /etc/fieldsync/server.toml devices' \
    > "$work/devices.out" 2>&1 || { cat "$work/devices.out"; fail "the service user cannot run fieldsync-server devices"; }
# The backup command of docs/OPERATIONS.md, as written there.
runuser -u fieldsync -- fieldsync-server --config /etc/fieldsync/server.toml backup --to /var/backups/fieldsync/test.db \
    > "$work/backup.out" 2>&1 || { cat "$work/backup.out"; fail "the documented backup command failed"; }

echo "==> systemd-analyze verify"
systemd-analyze verify /lib/systemd/system/fieldsync-server.service 2>&1 | tee "$work/verify.log"
[ -s "$work/verify.log" ] && fail "systemd-analyze reports problems in the unit"
unit=/lib/systemd/system/fieldsync-server.service
for setting in Type=notify User=fieldsync StateDirectory=fieldsync NoNewPrivileges=yes ProtectSystem=strict \
    PrivateTmp=yes Restart=on-failure; do
    grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$unit")

echo "==> run as the service would: $exec_start"
# systemd's side of sd_notify: a datagram socket whose messages are written to a file.
python3 - "$work/notify.sock" "$work/notify.log" <<'PY' >/dev/null 2>&1 &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode() + "\n")
PY
notify_pid=$!
for _ in $(seq 200); do
    [ -S "$work/notify.sock" ] && break
    kill -0 "$notify_pid" 2>/dev/null || fail "the notify listener (python3) did not start"
    sleep 0.05
done
[ -S "$work/notify.sock" ] || fail "the notify listener did not bind its socket"
chmod 711 "$work" && chmod 666 "$work/notify.sock"
# setpriv switches user and execs, as systemd does (runuser would stay as a parent).
# shellcheck disable=SC2086 # ExecStart is split into words as systemd does
( cd "$workdir" && exec setpriv --reuid=fieldsync --regid=fieldsync --init-groups \
    env NOTIFY_SOCKET="$work/notify.sock" FIELDSYNC_LISTEN=127.0.0.1:0 $exec_start ) \
    > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
for _ in $(seq 600); do
    grep -q '^READY=1' "$work/notify.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err"; fail "the installed server exited at start"; }
    sleep 0.1
done
grep -q '^READY=1' "$work/notify.log" || fail "the server never said READY=1 to the service manager"
url=$(sed -n 's/^listening on //p' "$work/server.out")
grep -q "STATUS=listening on $url" "$work/notify.log" || fail "the status line does not name $url"
python3 - "$url" <<'PY' || fail "/v1/ready of the installed server did not answer 200"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/v1/ready", timeout=10) as r:
    assert r.status == 200, r.status
PY
kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not stop cleanly on SIGTERM"
server_pid=
grep -q '^STOPPING=1' "$work/notify.log" || fail "the server did not say STOPPING=1"
kill "$notify_pid"
notify_pid=

echo "==> purge"
dpkg --purge fieldsync-server > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
[ ! -e /usr/bin/fieldsync-server ] || fail "the binary is still installed after purge"
[ ! -e /etc/fieldsync/server.toml ] || fail "the settings are still there after purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/fieldsync-server.service ] || fail "purge left the service enabled"
ls /var/lib/fieldsync/*.db >/dev/null 2>&1 || fail "purge removed the company's data"
echo "server package: ok"
