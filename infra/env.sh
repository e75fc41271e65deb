# shellcheck shell=bash
# Environment for running the functions, the local stack and the tests against DynamoDB Local.
# Source it: `source infra/env.sh`. Values already set are kept (export your own to override).

DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
export DYNAMODB_PORT
# The AWS SDK for Rust (and boto3, the aws CLI) read this service-specific endpoint override,
# so no code path has an `if local`.
export AWS_ENDPOINT_URL_DYNAMODB="${AWS_ENDPOINT_URL_DYNAMODB:-http://127.0.0.1:$DYNAMODB_PORT}"
export AWS_REGION="${AWS_REGION:-ap-northeast-1}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"
# DynamoDB Local accepts any credentials (alphanumeric ones also satisfy its 2.x releases), but
# the SDK insists on having some; dummy ones also stop it probing instance metadata.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED="${AWS_EC2_METADATA_DISABLED:-true}"
export TABLE_NAME="${TABLE_NAME:-tsunagu-local}"
