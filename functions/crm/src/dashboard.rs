//! The shop's figures at a glance, for the console's dashboard and `GET /admin/dashboard`:
//! friends (total, new today and in 7 days, blocked), messages sent this month against LINE's
//! quota, dormant friends per tier and today's scheduled broadcasts. Every number comes from a
//! count kept as things happen (`store::counts`) or from LINE, never from a scan of friends.
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;
use tracing::warn;

use crate::{
    deps::Deps,
    domain::{
        TagName, Tenant,
        broadcast::{Broadcast, BroadcastState},
    },
    line::client::Quota,
    store::{FriendCounts, LineQuota, StoreError},
};

/// LINE's quota and consumption are asked at most this often per shop.
pub const QUOTA_REFRESH: SignedDuration = SignedDuration::from_hours(1);

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub friends: FriendCounts,
    pub followed_today: i64,
    /// Today and the six days before it (tenant zone).
    pub followed_7_days: i64,
    pub blocked_today: i64,
    /// None while LINE has never answered for this shop.
    pub line_quota: Option<LineQuota>,
    pub dormant: Vec<DormantTier>,
    /// Broadcasts waiting to start or running whose start falls today (tenant zone).
    pub broadcasts_today: Vec<Broadcast>,
}

/// Friends in one dormancy tier now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DormantTier {
    pub days: u32,
    pub tag: TagName,
    pub friends: i64,
}

/// Reads the figures (six small reads at once, and LINE at most hourly).
pub async fn load(deps: &Deps, tenant: &Tenant, now: Timestamp) -> Result<Dashboard, StoreError> {
    let t = &tenant.id;
    let today = now.to_zoned(tenant.time_zone()).date();
    let week_start = today.checked_sub(6.days()).unwrap_or(today);
    let (friends, days, tags, settings, broadcasts, line_quota) = tokio::try_join!(
        deps.store.friend_counts(t),
        deps.store.day_counts(t, week_start, today),
        deps.store.tag_counts(t),
        deps.store.dormancy_settings(t),
        deps.store.broadcasts(t),
        line_quota(deps, tenant, now),
    )?;
    let today_text = today.to_string();
    let of_today = days.iter().find(|d| d.day == today_text);
    let mut dormant: Vec<DormantTier> = settings
        .map(|s| s.tiers)
        .unwrap_or_default()
        .into_iter()
        .map(|tier| DormantTier {
            friends: tags.get(&tier.tag).copied().unwrap_or(0),
            days: tier.days,
            tag: tier.tag,
        })
        .collect();
    dormant.sort_by_key(|d| d.days);
    let mut broadcasts_today: Vec<Broadcast> = broadcasts
        .into_iter()
        .filter(|b| matches!(b.state, BroadcastState::Scheduled | BroadcastState::Running))
        .filter(|b| {
            let start = b.request.send_at.unwrap_or(b.created_at);
            start.to_zoned(tenant.time_zone()).date() == today
        })
        .collect();
    broadcasts_today.sort_by_key(|b| b.request.send_at.unwrap_or(b.created_at));
    Ok(Dashboard {
        friends,
        followed_today: of_today.map_or(0, |d| d.followed),
        followed_7_days: days.iter().map(|d| d.followed).sum(),
        blocked_today: of_today.map_or(0, |d| d.blocked),
        line_quota,
        dormant,
        broadcasts_today,
    })
}

/// LINE's quota and this month's consumption: the saved answer while it is under an hour old
/// and of this month, else asked again (two GETs) and saved. When LINE cannot be asked the
/// last answer is shown rather than nothing.
pub async fn line_quota(
    deps: &Deps,
    tenant: &Tenant,
    now: Timestamp,
) -> Result<Option<LineQuota>, StoreError> {
    let saved = deps.store.line_quota(&tenant.id).await?;
    let zone = tenant.time_zone();
    let month = |at: Timestamp| {
        let d = at.to_zoned(zone.clone()).date();
        (d.year(), d.month())
    };
    if let Some(q) = saved
        && now.duration_since(q.checked_at) < QUOTA_REFRESH
        && month(q.checked_at) == month(now)
    {
        return Ok(Some(q));
    }
    let token = &tenant.access_token;
    match tokio::try_join!(deps.line.quota(token), deps.line.quota_consumption(token)) {
        Ok((quota, used)) => {
            let fresh = LineQuota {
                limit: match quota {
                    Quota::Unlimited => None,
                    Quota::Limited(v) => Some(v),
                },
                used,
                checked_at: now,
            };
            deps.store.save_line_quota(&tenant.id, fresh).await?;
            Ok(Some(fresh))
        }
        Err(error) => {
            warn!(tenant = %tenant.id, %error, "LINE quota could not be read");
            Ok(saved)
        }
    }
}
