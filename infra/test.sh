#!/usr/bin/env bash
# Runs the workspace's tests against DynamoDB Local (started here if nothing answers).
# Extra arguments go to the test runner, e.g. `bash infra/test.sh -E 'test(webhook)'` with
# nextest or `bash infra/test.sh webhook` with cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=infra/env.sh
source infra/env.sh
bash infra/dynamodb-local.sh start
# The console's browser tests drive Debian's headless Chromium.
bash infra/chromium.sh

if cargo nextest --version >/dev/null 2>&1; then
    echo "--- cargo nextest run --workspace --no-fail-fast $*"
    cargo nextest run --workspace --no-fail-fast "$@"
else
    echo "--- cargo test --workspace --no-fail-fast $* (cargo-nextest not installed)"
    cargo test --workspace --no-fail-fast "$@"
fi
