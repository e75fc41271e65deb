# Entry points for developers and CI (.ci/run uses the same targets).
.PHONY: cycles dev smoke test lint fmt-check clippy check-template bench screenshots build dynamodb-start dynamodb-stop

# The local stack: every function in one process against DynamoDB Local and the fake LINE Platform.
dev:
	bash infra/dev.sh

# The README's local stack as a new user runs it: `make dev` in the background, the README's
# commands against it, then everything stopped (PORT / FAKE_LINE_PORT default to 3100 / 3101).
smoke:
	bash infra/smoke.sh

# Unit and end-to-end tests; starts DynamoDB Local if nothing answers on DYNAMODB_PORT (default 8000).
test:
	bash infra/test.sh

lint: fmt-check clippy check-template cycles

# Import cycles between the modules of functions/crm/src (each `use crate::…` edge; a child
# reaching its own parent does not count). Prints each cycle and fails when there is one.
cycles:
	python3 infra/rust_cycles.py functions/crm/src

fmt-check:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# cfn-lint and sam validate --lint on template.yaml (tools in .local/venv).
check-template:
	bash infra/check-template.sh

bench:
	bash infra/bench.sh

# PNGs of every console page, desktop and phone width, into docs/console/ (headless Chromium).
screenshots:
	bash infra/test.sh --run-ignored only -E 'test(screenshots_of_every_page)'

# Lambda artifacts for `sam deploy`: cargo-lambda cross-compiles each binary for arm64.
build:
	bash infra/tools.sh build >/dev/null
	PATH="$(CURDIR)/.local/venv/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build

dynamodb-start:
	bash infra/dynamodb-local.sh start

dynamodb-stop:
	bash infra/dynamodb-local.sh stop
