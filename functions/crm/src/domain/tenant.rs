//! A tenant is one shop's LINE Official Account connected to Tsunagu.
use jiff::{SignedDuration, Timestamp, civil::Time, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::TenantId;
use crate::secret::Secret;

pub const DEFAULT_ZONE: &str = "Asia/Tokyo";
/// How many days the content of a user's message is kept unless the shop says otherwise: long
/// enough to follow up a conversation, short enough not to hoard what customers typed.
pub const DEFAULT_TEXT_RETENTION_DAYS: u32 = 90;

fn default_text_retention() -> Option<u32> {
    Some(DEFAULT_TEXT_RETENTION_DAYS)
}

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
    /// Stored and shown as `null` when always open (`DeliveryWindow::ALWAYS_OPEN`).
    #[serde(default, with = "window_or_null")]
    pub delivery_window: DeliveryWindow,
    /// At most this many messages per friend per day (tenant zone) across scenarios and
    /// broadcasts; transactional sends are exempt. None: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    /// Set when LINE answered "You have reached your monthly limit."; sends are deferred, not
    /// dropped, and the mark clears with the next accepted send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_exhausted_at: Option<Timestamp>,
    /// How many days the content of a user's message (its text, a location's address…) stays in
    /// the action history; the entry itself stays as long as the history. `null`: as long as
    /// the history. Absent (tenants stored before the setting): the default.
    #[serde(default = "default_text_retention")]
    pub message_text_retention_days: Option<u32>,
    pub created_at: Timestamp,
}

impl Tenant {
    /// The tenant's zone; an unknown name (validated at creation) falls back to Tokyo, where our shops are.
    pub fn time_zone(&self) -> TimeZone {
        TimeZone::get(&self.zone)
            .unwrap_or_else(|_| TimeZone::get(DEFAULT_ZONE).unwrap_or(TimeZone::UTC))
    }

    /// How long the content of a user's message is kept; None: as long as the history.
    pub fn message_text_kept_for(&self) -> Option<SignedDuration> {
        self.message_text_retention_days
            .map(|days| SignedDuration::from_hours(i64::from(days) * 24))
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

impl DeliveryWindow {
    /// A shop that may message at any hour (`deliveryWindow: null`). `next_opening` already reads
    /// `start == end` as always open, so every send path honours it without a second code path.
    pub const ALWAYS_OPEN: Self = Self {
        start: Time::MIN,
        end: Time::MIN,
    };

    pub fn is_always_open(&self) -> bool {
        self.start == self.end
    }

    /// The API's and the table's spelling: `None` (JSON `null`) for always open.
    pub fn as_option(self) -> Option<Self> {
        (!self.is_always_open()).then_some(self)
    }
}

/// Serde for the tenant's window: `null` is "always open"; an absent attribute (tenants stored
/// before `null` was allowed always have one) takes the default 09:00–21:00.
pub mod window_or_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::DeliveryWindow;

    pub fn serialize<S: Serializer>(w: &DeliveryWindow, s: S) -> Result<S::Ok, S::Error> {
        w.as_option().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DeliveryWindow, D::Error> {
        Ok(Option::<DeliveryWindow>::deserialize(d)?.unwrap_or(DeliveryWindow::ALWAYS_OPEN))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_always_open_window_is_null_and_a_missing_one_is_the_default() {
        #[derive(Serialize, Deserialize)]
        struct Holder {
            #[serde(default, with = "window_or_null")]
            w: DeliveryWindow,
        }
        let open = serde_json::to_value(Holder {
            w: DeliveryWindow::ALWAYS_OPEN,
        })
        .unwrap();
        assert_eq!(open, json!({ "w": null }));
        let back: Holder = serde_json::from_value(open).unwrap();
        assert!(back.w.is_always_open());
        let missing: Holder = serde_json::from_value(json!({})).unwrap();
        assert_eq!(missing.w, DeliveryWindow::default());
        let nine: Holder =
            serde_json::from_value(json!({ "w": { "start": "09:00:00", "end": "21:00:00" } }))
                .unwrap();
        assert_eq!(nine.w, DeliveryWindow::default());
    }

    #[test]
    fn an_always_open_window_opens_at_any_hour() {
        let zone = TimeZone::get(DEFAULT_ZONE).unwrap();
        let three_am: Timestamp = "2026-04-01T18:00:00Z".parse().unwrap(); // 03:00 JST
        assert_eq!(
            crate::domain::schedule::next_opening(&DeliveryWindow::ALWAYS_OPEN, three_am, &zone),
            three_am
        );
    }
}
