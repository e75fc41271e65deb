//! Dormancy in the table: settings, the sweep's progress, day-bucket reads, tier entries (the
//! exactly-once record of each transition) and the reactivation counters.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Select, TransactWriteItem, Update};
use jiff::{Timestamp, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, from_item, keys, s, to_item};
use crate::domain::{
    Friend, LineUserId, TagName, TenantId,
    dormancy::{DormancyClock, DormancySettings},
    scenario::ScenarioId,
};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsItem {
    pk: String,
    sk: String,
    entity: String,
    updated_at: Timestamp,
    #[serde(flatten)]
    settings: DormancySettings,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SweepStateItem {
    pk: String,
    sk: String,
    entity: String,
    last_swept_day: Date,
    swept_at: Timestamp,
}

/// One friend's stay in one tier, as recorded by the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierEntry {
    pub tenant: TenantId,
    pub friend: LineUserId,
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: TagName,
    pub since_day: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioId>,
    /// The friend's inflow route when they entered ("unknown" when none).
    pub route: String,
    pub entered_at: Timestamp,
    /// The sweep of this day measures the entry if the friend has not come back by then.
    pub close_day: Date,
    /// The enrollment and the bus event of the transition are still to be done (a crash
    /// between the transaction and them is finished by the next run).
    #[serde(default)]
    pub pending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<bool>,
}

impl TierEntry {
    fn key(&self) -> keys::Key {
        keys::tier_entry(
            &self.tenant,
            &self.friend,
            self.clock.as_str(),
            self.days,
            &self.since_day.to_string(),
        )
    }

    fn counter_key(&self) -> keys::Key {
        keys::reactivation_counter(
            &self.tenant,
            self.clock.as_str(),
            self.days,
            self.scenario.as_ref().map(|s| s.as_str()),
            &self.route,
        )
    }
}

#[derive(Serialize, Deserialize)]
struct TierEntryItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
    #[serde(flatten)]
    entry: TierEntry,
}

/// A yearly occasion (birthday, anniversary) handled for one friend.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OccasionItem {
    pk: String,
    sk: String,
    entity: String,
    at: Timestamp,
    #[serde(default)]
    pending: bool,
}

/// What a once-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// Written now: do the follow-up (enroll, publish).
    New,
    /// Written before; `pending` when its follow-up never finished.
    Done { pending: bool },
}

/// Keys of one gsi3 entry (the index projects keys only).
#[derive(Debug, Clone)]
pub struct BucketEntry {
    pub pk: String,
    pub sk: String,
    pub gsi3sk: String,
}

/// The counters of one tier × scenario × inflow route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactivationCounter {
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: TagName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioId>,
    pub route: String,
    #[serde(default)]
    pub entered: u64,
    #[serde(default)]
    pub messaged: u64,
    #[serde(default)]
    pub returned: u64,
}

fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl Store {
    pub async fn dormancy_settings(
        &self,
        t: &TenantId,
    ) -> Result<Option<DormancySettings>, StoreError> {
        match self.get(keys::dormancy_settings(t)).await? {
            Some(item) => Ok(Some(from_item::<SettingsItem>(item)?.settings)),
            None => Ok(None),
        }
    }

    pub async fn put_dormancy_settings(
        &self,
        t: &TenantId,
        settings: &DormancySettings,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::dormancy_settings(t);
        let item = to_item(&SettingsItem {
            pk,
            sk,
            entity: "dormancy_settings".into(),
            updated_at: now,
            settings: settings.clone(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    pub async fn last_swept_day(&self, t: &TenantId) -> Result<Option<Date>, StoreError> {
        match self.get(keys::sweep_state(t)).await? {
            Some(item) => Ok(Some(from_item::<SweepStateItem>(item)?.last_swept_day)),
            None => Ok(None),
        }
    }

    /// Records that every day up to `day` is swept. Never moves back: an overlapping older run
    /// finishing late cannot make the next run repeat days.
    pub async fn set_last_swept_day(
        &self,
        t: &TenantId,
        day: Date,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::sweep_state(t);
        let item = to_item(&SweepStateItem {
            pk,
            sk,
            entity: "sweep_state".into(),
            last_swept_day: day,
            swept_at: now,
        })?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // ISO dates order as text.
            .condition_expression("attribute_not_exists(pk) OR lastSweptDay < :day")
            .expression_attribute_values(":day", s(day.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(()),
            Err(e) => Err(StoreError::dynamo("PutItem", e)),
        }
    }

    /// Every entry of one gsi3 bucket (keys only): the friends whose day falls on it.
    pub async fn bucket_entries(&self, bucket_pk: &str) -> Result<Vec<BucketEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .partition(Some(keys::GSI3), bucket_pk.to_owned())
            .await?
        {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .ok_or_else(|| StoreError::Malformed(format!("gsi3 entry without {k}")))
            };
            out.push(BucketEntry {
                pk: get(keys::PK)?,
                sk: get(keys::SK)?,
                gsi3sk: get(keys::GSI3SK)?,
            });
        }
        Ok(out)
    }

    /// Moves the friend into a tier: the friend's new state (guarded by its version), the tier
    /// entry (only if absent: this is what makes a re-run a no-op) and `entered` + 1, together.
    pub async fn enter_tier(
        &self,
        before: &Friend,
        after: &Friend,
        zone: &TimeZone,
        entry: &TierEntry,
    ) -> Result<Once, StoreError> {
        let (pk, sk) = entry.key();
        // Only entries whose return is measured (they have a scenario) wait in the close index.
        let close = entry.scenario.is_some().then(|| {
            keys::return_window_close(
                &entry.tenant,
                &entry.friend,
                &entry.close_day.to_string(),
                &sk,
            )
        });
        let (gsi3pk, gsi3sk) = close.unzip();
        let item = TierEntryItem {
            pk,
            sk,
            entity: "tier_entry".into(),
            gsi3pk,
            gsi3sk,
            entry: entry.clone(),
        };
        let mut writes = vec![self.put(to_item(&item)?, Some("attribute_not_exists(pk)"))?];
        writes.push(self.counter_update(entry, &[("entered", 1)], true)?);
        writes.extend(self.friend_writes(Some(before), after, zone, entry.entered_at)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(Once::New),
            Err(0) => {
                let pending = self
                    .tier_entry(&entry.tenant, &entry.friend, &entry.key().1)
                    .await?
                    .is_some_and(|e| e.pending);
                Ok(Once::Done { pending })
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// ADDs to one reactivation counter, creating it with its labels on first use.
    fn counter_update(
        &self,
        entry: &TierEntry,
        adds: &[(&str, u64)],
        label: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = entry.counter_key();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut add = Vec::new();
        for (i, (name, n)) in adds.iter().enumerate() {
            names.insert(format!("#a{i}"), (*name).to_owned());
            values.insert(format!(":a{i}"), AttributeValue::N(n.to_string()));
            add.push(format!("#a{i} :a{i}"));
        }
        let mut expr = format!("ADD {}", add.join(", "));
        if label {
            let mut labels = vec![
                ("entity", s("reactivation_counter")),
                ("clock", s(entry.clock.as_str())),
                ("days", AttributeValue::N(entry.days.to_string())),
                ("tag", s(entry.tag.as_str())),
                ("route", s(entry.route.clone())),
            ];
            if let Some(sc) = &entry.scenario {
                labels.push(("scenario", s(sc.as_str())));
            }
            let sets: Vec<String> = labels
                .into_iter()
                .enumerate()
                .map(|(i, (name, v))| {
                    names.insert(format!("#l{i}"), name.to_owned());
                    values.insert(format!(":l{i}"), v);
                    format!("#l{i} = :l{i}")
                })
                .collect();
            expr.push_str(&format!(" SET {}", sets.join(", ")));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn tier_entry(
        &self,
        t: &TenantId,
        u: &LineUserId,
        sk: &str,
    ) -> Result<Option<TierEntry>, StoreError> {
        match self.get((keys::friend_pk(t, u), sk.to_owned())).await? {
            Some(item) => Ok(Some(from_item::<TierEntryItem>(item)?.entry)),
            None => Ok(None),
        }
    }

    /// The entry of the stay that `clock`/`days`/`since_day` name.
    pub async fn tier_entry_of(
        &self,
        t: &TenantId,
        u: &LineUserId,
        clock: DormancyClock,
        days: u32,
        since_day: Date,
    ) -> Result<Option<TierEntry>, StoreError> {
        let (_, sk) = keys::tier_entry(t, u, clock.as_str(), days, &since_day.to_string());
        self.tier_entry(t, u, &sk).await
    }

    /// An entry read through the close index, by its table keys.
    pub async fn tier_entry_at(&self, pk: &str, sk: &str) -> Result<Option<TierEntry>, StoreError> {
        match self.get((pk.to_owned(), sk.to_owned())).await? {
            Some(item) => Ok(Some(from_item::<TierEntryItem>(item)?.entry)),
            None => Ok(None),
        }
    }

    /// The transition's follow-up is done.
    pub async fn tier_entry_done(&self, entry: &TierEntry) -> Result<(), StoreError> {
        let (pk, sk) = entry.key();
        self.clear_pending(pk, sk).await
    }

    async fn clear_pending(&self, pk: String, sk: String) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression("SET pending = :no")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Measures a stay once: whether the reactivation message went out and whether the friend
    /// came back in time. The entry's condition makes the counter ADD happen exactly once, and
    /// the entry leaves the close index.
    pub async fn measure_tier_entry(
        &self,
        entry: &TierEntry,
        messaged: bool,
        returned: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = entry.key();
        let mark = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(
                "SET measuredAt = :now, messaged = :m, #returned = :r REMOVE gsi3pk, gsi3sk",
            )
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(measuredAt)")
            .expression_attribute_names("#returned", "returned")
            .expression_attribute_values(":now", s(keys::sortable(now)))
            .expression_attribute_values(":m", AttributeValue::Bool(messaged))
            .expression_attribute_values(":r", AttributeValue::Bool(returned))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut writes = vec![TransactWriteItem::builder().update(mark).build()];
        let adds: Vec<(&str, u64)> = [("messaged", messaged), ("returned", returned)]
            .into_iter()
            .filter(|(_, yes)| *yes)
            .map(|(n, _)| (n, 1))
            .collect();
        if !adds.is_empty() {
            writes.push(self.counter_update(entry, &adds, false)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(true),
            Err(0) => Ok(false),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// Records a yearly occasion for the friend once, with the friend's change (a coupon) in the
    /// same transaction when there is one.
    pub async fn mark_occasion(
        &self,
        t: &TenantId,
        u: &LineUserId,
        kind: &str,
        year: i16,
        friend: Option<(&Friend, &Friend, &TimeZone)>,
        now: Timestamp,
    ) -> Result<Once, StoreError> {
        let (pk, sk) = keys::occasion(t, u, kind, year);
        let item = OccasionItem {
            pk: pk.clone(),
            sk: sk.clone(),
            entity: "occasion".into(),
            at: now,
            pending: true,
        };
        let mut writes = vec![self.put(to_item(&item)?, Some("attribute_not_exists(pk)"))?];
        if let Some((before, after, zone)) = friend {
            writes.extend(self.friend_writes(Some(before), after, zone, now)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(Once::New),
            Err(0) => {
                let pending = match self.get((pk, sk)).await? {
                    Some(item) => from_item::<OccasionItem>(item)?.pending,
                    None => false,
                };
                Ok(Once::Done { pending })
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    pub async fn occasion_done(
        &self,
        t: &TenantId,
        u: &LineUserId,
        kind: &str,
        year: i16,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::occasion(t, u, kind, year);
        self.clear_pending(pk, sk).await
    }

    /// How many friends carry `tag` now (a count over the tag's member index, keys only).
    pub async fn tag_member_count(&self, t: &TenantId, tag: &TagName) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(keys::tag_members_pk(t, tag)))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            count += u64::try_from(page.count).unwrap_or(0);
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// Every reactivation counter of the tenant.
    pub async fn reactivation_counters(
        &self,
        t: &TenantId,
    ) -> Result<Vec<ReactivationCounter>, StoreError> {
        self.tenant_items(t, keys::REACTIVATION_PREFIX)
            .await?
            .into_iter()
            .map(from_item::<ReactivationCounter>)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_tier_entry_item_carries_its_keys_and_close_bucket() {
        let entry = TierEntry {
            tenant: TenantId::parse("demo").unwrap(),
            friend: LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            clock: DormancyClock::Activity,
            days: 30,
            tag: TagName::parse("休眠30日").unwrap(),
            since_day: date(2026, 3, 1),
            scenario: Some(ScenarioId::parse("comeback").unwrap()),
            route: "unknown".into(),
            entered_at: "2026-03-30T19:00:00Z".parse().unwrap(),
            close_day: date(2026, 5, 1),
            pending: true,
            measured_at: None,
            messaged: None,
            returned: None,
        };
        let (pk, sk) = entry.key();
        let item = to_item(&TierEntryItem {
            pk,
            sk,
            entity: "tier_entry".into(),
            gsi3pk: Some("T#demo#REACT#2026-05-01".into()),
            gsi3sk: None,
            entry: entry.clone(),
        })
        .unwrap();
        assert_eq!(item["pk"], s("T#demo#F#U4af4980629c1e2c3f2a41b8e4d0a3b0c"));
        assert_eq!(item["sk"], s("DORM#activity#0030#2026-03-01"));
        assert_eq!(item["sinceDay"], s("2026-03-01"));
        assert_eq!(item["closeDay"], s("2026-05-01"));
        assert_eq!(item["clock"], s("activity"));
        assert_eq!(
            entry.counter_key(),
            (
                "T#demo".into(),
                "REACT#activity#0030#comeback#unknown".into()
            )
        );
        let back: TierEntryItem = from_item(item).unwrap();
        assert_eq!(back.entry, entry);
    }
}
