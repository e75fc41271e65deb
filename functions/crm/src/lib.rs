//! Tsunagu's CRM library. Every Lambda binary and the local stack call into it: the binaries
//! only build clients once and lend them to the handlers here.
pub mod admin_api;
pub mod broadcasts;
pub mod bus;
mod chat;
pub mod clock;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod definitions;
pub mod deps;
pub mod domain;
pub mod dormancy_settings;
pub mod dormancy_sweep;
pub mod enrollments;
pub mod forms;
pub mod friends;
pub mod http;
pub mod job;
pub mod journeys;
pub mod line;
pub mod outbound;
pub mod outbox;
pub mod reactivation;
pub mod scheduled_sends;
pub mod secret;
pub mod store;
pub mod survey_tagging;
pub mod surveys;
pub mod vault;
pub mod webhook;

pub use config::Config;
pub use deps::Deps;
