#!/usr/bin/env bash
# Builds a realistic company from the CSV files in examples/company/ (what an ERP would
# export: 3 territories, 2,000 products in 8 categories, 2 price lists, promotions, stock in
# 3 warehouses, 5,000 customers) with `fieldsync-server import`, the way IT would load its
# own data, then adds 2 managers and 12 reps.
#
# Usage: ./scripts/demo-company.sh [DATA_DIR]        (default: ./fieldsync-company)
#   then: fieldsync-server --data DATA_DIR serve, and sign in as rep01..rep12,
#   mgr.north or mgr.south with the password below.
# FIELDSYNC_SERVER_BIN picks the server binary (default: a release build, built if needed).
set -euo pipefail
cd "$(dirname "$0")/.."

data=${1:-./fieldsync-company}
password=${FIELDSYNC_DEMO_PASSWORD:-company-demo}
company=examples/company
bin=${FIELDSYNC_SERVER_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -q -p fieldsync-server
    bin=target/release/fieldsync-server
fi
server() { "$bin" --data "$data" "$@"; }

server migrate
# Reference data first: the files that follow name its codes.
for entity in territories product_categories price_lists warehouses products price_list_items \
              promotions inventory_levels customers; do
    echo "==> import $entity"
    server import "$entity" --file "$company/$entity.csv" --all-or-nothing
done

echo "==> what each territory sells"
tail -n +2 "$company/territory_categories.csv" | while IFS=, read -r territory category; do
    # A second run finds them in place already; any other failure stops the script.
    if ! out=$(server territory assign "$territory" --category "$category" 2>&1); then
        case "$out" in *"already sells"*) ;; *) echo "$out" >&2; exit 1 ;; esac
    fi
done

echo "==> users (password: $password)"
tail -n +2 "$company/users.csv" | while IFS=, read -r name role territory manager; do
    args=(user add "$name" --role "$role" --password-stdin)
    [ -n "$territory" ] && args+=(--territory "$territory")
    [ -n "$manager" ] && args+=(--manager "$manager")
    printf '%s\n' "$password" | server "${args[@]}" >/dev/null
    echo "   $name ($role${territory:+, $territory}${manager:+, reports to $manager})"
done
echo "the company is ready in $data: $bin --data $data serve"
