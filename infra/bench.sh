#!/usr/bin/env bash
# Benchmarks (`make bench`): each section measures one thing against DynamoDB Local and the fake
# LINE Platform, as a ratio to the physical limit (LINE's rate limits) and to a baseline in the
# same run, and rewrites its own section of docs/benchmarks.md with the date and the machine.
# Not part of `make test` or CI. Sections are independent; add yours as another block.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=infra/env.sh
source infra/env.sh
bash infra/dynamodb-local.sh start

DOCS="${BENCH_DOCS:-docs/benchmarks.md}"

# --- Sends (issue 4): a broadcast to 100,000 friends and 10,000 step sends due at once.
echo "--- cargo build --release -p tsunagu-local --bin bench_sends"
cargo build --release -p tsunagu-local --bin bench_sends
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
"$TARGET_DIR/release/bench_sends" \
    --friends "${BENCH_FRIENDS:-100000}" \
    --steps "${BENCH_STEPS:-10000}" \
    --docs "$DOCS"
