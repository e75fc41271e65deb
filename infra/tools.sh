#!/usr/bin/env bash
# Installs the template checkers (cfn-lint, aws-sam-cli) into .local/venv, a venv under the
# repo root, so the system Python stays clean and every machine gets the same versions.
#
#   bash infra/tools.sh          # install if missing, print the venv's bin dir
#   source infra/tools.sh        # same, then put the venv's bin dir first on the caller's PATH
#   bash infra/tools.sh build    # also cargo-lambda (with zig), which `sam build` runs for
#                                # BuildMethod rust-cargolambda to cross-compile for arm64
#
# Idempotent: a tool already in the venv is not reinstalled.

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: install in a child process, so a failure returns an error instead of ending
    # the caller's shell, then hand the caller the tools
    # (PATH, and TOOLS_BIN for the venv's own python).
    _tools_bin="$(bash "${BASH_SOURCE[0]}" "$@")" || { unset _tools_bin; return 1; }
    case ":$PATH:" in
        *":$_tools_bin:"*) ;;
        *) export PATH="$_tools_bin:$PATH" ;;
    esac
    # SAM CLI phones home unless told not to; CI reaches only the package registries.
    export SAM_CLI_TELEMETRY=0
    export TOOLS_BIN="$_tools_bin"
    unset _tools_bin
    return 0
fi

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TOOLS_VENV:-$root/.local/venv}"
# Pinned so CI and developers lint with the same rules; bump deliberately.
cfn_lint_spec="${CFN_LINT_SPEC:-cfn-lint==1.58.0}"
sam_cli_spec="${SAM_CLI_SPEC:-aws-sam-cli==1.170.0}"
cargo_lambda_spec="${CARGO_LAMBDA_SPEC:-cargo-lambda==1.9.2}"

say() { echo "infra/tools.sh: $*" >&2; }

find_python() {
    local py
    for py in python3.11 python3.12 python3.13 python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            command -v "$py"
            return 0
        fi
    done
    say "no python3 found (aws-sam-cli needs Python >= 3.9)"
    return 1
}

if [ ! -x "$venv/bin/python" ]; then
    say "creating venv $venv"
    mkdir -p "$(dirname "$venv")"
    "$(find_python)" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
fi

missing=()
[ -x "$venv/bin/cfn-lint" ] || missing+=("$cfn_lint_spec")
[ -x "$venv/bin/sam" ] || missing+=("$sam_cli_spec")
if [ "${1:-}" = build ] && [ ! -x "$venv/bin/cargo-lambda" ]; then
    missing+=("$cargo_lambda_spec")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    # One resolve, so the shared dependencies (boto3, jsonschema, ...) agree.
    "$venv/bin/python" -m pip install --quiet "${missing[@]}" >&2
fi

echo "$venv/bin"
