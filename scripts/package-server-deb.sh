#!/usr/bin/env bash
# Builds the server package: target/debian/fieldsync-server_<version>_amd64.deb, holding
#   /usr/bin/fieldsync-server
#   /etc/fieldsync/server.toml                    (a conffile: upgrades keep IT's edits)
#   /lib/systemd/system/fieldsync-server.service  (Type=notify, hardened, StateDirectory)
#   /usr/share/doc/fieldsync-server/              (OPERATIONS.md, SECURITY.md, copyright)
# and a postinst that creates the `fieldsync` user and migrates the database.
# Install it with `apt install ./fieldsync-server_*.deb` (docs/OPERATIONS.md).
#
# Usage: ./scripts/package-server-deb.sh [--debug]
#   --debug packages target/debug/fieldsync-server as already built (for the tests);
#   by default the release binary is built and packaged.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

profile=release
[ "${1:-}" = "--debug" ] && profile=debug
if [ "$profile" = release ]; then
    ensure_packages "${BUILD_PACKAGES[@]}"
    cargo build --release --locked -p fieldsync-server
fi
binary="target/$profile/fieldsync-server"
[ -x "$binary" ] || { echo "no $binary: build it first (cargo build -p fieldsync-server)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
root="target/debian/fieldsync-server"
rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/fieldsync" "$root/lib/systemd/system" \
    "$root/usr/share/doc/fieldsync-server"

install -m 0755 "$binary" "$root/usr/bin/fieldsync-server"
[ "$profile" = release ] && strip "$root/usr/bin/fieldsync-server"
# The shipped settings: every key commented with its default, but the data directory,
# which the package puts where the service's StateDirectory is.
sed 's|^# data = "/var/lib/fieldsync"$|data = "/var/lib/fieldsync"|' packaging/server.toml \
    > "$root/etc/fieldsync/server.toml"
grep -q '^data = "/var/lib/fieldsync"$' "$root/etc/fieldsync/server.toml" \
    || { echo "packaging/server.toml no longer has the data line this script sets" >&2; exit 1; }
chmod 0640 "$root/etc/fieldsync/server.toml"
install -m 0644 packaging/server-deb/fieldsync-server.service "$root/lib/systemd/system/"
install -m 0644 docs/OPERATIONS.md docs/SECURITY.md "$root/usr/share/doc/fieldsync-server/"
cat > "$root/usr/share/doc/fieldsync-server/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fieldsync
License: $(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -1)
COPYRIGHT
install -m 0755 packaging/server-deb/postinst packaging/server-deb/prerm packaging/server-deb/postrm "$root/DEBIAN/"
echo /etc/fieldsync/server.toml > "$root/DEBIAN/conffiles"
size_kb=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: fieldsync-server
Version: $version
Architecture: $arch
Maintainer: Fieldsync <it@fieldsync.example>
Installed-Size: $size_kb
Depends: libc6, passwd, util-linux, init-system-helpers
Suggests: postgresql
Section: net
Priority: optional
Homepage: https://fieldsync.example
Description: Fieldsync sync server
 The central server of Fieldsync, the offline-first field sales system: the
 sales reps' laptops sync customers, products, prices, visits and orders with
 it. It keeps its data in an embedded SQLite database under /var/lib/fieldsync,
 or in PostgreSQL, and runs as the systemd service fieldsync-server.
CONTROL

out="target/debian/fieldsync-server_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group -Zxz "$root" "$out" >/dev/null
echo "$out"
