//! Plain types and rules: no I/O, no async, no SDK or Lambda types. `now` is always a parameter.
pub mod auto_reply;
pub mod broadcast;
pub mod condition;
pub mod deferral;
pub mod definition;
pub mod dormancy;
pub mod effect;
pub mod enrollment;
pub mod field_error;
pub mod friend;
pub mod ids;
pub mod link;
pub mod message;
pub mod public_url;
pub mod purchase;
pub mod scenario;
pub mod schedule;
pub mod send_decision;
pub mod staff;
pub mod survey;
pub mod tag;
pub mod tag_rule;
pub mod tenant;

pub use friend::{Friend, FriendChange};
pub use ids::{ApiKeyId, IdError, LineUserId, StaffId, TenantId};
pub use tag::{TagDefinition, TagName};
pub use tenant::{DeliveryWindow, Tenant};
