#!/usr/bin/env bash
# Benchmarks (`make bench`): each section measures one thing against DynamoDB Local and the fake
# LINE Platform, as a ratio to the physical limit (LINE's rate limits) and to a baseline in the
# same run, and rewrites its own section of docs/benchmarks.md with the date and the machine.
# Not part of `make test` or CI. Sections are independent; add yours as another block.
# Run only some by naming them: `bash infra/bench.sh dormancy`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=infra/env.sh
source infra/env.sh
bash infra/dynamodb-local.sh start

DOCS="${BENCH_DOCS:-docs/benchmarks.md}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# want SECTION: true when no sections were named, or this one was.
want() { [ "${#SECTIONS[@]}" -eq 0 ] || [[ " ${SECTIONS[*]} " == *" $1 "* ]]; }
SECTIONS=("$@")

# --- Sends (issue 4): a broadcast to 100,000 friends and 10,000 step sends due at once.
if want sends; then
    echo "--- cargo build --release -p tsunagu-local --bin bench_sends"
    cargo build --release -p tsunagu-local --bin bench_sends
    "$TARGET_DIR/release/bench_sends" \
        --friends "${BENCH_FRIENDS:-100000}" \
        --steps "${BENCH_STEPS:-10000}" \
        --docs "$DOCS"
fi

# --- Dormancy sweep (issue 6): synthetic friends over two years of last-seen days; one day's
# sweep against a full Scan of the same table (BENCH_DORMANCY_FRIENDS, default 200,000:
# DynamoDB Local's Scan slows more than linearly, so the comparison stays at a size that
# finishes in minutes), then the sweep alone over BENCH_DORMANCY_SWEEP_FRIENDS (default
# 1,000,000; writing them takes 3–4 minutes on 2 cores), then the one-time backfill over
# BENCH_DORMANCY_BACKFILL_FRIENDS (default 20,000). On a DynamoDB Local of its own
# (BENCH_DYNAMODB_PORT, default 8001), stopped afterwards if started here, so the millions of
# items never load the instance tests and `make dev` use. Prints markdown rows for the
# "Dormancy sweep" section of docs/benchmarks.md.
if want dormancy; then
    echo "--- cargo build --release -p tsunagu-local --bin bench_dormancy"
    cargo build --release -p tsunagu-local --bin bench_dormancy
    port="${BENCH_DYNAMODB_PORT:-8001}"
    started=0
    if ! DYNAMODB_PORT="$port" bash infra/dynamodb-local.sh status >/dev/null 2>&1; then
        DYNAMODB_PORT="$port" bash infra/dynamodb-local.sh start
        started=1
    fi
    rc=0
    (
        export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
        "$TARGET_DIR/release/bench_dormancy" --no-backfill \
            --friends "${BENCH_DORMANCY_FRIENDS:-200000}"
        "$TARGET_DIR/release/bench_dormancy" --no-scan --no-backfill \
            --friends "${BENCH_DORMANCY_SWEEP_FRIENDS:-1000000}"
        # The one-time backfill writes a transition for ~96 % of the friends (all silent 30 days
        # or more), so it is measured at a smaller size (BENCH_DORMANCY_BACKFILL_FRIENDS).
        "$TARGET_DIR/release/bench_dormancy" --no-scan \
            --friends "${BENCH_DORMANCY_BACKFILL_FRIENDS:-20000}"
    ) || rc=$?
    if [ "$started" -eq 1 ]; then
        DYNAMODB_PORT="$port" bash infra/dynamodb-local.sh stop
    fi
    [ "$rc" -eq 0 ]
fi

# --- Console (issue 12): a shop of BENCH_CONSOLE_FRIENDS (default 10,000) friends written
# through the product's friend writes; every console page asked 200 times in process; p50/p99
# server time and size against the targets (50 ms, 150 KB) and one GetItem in the same run.
if want console; then
    echo "--- cargo build --release -p tsunagu-local --bin bench_console"
    cargo build --release -p tsunagu-local --bin bench_console
    "$TARGET_DIR/release/bench_console" \
        --friends "${BENCH_CONSOLE_FRIENDS:-10000}" \
        --docs "$DOCS"
fi
