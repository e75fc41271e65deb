#!/usr/bin/env bash
# The local stack: DynamoDB Local, the table from template.yaml, the demo tenant, the fake LINE
# Platform, and the webhook + admin API on 127.0.0.1:${PORT:-3000}. Ctrl-C stops it (DynamoDB
# Local keeps running; `bash infra/dynamodb-local.sh stop` stops it too).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=infra/env.sh
source infra/env.sh
bash infra/dynamodb-local.sh start
exec cargo run --quiet -p tsunagu-local -- serve "$@"
