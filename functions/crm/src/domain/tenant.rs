//! A tenant is one shop's LINE Official Account connected to Tsunagu.
use jiff::{Timestamp, civil::Time, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::TenantId;
use crate::secret::Secret;

pub const DEFAULT_ZONE: &str = "Asia/Tokyo";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// Verifies `X-Line-Signature`; never logged, never returned by the admin API.
    pub channel_secret: Secret,
    /// Bearer token for the Messaging API; never logged, never returned.
    pub access_token: Secret,
    /// IANA zone in which step times and delivery windows are evaluated.
    pub zone: String,
    pub delivery_window: DeliveryWindow,
    /// At most this many messages per friend per day (tenant zone) across scenarios and
    /// broadcasts; transactional sends are exempt. None: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    /// Set when LINE answered "You have reached your monthly limit."; sends are deferred, not
    /// dropped, and the mark clears with the next accepted send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_exhausted_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Tenant {
    /// The tenant's zone; an unknown name (validated at creation) falls back to Tokyo, where our shops are.
    pub fn time_zone(&self) -> TimeZone {
        TimeZone::get(&self.zone)
            .unwrap_or_else(|_| TimeZone::get(DEFAULT_ZONE).unwrap_or(TimeZone::UTC))
    }

    /// The calendar day of `at` in the tenant's zone, as `YYYY-MM-DD`.
    pub fn local_day(&self, at: Timestamp) -> String {
        at.to_zoned(self.time_zone()).date().to_string()
    }
}

/// Hours in which messages may go out, in the tenant's zone (e.g. 09:00–21:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryWindow {
    pub start: Time,
    pub end: Time,
}

impl Default for DeliveryWindow {
    fn default() -> Self {
        Self {
            start: Time::constant(9, 0, 0, 0),
            end: Time::constant(21, 0, 0, 0),
        }
    }
}

pub fn is_known_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}
