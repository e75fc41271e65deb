#!/usr/bin/env bash
# Lints template.yaml offline:
#   1. cfn-lint on the SAM template;
#   2. sam validate --lint (SAM's own transform + cfn-lint);
#   3. cfn-lint on the transformed CloudFormation (infra/sam-transform.py): linting the SAM
#      source misses circular dependencies through generated resources (E3004) and unknown IAM
#      actions in function policies (W3037), e.g. "dynamodb:TransactWriteItems", which is not an
#      IAM action; both pass 1 and 2 but fail a deploy or silently grant nothing.
# Tools come from .local/venv (installed by infra/tools.sh on first use).
#
#   bash infra/check-template.sh [TEMPLATE]    # default: template.yaml at the repo root
set -euo pipefail
template="$(realpath "${1:-$(dirname "${BASH_SOURCE[0]}")/../template.yaml}")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=infra/tools.sh
source infra/tools.sh lint

# sam validate needs a region to run the SAM transform but never calls AWS with --lint.
# Dummy credentials keep the SDK from probing the instance metadata endpoint for real ones.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-ap-northeast-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0

echo "--- cfn-lint $template ($(cfn-lint --version))"
cfn-lint "$template"

echo "--- sam validate --lint $template ($(sam --version))"
sam validate --lint --template "$template"

transformed=".local/$(basename "$template" .yaml).transformed.json"
echo "--- cfn-lint on the SAM-transformed template ($transformed)"
mkdir -p .local
"$TOOLS_BIN/python" infra/sam-transform.py "$template" > "$transformed"
cfn-lint "$transformed"

echo "template checks passed"
