//! End-to-end tests: real DynamoDB Local, the fake LINE Platform, the handlers Lambda runs.
//! Start DynamoDB Local with `bash infra/dynamodb-local.sh start` (`make test` does it).
mod admin;
mod always_open;
mod api_keys;
mod broadcasts;
mod console_auth;
mod console_broadcasts;
mod console_dashboard;
mod console_definitions;
mod console_fields;
mod console_friends;
mod dormancy;
mod hostile;
mod journey;
mod links;
mod outbox;
mod purchases;
mod quota;
mod sam_fixtures;
mod scenarios;
mod surveys;
mod template;
mod time_travel;
mod webhook;
