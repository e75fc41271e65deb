//! LINE Messaging API: webhook signature and payload (LINE → us), and the API client (us → LINE).
//! Platform facts behind the choices here are collected in `shared/LINE-PLATFORM.md`; shapes
//! follow LINE's OpenAPI files (`webhook.yml`, `messaging-api.yml`).
pub mod client;
pub mod signature;
pub mod throttle;
pub mod webhook;

pub use client::{LineClient, LineError, Quota, RequestId, SendOutcome};
pub use signature::SignatureError;
pub use webhook::{
    EventBody, MessageContent, Mode, Source, WebhookEvent, WebhookPayload, parse_payload,
};
