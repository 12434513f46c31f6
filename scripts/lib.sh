# Shared helpers for the scripts in this folder. Source it, do not run it.

# ensure_packages PKG...: installs the Debian packages that are missing (needs root or sudo).
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Packages every build needs (rusqlite bundles SQLite; zstd-sys builds C).
BUILD_PACKAGES=(build-essential pkg-config)

# Packages the desktop app needs to build (Tauri 2 on WebKitGTK) and to run headless in tests.
DESKTOP_PACKAGES=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev xvfb imagemagick dbus-x11 x11-utils gnome-keyring)

# The browser the UI's component tests run in (headless; see ui/vitest.config.ts).
UI_TEST_PACKAGES=(chromium)

# ui_deps: Node.js and the UI's npm packages (from the lock file), reinstalled when the
# lock file is newer than what npm last installed.
ui_deps() {
    command -v npm >/dev/null || ensure_packages nodejs npm
    ( cd ui && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } )
}

# build_ui: builds ui/dist, which the desktop crate embeds at compile time.
build_ui() {
    ui_deps
    ( cd ui && npm run build )
}
