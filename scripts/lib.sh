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
