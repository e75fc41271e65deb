//! Counts the console reads instead of scanning friends: friends and blocked friends in total,
//! follows and blocks per day (tenant zone), members per tag. They change in the same
//! transaction as the friend they count ([`Store::friend_writes`]), so they are exact and a
//! dashboard costs a few small reads whatever the number of friends. Each count is split over
//! [`keys::COUNT_SHARDS`] items by friend, and summed when read.
use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use jiff::{SignedDuration, Timestamp, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, from_item, keys, s};
use crate::domain::{Friend, TagName, TenantId};

/// A day's counts are kept for a little over a year (the dashboard looks back a week, reports
/// a year).
const DAY_COUNT_TTL: SignedDuration = SignedDuration::from_hours(24 * 400);

/// What one change of a friend does to the counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct CountChange {
    friends: i64,
    blocked: i64,
    followed_today: i64,
    blocked_today: i64,
    tags: BTreeMap<TagName, i64>,
}

impl CountChange {
    /// A friend first stored counts once; blocking and following back move the blocked total
    /// and count as that day's block or follow; each tag gained or lost moves its members.
    pub(super) fn between(before: Option<&Friend>, after: &Friend) -> Self {
        let mut c = Self::default();
        let was_blocked = before.is_some_and(|b| b.blocked);
        if before.is_none() {
            c.friends = 1;
            c.followed_today = i64::from(!after.blocked);
        }
        match (was_blocked, after.blocked) {
            (false, true) => {
                c.blocked = 1;
                c.blocked_today = 1;
            }
            (true, false) => {
                c.blocked = -1;
                c.followed_today = 1;
            }
            _ => {}
        }
        let old = before.map(|b| &b.tags);
        for tag in after.tags.keys() {
            if !old.is_some_and(|o| o.contains_key(tag)) {
                c.tags.insert(tag.clone(), 1);
            }
        }
        for tag in old.into_iter().flat_map(|o| o.keys()) {
            if !after.tags.contains_key(tag) {
                c.tags.insert(tag.clone(), -1);
            }
        }
        c
    }
}

/// One count item as stored; which numbers it carries depends on its kind (sort key prefix).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(default)]
    friends: i64,
    #[serde(default)]
    blocked: i64,
    #[serde(default)]
    followed: i64,
    #[serde(default)]
    members: i64,
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    tag: Option<TagName>,
}

/// The tenant's friends now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendCounts {
    /// Every friend stored, blocked or not.
    pub friends: i64,
    /// Of them, those who blocked the account.
    pub blocked: i64,
}

/// One day's follows (new friends and follow-backs) and blocks, in the tenant's zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCounts {
    pub day: String,
    pub followed: i64,
    pub blocked: i64,
}

/// What LINE said of the month's messages when last asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineQuota {
    /// The month's target limit; None when the channel has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Messages counted against it this month (each recipient of a multicast counts).
    pub used: u64,
    pub checked_at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineQuotaItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    quota: LineQuota,
}

holds!(LineQuotaItem, quota: LineQuota);

impl Store {
    pub async fn line_quota(&self, t: &TenantId) -> Result<Option<LineQuota>, StoreError> {
        self.value::<LineQuotaItem>(keys::line_quota(t)).await
    }

    pub async fn save_line_quota(&self, t: &TenantId, quota: LineQuota) -> Result<(), StoreError> {
        let (pk, sk) = keys::line_quota(t);
        self.put_item(super::to_item(&LineQuotaItem {
            pk,
            sk,
            entity: "line_quota".into(),
            quota,
        })?)
        .await
    }

    /// The count updates for a friend going from `before` to `after`, for the friend's own
    /// transaction.
    pub(super) fn count_writes(
        &self,
        before: Option<&Friend>,
        after: &Friend,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let c = CountChange::between(before, after);
        let (t, shard) = (
            &after.tenant,
            after.user_id.shard(&after.tenant, keys::COUNT_SHARDS),
        );
        let n = |v: i64| AttributeValue::N(v.to_string());
        let mut writes = Vec::new();
        if c.friends != 0 || c.blocked != 0 {
            writes.push(self.update_in_transaction(
                keys::total_count(t, shard),
                "SET #entity = :entity ADD #friends :friends, #blocked :blocked",
                None,
                vec![
                    (":entity", s("friend_count")),
                    (":friends", n(c.friends)),
                    (":blocked", n(c.blocked)),
                ],
            )?);
        }
        if c.followed_today != 0 || c.blocked_today != 0 {
            let day = now.to_zoned(zone.clone()).date().to_string();
            let expires = super::Expiry::after(now, DAY_COUNT_TTL).epoch_seconds;
            writes.push(self.update_in_transaction(
                keys::day_count(t, &day, shard),
                "SET #entity = :entity, #day = :day, #expires_at = :expires \
                 ADD #followed :followed, #blocked :blocked",
                None,
                vec![
                    (":entity", s("day_count")),
                    (":day", s(day)),
                    (":expires", n(expires)),
                    (":followed", n(c.followed_today)),
                    (":blocked", n(c.blocked_today)),
                ],
            )?);
        }
        for (tag, delta) in &c.tags {
            writes.push(self.update_in_transaction(
                keys::tag_count(t, tag, shard),
                "SET #entity = :entity, #tag = :tag ADD #members :delta",
                None,
                vec![
                    (":entity", s("tag_count")),
                    (":tag", s(tag.as_str())),
                    (":delta", n(*delta)),
                ],
            )?);
        }
        Ok(writes)
    }

    async fn count_items(&self, t: &TenantId, prefix: &str) -> Result<Vec<CountItem>, StoreError> {
        self.items_with_prefix(keys::counts_pk(t), prefix)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// The tenant's friends and blocked friends (one query of a few items).
    pub async fn friend_counts(&self, t: &TenantId) -> Result<FriendCounts, StoreError> {
        let items = self.count_items(t, keys::TOTAL_COUNT_PREFIX).await?;
        Ok(items
            .iter()
            .fold(FriendCounts::default(), |acc, i| FriendCounts {
                friends: acc.friends + i.friends,
                blocked: acc.blocked + i.blocked,
            }))
    }

    /// Follows and blocks of each day from `first` to `last` (tenant zone), both included;
    /// days with neither are left out.
    pub async fn day_counts(
        &self,
        t: &TenantId,
        first: Date,
        last: Date,
    ) -> Result<Vec<DayCounts>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::counts_pk(t)))
            .expression_attribute_values(":lo", s(format!("{}{first}", keys::DAY_COUNT_PREFIX)))
            .expression_attribute_values(":hi", s(format!("{}{last}#~", keys::DAY_COUNT_PREFIX)));
        let mut days: BTreeMap<String, DayCounts> = BTreeMap::new();
        for item in self.all_pages(query).await? {
            let i: CountItem = from_item(item)?;
            let Some(day) = i.day else { continue };
            let d = days.entry(day.clone()).or_insert_with(|| DayCounts {
                day,
                ..DayCounts::default()
            });
            d.followed += i.followed;
            d.blocked += i.blocked;
        }
        Ok(days.into_values().collect())
    }

    /// Members of every tag that has or had any (tags no friend ever carried are absent).
    pub async fn tag_counts(&self, t: &TenantId) -> Result<BTreeMap<TagName, i64>, StoreError> {
        let mut counts = BTreeMap::new();
        for i in self.count_items(t, keys::TAG_COUNT_PREFIX).await? {
            if let Some(tag) = i.tag {
                *counts.entry(tag).or_insert(0) += i.members;
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LineUserId;

    fn friend(blocked: bool, tags: &[&str]) -> Friend {
        let mut f = Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-04-01T00:00:00Z".parse().unwrap(),
        );
        f.blocked = blocked;
        for t in tags {
            f.tags.insert(
                TagName::parse(t).unwrap(),
                "2026-04-01T00:00:00Z".parse().unwrap(),
            );
        }
        f
    }

    #[test]
    fn a_new_friend_counts_once_and_follows_today() {
        let c = CountChange::between(None, &friend(false, &["VIP"]));
        assert_eq!((c.friends, c.blocked, c.followed_today), (1, 0, 1));
        assert_eq!(
            c.tags,
            BTreeMap::from([(TagName::parse("VIP").unwrap(), 1)])
        );
    }

    #[test]
    fn blocking_and_following_back_move_the_blocked_total_and_the_day() {
        let (open, shut) = (friend(false, &[]), friend(true, &[]));
        let block = CountChange::between(Some(&open), &shut);
        assert_eq!(
            (block.friends, block.blocked, block.blocked_today),
            (0, 1, 1)
        );
        let back = CountChange::between(Some(&shut), &open);
        assert_eq!(
            (back.blocked, back.followed_today, back.blocked_today),
            (-1, 1, 0)
        );
        assert_eq!(
            CountChange::between(Some(&open), &open),
            CountChange::default()
        );
    }

    #[test]
    fn tags_gained_and_lost_move_their_members() {
        let c = CountChange::between(
            Some(&friend(false, &["a", "b"])),
            &friend(false, &["b", "c"]),
        );
        let want = BTreeMap::from([
            (TagName::parse("a").unwrap(), -1),
            (TagName::parse("c").unwrap(), 1),
        ]);
        assert_eq!(c.tags, want);
    }
}
