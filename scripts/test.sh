#!/usr/bin/env bash
# Runs every check and test of the project, installing what it needs first.
# Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" "${DESKTOP_PACKAGES[@]}" "${UI_TEST_PACKAGES[@]}"
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

echo "==> ui: type check, lint, component tests (headless Chromium) and build"
ui_deps
( cd ui && npm run check && npm run lint && npm run test )
build_ui
echo "==> rustfmt"
cargo fmt --all -- --check
echo "==> clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> build"
cargo build --workspace --locked
echo "==> tests"
cargo nextest run --workspace --locked --no-fail-fast -E 'not binary(desktop)'
echo "==> server package: contents, systemd unit, dpkg -i, run as the service would, purge"
./scripts/test-server-package.sh
echo "==> fault simulator: 200 seeds of lost, duplicated and delayed requests, crashes, skewed clocks and restores"
./target/debug/fieldsync-sim --seeds 200
echo "==> API fuzzing: schemathesis against the live server's /v1/openapi.json"
./scripts/api-fuzz.sh
echo "==> server suite again on a throwaway PostgreSQL"
./scripts/with-postgres.sh cargo nextest run --workspace --locked --no-fail-fast -E 'binary(e2e)'
echo "==> desktop window smoke test"
./scripts/desktop-smoke.sh
echo "==> desktop end-to-end (real window through WebDriver)"
./scripts/desktop-e2e.sh
echo "all checks passed"
